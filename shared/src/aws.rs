//! AWS access, only when configuration asks for it: the SDK is loaded once per cold start, and only
//! if a `*_SECRET_ARN` variable is set or SES is configured, so a function that needs neither pays
//! nothing for it.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Variables that may be given as a Secrets Manager secret instead of a value: `<NAME>_ARN`-style
/// variable → the variable it fills.
pub const SECRET_SOURCES: &[(&str, &str)] = &[
    ("DATABASE_URL_SECRET_ARN", "DATABASE_URL"),
    ("DATABASE_DIRECT_URL_SECRET_ARN", "DATABASE_DIRECT_URL"),
    ("JWT_SECRET_ARN", "JWT_SECRET"),
    ("BETTER_AUTH_SECRET_ARN", "BETTER_AUTH_SECRET"),
    // A JWKS document as configuration, for a tasks function without egress to Better Auth.
    ("BETTER_AUTH_JWKS_SECRET_ARN", "BETTER_AUTH_JWKS"),
];

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`), with an
/// HTTPS client on rustls + ring.
pub async fn sdk_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}

/// True when `vars` name at least one secret to fetch.
pub fn wants_secrets(vars: &HashMap<String, String>) -> bool {
    SECRET_SOURCES
        .iter()
        .any(|(arn_var, _)| vars.get(*arn_var).is_some_and(|v| !v.trim().is_empty()))
}

/// Fills each variable of [`SECRET_SOURCES`] whose `*_ARN` is set with the secret's value. A value
/// given directly in the environment wins (handy for overrides). The secret may be a plain string,
/// or JSON with a field named like the variable (`{"DATABASE_URL": "..."}`) or with a single field.
pub async fn resolve_secrets(
    vars: &mut HashMap<String, String>,
    client: &aws_sdk_secretsmanager::Client,
) -> anyhow::Result<()> {
    for (arn_var, target) in SECRET_SOURCES {
        let Some(arn) = vars
            .get(*arn_var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        if vars.get(*target).is_some_and(|v| !v.trim().is_empty()) {
            continue;
        }
        let value = fetch_secret(client, &arn)
            .await
            .with_context(|| format!("reading {target} from the secret in {arn_var}"))?;
        vars.insert((*target).to_owned(), secret_field(&value, target)?);
    }
    Ok(())
}

async fn fetch_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> anyhow::Result<String> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| match &error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("unknown error");
                let hint = match code {
                    "AccessDeniedException" => {
                        " (the function's role may not read this secret: check its IAM policy)"
                    }
                    "ResourceNotFoundException" => " (no such secret in this account and region)",
                    "DecryptionFailure" => {
                        " (the function's role may not use the secret's KMS key)"
                    }
                    _ => "",
                };
                anyhow!("Secrets Manager refused: {code}{hint}")
            }
            other => anyhow!("Secrets Manager could not be reached: {other}"),
        })?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the secret holds binary data; store the value as a string"))
}

/// The value for `target` in a secret string: the string itself, or a field of a JSON object.
pub fn secret_field(secret: &str, target: &str) -> anyhow::Result<String> {
    let trimmed = secret.trim();
    if !trimmed.starts_with('{') {
        return Ok(trimmed.to_owned());
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(trimmed).context("the secret looks like JSON but does not parse")?;
    if let Some(value) = object.get(target).and_then(|v| v.as_str()) {
        return Ok(value.to_owned());
    }
    let strings: Vec<&str> = object.values().filter_map(|v| v.as_str()).collect();
    match strings.as_slice() {
        [only] => Ok((*only).to_owned()),
        _ => bail!("the JSON secret has no \"{target}\" field (and more than one string field)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_secrets() {
        assert_eq!(
            secret_field("  postgres://x  ", "DATABASE_URL").unwrap(),
            "postgres://x"
        );
        assert_eq!(
            secret_field(
                r#"{"DATABASE_URL":"postgres://y","other":"z"}"#,
                "DATABASE_URL"
            )
            .unwrap(),
            "postgres://y"
        );
        assert_eq!(
            secret_field(r#"{"password":"s3cret"}"#, "JWT_SECRET").unwrap(),
            "s3cret"
        );
        assert!(secret_field(r#"{"a":"1","b":"2"}"#, "JWT_SECRET").is_err());
        assert!(secret_field(r#"{"a":"#, "JWT_SECRET").is_err());
    }

    #[test]
    fn secrets_are_wanted_only_when_an_arn_is_set() {
        let mut vars = HashMap::new();
        assert!(!wants_secrets(&vars));
        vars.insert("JWT_SECRET_ARN".to_owned(), " ".to_owned());
        assert!(!wants_secrets(&vars));
        vars.insert(
            "JWT_SECRET_ARN".to_owned(),
            "arn:aws:secretsmanager:...".to_owned(),
        );
        assert!(wants_secrets(&vars));
    }
}
