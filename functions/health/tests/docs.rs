//! The OpenAPI document is the code's routes, no more and no fewer, with every body, answer and
//! security requirement in place; `/openapi.json`, `/docs` and `/redoc` serve it.

use std::collections::BTreeSet;

use axum::body::{to_bytes, Body};
use health::{app, HealthState};
use http::{Request, StatusCode};
use serde_json::Value;
use test_support::routes::ROUTES;
use test_support::TestDb;
use tower::ServiceExt;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The committed document the function serves (the xtask crate's test keeps it equal to the code).
fn document() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).unwrap()
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, String, &Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| (method.to_uppercase(), path.clone(), operation))
            })
        })
}

#[test]
fn the_document_lists_exactly_the_routes_the_functions_serve() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
}

#[test]
fn it_is_openapi_3_1_with_bearer_and_oauth2_password_security() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        schemes["oauth2_password"]["flows"]["password"]["tokenUrl"],
        "/auth/token"
    );
}

#[test]
fn every_operation_documents_its_answers_and_who_may_call_it() {
    let doc = document();
    let public = [
        "/health",
        "/docs",
        "/redoc",
        "/docs/assets/{file}",
        "/openapi.json",
        "/auth/register",
        "/auth/login",
        "/auth/token",
        "/auth/refresh",
        "/auth/password-reset",
        "/auth/password-reset/confirm",
        "/auth/verify-email",
        "/auth/verify-email/resend",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/register",
        "/token",
        "/auth/login/second-factor",
        "/auth/passkey/options",
        "/auth/passkey",
        "/auth/oidc/{provider}/authorize",
        "/auth/oidc/{provider}/callback",
    ];
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        // A sign-in through a provider answers with redirects (302) as its success.
        assert!(
            responses
                .keys()
                .any(|status| status.starts_with('2') || status == "302"),
            "{method} {path} has no success answer"
        );
        assert!(responses.contains_key("500"), "{method} {path} lacks 500");
        let secured = operation["security"]
            .as_array()
            .is_some_and(|list| !list.is_empty());
        assert_eq!(
            secured,
            !public.contains(&path.as_str()),
            "{method} {path}: security"
        );
        if secured {
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
        }
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("422"), "{method} {path} lacks 422");
        }
        for (status, answer) in responses {
            if status.as_str() >= "400" && path != "/health" {
                // One problem shape, but for the password step of an account with a second factor:
                // a problem whose extension members carry the challenge.
                let expected = if status == "403"
                    && ["/auth/login", "/auth/token", "/token"].contains(&path.as_str())
                {
                    "#/components/schemas/SecondFactorRequired"
                } else {
                    "#/components/schemas/Problem"
                };
                assert_eq!(
                    answer["content"]["application/problem+json"]["schema"]["$ref"], expected,
                    "{method} {path} {status}"
                );
            }
        }
    }
}

/// Every `$ref` in the document names a schema that is in it.
#[test]
fn every_reference_resolves() {
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "expected many references, got {found:?}");
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is not defined"
        );
    }
}

#[test]
fn request_bodies_carry_the_validation_rules() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["RegisterBody"]["properties"]["password"]["minLength"],
        8
    );
    assert_eq!(schemas["RegisterBody"]["additionalProperties"], false);
    assert_eq!(
        schemas["RegisterBody"]["required"],
        serde_json::json!(["email", "password"])
    );
    assert_eq!(schemas["NewTask"]["properties"]["title"]["maxLength"], 200);
    let token = &doc["paths"]["/auth/token"]["post"]["requestBody"]["content"];
    assert!(token.get("application/x-www-form-urlencoded").is_some());
}

async fn get(path: &str) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    get_with(path, &[]).await
}

async fn get_with(
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let database = TestDb::new().await;
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(HealthState::new(database.pool()))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        to_bytes(response.into_body(), usize::MAX).await.unwrap(),
    )
}

#[tokio::test]
async fn openapi_json_serves_the_document() {
    let (status, headers, body) = get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, document());
}

/// The `src`/`href` URLs of a page's scripts and style sheets.
fn linked(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        .map(str::to_owned)
        .collect()
}

