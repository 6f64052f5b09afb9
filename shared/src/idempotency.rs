//! Exactly-once creates with an `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header,
//! as Stripe's API and Powertools for AWS Lambda do it): a retried `POST` whose first answer was lost
//! gets that answer again instead of making a second row.
//!
//! The record lives in PostgreSQL (`idempotency_keys`, migrations/0011), because Lambda instances
//! share no memory. A request with a key opens a transaction ([`crate::db::Db::begin`]) and claims
//! the key in it ([`begin`]): one statement that inserts a claim, or takes over an expired record
//! (or a claim left by an older release), and sweeps a few expired rows on the way — no cron
//! needed. The claimant does its work and stores the answer ([`Claim::store`]) in the same
//! transaction, and commits: the claim, the work and the answer are one commit, so a key's outcome
//! is never half-known. After a failure whose outcome the client never heard (a 503 whose commit
//! went through) a retry replays the answer; after a rollback nothing of the first try is left and
//! the retry runs the work once. A second request with the same key waits at the claim for the
//! first to commit or roll back (a committed claim without an answer, from a release before this
//! one, is answered 409, "still in flight"); afterwards, for 24 hours, the
//! same request is answered with the stored status, `Location` and body, and a different request
//! with 422. Keys are scoped to an operation and a caller: one caller's key never replays another's
//! answer.

use axum::extract::FromRequestParts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::db::{Queries, Transaction};
use crate::error::{ApiError, FieldError};

/// The request header, as the draft and Stripe name it.
pub const HEADER: &str = "idempotency-key";

/// Set on a replayed answer (Stripe's name), so a client can tell a replay from a first answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Longest key (Stripe's limit); a UUID is 36 characters.
pub const MAX_KEY_CHARS: usize = 255;

/// How long an answer is kept, and so how long a retry is recognised.
pub const RETENTION_HOURS: i32 = 24;

/// How long a claim holds its key. Longer than any request may run (the functions time out after
/// 10 seconds), so a live claim is never taken over; a request that died frees its key after this.
pub const LEASE_SECS: f64 = 60.0;

/// Expired rows each claim deletes: each claim adds at most one row, so none pile up.
const SWEEP_ROWS: i64 = 8;

/// The operations that accept a key (the `operation` column's values, the OpenAPI operation ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateTask,
    RegisterUser,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::CreateTask => "createTask",
            Self::RegisterUser => "registerUser",
        }
    }
}

/// The `Idempotency-Key` header, when the request carries one. A malformed key is a 422 (the same
/// answer as any other invalid input, with `loc: ["header", "Idempotency-Key"]`).
///
/// The draft sends the key as a Structured Field string (`"8e03978e-..."`), Stripe and most clients
/// as the bare value; both spellings are one key. A key is 1 to 255 visible ASCII characters other
/// than a comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// The key in `headers`, or `None` when the header is absent.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(Self(None));
        };
        if values.next().is_some() {
            return Err(invalid_key("Send one Idempotency-Key header, not several"));
        }
        let raw = value
            .to_str()
            .map_err(|_| invalid_key("Idempotency-Key must be visible ASCII characters"))?;
        parse_key(raw).map(|key| Self(Some(key)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)
    }
}

/// The header in the OpenAPI document of each operation that takes it.
#[derive(utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct IdempotencyKeyParam(
    /// Makes a retry of this request safe: the same key with the same request within 24 hours
    /// gets the first answer again (status, `Location`, body; marked `Idempotent-Replayed: true`)
    /// and creates nothing; the same key with a different request is a 422, and while the first
    /// request still runs a 409 with `Retry-After`. Keys belong to their caller. A UUID is a good
    /// key; the Structured Field form `"..."` is the same key.
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = r"^[\x21-\x2B\x2D-\x7E]+$",
        example = "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )]
    pub Option<String>,
);

fn invalid_key(message: &str) -> ApiError {
    ApiError::invalid_field(FieldError::new(
        &["header", "Idempotency-Key"],
        message,
        "value_error",
    ))
}

/// The key of a header value: the contents of a Structured Field string, or the bare value.
fn parse_key(raw: &str) -> Result<String, ApiError> {
    let key = sf_string_contents(raw).unwrap_or(raw);
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return Err(invalid_key(&format!(
            "Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_key(
            "Idempotency-Key must be visible ASCII characters, without spaces",
        ));
    }
    // API Gateway joins repeated headers with commas: a comma means two keys were sent.
    if key.contains(',') {
        return Err(invalid_key("Send one Idempotency-Key header, not several"));
    }
    Ok(key.to_owned())
}

