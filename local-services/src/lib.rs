//! The AWS services functions call, on this machine: DynamoDB (DynamoDB Local, on loopback) and
//! the values behind Secrets Manager's `GetSecretValue` (the emulator serves them on its own
//! port). Functions reach them through the SDKs' standard endpoint variables, as they would
//! reach any endpoint. Also the [`reaper`], so every process started here dies with the server,
//! and the [`sandbox`], so what a function starts dies with it even when it leaves its group.

pub mod dynamodb_local;
pub mod reaper;
pub mod sandbox;
pub mod secrets;

pub use dynamodb_local::DynamoDbLocal;
pub use secrets::SecretStore;

/// A scratch folder, removed with what is in it when dropped (also when the work that made it
/// is abandoned half-way, as when a stop comes during start-up).
pub struct ScratchDir(pub std::path::PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An AWS SDK configuration for endpoints on this machine (DynamoDB Local, this server's own
/// `@connections`): fixed credentials that name no account, a region, the latest behaviour
/// version. The one place the server and the tests build such a configuration.
pub fn loopback_sdk_config(
    access_key: &str,
    secret_key: &str,
    region: &str,
) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        access_key,
        secret_key,
        None,
        None,
        "streamgate-local",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}
