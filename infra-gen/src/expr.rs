//! CloudFormation values and intrinsic functions, emitted in long form
//! (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`, `{"Fn::Sub": ...}`).
//!
//! Values that name another part of the template are built from typed handles
//! ([`crate::template::Handle`], [`crate::template::ParamRef`], [`crate::template::ConditionRef`],
//! [`Pseudo`]), never from loose strings, so a reference to something that does not exist
//! cannot be written.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// AWS pseudo parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    /// `AWS::AccountId`
    AccountId,
    /// `AWS::Partition`
    Partition,
    /// `AWS::Region`
    Region,
    /// `AWS::StackName`
    StackName,
    /// `AWS::StackId`
    StackId,
    /// `AWS::URLSuffix`
    UrlSuffix,
}

impl Pseudo {
    /// Every pseudo parameter the generator may use.
    pub const ALL: &'static [Pseudo] = &[
        Pseudo::AccountId,
        Pseudo::Partition,
        Pseudo::Region,
        Pseudo::StackName,
        Pseudo::StackId,
        Pseudo::UrlSuffix,
    ];

    /// The name CloudFormation knows it by.
    pub const fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }
}

/// Where a `Ref` or `${...}` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A resource or parameter, by logical id.
    Logical(String),
    /// A pseudo parameter.
    Pseudo(Pseudo),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Logical(id) => id,
            Target::Pseudo(p) => p.name(),
        }
    }
}

/// A piece of an `Fn::Sub` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(String),
    Ref(Target),
    Att(String, &'static str),
}

/// A string value: a literal or an intrinsic function that yields a string.
///
/// Only literals can be made from outside this crate; references come from typed handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr(pub(crate) Node);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Lit(String),
    Ref(Target),
    GetAtt(String, &'static str),
    Sub(Vec<Part>),
    If(String, Box<Expr>, Box<Expr>),
    NoValue,
    /// `{"Fn::Select": [i, {"Fn::GetAZs": ""}]}`
    AvailabilityZone(u8),
    /// `{"Fn::Select": [i, {"Fn::Split": [sep, e]}]}`
    SplitPart(Box<Expr>, &'static str, u8),
}

impl Expr {
    /// A literal.
    pub fn lit(s: impl Into<String>) -> Expr {
        Expr(Node::Lit(s.into()))
    }

    /// `Ref` to a pseudo parameter.
    pub fn pseudo(p: Pseudo) -> Expr {
        Expr(Node::Ref(Target::Pseudo(p)))
    }

    /// The region's `i`-th availability zone.
    pub fn availability_zone(i: u8) -> Expr {
        Expr(Node::AvailabilityZone(i))
    }

    /// The `i`-th part of `e` split at `separator`.
    pub fn split_part(e: Expr, separator: &'static str, i: u8) -> Expr {
        Expr(Node::SplitPart(Box::new(e), separator, i))
    }

    pub(crate) fn logical_ref(id: &str) -> Expr {
        Expr(Node::Ref(Target::Logical(id.to_owned())))
    }

    pub(crate) fn get_att(id: &str, attr: &'static str) -> Expr {
        Expr(Node::GetAtt(id.to_owned(), attr))
    }

    pub(crate) fn no_value() -> Expr {
        Expr(Node::NoValue)
    }

    pub(crate) fn if_else(cond: &str, then: Expr, otherwise: Expr) -> Expr {
        Expr(Node::If(
            cond.to_owned(),
            Box::new(then),
            Box::new(otherwise),
        ))
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Expr {
        Expr::lit(s)
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Expr {
        Expr::lit(s)
    }
}

/// Builds an `Fn::Sub` string from literal text and typed references.
///
/// ```
/// use infra_gen::expr::{Pseudo, Sub};
/// let arn = Sub::new().text("arn:").pseudo(Pseudo::Partition).text(":s3:::bucket").build();
/// assert_eq!(serde_json::to_string(&arn).unwrap(), r#"{"Fn::Sub":"arn:${AWS::Partition}:s3:::bucket"}"#);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sub {
    parts: Vec<Part>,
}

impl Sub {
    /// An empty string.
    pub fn new() -> Sub {
        Sub::default()
    }

    /// Appends literal text (a literal `${` is escaped as CloudFormation requires).
    pub fn text(mut self, s: impl Into<String>) -> Sub {
        self.parts.push(Part::Lit(s.into()));
        self
    }

    /// Appends `${AWS::...}`.
    pub fn pseudo(mut self, p: Pseudo) -> Sub {
        self.parts.push(Part::Ref(Target::Pseudo(p)));
        self
    }

    /// Appends the value of an expression that is a `Ref` or `Fn::GetAtt`
    /// (as `${Name}` or `${Name.Attr}`); literal text is appended as text.
    ///
    /// # Panics
    /// On an expression that cannot stand inside `Fn::Sub` (`Fn::If`, `Fn::Sub`): a bug in
    /// the generator, caught by its tests.
    pub fn expr(mut self, e: &Expr) -> Sub {
        let part = match &e.0 {
            Node::Lit(s) => Part::Lit(s.clone()),
            Node::Ref(t) => Part::Ref(t.clone()),
            Node::GetAtt(id, attr) => Part::Att(id.clone(), attr),
            other => panic!("{other:?} cannot be interpolated into Fn::Sub"),
        };
        self.parts.push(part);
        self
    }

    /// The finished expression.
    pub fn build(self) -> Expr {
        Expr(Node::Sub(self.parts))
    }
}

fn render_sub(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Lit(s) => out.push_str(&s.replace("${", "${!")),
            Part::Ref(t) => {
                out.push_str("${");
                out.push_str(t.name());
                out.push('}');
            }
            Part::Att(id, attr) => {
                out.push_str("${");
                out.push_str(id);
                out.push('.');
                out.push_str(attr);
                out.push('}');
            }
        }
    }
    out
}

