//! The one CORS policy: the origins in `CORS_ORIGINS` (comma-separated, seed 003's name) may call
//! the API from a browser, with the methods and headers below. In AWS the HTTP API applies the same
//! list (template.yaml feeds its `CorsOrigins` parameter to both) and answers preflights itself;
//! under `cargo lambda watch --disable-cors` the functions apply it, so an origin refused in AWS is
//! refused locally too. A test keeps these lists and the template's `CorsConfiguration` equal.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::ConfigError;

pub const ALLOW_METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];
/// What a frontend sends: its token, JSON bodies, and the key that makes a create safe to retry.
pub const ALLOW_HEADERS: [&str; 3] = ["authorization", "content-type", "idempotency-key"];
/// What a frontend must read: a new task's address, the listing's next page and total, how long to
/// wait after a 409, 429 or 503, why a token was refused, and that an answer is a replay.
pub const EXPOSE_HEADERS: [&str; 6] = [
    "location",
    "link",
    "x-total-count",
    "retry-after",
    "www-authenticate",
    "idempotent-replayed",
];
/// How long a browser may reuse a preflight answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// The allowed origins from `CORS_ORIGINS`; none when it is unset or empty (then no cross-origin
/// call is allowed). Each must be a bare origin (`https://app.example.com`, `http://localhost:3000`:
/// no path, no trailing slash) since browsers compare it byte for byte; `*` allows any origin.
/// A refused origin is named by its place in the list, not repeated (see `ConfigError`).
pub fn origins(vars: &HashMap<String, String>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = vars.get("CORS_ORIGINS") else {
        return Ok(Vec::new());
    };
    let mut origins = Vec::new();
    for (place, origin) in list
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .enumerate()
    {
        let bare = origin == "*"
            || origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
            });
        if !bare {
            return Err(ConfigError::Invalid {
                name: "CORS_ORIGINS",
                reason: format!(
                    "origin {} of the list is not a bare origin: write each like \
                     https://app.example.com or http://localhost:3000 (a scheme, no path, no \
                     trailing slash), comma-separated",
                    place + 1
                ),
            });
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

/// The policy as a layer, or None when no origin is allowed (no CORS headers at all, as the HTTP
/// API without origins).
pub fn layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).with_context(|| format!("CORS_ORIGINS: {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods(ALLOW_METHODS)
            .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
            .max_age(MAX_AGE),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &str) -> HashMap<String, String> {
        [("CORS_ORIGINS".to_owned(), list.to_owned())].into()
    }

    #[test]
    fn origins_are_a_comma_separated_list_of_bare_origins() {
        assert_eq!(
            origins(&vars(" https://app.example.com, http://localhost:3000 ,")).unwrap(),
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(origins(&vars("*")).unwrap(), ["*"]);
        assert!(origins(&vars("")).unwrap().is_empty());
        assert!(origins(&HashMap::new()).unwrap().is_empty());
    }

    async fn preflight(origin: &str) -> axum::http::Response<axum::body::Body> {
        use tower::ServiceExt;
        let origins = origins(&vars("https://app.example.com")).unwrap();
        let app = axum::Router::new()
            .route("/users/me", axum::routing::get(|| async { "me" }))
            .layer(layer(&origins).unwrap().unwrap());
        let request = axum::http::Request::options("/users/me")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(axum::body::Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_listed_origin_passes_the_preflight_and_another_gets_no_allowance() {
        let allowed = preflight("https://app.example.com").await;
        assert!(allowed.status().is_success());
        let headers = allowed.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert!(headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization"));
        assert_eq!(headers["access-control-max-age"], "600");
        let refused = preflight("https://evil.example.com").await;
        assert!(refused
            .headers()
            .get("access-control-allow-origin")
            .is_none());
    }

    #[test]
    fn anything_a_browser_would_never_match_is_refused_at_start() {
        for bad in [
            "https://app.example.com/",
            "app.example.com",
            "ftp://x",
            "https://",
            "https://a.com/path",
        ] {
            assert!(origins(&vars(bad)).is_err(), "{bad}");
        }
        let error = origins(&vars("http://localhost:3000,https://app.example.com/")).unwrap_err();
        assert_eq!(error.setting(), "CORS_ORIGINS");
        assert!(
            error.to_string().contains("origin 2 of the list"),
            "{error}"
        );
        assert!(!error.to_string().contains("app.example.com/"), "{error}");
    }
}
