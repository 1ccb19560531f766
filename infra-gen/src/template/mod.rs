//! A CloudFormation template under construction, and the typed handles that name its parts.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Serialize;

use crate::expr::{CondExpr, Expr};

mod parameters;

pub use parameters::{Cond, ConditionRef, ParamRef, ParamType, Parameter};

/// A CloudFormation resource type with typed properties.
pub trait Resource: Serialize {
    /// `AWS::Service::Thing`.
    const TYPE: &'static str;
    /// The attributes `Fn::GetAtt` may read.
    type Attr: Attribute;
}

/// The attributes of a resource type.
pub trait Attribute: Copy + 'static {
    /// Every attribute of the type.
    const ALL: &'static [Self];
    /// The attribute's name.
    fn name(self) -> &'static str;
}

/// A resource type with no `Fn::GetAtt` attributes.
#[derive(Clone, Copy, Debug)]
pub enum NoAttr {}

impl Attribute for NoAttr {
    const ALL: &'static [Self] = &[];
    fn name(self) -> &'static str {
        match self {}
    }
}

/// A resource added to a template. Only [`Template::add`] makes one, so a handle always
/// names a resource that exists, of the type it says.
pub struct Handle<R> {
    id: String,
    _type: PhantomData<fn() -> R>,
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            id: self.id.clone(),
            _type: PhantomData,
        }
    }
}

impl<R: Resource> Handle<R> {
    /// The logical id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `{"Ref": id}`
    pub fn r#ref(&self) -> Expr {
        Expr::logical_ref(&self.id)
    }

    /// `{"Fn::GetAtt": [id, attr]}`
    pub fn att(&self, attr: R::Attr) -> Expr {
        Expr::get_att(&self.id, attr.name())
    }
}

/// Something a resource may depend on.
pub trait Dependency {
    /// The logical id.
    fn logical_id(&self) -> &str;
}

impl<R: Resource> Dependency for Handle<R> {
    fn logical_id(&self) -> &str {
        &self.id
    }
}

/// What CloudFormation does with a resource's data when it is deleted or replaced.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum DataPolicy {
    /// Delete it.
    Delete,
    /// Keep it.
    Retain,
    /// Snapshot it, then delete.
    Snapshot,
}

/// A checkov check that does not fit a resource, and why.
#[derive(Clone, Debug, Serialize)]
pub struct CheckovSkip {
    /// The check (`CKV_AWS_117`).
    pub id: &'static str,
    /// One line: why it does not fit.
    pub comment: &'static str,
}

/// Options of a resource beyond its properties.
#[derive(Default)]
pub struct Options {
    condition: Option<String>,
    references: BTreeMap<String, Expr>,
    depends_on: Vec<String>,
    deletion: Option<DataPolicy>,
    checkov_skips: Vec<CheckovSkip>,
    cfn_lint_ignores: Vec<&'static str>,
}

impl Options {
    /// No options.
    pub fn new() -> Options {
        Options::default()
    }

    /// `Condition`: the resource exists only when `c` holds.
    pub fn when(mut self, c: &ConditionRef) -> Options {
        self.condition = Some(c.id().to_owned());
        self
    }

    /// A `Metadata` entry holding `value` (an expression that may reference other resources,
    /// which makes this resource wait for them).
    pub fn reference(mut self, key: &str, value: Expr) -> Options {
        self.references.insert(key.to_owned(), value);
        self
    }

    /// `DependsOn` a resource it does not otherwise reference.
    pub fn depends_on(mut self, d: &dyn Dependency) -> Options {
        self.depends_on.push(d.logical_id().to_owned());
        self
    }

    /// `DeletionPolicy` and `UpdateReplacePolicy`.
    pub fn data_policy(mut self, p: DataPolicy) -> Options {
        self.deletion = Some(p);
        self
    }

    /// Suppress a checkov check on this resource, with its reason.
    pub fn skip_checkov(mut self, id: &'static str, comment: &'static str) -> Options {
        self.checkov_skips.push(CheckovSkip { id, comment });
        self
    }

    /// Suppress a cfn-lint rule on this resource. cfn-lint's metadata has no place for a
    /// reason, so the caller says why in a comment next to the call.
    pub fn ignore_cfn_lint(mut self, rule: &'static str) -> Options {
        self.cfn_lint_ignores.push(rule);
        self
    }
}

