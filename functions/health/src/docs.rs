//! The whole API's documentation: `GET /openapi.json` (OpenAPI 3.1, merged from every function's
//! annotated handlers and types) and `GET /docs`, a Swagger UI page like FastAPI's.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use utoipa::OpenApi;

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
        page("This document", "application/json"),
    );
    doc.paths.paths.insert(
        "/docs".to_owned(),
        page("This documentation, browsable (Swagger UI)", "text/html"),
    );
    shared::openapi::complete(&mut doc);
    doc
}

/// The two documentation routes themselves: a GET answering `content_type`.
fn page(summary: &str, content_type: &str) -> utoipa::openapi::PathItem {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::{Content, ObjectBuilder, ResponseBuilder};
    let operation = OperationBuilder::new()
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

/// Swagger UI from its CDN, as FastAPI's `/docs` does: the function ships no UI assets. "Authorize"
/// uses the OAuth2 password flow at `/auth/token`.
const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Auth + tasks API - docs</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout"
});
</script>
</body>
</html>
"##;

pub async fn docs_page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}
