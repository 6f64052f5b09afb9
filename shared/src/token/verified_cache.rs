//! Tokens already verified in this execution environment, so that a browser sending the same token
//! for 30 minutes pays for its signature once (as Envoy's JWT filter does with `jwt_cache_config`).
//! Every verifier uses it: ours ([`crate::token::TokenKeys`]) and the tasks function's Better Auth
//! verifiers (HS256 and JWKS).
//!
//! What it must not weaken, and how:
//! - **Keyed by the whole token**: a SHA-256 digest of every byte of it, so a token that differs in
//!   any byte (a tampered payload under a cached twin's signature) is a miss and verified afresh;
//!   never by `kid` or subject.
//! - **Only verified tokens go in**: the verifier inserts after the signature and every claim
//!   checked out; a token that fails is never stored.
//! - **The key must still be held**: each entry remembers the `kid` and the [`KeyIdentity`] of the
//!   key that verified it, and the verifier checks at every hit that its current keys still hold
//!   that key (a rotated-out key, or a Better Auth JWKS refresh that dropped it, ends its cached
//!   tokens at once; they are then verified afresh, and fail).
//! - **Time is checked at every hit**: `exp` and `nbf` against the clock with the same leeway
//!   ([`crate::token::precheck::LEEWAY`]) as the pre-check; a token past either is dropped and
//!   goes through the full check (which then gives its usual answer, "Token has expired").
//! - **The session is not cached**: liveness is checked by every statement in SQL
//!   (`live_sessions`), so sign-out and revocation stay immediate.
//!
//! Bounded in entries ([`MAX_ENTRIES`]) and in bytes ([`MAX_BYTES`]): each entry is charged its
//! table slot, the token's length (its claims, `kid` included, are decoded from the token, so their
//! heap bytes are fewer) and [`ALLOCATION_SLACK`] for the allocator's headers. Whichever bound is
//! reached first triggers one sweep: expired entries go, and if that frees less than an eighth,
//! entries go in the table's order (which follows a per-process random hash seed, so nobody can
//! choose whose entries are evicted) until an eighth is free. A sweep is one pass over the table
//! and buys room for an eighth of it: amortized O(1) per insert. Nobody can flush the cache without
//! validly signed tokens (only those are inserted), and what an eviction costs is one more
//! signature check for that token, never a wrong answer. A plain `HashMap` under a `Mutex` (held
//! for a lookup or an insert, never across an await): no LRU crate needed, since recency is not
//! what protects the cache (a flood of fresh tokens flushes an LRU just as well).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::Algorithm;
use sha2::{Digest as _, Sha256};

use crate::token::precheck::Validity;

/// At most this many tokens are remembered per verifier.
pub const MAX_ENTRIES: usize = 10_000;

/// At most this many bytes are charged to the entries of one cache (see the module's docs): about
/// 2,000 of our EdDSA tokens (~330 bytes, a 312-byte slot, 384 bytes of slack: ~1,030 each). The hash
/// table's slots come on top of the claims' heap: a table holding at most ~2,200 entries has at most
/// 4,096 slots (~1.3 MB for our claims), so one cache stays under about 3.4 MB.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Charged per entry for the allocations its value and `kid` make (glibc's smallest chunk is 32
/// bytes; our claims make up to ten — five strings, `amr` and its three methods, `aal` — a `kid`
/// one more).
pub const ALLOCATION_SLACK: usize = 384;

/// The SHA-256 of a whole token: the key of the cache.
pub type TokenDigest = [u8; 32];

/// The digest a token is cached under.
pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// Which key verified a token: a digest of the key's algorithm and material (a secret, or a public
/// key's RFC 7638 thumbprint), so that a key set refreshed with the same key keeps its tokens
/// cached, and a key replaced under the same `kid` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyIdentity([u8; 32]);

