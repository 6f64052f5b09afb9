//! JSON Web Key Sets: the one parser every asymmetric verifier uses (our own access tokens and
//! Better Auth's), and our own Ed25519 key material (PKCS#8 PEM in, public JWK out).
//!
//! The algorithm a key verifies is fixed from the key itself (its `kty`/`crv`, and its `alg` when
//! it has one, which must agree), never from a token's header (RFC 8725 §3.1): a token whose header
//! names another algorithm fails against that key.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::Deserialize;

/// Keys beyond this many in one document are ignored: verifying never walks a huge set.
pub const MAX_KEYS: usize = 32;

/// One public key (or, for our HS256 tokens, one secret), ready to verify: its algorithm fixed.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub validation: Validation,
}

impl VerifyingKey {
    /// `key` verifying `algorithm` only, under the rules of `base` (issuer, audience, leeway).
    pub fn new(key: DecodingKey, algorithm: Algorithm, base: &Validation) -> Self {
        let mut validation = base.clone();
        validation.algorithms = vec![algorithm];
        Self { key, validation }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.validation.algorithms[0]
    }
}

/// The keys of one or more JWKS documents, by `kid`.
#[derive(Default, Clone)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// The algorithm a key verifies, from the key alone: its `alg`, which must agree with its type and
/// curve; or, without `alg`, what its curve admits (RSA keys without `alg` are ambiguous: skipped).
pub fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let from_curve = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
            Some(Algorithm::ES384)
        }
        _ => None,
    };
    let rsa = matches!(jwk.algorithm, AlgorithmParameters::RSA(_));
    match jwk.common.key_algorithm {
        None => from_curve,
        Some(alg) => {
            let alg = match alg {
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                KeyAlgorithm::ES384 => Algorithm::ES384,
                KeyAlgorithm::RS256 => Algorithm::RS256,
                KeyAlgorithm::RS384 => Algorithm::RS384,
                KeyAlgorithm::RS512 => Algorithm::RS512,
                KeyAlgorithm::PS256 => Algorithm::PS256,
                KeyAlgorithm::PS384 => Algorithm::PS384,
                KeyAlgorithm::PS512 => Algorithm::PS512,
                // HMAC keys have no business in a public key set; ES512 (P-521) is not supported
                // by jsonwebtoken; encryption keys do not verify.
                _ => return None,
            };
            let agrees = if rsa {
                matches!(
                    alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                )
            } else {
                from_curve == Some(alg)
            };
            agrees.then_some(alg)
        }
    }
}

impl KeySet {
    /// Parses a JWKS. Keys we cannot use (other algorithms, encryption keys, no `kid`, malformed)
    /// are skipped, so one odd key does not take the others down; each skip is logged.
    pub fn parse(document: &[u8], base: &Validation) -> anyhow::Result<Self> {
        let mut set = Self::default();
        set.extend_from(document, base)?;
        Ok(set)
    }

    /// Adds the keys of another JWKS document (a `kid` already present keeps its first key).
    pub fn extend_from(&mut self, document: &[u8], base: &Validation) -> anyhow::Result<()> {
        let document: Document =
            serde_json::from_slice(document).context("not a JWKS (a JSON object with \"keys\")")?;
        for raw in document.keys.into_iter().take(MAX_KEYS) {
            let kid = raw.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
            match Self::key(raw, base) {
                Ok((kid, key)) => {
                    self.keys.entry(kid).or_insert(key);
                }
                Err(reason) => tracing::warn!(kid = ?kid, %reason, "JWKS key skipped"),
            }
        }
        Ok(())
    }

    fn key(raw: serde_json::Value, base: &Validation) -> anyhow::Result<(String, VerifyingKey)> {
        let jwk: Jwk = serde_json::from_value(raw).context("not a JWK")?;
        let kid = jwk
            .common
            .key_id
            .clone()
            .filter(|kid| {
                !kid.is_empty() && kid.chars().count() <= crate::token::precheck::MAX_KID_CHARS
            })
            .ok_or_else(|| anyhow!("no usable kid"))?;
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(anyhow!("not a signing key (use)"));
        }
        let algorithm = key_algorithm(&jwk).ok_or_else(|| {
            anyhow!("no supported algorithm (EdDSA, ES256, ES384, RS*, PS*) agrees with the key")
        })?;
        let key = DecodingKey::from_jwk(&jwk).context("unusable key material")?;
        Ok((kid, VerifyingKey::new(key, algorithm, base)))
    }

    /// Adds one key under `kid` (a `kid` already present keeps its first key).
    pub fn insert(&mut self, kid: String, key: VerifyingKey) {
        self.keys.entry(kid).or_insert(key);
    }

    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The DER prefix of an Ed25519 private key in PKCS#8 v1 (RFC 8410 §7): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 signing key: what signs (the PKCS#8 DER jsonwebtoken takes) and its public JWK.
