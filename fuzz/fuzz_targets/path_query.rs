//! Query strings and path parameters: arbitrary input through the tasks listing parameters
//! (`completed`, `q`, `sort`, `limit`, and the keyset `cursor`, base64 of `sort|value|id`), the
//! admin user listing's query and cursor, the task id of a path, and axum's path extraction under
//! the tasks routes. Each cursor is tried both as the raw input and as the input wrapped in base64,
//! so the text inside is fuzzed too. Nothing may panic; parsed parameters are within bounds and
//! hold only values a row can hold; the next page's query string parses back to the same ones.

#![no_main]

use std::sync::LazyLock;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use shared::error::ApiError;
use shared::http::parse_query;
use tasks::domain::parse_task_id;
use tasks::routes::list::params::{After, ListParams, RawListQuery, SortKey, MAX_LIMIT};
use time::OffsetDateTime;
use tower::ServiceExt;

const SORTS: [&str; 6] = [
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "title",
    "-title",
];

const NANOS: i128 = 1_000_000_000;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

/// The tasks routes' path patterns, with the handlers' own path extraction and id parsing.
static ROUTER: LazyLock<Router> = LazyLock::new(|| {
    async fn list(path: Result<Path<String>, PathRejection>) -> StatusCode {
        match path {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
    async fn one(path: Result<Path<(String, String)>, PathRejection>) -> StatusCode {
        match path {
            Ok(Path((_, id))) => match parse_task_id(&id) {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
            },
            Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
    Router::new()
        .route("/api/{user_id}/tasks", get(list))
        .route("/api/{user_id}/tasks/{id}", get(one))
        .route("/api/{user_id}/tasks/{id}/complete", get(one))
});

fn listing(query: &str) -> Result<ListParams, ApiError> {
    match parse_query::<RawListQuery>(query) {
        Ok(raw) => ListParams::parse(raw),
        Err(error) => Err(error),
    }
}

/// Bounds every parsed listing holds, and the next page's query string round trip.
fn check_params(params: &ListParams, after: Option<After>) {
    assert!((1..=MAX_LIMIT).contains(&params.limit));
    if let Some(q) = &params.search {
        assert!(q.chars().count() <= 200 && !q.contains('\0') && !q.trim().is_empty());
        let pattern = params.like_pattern().expect("a pattern for a search");
        assert!(pattern.len() >= q.len());
    }
    // A cursor holds only what a task row can: a title without NUL, a time PostgreSQL's
    // timestamptz accepts (it refuses years before 4713 BC).
    match &params.after {
        Some(After::Title(title, _)) => assert!(!title.contains('\0'), "NUL in a title cursor"),
        Some(After::Time(at, _)) => assert!(at.year() >= -4712, "cursor time {at} out of range"),
        None => {}
    }
    if let Some(after) = after.or_else(|| params.after.clone()) {
        let next = params.next_query(&after);
        let again = listing(&next).unwrap_or_else(|e| panic!("next page {next:?} refused: {e:?}"));
        assert_eq!(
            again.after.as_ref(),
            Some(&after),
            "cursor round trip via {next:?}"
        );
        assert_eq!(
            (again.completed, &again.search, again.sort, again.limit),
            (params.completed, &params.search, params.sort, params.limit),
            "filters round trip via {next:?}"
        );
    }
}

fn refusal_points_at(error: &ApiError, place: &str) {
    match error {
        ApiError::Validation { errors, .. } => {
            assert!(errors
                .iter()
                .all(|e| e.loc.first().map(String::as_str) == Some(place)))
        }
        other => panic!("a query error that is not a 422: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // The whole input as the listing's query string.
    match listing(&text) {
        Ok(params) => {
            check_params(&params, None);
            // A cursor for a page ending at an arbitrary title or time round-trips too.
            let id = data.len() as i64 - 7;
            let after = match params.sort.key {
                // Any title a row can hold: PostgreSQL text holds no NUL.
                SortKey::Title => After::Title(text.replace('\0', ""), id),
                _ => {
                    let mut bits = [0u8; 16];
                    for (slot, byte) in bits.iter_mut().zip(data) {
                        *slot = *byte;
                    }
                    // Any instant of the years 1 to 9999, to the nanosecond.
                    let first = -62_135_596_800 * NANOS;
                    let span = (253_402_300_800 + 62_135_596_800) * NANOS;
                    let nanos = first + (u128::from_le_bytes(bits) % span as u128) as i128;
                    After::Time(
                        OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("in range"),
                        id,
                    )
                }
            };
            check_params(&params, Some(after));
        }
        Err(error) => refusal_points_at(&error, "query"),
    }

    // The whole input as the cursor, under every sort.
    for sort in SORTS {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sort", sort)
            .append_pair("cursor", &text)
            .finish();
        match listing(&query) {
            Ok(params) => {
                assert!(params.after.is_some());
                assert_eq!(params.sort.as_param(), sort);
                check_params(&params, None);
            }
            Err(error) => refusal_points_at(&error, "query"),
        }
    }

    // The input as the text inside a cursor (what base64 wraps), under every sort.
    let wrapped = URL_SAFE_NO_PAD.encode(data);
    for sort in SORTS {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sort", sort)
            .append_pair("cursor", &wrapped)
            .finish();
        match listing(&query) {
            Ok(params) => check_params(&params, None),
            Err(error) => refusal_points_at(&error, "query"),
        }
    }

    // The task id of a path.
    match parse_task_id(&text) {
        Ok(id) => assert_eq!(id.to_string().trim_start_matches('-'), {
            let digits = text.trim_start_matches(['+', '-']).trim_start_matches('0');
            if digits.is_empty() {
                "0"
            } else {
                digits
            }
        }),
        Err(error) => refusal_points_at(&error, "path"),
    }

    // The admin listing's query and cursor.
    let _ = parse_query::<auth::handlers::admin::ListQuery>(&text);
    for cursor in [&*text, &wrapped] {
        if let Some((at, _)) = auth::handlers::admin::decode_cursor(cursor) {
            assert!(at.year() >= -4712, "admin cursor time {at} out of range");
        }
    }

    // The input as the rest of a path under /api/, through axum's routing and extraction.
    if let Ok(uri) = http::Uri::try_from(format!("/api/{text}")) {
        let request = http::Request::get(uri)
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let response = RUNTIME
            .block_on(ROUTER.clone().oneshot(request))
            .expect("infallible");
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::NOT_FOUND
            ]
            .contains(&response.status()),
            "{:?}",
            response.status()
        );
    }
});
