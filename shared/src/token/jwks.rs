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

use crate::token::verified_cache::KeyIdentity;

/// Keys beyond this many in one document are ignored: verifying never walks a huge set.
pub const MAX_KEYS: usize = 32;

/// One public key (or, for our HS256 tokens, one secret), ready to verify: its algorithm fixed.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub validation: Validation,
    /// Which key this is, for the cache of verified tokens: `material` is the secret, or the public
    /// key's RFC 7638 thumbprint.
    pub identity: KeyIdentity,
}

impl VerifyingKey {
    /// `key` verifying `algorithm` only, under the rules of `base` (issuer, audience, leeway);
    /// `material` identifies the key (the secret, or the public key's thumbprint).
    pub fn new(key: DecodingKey, algorithm: Algorithm, base: &Validation, material: &[u8]) -> Self {
        let mut validation = base.clone();
        validation.algorithms = vec![algorithm];
        Self {
            key,
            validation,
            identity: KeyIdentity::new(algorithm, material),
        }
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

/// RSA moduli this small can be factored (RFC 7518 §3.3 and §3.5: "a key of size 2048 bits or
/// larger MUST be used"); larger than the upper bound only makes each verification slow.
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 8192;

/// Refuses key material too weak to trust, whatever the algorithm it claims: an RSA modulus under
/// [`MIN_RSA_BITS`] (or over [`MAX_RSA_BITS`]) or with an exponent that is even or under 3, an
/// EC point whose coordinates are not its curve's size, an Ed25519 key that is not 32 bytes or is
/// of small order (a "weak" key, for which signatures can be forged without the private key).
pub fn strong_enough(jwk: &Jwk) -> anyhow::Result<()> {
    let bytes = |field: &str, value: &str| {
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| anyhow!("{field} is not base64url"))
    };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = bytes("n", &rsa.n)?;
            let n = trim_leading_zeros(&n);
            let bits = n.first().map_or(0, |first| {
                (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize)
            });
            if bits < MIN_RSA_BITS {
                bail!(
                    "RSA key of {bits} bits: at least {MIN_RSA_BITS} are required (RFC 7518 §3.3)"
                );
            }
            if bits > MAX_RSA_BITS {
                bail!("RSA key of {bits} bits: at most {MAX_RSA_BITS} are accepted");
            }
            let e = bytes("e", &rsa.e)?;
            let e = trim_leading_zeros(&e);
            let odd = e.last().is_some_and(|last| last & 1 == 1);
            if !odd || e.len() > 8 || (e.len() == 1 && e[0] < 3) {
                bail!("RSA public exponent unusable (it must be odd, at least 3)");
            }
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let size = match ec.curve {
                EllipticCurve::P256 => 32,
                EllipticCurve::P384 => 48,
                _ => bail!("unsupported curve"),
            };
            if bytes("x", &ec.x)?.len() != size || bytes("y", &ec.y)?.len() != size {
                bail!("EC coordinates are not {size} bytes, as their curve requires");
            }
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 {
                bail!("unsupported curve");
            }
            let x: [u8; 32] = bytes("x", &okp.x)?
                .try_into()
                .map_err(|_| anyhow!("an Ed25519 key is 32 bytes"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| anyhow!("not an Ed25519 point"))?;
            if key.is_weak() {
                bail!("an Ed25519 key of small order");
            }
        }
        AlgorithmParameters::OctetKey(_) => bail!("a symmetric key"),
    }
    Ok(())
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
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
        strong_enough(&jwk)?;
        let key = DecodingKey::from_jwk(&jwk).context("unusable key material")?;
        let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256);
        Ok((
            kid,
            VerifyingKey::new(key, algorithm, base, thumbprint.as_bytes()),
        ))
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

    /// Whether the key named `kid` is still the key `identity` (for a cached token).
    pub fn holds(&self, kid: &str, identity: &KeyIdentity) -> bool {
        self.keys
            .get(kid)
            .is_some_and(|key| key.identity == *identity)
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
            bail!("expected a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----), as `openssl genpkey -algorithm ed25519` prints");
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
        // The kid is the public key's RFC 7638 thumbprint, as for any JWK read from a set.
        VerifyingKey::new(key, Algorithm::EdDSA, base, self.kid().as_bytes())
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

    fn rsa_jwk(modulus_bytes: usize, e: &[u8], alg: &str) -> serde_json::Value {
        let mut n = vec![0xC5u8; modulus_bytes];
        n[modulus_bytes - 1] |= 1;
        serde_json::json!({"kty": "RSA", "alg": alg, "kid": format!("rsa-{}", modulus_bytes * 8),
            "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(e)})
    }

    fn verdict(raw: serde_json::Value) -> Result<(), String> {
        let jwk: Jwk = serde_json::from_value(raw).unwrap();
        strong_enough(&jwk).map_err(|e| e.to_string())
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_for_every_rsa_algorithm() {
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
            for bytes in [64, 128, 255] {
                let refused = verdict(rsa_jwk(bytes, &[1, 0, 1], alg)).unwrap_err();
                assert!(
                    refused.contains("at least 2048"),
                    "{alg} {bytes}: {refused}"
                );
            }
            assert_eq!(verdict(rsa_jwk(256, &[1, 0, 1], alg)), Ok(()), "{alg}");
            assert_eq!(verdict(rsa_jwk(512, &[1, 0, 1], alg)), Ok(()), "{alg}");
        }
        // A 2048-bit value padded with a leading zero byte is still 2048 bits; 2047 is not enough.
        let mut n = vec![0u8];
        n.extend(vec![0x7Fu8; 256]);
        let raw = serde_json::json!({"kty": "RSA", "alg": "RS256", "kid": "k",
            "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"});
        assert!(verdict(raw).unwrap_err().contains("2047 bits"));
        assert!(verdict(rsa_jwk(1025, &[1, 0, 1], "RS256"))
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn rsa_exponents_that_break_rsa_are_refused() {
        for e in [&[1u8][..], &[0, 1], &[2], &[1, 0, 0], &[]] {
            assert!(verdict(rsa_jwk(256, e, "RS256")).is_err(), "{e:?}");
        }
        assert_eq!(verdict(rsa_jwk(256, &[3], "RS256")), Ok(()));
    }

    #[test]
    fn ec_and_okp_keys_must_have_their_curves_sizes_and_no_small_order() {
        let coordinate = |len: usize| URL_SAFE_NO_PAD.encode(vec![7u8; len]);
        let ec = |crv: &str, len: usize| {
            serde_json::json!({"kty": "EC", "crv": crv, "kid": "e",
                "x": coordinate(len), "y": coordinate(len)})
        };
        assert_eq!(verdict(ec("P-256", 32)), Ok(()));
        assert_eq!(verdict(ec("P-384", 48)), Ok(()));
        assert!(verdict(ec("P-256", 31)).is_err());
        assert!(verdict(ec("P-384", 32)).is_err());
        let okp = |x: Vec<u8>| {
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "o",
                "x": URL_SAFE_NO_PAD.encode(x)})
        };
        let real = Ed25519Key::from_pem(&Ed25519Key::generate_pem()).unwrap();
        assert_eq!(
            strong_enough(&real.public).map_err(|e| e.to_string()),
            Ok(())
        );
        assert!(verdict(okp(vec![9; 31])).is_err());
        // The identity point (y = 1): every signature with R = identity and s = 0 verifies.
        let mut identity = vec![0u8; 32];
        identity[0] = 1;
        assert!(verdict(okp(identity)).unwrap_err().contains("small order"));
    }

    #[test]
    fn a_weak_key_is_skipped_from_a_set_and_the_others_stay() {
        let strong = Ed25519Key::from_pem(&Ed25519Key::generate_pem()).unwrap();
        let doc = serde_json::json!({"keys": [rsa_jwk(128, &[1, 0, 1], "RS256"), strong.public]});
        let set = KeySet::parse(
            doc.to_string().as_bytes(),
            &Validation::new(Algorithm::EdDSA),
        )
        .unwrap();
        assert!(!set.contains("rsa-1024"));
        assert!(set.contains(strong.kid()));
    }
}
