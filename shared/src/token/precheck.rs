//! The JOSE rules every verifier applies before its signature check (ours, Better Auth's HS256 and
//! its JWKS tokens): RFC 7515 `crit`, RFC 7519 time claims and RFC 8725's advice, in one place.
//!
//! What is refused, whatever the key: a `crit` header (we implement no extension, so every listed
//! one is unknown to us, RFC 7515 §4.1.11); keys or key locations carried by the token (`jwk`,
//! `jku`, `x5u`, `x5c`: a verifier must never let the token choose its own key, RFC 8725 §3.10);
//! unencoded payloads (`b64`, RFC 7797) and compression (`zip`, JWE only); `alg: none` and an `alg`
//! that is not a string; a `kid` longer than any issuer mints; duplicate header members; a header
//! or token of absurd size; and an `exp` that is absent or not a number, an `nbf` in the future or
//! an `iat` in the future (beyond [`LEEWAY`]). Which algorithm verifies is never taken from the
//! header: each verifier fixes it from its key.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// Clock skew we tolerate on `exp`, `nbf` and `iat`. Issuers and verifiers run on synced clocks.
pub const LEEWAY: Duration = Duration::from_secs(5);

/// Longest token we look at. Ours are about 300 bytes, Better Auth's JWT plugin tokens about 600
/// (an RSA signature adds 350); API Gateway limits headers to 10 KiB anyway.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Longest `kid` we accept: Better Auth's are 32 characters, ours 43 (an RFC 7638 thumbprint).
pub const MAX_KID_CHARS: usize = 128;

/// Longest encoded header: `alg`, `kid` and `typ` fit in a tenth of it.
const MAX_HEADER_BYTES: usize = 1024;

/// The times a token is valid between, as its claims say (RFC 7519 NumericDates): what the
/// pre-check checks, and what a cache of verified tokens checks again at every use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validity {
    pub exp: f64,
    pub nbf: Option<f64>,
}

impl Validity {
    /// Valid at `now` (Unix seconds), with the pre-check's leeway: the same comparisons.
    pub fn holds_at(&self, now: u64) -> bool {
        let (now, leeway) = (now as f64, LEEWAY.as_secs_f64());
        self.exp.is_finite()
            && self.exp + leeway >= now
            && self
                .nbf
                .is_none_or(|nbf| nbf.is_finite() && nbf <= now + leeway)
    }
}

/// Why a token was refused before its signature was checked; logged at debug level only, every
/// case is the same 401 to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a compact JWS (three base64url parts within {MAX_TOKEN_BYTES} bytes)")]
    Malformed,
    #[error("header is not a JSON object with a string alg (or has duplicate members)")]
    BadHeader,
    #[error("alg none")]
    AlgNone,
    #[error("crit header: no extension is understood here")]
    Critical,
    #[error("the token carries its own key or key location ({0})")]
    EmbeddedKey(&'static str),
    #[error("unsupported header parameter ({0})")]
    Unsupported(&'static str),
    #[error("kid longer than {MAX_KID_CHARS} characters")]
    KidTooLong,
    #[error("claims are not a JSON object with a numeric exp")]
    BadClaims,
    #[error("expired")]
    Expired,
    #[error("nbf is in the future")]
    NotYetValid,
    #[error("iat is in the future")]
    IssuedInTheFuture,
}

/// What the checked header says; `alg` is only ever compared with the key's own algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// The token's `exp` and `nbf`, as checked: what a cache of verified tokens checks again at
    /// every use.
    pub validity: Validity,
}

/// Marks a member as present whatever its value (even `null`, which is no valid value for any of
/// the members we refuse).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer)?;
    Ok(true)
}

/// The header members we act on. serde refuses duplicate members of a struct, as RFC 7515 §4
/// allows; other unknown members are ignored (as RFC 7515 asks, unless listed in `crit`).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
    #[serde(default, deserialize_with = "present")]
    zip: bool,
}

/// The time claims; any other claim is the verifier's business. Numbers may be fractional
/// (RFC 7519 NumericDate); a string is no NumericDate.
#[derive(Deserialize)]
struct TimeClaims {
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
}

/// Applies the shared rules to a compact JWS at time `now` (Unix seconds). The signature is the
/// verifier's to check next; nothing here trusts the token, it only refuses.
pub fn precheck(token: &str, now: u64) -> Result<CheckedHeader, Refused> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refused::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refused::Malformed);
    };
    if header.len() > MAX_HEADER_BYTES {
        return Err(Refused::Malformed);
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Refused::Malformed)?;
    let header: RawHeader = parse_object(&header).ok_or(Refused::BadHeader)?;
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(Refused::AlgNone);
    }
    if header.crit {
        return Err(Refused::Critical);
    }
    for (carried, name) in [
        (header.jwk, "jwk"),
        (header.jku, "jku"),
        (header.x5u, "x5u"),
        (header.x5c, "x5c"),
    ] {
        if carried {
            return Err(Refused::EmbeddedKey(name));
        }
    }
    for (carried, name) in [(header.b64, "b64"), (header.zip, "zip")] {
        if carried {
            return Err(Refused::Unsupported(name));
        }
    }
    if header
        .kid
        .as_ref()
        .is_some_and(|kid| kid.chars().count() > MAX_KID_CHARS)
    {
        return Err(Refused::KidTooLong);
    }
    let validity = check_times(payload, now)?;
    Ok(CheckedHeader {
        alg: header.alg,
        kid: header.kid,
        typ: header.typ,
        validity,
    })
}

