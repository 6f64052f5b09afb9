//! Every tasks route of the shared route list is served by the tasks function (never 404 or 405).

use crate::common;

use common::TestApp;
use http::Method;
use test_support::routes::{of, Function};

#[tokio::test]
async fn every_tasks_route_is_served() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for route in of(Function::Tasks) {
        // A task of its own for each route (one of them deletes it).
        let created = app.create(&user, serde_json::json!({"title": "t"})).await;
        let id = created.body["id"].as_i64().unwrap().to_string();
        let path = route
            .path
            .replace("{user_id}", &user.id)
            .replace("{id}", &id);
        let method: Method = route.method.parse().unwrap();
        // The toggle takes no body; every other write takes a task.
        let needs_body =
            matches!(route.method, "POST" | "PUT" | "PATCH") && !path.ends_with("/complete");
        let body = needs_body.then(|| serde_json::json!({"title": "x"}));
        let answer = app.call(method, &path, &user.token, body).await;
        assert!(
            answer.status.is_success(),
            "{} {path}: {} {}",
            route.method,
            answer.status,
            answer.body
        );
    }
}
