//! Configuration from AWS Secrets Manager, against a local AWS API (moto), not a mock of ours.

use std::collections::HashMap;

use shared::aws::resolve_secrets;
use shared::testing::Moto;

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
