//! Every auth route of the shared route list is served by the auth function (never 404 or 405).

use crate::common;

use common::TestApp;
use http::{Method, StatusCode};
use test_support::routes::{of, Function};

#[tokio::test]
async fn every_auth_route_is_served() {
    let app = TestApp::new().await;
    for route in of(Function::Auth) {
        let path = route
            .path
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        let method: Method = route.method.parse().unwrap();
        let answer = app.call(method, &path, None, None).await;
        assert_ne!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{} {path}",
            route.method
        );
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {path}",
            route.method
        );
        // The published keys are public; every other route wants a body or a token.
        let expected = if path.starts_with("/.well-known/") {
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            "application/json"
        } else {
            "application/problem+json"
        };
        assert_eq!(
            answer.headers["content-type"], expected,
            "{} {path}",
            route.method
        );
    }
}
