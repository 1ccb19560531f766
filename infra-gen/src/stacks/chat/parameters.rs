//! The chat stack's parameters: stage, architecture, the LLM provider, model, base URL and
//! key secret, the connection TTL.

use streamgate_contract::config::{self as env, LlmProviderKind};

use crate::expr::{CondExpr, Expr};
use crate::template::{ConditionRef, ParamRef, Parameter, Template};

/// The parameters and the condition the other parts use.
pub(super) struct Params {
    pub(super) stage: ParamRef,
    pub(super) architecture: ParamRef,
    pub(super) provider: ParamRef,
    pub(super) model: ParamRef,
    pub(super) base_url: ParamRef,
    pub(super) secret_arn: ParamRef,
    pub(super) ttl: ParamRef,
    pub(super) has_secret: ConditionRef,
}

/// Declares them.
pub(super) fn parameters(t: &mut Template) -> Params {
    let providers: Vec<&str> = LlmProviderKind::ALL.iter().map(|p| p.as_str()).collect();
    let stage = t.parameter(
        "StageName",
        Parameter::string("Name of the API stage (the last part of the wss:// URL).")
            .default("dev")
            .pattern(
                "^[A-Za-z0-9_-]{1,128}$",
                "letters, digits, _ and - (1 to 128)",
            ),
    );
    let architecture = t.parameter(
        "Architecture",
        Parameter::string("CPU architecture of the functions; must match the packaged binaries.")
            .default("arm64")
            .allowed(&["arm64", "x86_64"]),
    );
    let provider = t.parameter(
        "LlmProvider",
        Parameter::string("LLM provider of the message function (echo needs no key or network).")
            .default(LlmProviderKind::Echo.as_str())
            .allowed(&providers),
    );
    let model = t.parameter(
        "LlmModel",
        Parameter::string("Model name passed to the provider (empty: the provider's default).")
            .default(""),
    );
    let base_url = t.parameter(
        "LlmBaseUrl",
        Parameter::string(
            "Base URL of an OpenAI-compatible or Anthropic server (empty: the public endpoint).",
        )
        .default("")
        .pattern("^(https?://.+)?$", "empty, or an http(s):// URL"),
    );
    let secret_arn = t.parameter(
        "LlmApiKeySecretArn",
        Parameter::string(
            "ARN of the Secrets Manager secret holding the provider's API key (empty: no key).",
        )
        .default("")
        .pattern(
            "^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)?$",
            "empty, or a Secrets Manager secret ARN",
        ),
    );
    let ttl = t.parameter(
        "ConnectionTtlSeconds",
        Parameter::number(
            "Seconds after which a connection record may be deleted by DynamoDB's TTL (connections last at most 2 h).",
            7_200,
            604_800,
        )
        .default(env::DEFAULT_CONNECTION_TTL_SECONDS.to_string()),
    );
    let has_secret = t.condition(
        "HasLlmApiKeySecret",
        CondExpr::Not(Box::new(CondExpr::Equals(
            secret_arn.r#ref(),
            Expr::lit(""),
        ))),
    );
    Params {
        stage,
        architecture,
        provider,
        model,
        base_url,
        secret_arn,
        ttl,
        has_secret,
    }
}
