//! `streamgate-deploy`: `package`, `deploy`, `secret` and `destroy` (run by the `just`
//! recipes of the same names).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use streamgate_contract::arch::Architecture;
use streamgate_deploy::preflight::{self, Inputs};
use streamgate_deploy::tools;

#[derive(Parser)]
#[command(about = "Package and deploy the streamgate stacks (the chat API, the voice relay)")]
struct Cli {
    /// The workspace (where generated/template.yaml and target/lambda are).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build every function's bootstrap for provided.al2023.
    Package {
        /// arm64 (the stack's default) or x86_64.
        #[arg(default_value = "arm64")]
        arch: String,
        /// Build even when every bootstrap is newer than the sources.
        #[arg(long)]
        force: bool,
    },
    /// Check, upload and deploy the stack; print its URLs.
    Deploy {
        /// The stack's name.
        stack: String,
        /// Parameter overrides, `Key=Value` (e.g. LlmProvider=openai).
        overrides: Vec<String>,
        /// The artifacts bucket (default: streamgate-artifacts-ACCOUNT-REGION, created).
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Store an LLM API key (read from standard input) in Secrets Manager; print its ARN.
    Secret {
        /// The secret's name.
        name: String,
    },
    /// Build the voice relay's OCI image (static linux/arm64 binary, non-root, no shell) into
    /// target/image/oci, without Docker.
    Image {
        /// Use this binary instead of building one (e.g. an x86_64 build for local runs).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// The tag in the layout's index.
        #[arg(long, default_value = "latest")]
        tag: String,
    },
    /// Deploy the voice relay (generated/relay.yaml): the stack, then the image pushed to its
    /// repository, then the service on that image; wait until stable; print the URLs.
    DeployRelay {
        /// The stack's name.
        stack: String,
        /// Parameter overrides, `Key=Value` (OpenAiKeySecretArn=... the first time).
        overrides: Vec<String>,
    },
    /// Delete the stack.
    Destroy {
        /// The stack's name.
        stack: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(lines) => {
            for l in lines {
                eprintln!("error: {l}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Vec<String>> {
    let ws = cli.workspace;
    let one = |e: tools::ToolError| vec![e.to_string()];
    match cli.command {
        Cmd::Package { arch, force } => {
            let arch = Architecture::parse(&arch)
                .ok_or_else(|| vec![format!("{arch:?}: the architecture is arm64 or x86_64")])?;
            tools::chat::package(&ws, arch, force).map_err(one)
        }
        Cmd::Deploy {
            stack,
            overrides,
            bucket,
        } => {
            let template = tools::chat::template(&ws).map_err(one)?;
            let inputs = Inputs {
                cli: tools::cli_config().map_err(one)?,
                parameters: preflight::parameters(&template),
                overrides,
                artifacts: tools::chat::artifacts(&ws),
                newest_source: tools::chat::newest_source(&ws),
            };
            let refusals = preflight::check(&inputs);
            if !refusals.is_empty() {
                let mut lines: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
                lines.push("nothing was uploaded".into());
                return Err(lines);
            }
            let values = preflight::overrides(&inputs.overrides, &inputs.parameters)
                .map_err(|r| r.iter().map(|r| r.to_string()).collect::<Vec<_>>())?;
            let region = inputs.cli.region.clone().unwrap_or_default();
            let bucket = tools::chat::artifacts_bucket(bucket.as_deref(), &region).map_err(one)?;
            println!("uploading the artifacts to s3://{bucket}/{stack}/");
            let packaged = tools::chat::upload(&ws, &stack, &bucket).map_err(one)?;
            println!("deploying {stack} in {region}");
            tools::deploy(&packaged, &stack, &values).map_err(one)?;
            for (k, v) in tools::outputs(&stack).map_err(one)? {
                println!("{k:<22} {v}");
            }
            Ok(())
        }
        Cmd::Secret { name } => {
            let mut key = String::new();
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("paste the API key, then press Enter:");
            }
            std::io::stdin()
                .read_line(&mut key)
                .map_err(|e| vec![format!("cannot read the key: {e}")])?;
            let key = key.trim();
            if key.is_empty() {
                return Err(vec![
                    "no key given: pipe it in, e.g. `just secret NAME < key.txt`".into(),
                ]);
            }
            let arn = tools::store_secret(&ws, &name, key).map_err(one)?;
            println!("{arn}");
            eprintln!("deploy with: just deploy STACK LlmProvider=openai LlmApiKeySecretArn={arn}");
            Ok(())
        }
        Cmd::DeployRelay { stack, overrides } => deploy_relay(&ws, &stack, overrides),
        Cmd::Image { binary, tag } => tools::relay::image(&ws, binary, &tag)
            .map(|_| ())
            .map_err(one),
        Cmd::Destroy { stack } => {
            tools::destroy(&stack).map_err(one)?;
            println!(
                "{stack} is deleted with everything it created (a chat stack's connections table, functions and log groups; a relay stack's service, load balancer, distribution, network and image repository, emptied). The artifacts bucket and the API key's secret are kept."
            );
            Ok(())
        }
    }
}

/// `deploy-relay`: checks everything first; then deploys the stack (a first deploy creates the
/// repository and no service), pushes the image, deploys again with its digest (the service
/// starts on it), waits until the service is stable and prints the URLs.
fn deploy_relay(
    ws: &std::path::Path,
    stack: &str,
    overrides: Vec<String>,
) -> Result<(), Vec<String>> {
    let one = |e: tools::ToolError| vec![e.to_string()];
    let template = tools::relay::relay_template(ws).map_err(one)?;
    let cli = tools::cli_config().map_err(one)?;
    let deployed_secret = if cli.credentials.is_some() && cli.region.is_some() {
        tools::relay::deployed_parameter(stack, "OpenAiKeySecretArn")
    } else {
        None
    };
    let image = tools::relay::built_image(ws);
    let inputs = preflight::RelayInputs {
        cli,
        parameters: preflight::parameters(&template),
        overrides,
        deployed_secret,
        image_architecture: image.as_ref().map(|(arch, _)| arch.clone()),
        skopeo: tools::relay::skopeo_present(),
    };
    let refusals = preflight::check_relay(&inputs);
    if !refusals.is_empty() {
        let mut lines: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
        lines.push("nothing was uploaded".into());
        return Err(lines);
    }
    let (_, digest) = image.expect("checked");
    let mut values = preflight::overrides(&inputs.overrides, &inputs.parameters)
        .map_err(|r| r.iter().map(|r| r.to_string()).collect::<Vec<_>>())?;
    let region = inputs.cli.region.clone().unwrap_or_default();
    let template_path = ws.join("generated/relay.yaml");
    println!("deploying {stack} in {region}: repository, network, load balancer, CloudFront");
    tools::deploy(&template_path, stack, &values).map_err(one)?;
    let outputs = tools::outputs(stack).map_err(one)?;
    let repository = outputs
        .get("RepositoryUri")
        .ok_or_else(|| vec![format!("{stack} has no RepositoryUri output")])?;
    tools::relay::push_image(ws, repository, &digest, &region).map_err(one)?;
    values.insert("ImageDigest".into(), digest.clone());
    println!("deploying the service on {digest}");
    tools::deploy(&template_path, stack, &values).map_err(one)?;
    let outputs = tools::outputs(stack).map_err(one)?;
    if let Some(cluster) = outputs.get("ClusterName") {
        tools::relay::wait_for_service(stack, cluster, &region).map_err(one)?;
    }
    for (k, v) in outputs {
        println!("{k:<16} {v}");
    }
    Ok(())
}
