//! Password hashing: argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1), PHC strings,
//! always on the blocking pool so a hash never stalls the async worker.
//!
//! Passwords are NFKC-normalized before they are hashed or checked (NIST SP 800-63B-4 §3.1.1.2),
//! so `é` typed as one code point or as `e` + a combining accent is one password, whichever
//! keyboard or OS sent it. Hashes stored before that rule still verify: the raw form is tried
//! once, and a match is re-hashed in its normalized form.

use std::borrow::Cow;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP Password Storage Cheat Sheet, argon2id option 2: 19 MiB, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// What checking a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Right password; `rehash` is the password hashed at today's parameters when the stored hash
    /// used older ones (store it in place of the old hash).
    Match {
        rehash: Option<String>,
    },
    Mismatch,
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
            .expect("valid argon2 parameters");
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        }
    }
}

impl PasswordHasher {
    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let argon2 = self.argon2.clone();
        let password = normalize(password).into_owned();
        let started = std::time::Instant::now();
        let hash = tokio::task::spawn_blocking(move || hash_blocking(&argon2, &password)).await??;
        // The most expensive thing a request can make us do: visible at debug level.
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "password hashed"
        );
        Ok(hash)
    }

    /// Checks `candidate` against `stored`. With no stored hash (unknown email) the same work is done
    /// against a throwaway hash, so the answer takes as long as for a wrong password.
    pub async fn verify(
        &self,
        candidate: &str,
        stored: Option<String>,
    ) -> anyhow::Result<Verified> {
        let argon2 = self.argon2.clone();
        let raw = candidate.to_owned();
        let normalized = normalize(candidate).into_owned();
        tokio::task::spawn_blocking(move || {
            let Some(stored) = stored else {
                hash_blocking(&argon2, &normalized)?;
                return Ok(Verified::Mismatch);
            };
            let Ok(parsed) = PasswordHash::new(&stored) else {
                tracing::error!("a stored password hash is not a valid PHC string");
                hash_blocking(&argon2, &normalized)?;
                return Ok(Verified::Mismatch);
            };
            // Verify with the parameters recorded in the hash, whatever today's are.
            let matches = |password: &str| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            };
            if matches(&normalized) {
                let rehash = if is_current(&parsed) {
                    None
                } else {
                    Some(hash_blocking(&argon2, &normalized)?)
                };
                return Ok(Verified::Match { rehash });
            }
            // A hash stored before normalization, of a password typed in a non-NFKC form.
            if raw != normalized && matches(&raw) {
                return Ok(Verified::Match {
                    rehash: Some(hash_blocking(&argon2, &normalized)?),
                });
            }
            Ok(Verified::Mismatch)
        })
        .await?
    }
}

/// The form a password is hashed in: NFKC (compatibility composition).
pub fn normalize(password: &str) -> Cow<'_, str> {
    icu_normalizer::ComposingNormalizer::new_nfkc().normalize(password)
}

fn hash_blocking(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

/// True when the hash uses argon2id at today's version and parameters.
fn is_current(hash: &PasswordHash<'_>) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && params.m_cost() == MEMORY_KIB
        && params.t_cost() == ITERATIONS
        && params.p_cost() == PARALLELISM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_phc_at_owasp_parameters() {
        let hash = PasswordHasher::default()
            .hash("correct horse")
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn right_and_wrong_passwords() {
        let hasher = PasswordHasher::default();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert_eq!(
            hasher
                .verify("correct horse", Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Match { rehash: None }
        );
        assert_eq!(
            hasher.verify("wrong horse", Some(hash)).await.unwrap(),
            Verified::Mismatch
        );
        assert_eq!(
            hasher.verify("anything", None).await.unwrap(),
            Verified::Mismatch
        );
        assert_eq!(
            hasher
                .verify("anything", Some("not a phc string".into()))
                .await
                .unwrap(),
            Verified::Mismatch
        );
    }

    #[tokio::test]
    async fn nfc_and_nfd_forms_of_a_password_are_one_password() {
        let hasher = PasswordHasher::default();
        let nfc = "ren\u{e9}e-passw\u{f6}rd";
        let nfd = "rene\u{301}e-passwo\u{308}rd";
        let hash = hasher.hash(nfc).await.unwrap();
        assert_eq!(
            hasher.verify(nfd, Some(hash.clone())).await.unwrap(),
            Verified::Match { rehash: None }
        );
        // Compatibility forms too: a fullwidth password is its ASCII twin.
        let hash = hasher
            .hash("\u{ff50}\u{ff41}\u{ff53}\u{ff53}word1")
            .await
            .unwrap();
        assert!(matches!(
            hasher.verify("password1", Some(hash)).await.unwrap(),
            Verified::Match { .. }
        ));
    }

    #[tokio::test]
    async fn a_hash_of_the_raw_form_still_verifies_and_is_rehashed_normalized() {
        let hasher = PasswordHasher::default();
        let nfd = "rene\u{301}e-password";
        // As stored before passwords were normalized.
        let legacy = hash_blocking(&hasher.argon2, nfd).unwrap();
        let Verified::Match { rehash: Some(new) } = hasher.verify(nfd, Some(legacy)).await.unwrap()
        else {
            panic!("expected a match with a rehash");
        };
        assert_eq!(
            hasher
                .verify("ren\u{e9}e-password", Some(new))
                .await
                .unwrap(),
            Verified::Match { rehash: None },
            "the rehash is of the normalized form"
        );
    }

    #[tokio::test]
    async fn weaker_old_hash_is_rehashed_on_a_match() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let old = hash_blocking(&weak, "correct horse").unwrap();
        let hasher = PasswordHasher::default();
        let Verified::Match { rehash: Some(new) } =
            hasher.verify("correct horse", Some(old)).await.unwrap()
        else {
            panic!("expected a rehash");
        };
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            hasher.verify("correct horse", Some(new)).await.unwrap(),
            Verified::Match { rehash: None }
        );
    }
}
