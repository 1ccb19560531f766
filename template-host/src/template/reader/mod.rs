//! The reader: the template's resources, resolved and checked, into a [`LocalApi`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use streamgate_contract::limits;

use super::intrinsics::{Resolver, scalar};
use super::model::{AuthorizerDef, FunctionDef, LocalApi, ReadOptions, RouteDef};
use super::{document, rules, transform};
use streamgate_emulator::api::{
    ApiRoute, RequestTemplate, RouteIntegration, SelectionExpression, kind_of,
};

mod resources;

/// Reads the WebSocket API of `text`; the error lists every problem found.
pub fn read(text: &str, options: &ReadOptions) -> Result<LocalApi, Vec<String>> {
    let mut template = document::parse(text).map_err(|e| vec![e])?;
    let transformed = transform::apply(&mut template);
    if !transformed.problems.is_empty() {
        return Err(transformed.problems);
    }
    let bad_ids: Vec<String> = template["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|id| rules::logical_id(id).err())
        .collect();
    if !bad_ids.is_empty() {
        return Err(bad_ids);
    }
    let resolver = Resolver::new(
        &template,
        &options.parameters,
        options.pseudo.clone(),
        &options.api_id,
    )?;
    Reader {
        template: &template,
        r: resolver,
        base_dir: &options.base_dir,
        problems: Vec::new(),
        notes: transformed.notes,
    }
    .read()
}

struct Reader<'a> {
    template: &'a Value,
    r: Resolver<'a>,
    base_dir: &'a Path,
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Reader<'_> {
    /// Existing resources of `kind`, by logical id.
    fn resources(&self, kind: &str) -> Vec<(String, Value)> {
        self.template["Resources"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(id, r)| r["Type"] == kind && self.r.exists(id))
                    .map(|(id, r)| (id.clone(), r.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A resolved property (`Null` when absent or unresolvable, the latter noted).
    fn prop(&mut self, id: &str, resource: &Value, name: &str) -> Value {
        match self.r.resolve(&resource["Properties"][name]) {
            Ok(v) => v,
            Err(e) => {
                self.problems.push(format!("{id}.{name}: {e}"));
                Value::Null
            }
        }
    }

    /// Whether `value` (a resolved `ApiId`) names the API `api`.
    fn is_api(&self, value: &Value) -> bool {
        scalar(value) == self.r.api_id
    }

    fn read(mut self) -> Result<LocalApi, Vec<String>> {
        let apis: Vec<(String, Value)> = self
            .resources("AWS::ApiGatewayV2::Api")
            .into_iter()
            .filter(|(_, r)| r["Properties"]["ProtocolType"] == "WEBSOCKET")
            .collect();
        let Some((api_id, api)) = apis.first().cloned() else {
            return Err(vec![
                "the template has no AWS::ApiGatewayV2::Api with ProtocolType: WEBSOCKET".into(),
            ]);
        };
        if apis.len() > 1 {
            self.notes.push(format!(
                "the template has {} WebSocket APIs; serving {api_id}",
                apis.len()
            ));
        }
        let expression = scalar(&self.prop(&api_id, &api, "RouteSelectionExpression"));
        let selection = match SelectionExpression::parse(&expression) {
            Ok(s) => s,
            Err(e) => {
                self.problems.push(format!("{api_id}: {e}"));
                SelectionExpression::default()
            }
        };

        let stage = self.stage(&api_id);
        let authorizers = self.authorizers();
        let integrations = self.integrations();
        let two_way = self.route_responses();
        let mut functions = BTreeMap::new();
        let mut routes = Vec::new();
        for (id, resource) in self.resources("AWS::ApiGatewayV2::Route") {
            let resource = &resource;
            let api_ref = self.prop(&id, resource, "ApiId");
            if !self.is_api(&api_ref) {
                continue;
            }
            let key = scalar(&self.prop(&id, resource, "RouteKey"));
            let target = scalar(&self.prop(&id, resource, "Target"));
            let Some(integration_id) = target.strip_prefix("integrations/") else {
                self.problems.push(format!(
                    "route {key:?} ({id}) has no integration target (a route without one answers nothing)"
                ));
                continue;
            };
            let Some((function, integration, timeout)) = integrations.get(integration_id).cloned()
            else {
                self.problems.push(format!(
                    "route {key:?} ({id}): its integration {integration_id} is not a Lambda integration the emulator runs"
                ));
                continue;
            };
            let authorization = scalar(&self.prop(&id, resource, "AuthorizationType"));
            let authorizer = match authorization.as_str() {
                "" | "NONE" => None,
                "CUSTOM" => {
                    let auth_id = scalar(&self.prop(&id, resource, "AuthorizerId"));
                    match authorizers.get(&auth_id) {
                        Some(a) => Some(a.clone()),
                        None => {
                            self.problems.push(format!(
                                "route {key:?}: authorizer {auth_id} is not a REQUEST Lambda authorizer"
                            ));
                            None
                        }
                    }
                }
                other => {
                    self.problems.push(format!(
                        "route {key:?}: AuthorizationType {other} is not emulated (only NONE and CUSTOM REQUEST authorizers)"
                    ));
                    None
                }
            };
            for f in std::iter::once(&function).chain(authorizer.as_ref().map(|a| &a.function)) {
                if !functions.contains_key(f)
                    && let Some(def) = self.function(f)
                {
                    functions.insert(f.clone(), def);
                }
            }
            let function_timeout = functions
                .get(&function)
                .map_or(Duration::from_secs(3), |f: &FunctionDef| f.timeout);
            routes.push(RouteDef {
                route: ApiRoute {
                    key: key.clone(),
                    integration,
                    two_way: two_way.contains(&id),
                    integration_timeout: Some(timeout),
                    function_timeout,
                },
                function,
                authorizer,
            });
        }
        if routes.is_empty() {
            self.problems
                .push(format!("the WebSocket API {api_id} has no routes"));
        }
        for r in &routes {
            if r.authorizer.is_some()
                && kind_of(&r.route.key) != streamgate_contract::RouteKind::Connect
            {
                self.problems.push(format!(
                    "route {:?}: authorizers run on $connect only",
                    r.route.key
                ));
            }
        }
        routes.sort_by(|a, b| a.route.key.cmp(&b.route.key));
        let tables = self.tables();
        let secret_arns = self.secret_arns();
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(LocalApi {
            logical_id: api_id,
            selection,
            stage,
            routes,
            functions,
            tables,
            secret_arns,
            notes: self.notes,
        })
    }

    fn stage(&mut self, api_id: &str) -> String {
        let stages: Vec<(String, Value)> = self.resources("AWS::ApiGatewayV2::Stage");
        for (id, resource) in stages {
            let api_ref = self.prop(&id, &resource, "ApiId");
            if self.is_api(&api_ref) {
                return scalar(&self.prop(&id, &resource, "StageName"));
            }
        }
        self.notes
            .push(format!("{api_id} has no stage; serving it as \"dev\""));
        "dev".into()
    }

    /// Integration logical id → (function logical id, how it is invoked, timeout).
    fn integrations(&mut self) -> BTreeMap<String, (String, RouteIntegration, Duration)> {
        let mut out = BTreeMap::new();
        let all: Vec<(String, Value)> = self.resources("AWS::ApiGatewayV2::Integration");
        for (id, resource) in all {
            let api_ref = self.prop(&id, &resource, "ApiId");
            if !self.is_api(&api_ref) {
                continue;
            }
            let kind = scalar(&self.prop(&id, &resource, "IntegrationType"));
            let uri = scalar(&self.prop(&id, &resource, "IntegrationUri"));
            let timeout_ms = self.prop(&id, &resource, "TimeoutInMillis");
            let timeout = match scalar(&timeout_ms).parse::<u64>() {
                Ok(ms) if (50..=29_000).contains(&ms) => Duration::from_millis(ms),
                Ok(ms) => {
                    self.problems.push(format!(
                        "{id}: TimeoutInMillis {ms} is outside API Gateway's 50 to 29000"
                    ));
                    continue;
                }
                Err(_) => limits::INTEGRATION_TIMEOUT,
            };
            if !matches!(kind.as_str(), "AWS_PROXY" | "AWS") {
                self.problems.push(format!(
                    "{id}: IntegrationType {kind} is not emulated (only Lambda integrations run)"
                ));
                continue;
            }
            let Some(function) = self.function_by_arn(&uri) else {
                self.problems.push(format!(
                    "{id}: IntegrationUri {uri:?} does not name a Lambda function of this template"
                ));
                continue;
            };
            let invocation_type = scalar(
                &self.prop(&id, &resource, "RequestParameters")["integration.request.header.X-Amz-Invocation-Type"],
            );
            let integration = match (kind.as_str(), invocation_type.trim_matches('\'')) {
                ("AWS_PROXY", _) => RouteIntegration::Proxy,
                ("AWS", "Event") => {
                    let templates = self.prop(&id, &resource, "RequestTemplates");
                    let selection =
                        scalar(&self.prop(&id, &resource, "TemplateSelectionExpression"));
                    let key = selection.trim_start_matches('\\');
                    let source = templates[key]
                        .as_str()
                        .or_else(|| templates[streamgate_emulator::api::reserved::DEFAULT].as_str())
                        .or_else(|| {
                            templates
                                .as_object()
                                .filter(|m| m.len() == 1)
                                .and_then(|m| m.values().next())
                                .and_then(Value::as_str)
                        });
                    match source.map(RequestTemplate::parse) {
                        Some(Ok(t)) => RouteIntegration::Event(t),
                        Some(Err(e)) => {
                            self.problems.push(format!("{id}: {e}"));
                            continue;
                        }
                        None => {
                            self.problems.push(format!(
                                "{id}: an event integration needs a request template the emulator can select (a $default one, or exactly one)"
                            ));
                            continue;
                        }
                    }
                }
                ("AWS", _) => {
                    self.problems.push(format!(
                        "{id}: synchronous AWS (non-proxy) integrations are not emulated; use AWS_PROXY, or X-Amz-Invocation-Type 'Event'"
                    ));
                    continue;
                }
                (other, _) => {
                    self.problems.push(format!(
                        "{id}: IntegrationType {other} is not emulated (only Lambda integrations run)"
                    ));
                    continue;
                }
            };
            out.insert(id, (function, integration, timeout));
        }
        out
    }

    /// The logical id of the function whose ARN appears in `uri`.
    fn function_by_arn(&self, uri: &str) -> Option<String> {
        let name = uri.split(":function:").nth(1)?;
        let name = name.split(['/', ':']).next()?;
        self.resources("AWS::Lambda::Function")
            .into_iter()
            .find(|(id, r)| self.r.physical_id(id, r).ok().as_deref() == Some(name))
            .map(|(id, _)| id)
    }

    /// Routes (logical ids) with a `$default` route response.
    fn route_responses(&mut self) -> Vec<String> {
        let all: Vec<(String, Value)> = self.resources("AWS::ApiGatewayV2::RouteResponse");
        let mut out = Vec::new();
        for (id, resource) in all {
            if scalar(&self.prop(&id, &resource, "RouteResponseKey"))
                == streamgate_emulator::api::reserved::DEFAULT
            {
                out.push(scalar(&self.prop(&id, &resource, "RouteId")));
            }
        }
        out
    }

    /// REQUEST Lambda authorizers, by logical id.
    fn authorizers(&mut self) -> BTreeMap<String, AuthorizerDef> {
        let all: Vec<(String, Value)> = self.resources("AWS::ApiGatewayV2::Authorizer");
        let mut out = BTreeMap::new();
        for (id, resource) in all {
            let kind = scalar(&self.prop(&id, &resource, "AuthorizerType"));
            if kind != "REQUEST" {
                self.problems.push(format!(
                    "{id}: AuthorizerType {kind} is not emulated (only REQUEST)"
                ));
                continue;
            }
            let uri = scalar(&self.prop(&id, &resource, "AuthorizerUri"));
            let Some(function) = self.function_by_arn(&uri) else {
                self.problems.push(format!(
                    "{id}: AuthorizerUri {uri:?} does not name a Lambda function of this template"
                ));
                continue;
            };
            let identity_source = match self.prop(&id, &resource, "IdentitySource") {
                Value::Array(items) => items.iter().map(scalar).collect(),
                Value::Null => Vec::new(),
                other => vec![scalar(&other)],
            };
            let name = scalar(&self.prop(&id, &resource, "Name"));
            out.insert(
                id.clone(),
                AuthorizerDef {
                    name: if name.is_empty() { id } else { name },
                    function,
                    identity_source,
                },
            );
        }
        out
    }
}
