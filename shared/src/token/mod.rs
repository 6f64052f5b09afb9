//! The token rule, in one place. An access token is accepted when, in this order:
//!
//! 1. **Its shape passes the JOSE pre-check** ([`precheck`]), whoever issued it: at most 8 KiB,
//!    three base64url parts, a header of at most 1 KiB with no duplicate members, an `alg` that is
//!    a string and not `none`, no `crit`, no key or key location carried by the token (`jwk`,
//!    `jku`, `x5u`, `x5c`), no `b64` or `zip`, a `kid` of at most 128 characters, an `exp` that is
//!    present and numeric, and no `nbf` or `iat` in the future (beyond [`LEEWAY`], 5 s).
//! 2. **Its `kid` names a key the verifier holds** ([`keys::TokenKeys`] for ours: the signing key,
//!    the next one and the previous one of the ring ([`ring`]), or the HS256 secret and
//!    `JWT_PREVIOUS_SECRET`). A token without `kid` (minted before kids) is tried against the HS256
//!    secrets only.
//! 3. **The key decides the algorithm**, never the header (RFC 8725 §3.1, [`jwks::key_algorithm`]):
//!    a header naming another algorithm than its key's fails, so an HS256 header cannot verify
//!    against a public key, nor EdDSA under an HS256 `kid`.
//! 4. **The signature and every claim check out**: `exp` (with the leeway), `iss`, `aud`, `sub`,
//!    `sid`, `role`, `iat`, and `typ` = `access` (no other kind of token signed with the same key).
//! 5. **Its session is live** (ours only): the `live_sessions` view (schema/migrations/0012) — not
//!    revoked, not expired, its user neither disabled nor deleted. Every statement that acts for
//!    the caller joins that view in the same round trip, so sign-out, password change, disable and
//!    delete take effect on the very next request.
//!
//! Better Auth's tokens (the tasks function, `tasks::better_auth`) take the same pre-check (1), then
//! either HS256 with `BETTER_AUTH_SECRET` or a key of Better Auth's JWKS chosen by `kid` whose
//! algorithm, again, comes from the key ([`jwks::KeySet`]) (2, 3), then their issuer, audience and
//! expiry (4). They carry no session of ours (5): Better Auth owns their lifetime. Every failure
//! is the same 401 to the client ("Token has expired" when that alone is wrong); the reason is
//! logged at debug level only.
//!
//! Steps 1-4 are done once per token per execution environment: a token that passed them is
//! remembered ([`verified_cache`], keyed by a digest of the whole token) with the key that verified
//! it, and later requests with the same bytes skip the signature check as long as that key is
//! still held and `exp`/`nbf` still hold against the clock. Step 5 is never cached.

pub mod jwks;
pub mod keys;
pub mod precheck;
pub mod ring;
pub mod verified_cache;

pub use keys::{secret_kid, unix_now, AccessClaims, TokenKeys, ACCESS_TOKEN_TYPE};
pub use precheck::{Refused, LEEWAY};
