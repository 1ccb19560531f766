//! The chat stack's parameters: stage, architecture, the LLM provider, model, base URL and
//! key secret, the connection TTL, who may connect (an issuer and audience, or a Cognito user
//! pool the stack creates), the per-user quotas, the functions' log level and tracing.

use streamgate_contract::config::{self as env, LlmProviderKind};
use streamgate_contract::{conversation, quota};

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
    pub(super) model_routes_to: ParamRef,
    pub(super) bedrock_model: ConditionRef,
    pub(super) bedrock_profile: ConditionRef,
    pub(super) auth_issuer: ParamRef,
    pub(super) auth_audience: ParamRef,
    pub(super) self_sign_up: ConditionRef,
    pub(super) create_user_pool: ConditionRef,
    pub(super) daily_token_budget: ParamRef,
    pub(super) conversation_ttl_days: ParamRef,
    pub(super) history_tokens: ParamRef,
    pub(super) max_connections: ParamRef,
    pub(super) max_answers: ParamRef,
    pub(super) log_level: ParamRef,
    pub(super) system_prompt: ParamRef,
    pub(super) metrics: ParamRef,
    pub(super) tracing: ConditionRef,
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
    let model_routes_to = t.parameter(
        "LlmModelRoutesTo",
        Parameter::string(
            "With LlmProvider=bedrock and an inference profile as LlmModel: the foundation model id the profile routes to (the profile id without its region prefix, e.g. anthropic.claude-3-5-haiku-20241022-v1:0); the message function may invoke it in the regions the profile routes to. Empty when LlmModel is a foundation model id.",
        )
        .default("")
        .pattern("^[A-Za-z0-9._:-]{0,256}$", "a Bedrock model id, or empty"),
    );
    let bedrock = || {
        CondExpr::Equals(
            provider.r#ref(),
            Expr::lit(LlmProviderKind::Bedrock.as_str()),
        )
    };
    let no_profile = || CondExpr::Equals(model_routes_to.r#ref(), Expr::lit(""));
    let bedrock_model = t.condition(
        "UsesBedrockFoundationModel",
        CondExpr::And(vec![bedrock(), no_profile()]),
    );
    let bedrock_profile = t.condition(
        "UsesBedrockInferenceProfile",
        CondExpr::And(vec![bedrock(), CondExpr::Not(Box::new(no_profile()))]),
    );
    let auth_issuer = t.parameter(
        "AuthIssuer",
        Parameter::string(
            "OIDC issuer whose tokens may connect (https://...). Empty: the stack creates a Cognito user pool and uses it.",
        )
        .default("")
        .pattern("^(https://[^\\s]+)?$", "empty, or an https:// URL"),
    );
    let auth_audience = t.parameter(
        "AuthAudience",
        Parameter::string(
            "Audiences (ID tokens' aud) or app clients (access tokens' client_id) accepted, comma-separated. Needed with AuthIssuer; ignored when the stack creates the user pool.",
        )
        .default(""),
    );
    let allow_self_sign_up = t.parameter(
        "AllowSelfSignUp",
        Parameter::string(
            "Whether anyone may sign up to the user pool the stack creates (false: only administrators create users).",
        )
        .default("false")
        .allowed(&["false", "true"]),
    );
    let daily_token_budget = t.parameter(
        "DailyTokenBudget",
        Parameter::number(
            "Tokens (prompt and answer) each user may spend per UTC day (0: no budget).",
            0,
            1_000_000_000,
        )
        .default(quota::DEFAULT_DAILY_TOKEN_BUDGET.to_string()),
    );
    let conversation_ttl_days = t.parameter(
        "ConversationTtlDays",
        Parameter::number(
            "Days a conversation is kept after its last turn (DynamoDB's TTL then deletes it).",
            1,
            3650,
        )
        .default(conversation::DEFAULT_TTL_DAYS.to_string()),
    );
    let history_tokens = t.parameter(
        "HistoryTokens",
        Parameter::number(
            "Estimated tokens (bytes / 4) of earlier turns replayed to the model with each message; the oldest turns are left out first (0: none).",
            0,
            1_000_000,
        )
        .default(conversation::DEFAULT_HISTORY_TOKENS.to_string()),
    );
    let max_connections = t.parameter(
        "MaxConnectionsPerUser",
        Parameter::number("Live connections each user may hold.", 1, 1_000)
            .default(quota::DEFAULT_MAX_CONNECTIONS_PER_USER.to_string()),
    );
    let max_answers = t.parameter(
        "MaxAnswersPerUser",
        Parameter::number("Answers each user may have streaming at once.", 1, 100)
            .default(quota::DEFAULT_MAX_ANSWERS_PER_USER.to_string()),
    );
    let log_level = t.parameter(
        "ApplicationLogLevel",
        Parameter::string(
            "The functions' log level (Lambda's ApplicationLogLevel; lines below it are dropped).",
        )
        .default("INFO")
        .allowed(&["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]),
    );
    let system_prompt = t.parameter(
        "SystemPrompt",
        Parameter::string(
            "Instructions given to the model before every question, whatever the provider (empty: none).",
        )
        .default("")
        .max_length(env::MAX_SYSTEM_PROMPT_BYTES),
    );
    let metrics = crate::stacks::watch::metrics_parameter(t);
    let active_tracing = t.parameter(
        "ActiveTracing",
        Parameter::string("true to trace the functions with AWS X-Ray (Lambda's active tracing).")
            .default("false")
            .allowed(&["false", "true"]),
    );
    let tracing = t.condition(
        "TracingOn",
        CondExpr::Equals(active_tracing.r#ref(), Expr::lit("true")),
    );
    let create_user_pool = t.condition(
        "CreateUserPool",
        CondExpr::Equals(auth_issuer.r#ref(), Expr::lit("")),
    );
    let self_sign_up = t.condition(
        "SelfSignUp",
        CondExpr::Equals(allow_self_sign_up.r#ref(), Expr::lit("true")),
    );
    Params {
        auth_issuer,
        auth_audience,
        self_sign_up,
        create_user_pool,
        daily_token_budget,
        conversation_ttl_days,
        history_tokens,
        max_connections,
        max_answers,
        log_level,
        system_prompt,
        metrics,
        tracing,
        stage,
        architecture,
        provider,
        model,
        base_url,
        secret_arn,
        ttl,
        has_secret,
        model_routes_to,
        bedrock_model,
        bedrock_profile,
    }
}
