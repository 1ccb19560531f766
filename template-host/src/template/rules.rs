//! The rules CloudFormation and Lambda apply to what a template says, checked at start-up so
//! a template that would not deploy does not start either, with the reason: logical ids,
//! a function's `Timeout`, `MemorySize` and `Environment`. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Lambda's limit on a function's variables, names and values together (4 KB).
pub const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;

/// CloudFormation's logical ids: letters and digits, at most 255 of them. (They also name
/// folders here, so nothing else may reach a path.)
pub fn logical_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{:?} is not a logical id (CloudFormation takes 1 to 255 letters and digits)",
            id.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

/// What runs a function: its own `bootstrap`, or a managed runtime's loop on this machine's
/// `node` or `python3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `provided`, `provided.al2`, `provided.al2023`: the function's `bootstrap`.
    Provided,
    /// `nodejs18.x`, `nodejs20.x`, `nodejs22.x`.
    Node,
    /// `python3.10` to `python3.13`.
    Python,
}

/// The managed runtimes served, by `Runtime` value.
pub const MANAGED_RUNTIMES: &[(&str, Family)] = &[
    ("nodejs18.x", Family::Node),
    ("nodejs20.x", Family::Node),
    ("nodejs22.x", Family::Node),
    ("python3.10", Family::Python),
    ("python3.11", Family::Python),
    ("python3.12", Family::Python),
    ("python3.13", Family::Python),
];

/// `Runtime`: a `provided.*` bootstrap or one of [`MANAGED_RUNTIMES`].
pub fn runtime(name: &str) -> Result<Family, String> {
    if name == "provided" || name.starts_with("provided.") {
        return Ok(Family::Provided);
    }
    MANAGED_RUNTIMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<&str> = MANAGED_RUNTIMES.iter().map(|(n, _)| *n).collect();
            format!(
                "runtime {name:?} is not emulated (provided.* bootstraps run, and {})",
                names.join(", ")
            )
        })
}

/// A whole number property, as CloudFormation reads one (a number, or a string of digits).
fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `Timeout`: whole seconds from 1 to 900 (3 when absent).
pub fn timeout(v: &Value) -> Result<Duration, String> {
    if v.is_null() {
        return Ok(Duration::from_secs(3));
    }
    match whole(v) {
        Some(s @ 1..=900) => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "Timeout {v} is not whole seconds from 1 to 900, as Lambda takes it"
        )),
    }
}

/// `MemorySize`: whole megabytes from 128 to 10240 (128 when absent).
pub fn memory(v: &Value) -> Result<u32, String> {
    if v.is_null() {
        return Ok(128);
    }
    match whole(v) {
        Some(mb @ 128..=10_240) => Ok(mb as u32),
        _ => Err(format!(
            "MemorySize {v} is not whole megabytes from 128 to 10240, as Lambda takes it"
        )),
    }
}

/// `Environment.Variables`: names of letters, digits and `_` starting with a letter, values
/// without NUL, 4 KB in all.
pub fn environment(vars: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in vars {
        let mut bytes = k.bytes();
        let named = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !named {
            return Err(format!(
                "environment variable {:?}: Lambda takes names of letters, digits and _ that start with a letter",
                k.chars().take(80).collect::<String>()
            ));
        }
        if v.contains('\0') {
            return Err(format!(
                "environment variable {k}: its value holds a NUL character"
            ));
        }
    }
    let total: usize = vars.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ENVIRONMENT_BYTES {
        return Err(format!(
            "its environment variables take {total} bytes; Lambda allows {MAX_ENVIRONMENT_BYTES}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runtimes_are_bootstraps_node_or_python() {
        assert_eq!(runtime("provided.al2023"), Ok(Family::Provided));
        assert_eq!(runtime("nodejs22.x"), Ok(Family::Node));
        assert_eq!(runtime("python3.13"), Ok(Family::Python));
        for bad in ["java21", "nodejs16.x", "python3.9", "", "nodejs24.x"] {
            assert!(runtime(bad).unwrap_err().contains("not emulated"), "{bad}");
        }
    }

    #[test]
    fn logical_ids_are_letters_and_digits() {
        assert!(logical_id("ChatFunction2").is_ok());
        for bad in ["", "../Escape", "a-b", "a b", &"x".repeat(256), "é"] {
            assert!(logical_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_and_memory_follow_lambda() {
        assert_eq!(timeout(&Value::Null), Ok(Duration::from_secs(3)));
        assert_eq!(timeout(&json!(900)), Ok(Duration::from_secs(900)));
        assert_eq!(timeout(&json!("30")), Ok(Duration::from_secs(30)));
        for bad in [json!("soon"), json!(0), json!(901), json!(2.5), json!(-1)] {
            assert!(timeout(&bad).is_err(), "{bad}");
        }
        assert_eq!(memory(&Value::Null), Ok(128));
        assert_eq!(memory(&json!("1024")), Ok(1024));
        for bad in [json!(64), json!(20_000), json!("lots")] {
            assert!(memory(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_names_values_and_size() {
        let vars = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(environment(&vars(&[("TABLE_NAME", "t"), ("A1", "")])).is_ok());
        assert!(environment(&vars(&[("1A", "x")])).is_err());
        assert!(environment(&vars(&[("A-B", "x")])).is_err());
        assert!(environment(&vars(&[("NUL", "a\0b")])).is_err());
        let big = "x".repeat(MAX_ENVIRONMENT_BYTES);
        assert!(environment(&vars(&[("BIG", &big)])).is_err());
    }
}