async fn page(path: &str, marker: &str) -> String {
    let (status, headers, body) = get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let page = String::from_utf8(body.to_vec()).unwrap();
    assert!(page.contains(marker), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    let assets = linked(&page);
    assert!(!assets.is_empty(), "{page}");
    for url in assets {
        assert!(url.starts_with("/docs/assets/"), "{url} is not ours");
        let (status, _, _) = get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
    }
    page
}

#[tokio::test]
async fn docs_serves_a_swagger_ui_page_on_the_document_with_its_own_assets() {
    let page = page("/docs", "SwaggerUIBundle").await;
    assert!(page.contains("url: \"/openapi.json\""));
}

#[tokio::test]
async fn redoc_serves_a_redoc_page_on_the_document_with_its_own_assets() {
    page("/redoc", r#"<redoc spec-url="/openapi.json">"#).await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("a gzip stream");
    plain
}

#[tokio::test]
async fn assets_are_sent_gzipped_to_clients_that_take_gzip_and_cached_for_good() {
    for asset in health::assets::ALL {
        let (status, headers, body) =
            get_with(&asset.url(), &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(status, StatusCode::OK, "{}", asset.name);
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["vary"], "accept-encoding");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let expected = if asset.name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(headers["content-type"], expected);
        assert_eq!(gunzip(&body), asset.decompressed().unwrap());
    }
}

#[tokio::test]
async fn assets_are_sent_plain_to_clients_that_refuse_gzip() {
    for accept in [None, Some("identity"), Some("br, gzip;q=0")] {
        let headers: Vec<_> = accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let (status, answer, body) = get_with(&health::assets::REDOC_JS.url(), &headers).await;
        assert_eq!(status, StatusCode::OK);
        assert!(answer.get("content-encoding").is_none(), "{accept:?}");
        assert!(
            body.starts_with(b"/*") || body.starts_with(b"!"),
            "{accept:?}"
        );
        assert_eq!(body, health::assets::REDOC_JS.decompressed().unwrap());
    }
}

#[tokio::test]
async fn an_unknown_asset_is_a_404_problem() {
    let (status, headers, _) = get("/docs/assets/swagger-ui-bundle-0.0.1.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
}

/// Generated clients name their functions after operation ids, so each is a unique camelCase verb
/// phrase (`getCurrentUser`, not `me`).
#[test]
fn operation_ids_are_unique_camel_case_function_names() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(
            id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: {id} is not camelCase"
        );
        assert!(seen.insert(id.to_owned()), "{id} is used twice");
    }
    let id = |method: &str, path: &str| doc["paths"][path][method]["operationId"].clone();
    assert_eq!(id("post", "/auth/password-reset"), "requestPasswordReset");
    assert_eq!(
        id("post", "/auth/password-reset/confirm"),
        "confirmPasswordReset"
    );
    assert_eq!(id("get", "/users/me"), "getCurrentUser");
    assert_eq!(id("post", "/auth/token"), "issueToken");
    assert_eq!(id("get", "/api/{user_id}/tasks"), "listTasks");
}

/// The token form is one schema per grant: the password grant needs `username` and `password`,
/// the refresh grant `grant_type=refresh_token` and `refresh_token`, the code grant (a provider
/// sign-in's one-time code) `grant_type=authorization_code` and `code`.
#[test]
fn the_token_form_is_one_of_the_three_grants() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let body = &doc["paths"]["/auth/token"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(body["$ref"], "#/components/schemas/TokenRequest");
    let grants: Vec<&str> = schemas["TokenRequest"]["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|grant| grant["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        grants,
        [
            "#/components/schemas/PasswordGrant",
            "#/components/schemas/RefreshTokenGrant",
            "#/components/schemas/AuthorizationCodeGrant"
        ]
    );
    assert_eq!(
        schemas["PasswordGrant"]["required"],
        serde_json::json!(["username", "password"])
    );
    assert_eq!(
        schemas["RefreshTokenGrant"]["required"],
        serde_json::json!(["grant_type", "refresh_token"])
    );
    assert_eq!(
        schemas["RefreshTokenGrantType"]["enum"],
        serde_json::json!(["refresh_token"])
    );
    assert_eq!(
        schemas["AuthorizationCodeGrant"]["required"],
        serde_json::json!(["grant_type", "code"])
    );
}