/// `"abc"` → `abc`, for a quoted string whose contents need no escape (RFC 8941 §3.3.3; `""` is the
/// empty key); anything else is taken as a bare key.
fn sf_string_contents(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then_some(inner)
}

/// What makes two requests "the same request": SHA-256 over each part, length-prefixed so no two
/// different lists of parts hash alike. Callers pass the parsed, normalised values (not the raw
/// body, so a re-serialised retry still matches) and never a password.
pub fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// Who a key belongs to, hashed to a fixed size for the index (a Better Auth subject may be long).
fn caller_hash(caller: &str) -> Vec<u8> {
    Sha256::digest(caller.as_bytes()).to_vec()
}

/// An answer a create gives, in the form it is stored and replayed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    /// JSON.
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: Serialize>(status: StatusCode, location: Option<String>, value: &T) -> Self {
        Self {
            status,
            location,
            body: serde_json::to_vec(value).expect("response bodies serialise"),
        }
    }

    fn into_http(self, replayed: bool) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(value) = self
            .location
            .and_then(|location| HeaderValue::from_str(&location).ok())
        {
            headers.insert(header::LOCATION, value);
        }
        if replayed {
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        response
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        self.into_http(false)
    }
}

/// An answer stored by an earlier request with the same key and content.
#[derive(Debug)]
pub struct Replay {
    answer: Answer,
    /// The argon2 hash of the secret the first request carried (registration's password): the
    /// caller checks the retry's secret against it before replaying.
    pub secret_hash: Option<String>,
    /// The user the first request made or acted for, when it stored one.
    pub user_id: Option<Uuid>,
}

impl Replay {
    /// The stored answer, marked as a replay.
    pub fn into_response(self) -> Response {
        self.answer.into_http(true)
    }
}

/// What [`begin`] decided.
#[derive(Debug)]
pub enum Begun {
    /// This request holds the key: do the work in the same transaction, [`Claim::store`] the
    /// answer, commit.
    Claimed(Claim),
    /// The same request was answered before: answer it again.
    Replay(Replay),
}

/// A key held by this request.
#[derive(Debug)]
#[must_use = "a claim's answer is stored in its transaction, or the transaction rolls back"]
pub struct Claim {
    operation: Operation,
    caller: Vec<u8>,
    key: String,
    id: Uuid,
}

/// Claims `key` for `operation` on behalf of `caller` with a request of `fingerprint`.
///
/// One round trip when the key is new; two when it was seen before (the claim, then a read of the
/// record that stopped it). Errors: 422 when the key was used with another request, 409 while the
/// request that holds it is still running.
pub async fn begin(
    db: &impl Queries,
    operation: Operation,
    caller: &str,
    key: &str,
    fingerprint: [u8; 32],
) -> Result<Begun, ApiError> {
    let caller = caller_hash(caller);
    let id = Uuid::new_v4();
    // A record that vanishes between the claim and the read belonged to a transaction that
    // rolled back: claim again (twice at most; a third loss means a flood of failing twins, 409).
    for _ in 0..3 {
        let claimed = db
            .query_one(
                "with swept as (
                    delete from idempotency_keys
                     where ctid in (select ctid from idempotency_keys
                                     where expires_at <= now()
                                       and not (operation = $1 and caller = $2 and key = $3)
                                     limit $7 for update skip locked)
                 ), claimed as (
                    insert into idempotency_keys as k
                           (operation, caller, key, fingerprint, claim_id, lease_until, expires_at)
                    values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6),
                            now() + make_interval(hours => $8))
                    on conflict (operation, caller, key) do update
                       set fingerprint = excluded.fingerprint, claim_id = excluded.claim_id,
                           lease_until = excluded.lease_until, expires_at = excluded.expires_at,
                           created_at = now(), secret_hash = null, user_id = null,
                           status = null, location = null, body = null
                     where k.expires_at <= now()
                        or (k.status is null and k.lease_until <= now()
                            and k.fingerprint = excluded.fingerprint)
                    returning 1
                 )
                 select exists (select 1 from claimed)",
                &[
                    (&operation.as_str(), Type::TEXT),
                    (&caller, Type::BYTEA),
                    (&key, Type::TEXT),
                    (&fingerprint.as_slice(), Type::BYTEA),
                    (&id, Type::UUID),
                    (&LEASE_SECS, Type::FLOAT8),
                    (&SWEEP_ROWS, Type::INT8),
                    (&RETENTION_HOURS, Type::INT4),
                ],
            )
            .await?;
        if claimed.get::<_, bool>(0) {
            return Ok(Begun::Claimed(Claim {
                operation,
                caller,
                key: key.to_owned(),
                id,
            }));
        }
        // The insert waited for any request that held the key to commit, so this read sees it.
        let Some(row) = db
            .query_opt(
                "select fingerprint, status, location, body, secret_hash, user_id
                   from idempotency_keys
                  where operation = $1 and caller = $2 and key = $3",
                &[
                    (&operation.as_str(), Type::TEXT),
                    (&caller, Type::BYTEA),
                    (&key, Type::TEXT),
                ],
            )
            .await?
        else {
            continue;
        };
        if row.get::<_, &[u8]>(0) != fingerprint.as_slice() {
            return Err(used_for_another_request());
        }
        let Some(status) = row.get::<_, Option<i16>>(1) else {
            return Err(in_flight());
        };
        let status = u16::try_from(status)
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| {
                anyhow::anyhow!("stored idempotent status {status} is no HTTP status")
            })?;
        return Ok(Begun::Replay(Replay {
            answer: Answer {
                status,
                location: row.get(2),
                body: row.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
            },
            secret_hash: row.get(4),
            user_id: row.get(5),
        }));
    }
    Err(in_flight())
}

