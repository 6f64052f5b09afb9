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
    ("JWT_PREVIOUS_SECRET_ARN", "JWT_PREVIOUS_SECRET"),
    // EdDSA: the private key (the auth function only) and the public keys (every verifier).
    ("JWT_SIGNING_KEY_ARN", "JWT_SIGNING_KEY"),
    ("JWT_PUBLIC_KEYS_ARN", "JWT_PUBLIC_KEYS"),
    ("BETTER_AUTH_SECRET_ARN", "BETTER_AUTH_SECRET"),
    ("SECOND_FACTOR_KEY_ARN", "SECOND_FACTOR_KEY"),
    // A JWKS document as configuration, for a tasks function without egress to Better Auth.
    ("BETTER_AUTH_JWKS_SECRET_ARN", "BETTER_AUTH_JWKS"),
];

/// Whether this process runs inside AWS Lambda: `AWS_EXECUTION_ENV` is set there, and neither by
/// `cargo lambda watch` nor by the tests. The one test for "is this AWS", which decides what a
/// log looks like and how much a misconfiguration's answer may say.
pub fn running_in_aws() -> bool {
    std::env::var_os("AWS_EXECUTION_ENV").is_some()
}

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

/// The sources whose names depend on the configuration: each identity provider's client secret
/// (`OIDC_<NAME>_CLIENT_SECRET_ARN` → `OIDC_<NAME>_CLIENT_SECRET`, functions/auth/src/oidc).
fn dynamic_sources(vars: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut sources: Vec<(String, String)> = vars
        .keys()
        .filter_map(|name| {
            let provider = name
                .strip_prefix("OIDC_")?
                .strip_suffix("_CLIENT_SECRET_ARN")?;
            let valid = !provider.is_empty()
                && provider
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            valid.then(|| (name.clone(), format!("OIDC_{provider}_CLIENT_SECRET")))
        })
        .collect();
    sources.sort();
    sources
}

/// Every `(ARN variable, target variable)` pair: the fixed [`SECRET_SOURCES`] and the dynamic ones.
fn all_sources(vars: &HashMap<String, String>) -> Vec<(String, String)> {
    SECRET_SOURCES
        .iter()
        .map(|(arn_var, target)| ((*arn_var).to_owned(), (*target).to_owned()))
        .chain(dynamic_sources(vars))
        .collect()
}

/// True when `vars` name at least one secret to fetch.
pub fn wants_secrets(vars: &HashMap<String, String>) -> bool {
    all_sources(vars)
        .iter()
        .any(|(arn_var, _)| vars.get(arn_var).is_some_and(|v| !v.trim().is_empty()))
}

/// Fills each variable of [`SECRET_SOURCES`] whose `*_ARN` is set with the secret's value. A value
/// given directly in the environment wins (handy for overrides). The secret may be a plain string,
/// or JSON with a field named like the variable (`{"DATABASE_URL": "..."}`) or with a single field.
///
/// Every secret comes in one `BatchGetSecretValue` call, one round trip at cold start however
/// many secrets the function reads (two or three one after another cost two or three).
pub async fn resolve_secrets(
    vars: &mut HashMap<String, String>,
    client: &aws_sdk_secretsmanager::Client,
) -> anyhow::Result<()> {
    let wanted = wanted_secrets(vars);
    if wanted.is_empty() {
        return Ok(());
    }
    let values = if vars.get("SECRETS_ONE_BY_ONE").is_some_and(|v| v == "1") {
        // Only for the cold-start benchmark's "before" figure (scripts/coldstart.py): what the
        // functions did until the batch call.
        fetch_one_by_one(client, &wanted).await?
    } else {
        fetch_batch(client, &wanted).await?
    };
    for ((arn_var, target, _), value) in wanted.iter().zip(values) {
        let value = secret_field(&value, target)
            .with_context(|| format!("reading {target} from the secret in {arn_var}"))?;
        vars.insert(target.clone(), value);
    }
    Ok(())
}

/// `(ARN variable, target variable, ARN)` of each secret to read: those whose target is not
/// already set.
fn wanted_secrets(vars: &HashMap<String, String>) -> Vec<(String, String, String)> {
    all_sources(vars)
        .into_iter()
        .filter_map(|(arn_var, target)| {
            let arn = vars
                .get(&arn_var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())?;
            let set = vars.get(&target).is_some_and(|v| !v.trim().is_empty());
            (!set).then_some((arn_var, target, arn))
        })
        .collect()
}

/// One `BatchGetSecretValue` for every wanted secret (at most 20, the call's limit; we have
/// fewer than 10), answers matched to the request by ARN or name.
async fn fetch_batch(
    client: &aws_sdk_secretsmanager::Client,
    wanted: &[(String, String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut request = client.batch_get_secret_value();
    for (_, _, arn) in wanted {
        request = request.secret_id_list(arn);
    }
    let output = request.send().await.map_err(|error| {
        let targets: Vec<&str> = wanted
            .iter()
            .map(|(_, target, _)| target.as_str())
            .collect();
        let arn_vars: Vec<&str> = wanted
            .iter()
            .map(|(arn_var, _, _)| arn_var.as_str())
            .collect();
        refused(&error).context(format!(
            "reading {} from the secret in {}",
            targets.join(", "),
            arn_vars.join(", ")
        ))
    })?;
    let entries = output.secret_values();
    wanted
        .iter()
        .map(|(arn_var, target, arn)| {
            if let Some(error) = output
                .errors()
                .iter()
                .find(|e| e.secret_id() == Some(arn.as_str()))
            {
                let code = error.error_code().unwrap_or("unknown error");
                bail!(
                    "reading {target} from the secret in {arn_var}: Secrets Manager refused: {code}{}",
                    hint(code)
                );
            }
            let entry = entries
                .iter()
                .find(|e| e.arn() == Some(arn.as_str()) || e.name() == Some(arn.as_str()))
                .ok_or_else(|| {
                    anyhow!("reading {target} from the secret in {arn_var}: not in the answer")
                })?;
            entry.secret_string().map(str::to_owned).ok_or_else(|| {
                anyhow!("reading {target} from the secret in {arn_var}: the secret holds binary data; store the value as a string")
            })
        })
        .collect()
}

/// What the functions did before the batch call: one `GetSecretValue` after another.
async fn fetch_one_by_one(
    client: &aws_sdk_secretsmanager::Client,
    wanted: &[(String, String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut values = Vec::with_capacity(wanted.len());
    for (arn_var, target, arn) in wanted {
        let value = fetch_secret(client, arn)
            .await
            .with_context(|| format!("reading {target} from the secret in {arn_var}"))?;
        values.push(value);
    }
    Ok(values)
}

fn hint(code: &str) -> &'static str {
    match code {
        "AccessDeniedException" => {
            " (the function's role may not read this secret: check its IAM policy)"
        }
        "ResourceNotFoundException" => " (no such secret in this account and region)",
        "DecryptionFailure" => " (the function's role may not use the secret's KMS key)",
        _ => "",
    }
}

fn refused<E: ProvideErrorMetadata + std::error::Error + 'static, R>(
    error: &SdkError<E, R>,
) -> anyhow::Error {
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown error");
            anyhow!("Secrets Manager refused: {code}{}", hint(code))
        }
        other => anyhow!("Secrets Manager could not be reached: {other}"),
    }
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
        .map_err(|error| refused(&error))?;
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
