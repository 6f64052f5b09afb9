//! One small HTTPS GET for the JWKS: hyper's client over rustls (ring, the system's roots), the
//! same stack the AWS SDK already links into this binary, so it adds almost nothing to its size.
//! Built on the first fetch, not at start: a function that never sees a JWKS token pays nothing.

use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Fetches small documents: the whole exchange within a deadline, the body within a size limit.
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    pub fn new() -> anyhow::Result<Self> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .context("loading the system's root certificates")?
            // http:// only for a local Better Auth (`http://localhost:3000`); use https in AWS.
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            // An idle connection to the JWKS host outlives a frozen Lambda environment rarely;
            // a short idle time keeps the next fetch from tripping over a dead one.
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self { client })
    }

    /// GETs `url`; fails unless a 200 with at most `limit` bytes arrives within `timeout`.
    pub async fn get(&self, url: &str, timeout: Duration, limit: usize) -> anyhow::Result<Bytes> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "tasks-api")
            .body(Empty::new())
            .context("building the request")?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            if status != http::StatusCode::OK {
                bail!("answered {status}");
            }
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|error| anyhow::anyhow!("reading the body: {error}"))?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {} ms", timeout.as_millis()))?
    }
}
