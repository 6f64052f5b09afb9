//! Request helpers: the JSON body extractor (size limit, content type, unknown fields, field-level
//! 422s), the bearer token, and facts from the API Gateway request context.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::{header, HeaderMap};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Largest request body we read: checked before parsing or hashing anything.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body parsed into `T`. Use `#[serde(deny_unknown_fields)]` on `T` so extra fields
/// (`role`, `id`, `password_hash`) are a 422, never silently ignored.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_content_type(request.headers(), is_json_media_type, "application/json")?;
        let body = LimitedBody::from_request(request, state).await?;
        parse_json(&body.0).map(Json)
    }
}

/// The raw body, refused with 413 when over [`MAX_BODY_BYTES`] (by `Content-Length` first, then by
/// what actually arrived, since a client may lie or omit it).
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        require_identity_encoding(request.headers())?;
        let too_large = ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(too_large);
        }
        axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map(LimitedBody)
            .map_err(|_| too_large)
    }
}

/// 415 for a body with a `Content-Encoding` other than `identity`. We decode none: a gateway or
/// proxy that does would inspect other bytes than the ones we store, and decoding would let a
/// small body expand past the size limit (RFC 9110 §8.4: 415 for an unsupported coding).
pub fn require_identity_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| {
            value.to_str().map_or(true, |value| {
                value
                    .split(',')
                    .map(str::trim)
                    .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
            })
        });
    if encoded {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Encoding is not supported; send the body uncompressed".to_owned(),
        ));
    }
    Ok(())
}

/// `application/json` or any `+json` type, parameters (charset) ignored.
pub fn is_json_media_type(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// 415 unless the request's `Content-Type` satisfies `accepts`.
pub fn require_content_type(
    headers: &HeaderMap,
    accepts: fn(&str) -> bool,
    expected: &str,
) -> Result<(), ApiError> {
    // Two Content-Type headers are contradictory, whatever they say: refused like a wrong one.
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let media_type = values
        .next()
        .filter(|_| values.next().is_none())
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match media_type {
        Some(media_type) if accepts(&media_type) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {expected}"
        ))),
    }
}

/// Parses a JSON object into `T`, turning serde's message into a FastAPI-style field error with a
/// `loc`. Every body of this API is an object: an array is refused even though serde would map it
/// onto a struct's fields by position.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some() && first != Some(&b'{') {
        return Err(ApiError::Validation {
            detail: "Request body must be a JSON object".to_owned(),
            errors: vec![FieldError::new(
                &["body"],
                "Input should be a valid JSON object",
                "type_error",
            )],
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut *deserializer).map_err(json_error)?;
    // One JSON value and nothing after it: `{"title":"x"} {"title":"y"}` is not a body we read
    // half of (a proxy or log reader may read the other half).
    deserializer.end().map_err(|error| ApiError::Validation {
        detail: "Request body is not valid JSON".to_owned(),
        errors: vec![FieldError {
            loc: vec!["body".to_owned()],
            msg: format!("JSON decode error: {}", strip_position(&error)),
            kind: "json_invalid".to_owned(),
        }],
    })?;
    Ok(parsed)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    let mut loc = vec!["body".to_owned()];
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::Validation {
            detail: "Request body is not valid JSON".to_owned(),
            errors: vec![FieldError {
                loc,
                msg: format!("JSON decode error: {}", strip_position(inner)),
                kind: "json_invalid".to_owned(),
            }],
        };
    }
    loc.extend(
        error
            .path()
            .iter()
            .map(|segment| segment.to_string())
            .filter(|segment| segment != "?" && segment != "."),
    );
    let message = strip_position(inner);
    let (kind, field) = if let Some(field) = backticked_after(&message, "missing field ") {
        ("missing", Some(field))
    } else if let Some(field) = backticked_after(&message, "unknown field ") {
        ("extra_forbidden", Some(field))
    } else if message.starts_with("invalid type") {
        ("type_error", None)
    } else {
        ("value_error", None)
    };
    if let Some(field) = field {
        if loc.last() != Some(&field) {
            loc.push(field);
        }
    }
    let msg = match kind {
        "missing" => "Field required".to_owned(),
        "extra_forbidden" => "Extra inputs are not permitted".to_owned(),
        _ => message,
    };
    ApiError::Validation {
        detail: format!("{}: {msg}", loc[1..].join("."))
            .trim_start_matches(": ")
            .to_owned(),
        errors: vec![FieldError {
            loc,
            msg,
            kind: kind.to_owned(),
        }],
    }
}

