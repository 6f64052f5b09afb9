//! What another service needs to verify our access tokens without asking us: the public keys
//! (`/.well-known/jwks.json`, RFC 7517) and the discovery document that points at them
//! (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0; what API Gateway's JWT
//! authorizer and standard JWT libraries read). Public keys only, ever; both are cacheable.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
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

/// The subset of OpenID Provider Metadata that verifiers use.
#[derive(Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// The `iss` of our tokens.
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    grant_types_supported: [&'static str; 2],
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: [&'static str; 1],
}

/// Where our keys are and what signs our tokens (OpenID Connect Discovery).
#[utoipa::path(get, path = "/.well-known/openid-configuration", operation_id = "getOpenIdConfiguration", tag = "auth",
    responses((status = 200, description = "The discovery document", body = OpenIdConfiguration,
        headers(("Cache-Control" = String, description = "`public, max-age=3600`")))))]
pub async fn openid_configuration(State(state): State<AuthState>, headers: HeaderMap) -> Response {
    let issuer = state.keys.issuer().to_owned();
    // An issuer that is a URL (as in AWS) is where the documents live; a bare name (the seeds'
    // default) gets the address the caller used.
    let base = if issuer.starts_with("https://") || issuer.starts_with("http://") {
        issuer.trim_end_matches('/').to_owned()
    } else {
        origin_of(&headers)
    };
    let algorithm = state.keys.signing_algorithm().unwrap_or("HS256");
    let document = OpenIdConfiguration {
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/auth/token"),
        issuer,
        grant_types_supported: ["password", "refresh_token"],
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: vec![algorithm],
        token_endpoint_auth_methods_supported: ["none"],
    };
    json(
        serde_json::to_string(&document).expect("serialisable"),
        DISCOVERY_MAX_AGE,
    )
}

/// `http://host` for a local host, `https://host` otherwise (API Gateway serves HTTPS only).
fn origin_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()) && !h.is_empty())
        .unwrap_or("localhost");
    let local = host.starts_with("localhost") || host.starts_with("127.0.0.1");
    format!("{}://{host}", if local { "http" } else { "https" })
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
