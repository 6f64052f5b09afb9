//! Every tasks route exists and answers in the SPEC's error shape.

use axum::body::{to_bytes, Body};
use http::{Request, StatusCode};
use shared::routes::{of, Function};
use tower::ServiceExt;

#[tokio::test]
async fn every_auth_route_answers_problem_json() {
    for route in of(Function::Tasks) {
        let path = route.path.replace("{user_id}", "u1").replace("{id}", "1");
        let request = Request::builder()
            .method(route.method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let response = tasks::app().oneshot(request).await.unwrap();
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