fn single<S: Serializer, V: Serialize + ?Sized>(s: S, key: &str, v: &V) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(key, v)?;
    map.end()
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Node::Lit(v) => s.serialize_str(v),
            Node::Ref(t) => single(s, "Ref", t.name()),
            Node::GetAtt(id, attr) => single(s, "Fn::GetAtt", &[id.as_str(), attr]),
            Node::Sub(parts) => single(s, "Fn::Sub", &render_sub(parts)),
            Node::If(cond, a, b) => single(s, "Fn::If", &(cond.as_str(), a.as_ref(), b.as_ref())),
            Node::NoValue => single(s, "Ref", "AWS::NoValue"),
            Node::AvailabilityZone(i) => {
                #[derive(serde::Serialize)]
                struct GetAzs {
                    #[serde(rename = "Fn::GetAZs")]
                    get_azs: &'static str,
                }
                single(s, "Fn::Select", &(i, GetAzs { get_azs: "" }))
            }
            Node::SplitPart(e, sep, i) => {
                #[derive(serde::Serialize)]
                struct Split<'a> {
                    #[serde(rename = "Fn::Split")]
                    split: (&'a str, &'a Expr),
                }
                single(
                    s,
                    "Fn::Select",
                    &(
                        i,
                        Split {
                            split: (sep, e.as_ref()),
                        },
                    ),
                )
            }
        }
    }
}

/// A condition expression (`Fn::Equals`, `Fn::Not`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondExpr {
    /// `{"Fn::Equals": [a, b]}`
    Equals(Expr, Expr),
    /// `{"Fn::Not": [c]}`
    Not(Box<CondExpr>),
    /// `{"Fn::And": [a, b, ...]}` (2 to 10 conditions)
    And(Vec<CondExpr>),
}

impl Serialize for CondExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CondExpr::Equals(a, b) => single(s, "Fn::Equals", &(a, b)),
            CondExpr::Not(c) => single(s, "Fn::Not", &[c.as_ref()]),
            CondExpr::And(all) => single(s, "Fn::And", all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intrinsics_serialize_in_long_form() {
        let r = Expr::logical_ref("Table");
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({"Ref": "Table"}));
        let a = Expr::get_att("Role", "Arn");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"Fn::GetAtt": ["Role", "Arn"]})
        );
        let s = Sub::new()
            .text("x-")
            .expr(&r)
            .text("/")
            .expr(&a)
            .text("/${literal}")
            .build();
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"Fn::Sub": "x-${Table}/${Role.Arn}/${!literal}"})
        );
        let i = Expr::if_else("HasKey", Expr::lit("a"), Expr::no_value());
        assert_eq!(
            serde_json::to_value(&i).unwrap(),
            json!({"Fn::If": ["HasKey", "a", {"Ref": "AWS::NoValue"}]})
        );
        let c = CondExpr::Not(Box::new(CondExpr::Equals(r, Expr::lit(""))));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "Table"}, ""]}]})
        );
    }
}
