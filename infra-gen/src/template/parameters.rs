//! What a template is given: parameters (typed, with defaults, allowed values and patterns),
//! the conditions made from them, and values that exist only under a condition.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::expr::Expr;

/// A parameter of the template.
#[derive(Clone, Debug)]
pub struct ParamRef {
    pub(super) id: String,
}

impl ParamRef {
    /// The parameter's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `{"Ref": name}`
    pub fn r#ref(&self) -> Expr {
        Expr::logical_ref(&self.id)
    }
}

/// A condition of the template.
#[derive(Clone, Debug)]
pub struct ConditionRef {
    pub(super) id: String,
}

impl ConditionRef {
    /// The condition's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `{"Fn::If": [cond, then, else]}`
    pub fn if_else(&self, then: Expr, otherwise: Expr) -> Expr {
        Expr::if_else(&self.id, then, otherwise)
    }
}

/// A value that is present always, or only when a condition holds
/// (`{"Fn::If": [cond, value, {"Ref": "AWS::NoValue"}]}`).
#[derive(Clone, Debug)]
pub enum Cond<T> {
    /// Always present.
    Always(T),
    /// Present when the condition holds.
    When(ConditionRef, T),
    /// The first value when the condition holds, else the second.
    Either(ConditionRef, T, T),
}

impl<T: Serialize> Serialize for Cond<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cond::Always(v) => v.serialize(s),
            Cond::When(c, v) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("Fn::If", &(c.id.as_str(), v, &Expr::no_value()))?;
                map.end()
            }
            Cond::Either(c, a, b) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("Fn::If", &(c.id.as_str(), a, b))?;
                map.end()
            }
        }
    }
}

/// The type of a parameter.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum ParamType {
    /// A string.
    String,
    /// A number.
    Number,
}

/// A template parameter.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// String or Number.
    #[serde(rename = "Type")]
    pub kind: ParamType,
    /// What it is for.
    pub description: String,
    /// The default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The values allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    /// A regular expression the value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    /// Smallest number allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<u64>,
    /// Largest number allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<u64>,
    /// Longest string allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Message shown when the value is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
}

impl Parameter {
    /// A string parameter.
    pub fn string(description: impl Into<String>) -> Parameter {
        Parameter {
            kind: ParamType::String,
            description: description.into(),
            default: None,
            allowed_values: Vec::new(),
            allowed_pattern: None,
            min_value: None,
            max_value: None,
            max_length: None,
            constraint_description: None,
        }
    }

    /// A number parameter within `min..=max`.
    pub fn number(description: impl Into<String>, min: u64, max: u64) -> Parameter {
        Parameter {
            kind: ParamType::Number,
            min_value: Some(min),
            max_value: Some(max),
            ..Parameter::string(description)
        }
    }

    /// With a default value.
    pub fn default(mut self, v: impl Into<String>) -> Parameter {
        self.default = Some(v.into());
        self
    }

    /// Only these values.
    pub fn allowed(mut self, values: &[&str]) -> Parameter {
        self.allowed_values = values.iter().map(|v| v.to_string()).collect();
        self
    }

    /// At most `n` characters.
    pub fn max_length(mut self, n: usize) -> Parameter {
        self.max_length = Some(n);
        self
    }

    /// Must match `pattern`; `why` is shown when it does not.
    pub fn pattern(mut self, pattern: &str, why: &str) -> Parameter {
        self.allowed_pattern = Some(pattern.into());
        self.constraint_description = Some(why.into());
        self
    }
}
