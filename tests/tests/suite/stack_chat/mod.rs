//! The committed CloudFormation template: fresh, sound, least-privilege, lint-clean, and in
//! step with the route contract. `access.rs`: the login on `$connect`.

mod access;
mod grants;

use std::collections::{BTreeMap, BTreeSet};

use infra_gen::check;
use serde_json::Value;
use streamgate_contract::{Function, Permission, Route};
use streamgate_tests::{
    assert_cfn_lint_clean, assert_checkov_clean, committed_template, workspace_root,
};

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

fn ref_target(v: &Value) -> Option<&str> {
    v.get("Ref").and_then(Value::as_str)
}

fn get_att_target(v: &Value) -> Option<(&str, &str)> {
    let a = v.get("Fn::GetAtt")?.as_array()?;
    Some((a.first()?.as_str()?, a.get(1)?.as_str()?))
}

#[test]
fn committed_template_is_what_the_generator_produces_now() {
    let path = workspace_root().join(infra_gen::TEMPLATE_PATH);
    let committed = std::fs::read_to_string(&path).expect("generated/template.yaml exists");
    let fresh = infra_gen::render(&infra_gen::stacks::chat::build());
    assert!(
        committed == fresh,
        "{} is stale: the contract or the generator changed. Run `just synth` and commit the result.",
        path.display()
    );
}

#[test]
fn every_reference_resolves_and_the_graph_has_no_cycle() {
    let t = committed_template();
    assert_eq!(check::check_references(&t), vec![]);
    let graph = check::dependency_graph(&t);
    assert!(graph.len() > 20, "the graph covers every resource");
    assert_eq!(check::find_cycle(&graph), None);
}

#[test]
fn iam_has_no_wildcard_beyond_connections_and_log_streams() {
    let t = committed_template();
    assert_eq!(check::check_iam(&t), vec![]);
}

#[test]
fn api_is_websocket_and_stage_has_a_deployment() {
    let t = committed_template();
    assert_eq!(check::check_structure(&t), vec![]);
    let apis = resources_of_type(&t, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1);
    assert_eq!(
        apis[0].1["Properties"]["RouteSelectionExpression"],
        streamgate_contract::routes::api::ROUTE_SELECTION_EXPRESSION
    );
}

/// Routes → integrations → functions → artifact folders, as the contract says, and nothing
/// the contract does not name.
#[test]
fn template_routes_and_functions_match_the_contract() {
    let t = committed_template();
    let res = t["Resources"].as_object().unwrap();
    let mut seen_functions = BTreeMap::new();
    let routes = resources_of_type(&t, "AWS::ApiGatewayV2::Route");
    assert_eq!(
        routes.len(),
        Route::ALL.len(),
        "one Route resource per contract route"
    );
    for (id, r) in routes {
        let key = r["Properties"]["RouteKey"].as_str().unwrap();
        let route = Route::from_key(key).unwrap_or_else(|| {
            panic!("{id} has route key {key:?}, which the contract does not name")
        });
        let target = r["Properties"]["Target"]["Fn::Sub"].as_str().unwrap();
        let integration_id = target
            .strip_prefix("integrations/${")
            .and_then(|s| s.strip_suffix('}'))
            .unwrap();
        let uri = res[integration_id]["Properties"]["IntegrationUri"]["Fn::Sub"]
            .as_str()
            .unwrap();
        assert!(uri.starts_with(
            "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${"
        ));
        assert!(uri.ends_with(".Arn}/invocations"), "{uri}");
        let function_id = uri
            .split("functions/${")
            .nth(1)
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let function = &res[function_id];
        assert_eq!(function["Type"], "AWS::Lambda::Function");
        let spec = route.function().spec();
        assert_eq!(
            function["Properties"]["Code"],
            infra_gen::stacks::chat::artifact_folder(spec.binary),
            "{key} runs the contract's binary"
        );
        assert_eq!(function["Properties"]["MemorySize"], spec.memory_mb);
        assert_eq!(function["Properties"]["Timeout"], spec.timeout_seconds);
        assert_eq!(function["Properties"]["Runtime"], "provided.al2023");
        assert_eq!(function["Properties"]["LoggingConfig"]["LogFormat"], "JSON");
        seen_functions.insert(function_id.to_owned(), route.function());

        // The invoke permission of this route is scoped to this API, stage and route.
        let permission = resources_of_type(&t, "AWS::Lambda::Permission")
            .into_iter()
            .find(|(_, p)| {
                get_att_target(&p["Properties"]["FunctionName"]).map(|(f, _)| f)
                    == Some(function_id)
                    && p["Properties"]["SourceArn"]["Fn::Sub"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!("/{key}"))
            })
            .unwrap_or_else(|| {
                panic!("no permission lets API Gateway invoke {function_id} for {key}")
            });
        assert!(
            permission.1["Properties"]["SourceArn"]["Fn::Sub"]
                .as_str()
                .unwrap()
                .contains(":${ChatApi}/${StageName}/")
        );
    }
    let functions = resources_of_type(&t, "AWS::Lambda::Function");
    assert_eq!(
        functions.len(),
        Function::ALL.len(),
        "one function per contract function"
    );
    let reached: BTreeSet<Function> = seen_functions.values().copied().collect();
    assert_eq!(
        reached.len(),
        Function::ALL.len() - 1,
        "every function but the authorizer is reached by a route"
    );
    assert!(!reached.contains(&Function::Authorize));
}