/// serde_json appends " at line 1 column 9"; clients do not need it in the field message.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    Some(rest.split('`').next()?.to_owned())
}

/// The token from `Authorization: Bearer <token>`; 401 with a clear message otherwise.
///
/// Exactly one `Authorization` header: with two, which one a proxy, a log or we would honour is
/// anyone's guess, so ambiguous credentials are refused. The token must be an RFC 6750 `b64token`,
/// which also refuses two credentials that a gateway joined into one header with a comma.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let invalid = || ApiError::unauthorized("Invalid authorization header");
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
    if values.next().is_some() {
        return Err(ApiError::unauthorized(
            "More than one Authorization header; send exactly one",
        ));
    }
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
    let token = token.trim_start_matches(' ').trim_end_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") || !is_b64token(token) {
        return Err(invalid());
    }
    Ok(token)
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The caller's IP as API Gateway saw it. Never read from `X-Forwarded-For` or any client header:
/// a client can write those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = match parts.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
            _ => None,
        };
        Ok(SourceIp(ip.filter(|ip| !ip.is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct NewTask {
        title: String,
        description: Option<String>,
        completed: Option<bool>,
    }

    fn first_error(error: ApiError) -> FieldError {
        match error {
            ApiError::Validation { errors, .. } => errors.into_iter().next().unwrap(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_json_invalid() {
        let error = first_error(parse_json::<NewTask>(b"{\"title\": ").unwrap_err());
        assert_eq!(error.kind, "json_invalid");
        assert_eq!(error.loc, vec!["body"]);
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let error = first_error(parse_json::<NewTask>(b"{}").unwrap_err());
        assert_eq!(error.kind, "missing");
        assert_eq!(error.loc, vec!["body", "title"]);
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let error =
            first_error(parse_json::<NewTask>(br#"{"title":"a","role":"admin"}"#).unwrap_err());
        assert_eq!(error.kind, "extra_forbidden");
        assert_eq!(error.loc, vec!["body", "role"]);
    }

    #[test]
    fn wrong_type_points_at_the_field() {
        let error =
            first_error(parse_json::<NewTask>(br#"{"title":"a","completed":"yes"}"#).unwrap_err());
        assert_eq!(error.kind, "type_error");
        assert_eq!(error.loc, vec!["body", "completed"]);
    }

    #[test]
    fn non_object_body_is_a_type_error() {
        for body in [&b"[1,2]"[..], b"[\"title\"]", b"  \"text\"", b"42", b"null"] {
            let error = first_error(parse_json::<NewTask>(body).unwrap_err());
            assert_eq!(
                error.kind,
                "type_error",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn empty_body_is_invalid_json() {
        let error = first_error(parse_json::<NewTask>(b"").unwrap_err());
        assert_eq!(error.kind, "json_invalid");
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn content_type_with_charset_is_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(require_content_type(&headers, is_json_media_type, "application/json").is_ok());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let error = require_content_type(&headers, is_json_media_type, "application/json");
        assert!(matches!(error, Err(ApiError::UnsupportedMediaType(_))));
    }

    #[test]
    fn trailing_data_after_the_json_value_is_refused() {
        for body in [
            &br#"{"title":"x"} {"title":"y"}"#[..],
            br#"{"title":"x"}x"#,
            br#"{"title":"x"}}"#,
            br#"{"title":"x"},"#,
        ] {
            let error = first_error(parse_json::<NewTask>(body).unwrap_err());
            assert_eq!(
                error.kind,
                "json_invalid",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_json::<NewTask>(b" {\"title\":\"x\"} \r\n\t ").is_ok());
    }

    #[test]
    fn a_content_encoding_other_than_identity_is_415() {
        let mut headers = HeaderMap::new();
        assert!(require_identity_encoding(&headers).is_ok());
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(require_identity_encoding(&headers).is_ok());
        for coding in [
            "gzip",
            "deflate",
            "br",
            "x-unknown",
            "identity, gzip",
            "GZIP",
        ] {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            assert!(
                matches!(
                    require_identity_encoding(&headers),
                    Err(ApiError::UnsupportedMediaType(_))
                ),
                "{coding} accepted"
            );
        }
        let mut two = HeaderMap::new();
        two.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        two.append(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(require_identity_encoding(&two).is_err());
    }

    #[test]
    fn two_content_types_are_415() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(require_content_type(&headers, is_json_media_type, "application/json").is_err());
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer aaa.bbb.ccc"),
        );
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer ddd.eee.fff"),
        );
        assert!(bearer_token(&headers).is_err());
        let mut same = HeaderMap::new();
        same.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer aaa.bbb.ccc"),
        );
        same.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer aaa.bbb.ccc"),
        );
        assert!(bearer_token(&same).is_err(), "even two equal ones");
    }

    #[test]
    fn joined_or_odd_tokens_are_refused() {
        for value in [
            "Bearer aaa.bbb.ccc,Bearer ddd.eee.fff",
            "Bearer aaa.bbb.ccc, Bearer ddd.eee.fff",
            "Bearer aaa bbb",
            "Bearer aaa\tbbb",
            "Bearer ===",
            "Bearer a=b",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert!(bearer_token(&headers).is_err(), "{value:?} accepted");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer a-b_c~d+e/f.g=="),
        );
        assert_eq!(bearer_token(&headers).unwrap(), "a-b_c~d+e/f.g==");
    }

    #[test]
    fn bearer_token_parsing() {
        let mut headers = HeaderMap::new();
        assert!(bearer_token(&headers).is_err());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def"),
        );
        assert_eq!(bearer_token(&headers).unwrap(), "abc.def");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   xyz"),
        );
        assert_eq!(bearer_token(&headers).unwrap(), "xyz");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer_token(&headers).is_err());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(bearer_token(&headers).is_err());
    }
}

/// For PATCH bodies: `Some(None)` when the field is present and null (clear it), `None` when it is
/// absent (leave it). Use with `#[serde(default, deserialize_with = "present_or_null")]`.
pub fn present_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Query-string parameters parsed into `T`; a bad value is a 422 pointing at `["query", name]`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        parse_query(query).map(Query)
    }
}

/// Parses an `application/x-www-form-urlencoded` string (a query string or a form body).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    parse_urlencoded(query, "query")
}

/// Parses a form body; errors point at `["body", field]`.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::invalid_field(FieldError::new(
            &["body"],
            "Form body is not valid UTF-8",
            "value_error",
        ))
    })?;
    parse_urlencoded(text, "body")
}

fn parse_urlencoded<T: DeserializeOwned>(text: &str, place: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let message = error.inner().to_string();
        let field = backticked_after(&message, "missing field ")
            .or_else(|| backticked_after(&message, "unknown field "))
            .or_else(|| {
                let path = error.path().to_string();
                (path != "." && path != "?").then_some(path)
            });
        let kind = if message.starts_with("missing field") {
            "missing"
        } else if message.starts_with("unknown field") {
            "extra_forbidden"
        } else {
            "value_error"
        };
        let msg = match kind {
            "missing" => "Field required".to_owned(),
            "extra_forbidden" => "Extra inputs are not permitted".to_owned(),
            _ => message,
        };
        let mut loc = vec![place.to_owned()];
        loc.extend(field);
        ApiError::Validation {
            detail: format!("{}: {msg}", loc[1..].join("."))
                .trim_start_matches(": ")
                .to_owned(),
            errors: vec![FieldError {
                loc,
                msg,
                kind: kind.to_owned(),
            }],
        }
    })
}
