//! The parity suite's third host: the same API as [`crate::template_host::template_for`]
//! writes in raw CloudFormation, written as a SAM template (`AWS::Serverless::Function`s and
//! one `AWS::Serverless::WebSocketApi` with its routes, stage and authorizer), so every
//! parity point is also checked through the SAM transform.

use serde_json::{Map, Value, json};
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{RouteIntegration, reserved};

/// A SAM template for `config`'s API where every function is `bootstrap_dir`'s bootstrap.
pub fn sam_template_for(
    config: &GatewayConfig,
    bootstrap_dir: &std::path::Path,
    recorder_url: &str,
    with_authorizer: bool,
) -> Value {
    let architecture = crate::packaging::lambda_architecture();
    let mut resources = Map::new();
    let function = |role: &str, route: &str, timeout_s: u64| {
        json!({"Type": "AWS::Serverless::Function", "Properties": {
            "Handler": "bootstrap",
            "Timeout": timeout_s,
            "Environment": {"Variables": {"PARITY_ROLE": role, "PARITY_ROUTE": route}},
            "Policies": ["AWSLambdaBasicExecutionRole"],
        }})
    };
    let mut routes = Map::new();
    for (i, route) in config.routes.iter().enumerate() {
        if let RouteIntegration::Event(_) = route.integration {
            panic!("the parity suite drives proxy routes");
        }
        let f = format!("Function{i}");
        resources.insert(
            f.clone(),
            function("route", &route.key, route.function_timeout.as_secs().max(1)),
        );
        let mut r = json!({
            "FunctionArn": {"Fn::GetAtt": [f, "Arn"]},
            "IntegrationTimeout": config.integration_timeout(route).as_millis() as u64,
        });
        if route.two_way {
            r["RouteResponseSelectionExpression"] = json!(reserved::DEFAULT);
        }
        routes.insert(route.key.clone(), r);
    }
    let mut api = json!({
        "StageName": config.stage,
        "RouteSelectionExpression": "$request.body.action",
        "Routes": routes,
    });
    if with_authorizer {
        resources.insert("AuthorizerFunction".into(), function("authorizer", "", 10));
        api["Auth"] = json!({
            "AuthType": "CUSTOM",
            "AuthArn": {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]},
        });
    }
    resources.insert(
        "Api".into(),
        json!({"Type": "AWS::Serverless::WebSocketApi", "Properties": api}),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {
            "CodeUri": bootstrap_dir.display().to_string(),
            "Runtime": "provided.al2023",
            "Architectures": [architecture],
            "MemorySize": 128,
            "Environment": {"Variables": {"PARITY_RECORDER_URL": recorder_url}},
        }},
        "Resources": resources,
    })
}
