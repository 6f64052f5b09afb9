//! Configuration from AWS Secrets Manager, against a local AWS API (moto), not a mock of ours.

use std::collections::HashMap;

use shared::aws::resolve_secrets;
use test_support::Moto;

async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn plain_and_json_secrets_fill_the_configuration() {
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let db_arn = create_secret(
        &client,
        "db-url",
        "postgres://app:pw@db.example.com/app?sslmode=require",
    )
    .await;
    let jwt_arn = create_secret(
        &client,
        "jwt",
        r#"{"JWT_SECRET":"from-json-from-json-from-json-from-json","note":"x"}"#,
    )
    .await;
    let mut vars = HashMap::from([
        ("DATABASE_URL_SECRET_ARN".to_owned(), db_arn),
        ("JWT_SECRET_ARN".to_owned(), jwt_arn),
    ]);
    resolve_secrets(&mut vars, &client).await.unwrap();
    assert_eq!(
        vars["DATABASE_URL"],
        "postgres://app:pw@db.example.com/app?sslmode=require"
    );
    assert_eq!(
        vars["JWT_SECRET"],
        "from-json-from-json-from-json-from-json"
    );
    // The resolved values satisfy the typed configuration.
    let source = shared::config::Source::new(&vars);
    assert!(shared::config::JwtConfig::from_source(&source).is_ok());
    assert!(shared::config::DatabaseConfig::from_source(&source).is_ok());
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let mut vars = HashMap::from([(
        "JWT_SECRET_ARN".to_owned(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf".to_owned(),
    )]);
    let error = resolve_secrets(&mut vars, &client).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("reading JWT_SECRET from the secret in JWT_SECRET_ARN"),
        "{message}"
    );
    assert!(message.contains("ResourceNotFoundException"), "{message}");
}

#[tokio::test]
async fn a_value_set_directly_wins_over_the_secret() {
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let arn = create_secret(&client, "db", "postgres://from-secret/db").await;
    let mut vars = HashMap::from([
        ("DATABASE_URL_SECRET_ARN".to_owned(), arn),
        (
            "DATABASE_URL".to_owned(),
            "postgres://override/db".to_owned(),
        ),
    ]);
    resolve_secrets(&mut vars, &client).await.unwrap();
    assert_eq!(vars["DATABASE_URL"], "postgres://override/db");
}

#[tokio::test]
async fn the_key_ring_is_created_once_then_rotated_in_secrets_manager() {
    use shared::token::ring::{rotate_in_secrets_manager, KeyRing};
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let private = create_secret(&client, "jwt-signing-keys", "{}").await;
    let public = create_secret(&client, "jwt-public-keys", "{}").await;
    let first = rotate_in_secrets_manager(&client, &private, &public, true)
        .await
        .unwrap()
        .expect("a ring is created in empty secrets");
    assert!(
        rotate_in_secrets_manager(&client, &private, &public, true)
            .await
            .unwrap()
            .is_none(),
        "the deploy-time creation never replaces a ring"
    );
    let ring = KeyRing::from_secrets(
        &test_support::secret_string(&client, &private).await,
        &test_support::secret_string(&client, &public).await,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ring.signing_kid().unwrap(), first);
    let second = rotate_in_secrets_manager(&client, &private, &public, false)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(second, first);
    // What the functions read through resolve_secrets: the private key for auth, the JWKS (new
    // signing key, next key, and the previous one) for every verifier.
    let mut vars = HashMap::from([
        ("JWT_SIGNING_KEY_ARN".to_owned(), private),
        ("JWT_PUBLIC_KEYS_ARN".to_owned(), public),
        ("JWT_ALGORITHM".to_owned(), "EdDSA".to_owned()),
    ]);
    resolve_secrets(&mut vars, &client).await.unwrap();
    let jwt = shared::config::JwtConfig::from_source(&shared::config::Source::new(&vars)).unwrap();
    assert_eq!(jwt.signing_key.unwrap().kid(), second);
    let published = jwt.public_keys.unwrap();
    assert!(
        published.contains(&first) && published.contains(&second),
        "{published}"
    );
}

#[tokio::test]
async fn a_missing_secret_among_several_names_its_variable() {
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let db_arn = create_secret(&client, "db-url-2", "postgres://u@h/db").await;
    let mut vars = HashMap::from([
        ("DATABASE_URL_SECRET_ARN".to_owned(), db_arn),
        (
            "JWT_PUBLIC_KEYS_ARN".to_owned(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf".to_owned(),
        ),
    ]);
    let message = format!(
        "{:#}",
        resolve_secrets(&mut vars, &client).await.unwrap_err()
    );
    assert!(message.contains("JWT_PUBLIC_KEYS"), "{message}");
    assert!(message.contains("ResourceNotFoundException"), "{message}");
}

/// Each identity provider's client secret, named by the configuration (`OIDC_<NAME>_CLIENT_SECRET_ARN`),
/// comes in the same batch as the fixed ones; a value given directly wins.
#[tokio::test]
async fn identity_provider_client_secrets_come_from_their_arn_variables() {
    let moto = Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let corp = create_secret(&client, "oidc-corp", "corp-client-secret").await;
    let google = create_secret(&client, "oidc-google", r#"{"client_secret":"g-secret"}"#).await;
    let mut vars = HashMap::from([
        ("OIDC_CORP_CLIENT_SECRET_ARN".to_owned(), corp),
        ("OIDC_MY_IDP_CLIENT_SECRET_ARN".to_owned(), google),
        (
            "OIDC_SET_CLIENT_SECRET_ARN".to_owned(),
            "arn:never-read".to_owned(),
        ),
        ("OIDC_SET_CLIENT_SECRET".to_owned(), "given".to_owned()),
    ]);
    assert!(shared::aws::wants_secrets(&vars));
    resolve_secrets(&mut vars, &client).await.unwrap();
    assert_eq!(vars["OIDC_CORP_CLIENT_SECRET"], "corp-client-secret");
    assert_eq!(vars["OIDC_MY_IDP_CLIENT_SECRET"], "g-secret");
    assert_eq!(vars["OIDC_SET_CLIENT_SECRET"], "given");
}