impl KeyIdentity {
    pub fn new(algorithm: Algorithm, material: &[u8]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"tasks-api verifying key:");
        hash.update(format!("{algorithm:?}:").as_bytes());
        hash.update(material);
        Self(hash.finalize().into())
    }
}

/// What a hit gives the verifier: the verified value, and the key it must check it still holds.
#[derive(Debug, Clone)]
pub struct Hit<V> {
    pub value: V,
    /// The token's `kid` (`None` where the verifier tried keys without one).
    pub kid: Option<Arc<str>>,
    pub key: KeyIdentity,
}

struct Entry<V> {
    hit: Hit<V>,
    validity: Validity,
    cost: usize,
}

struct Table<V> {
    entries: HashMap<TokenDigest, Entry<V>>,
    bytes: usize,
}

/// Verified tokens of one verifier, in one execution environment.
pub struct VerifiedCache<V> {
    table: Mutex<Table<V>>,
    max_entries: usize,
    max_bytes: usize,
}

impl<V: Clone> Default for VerifiedCache<V> {
    fn default() -> Self {
        Self::with_bounds(MAX_ENTRIES, MAX_BYTES)
    }
}

impl<V: Clone> VerifiedCache<V> {
    pub fn with_bounds(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                bytes: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The cached verdict for the token of `digest`, if one is cached and valid at `now`; an entry
    /// past its `exp` (or before its `nbf`) is dropped. The caller must still check that it holds
    /// `hit.key` under `hit.kid`, and [`Self::forget`] the digest when it does not.
    pub fn get(&self, digest: &TokenDigest, now: u64) -> Option<Hit<V>> {
        let mut table = self.lock();
        let entry = table.entries.get(digest)?;
        if entry.validity.holds_at(now) {
            return Some(entry.hit.clone());
        }
        table.remove(digest);
        None
    }

    /// Remembers a token that has just been verified, with the key that verified it.
    pub fn insert(&self, digest: TokenDigest, token_len: usize, hit: Hit<V>, validity: Validity) {
        let cost = std::mem::size_of::<(TokenDigest, Entry<V>)>() + token_len + ALLOCATION_SLACK;
        if cost > self.max_bytes {
            return;
        }
        let now = crate::token::unix_now();
        let mut table = self.lock();
        table.remove(&digest);
        if table.entries.len() >= self.max_entries || table.bytes + cost > self.max_bytes {
            table.sweep(now, self.max_entries, self.max_bytes, cost);
        }
        table.bytes += cost;
        table.entries.insert(
            digest,
            Entry {
                hit,
                validity,
                cost,
            },
        );
    }

    /// Drops a token (its key is no longer held).
    pub fn forget(&self, digest: &TokenDigest) {
        self.lock().remove(digest);
    }

    /// How many tokens are cached, and the bytes charged for them.
    pub fn usage(&self) -> (usize, usize) {
        let table = self.lock();
        (table.entries.len(), table.bytes)
    }

    /// Whether `token` is cached (for tests and diagnostics).
    pub fn contains(&self, token: &str) -> bool {
        self.lock().entries.contains_key(&token_digest(token))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<V>> {
        // A panic while holding the lock leaves a consistent table (every update is one step).
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<V> Table<V> {
    fn remove(&mut self, digest: &TokenDigest) {
        if let Some(entry) = self.entries.remove(digest) {
            self.bytes -= entry.cost;
        }
    }

    /// Makes room for an eighth of the bounds (and at least `incoming` bytes): expired entries
    /// first, then entries in the table's (randomly seeded) order.
    fn sweep(&mut self, now: u64, max_entries: usize, max_bytes: usize, incoming: usize) {
        let entry_goal = max_entries - max_entries.div_ceil(8);
        let byte_goal = (max_bytes - max_bytes / 8).min(max_bytes - incoming);
        let mut freed = 0;
        self.entries.retain(|_, entry| {
            let keep = entry.validity.holds_at(now);
            if !keep {
                freed += entry.cost;
            }
            keep
        });
        self.bytes -= freed;
        let mut len = self.entries.len();
        if len <= entry_goal && self.bytes <= byte_goal {
            return;
        }
        let mut bytes = self.bytes;
        self.entries.retain(|_, entry| {
            if len <= entry_goal && bytes <= byte_goal {
                return true;
            }
            len -= 1;
            bytes -= entry.cost;
            false
        });
        self.bytes = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::precheck::LEEWAY;

    const NOW: u64 = 1_800_000_000;

    fn hit(value: u32) -> Hit<u32> {
        Hit {
            value,
            kid: Some("k1".into()),
            key: KeyIdentity::new(Algorithm::EdDSA, b"key one"),
        }
    }

    fn valid_for(seconds: f64) -> Validity {
        Validity {
            exp: crate::token::unix_now() as f64 + seconds,
            nbf: None,
        }
    }

    #[test]
    fn a_token_is_found_by_its_exact_bytes_only() {
        let cache = VerifiedCache::default();
        cache.insert(token_digest("a.b.c"), 5, hit(1), valid_for(600.0));
        let now = crate::token::unix_now();
        assert_eq!(cache.get(&token_digest("a.b.c"), now).unwrap().value, 1);
        assert!(cache.get(&token_digest("a.b.d"), now).is_none());
        assert!(cache.get(&token_digest("a.B.c"), now).is_none());
    }

    #[test]
    fn exp_and_nbf_are_checked_at_every_hit_with_the_leeway() {
        let validity = Validity {
            exp: NOW as f64,
            nbf: Some((NOW - 100) as f64),
        };
        assert!(validity.holds_at(NOW));
        assert!(validity.holds_at(NOW + LEEWAY.as_secs()));
        assert!(!validity.holds_at(NOW + LEEWAY.as_secs() + 1));
        assert!(!validity.holds_at(NOW - 100 - LEEWAY.as_secs() - 1));
        assert!(!Validity {
            exp: f64::NAN,
            nbf: None
        }
        .holds_at(NOW));

        let cache = VerifiedCache::default();
        let digest = token_digest("t");
        cache.insert(digest, 1, hit(1), validity);
        assert!(cache.get(&digest, NOW).is_some());
        assert!(
            cache.get(&digest, NOW + 60).is_none(),
            "expired while cached"
        );
        assert_eq!(cache.usage(), (0, 0), "the expired entry is dropped");
    }

    #[test]
    fn key_identities_differ_by_material_and_algorithm() {
        let one = KeyIdentity::new(Algorithm::RS256, b"material");
        assert_eq!(one, KeyIdentity::new(Algorithm::RS256, b"material"));
        assert_ne!(one, KeyIdentity::new(Algorithm::PS256, b"material"));
        assert_ne!(one, KeyIdentity::new(Algorithm::RS256, b"materiaL"));
    }

    #[test]
    fn entries_and_bytes_never_exceed_the_bounds_under_100k_distinct_tokens() {
        // With bytes to spare the entry bound holds; with the default bounds, the byte bound.
        for (max_bytes, token_len) in [(64 * MAX_BYTES, 10), (MAX_BYTES, 10), (MAX_BYTES, 300)] {
            let cache = VerifiedCache::with_bounds(MAX_ENTRIES, max_bytes);
            let mut peak = (0, 0);
            for n in 0..100_000u32 {
                let token = format!("token-{n}");
                cache.insert(token_digest(&token), token_len, hit(n), valid_for(600.0));
                let (entries, bytes) = cache.usage();
                assert!(entries <= MAX_ENTRIES, "{entries} entries after {n}");
                assert!(bytes <= max_bytes, "{bytes} bytes after {n}");
                peak = (peak.0.max(entries), peak.1.max(bytes));
            }
            // The bound is what limits it, and a full cache keeps most of what it holds.
            let per_entry =
                std::mem::size_of::<(TokenDigest, Entry<u32>)>() + token_len + ALLOCATION_SLACK;
            assert_eq!(
                peak.0,
                MAX_ENTRIES.min(max_bytes / per_entry),
                "{token_len}"
            );
            assert!(cache.usage().0 >= peak.0 * 7 / 8);
            // The last token inserted is always there.
            assert!(cache.contains("token-99999"));
        }
    }

    #[test]
    fn the_slot_of_our_claims_is_the_size_the_memory_bound_is_stated_with() {
        // MAX_BYTES's docs and docs/tokens.md: 312 bytes per slot, 4,096 slots at most.
        let slot = std::mem::size_of::<(TokenDigest, Entry<crate::token::AccessClaims>)>();
        assert!(slot <= 320, "{slot}");
        let fewest_bytes_per_entry = slot + 250 + ALLOCATION_SLACK;
        let most_entries = MAX_BYTES / fewest_bytes_per_entry;
        assert!(most_entries * 8 / 7 <= 4_096, "{most_entries}");
        assert!(4_096 * (slot + 1) + MAX_BYTES < 3_450_000);
    }

    #[test]
    fn a_full_cache_drops_its_expired_entries_first() {
        let cache = VerifiedCache::with_bounds(16, MAX_BYTES);
        for n in 0..8 {
            cache.insert(
                token_digest(&format!("old-{n}")),
                10,
                hit(n),
                valid_for(-60.0),
            );
        }
        for n in 0..8 {
            cache.insert(
                token_digest(&format!("new-{n}")),
                10,
                hit(n),
                valid_for(600.0),
            );
        }
        cache.insert(token_digest("one more"), 10, hit(99), valid_for(600.0));
        assert_eq!(
            cache.usage().0,
            9,
            "the eight expired ones went, nothing else"
        );
        for n in 0..8 {
            assert!(cache.contains(&format!("new-{n}")));
        }
    }

    #[test]
    fn bytes_are_bounded_whatever_the_tokens_size() {
        let cache: VerifiedCache<u32> = VerifiedCache::with_bounds(MAX_ENTRIES, 64 * 1024);
        for n in 0..1_000 {
            cache.insert(
                token_digest(&n.to_string()),
                8 * 1024,
                hit(n),
                valid_for(600.0),
            );
            assert!(cache.usage().1 <= 64 * 1024);
        }
        // A token costing more than the whole budget is simply not cached.
        cache.insert(token_digest("huge"), 100 * 1024, hit(0), valid_for(600.0));
        assert!(!cache.contains("huge"));
    }

    #[test]
    fn forget_drops_one_token_and_its_bytes() {
        let cache = VerifiedCache::default();
        cache.insert(token_digest("x"), 10, hit(1), valid_for(600.0));
        cache.insert(token_digest("y"), 10, hit(2), valid_for(600.0));
        let (_, both) = cache.usage();
        cache.forget(&token_digest("x"));
        assert!(!cache.contains("x") && cache.contains("y"));
        assert_eq!(cache.usage().1, both / 2);
        // Inserting the same token again replaces it; the bytes are charged once.
        cache.insert(token_digest("y"), 10, hit(3), valid_for(600.0));
        assert_eq!(cache.usage(), (1, both / 2));
    }

    #[test]
    fn concurrent_lookups_and_inserts_keep_the_bounds() {
        let cache = Arc::new(VerifiedCache::with_bounds(100, MAX_BYTES));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for n in 0..2_000u32 {
                        let digest = token_digest(&format!("{t}-{n}"));
                        cache.insert(digest, 50, hit(n), valid_for(600.0));
                        let _ = cache.get(&digest, crate::token::unix_now());
                        assert!(cache.usage().0 <= 100);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let (entries, bytes) = cache.usage();
        let per_entry = std::mem::size_of::<(TokenDigest, Entry<u32>)>() + 50 + ALLOCATION_SLACK;
        assert_eq!(bytes, entries * per_entry, "the byte count stays exact");
    }
}
