//! Secrets Manager's `GetSecretValue`, served locally from values given on the command line
//! (`--secret ARN=VALUE`, or a JSON file of them), so a function that reads its key by ARN
//! runs unchanged. Values never appear in logs or errors.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Secrets by ARN.
#[derive(Default)]
pub struct SecretStore {
    secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("ids", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The name part of a secret ARN (`arn:...:secret:NAME-AbCdEf` → `NAME-AbCdEf`).
fn name_of(arn: &str) -> &str {
    arn.split_once(":secret:").map_or(arn, |(_, n)| n)
}

impl SecretStore {
    /// A store of `secrets` (ARN or name → value).
    pub fn new(secrets: BTreeMap<String, String>) -> SecretStore {
        SecretStore { secrets }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secret `id` names: its ARN, its name, or its name without the random suffix.
    fn find(&self, id: &str) -> Option<(&String, &String)> {
        self.secrets.get_key_value(id).or_else(|| {
            self.secrets.iter().find(|(arn, _)| {
                let name = name_of(arn);
                name == id
                    || name
                        .rsplit_once('-')
                        .is_some_and(|(base, suffix)| suffix.len() == 6 && base == id)
            })
        })
    }

    /// Answers one Secrets Manager call (`X-Amz-Target`, JSON body): status and body.
    pub fn answer(&self, target: &str, body: &[u8]) -> (u16, Value) {
        let error = |status: u16, kind: &str, message: &str| {
            (status, json!({"__type": kind, "message": message}))
        };
        if target != "secretsmanager.GetSecretValue" {
            return error(
                400,
                "UnknownOperationException",
                "only GetSecretValue is served locally",
            );
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "InvalidRequestException", "the body is not JSON");
        };
        let Some(id) = request["SecretId"].as_str() else {
            return error(400, "InvalidParameterException", "SecretId is required");
        };
        match self.find(id) {
            Some((arn, value)) => (
                200,
                json!({
                    "ARN": arn,
                    "Name": name_of(arn),
                    "SecretString": value,
                    "VersionId": "00000000-0000-4000-8000-000000000001",
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1_700_000_000.0,
                }),
            ),
            None => error(
                400,
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_arn_name_or_base_name() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-key-AbCdEf";
        let store = SecretStore::new([(arn.to_owned(), "sk-test".to_owned())].into());
        for id in [arn, "llm-key-AbCdEf", "llm-key"] {
            let (status, body) = store.answer(
                "secretsmanager.GetSecretValue",
                json!({"SecretId": id}).to_string().as_bytes(),
            );
            assert_eq!(status, 200, "{id}");
            assert_eq!(body["SecretString"], "sk-test");
        }
        let (status, body) =
            store.answer("secretsmanager.GetSecretValue", br#"{"SecretId": "other"}"#);
        assert_eq!(
            (status, body["__type"].as_str()),
            (400, Some("ResourceNotFoundException"))
        );
        assert!(
            !format!("{store:?}").contains("sk-test"),
            "values stay out of Debug"
        );
        assert_eq!(store.answer("secretsmanager.DeleteSecret", b"{}").0, 400);
    }
}
