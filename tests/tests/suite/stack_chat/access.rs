//! The chat template's door: the authorizer on `$connect` and what it may invoke.

use super::*;

/// `$connect` runs the authorizer function as a REQUEST authorizer (no identity source, so a
/// token in the header or the query both reach it), API Gateway may invoke exactly that
/// authorizer, no other route has one, and the deployment waits for it.
#[test]
fn connect_is_guarded_by_the_authorizer_function() {
    let t = committed_template();
    let res = t["Resources"].as_object().unwrap();
    let authorizers = resources_of_type(&t, "AWS::ApiGatewayV2::Authorizer");
    assert_eq!(authorizers.len(), 1);
    let (authorizer_id, authorizer) = authorizers[0];
    let props = &authorizer["Properties"];
    assert_eq!(props["AuthorizerType"], "REQUEST");
    assert!(props.get("IdentitySource").is_none());
    assert!(props.get("AuthorizerResultTtlInSeconds").is_none());
    let uri = props["AuthorizerUri"]["Fn::Sub"].as_str().unwrap();
    let function_id = uri
        .split("functions/${")
        .nth(1)
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    assert_eq!(
        res[function_id]["Properties"]["Code"],
        infra_gen::stacks::chat::artifact_folder(Function::Authorize.spec().binary)
    );
    for (id, route) in resources_of_type(&t, "AWS::ApiGatewayV2::Route") {
        let p = &route["Properties"];
        if p["RouteKey"] == Route::Connect.key() {
            assert_eq!(p["AuthorizationType"], "CUSTOM", "{id}");
            assert_eq!(ref_target(&p["AuthorizerId"]), Some(authorizer_id.as_str()));
        } else {
            assert_eq!(p["AuthorizationType"], "NONE", "{id}");
        }
    }
    let permissions: Vec<_> = resources_of_type(&t, "AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| {
            get_att_target(&p["Properties"]["FunctionName"]).map(|(f, _)| f) == Some(function_id)
        })
        .collect();
    assert_eq!(
        permissions.len(),
        1,
        "one permission, for the authorizer only"
    );
    assert_eq!(
        permissions[0].1["Properties"]["SourceArn"]["Fn::Sub"],
        format!(
            "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{ChatApi}}/authorizers/${{{authorizer_id}}}"
        )
    );
    let deployment = resources_of_type(&t, "AWS::ApiGatewayV2::Deployment")[0].1;
    assert!(
        deployment["DependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| res[d.as_str().unwrap()]["Properties"]["AuthorizationType"] == "CUSTOM"),
        "the deployment waits for the guarded route"
    );
    // Without AuthIssuer the stack signs users in with its own pool, self sign-up off.
    let pool = &res["UserPool"];
    assert_eq!(pool["Condition"], "CreateUserPool");
    assert_eq!(
        pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]["Fn::If"][0],
        "SelfSignUp"
    );
    assert_eq!(
        pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]["Fn::If"][2],
        "true"
    );
    assert_eq!(t["Parameters"]["AllowSelfSignUp"]["Default"], "false");
    assert_eq!(res["UserPoolClient"]["Properties"]["GenerateSecret"], false);
    let env = &res[function_id]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env[streamgate_contract::config::AUTH_ISSUER]["Fn::If"][0],
        "CreateUserPool"
    );
    assert_eq!(
        env[streamgate_contract::config::AUTH_AUDIENCE]["Fn::If"][0],
        "CreateUserPool"
    );
}
