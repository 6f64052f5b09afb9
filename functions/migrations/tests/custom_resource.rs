//! The custom resource answers CloudFormation with SUCCESS or FAILED; the answer goes to a local
//! HTTP listener standing in for CloudFormation's pre-signed S3 URL.

use std::time::Duration;

use migrations::{handle, respond, CustomResourceRequest, CustomResourceResponse};
use test_support::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn cfn_request(kind: &str, response_url: &str) -> CustomResourceRequest {
    serde_json::from_value(serde_json::json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrations",
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tasks-api/abc",
        "RequestId": "req-1",
        "ResourceType": "Custom::Migrations",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceProperties": {"ServiceToken": "x", "Version": "3"}
    }))
    .unwrap()
}

/// Accepts one HTTP PUT and returns its method line, headers and body.
async fn one_put() -> (
    String,
    tokio::task::JoinHandle<(String, Vec<String>, Vec<u8>)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/presigned?X-Amz-Signature=abc",
        listener.local_addr().unwrap().port()
    );
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut reader = BufReader::new(socket);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).await.unwrap();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            headers.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        (request_line, headers, body)
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_applies_the_migrations_and_answers_success() {
    let database = TestDb::new().await;
    // Start from an empty database, as a first deploy would.
    let mut client = schema::connect(&database.url, false).await.unwrap();
    schema::down(&mut client, schema::MIGRATIONS, 100)
        .await
        .unwrap();

    let (url, put) = one_put().await;
    let request = cfn_request("Create", &url);
    let response = handle(&request, &Ok(database.url.clone()), Duration::from_secs(60)).await;
    respond(&request.response_url, &response).await.unwrap();
    let (line, headers, body) = put.await.unwrap();
    assert!(
        line.starts_with("PUT /presigned?X-Amz-Signature=abc"),
        "{line}"
    );
    assert!(
        !headers.iter().any(|h| h
            .to_ascii_lowercase()
            .starts_with("content-type: application")),
        "{headers:?}"
    );
    let sent: CustomResourceResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent.status, "SUCCESS", "{}", sent.reason);
    assert_eq!(sent.request_id, "req-1");
    assert_eq!(sent.logical_resource_id, "DatabaseMigrations");
    assert_eq!(sent.physical_resource_id, migrations::PHYSICAL_ID);
    // Every migration there is, whatever their numbers (they need not be contiguous).
    let every: Vec<String> = schema::MIGRATIONS
        .iter()
        .map(|m| format!("{:04}", m.version))
        .collect();
    assert_eq!(sent.data["Applied"], every.join(","));
    let tables: i64 = client
        .query_one(
            "select count(*) from information_schema.tables where table_name in ('users', 'tasks')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2);

    // An update with nothing pending succeeds and applies nothing.
    let response = handle(
        &cfn_request("Update", &url),
        &Ok(database.url.clone()),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(response.status, "SUCCESS");
    assert_eq!(response.data["Applied"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_database_answers_failed_with_the_reason() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, put) = one_put().await;
    let request = cfn_request("Update", &url);
    let target = Ok(format!(
        "postgres://postgres@127.0.0.1:{closed}/db?sslmode=disable"
    ));
    let response = handle(&request, &target, Duration::from_secs(30)).await;
    respond(&request.response_url, &response).await.unwrap();
    let (_, _, body) = put.await.unwrap();
    let sent: CustomResourceResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent.status, "FAILED");
    assert!(!sent.reason.is_empty());
}

#[tokio::test]
async fn missing_configuration_answers_failed() {
    let response = handle(
        &cfn_request("Create", "http://127.0.0.1:1/"),
        &Err("neither DATABASE_DIRECT_URL nor DATABASE_URL is configured".to_owned()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(response.status, "FAILED");
    assert!(response.reason.contains("DATABASE_URL"));
}

#[tokio::test]
async fn delete_never_touches_the_database() {
    let target = Err("no database".to_owned());
    let mut delete = cfn_request("Delete", "http://127.0.0.1:1/");
    delete.physical_resource_id = Some("database-migrations".to_owned());
    let response = handle(&delete, &target, Duration::from_secs(5)).await;
    assert_eq!(response.status, "SUCCESS");
}

#[test]
fn the_direct_url_wins() {
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), "postgres://pooler/db".to_owned()),
        (
            "DATABASE_DIRECT_URL".to_owned(),
            "postgres://direct/db".to_owned(),
        ),
    ]);
    assert_eq!(
        migrations::database_target(&vars).unwrap(),
        "postgres://direct/db"
    );
}

fn jwt_keys_request(kind: &str, properties: serde_json::Value) -> CustomResourceRequest {
    serde_json::from_value(serde_json::json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrations",
        "ResponseURL": "http://127.0.0.1:9/unused",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tasks-api/abc",
        "RequestId": "req-2",
        "ResourceType": "Custom::JwtKeys",
        "LogicalResourceId": "JwtKeys",
        "ResourceProperties": properties,
    }))
    .unwrap()
}

#[tokio::test]
async fn jwt_keys_are_created_at_the_first_deploy_and_kept_on_updates() {
    use migrations::handle_jwt_keys;
    let moto = test_support::Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let mut arns = Vec::new();
    for name in ["signing", "public"] {
        let created = client
            .create_secret()
            .name(name)
            .secret_string("{}")
            .send()
            .await
            .unwrap();
        arns.push(created.arn().unwrap().to_owned());
    }
    let properties = serde_json::json!({"ServiceToken": "x", "PrivateSecretArn": arns[0], "PublicSecretArn": arns[1]});

    let created = handle_jwt_keys(&jwt_keys_request("Create", properties.clone()), &client).await;
    assert_eq!(created.status, "SUCCESS", "{}", created.reason);
    assert_eq!(created.physical_resource_id, "jwt-keys");
    let ring = shared::token::ring::KeyRing::from_secrets(
        &test_support::secret_string(&client, &arns[0]).await,
        &test_support::secret_string(&client, &arns[1]).await,
    )
    .unwrap()
    .expect("a key ring");
    assert!(
        created.reason.contains(&ring.signing_kid().unwrap()),
        "{}",
        created.reason
    );
    assert!(
        !test_support::secret_string(&client, &arns[1])
            .await
            .contains("PRIVATE KEY"),
        "the public secret holds public keys only"
    );

    let updated = handle_jwt_keys(&jwt_keys_request("Update", properties.clone()), &client).await;
    assert_eq!(updated.status, "SUCCESS");
    let after = shared::token::ring::KeyRing::from_secrets(
        &test_support::secret_string(&client, &arns[0]).await,
        &test_support::secret_string(&client, &arns[1]).await,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        after.signing_kid().unwrap(),
        ring.signing_kid().unwrap(),
        "an update never replaces the keys"
    );

    assert_eq!(
        handle_jwt_keys(&jwt_keys_request("Delete", properties), &client)
            .await
            .status,
        "SUCCESS"
    );
    let missing = handle_jwt_keys(
        &jwt_keys_request("Create", serde_json::json!({"ServiceToken": "x"})),
        &client,
    )
    .await;
    assert_eq!(missing.status, "FAILED");
    assert!(
        missing.reason.contains("PrivateSecretArn"),
        "{}",
        missing.reason
    );
    let denied = handle_jwt_keys(
        &jwt_keys_request("Create", serde_json::json!({"PrivateSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", "PublicSecretArn": arns[1]})),
        &client,
    )
    .await;
    assert_eq!(denied.status, "FAILED");
    assert!(
        denied.reason.contains("ResourceNotFoundException"),
        "{}",
        denied.reason
    );
}
