//! Sealing of TOTP secrets at rest: AES-256-GCM from `ring` (BoringSSL's implementation, the
//! crate `rustls` and the AWS SDK already put in this function, so no new dependency and nothing
//! added to the zip). Chosen over RustCrypto's `aes-gcm`/`chacha20poly1305` (also audited) for
//! exactly that reason.
//!
//! The key is derived with HKDF-SHA-256 from `SECOND_FACTOR_KEY` (in AWS a Secrets Manager secret
//! the deploy generates, read by the auth function only), so any long random string works as the
//! setting. Each secret gets a random 96-bit nonce (at most a few per user over a lifetime: far
//! below GCM's 2^32 random-nonce limit), and the user's id as associated data: a sealed secret
//! copied into another user's row does not open.
//!
//! Layout: `version (1) || nonce (12) || ciphertext || tag (16)`; the version names the key
//! derivation, so a later key rotation can tell old rows from new.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

const VERSION: u8 = 1;
/// Shortest `SECOND_FACTOR_KEY` accepted: 32 characters (the template generates 64).
pub const MIN_KEY_CHARS: usize = 32;

/// The key that seals and opens TOTP secrets.
#[derive(Clone)]
pub struct SealingKey {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

struct Len32;

impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl SealingKey {
    /// Derives the key from the setting; `None` when it is too short to be a key.
    pub fn from_setting(setting: &str) -> Option<Self> {
        if setting.chars().count() < MIN_KEY_CHARS {
            return None;
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"tasks-api second factor");
        let prk = salt.extract(setting.as_bytes());
        let okm = prk.expand(&[b"totp-secret-v1"], Len32).ok()?;
        let mut bytes = [0u8; 32];
        okm.fill(&mut bytes).ok()?;
        let unbound = UnboundKey::new(&aead::AES_256_GCM, &bytes).ok()?;
        Some(Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        })
    }

    pub fn seal(&self, user_id: Uuid, secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut sealed = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(user_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The secret, or `None` when `sealed` was not sealed by this key for this user.
    pub fn open(&self, user_id: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut buffer)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn seals_and_opens_for_the_same_user_only() {
        let key = SealingKey::from_setting(SETTING).unwrap();
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = key.seal(ada, b"twenty bytes secret!").unwrap();
        assert_eq!(sealed.len(), 1 + 12 + 20 + 16);
        assert!(!sealed.windows(20).any(|w| w == b"twenty bytes secret!"));
        assert_eq!(key.open(ada, &sealed).unwrap(), b"twenty bytes secret!");
        assert_eq!(key.open(bob, &sealed), None, "another user's row");
        // Two seals of one secret differ (random nonce).
        assert_ne!(sealed, key.seal(ada, b"twenty bytes secret!").unwrap());
        // A flipped bit anywhere, a truncation, another key: nothing opens.
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert_eq!(key.open(ada, &tampered), None, "byte {i}");
        }
        assert_eq!(key.open(ada, &sealed[..sealed.len() - 1]), None);
        assert_eq!(key.open(ada, &[]), None);
        let other = SealingKey::from_setting(&SETTING.replace('0', "x")).unwrap();
        assert_eq!(other.open(ada, &sealed), None);
    }

    #[test]
    fn short_settings_are_not_keys() {
        assert!(SealingKey::from_setting(&SETTING[..31]).is_none());
        assert!(SealingKey::from_setting("").is_none());
    }
}
