//! Start-up, the functions' code: cargo-lambda functions built, `--watch`'s private copies
//! made, the managed runtimes prepared, every function's code located and checked
//! ([`artifact::locate`]) and every secret the parameters name given. The problems of the
//! last two are reported together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::StartError;
use super::files::mirror_bootstraps;
use super::options::TemplateOptions;
use crate::runtime::artifact::{self, Launch};
use crate::runtime::cargo_lambda::{self, RustCrate};
use crate::runtime::managed;
use crate::template::LocalApi;

/// Where the API is served, which the managed runtimes' loops are told.
pub(super) struct Site<'a> {
    /// This run's API id.
    pub(super) api_id: &'a str,
    /// The region.
    pub(super) region: &'a str,
    /// The port.
    pub(super) port: u16,
}

/// Every function's code, ready to start.
pub(super) struct Code {
    /// How to start each function, by logical id.
    pub(super) launches: BTreeMap<String, Launch>,
    /// The cargo-lambda crates (for `--watch`).
    pub(super) crates: Vec<RustCrate>,
    /// Functions run from a private copy: their own folder, by logical id (for `--watch`).
    pub(super) mirrors: BTreeMap<String, PathBuf>,
    /// What is worth knowing (a runtime version other than the declared one).
    pub(super) notes: Vec<String>,
}

/// Prepares the code of `api`'s functions (pointing cargo-lambda functions and watched ones
/// at what they run); zips and inline code go under `unpacked`.
pub(super) async fn prepare(
    api: &mut LocalApi,
    options: &TemplateOptions,
    unpacked: &Path,
    site: &Site<'_>,
) -> Result<Code, StartError> {
    let progress = options.progress.clone();
    let crates =
        cargo_lambda::prepare(&mut api.functions, &move |line: &str| progress(line)).await?;
    let mirrors = if options.watch && options.artifacts.is_none() {
        mirror_bootstraps(&mut api.functions, unpacked)?
    } else {
        BTreeMap::new()
    };
    let progress = options.progress.clone();
    let (toolchains, notes) = managed::prepare_all(
        api.functions.values(),
        &options.cache_dir,
        &move |line: &str| progress(line),
    )
    .await?;
    let environment = managed::local_api_environment(site.api_id, site.region, site.port);
    let managed = artifact::Managed {
        toolchains: &toolchains,
        cache: &options.cache_dir,
        environment: &environment,
    };
    let mut problems = Vec::new();
    let mut launches = BTreeMap::new();
    for (id, f) in &api.functions {
        match artifact::locate(f, options.artifacts.as_deref(), unpacked, &managed) {
            Ok(launch) => {
                launches.insert(id.clone(), launch);
            }
            Err(e) => problems.push(e),
        }
    }
    problems.extend(missing_secrets(api, options));
    if !problems.is_empty() {
        return Err(problems.into());
    }
    Ok(Code {
        launches,
        crates,
        mirrors,
        notes,
    })
}

/// A problem for each secret a parameter names and the options do not give.
fn missing_secrets(api: &LocalApi, options: &TemplateOptions) -> Vec<String> {
    api.secret_arns
        .iter()
        .filter(|arn| !options.secrets.contains_key(*arn))
        .map(|arn| {
            format!(
                "a parameter names the secret {arn}: give its value with --secret {arn}=VALUE (or --secrets-file)"
            )
        })
        .collect()
}
