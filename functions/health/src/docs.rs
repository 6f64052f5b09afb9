//! The whole API's documentation: `GET /openapi.json` (OpenAPI 3.1, merged from every function's
//! annotated handlers and types), and `GET /docs` (Swagger UI) and `GET /redoc` (ReDoc) pages
//! like FastAPI's, on the assets the function embeds (`assets`).

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;

use crate::assets;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Auth + tasks API",
        description = "Accounts, sessions with refresh tokens, and per-user tasks. Errors are \
                       RFC 9457 problems (`application/problem+json`) with FastAPI's `detail`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(crate::health),
    tags((name = "health", description = "Liveness and database reachability"))
)]
struct HealthApi;

/// The document of every route of every function. Built on first use, not at cold start.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = HealthApi::openapi();
    doc.merge(auth::openapi::openapi());
    doc.merge(tasks::openapi::openapi());
    doc.paths.paths.insert(
        "/openapi.json".to_owned(),
        documented("getOpenApiDocument", "This document", "application/json"),
    );
    doc.paths.paths.insert(
        "/docs".to_owned(),
        documented(
            "getSwaggerUi",
            "This documentation, browsable (Swagger UI)",
            "text/html",
        ),
    );
    doc.paths.paths.insert(
        "/redoc".to_owned(),
        documented(
            "getRedoc",
            "This documentation, browsable (ReDoc)",
            "text/html",
        ),
    );
    doc.paths
        .paths
        .insert("/docs/assets/{file}".to_owned(), documented_asset());
    shared::openapi::complete(&mut doc);
    doc
}

/// The documentation routes themselves: a GET answering `content_type`.
fn documented(operation_id: &str, summary: &str, content_type: &str) -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::{Content, ObjectBuilder, ResponseBuilder};
    let operation = OperationBuilder::new()
        .operation_id(Some(operation_id))
        .summary(Some(summary))
        .tag("health")
        .response(
            "200",
            ResponseBuilder::new()
                .description(summary)
                .content(content_type, Content::new(Some(ObjectBuilder::new()))),
        );
    utoipa::openapi::PathItem::new(HttpMethod::Get, operation)
}

/// `GET /docs/assets/{file}`: the UIs' scripts and styles (404 for any other name).
fn documented_asset() -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::{Content, ObjectBuilder, Required, ResponseBuilder, Type};
    let summary = "A script or style sheet of the documentation pages (versioned, immutable)";
    let operation = OperationBuilder::new()
        .operation_id(Some("getDocsAsset"))
        .summary(Some(summary))
        .tag("health")
        .parameter(
            ParameterBuilder::new()
                .name("file")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        )
        .response(
            "200",
            ResponseBuilder::new()
                .description(summary)
                .content("text/javascript", Content::new(Some(ObjectBuilder::new())))
                .content("text/css", Content::new(Some(ObjectBuilder::new()))),
        )
        .response("404", ResponseBuilder::new().description("No such asset"));
    utoipa::openapi::PathItem::new(HttpMethod::Get, operation)
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_json()
        .expect("an OpenAPI document always serialises")
});

pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT_JSON.as_str(),
    )
}

/// What the documentation pages may load: only this origin (the embedded assets, `/openapi.json`,
/// and the API calls Swagger's "Try it out" makes), so the pages work where no CDN is reachable
/// and cannot leak a token elsewhere. Inline scripts and styles are the pages' own set-up and the
/// UIs' styling; ReDoc runs its search in a `blob:` worker; Swagger's icons are `data:` images.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // Always revalidated, so a new release's asset URLs reach browsers at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Swagger UI, as FastAPI's `/docs`, from the embedded assets. "Authorize" uses the OAuth2 password
/// flow at `/auth/token`; no validator badge (it would call swagger.io).
static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Auth + tasks API - Swagger UI</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"##,
        css = assets::SWAGGER_UI_CSS.url(),
        js = assets::SWAGGER_UI_JS.url(),
    )
});

pub async fn docs_page() -> Response {
    page(DOCS_PAGE.clone())
}

/// ReDoc, as FastAPI's `/redoc`, from the embedded assets.
static REDOC_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Auth + tasks API - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{js}"></script>
</body>
</html>
"##,
        js = assets::REDOC_JS.url(),
    )
});

pub async fn redoc_page() -> Response {
    page(REDOC_PAGE.clone())
}
