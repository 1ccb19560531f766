//! Start-up, reading: the template served (SAM's build output in its place when there is
//! one), its parameters (the given ones, then the local ones it declares), and the template
//! reader's model of it with this run's API id.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::StartError;
use super::files::sam_build_output;
use super::options::TemplateOptions;
use crate::template::{self, LocalApi, Pseudo, ReadOptions};
use streamgate_emulator::ids;

/// A template read.
pub(super) struct Read {
    /// Its API.
    pub(super) api: LocalApi,
    /// The pseudo-parameters it was read with.
    pub(super) pseudo: Pseudo,
    /// This run's API id.
    pub(super) api_id: String,
    /// What was done (SAM's build output served), for the banner.
    pub(super) setup: Vec<String>,
}

/// Reads `options.template` (or SAM's build output beside it).
pub(super) fn read(options: &TemplateOptions) -> Result<Read, StartError> {
    let mut setup = Vec::new();
    let template_path = match sam_build_output(&options.template) {
        Some(built) => {
            setup.push(format!(
                "serving SAM's build output {} (run `sam build` again after a change, or remove .aws-sam)",
                built.display()
            ));
            built
        }
        None => options.template.clone(),
    };
    let text = std::fs::read_to_string(&template_path)
        .map_err(|e| StartError::one(format!("cannot read {}: {e}", template_path.display())))?;
    let base_dir = template_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let pseudo = Pseudo::default();
    let api_id = ids::new_api_id();
    let api = template::read(
        &text,
        &ReadOptions {
            parameters: parameters(options, &text),
            pseudo: pseudo.clone(),
            base_dir,
            api_id: api_id.clone(),
        },
    )?;
    Ok(Read {
        api,
        pseudo,
        api_id,
        setup,
    })
}

/// The parameter values: the given ones, and each local one the template `text` declares and
/// the given ones leave unset.
fn parameters(options: &TemplateOptions, text: &str) -> BTreeMap<String, String> {
    let mut parameters = options.parameters.clone();
    if !options.local_parameters.is_empty()
        && let Ok(doc) = template::document::parse(text)
        && let Some(declared) = doc["Parameters"].as_object()
    {
        for (name, value) in &options.local_parameters {
            if declared.contains_key(name) && !parameters.contains_key(name) {
                parameters.insert(name.clone(), value.clone());
            }
        }
    }
    parameters
}
