//! The migration function: a CloudFormation custom resource that applies pending migrations when
//! the stack is created or updated, before the new code of the other functions serves traffic
//! (they depend on it in the template). It always answers CloudFormation, success or failure, so a
//! stack never hangs waiting; a failure rolls the deployment back.

use std::collections::HashMap;
use std::time::Duration;

use schema::{self as migrate, MIGRATIONS};
use serde::{Deserialize, Serialize};

/// The same id on every update, so CloudFormation never asks to delete an "old" resource.
pub const PHYSICAL_ID: &str = "database-migrations";

/// The parts of a CloudFormation custom resource request that we use.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    /// `Custom::DatabaseMigrations` or `Custom::JwtKeys`.
    #[serde(default)]
    pub resource_type: String,
    #[serde(default)]
    pub resource_properties: ResourceProperties,
}

/// What `Custom::JwtKeys` is given: the two secrets of the EdDSA key ring.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceProperties {
    #[serde(default)]
    pub private_secret_arn: Option<String>,
    #[serde(default)]
    pub public_secret_arn: Option<String>,
}

/// The same id on every update of the key ring resource.
pub const JWT_KEYS_PHYSICAL_ID: &str = "jwt-keys";

/// `Custom::JwtKeys`: on the first deploy, the EdDSA key ring in its two secrets (generated here,
/// so no private key ever passes through a template, a parameter or a laptop); afterwards nothing
/// (rotation is `scripts/rotate-jwt-keys.sh`). Deleting the stack deletes the secrets with it.
pub async fn handle_jwt_keys(
    request: &CustomResourceRequest,
    client: &aws_sdk_secretsmanager::Client,
) -> CustomResourceResponse {
    let properties = &request.resource_properties;
    let outcome = match (
        request.request_type.as_str(),
        &properties.private_secret_arn,
        &properties.public_secret_arn,
    ) {
        ("Delete", _, _) => Ok("nothing to do".to_owned()),
        ("Create" | "Update", Some(private), Some(public)) => {
            match shared::token::ring::rotate_in_secrets_manager(client, private, public, true)
                .await
            {
                Ok(Some(kid)) => Ok(format!("created the key ring; signing kid {kid}")),
                Ok(None) => Ok("the key ring exists".to_owned()),
                Err(error) => Err(format!("{error:#}")),
            }
        }
        ("Create" | "Update", _, _) => {
            Err("PrivateSecretArn and PublicSecretArn are required".to_owned())
        }
        (other, _, _) => Err(format!("unknown request type {other:?}")),
    };
    let (status, reason) = match outcome {
        Ok(reason) => {
            tracing::info!(%reason, "JWT keys");
            ("SUCCESS", reason)
        }
        Err(reason) => {
            tracing::error!(%reason, "JWT keys failed");
            ("FAILED", truncate(&reason, 3500))
        }
    };
    answer(
        request,
        status,
        reason,
        JWT_KEYS_PHYSICAL_ID,
        HashMap::new(),
    )
}

/// The answer to `request`, keeping its physical id (or giving `default_id` on create).
fn answer(
    request: &CustomResourceRequest,
    status: &str,
    reason: String,
    default_id: &str,
    data: HashMap<String, String>,
) -> CustomResourceResponse {
    CustomResourceResponse {
        status: status.to_owned(),
        reason,
        physical_resource_id: request
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| default_id.to_owned()),
        stack_id: request.stack_id.clone(),
        request_id: request.request_id.clone(),
        logical_resource_id: request.logical_resource_id.clone(),
        data,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    pub status: String,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub data: HashMap<String, String>,
}

/// Where the function's configuration came from: the database URL to migrate, or why there is none.
pub type DatabaseTarget = Result<String, String>;

/// The direct (non-pooler) URL when one is given, else `DATABASE_URL`.
pub fn database_target(vars: &HashMap<String, String>) -> DatabaseTarget {
    ["DATABASE_DIRECT_URL", "DATABASE_URL"]
        .iter()
        .filter_map(|name| vars.get(*name))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "neither DATABASE_DIRECT_URL nor DATABASE_URL is configured".to_owned())
}

/// Does what the request asks and returns the answer for CloudFormation; never fails.
pub async fn handle(
    request: &CustomResourceRequest,
    target: &DatabaseTarget,
    time_limit: Duration,
) -> CustomResourceResponse {
    let outcome: Result<Vec<i64>, String> = match request.request_type.as_str() {
        // Deleting the stack never touches the data.
        "Delete" => Ok(Vec::new()),
        "Create" | "Update" => match target {
            Ok(url) => match tokio::time::timeout(time_limit, apply(url)).await {
                Ok(result) => result.map_err(|error| format!("{error:#}")),
                Err(_) => Err(format!(
                    "migrations did not finish within {} s",
                    time_limit.as_secs()
                )),
            },
            Err(reason) => Err(reason.clone()),
        },
        other => Err(format!("unknown request type {other:?}")),
    };
    let (status, reason, applied) = match outcome {
        Ok(applied) => ("SUCCESS", "ok".to_owned(), applied),
        Err(reason) => {
            tracing::error!(%reason, "migrations failed");
            ("FAILED", truncate(&reason, 3500), Vec::new())
        }
    };
    let applied: Vec<String> = applied.iter().map(|v| format!("{v:04}")).collect();
    answer(
        request,
        status,
        reason,
        PHYSICAL_ID,
        HashMap::from([("Applied".to_owned(), applied.join(","))]),
    )
}

async fn apply(url: &str) -> anyhow::Result<Vec<i64>> {
    let mut client = migrate::connect(url, false).await?;
    let applied = migrate::up(&mut client, MIGRATIONS).await?;
    tracing::info!(count = applied.len(), "migrations applied");
    Ok(applied)
}

/// CloudFormation limits the whole response to 4 KiB.
fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// PUTs the answer to the pre-signed URL CloudFormation gave (no content type: it is part of the
/// signature and CloudFormation signs it empty).
pub async fn respond(url: &str, response: &CustomResourceResponse) -> anyhow::Result<()> {
    let body = serde_json::to_vec(response)?;
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        agent.put(&url).send(&body[..])?;
        Ok(())
    })
    .await??;
    Ok(())
}