#[derive(Clone)]
pub struct Ed25519Key {
    pub encoding: EncodingKey,
    pub public: Jwk,
}

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl Ed25519Key {
    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm ed25519`
    /// prints it; `\n` written as the two characters `\` `n` is accepted, for one-line variables).
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let pem = pem.trim().replace("\\n", "\n");
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|line| *line != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|line| *line != "-----END PRIVATE KEY-----")
            .collect();
        if body.is_empty() || !pem.contains("-----END PRIVATE KEY-----") {
            bail!("expected a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----); generate one with `openssl genpkey -algorithm ed25519`");
        }
        let der = STANDARD
            .decode(body)
            .map_err(|_| anyhow!("the PEM body is not base64"))?;
        Self::from_pkcs8_der(&der)
    }

    fn from_pkcs8_der(der: &[u8]) -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let signing = ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .map_err(|_| anyhow!("not an Ed25519 private key (PKCS#8)"))?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let mut public = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x,
            }),
        };
        // The RFC 7638 thumbprint: the same key always has the same kid, wherever it is computed.
        public.common.key_id = Some(public.thumbprint(ThumbprintHash::SHA256));
        Ok(Self {
            // jsonwebtoken takes the PKCS#8 document itself (normalised to the v1 form).
            encoding: EncodingKey::from_ed_der(&pkcs8_v1(&signing.to_bytes())),
            public,
        })
    }

    /// A new random key, as a PKCS#8 PEM.
    pub fn generate_pem() -> String {
        use rand::RngCore as _;
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let body = STANDARD.encode(pkcs8_v1(&seed));
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
    }

    pub fn kid(&self) -> &str {
        self.public.common.key_id.as_deref().unwrap_or_default()
    }

    /// The public key, ready to verify under `base`.
    pub fn verifying_key(&self, base: &Validation) -> VerifyingKey {
        let key = DecodingKey::from_jwk(&self.public).expect("our own public JWK is valid");
        VerifyingKey::new(key, Algorithm::EdDSA, base)
    }
}

fn pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// A JWKS document of `keys` (public keys only: callers pass public JWKs).
pub fn document<'a>(keys: impl IntoIterator<Item = &'a Jwk>) -> String {
    let keys: Vec<&Jwk> = keys.into_iter().collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// The public JWKs of a JWKS document, as they are (for republishing); unparseable keys are
/// skipped, as [`KeySet::parse`] skips them.
pub fn public_jwks(document: &str) -> anyhow::Result<Vec<Jwk>> {
    let document: Document =
        serde_json::from_str(document).context("not a JWKS (a JSON object with \"keys\")")?;
    Ok(document
        .keys
        .into_iter()
        .take(MAX_KEYS)
        .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
        .filter(|jwk| {
            // Only public key types: a symmetric or private key is never republished.
            matches!(
                jwk.algorithm,
                AlgorithmParameters::OctetKeyPair(_)
                    | AlgorithmParameters::EllipticCurve(_)
                    | AlgorithmParameters::RSA(_)
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_a_thumbprint_kid() {
        let pem = Ed25519Key::generate_pem();
        let key = Ed25519Key::from_pem(&pem).unwrap();
        assert_eq!(key.kid().len(), 43, "base64url of a SHA-256");
        let again = Ed25519Key::from_pem(&pem.replace('\n', "\\n")).unwrap();
        assert_eq!(again.kid(), key.kid());
        let other = Ed25519Key::from_pem(&Ed25519Key::generate_pem()).unwrap();
        assert_ne!(other.kid(), key.kid());
    }

    /// RFC 8037 appendix A.1-A.3: the example key's public part and thumbprint.
    #[test]
    fn the_rfc_8037_example_key_gives_its_published_x_and_thumbprint() {
        let seed = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let der = pkcs8_v1(&seed.try_into().unwrap());
        let key = Ed25519Key::from_pkcs8_der(&der).unwrap();
        let AlgorithmParameters::OctetKeyPair(params) = &key.public.algorithm else {
            panic!("not an OKP key");
        };
        assert_eq!(params.x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn what_is_not_an_ed25519_pem_is_refused() {
        for pem in [
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----",
        ] {
            assert!(Ed25519Key::from_pem(pem).is_err(), "{pem:?}");
        }
    }

    #[test]
    fn republished_keys_are_public_only() {
        let key = Ed25519Key::from_pem(&Ed25519Key::generate_pem()).unwrap();
        let doc =
            serde_json::json!({"keys": [key.public, {"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]});
        let keys = public_jwks(&doc.to_string()).unwrap();
        assert_eq!(keys, vec![key.public.clone()]);
        assert!(!document(&keys).contains("\"d\""));
    }
}
