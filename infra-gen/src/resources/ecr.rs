//! `AWS::ECR::Repository`: scanned on push, immutable tags, emptied when the stack goes.

use serde::Serialize;

use crate::template::Resource;

/// Scanning.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageScanning {
    /// Always true.
    pub scan_on_push: bool,
}

/// A lifecycle policy (its rules as JSON text, as ECR takes them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecyclePolicy {
    /// The rules.
    pub lifecycle_policy_text: String,
}

/// `AWS::ECR::Repository`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Repository {
    /// Scan each pushed image.
    pub image_scanning_configuration: ImageScanning,
    /// `IMMUTABLE`: a tag always names the same image.
    pub image_tag_mutability: &'static str,
    /// Delete the images with the stack.
    pub empty_on_delete: bool,
    /// Old images expire.
    pub lifecycle_policy: LifecyclePolicy,
}

impl Repository {
    /// A repository keeping the last `keep` images.
    pub fn keeping(keep: u32) -> Repository {
        let rules = serde_json::json!({"rules": [{
            "rulePriority": 1,
            "description": format!("Keep the last {keep} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
            "action": {"type": "expire"}
        }]});
        Repository {
            image_scanning_configuration: ImageScanning { scan_on_push: true },
            image_tag_mutability: "IMMUTABLE",
            empty_on_delete: true,
            lifecycle_policy: LifecyclePolicy {
                lifecycle_policy_text: rules.to_string(),
            },
        }
    }
}

attributes!(RepositoryAttr { Arn => "Arn", RepositoryUri => "RepositoryUri" });

impl Resource for Repository {
    const TYPE: &'static str = "AWS::ECR::Repository";
    type Attr = RepositoryAttr;
}
