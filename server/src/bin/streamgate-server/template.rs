//! `--template`: a CloudFormation template's WebSocket API, its functions' bootstraps run under
//! the embedded Lambda Runtime API, its tables in DynamoDB Local, its secrets served locally.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use streamgate_emulator::process::{StopSignal, serve_until_stopped};

use streamgate_emulator::access::Access;

use crate::{
    Cli, SHUTDOWN_WITHIN, access, access_lines, gateway_config, listen, metrics, metrics_line,
    shown_host, shutting_down, still_open,
};

/// The parameters of a streamgate stack that name who may connect; the template host fills
/// them from `--auth` when the template declares them and `--parameter` does not set them.
const AUTH_PARAMETERS: [&str; 2] = ["AuthIssuer", "AuthAudience"];

/// `NAME=VALUE` pairs.
fn pairs(values: &[String], flag: &str) -> Result<BTreeMap<String, String>, String> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--{flag} takes NAME=VALUE"))
        })
        .collect()
}

/// A template's WebSocket API, its functions' bootstraps under the Lambda Runtime API.
pub(super) async fn run(cli: Cli, template: PathBuf) -> Result<(), String> {
    use streamgate_template_host::host::{TemplateHost, TemplateOptions};
    let mut secrets = BTreeMap::new();
    if let Some(file) = &cli.secrets_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{} is not a JSON object of secret ids to string values",
                file.display()
            )
        })?;
        secrets.extend(map);
    }
    for (arn, var) in pairs(&cli.secrets_from_env, "secret-from-env")? {
        let value = std::env::var(&var).map_err(|_| {
            format!("--secret-from-env {arn}={var}: the variable {var} is not set (or not UTF-8)")
        })?;
        secrets.insert(arn, value);
    }
    if !cli.secrets.is_empty() {
        tracing::warn!(
            "--secret puts a value on the command line, where other users of this machine can read it (ps): prefer --secret-from-env ARN=VAR or --secrets-file FILE"
        );
    }
    secrets.extend(pairs(&cli.secrets, "secret")?);
    let mut options = TemplateOptions::new(&template);
    options.artifacts = cli.artifacts.clone();
    options.parameters = pairs(&cli.parameters, "parameter")?;
    options.secrets = secrets;
    options.dynamodb_endpoint = cli.dynamodb_endpoint.clone();
    options.dynamodb_local_dir = cli.dynamodb_local_dir.clone();
    options.max_concurrency = cli.max_concurrency;
    options.idle_process_timeout = Duration::from_secs(cli.idle_process_timeout_s);
    options.watch = cli.watch;
    options.progress = std::sync::Arc::new(|line: &str| say!("  {line}"));
    options.gateway = gateway_config(&cli)?;
    // Caught before anything starts: a stop during start-up drops what was started.
    let mut stop = StopSignal::install();
    let listener = listen(&cli).await?;
    // The template's own authorizer decides; the development issuer (or --auth-issuer) is
    // what a streamgate stack's authorizer function is pointed at, instead of a Cognito pool.
    let access = access(&cli, &listener)?;
    let (issuer, audience) = match &access {
        Access::Open => (None, None),
        Access::Dev(dev) => (
            Some(dev.issuer().to_owned()),
            Some(dev.audience().to_owned()),
        ),
        Access::Issuer(s) => (Some(s.issuer.clone()), Some(s.audiences.join(","))),
    };
    if let (Some(issuer), Some(audience)) = (issuer, audience) {
        options.local_parameters = AUTH_PARAMETERS
            .iter()
            .map(|p| p.to_string())
            .zip([issuer, audience])
            .collect();
    }
    options.dev_issuer = access.dev_issuer();
    options.metrics = metrics(&cli);
    let options_metrics = options.metrics;
    let starting = TemplateHost::start(options, &listener);
    let server = tokio::select! {
        started = starting => started.map_err(|problems| {
            format!(
                "cannot serve {}:\n  - {}",
                template.display(),
                problems.join("\n  - ")
            )
        })?,
        () = stop.wait() => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    let (port, stage) = (cli.port, &server.api.stage);
    let shown = shown_host(&cli.host);
    say!(
        "streamgate: {} from {} (API Gateway WebSocket emulation, functions under a local Lambda Runtime API)",
        server.api.logical_id,
        template.display()
    );
    say!("  WebSocket:       ws://{shown}:{port}/{stage}   (or ws://{shown}:{port})");
    say!("  @connections:    http://{shown}:{port}/{stage}/@connections/{{connectionId}}");
    say!("  test page:       http://{shown}:{port}/");
    for r in &server.api.routes {
        let f = &server.api.functions[&r.function];
        say!(
            "  route {:<12} -> {} ({}, {}, {} s, {} MB){}",
            r.route.key,
            f.name,
            f.runtime,
            f.architecture,
            f.timeout.as_secs(),
            f.memory_mb,
            if r.route.is_asynchronous() {
                "  [event invocation]"
            } else {
                ""
            }
        );
    }
    for line in server.setup.iter().chain(&server.api.notes) {
        say!("  {line}");
    }
    if cli.watch {
        say!("  watching the functions' code: a change retires their warm processes");
    }
    if server.api.routes.iter().any(|r| r.authorizer.is_some()) {
        for line in access_lines(&access, &format!("http://{shown}:{port}/")) {
            say!("{line}");
        }
    }
    say!(
        "{}   (from the functions' EMF lines)",
        metrics_line(options_metrics, &format!("http://{shown}:{port}/"))
    );
    let outcome = serve_until_stopped(
        server.gateway.clone(),
        listener,
        &mut stop,
        SHUTDOWN_WITHIN,
        shutting_down,
    )
    .await;
    // The functions' processes and DynamoDB Local stop with it.
    drop(server);
    outcome.map_err(still_open)
}
