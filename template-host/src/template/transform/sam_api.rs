//! SAM's `AWS::Serverless::WebSocketApi` and `AWS::Serverless::SimpleTable` as the resources
//! SAM generates for them: the API, a stage, per route an integration, a route (and a
//! `$default` route response when the route asks for one), the Lambda authorizer on
//! `$connect`; a table with one string (or number, or binary) key.

use serde_json::{Map, Value, json};

use super::Ignored;
use streamgate_emulator::api::reserved;

/// `Routes` keys as logical-id parts: `$connect` → `Connect`, `send-message` → `Sendmessage`.
fn route_part(key: &str) -> String {
    let mut part: String = key.chars().filter(char::is_ascii_alphanumeric).collect();
    if let Some(first) = part.get(..1) {
        part = first.to_ascii_uppercase() + &part[1..];
    }
    if part.is_empty() {
        "Route".into()
    } else {
        part
    }
}

/// API Gateway's integration URI for a function ARN (a value or an intrinsic).
fn integration_uri(function_arn: &Value) -> Value {
    json!({"Fn::Join": ["", [
        {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"},
        function_arn,
        "/invocations"
    ]]})
}

pub(super) fn websocket_api(
    id: &str,
    resource: &mut Value,
    added: &mut Map<String, Value>,
    ignored: &mut Ignored,
    problems: &mut Vec<String>,
) {
    let props = resource["Properties"].clone();
    let api_ref = json!({"Ref": id});
    let mut api = Map::new();
    api.insert("ProtocolType".into(), json!("WEBSOCKET"));
    api.insert(
        "Name".into(),
        props.get("Name").cloned().unwrap_or_else(|| json!(id)),
    );
    api.insert(
        "RouteSelectionExpression".into(),
        props
            .get("RouteSelectionExpression")
            .cloned()
            .unwrap_or_else(|| json!("$request.body.action")),
    );
    for (name, value) in props.as_object().into_iter().flatten() {
        match name.as_str() {
            "Name"
            | "RouteSelectionExpression"
            | "Routes"
            | "Auth"
            | "StageName"
            | "Description" => {}
            "ApiKeySelectionExpression" | "DisableSchemaValidation" => {
                api.insert(name.clone(), value.clone());
                ignored.add(name.clone(), id, "API keys and models are not checked");
            }
            other => ignored.add(other.to_owned(), id, "it has no local meaning"),
        }
    }
    let stage = props.get("StageName").cloned().unwrap_or(json!("default"));
    added.insert(
        format!("{id}Stage"),
        json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": api_ref, "StageName": stage, "AutoDeploy": true
        }}),
    );

    let auth = &props["Auth"];
    let auth_type = auth["AuthType"].as_str().unwrap_or("NONE").to_owned();
    let authorizer = format!("{id}Authorizer");
    match auth_type.as_str() {
        "NONE" => {}
        "CUSTOM" => {
            let Some(arn) = auth.get("AuthArn") else {
                problems.push(format!("{id}: Auth.AuthType CUSTOM needs Auth.AuthArn"));
                return;
            };
            let mut a = json!({
                "ApiId": api_ref, "AuthorizerType": "REQUEST",
                "AuthorizerUri": integration_uri(arn),
                "Name": auth.get("Name").cloned().unwrap_or_else(|| json!(authorizer)),
            });
            if let Some(sources) = auth.get("IdentitySource") {
                a["IdentitySource"] = sources.clone();
            }
            if auth.get("InvokeRole").is_some() {
                ignored.add("Auth.InvokeRole".into(), id, "IAM is not enforced locally");
            }
            added.insert(
                authorizer.clone(),
                json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": a}),
            );
        }
        other => problems.push(format!(
            "{id}: Auth.AuthType {other} is not emulated (NONE and CUSTOM Lambda authorizers are)"
        )),
    }

    let Some(routes) = props["Routes"].as_object() else {
        problems.push(format!("{id}: a WebSocketApi needs Routes"));
        return;
    };
    for (key, route) in routes {
        let part = route_part(key);
        let Some(arn) = route.get("FunctionArn") else {
            problems.push(format!("{id}: route {key:?} has no FunctionArn"));
            continue;
        };
        let integration = format!("{id}{part}Integration");
        let mut integ = json!({
            "ApiId": api_ref, "IntegrationType": "AWS_PROXY", "IntegrationUri": integration_uri(arn)
        });
        if let Some(ms) = route.get("IntegrationTimeout") {
            integ["TimeoutInMillis"] = ms.clone();
        }
        added.insert(
            integration.clone(),
            json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": integ}),
        );
        let route_id = format!("{id}{part}Route");
        let mut r = json!({
            "ApiId": api_ref, "RouteKey": key,
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]},
        });
        if key == reserved::CONNECT && auth_type == "CUSTOM" {
            r["AuthorizationType"] = json!("CUSTOM");
            r["AuthorizerId"] = json!({"Ref": authorizer});
        }
        for (name, value) in route.as_object().into_iter().flatten() {
            match name.as_str() {
                "FunctionArn" | "IntegrationTimeout" => {}
                "RouteResponseSelectionExpression" => {
                    r[name] = value.clone();
                    if value == reserved::DEFAULT {
                        added.insert(
                            format!("{id}{part}RouteResponse"),
                            json!({"Type": "AWS::ApiGatewayV2::RouteResponse", "Properties": {
                                "ApiId": api_ref, "RouteId": {"Ref": route_id},
                                "RouteResponseKey": reserved::DEFAULT
                            }}),
                        );
                    }
                }
                other => ignored.add(
                    format!("Routes.{other}"),
                    id,
                    "API keys, models and request parameters are not checked",
                ),
            }
        }
        added.insert(
            route_id,
            json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": r}),
        );
    }
    resource["Type"] = json!("AWS::ApiGatewayV2::Api");
    resource["Properties"] = Value::Object(api);
}

pub(super) fn simple_table(id: &str, resource: &mut Value, ignored: &mut Ignored) {
    let props = &resource["Properties"];
    let key = &props["PrimaryKey"];
    let name = key["Name"].as_str().unwrap_or("id").to_owned();
    let kind = match key["Type"].as_str().unwrap_or("String") {
        "Number" => "N",
        "Binary" => "B",
        _ => "S",
    };
    let mut table = json!({
        "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind}],
        "BillingMode": "PAY_PER_REQUEST",
    });
    if let Some(n) = props.get("TableName") {
        table["TableName"] = n.clone();
    }
    for name in props.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !matches!(name.as_str(), "PrimaryKey" | "TableName") {
            ignored.add(
                name.clone(),
                id,
                "DynamoDB Local has no capacity, encryption or tags to set",
            );
        }
    }
    resource["Type"] = json!("AWS::DynamoDB::Table");
    resource["Properties"] = table;
}