/// Each function's role grants exactly what the contract lists for it.
#[test]
fn roles_grant_exactly_the_contract_permissions() {
    let t = committed_template();
    let res = t["Resources"].as_object().unwrap();
    for (id, f) in resources_of_type(&t, "AWS::Lambda::Function") {
        let binary = f["Properties"]["Code"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let function = Function::from_binary(binary).unwrap();
        let (role_id, _) = get_att_target(&f["Properties"]["Role"]).unwrap();
        let role = &res[role_id];
        let mut actions = BTreeSet::new();
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                let s = s.get("Fn::If").map(|branches| &branches[1]).unwrap_or(s);
                for a in s["Action"].as_array().unwrap() {
                    actions.insert(a.as_str().unwrap().to_owned());
                }
            }
        }
        let mut expected: BTreeSet<String> = ["logs:CreateLogStream", "logs:PutLogEvents"]
            .map(String::from)
            .into();
        for p in function.spec().permissions {
            let granted: &[&str] = match p {
                Permission::PutConnection => &["dynamodb:PutItem"],
                Permission::GetConnection => &["dynamodb:GetItem"],
                Permission::DeleteConnection => &["dynamodb:DeleteItem"],
                Permission::PostToConnection => &["execute-api:ManageConnections"],
                Permission::ReadLlmApiKey => &["secretsmanager:GetSecretValue"],
                Permission::UpdateQuota => &["dynamodb:UpdateItem"],
                Permission::ReadConversations => &["dynamodb:GetItem", "dynamodb:Query"],
                Permission::WriteConversations => &["dynamodb:PutItem", "dynamodb:UpdateItem"],
                Permission::CancelAnswers => &["dynamodb:PutItem"],
                Permission::InvokeBedrockModel => &["bedrock:InvokeModelWithResponseStream"],
            };
            expected.extend(granted.iter().map(|a| a.to_string()));
        }
        assert_eq!(actions, expected, "{id} ({})", function.name());
        // Secrets stay out of the environment: only the secret's ARN is passed.
        for (name, value) in f["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap()
        {
            assert!(
                !name.contains("KEY") || name.ends_with("SECRET_ARN"),
                "{id}: {name}"
            );
            // A parameter or resource, or a choice between them (the authorizer's issuer:
            // the stack's own user pool, or the AuthIssuer parameter).
            let branches = value["Fn::If"].as_array();
            let refs_only = match branches {
                Some(b) => b[1..]
                    .iter()
                    .all(|v| ref_target(v).is_some() || v.get("Fn::Sub").is_some()),
                None => ref_target(value).is_some(),
            };
            assert!(
                refs_only,
                "{id}: {name} is a parameter or resource, not a literal"
            );
        }
    }
}

#[test]
fn connections_table_expires_rows_and_is_recoverable() {
    let t = committed_template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 3, "connections, quotas and conversations");
    let quotas = &t["Resources"]["QuotasTable"]["Properties"];
    assert_eq!(
        quotas["KeySchema"][0]["AttributeName"],
        streamgate_contract::quota::attr::KEY
    );
    assert_eq!(
        quotas["TimeToLiveSpecification"]["AttributeName"],
        streamgate_contract::quota::attr::TTL
    );
    let (_, table) = tables
        .into_iter()
        .find(|(id, _)| *id == "ConnectionsTable")
        .unwrap();
    let p = &table["Properties"];
    assert_eq!(
        p["KeySchema"][0]["AttributeName"],
        streamgate_contract::record::attr::CONNECTION_ID
    );
    assert_eq!(p["AttributeDefinitions"].as_array().unwrap().len(), 1);
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"],
        streamgate_contract::record::attr::TTL
    );
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert!(table.get("DeletionPolicy").is_some() && table.get("UpdateReplacePolicy").is_some());
}

