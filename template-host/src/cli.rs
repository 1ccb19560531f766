//! The template host's command-line flags (`streamgate-server --template` and what goes with
//! it): one group, flattened into the server, and [`TemplateArgs::options`], which turns them
//! into the part of [`TemplateOptions`] they decide (the template, its code, parameters and
//! secrets, the functions' processes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::host::TemplateOptions;

/// `--max-concurrency`'s default (that of [`TemplateOptions::new`]).
pub const DEFAULT_MAX_CONCURRENCY: usize = 32;
/// `--idle-process-timeout-s`'s default (that of [`TemplateOptions::new`]).
pub const DEFAULT_IDLE_PROCESS_TIMEOUT_S: u64 = 600;

/// The template host's flags.
#[derive(Args, Debug, Clone)]
pub struct TemplateArgs {
    /// Serve this template's WebSocket API (CloudFormation, SAM or CDK's `cdk.out/*.template.json`;
    /// YAML or JSON) by running each function (a `provided.*` bootstrap, or Node.js or Python
    /// on this machine's `node`/`python3`) under a local Lambda Runtime API, instead of the
    /// built-in chat API.
    #[arg(long, env = "STREAMGATE_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// With --template: a folder of packaged functions (one folder or zip per function, named
    /// as the template's Code folder, or by logical id for a packaged template).
    #[arg(long, requires = "template")]
    pub artifacts: Option<PathBuf>,
    /// With --template: a parameter value (repeatable); others take their defaults.
    #[arg(long = "parameter", value_name = "NAME=VALUE", requires = "template")]
    pub parameters: Vec<String>,
    /// With --template: a secret the functions may read from Secrets Manager (repeatable).
    /// Its value shows in the process list: prefer --secret-from-env or --secrets-file.
    #[arg(long = "secret", value_name = "ARN=VALUE", requires = "template")]
    pub secrets: Vec<String>,
    /// With --template: a secret whose value is in this server's environment variable VAR
    /// (repeatable; the value never appears on the command line).
    #[arg(
        long = "secret-from-env",
        value_name = "ARN=VAR",
        requires = "template"
    )]
    pub secrets_from_env: Vec<String>,
    /// With --template: a JSON file of secrets (`{"ARN": "VALUE", ...}`).
    #[arg(long, requires = "template")]
    pub secrets_file: Option<PathBuf>,
    /// With --template: the folder holding DynamoDBLocal.jar (default: searched under
    /// the working directory's node_modules).
    #[arg(long, requires = "template")]
    pub dynamodb_local_dir: Option<PathBuf>,
    /// With --template: processes per function at most.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENCY, requires = "template")]
    pub max_concurrency: usize,
    /// With --template: idle function processes are stopped after this many seconds.
    #[arg(long, default_value_t = DEFAULT_IDLE_PROCESS_TIMEOUT_S, requires = "template")]
    pub idle_process_timeout_s: u64,
    /// With --template: when a function's code folder changes (a handler edited, a bootstrap
    /// rebuilt), retire its warm processes so the next event runs the new code.
    #[arg(long, requires = "template")]
    pub watch: bool,
}

/// Why the template flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateArgsError {
    /// A `--parameter`, `--secret` or `--secret-from-env` value without `=`.
    #[error("--{flag} takes NAME=VALUE")]
    NotAPair {
        /// The flag, without its dashes.
        flag: &'static str,
    },
    /// The `--secrets-file` cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    SecretsFileUnreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The `--secrets-file` is not a JSON object of strings.
    #[error("{} is not a JSON object of secret ids to string values", path.display())]
    SecretsFileNotAnObject {
        /// The file.
        path: PathBuf,
    },
    /// A `--secret-from-env` variable is not set.
    #[error("--secret-from-env {arn}={var}: the variable {var} is not set (or not UTF-8)")]
    SecretVariableUnset {
        /// The secret.
        arn: String,
        /// The variable.
        var: String,
    },
}

/// `NAME=VALUE` pairs given to `--{flag}`.
fn pairs(
    values: &[String],
    flag: &'static str,
) -> Result<BTreeMap<String, String>, TemplateArgsError> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or(TemplateArgsError::NotAPair { flag })
        })
        .collect()
}