/// 422, as the draft asks for a key reused with another request.
pub fn used_for_another_request() -> ApiError {
    invalid_key("This Idempotency-Key was already used with a different request; use a new key for a new request")
}

fn in_flight() -> ApiError {
    ApiError::InFlight(
        "A request with this Idempotency-Key is still being processed; retry it in a moment"
            .to_owned(),
    )
}

impl Claim {
    /// Stores `answer` for retries in the transaction that did the work, so the work and its
    /// answer commit together: after a failure whose outcome the client never heard (a 503 whose
    /// commit went through), the retry finds the answer; after a rollback, it finds no claim and
    /// runs the work once. The caller commits, then gives the answer. `secret_hash` and
    /// `user_id`: see the table's comments.
    pub async fn store(
        self,
        transaction: &Transaction,
        answer: &Answer,
        user_id: Option<Uuid>,
        secret_hash: Option<&str>,
    ) -> Result<(), ApiError> {
        let stored = transaction
            .execute(
                "update idempotency_keys
                    set status = $5, location = $6, body = $7, user_id = $8, secret_hash = $9
                  where operation = $1 and caller = $2 and key = $3 and claim_id = $4",
                &[
                    (&self.operation.as_str(), Type::TEXT),
                    (&self.caller, Type::BYTEA),
                    (&self.key, Type::TEXT),
                    (&self.id, Type::UUID),
                    (&(answer.status.as_u16() as i16), Type::INT2),
                    (&answer.location, Type::TEXT),
                    (&answer.body, Type::BYTEA),
                    (&user_id, Type::UUID),
                    (&secret_hash, Type::TEXT),
                ],
            )
            .await?;
        if stored == 1 {
            Ok(())
        } else {
            // The claim was made in this transaction: nobody else can have taken it.
            Err(anyhow::anyhow!("idempotency claim lost before its answer was stored").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(value: &str) -> Result<Option<String>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
        IdempotencyKey::from_headers(&headers).map(|key| key.0)
    }

    #[test]
    fn bare_and_structured_field_spellings_are_one_key() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(key_of(uuid).unwrap().as_deref(), Some(uuid));
        assert_eq!(
            key_of(&format!("\"{uuid}\"")).unwrap().as_deref(),
            Some(uuid)
        );
        // Not a plain sf-string: taken as it is.
        assert_eq!(key_of(r#""a\"b""#).unwrap().as_deref(), Some(r#""a\"b""#));
        assert_eq!(key_of("\"").unwrap().as_deref(), Some("\""));
    }

    #[test]
    fn absent_is_none_and_malformed_keys_are_422() {
        assert_eq!(
            IdempotencyKey::from_headers(&HeaderMap::new()).unwrap().0,
            None
        );
        for bad in [
            "",
            "a,b",
            "\"\"",
            "with space",
            "tab\tkey",
            &"k".repeat(256),
            &format!("\"{}\"", "k".repeat(256)),
        ] {
            let error = key_of(bad).unwrap_err();
            assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
        assert_eq!(key_of(&"k".repeat(255)).unwrap().unwrap().len(), 255);

        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(HEADER, HeaderValue::from_bytes("clé".as_bytes()).unwrap());
        assert!(IdempotencyKey::from_headers(&non_ascii).is_err());

        let mut two = HeaderMap::new();
        two.append(HEADER, HeaderValue::from_static("a"));
        two.append(HEADER, HeaderValue::from_static("a"));
        assert!(IdempotencyKey::from_headers(&two).is_err());
    }

    #[test]
    fn fingerprints_tell_part_boundaries_apart() {
        assert_eq!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"ab", b"c"]));
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_ne!(fingerprint(&[b"abc"]), fingerprint(&[b"abc", b""]));
    }
}
