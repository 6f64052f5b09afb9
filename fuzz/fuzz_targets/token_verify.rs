//! Bearer tokens: arbitrary input through the `Authorization` header parser, our access-token
//! verification (`shared::token::TokenKeys::verify`) and the tasks function's Better Auth check,
//! both as the token itself and as the claims (and header) of a token signed with the right
//! secret, so that claim parsing and validation are reached too. Nothing may panic; whatever
//! verifies must carry our claims; a token we issue verifies with exactly what we put in it, and
//! changing any one byte of it makes it fail.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use shared::token::{unix_now, AccessClaims, TokenKeys, ACCESS_TOKEN_TYPE, LEEWAY};
use shared::config::JwtConfig;
use shared::http::bearer_token;
use shared::secrecy::SecretString;
use tasks::better_auth::BetterAuthKey;
use uuid::Uuid;

const SECRET: &str = "fuzz-secret-fuzz-secret-fuzz-secret-!!";
const BETTER_AUTH_SECRET: &str = "better-auth-fuzz-secret-better-auth-fuzz";
const ISSUER: &str = "tasks-api";

static KEYS: LazyLock<TokenKeys> = LazyLock::new(|| {
    TokenKeys::new(&JwtConfig {
        algorithm: shared::config::TokenAlgorithm::HS256,
        secret: Some(SecretString::from(SECRET)),
        previous_secret: None,
        signing_key: None,
        public_keys: None,
        issuer: ISSUER.into(),
        audience: ISSUER.into(),
        access_token_ttl: Duration::from_secs(1800),
        better_auth_secret: None,
    })
});

static BETTER_AUTH: LazyLock<BetterAuthKey> =
    LazyLock::new(|| BetterAuthKey::new(BETTER_AUTH_SECRET.as_bytes()));

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Subject and role of a token we issue, which must verify with exactly them.
    subject: String,
    role: String,
    /// One byte of that token replaced: at `position` (modulo its length) by `byte`.
    position: usize,
    byte: u8,
    /// A Better Auth token's subject, in `sub` or (when `in_user_id`) in `userId`.
    better_auth_subject: String,
    in_user_id: bool,
    /// The JOSE header of the tokens signed around `raw` (a plain HS256 one when absent).
    header: Option<&'a [u8]>,
    /// Presented as is: as a token, and as an `Authorization` header value; and as the claims of
    /// a token signed with our secret, and of one signed with Better Auth's.
    raw: &'a [u8],
}

/// What every token that passes `verify` must hold, whatever it came from.
fn check_verified(claims: &AccessClaims) {
    let now = unix_now();
    assert_eq!(claims.typ, ACCESS_TOKEN_TYPE);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, ISSUER);
    assert!(
        claims.exp.saturating_add(LEEWAY.as_secs()) >= now,
        "expired token accepted"
    );
    assert!(
        claims.iat <= now + LEEWAY.as_secs(),
        "token from the future accepted"
    );
}

/// Our verification and the Better Auth one on any string: no panic, and only sound results.
fn present(token: &str) {
    if let Ok(claims) = KEYS.verify(token) {
        check_verified(&claims);
    }
    if let Some(subject) = BETTER_AUTH.subject(token) {
        assert!(!subject.is_empty() && subject.chars().count() <= 255 && !subject.contains('\0'));
    }
}

/// `header.payload.signature`, HS256-signed with `secret` whatever the header and payload hold.
fn signed(header: Option<&[u8]>, payload: &[u8], secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(header.unwrap_or(br#"{"alg":"HS256","typ":"JWT"}"#));
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
        .expect("signing cannot fail");
    format!("{message}.{signature}")
}

fn better_auth_token(subject: &str, in_user_id: bool) -> String {
    let claim = if in_user_id { "userId" } else { "sub" };
    let claims = serde_json::json!({ claim: subject, "exp": unix_now() + 600 });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(BETTER_AUTH_SECRET.as_bytes()),
    )
    .expect("signing cannot fail")
}

fuzz_target!(|input: Input| {
    // Arbitrary bytes as the token itself, and through the header parser.
    present(&String::from_utf8_lossy(input.raw));
    if let Ok(value) = HeaderValue::from_bytes(input.raw) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        if let Ok(token) = bearer_token(&headers) {
            assert!(!token.is_empty() && token.trim() == token, "{token:?}");
            present(token);
        }
    }

    // Arbitrary claims under a valid signature, ours and Better Auth's.
    present(&signed(input.header, input.raw, SECRET));
    present(&signed(input.header, input.raw, BETTER_AUTH_SECRET));

    // A token we issue carries exactly its subject and role...
    let session = Uuid::from_u128(input.position as u128);
    let token = KEYS
        .issue(&input.subject, session, &input.role)
        .expect("issuing cannot fail");
    let claims = KEYS.verify(&token).expect("our own token must verify");
    check_verified(&claims);
    assert_eq!(
        (claims.sub.as_str(), claims.sid, claims.role.as_str()),
        (input.subject.as_str(), session, input.role.as_str())
    );
    // ...is never a Better Auth token (another secret)...
    assert_eq!(BETTER_AUTH.subject(&token), None);
    // ...and any one byte changed breaks it.
    let mut mutated = token.clone().into_bytes();
    let position = input.position % mutated.len();
    if mutated[position] != input.byte {
        mutated[position] = input.byte;
        if let Ok(mutated) = String::from_utf8(mutated) {
            assert!(
                KEYS.verify(&mutated).is_err(),
                "a token with byte {position} changed still verifies: {mutated}"
            );
        }
    }

    // A Better Auth token gives its subject when usable, and is never one of ours.
    let subject = &input.better_auth_subject;
    let token = better_auth_token(subject, input.in_user_id);
    let usable = !subject.is_empty() && subject.chars().count() <= 255 && !subject.contains('\0');
    assert_eq!(BETTER_AUTH.subject(&token), usable.then(|| subject.clone()));
    assert!(KEYS.verify(&token).is_err());
});