#[derive(Serialize)]
struct CheckovMetadata {
    skip: Vec<CheckovSkip>,
}

#[derive(Serialize)]
struct CfnLintConfig {
    ignore_checks: Vec<&'static str>,
}

#[derive(Serialize)]
struct CfnLintMetadata {
    config: CfnLintConfig,
}

#[derive(Serialize)]
struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    checkov: Option<CheckovMetadata>,
    #[serde(rename = "cfn-lint", skip_serializing_if = "Option::is_none")]
    cfn_lint: Option<CfnLintMetadata>,
    #[serde(flatten)]
    references: BTreeMap<String, Expr>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_policy: Option<DataPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_replace_policy: Option<DataPolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    properties: serde_json::Value,
}

/// A template output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    description: String,
    value: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
}

/// A template under construction.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    parameters: BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    conditions: BTreeMap<String, CondExpr>,
    resources: BTreeMap<String, Entry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    outputs: BTreeMap<String, Output>,
}

fn check_id(id: &str) {
    assert!(
        !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "logical id {id:?} must be 1 to 255 ASCII letters and digits"
    );
}

impl Template {
    /// An empty template.
    pub fn new(description: impl Into<String>) -> Template {
        Template {
            format_version: "2010-09-09",
            description: description.into(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    fn claim(&self, id: &str) {
        check_id(id);
        assert!(
            !self.parameters.contains_key(id)
                && !self.conditions.contains_key(id)
                && !self.resources.contains_key(id),
            "logical id {id} is used twice"
        );
    }

    /// Adds a parameter.
    pub fn parameter(&mut self, id: &str, p: Parameter) -> ParamRef {
        self.claim(id);
        self.parameters.insert(id.to_owned(), p);
        ParamRef { id: id.to_owned() }
    }

    /// Adds a condition.
    pub fn condition(&mut self, id: &str, c: CondExpr) -> ConditionRef {
        self.claim(id);
        self.conditions.insert(id.to_owned(), c);
        ConditionRef { id: id.to_owned() }
    }

    /// Adds a resource with no options.
    pub fn add<R: Resource>(&mut self, id: &str, r: R) -> Handle<R> {
        self.add_with(id, r, Options::new())
    }

    /// Adds a resource.
    ///
    /// # Panics
    /// On a logical id used twice or not alphanumeric: a bug in the stack module.
    pub fn add_with<R: Resource>(&mut self, id: &str, r: R, options: Options) -> Handle<R> {
        self.claim(id);
        let properties = serde_json::to_value(&r).expect("resource properties serialize");
        let checkov = (!options.checkov_skips.is_empty()).then_some(CheckovMetadata {
            skip: options.checkov_skips,
        });
        let cfn_lint = (!options.cfn_lint_ignores.is_empty()).then_some(CfnLintMetadata {
            config: CfnLintConfig {
                ignore_checks: options.cfn_lint_ignores,
            },
        });
        let metadata = (checkov.is_some() || cfn_lint.is_some() || !options.references.is_empty())
            .then_some(Metadata {
                checkov,
                cfn_lint,
                references: options.references,
            });
        self.resources.insert(
            id.to_owned(),
            Entry {
                kind: R::TYPE,
                condition: options.condition,
                deletion_policy: options.deletion,
                update_replace_policy: options.deletion,
                depends_on: options.depends_on,
                metadata,
                properties,
            },
        );
        Handle {
            id: id.to_owned(),
            _type: PhantomData,
        }
    }

    /// Adds an output.
    pub fn output(&mut self, id: &str, description: impl Into<String>, value: Expr) {
        self.add_output(id, description.into(), value, None);
    }

    /// Adds an output that exists only when `c` holds (it may name resources of `c`).
    pub fn output_when(
        &mut self,
        id: &str,
        c: &ConditionRef,
        description: impl Into<String>,
        value: Expr,
    ) {
        self.add_output(id, description.into(), value, Some(c.id().to_owned()));
    }

    fn add_output(
        &mut self,
        id: &str,
        description: String,
        value: Expr,
        condition: Option<String>,
    ) {
        check_id(id);
        let previous = self.outputs.insert(
            id.to_owned(),
            Output {
                description,
                value,
                condition,
            },
        );
        assert!(previous.is_none(), "output {id} is defined twice");
    }

    /// The template as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("templates serialize")
    }

    /// The template as YAML text.
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).expect("templates serialize")
    }
}