/// A JSON object as `T`; serde would take an array for a struct too, which no JOSE part may be.
fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Option<T> {
    if !json.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    serde_json::from_slice(json).ok()
}

fn check_times(payload: &str, now: u64) -> Result<Validity, Refused> {
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Refused::Malformed)?;
    let times: TimeClaims = parse_object(&payload).ok_or(Refused::BadClaims)?;
    let (now, leeway) = (now as f64, LEEWAY.as_secs_f64());
    if !times.exp.is_finite() || times.exp + leeway < now {
        return Err(Refused::Expired);
    }
    if times
        .nbf
        .is_some_and(|nbf| !nbf.is_finite() || nbf > now + leeway)
    {
        return Err(Refused::NotYetValid);
    }
    if times
        .iat
        .is_some_and(|iat| !iat.is_finite() || iat > now + leeway)
    {
        return Err(Refused::IssuedInTheFuture);
    }
    let validity = Validity {
        exp: times.exp,
        nbf: times.nbf,
    };
    // The cache's check at every use is this one (exp and nbf): kept equal by construction.
    debug_assert!(validity.holds_at(now as u64));
    Ok(validity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const NOW: u64 = 1_800_000_000;

    fn b64(value: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    fn token(header: &str, claims: Value) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            b64(header.as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    fn claims() -> Value {
        json!({"sub": "u", "iat": NOW, "exp": NOW + 900})
    }

    #[test]
    fn an_ordinary_token_passes_and_tells_its_kid() {
        let checked = precheck(&token(r#"{"alg":"EdDSA","kid":"k1"}"#, claims()), NOW).unwrap();
        assert_eq!(checked.alg, "EdDSA");
        assert_eq!(checked.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn any_crit_header_is_refused() {
        for header in [
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":["http://example.com/ext"],"http://example.com/ext":1}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","crit":null}"#,
        ] {
            assert_eq!(
                precheck(&token(header, claims()), NOW),
                Err(Refused::Critical),
                "{header}"
            );
        }
    }

    #[test]
    fn embedded_keys_and_key_locations_are_refused() {
        for (member, value) in [
            ("jwk", json!({"kty": "oct", "k": "c2VjcmV0"})),
            ("jku", json!("https://evil.example/jwks")),
            ("x5u", json!("https://evil.example/cert")),
            ("x5c", json!(["MIIB"])),
        ] {
            let header = json!({"alg": "RS256", "kid": "k1", member: value}).to_string();
            assert!(
                matches!(
                    precheck(&token(&header, claims()), NOW),
                    Err(Refused::EmbeddedKey(_))
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn alg_none_odd_headers_and_long_kids_are_refused() {
        for (header, refused) in [
            (r#"{"alg":"none"}"#.to_owned(), Refused::AlgNone),
            (r#"{"alg":"NONE"}"#.to_owned(), Refused::AlgNone),
            (r#"{"alg":7}"#.to_owned(), Refused::BadHeader),
            (r#"{"kid":"k"}"#.to_owned(), Refused::BadHeader),
            (
                r#"{"alg":"HS256","alg":"none"}"#.to_owned(),
                Refused::BadHeader,
            ),
            (r#"["HS256"]"#.to_owned(), Refused::BadHeader),
            (
                r#"{"alg":"HS256","b64":false}"#.to_owned(),
                Refused::Unsupported("b64"),
            ),
            (
                r#"{"alg":"HS256","zip":"DEF"}"#.to_owned(),
                Refused::Unsupported("zip"),
            ),
            (
                json!({"alg": "EdDSA", "kid": "k".repeat(MAX_KID_CHARS + 1)}).to_string(),
                Refused::KidTooLong,
            ),
        ] {
            assert_eq!(
                precheck(&token(&header, claims()), NOW),
                Err(refused),
                "{header}"
            );
        }
        let huge = json!({"alg": "EdDSA", "pad": "x".repeat(2000)}).to_string();
        assert_eq!(
            precheck(&token(&huge, claims()), NOW),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn time_claims_are_honoured_with_the_leeway() {
        let leeway = LEEWAY.as_secs();
        let cases = [
            (json!({"iat": NOW, "exp": NOW + 900}), Ok(())),
            (json!({"exp": NOW - leeway}), Ok(())),
            (json!({"exp": NOW - leeway - 1}), Err(Refused::Expired)),
            (json!({"sub": "u"}), Err(Refused::BadClaims)),
            (
                json!({"exp": (NOW + 900).to_string()}),
                Err(Refused::BadClaims),
            ),
            (json!({"exp": NOW + 900, "nbf": NOW + leeway}), Ok(())),
            (
                json!({"exp": NOW + 900, "nbf": NOW + leeway + 1}),
                Err(Refused::NotYetValid),
            ),
            (
                json!({"exp": NOW + 900, "nbf": "soon"}),
                Err(Refused::BadClaims),
            ),
            (json!([NOW + 900]), Err(Refused::BadClaims)),
            (
                json!({"exp": NOW + 900, "iat": NOW + leeway + 1}),
                Err(Refused::IssuedInTheFuture),
            ),
            (json!({"exp": (NOW + 900) as f64 + 0.5}), Ok(())),
        ];
        for (claims, expected) in cases {
            let got = precheck(&token(r#"{"alg":"HS256"}"#, claims.clone()), NOW).map(|_| ());
            assert_eq!(got, expected, "{claims}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            "!!!.e30.x",
            "e30.!!!.x",
            long.as_str(),
        ] {
            assert!(precheck(token, NOW).is_err(), "{token:?}");
        }
    }
}
