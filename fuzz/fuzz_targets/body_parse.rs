//! Request bodies: arbitrary bytes through the JSON parsing the handlers use (`shared::http::
//! parse_json`, and the `Json` extractor on a built request) into every real body type, through the
//! form parser of `/auth/token`, and, as text, through the auth and task field parsers. Nothing may
//! panic; every refusal is a 422 (415 for a wrong content type) that renders as problem+json.

#![no_main]

use std::sync::LazyLock;

use auth::domain::{DisplayName, Email, Password, PasswordPolicy};
use auth::handlers::account::{DeleteMeBody, RegisterBody, UpdateMeBody};
use auth::handlers::admin::UpdateUserBody;
use auth::handlers::reset::{ConfirmBody, RequestBody};
use auth::handlers::session::{LoginBody, RefreshBody, TokenForm};
use axum::extract::FromRequest;
use axum::response::IntoResponse;
use http::{header, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use shared::error::{ApiError, FieldError};
use shared::http::{parse_form, parse_json, Json, MAX_BODY_BYTES};
use tasks::domain::{TaskDescription, TaskTitle};
use tasks::routes::{CompleteBody, NewTask, TaskChanges};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

/// Content types a client may send; the first byte of the input picks one for the extractor.
const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("Application/Merge-Patch+JSON"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some(""),
    None,
];

/// A parse error must be a 422 pointing into `place`, and must render as a problem+json.
fn check_refusal(error: ApiError, place: &str) {
    match &error {
        ApiError::Validation { detail, errors } => {
            assert!(!detail.is_empty());
            assert!(!errors.is_empty());
            for FieldError { loc, msg, kind } in errors {
                assert_eq!(loc.first().map(String::as_str), Some(place), "{loc:?}");
                assert!(!msg.is_empty() && !kind.is_empty());
            }
        }
        other => panic!("a parse error that is not a 422: {other:?}"),
    }
    render(error, StatusCode::UNPROCESSABLE_ENTITY);
}

fn render(error: ApiError, status: StatusCode) {
    let response = error.into_response();
    assert_eq!(response.status(), status);
    let body = RUNTIME
        .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .expect("an in-memory body");
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("problem+json");
    assert_eq!(problem["status"], status.as_u16());
}

/// `parse_json` into `T`, then the `Json<T>` extractor on a request with that body: the extractor
/// must agree with the parser whenever the content type is JSON.
fn json_body<T: DeserializeOwned>(body: &[u8], content_type: Option<&str>) {
    let parsed = parse_json::<T>(body);
    let parsed_ok = parsed.is_ok();
    if let Err(error) = parsed {
        check_refusal(error, "body");
    }
    let mut request = http::Request::builder().method("POST").uri("/");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(axum::body::Body::from(body.to_vec()))
        .expect("a valid request");
    let is_json = content_type.is_some_and(|ct| {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        shared::http::is_json_media_type(&media)
    });
    match RUNTIME.block_on(Json::<T>::from_request(request, &())) {
        Ok(_) => assert!(
            is_json && parsed_ok,
            "the extractor accepted what the parser refused"
        ),
        Err(error @ ApiError::UnsupportedMediaType(_)) => {
            assert!(!is_json);
            render(error, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        Err(error @ ApiError::PayloadTooLarge { .. }) => {
            assert!(body.len() > MAX_BODY_BYTES);
            render(error, StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(error) => {
            assert!(
                is_json && !parsed_ok,
                "the extractor refused what the parser accepted"
            );
            check_refusal(error, "body");
        }
    }
}

fn field_parsers(text: &str) {
    let trimmed = text.trim();
    match Email::parse(text, "email") {
        Ok(email) => {
            assert_eq!(email.as_str(), trimmed);
            assert!(email.as_str().contains('@'));
            assert!(email.as_str().chars().count() <= Email::MAX_LEN);
            assert!(!email
                .as_str()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()));
            // The canonical key is stable: canonicalising it again changes nothing.
            assert_eq!(
                shared::email::canonical_key(email.key()).as_deref(),
                Some(email.key())
            );
        }
        Err(error) => assert_eq!(error.loc, ["body", "email"]),
    }
    for min_chars in [PasswordPolicy::ABSOLUTE_MIN, 64] {
        let chars = text.chars().count();
        match Password::parse(text, PasswordPolicy { min_chars }, "password") {
            Ok(password) => {
                assert_eq!(password.expose(), text, "never trimmed");
                assert!((min_chars..=PasswordPolicy::MAX_CHARS).contains(&chars));
            }
            Err(error) => assert_eq!(error.loc, ["body", "password"]),
        }
    }
    if let Ok(name) = DisplayName::parse(text) {
        assert_eq!(name.as_str(), trimmed);
        assert!(!name.as_str().is_empty());
        assert!(name.as_str().chars().count() <= DisplayName::MAX_CHARS);
        assert!(!name.as_str().chars().any(char::is_control));
    }
    if let Ok(title) = TaskTitle::parse(text) {
        assert_eq!(title.as_str(), trimmed);
        assert!(!title.as_str().is_empty());
        assert!(title.as_str().chars().count() <= TaskTitle::MAX_CHARS);
        assert!(!title.as_str().contains('\0'));
    }
    assert_eq!(
        TaskDescription::parse(text).is_ok(),
        text.chars().count() <= TaskDescription::MAX_CHARS && !text.contains('\0')
    );
}

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.split_first() {
        Some((first, rest)) => (CONTENT_TYPES[*first as usize % CONTENT_TYPES.len()], rest),
        None => (Some("application/json"), data),
    };

    // The auth function's bodies.
    json_body::<RegisterBody>(body, content_type);
    json_body::<LoginBody>(body, content_type);
    json_body::<RefreshBody>(body, content_type);
    json_body::<UpdateMeBody>(body, content_type);
    json_body::<DeleteMeBody>(body, content_type);
    json_body::<RequestBody>(body, content_type);
    json_body::<ConfirmBody>(body, content_type);
    json_body::<UpdateUserBody>(body, content_type);
    // The tasks function's bodies.
    json_body::<NewTask>(body, content_type);
    json_body::<TaskChanges>(body, content_type);
    json_body::<CompleteBody>(body, content_type);

    // `/auth/token`'s form.
    if let Err(error) = parse_form::<TokenForm>(body) {
        check_refusal(error, "body");
    }

    // The field parsers on the text of the whole input.
    field_parsers(&String::from_utf8_lossy(data));
});
