//! The relay stack's parameters and conditions: the image digest, task size and count, the
//! OpenAI key's secret, the catalog object, the Realtime model, a custom domain, who may open
//! sessions (an OIDC issuer and audience: the chat stack's, for one sign-in) and each user's
//! daily voice seconds.

use crate::expr::{CondExpr, Expr};
use crate::template::{ConditionRef, ParamRef, Parameter, Template};

/// The parameters and conditions, for the other parts.
pub(super) struct Params {
    pub(super) image_digest: ParamRef,
    pub(super) cpu: ParamRef,
    pub(super) memory: ParamRef,
    pub(super) desired: ParamRef,
    pub(super) max: ParamRef,
    pub(super) secret_arn: ParamRef,
    pub(super) catalog_bucket: ParamRef,
    pub(super) catalog_key: ParamRef,
    pub(super) model: ParamRef,
    pub(super) certificate: ParamRef,
    pub(super) domain: ParamRef,
    pub(super) auth_issuer: ParamRef,
    pub(super) auth_audience: ParamRef,
    pub(super) daily_voice_seconds: ParamRef,
    pub(super) metrics: ParamRef,
    pub(super) has_image: ConditionRef,
    pub(super) has_catalog_object: ConditionRef,
    pub(super) has_domain: ConditionRef,
}

/// Declares them.
pub(super) fn parameters(t: &mut Template) -> Params {
    let image_digest = t.parameter(
        "ImageDigest",
        Parameter::string("Digest of the relay image in this stack's repository (sha256:...). Empty on the first deploy, which creates the repository; the service starts once it is set.")
            .default("")
            .pattern("^(sha256:[a-f0-9]{64})?$", "empty, or sha256: and 64 hex digits"),
    );
    let cpu = t.parameter(
        "TaskCpu",
        Parameter::string("CPU units per task (1024 = 1 vCPU).")
            .default("512")
            .allowed(&["256", "512", "1024", "2048"]),
    );
    let memory = t.parameter(
        "TaskMemory",
        Parameter::string("Memory per task in MiB; must suit TaskCpu (256: 512-2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384).")
            .default("1024")
            .allowed(&["512", "1024", "2048", "3072", "4096", "8192", "16384"]),
    );
    let desired = t.parameter(
        "DesiredCount",
        Parameter::number("Tasks running at least.", 1, 10).default("1"),
    );
    let max = t.parameter(
        "MaxCount",
        Parameter::number("Tasks running at most when the CPU is busy.", 1, 20).default("4"),
    );
    let secret_arn = t.parameter(
        "OpenAiKeySecretArn",
        Parameter::string("ARN of the Secrets Manager secret holding the OpenAI API key (`just secret NAME` stores one).")
            .pattern(
                "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$",
                "a Secrets Manager secret ARN",
            ),
    );
    let catalog_bucket = t.parameter(
        "CatalogBucket",
        Parameter::string("S3 bucket of the restaurant catalog; empty: the catalog in the image.")
            .default("")
            .pattern(
                "^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$",
                "an S3 bucket name, or empty",
            ),
    );
    let catalog_key = t.parameter(
        "CatalogKey",
        Parameter::string("Key of the catalog object in CatalogBucket.")
            .default("catalog.json")
            .pattern("^[^*?]{1,1024}$", "an object key without wildcards"),
    );
    let model = t.parameter(
        "RealtimeModel",
        Parameter::string("OpenAI Realtime model.").default("gpt-realtime"),
    );
    let certificate = t.parameter(
        "CertificateArn",
        Parameter::string("ACM certificate (in us-east-1) for DomainName; empty: the distribution's own cloudfront.net name.")
            .default("")
            .pattern("^(arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+)?$", "an ACM certificate ARN in us-east-1, or empty"),
    );
    let domain = t.parameter(
        "DomainName",
        Parameter::string(
            "Custom domain for the page and socket (with CertificateArn); empty: none.",
        )
        .default("")
        .pattern("^([a-z0-9.-]+)?$", "a domain name, or empty"),
    );
    let auth_issuer = t.parameter(
        "AuthIssuer",
        Parameter::string("OIDC issuer whose tokens may open voice sessions (https://...; the chat stack's AuthIssuer output for one sign-in).")
            .pattern("^https://[^\\s]+$", "an https:// URL"),
    );
    let auth_audience = t.parameter(
        "AuthAudience",
        Parameter::string("Audiences (app client ids) accepted, comma-separated (the chat stack's UserPoolClientId output).")
            .pattern("^[^\\s]+$", "one or more ids, comma-separated, without spaces"),
    );
    let daily_voice_seconds = t.parameter(
        "DailyVoiceSeconds",
        Parameter::number(
            "Seconds of voice each user may spend per UTC day (0: no budget).",
            0,
            86_400,
        )
        .default(streamgate_contract::relay::DEFAULT_DAILY_VOICE_SECONDS.to_string()),
    );
    let has_image = t.condition(
        "HasImage",
        CondExpr::Not(Box::new(CondExpr::Equals(
            image_digest.r#ref(),
            Expr::lit(""),
        ))),
    );
    let has_catalog_object = t.condition(
        "HasCatalogObject",
        CondExpr::Not(Box::new(CondExpr::Equals(
            catalog_bucket.r#ref(),
            Expr::lit(""),
        ))),
    );
    let has_domain = t.condition(
        "HasDomain",
        CondExpr::Not(Box::new(CondExpr::Equals(
            certificate.r#ref(),
            Expr::lit(""),
        ))),
    );
    let metrics = crate::stacks::watch::metrics_parameter(t);
    Params {
        metrics,
        image_digest,
        cpu,
        memory,
        desired,
        max,
        secret_arn,
        catalog_bucket,
        catalog_key,
        model,
        certificate,
        domain,
        auth_issuer,
        auth_audience,
        daily_voice_seconds,
        has_image,
        has_catalog_object,
        has_domain,
    }
}
