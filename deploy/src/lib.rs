//! Packaging and deploying both stacks: the chat API (Lambda functions from `just package`)
//! and the voice relay (an OCI image on ECS Fargate).
//!
//! * [`artifact`]: what a packaged `bootstrap` is (ELF machine, glibc needs), and the
//!   architectures the stack runs.
//! * [`preflight`]: every check made before anything is uploaded, as pure decisions; each
//!   refusal names its fix (`preflight::chat`, `preflight::relay`).
//! * [`image`]: the voice relay's OCI image, built from bytes (no Docker daemon, no base image).
//! * [`tools`]: the I/O: cargo-lambda, the AWS CLI, skopeo, the files on disk (`tools::chat`,
//!   `tools::relay`).
//!
//! `just package`, `just deploy`, `just secret`, `just image`, `just deploy-relay` and `just
//! destroy` run the `streamgate-deploy` binary.

pub mod artifact;
pub mod image;
pub mod preflight;
pub mod tools;

use std::path::{Path, PathBuf};

use streamgate_contract::Function;

/// Where `just package` puts a function's `bootstrap`, relative to the workspace (the
/// template's `Code` paths point at its folder).
pub fn bootstrap_path(workspace: &Path, function: Function) -> PathBuf {
    workspace
        .join("target/lambda")
        .join(function.spec().binary)
        .join("bootstrap")
}

/// The cargo profile of the Lambda artifacts (`Cargo.toml`, `[profile.lambda-release]`).
pub const PROFILE: &str = "lambda-release";

/// The size of the zip `aws cloudformation package` makes of a folder holding only this
/// `bootstrap` (deflated, executable).
pub fn zipped_size(bootstrap: &[u8]) -> std::io::Result<u64> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        // zlib's default level, which the AWS CLI's zips use.
        .compression_level(Some(6))
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(bootstrap)?;
    zip.finish()?;
    Ok(out.into_inner().len() as u64)
}
