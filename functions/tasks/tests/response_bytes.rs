//! The exact bytes the tasks routes answer, so that work on the hot paths (issue 16: how rows are
//! read, timestamps formatted, JSON written) changes no byte. Two checks:
//! - golden files: a fixed user with fixed tasks (ids, timestamps, awkward text) answers the list,
//!   a page of it, one task, and the Lambda response envelope of the list exactly as recorded in
//!   `tests/fixtures/` before that work (`UPDATE_GOLDEN=1` rewrites them; review the diff);
//! - an independent rendering: what create, get, put, patch and toggle answer is compared with
//!   the row read back from the database and written by plain serde_json with `time`'s RFC 3339
//!   (the rendering the handlers used before they wrote JSON themselves).

use crate::common;

use axum::body::{to_bytes, Body};
use common::{TestApp, User};
use http::{HeaderMap, Method, Request, StatusCode};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tower::ServiceExt;

const USER_ID: &str = "00000000-0000-4000-8000-000000000016";
const SESSION_ID: &str = "00000000-0000-4000-8000-0000000000a1";

/// A task as serde_json writes it from its fields: the reference rendering.
#[derive(Serialize)]
struct Reference {
    id: i64,
    user_id: String,
    title: String,
    description: Option<String>,
    completed: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

/// Tasks whose text and timestamps exercise escaping and fractional-second formatting: quotes,
/// backslashes, every kind of control character, `</script>`, non-ASCII up to 4-byte UTF-8, U+2028,
/// NULL and empty descriptions; whole seconds, trailing zeros, one microsecond, before 1970, after
/// 2100, a leap day.
const FIXED_TASKS: &str = r#"
insert into tasks (id, issuer, user_id, owner_id, title, description, completed, created_at, updated_at)
overriding system value values
 (9001, '', $1::text, $1::text::uuid, 'Buy milk', 'Milk, eggs, bread', false, '2026-01-02 03:04:05+00', '2026-01-02 03:04:05+00'),
 (9002, '', $1::text, $1::text::uuid, 'Say "hi" \ back\slash', null, true, '2026-01-02 03:04:05.1+00', '2026-02-03 04:05:06.120000+00'),
 (9003, '', $1::text, $1::text::uuid, E'tab\there\nnew line\r\u0001\u001f\u007f', '', false, '2026-01-02 03:04:05.000001+00', '2026-01-02 03:04:05.999999+00'),
 (9004, '', $1::text, $1::text::uuid, '</script><b>&amp;</b>', E'line\u2028sep\u2029para', false, '1969-12-31 23:59:59.5+00', '2024-02-29 12:00:00.010203+00'),
 (9005, '', $1::text, $1::text::uuid, 'Crème brûlée 🦀 日本語', repeat('d', 1000), true, '2101-07-04 00:00:00.100000+00', '2101-07-04 00:00:00.100001+00'),
 (9006, '', $1::text, $1::text::uuid, 'x', 'zero padding', false, '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999+00'),
 (9007, '', $1::text, $1::text::uuid, '  spaced  ', '  kept  ', false, '2026-06-30 23:59:59.123456+00', '2026-06-30 23:59:59.123456+00'),
 (9008, '', $1::text, $1::text::uuid, 'Same instant, later id', null, false, '2026-06-30 23:59:59.123456+00', '2026-06-30 23:59:59.123456+00')
"#;

/// The fixed user (fixed id and session) with the fixed tasks.
async fn fixed_user(app: &TestApp) -> User {
    let sql = app.sql().await;
    let session: uuid::Uuid = SESSION_ID.parse().unwrap();
    sql.execute(
        "insert into users (id, email, email_key, password_hash) values ($1::text::uuid, 'golden@example.com', 'golden@example.com', 'unused')",
        &[&USER_ID],
    )
    .await
    .unwrap();
    sql.execute(
        "insert into sessions (id, user_id, expires_at) values ($1, $2::text::uuid, now() + interval '1 day')",
        &[&session, &USER_ID],
    )
    .await
    .unwrap();
    sql.execute(FIXED_TASKS, &[&USER_ID]).await.unwrap();
    User {
        id: USER_ID.to_owned(),
        session,
        token: app.keys.issue(USER_ID, session, "user").unwrap(),
    }
}

/// Status, the headers a client reads, and the body bytes.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn raw(app: &TestApp, method: Method, path: &str, user: &User, body: Option<&str>) -> Raw {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", user.token));
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    Raw {
        status: response.status(),
        headers: response.headers().clone(),
        body: to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    }
}

/// The answer as one text: status, the headers in a fixed order (those a client reads), body.
fn transcript(answer: &Raw) -> String {
    let mut text = format!("{}\n", answer.status.as_u16());
    for name in [
        "content-type",
        "content-length",
        "x-total-count",
        "link",
        "location",
    ] {
        for value in answer.headers.get_all(name) {
            text.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
        }
    }
    text.push('\n');
    text.push_str(std::str::from_utf8(&answer.body).unwrap());
    text.push('\n');
    text
}

fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert!(
        expected == actual,
        "{name} differs from the recorded bytes\n--- recorded\n{expected}\n--- now\n{actual}"
    );
}

/// The caller's tasks read back from the database, in the order given, rendered by the reference.
async fn reference(app: &TestApp, ids: &[i64]) -> Vec<u8> {
    let sql = app.sql().await;
    let mut tasks = Vec::new();
    for id in ids {
        let row = sql
            .query_one(
                "select id, user_id, title, description, completed, created_at, updated_at from tasks where id = $1",
                &[id],
            )
            .await
            .unwrap();
        tasks.push(Reference {
            id: row.get(0),
            user_id: row.get(1),
            title: row.get(2),
            description: row.get(3),
            completed: row.get(4),
            created_at: row.get(5),
            updated_at: row.get(6),
        });
    }
    serde_json::to_vec(&tasks).unwrap()
}

