//! Every auth route exists and answers in the SPEC's error shape.

use axum::body::{to_bytes, Body};
use http::{Request, StatusCode};
use shared::routes::{of, Function};
use tower::ServiceExt;

#[tokio::test]
async fn every_auth_route_answers_problem_json() {
    for route in of(Function::Auth) {
        let path = route
            .path
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        let request = Request::builder()
            .method(route.method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let response = auth::app().oneshot(request).await.unwrap();
        assert_ne!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{} {path}",
            route.method
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap())
                .unwrap();
        assert!(body["detail"].is_string());
    }
}
