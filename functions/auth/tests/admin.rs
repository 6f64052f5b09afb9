//! GET /users and PATCH /users/{id}: admins only; disabling works at once; the last admin stays.

use crate::common;

use common::TestApp;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn non_admins_get_403_on_admin_routes() {
    let app = TestApp::new().await;
    let (access, _, id) = app.signed_up("user@example.com").await;
    assert_eq!(
        app.get("/users", &access).await.status,
        StatusCode::FORBIDDEN
    );
    let answer = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&access),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/users/me", &access).await.body["role"], "user");
}

#[tokio::test]
async fn admin_lists_users_page_by_page() {
    let app = TestApp::new().await;
    let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
    for i in 0..4 {
        app.register(&format!("u{i}@example.com")).await;
    }
    let first = app.get("/users?limit=2", &admin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.headers["x-total-count"], "5");
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    assert_eq!(first.body[0]["disabled"], false);
    let mut seen: Vec<String> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    let mut link = first.headers["link"].to_str().unwrap().to_owned();
    loop {
        let next = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        let page = app.get(&next, &admin).await;
        seen.extend(
            page.body
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match page.headers.get("link") {
            Some(value) => link = value.to_str().unwrap().to_owned(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "{seen:?}");
    assert_eq!(seen.len(), 5);
    for bad in [
        "/users?limit=0",
        "/users?limit=201",
        "/users?limit=abc",
        "/users?cursor=%%%",
        "/users?cursor=bm9wZQ",
    ] {
        assert_eq!(
            app.get(bad, &admin).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn disabling_a_user_stops_their_tokens_at_once() {
    let app = TestApp::new().await;
    let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
    let (user, refresh, id) = app.signed_up("user@example.com").await;
    let answer = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["disabled"], true);
    assert_eq!(
        app.get("/users/me", &user).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/refresh", json!({"refresh_token": refresh}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("user@example.com", common::PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&admin),
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(
        app.login("user@example.com", common::PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn promotion_applies_on_the_next_request_and_the_last_admin_cannot_be_removed() {
    let app = TestApp::new().await;
    let (admin, _, admin_id) = app.signed_up_verified("admin@example.com").await;
    let (user, _, user_id) = app.signed_up("user@example.com").await;

    let demote_self = app
        .call(
            Method::PATCH,
            &format!("/users/{admin_id}"),
            Some(&admin),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(
        demote_self.status,
        StatusCode::CONFLICT,
        "{}",
        demote_self.body
    );
    let disable_self = app
        .call(
            Method::PATCH,
            &format!("/users/{admin_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disable_self.status, StatusCode::CONFLICT);

    let promoted = app
        .call(
            Method::PATCH,
            &format!("/users/{user_id}"),
            Some(&admin),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin");
    // The user's existing token now has admin rights (the role is read per request).
    assert_eq!(app.get("/users", &user).await.status, StatusCode::OK);
    let demoted = app
        .call(
            Method::PATCH,
            &format!("/users/{admin_id}"),
            Some(&user),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK);
    assert_eq!(
        app.get("/users", &admin).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let (a, _, a_id) = app.signed_up_verified("admin@example.com").await;
    let (b, _, b_id) = app.signed_up("b@example.com").await;
    app.call(
        Method::PATCH,
        &format!("/users/{b_id}"),
        Some(&a),
        Some(json!({"role": "admin"})),
    )
    .await;
    let first = {
        let app = app.clone();
        tokio::spawn(async move {
            app.call(
                Method::PATCH,
                &format!("/users/{b_id}"),
                Some(&a),
                Some(json!({"role": "user"})),
            )
            .await
            .status
        })
    };
    let second = {
        let app = app.clone();
        tokio::spawn(async move {
            app.call(
                Method::PATCH,
                &format!("/users/{a_id}"),
                Some(&b),
                Some(json!({"role": "user"})),
            )
            .await
            .status
        })
    };
    let statuses = [first.await.unwrap(), second.await.unwrap()];
    let admins: i64 = app
        .sql()
        .await
        .query_one("select count(*) from users where role = 'admin'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(admins, 1, "{statuses:?}");
}

#[tokio::test]
async fn bad_admin_requests() {
    let app = TestApp::new().await;
    let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
    let (_, _, user_id) = app.signed_up("user@example.com").await;
    let path = format!("/users/{user_id}");
    for (path, body, status) in [
        (
            "/users/not-a-uuid".to_owned(),
            json!({"role": "admin"}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/users/{}", uuid::Uuid::new_v4()),
            json!({"role": "admin"}),
            StatusCode::NOT_FOUND,
        ),
        (
            path.clone(),
            json!({"role": "superuser"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            path.clone(),
            json!({"disabled": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            path.clone(),
            json!({"email": "x@y.co"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = app
            .call(Method::PATCH, &path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
    }
}
