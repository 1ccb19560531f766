//! Why a template is not served: [`StartError`], every problem found at start-up, each a
//! sentence for the user (what is wrong and how to fix it).

use std::fmt;

/// Every problem that stopped a template from being served, in the order found; nothing was
/// left running. `Display` prints them one per line, each as `  - problem`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StartError {
    /// The problems, one sentence each.
    pub problems: Vec<String>,
}

impl StartError {
    /// A start-up stopped by one problem.
    pub fn one(problem: impl Into<String>) -> StartError {
        StartError {
            problems: vec![problem.into()],
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.problems.iter();
        if let Some(first) = lines.next() {
            write!(f, "  - {first}")?;
        }
        for line in lines {
            write!(f, "\n  - {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StartError {}

/// Shown as the list of problems itself.
impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.problems, f)
    }
}

impl From<Vec<String>> for StartError {
    fn from(problems: Vec<String>) -> StartError {
        StartError { problems }
    }
}

impl From<String> for StartError {
    fn from(problem: String) -> StartError {
        StartError::one(problem)
    }
}

impl From<StartError> for Vec<String> {
    fn from(e: StartError) -> Vec<String> {
        e.problems
    }
}

/// The problems, as a slice (`len`, `iter`, `join`).
impl std::ops::Deref for StartError {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.problems
    }
}

impl IntoIterator for StartError {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_print_one_per_line_as_the_server_lists_them() {
        let e = StartError::from(vec!["first".to_owned(), "second".to_owned()]);
        assert_eq!(e.to_string(), "  - first\n  - second");
        assert_eq!(
            format!("cannot serve t.yaml:\n{e}"),
            format!("cannot serve t.yaml:\n  - {}", e.join("\n  - "))
        );
        assert_eq!(format!("{e:?}"), r#"["first", "second"]"#);
        assert_eq!(StartError::one("only").to_string(), "  - only");
        assert_eq!(e.len(), 2);
    }
}