impl TemplateArgs {
    /// The options these flags ask for (none without `--template`): the template, its
    /// artifacts, parameters and secrets (`--secrets-file`, then `--secret-from-env`, then
    /// `--secret`, a later one winning), where DynamoDB Local is, and the functions'
    /// processes. The rest keeps [`TemplateOptions::new`]'s defaults for the caller to set.
    pub fn options(&self) -> Result<Option<TemplateOptions>, TemplateArgsError> {
        let Some(template) = &self.template else {
            return Ok(None);
        };
        let secrets = self.secrets()?;
        let mut options = TemplateOptions::new(template);
        options.artifacts = self.artifacts.clone();
        options.parameters = pairs(&self.parameters, "parameter")?;
        options.secrets = secrets;
        options.dynamodb_local_dir = self.dynamodb_local_dir.clone();
        options.max_concurrency = self.max_concurrency;
        options.idle_process_timeout = Duration::from_secs(self.idle_process_timeout_s);
        options.watch = self.watch;
        Ok(Some(options))
    }

    /// The secrets of `--secrets-file`, `--secret-from-env` and `--secret`, in that order.
    fn secrets(&self) -> Result<BTreeMap<String, String>, TemplateArgsError> {
        let mut secrets = BTreeMap::new();
        if let Some(file) = &self.secrets_file {
            let text = std::fs::read_to_string(file).map_err(|source| {
                TemplateArgsError::SecretsFileUnreadable {
                    path: file.clone(),
                    source,
                }
            })?;
            let map: BTreeMap<String, String> = serde_json::from_str(&text)
                .map_err(|_| TemplateArgsError::SecretsFileNotAnObject { path: file.clone() })?;
            secrets.extend(map);
        }
        for (arn, var) in pairs(&self.secrets_from_env, "secret-from-env")? {
            let value =
                std::env::var(&var).map_err(|_| TemplateArgsError::SecretVariableUnset {
                    arn: arn.clone(),
                    var: var.clone(),
                })?;
            secrets.insert(arn, value);
        }
        if !self.secrets.is_empty() {
            tracing::warn!(
                "--secret puts a value on the command line, where other users of this machine can read it (ps): prefer --secret-from-env ARN=VAR or --secrets-file FILE"
            );
        }
        secrets.extend(pairs(&self.secrets, "secret")?);
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser, Debug)]
    struct Server {
        #[command(flatten)]
        template: TemplateArgs,
    }

    fn parse(args: &[&str]) -> Result<TemplateArgs, clap::Error> {
        let mut matches = Server::command()
            .try_get_matches_from(std::iter::once("server").chain(args.iter().copied()))?;
        Ok(Server::from_arg_matches_mut(&mut matches)?.template)
    }

    #[test]
    fn the_flags_are_well_formed() {
        Server::command().debug_assert();
    }

    #[test]
    fn the_defaults_are_the_options_own() {
        let args = parse(&["--template", "t.yaml"]).expect("parses");
        let options = args.options().expect("good flags").expect("a template");
        let plain = TemplateOptions::new("t.yaml");
        assert_eq!(options.template, plain.template);
        assert_eq!(options.max_concurrency, plain.max_concurrency);
        assert_eq!(options.idle_process_timeout, plain.idle_process_timeout);
        assert_eq!(options.watch, plain.watch);
        assert!(options.parameters.is_empty() && options.secrets.is_empty());
    }

    #[test]
    fn without_a_template_there_are_no_options_and_its_flags_are_refused() {
        let args = parse(&[]).expect("parses");
        assert!(args.options().expect("good flags").is_none());
        assert!(parse(&["--watch"]).is_err(), "--watch requires --template");
    }

    #[test]
    fn parameters_and_secrets_are_pairs() {
        let args = parse(&[
            "--template",
            "t.yaml",
            "--parameter",
            " Stage =prod=1",
            "--secret",
            "arn:a=one",
            "--max-concurrency",
            "2",
            "--idle-process-timeout-s",
            "7",
            "--watch",
        ])
        .expect("parses");
        let options = args.options().expect("good flags").expect("a template");
        assert_eq!(options.parameters["Stage"], "prod=1");
        assert_eq!(options.secrets["arn:a"], "one");
        assert_eq!(options.max_concurrency, 2);
        assert_eq!(options.idle_process_timeout, Duration::from_secs(7));
        assert!(options.watch);
        let bad = parse(&["--template", "t.yaml", "--parameter", "Stage"]).expect("parses");
        let error = bad.options().err().expect("not a pair");
        assert_eq!(error.to_string(), "--parameter takes NAME=VALUE");
    }

    #[test]
    fn a_missing_secrets_file_is_named() {
        let args = parse(&[
            "--template",
            "t.yaml",
            "--secrets-file",
            "no-such-folder/secrets.json",
        ])
        .expect("parses");
        let error = args.options().err().expect("no such file");
        assert!(
            error
                .to_string()
                .starts_with("cannot read no-such-folder/secrets.json: "),
            "{error}"
        );
    }
}
