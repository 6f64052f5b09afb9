//! What every function's part of the OpenAPI document shares, applied once to the merged document:
//! the security schemes, the problem+json error shape and the error answers every route can give.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{Components, Content, OpenApi, Ref, RefOr, Response};
use utoipa::PartialSchema;

use shared::error::{
    FieldError, Problem, PROBLEM_JSON, PROBLEM_MISCONFIGURED, PROBLEM_NOT_MIGRATED,
};

/// Security scheme for `Authorization: Bearer <access token>`.
pub const BEARER: &str = "bearer";
/// The same tokens obtained through the OAuth2 password flow at `/auth/token` (Swagger's Authorize).
pub const OAUTH2_PASSWORD: &str = "oauth2_password";

/// Operations that read no database (everything else can answer 503 when it is unreachable).
const WITHOUT_DATABASE: &[&str] = &["/docs", "/redoc", "/docs/assets/{file}", "/openapi.json"];

/// Adds the security schemes and error shapes, and completes every operation's error answers:
/// each error response without a body of its own is problem+json; secured routes can answer 401,
/// routes with a body 413 and 415, routes with a body or parameters 422; every route 500 (also
/// the misconfigured problem), and 503 (unreachable with `Retry-After`, or not migrated) when it
/// needs the database.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from /auth/login, /auth/token or /auth/refresh (the tasks routes also take a Better Auth token when BETTER_AUTH_SECRET is set)."))
                .build(),
        ),
    );
    components.add_security_scheme(
        OAUTH2_PASSWORD,
        SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
            "/auth/token",
            Scopes::new(),
        ))])),
    );
    components
        .schemas
        .insert("Problem".to_owned(), Problem::schema());
    components
        .schemas
        .insert("FieldError".to_owned(), FieldError::schema());

    for (path, item) in doc.paths.paths.iter_mut() {
        let needs_database = !WITHOUT_DATABASE.contains(&path.as_str());
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(operation, needs_database);
        }
    }
}

fn complete_operation(operation: &mut Operation, needs_database: bool) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let has_parameters = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty());
    let answers = &mut operation.responses.responses;
    let mut add = |status: u16, description: &str| {
        answers
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    };
    if secured {
        add(
            401,
            "Missing, invalid or expired access token, or the session has ended",
        );
    }
    if has_body {
        add(413, "Request body larger than 64 KiB");
        add(415, "Content-Type is not the one this route reads");
    }
    if has_body || has_parameters {
        add(422, "Invalid input; `errors` lists each field");
    }
    add(
        500,
        &format!(
            "Unexpected error (the cause is logged, never sent); or, with the problem type \
             `{PROBLEM_MISCONFIGURED}`, a setting the function cannot work with or a database \
             refusing DATABASE_URL, answered at once on every request (outside AWS the detail \
             names the setting and the fix, never its value)"
        ),
    );
    if needs_database {
        add(
            503,
            &format!(
                "The database is unreachable: retry after `Retry-After` seconds; or, with the \
                 problem type `{PROBLEM_NOT_MIGRATED}` and no `Retry-After`, the database lacks \
                 this version's migrations"
            ),
        );
    }
    for (status, answer) in answers.iter_mut() {
        let RefOr::T(response) = answer else { continue };
        let status: u16 = status.parse().unwrap_or(0);
        // Errors without a body of their own (health's 503 has one) are problems.
        if status >= 400 && response.content.is_empty() {
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
        }
        if status == 401 {
            response
                .headers
                .insert("WWW-Authenticate".to_owned(), string_header("`Bearer`"));
        }
        if status == 429 || status == 503 {
            response.headers.insert(
                "Retry-After".to_owned(),
                integer_header("Seconds to wait before trying again"),
            );
        }
    }
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(String::schema())
        .description(Some(description))
        .build()
}

fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(u64::schema())
        .description(Some(description))
        .build()
}
