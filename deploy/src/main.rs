//! `streamgate-deploy`: `package`, `deploy`, `secret` and `destroy` (run by the `just`
//! recipes of the same names).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use streamgate_deploy::artifact::Arch;
use streamgate_deploy::preflight::{self, Inputs};
use streamgate_deploy::tools;

#[derive(Parser)]
#[command(about = "Package and deploy the streamgate chat stack")]
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
        Cmd::Package { arch } => {
            let arch = Arch::parse(&arch)
                .ok_or_else(|| vec![format!("{arch:?}: the architecture is arm64 or x86_64")])?;
            tools::package(&ws, arch).map_err(one)
        }
        Cmd::Deploy {
            stack,
            overrides,
            bucket,
        } => {
            let template = tools::template(&ws).map_err(one)?;
            let inputs = Inputs {
                cli: tools::cli_config().map_err(one)?,
                parameters: preflight::parameters(&template),
                overrides,
                artifacts: tools::artifacts(&ws),
                newest_source: tools::newest_source(&ws),
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
            let bucket = tools::artifacts_bucket(bucket.as_deref(), &region).map_err(one)?;
            println!("uploading the artifacts to s3://{bucket}/{stack}/");
            let packaged = tools::upload(&ws, &stack, &bucket).map_err(one)?;
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
        Cmd::Destroy { stack } => {
            tools::destroy(&stack).map_err(one)?;
            println!(
                "{stack} is deleted, with its connections table (connection records are transient; its DeletionPolicy is Delete), functions and log groups. The artifacts bucket and the API key's secret are kept."
            );
            Ok(())
        }
    }
}
