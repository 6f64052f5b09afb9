//! moto, a local AWS API on 127.0.0.1, for the tests that talk to Secrets Manager or SES for real.

use std::time::Duration;

/// A local AWS API (`moto_server` from .venv, as scripts/test.sh installs it) for the tests that
/// talk to Secrets Manager or SES for real. Stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    child: std::process::Child,
}

impl Moto {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("its address")
            .port();
        let mut child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("`moto_server` must be installed: run the tests with scripts/test.sh");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { endpoint, child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto_server did not start on port {port}");
    }

    /// SDK configuration pointing at this server, with throwaway credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "testing", "testing", None, None, "tests",
                    ),
                ),
            )
            .http_client(http_client)
            .build()
    }

    /// Environment variables that point the SDK of a child process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ]
    }
}

/// The string value of a secret (tests only: panics on any failure).
pub async fn secret_string(client: &aws_sdk_secretsmanager::Client, arn: &str) -> String {
    client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("the secret")
        .secret_string()
        .expect("a string secret")
        .to_owned()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
