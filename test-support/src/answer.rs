//! In-process answers with their bodies byte for byte, for tests that compare bytes.

/// An in-process answer with its body exactly as sent, for tests that compare bytes.
pub struct RawAnswer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends `request` to `router` in-process and keeps the body's bytes.
pub async fn send_raw(router: axum::Router, request: http::Request<axum::body::Body>) -> RawAnswer {
    use tower::ServiceExt as _;
    let response = router
        .oneshot(request)
        .await
        .expect("routers are infallible");
    RawAnswer {
        status: response.status(),
        headers: response.headers().clone(),
        bytes: axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("in-process bodies are readable")
            .to_vec(),
    }
}
