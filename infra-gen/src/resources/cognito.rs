//! `AWS::Cognito::UserPool` and `AWS::Cognito::UserPoolClient`: the sign-in a chat stack
//! creates when no other issuer is named. Self sign-up is off unless a parameter turns it on
//! (an open pool lets anyone mint tokens); the client is public (no secret: browsers and the
//! AWS CLI use it) and hides whether a user exists.

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{Handle, NoAttr, Resource};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AdminCreateUserConfig {
    allow_admin_create_user_only: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PasswordPolicy {
    minimum_length: u32,
    require_lowercase: bool,
    require_numbers: bool,
    require_symbols: bool,
    require_uppercase: bool,
    temporary_password_validity_days: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policies {
    password_policy: PasswordPolicy,
}

/// `AWS::Cognito::UserPool`: users sign in with their e-mail address.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPool {
    user_pool_name: Expr,
    admin_create_user_config: AdminCreateUserConfig,
    username_attributes: Vec<&'static str>,
    auto_verified_attributes: Vec<&'static str>,
    policies: Policies,
}

impl UserPool {
    /// A pool named `name`; `admin_only` is true unless self sign-up is wanted.
    pub fn new(name: Expr, admin_only: Expr) -> UserPool {
        UserPool {
            user_pool_name: name,
            admin_create_user_config: AdminCreateUserConfig {
                allow_admin_create_user_only: admin_only,
            },
            username_attributes: vec!["email"],
            auto_verified_attributes: vec!["email"],
            policies: Policies {
                password_policy: PasswordPolicy {
                    minimum_length: 12,
                    require_lowercase: true,
                    require_numbers: true,
                    require_symbols: false,
                    require_uppercase: true,
                    temporary_password_validity_days: 7,
                },
            },
        }
    }
}

attributes!(UserPoolAttr { Arn => "Arn", ProviderUrl => "ProviderURL" });

impl Resource for UserPool {
    const TYPE: &'static str = "AWS::Cognito::UserPool";
    type Attr = UserPoolAttr;
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TokenValidityUnits {
    access_token: &'static str,
    id_token: &'static str,
    refresh_token: &'static str,
}

/// `AWS::Cognito::UserPoolClient`: a public app client (no secret) whose ID tokens carry it as
/// `aud` and whose access tokens carry it as `client_id`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPoolClient {
    user_pool_id: Expr,
    client_name: String,
    generate_secret: bool,
    explicit_auth_flows: Vec<&'static str>,
    prevent_user_existence_errors: &'static str,
    enable_token_revocation: bool,
    access_token_validity: u32,
    id_token_validity: u32,
    refresh_token_validity: u32,
    token_validity_units: TokenValidityUnits,
}

impl UserPoolClient {
    /// The client of `pool`: SRP and password sign-in (the AWS CLI's `initiate-auth`), refresh
    /// tokens; ID and access tokens valid for an hour, refresh tokens for 30 days.
    pub fn public(pool: &Handle<UserPool>, name: &str) -> UserPoolClient {
        UserPoolClient {
            user_pool_id: pool.r#ref(),
            client_name: name.to_owned(),
            generate_secret: false,
            explicit_auth_flows: vec![
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            prevent_user_existence_errors: "ENABLED",
            enable_token_revocation: true,
            access_token_validity: 60,
            id_token_validity: 60,
            refresh_token_validity: 30,
            token_validity_units: TokenValidityUnits {
                access_token: "minutes",
                id_token: "minutes",
                refresh_token: "days",
            },
        }
    }
}

impl Resource for UserPoolClient {
    const TYPE: &'static str = "AWS::Cognito::UserPoolClient";
    type Attr = NoAttr;
}
