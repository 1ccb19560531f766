use serde_json::{Value, json};

use super::*;
use crate::template::document;
use streamgate_emulator::api::reserved;

fn transformed(yaml: &str) -> (Value, Transformed) {
    let mut t = document::parse(yaml).unwrap();
    let out = apply(&mut t);
    (t, out)
}

const SAM: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 10
    Environment:
      Variables:
        TABLE: !Ref Connections
        SHARED: from-globals
    Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]
Resources:
  Connections:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: connectionId, Type: String}
      SSESpecification: {SSEEnabled: true}
  OnConnect:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: connect.handler
      Timeout: 5
      Environment:
        Variables:
          SHARED: own
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Connections}
  Authorize:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bucket/key.zip
      Handler: auth.handler
      Policies: AWSLambdaBasicExecutionRole
  Chat:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      StageName: prod
      Auth:
        AuthType: CUSTOM
        AuthArn: !GetAtt Authorize.Arn
        IdentitySource: [route.request.querystring.token]
      Routes:
        $connect: {FunctionArn: !GetAtt OnConnect.Arn}
        send-message:
          FunctionArn: !GetAtt OnConnect.Arn
          IntegrationTimeout: 5000
          RouteResponseSelectionExpression: $default
          ApiKeyRequired: false
"#;

#[test]
fn sam_functions_take_globals_and_become_lambda_functions() {
    let (t, out) = transformed(SAM);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let f = &t["Resources"]["OnConnect"];
    assert_eq!(f["Type"], "AWS::Lambda::Function");
    let p = &f["Properties"];
    assert_eq!(p["Code"], "src/");
    assert_eq!(p["Runtime"], "nodejs20.x", "from Globals");
    assert_eq!(p["Timeout"], 5, "the function's own value wins");
    assert_eq!(p["Environment"]["Variables"]["SHARED"], "own");
    assert_eq!(
        p["Environment"]["Variables"]["TABLE"],
        json!({"Ref": "Connections"}),
        "maps are merged with Globals"
    );
    assert!(p.get("Policies").is_none() && p.get("Layers").is_none());
    assert_eq!(
        t["Resources"]["Authorize"]["Properties"]["Code"],
        json!({"S3Bucket": "bucket", "S3Key": "key.zip"})
    );
}

#[test]
fn what_has_no_local_meaning_is_named_once_with_its_resources() {
    let (_, out) = transformed(SAM);
    let policies: Vec<&String> = out
        .notes
        .iter()
        .filter(|n| n.starts_with("Policies"))
        .collect();
    assert_eq!(policies.len(), 1, "{:?}", out.notes);
    assert!(
        policies[0].contains("OnConnect, Authorize")
            || policies[0].contains("Authorize, OnConnect")
    );
    assert!(policies[0].contains("IAM is not enforced"));
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("Layers") && n.contains("OnConnect"))
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("SSESpecification (Connections)"))
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("Routes.ApiKeyRequired (Chat)"))
    );
}

#[test]
fn a_websocket_api_becomes_the_resources_sam_generates() {
    let (t, _) = transformed(SAM);
    let r = &t["Resources"];
    assert_eq!(r["Chat"]["Type"], "AWS::ApiGatewayV2::Api");
    assert_eq!(r["Chat"]["Properties"]["ProtocolType"], "WEBSOCKET");
    assert_eq!(
        r["Chat"]["Properties"]["RouteSelectionExpression"],
        "$request.body.action"
    );
    assert_eq!(r["ChatStage"]["Properties"]["StageName"], "prod");
    let connect = &r["ChatConnectRoute"]["Properties"];
    assert_eq!(connect["RouteKey"], reserved::CONNECT);
    assert_eq!(connect["AuthorizationType"], "CUSTOM");
    assert_eq!(connect["AuthorizerId"], json!({"Ref": "ChatAuthorizer"}));
    let send = &r["ChatSendmessageRoute"]["Properties"];
    assert_eq!(send["RouteKey"], "send-message");
    assert!(
        send.get("AuthorizationType").is_none(),
        "authorizers run on $connect only"
    );
    assert_eq!(
        r["ChatSendmessageIntegration"]["Properties"]["TimeoutInMillis"],
        5000
    );
    assert_eq!(
        r["ChatSendmessageRouteResponse"]["Properties"]["RouteId"],
        json!({"Ref": "ChatSendmessageRoute"})
    );
    assert!(r.get("ChatConnectRouteResponse").is_none());
    let authorizer = &r["ChatAuthorizer"]["Properties"];
    assert_eq!(authorizer["AuthorizerType"], "REQUEST");
    assert_eq!(
        authorizer["IdentitySource"],
        json!(["route.request.querystring.token"])
    );
    let table = &r["Connections"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(
        table["Properties"]["KeySchema"],
        json!([{"AttributeName": "connectionId", "KeyType": "HASH"}])
    );
}

#[test]
fn sam_resources_without_the_transform_and_clashing_ids_are_refused() {
    let (_, out) = transformed(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: x, Handler: a.b, Runtime: nodejs20.x}\n",
    );
    assert!(
        out.problems[0].contains("Transform: AWS::Serverless-2016-10-31"),
        "{:?}",
        out.problems
    );
    let (_, out) = transformed(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::WebSocketApi\n    Properties:\n      Routes: {$default: {FunctionArn: x}}\n  ApiStage:\n    Type: AWS::SNS::Topic\n",
    );
    assert!(
        out.problems.iter().any(|p| p.starts_with("ApiStage")),
        "{:?}",
        out.problems
    );
    let (_, out) = transformed(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::WebSocketApi\n    Properties:\n      Auth: {AuthType: AWS_IAM}\n      Routes: {$default: {FunctionArn: x}}\n",
    );
    assert!(
        out.problems.iter().any(|p| p.contains("AWS_IAM")),
        "{:?}",
        out.problems
    );
}

#[test]
fn cdk_functions_find_their_code_through_asset_metadata() {
    let (t, _) = transformed(
        r#"{"Resources": {"Fn": {"Type": "AWS::Lambda::Function",
            "Properties": {"Code": {"S3Bucket": {"Fn::Sub": "cdk-${AWS::AccountId}"}, "S3Key": "abc.zip"}},
            "Metadata": {"aws:asset:path": "asset.abc", "aws:asset:is-bundled": false, "aws:asset:property": "Code"}}}}"#,
    );
    assert_eq!(t["Resources"]["Fn"]["Properties"]["Code"], "asset.abc");
}

#[test]
fn globals_merge_maps_append_lists_and_replace_the_rest() {
    let merged = merge_globals(
        &json!({"A": {"x": 1, "y": 2}, "L": [1], "S": "g", "R": {"Ref": "P"}}),
        &json!({"A": {"y": 3}, "L": [2], "S": "own", "R": {"Fn::Sub": "x"}}),
    );
    assert_eq!(
        merged,
        json!({"A": {"x": 1, "y": 3}, "L": [1, 2], "S": "own", "R": {"Fn::Sub": "x"}})
    );
}
