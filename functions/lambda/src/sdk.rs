//! The AWS configuration of a Lambda function, built from the variables Lambda sets: the
//! region (`AWS_REGION`), the role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and the endpoint variables any SDK honours
//! (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), which the local hosts use.
//!
//! `aws_config::load_from_env` would also link every other credential source (profiles,
//! SSO, web identity through STS, the container and instance metadata endpoints) and the
//! profile-file parser; a function never uses them, and leaving them out keeps the `message`
//! zip, which also links the Bedrock client, under its 3 MB.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// Settings an SDK client reads per service, from the environment only.
#[derive(Debug)]
struct FromEnvironment;

impl LoadServiceConfig for FromEnvironment {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        // `AWS_ENDPOINT_URL_DYNAMODB` for service id `DynamoDB`, `..._SECRETS_MANAGER` for
        // `Secrets Manager`: the service id upper-cased, spaces as underscores.
        let service = key
            .service_id()
            .to_ascii_uppercase()
            .replace([' ', '-'], "_");
        read(&format!("{}_{service}", key.env())).or_else(|| read(key.env()))
    }
}

/// The function's AWS configuration.
pub fn lambda_sdk_config() -> SdkConfig {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .map(Region::new);
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .service_config(FromEnvironment);
    config.set_region(region);
    config.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_variables_are_read_per_service_then_globally() {
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .env("STREAMGATE_TEST_ENDPOINT")
                .profile("endpoint_url")
                .build()
                .unwrap()
        };
        // SAFETY: this test alone uses these variables.
        unsafe {
            std::env::set_var(
                "STREAMGATE_TEST_ENDPOINT_SECRETS_MANAGER",
                "http://127.0.0.1:1",
            );
            std::env::set_var("STREAMGATE_TEST_ENDPOINT", "http://127.0.0.1:2");
        }
        assert_eq!(
            FromEnvironment
                .load_config(key("Secrets Manager"))
                .as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            FromEnvironment.load_config(key("DynamoDB")).as_deref(),
            Some("http://127.0.0.1:2")
        );
    }
}