/// One task's reference bytes (an object, not an array).
async fn reference_one(app: &TestApp, id: i64) -> Vec<u8> {
    let list = reference(app, &[id]).await;
    list[1..list.len() - 1].to_vec()
}

#[tokio::test]
async fn list_page_and_get_answer_the_recorded_bytes() {
    let app = TestApp::new().await;
    let user = fixed_user(&app).await;
    let base = format!("/api/{USER_ID}/tasks");

    let all = raw(&app, Method::GET, &base, &user, None).await;
    assert_eq!(all.status, StatusCode::OK);
    let order = [9006, 9004, 9001, 9003, 9002, 9007, 9008, 9005];
    assert_eq!(
        all.body,
        reference(&app, &order).await,
        "the reference rendering"
    );
    golden("list.golden", &transcript(&all));

    let page = raw(
        &app,
        Method::GET,
        // Not a title sort: its order is the server's collation, which another machine may not share.
        &format!("{base}?sort=-updated_at&limit=3&completed=false"),
        &user,
        None,
    )
    .await;
    golden("list-page.golden", &transcript(&page));
    let link = page.headers["link"].to_str().unwrap();
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let second = raw(&app, Method::GET, next, &user, None).await;
    golden("list-page-2.golden", &transcript(&second));

    for id in order {
        let one = raw(&app, Method::GET, &format!("{base}/{id}"), &user, None).await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(one.body, reference_one(&app, id).await, "task {id}");
    }
    let one = raw(&app, Method::GET, &format!("{base}/9002"), &user, None).await;
    golden("get.golden", &transcript(&one));

    let empty = app.user("nobody@example.com").await;
    let none = raw(
        &app,
        Method::GET,
        &format!("/api/{}/tasks", empty.id),
        &empty,
        None,
    )
    .await;
    assert_eq!(none.body, b"[]");
    assert_eq!(none.headers["x-total-count"], "0");
}

#[tokio::test]
async fn the_lambda_envelope_of_the_list_is_the_recorded_one() {
    use tower::Service as _;
    let app = TestApp::new().await;
    let user = fixed_user(&app).await;
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": format!("/api/{USER_ID}/tasks"),
        "rawQueryString": "limit=4",
        "headers": {"authorization": format!("Bearer {}", user.token), "host": "api.example.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "golden", "domainName": "api.example.com",
            "domainPrefix": "api", "http": {"method": "GET", "path": format!("/api/{USER_ID}/tasks"),
            "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "golden"},
            "requestId": "golden-request", "routeKey": "$default", "stage": "$default",
            "time": "01/Dec/2026:23:00:00 +0000", "timeEpoch": 1_796_166_000_000i64},
        "isBase64Encoded": false
    });
    let payload = || -> lambda_http::request::LambdaRequest {
        serde_json::from_value(event.clone()).unwrap()
    };
    let mut adapter: lambda_http::Adapter<'static, _, _> =
        lambda_http::Adapter::from(app.router.clone());
    let Ok(ready) = adapter.ready().await;
    let Ok(response) = ready
        .call(lambda_http::LambdaEvent::new(
            payload(),
            lambda_http::Context::default(),
        ))
        .await;
    let envelope = serde_json::to_string(&response).unwrap();
    golden("list-envelope.golden", &format!("{envelope}\n"));
    // The functions' own adapter (shared::lambda::Gateway) writes the same envelope.
    let mut gateway = shared::lambda::Gateway::new(app.router.clone());
    let Ok(ready) = gateway.ready().await;
    let Ok(response) = ready
        .call(lambda_http::LambdaEvent::new(
            payload(),
            lambda_http::Context::default(),
        ))
        .await;
    assert_eq!(serde_json::to_string(&response).unwrap(), envelope);
}

#[tokio::test]
async fn writes_answer_what_the_reference_renders_from_the_row() {
    let app = TestApp::new().await;
    let user = fixed_user(&app).await;
    let base = format!("/api/{USER_ID}/tasks");

    let created = raw(
        &app,
        Method::POST,
        &base,
        &user,
        Some(r#"{"title":"  \"Quoted\" \\ 🦀 \u0007 ","description":"a\u2028b</script>"}"#),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id: i64 = serde_json::from_slice::<serde_json::Value>(&created.body).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(created.body, reference_one(&app, id).await, "create");
    assert_eq!(created.headers["location"], format!("{base}/{id}"));
    assert_eq!(created.headers["content-type"], "application/json");

    let steps: [(Method, String, Option<&str>); 5] = [
        (
            Method::PUT,
            format!("{base}/{id}"),
            Some(r#"{"title":"Replaced","completed":true}"#),
        ),
        (
            Method::PATCH,
            format!("{base}/{id}"),
            Some(r#"{"description":null}"#),
        ),
        (Method::PATCH, format!("{base}/{id}/complete"), None),
        (
            Method::PATCH,
            format!("{base}/9003"),
            Some(r#"{"title":"Patched \"again\""}"#),
        ),
        (Method::GET, format!("{base}/{id}"), None),
    ];
    for (method, path, body) in steps {
        let answer = raw(&app, method.clone(), &path, &user, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{method} {path}");
        let target = if path.contains("9003") { 9003 } else { id };
        assert_eq!(
            answer.body,
            reference_one(&app, target).await,
            "{method} {path}"
        );
        assert_eq!(answer.headers["content-type"], "application/json");
    }

    let deleted = raw(&app, Method::DELETE, &format!("{base}/{id}"), &user, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
}
