//! Who may connect: the sign-in (a Cognito user pool and public app client, created when the
//! stack names no other issuer), and the REQUEST authorizer that runs the authorizer function
//! on `$connect`, with the permission that lets API Gateway invoke exactly that authorizer.

use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::apigateway::{Authorizer, WebSocketApi};
use crate::resources::cognito::{UserPool, UserPoolAttr, UserPoolClient};
use crate::resources::lambda::{LambdaFunction, LambdaPermission};
use crate::template::{DataPolicy, Handle, Options, Template};

use super::parameters::Params;

/// The issuer and audiences the authorizer function is given.
pub(super) struct SignIn {
    pub(super) issuer: Expr,
    pub(super) audience: Expr,
}

/// The user pool and its client (only when `AuthIssuer` is empty), and the issuer and
/// audience the authorizer checks: the pool's, or the parameters'.
pub(super) fn sign_in(t: &mut Template, p: &Params) -> SignIn {
    let pool = t.add_with(
        "UserPool",
        UserPool::new(
            Sub::new().pseudo(Pseudo::StackName).text("-users").build(),
            p.self_sign_up
                .if_else(Expr::lit("false"), Expr::lit("true")),
        ),
        Options::new()
            .when(&p.create_user_pool)
            .data_policy(DataPolicy::Delete),
    );
    let client = t.add_with(
        "UserPoolClient",
        UserPoolClient::public(&pool, "streamgate"),
        Options::new().when(&p.create_user_pool),
    );
    let pool_issuer = Sub::new()
        .text("https://")
        .expr(&pool.att(UserPoolAttr::ProviderUrl))
        .build();
    let issuer = p
        .create_user_pool
        .if_else(pool_issuer, p.auth_issuer.r#ref());
    let audience = p
        .create_user_pool
        .if_else(client.r#ref(), p.auth_audience.r#ref());
    t.output(
        "AuthIssuer",
        "The issuer whose tokens may connect",
        issuer.clone(),
    );
    t.output_when(
        "UserPoolId",
        &p.create_user_pool,
        "The user pool (create users here)",
        pool.r#ref(),
    );
    t.output_when(
        "UserPoolClientId",
        &p.create_user_pool,
        "The app client to sign in with (its ID tokens' aud)",
        client.r#ref(),
    );
    SignIn { issuer, audience }
}

/// The `$connect` authorizer run by `function`, and API Gateway's permission to invoke it
/// (scoped to this authorizer's ARN).
pub(super) fn authorizer(
    t: &mut Template,
    api: &Handle<WebSocketApi>,
    function: &Handle<LambdaFunction>,
) -> Handle<Authorizer> {
    let authorizer = t.add(
        "ConnectAuthorizer",
        Authorizer::lambda_request(api, function, "token"),
    );
    let source_arn = super::execute_api_prefix(api)
        .text("authorizers/")
        .expr(&authorizer.r#ref())
        .build();
    t.add(
        "ConnectAuthorizerPermission",
        LambdaPermission::api_gateway_invoke(function, source_arn),
    );
    authorizer
}
