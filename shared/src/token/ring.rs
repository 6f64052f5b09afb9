//! Our Ed25519 keys over their lifetime: the key that signs, the next one (already published, so
//! every verifier and cache knows it before anything signs with it) and the previous one (still
//! verifying until its last token has expired). A rotation promotes the next key, makes a new next
//! key and drops the one before the previous: tokens it signed stop verifying.
//!
//! Kept in two secrets, so that only the auth function can read a private key:
//! - the private one, `{"JWT_SIGNING_KEY": PEM, "JWT_NEXT_SIGNING_KEY": PEM}` (the auth function
//!   reads the first field; the second waits for the next rotation);
//! - the public one, `{"JWT_PUBLIC_KEYS": JWKS}` (every verifier).

use anyhow::{anyhow, Context as _};
use jsonwebtoken::jwk::Jwk;
use serde::{Deserialize, Serialize};

use crate::token::jwks::Ed25519Key;

/// The private secret's value.
#[derive(Clone, Serialize, Deserialize)]
pub struct PrivateKeys {
    #[serde(rename = "JWT_SIGNING_KEY")]
    pub signing: String,
    #[serde(rename = "JWT_NEXT_SIGNING_KEY")]
    pub next: String,
}

/// The public secret's value.
#[derive(Clone, Serialize, Deserialize)]
pub struct PublicKeys {
    /// A JWKS document (as a string: the functions read it as one variable).
    #[serde(rename = "JWT_PUBLIC_KEYS")]
    pub jwks: String,
}

/// The keys and what is published of them.
#[derive(Clone)]
pub struct KeyRing {
    pub private: PrivateKeys,
    pub public: PublicKeys,
}

impl KeyRing {
    /// A first ring: a new signing key and a new next key, both published.
    pub fn generate() -> Self {
        let (signing, next) = (Ed25519Key::generate_pem(), Ed25519Key::generate_pem());
        let jwks = publish(&[&signing, &next], None);
        Self {
            private: PrivateKeys { signing, next },
            public: PublicKeys { jwks },
        }
    }

    /// The ring after one rotation: the next key signs, a new next key is published, the signing
    /// key becomes the previous one, and the previous one is dropped.
    pub fn rotate(&self) -> anyhow::Result<Self> {
        let old = Ed25519Key::from_pem(&self.private.signing).context("the signing key")?;
        let signing = self.private.next.clone();
        let next = Ed25519Key::generate_pem();
        let jwks = publish(&[&signing, &next], Some(&old.public));
        Ok(Self {
            private: PrivateKeys { signing, next },
            public: PublicKeys { jwks },
        })
    }

    /// The `kid` new tokens carry with this ring.
    pub fn signing_kid(&self) -> anyhow::Result<String> {
        Ok(Ed25519Key::from_pem(&self.private.signing)?
            .kid()
            .to_owned())
    }

    /// The configuration of the function that signs (auth), as variables.
    pub fn signer_vars(&self) -> Vec<(String, String)> {
        vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_SIGNING_KEY".into(), self.private.signing.clone()),
            ("JWT_PUBLIC_KEYS".into(), self.public.jwks.clone()),
        ]
    }

    /// The signer's variables as `.env` lines: one line each, the PEM's newlines as `\n` (read
    /// back by [`Ed25519Key::from_pem`]), single quotes keeping the JWKS's double quotes.
    pub fn dotenv_lines(&self) -> String {
        self.signer_vars()
            .into_iter()
            .map(|(name, value)| format!("{name}='{}'\n", value.trim_end().replace('\n', "\\n")))
            .collect()
    }

    /// The configuration of a function that only verifies (tasks): no private key.
    pub fn verifier_vars(&self) -> Vec<(String, String)> {
        vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_PUBLIC_KEYS".into(), self.public.jwks.clone()),
        ]
    }

    /// Reads a ring from the two secrets' values; `None` when the private one holds no key yet.
    pub fn from_secrets(private: &str, public: &str) -> anyhow::Result<Option<Self>> {
        let Ok(private) = serde_json::from_str::<PrivateKeys>(private) else {
            return Ok(None);
        };
        Ed25519Key::from_pem(&private.signing).context("JWT_SIGNING_KEY in the private secret")?;
        Ed25519Key::from_pem(&private.next)
            .context("JWT_NEXT_SIGNING_KEY in the private secret")?;
        let public: PublicKeys = serde_json::from_str(public)
            .map_err(|_| anyhow!("the public secret is not {{\"JWT_PUBLIC_KEYS\": \"<JWKS>\"}}"))?;
        Ok(Some(Self { private, public }))
    }
}

