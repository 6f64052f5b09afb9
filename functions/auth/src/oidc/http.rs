//! The HTTP client openidconnect calls (its own is switched off): hyper 1 + rustls (ring) with the
//! system's roots, all already linked by the AWS SDK. Every call is bounded: an answer within
//! [`TIMEOUT`], a body of at most [`MAX_BODY_BYTES`], and redirects are never followed (a 3xx is
//! handed back as it is, and openidconnect refuses it). Plain `http` only to a loopback host (a
//! provider on 127.0.0.1 in the tests): a discovery document naming an `http` endpoint elsewhere
//! is refused.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Longest wait for one call to a provider (connect, send, whole answer).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from a provider (discovery, JWKS, token endpoint).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One call under way.
pub type Call<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<Vec<u8>>, HttpError>> + Send + 'c>,
>;

/// Why a call to a provider failed (logged; the client is told the provider is unavailable).
#[derive(Debug)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// One client per [`super::Registry`], built at its first call (reading the system's roots costs a
/// function that never signs anyone in through a provider nothing).
#[derive(Default)]
pub struct HttpClient {
    inner: OnceLock<Result<Inner, String>>,
}

/// Whether `host` is this machine: the only hosts reached over plain `http`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl HttpClient {
    fn inner(&self) -> Result<&Inner, HttpError> {
        self.inner
            .get_or_init(|| {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|error| format!("no TLS root certificates: {error}"))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .as_ref()
            .map_err(|error| HttpError(error.clone()))
    }

    /// Sends `request` under the bounds above. A boxed `Send + 'static` future, so the futures of
    /// openidconnect that await it are `Send` for axum's handlers.
    pub fn send(&self, request: http::Request<Vec<u8>>) -> Call<'static> {
        let client = self.inner().cloned();
        Box::pin(async move { send(client?, request).await })
    }
}

/// What openidconnect calls (instead of a closure: a named future type keeps the handlers' futures
/// `Send`).
impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Call<'c>;

    fn call(&'c self, request: http::Request<Vec<u8>>) -> Self::Future {
        self.send(request)
    }
}

async fn send(
    client: Inner,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, HttpError> {
    {
        let uri = request.uri().clone();
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if uri.host().is_some_and(is_loopback) => {}
            _ => {
                return Err(HttpError(format!(
                    "refused to call {uri}: https only (plain http only to a loopback host)"
                )))
            }
        }
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let work = async {
            let response = client
                .request(request)
                .await
                .map_err(|error| HttpError(format!("calling {uri}: {error}")))?;
            // A provider that fails is unavailable, whatever its body says.
            if response.status().is_server_error() {
                return Err(HttpError(format!("{uri} answered {}", response.status())));
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|error| HttpError(format!("reading the answer of {uri}: {error}")))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| HttpError(format!("{uri} did not answer within {TIMEOUT:?}")))?
    }
}
