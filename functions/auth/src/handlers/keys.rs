//! What another service needs to verify our access tokens without asking us: the public keys
//! (`/.well-known/jwks.json`, RFC 7517) and the metadata that points at them
//! (`/.well-known/oauth-authorization-server`, RFC 8414). Public keys only, ever; both are
//! cacheable.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AuthState;

/// How long clients and caches may keep the key set. A new signing key is published one rotation
/// before it signs (the README's rotation), so this only has to be shorter than that.
const JWKS_MAX_AGE: &str = "public, max-age=300";
const DISCOVERY_MAX_AGE: &str = "public, max-age=3600";

/// A JSON Web Key Set (RFC 7517 §5): the public keys our access tokens verify with.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct JwksDocument {
    /// Public JWKs (`kty`, `crv`, `x`, `kid`, `alg`, `use`); empty with HS256, whose key is secret.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// The public keys that verify our access tokens, by `kid`: the signing key, the next one and the
/// previous one.
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "auth",
    responses((status = 200, description = "The JSON Web Key Set", body = JwksDocument,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
pub async fn jwks(State(state): State<AuthState>) -> Response {
    json(state.keys.jwks_document().to_owned(), JWKS_MAX_AGE)
}

/// Authorization server metadata (RFC 8414 §2): where our token endpoint and keys are, and what
/// signs our tokens. Every URL comes from configuration (the issuer, when it is a URL), never from
/// the request: a `Host` header cannot point a cached copy at another server (OWASP WSTG-INPV-17).
///
/// There is no OpenID Connect discovery document: we are no OpenID Provider (no authorization
/// endpoint, no ID tokens), and OIDC Discovery 1.0 §3 requires both. Clients that look for one
/// (Spring's `issuer-uri`, oauth4webapi, openid-client) fall back to, or can be told to read, this.
#[derive(Serialize, ToSchema)]
pub struct AuthorizationServerMetadata {
    /// The `iss` of our tokens: this API's public URL when `JWT_ISSUER` is one.
    issuer: String,
    /// `{issuer}/auth/token`; absent when the issuer is not a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    /// `{issuer}/.well-known/jwks.json`; absent when the issuer is not a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    /// Empty: there is no authorization endpoint (tokens come from the password and refresh grants).
    response_types_supported: [&'static str; 0],
    grant_types_supported: [&'static str; 2],
    /// Our clients are public (browsers, CLIs): no client authentication.
    token_endpoint_auth_methods_supported: [&'static str; 1],
    /// The algorithm of our access tokens (not an RFC 8414 member; the JWKS says it per key too).
    access_token_signing_alg_values_supported: [&'static str; 1],
    /// Set, instead of the URLs, when the issuer is not a URL: what to configure.
    #[serde(skip_serializing_if = "Option::is_none")]
    configuration_hint: Option<&'static str>,
}

/// Said in the document instead of URLs guessed from the request.
const NO_PUBLIC_URL: &str = "JWT_ISSUER is not a URL, so this document names no endpoint: set JWT_ISSUER to this API's public URL (for example http://127.0.0.1:9000 locally; the template sets the API Gateway URL)";

/// Where our token endpoint and keys are (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", operation_id = "getAuthorizationServerMetadata", tag = "auth",
    responses((status = 200, description = "The metadata (RFC 8414); without URLs, and `Cache-Control: no-cache`, while `JWT_ISSUER` is not a URL", body = AuthorizationServerMetadata,
        headers(("Cache-Control" = String, description = "`public, max-age=3600`")))))]
pub async fn authorization_server_metadata(State(state): State<AuthState>) -> Response {
    let issuer = state.keys.issuer().to_owned();
    let base = public_base(&issuer);
    let document = AuthorizationServerMetadata {
        token_endpoint: base.map(|base| format!("{base}/auth/token")),
        jwks_uri: base.map(|base| format!("{base}/.well-known/jwks.json")),
        configuration_hint: base.is_none().then_some(NO_PUBLIC_URL),
        issuer: issuer.clone(),
        response_types_supported: [],
        grant_types_supported: ["password", "refresh_token"],
        token_endpoint_auth_methods_supported: ["none"],
        access_token_signing_alg_values_supported: [state
            .keys
            .signing_algorithm()
            .unwrap_or("HS256")],
    };
    let cache = if base.is_some() {
        DISCOVERY_MAX_AGE
    } else {
        "no-cache"
    };
    json(
        serde_json::to_string(&document).expect("serialisable"),
        cache,
    )
}

/// The issuer as a base for URLs, when it is one (`http(s)://host[/path]`, no query or fragment:
/// RFC 8414 §2), without a trailing slash.
fn public_base(issuer: &str) -> Option<&str> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))?;
    let host_given = rest.split('/').next().is_some_and(|host| !host.is_empty());
    let plain = !issuer.contains(['?', '#']) && issuer.bytes().all(|b| b.is_ascii_graphic());
    (host_given && plain).then(|| issuer.trim_end_matches('/'))
}

fn json(body: String, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}