fn publish(pems: &[&String], previous: Option<&Jwk>) -> String {
    let keys: Vec<Jwk> = pems
        .iter()
        .map(|pem| Ed25519Key::from_pem(pem).expect("a key we made").public)
        .chain(previous.cloned())
        .collect();
    crate::token::jwks::document(&keys)
}

/// Rotates (or, with `first_only`, creates when absent) the ring kept in Secrets Manager. The
/// public secret is written first: a verifier that reads both in between sees the new next key
/// already, and the old signing key is still in it.
pub async fn rotate_in_secrets_manager(
    client: &aws_sdk_secretsmanager::Client,
    private_arn: &str,
    public_arn: &str,
    first_only: bool,
) -> anyhow::Result<Option<String>> {
    let current = KeyRing::from_secrets(
        &read_secret(client, private_arn).await?,
        &read_secret(client, public_arn).await?,
    )?;
    let ring = match (current, first_only) {
        (Some(_), true) => return Ok(None),
        (Some(ring), false) => ring.rotate()?,
        (None, _) => KeyRing::generate(),
    };
    for (arn, value) in [
        (public_arn, serde_json::to_string(&ring.public)?),
        (private_arn, serde_json::to_string(&ring.private)?),
    ] {
        client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .send()
            .await
            .map_err(|error| {
                anyhow!(
                    "writing {arn}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(error)
                )
            })?;
    }
    Ok(Some(ring.signing_kid()?))
}

async fn read_secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> anyhow::Result<String> {
    match client.get_secret_value().secret_id(arn).send().await {
        Ok(output) => Ok(output.secret_string().unwrap_or_default().to_owned()),
        Err(error) => Err(anyhow!(
            "reading {arn}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(error)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(jwks: &str) -> Vec<String> {
        crate::token::jwks::public_jwks(jwks)
            .unwrap()
            .into_iter()
            .map(|k| k.common.key_id.unwrap())
            .collect()
    }

    #[test]
    fn a_rotation_promotes_the_next_key_and_drops_the_one_before_the_previous() {
        let first = KeyRing::generate();
        let (k1, k2) = (
            first.signing_kid().unwrap(),
            Ed25519Key::from_pem(&first.private.next)
                .unwrap()
                .kid()
                .to_owned(),
        );
        assert_eq!(kids(&first.public.jwks), [k1.clone(), k2.clone()]);
        let second = first.rotate().unwrap();
        assert_eq!(second.signing_kid().unwrap(), k2);
        let k3 = Ed25519Key::from_pem(&second.private.next)
            .unwrap()
            .kid()
            .to_owned();
        assert_eq!(
            kids(&second.public.jwks),
            [k2.clone(), k3.clone(), k1.clone()]
        );
        let third = second.rotate().unwrap();
        assert_eq!(third.signing_kid().unwrap(), k3);
        let published = kids(&third.public.jwks);
        assert!(
            !published.contains(&k1) && published.contains(&k2),
            "{published:?}"
        );
        assert!(
            !third.public.jwks.contains("\"d\""),
            "no private part is published"
        );
    }

    #[test]
    fn the_dotenv_lines_read_back_as_the_same_configuration() {
        let ring = KeyRing::generate();
        let lines = ring.dotenv_lines();
        assert_eq!(lines.lines().count(), 3, "{lines}");
        let vars: std::collections::HashMap<String, String> =
            dotenvy::from_read_iter(lines.as_bytes())
                .map(|item| item.unwrap())
                .collect();
        let config =
            crate::config::JwtConfig::from_source(&crate::config::Source::new(&vars)).unwrap();
        assert_eq!(
            config.signing_key.unwrap().kid(),
            ring.signing_kid().unwrap()
        );
        assert_eq!(config.public_keys.unwrap(), ring.public.jwks);
    }

    #[test]
    fn secrets_round_trip_and_an_empty_secret_is_no_ring() {
        let ring = KeyRing::generate();
        let private = serde_json::to_string(&ring.private).unwrap();
        let public = serde_json::to_string(&ring.public).unwrap();
        let read = KeyRing::from_secrets(&private, &public).unwrap().unwrap();
        assert_eq!(read.signing_kid().unwrap(), ring.signing_kid().unwrap());
        assert!(KeyRing::from_secrets("{}", "{}").unwrap().is_none());
        assert!(KeyRing::from_secrets("pending", "").unwrap().is_none());
        // The function reads the signing key from the private secret's field.
        assert_eq!(
            crate::aws::secret_field(&private, "JWT_SIGNING_KEY").unwrap(),
            ring.private.signing
        );
        assert_eq!(
            crate::aws::secret_field(&public, "JWT_PUBLIC_KEYS").unwrap(),
            ring.public.jwks
        );
    }
}
