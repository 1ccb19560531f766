//! `--template`: a CloudFormation template's WebSocket API, its functions' bootstraps run under
//! the embedded Lambda Runtime API, its tables in DynamoDB Local, its secrets served locally.

use std::time::Duration;

use streamgate_emulator::access::Access;
use streamgate_emulator::process::{StopSignal, serve_until};
use streamgate_template_host::host::{TemplateHost, TemplateOptions};

use super::{
    LocalArgs, SHUTDOWN_WITHIN, access, access_lines, dev_token, gateway_config, listen, listening,
    metrics, metrics_line, outcome_of, run_command, shown_host, shutting_down,
};

/// The parameters of a streamgate stack that name who may connect; the template host fills
/// them from `--auth` when the template declares them and `--parameter` does not set them.
const AUTH_PARAMETERS: [&str; 2] = ["AuthIssuer", "AuthAudience"];

/// A template's WebSocket API, its functions' bootstraps under the Lambda Runtime API.
pub(super) async fn run(
    cli: LocalArgs,
    mut options: TemplateOptions,
) -> Result<Option<u8>, String> {
    let template = options.template.clone();
    options.dynamodb_endpoint = cli.dynamodb_endpoint.clone();
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
    let watch = options.watch;
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
            return match cli.run {
                Some(_) => Err("stopped before the --run command started".to_owned()),
                None => Ok(None),
            };
        }
    };
    let (port, stage) = (cli.serve.port, &server.api.stage);
    let shown = shown_host(&cli.serve.host);
    say!(
        "streamgate {}: {} from {} (API Gateway WebSocket emulation, functions under a local Lambda Runtime API)",
        env!("CARGO_PKG_VERSION"),
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
    if watch {
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
    let beside = run_command::environment(run_command::Reach {
        listening: listening(&listener)?,
        stage,
        token: dev_token(&access),
        extra: server.client_environment.clone(),
    });
    let (ended, outcome) = serve_until(
        server.gateway.clone(),
        listener,
        run_command::until_stopped_or_done(cli.run.as_deref(), beside, &mut stop),
        SHUTDOWN_WITHIN,
        shutting_down,
    )
    .await;
    // The functions' processes and DynamoDB Local stop with it, and what the functions printed
    // last is read before standard output's queue is flushed.
    drop(server);
    streamgate_template_host::runtime::output::all_read(Duration::from_secs(2)).await;
    outcome_of(ended, outcome)
}