#[test]
fn cfn_lint_reports_nothing() {
    assert_cfn_lint_clean(&workspace_root().join(infra_gen::TEMPLATE_PATH));
}

#[test]
fn checkov_reports_no_failed_check() {
    assert_checkov_clean(&workspace_root().join(infra_gen::TEMPLATE_PATH));
}

/// Each route's integration is what the contract declares: a proxy integration, or an event
/// invocation (with the request template of the contract) whose function Lambda never retries.
#[test]
fn integrations_invoke_as_the_contract_declares() {
    use streamgate_contract::invocation::{self, Invocation};
    let t = committed_template();
    let res = t["Resources"].as_object().unwrap();
    let configs = resources_of_type(&t, "AWS::Lambda::EventInvokeConfig");
    for (_, r) in resources_of_type(&t, "AWS::ApiGatewayV2::Route") {
        let route = Route::from_key(r["Properties"]["RouteKey"].as_str().unwrap()).unwrap();
        let target = r["Properties"]["Target"]["Fn::Sub"].as_str().unwrap();
        let id = &target["integrations/${".len()..target.len() - 1];
        let p = &res[id]["Properties"];
        let function_id = p["IntegrationUri"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .split("functions/${")
            .nth(1)
            .unwrap()
            .trim_end_matches(".Arn}/invocations");
        let config = configs
            .iter()
            .find(|(_, c)| c["Properties"]["FunctionName"]["Ref"] == function_id);
        match route.invocation() {
            Invocation::Synchronous => {
                assert_eq!(p["IntegrationType"], "AWS_PROXY", "{}", route.key());
                assert!(config.is_none(), "{}", route.key());
            }
            Invocation::Asynchronous => {
                assert_eq!(p["IntegrationType"], "AWS", "{}", route.key());
                assert_eq!(p["IntegrationMethod"], "POST");
                assert_eq!(
                    p["RequestParameters"]["integration.request.header.X-Amz-Invocation-Type"],
                    "'Event'"
                );
                assert_eq!(
                    p["RequestTemplates"][invocation::REQUEST_TEMPLATE_KEY],
                    invocation::request_template().as_str()
                );
                let (_, c) = config.expect("an EventInvokeConfig for an asynchronous function");
                assert_eq!(
                    c["Properties"]["MaximumRetryAttempts"], 0,
                    "a retry repeats chunks"
                );
                let age = c["Properties"]["MaximumEventAgeInSeconds"]
                    .as_u64()
                    .unwrap();
                assert!((60..=21_600).contains(&age));
            }
        }
    }
}

/// A first deploy into a fresh account works when asked: the region's API Gateway account
/// settings get a CloudWatch Logs role only when `ConfigureApiGatewayLogging` is `true` (it is
/// shared by every API there), and the stage is created after them.
#[test]
fn api_gateway_logging_is_configured_only_on_request_and_before_the_stage() {
    let t = committed_template();
    let param = &t["Parameters"]["ConfigureApiGatewayLogging"];
    assert_eq!(
        param["Default"], "false",
        "never overwrites someone else's setting by default"
    );
    let accounts = resources_of_type(&t, "AWS::ApiGateway::Account");
    let [(account_id, account)] = accounts.as_slice() else {
        panic!("one account settings resource");
    };
    let condition = account["Condition"]
        .as_str()
        .expect("created only under a condition");
    assert_eq!(
        t["Conditions"][condition],
        serde_json::json!({"Fn::Equals": [{"Ref": "ConfigureApiGatewayLogging"}, "true"]})
    );
    let role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    let role = &t["Resources"][role_id];
    assert_eq!(role["Condition"], condition);
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"][0],
        "apigateway.amazonaws.com"
    );
    let (_, stage) = resources_of_type(&t, "AWS::ApiGatewayV2::Stage").remove(0);
    let waits_on = stage["DependsOn"].as_array().expect("the stage waits");
    let joined = waits_on.iter().any(|d| {
        let r = &t["Resources"][d.as_str().unwrap()];
        r["Condition"].is_null()
            && r.to_string().contains(&format!("\"Ref\":\"{account_id}\""))
            && r.to_string().contains(condition)
    });
    assert!(
        joined,
        "the stage depends on a join point that references the account settings"
    );
}
