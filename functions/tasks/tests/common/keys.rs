//! Signing keys of the kinds Better Auth's JWT plugin makes (made here with OpenSSL, which the
//! project already builds), their public JWKs as Better Auth publishes them, and signing of any
//! header and claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EdDSA,
    ES256,
    RS256,
    PS256,
}

/// ES256 is signed with OpenSSL directly (no PKCS#8 round trip); the others through jsonwebtoken.
enum Signer {
    Jwt(EncodingKey),
    Ec(EcKey<openssl::pkey::Private>),
}

pub struct KeyPair {
    pub kind: Kind,
    pub kid: String,
    signer: Signer,
    jwk: Value,
    public: Vec<u8>,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl KeyPair {
    pub fn new(kind: Kind) -> Self {
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let mut ec_key = None;
        let (der, jwk, public) = match kind {
            Kind::EdDSA => {
                let key = PKey::generate_ed25519().unwrap();
                let x = key.raw_public_key().unwrap();
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x), "alg": "EdDSA", "kid": kid});
                (key.private_key_to_pkcs8().unwrap(), jwk, x)
            }
            Kind::ES256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
                let ec = EcKey::generate(&group).unwrap();
                let mut ctx = BigNumContext::new().unwrap();
                let (mut x, mut y) = (
                    openssl::bn::BigNum::new().unwrap(),
                    openssl::bn::BigNum::new().unwrap(),
                );
                ec.public_key()
                    .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
                    .unwrap();
                let (x, y) = (x.to_vec_padded(32).unwrap(), y.to_vec_padded(32).unwrap());
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&x), "y": b64(&y), "alg": "ES256", "kid": kid});
                let public = [x, y].concat();
                ec_key = Some(ec);
                (Vec::new(), jwk, public)
            }
            Kind::RS256 | Kind::PS256 => {
                let rsa = Rsa::generate(2048).unwrap();
                let (n, e) = (rsa.n().to_vec(), rsa.e().to_vec());
                let alg = if kind == Kind::RS256 {
                    "RS256"
                } else {
                    "PS256"
                };
                let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e), "alg": alg, "kid": kid});
                // jsonwebtoken takes RSA private keys as PKCS#1 DER.
                (rsa.private_key_to_der().unwrap(), jwk, n)
            }
        };
        let signer = match (kind, ec_key) {
            (_, Some(ec)) => Signer::Ec(ec),
            (Kind::EdDSA, None) => Signer::Jwt(EncodingKey::from_ed_der(&der)),
            (_, None) => Signer::Jwt(EncodingKey::from_rsa_der(&der)),
        };
        Self {
            kind,
            kid,
            signer,
            jwk,
            public,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.kind {
            Kind::EdDSA => Algorithm::EdDSA,
            Kind::ES256 => Algorithm::ES256,
            Kind::RS256 => Algorithm::RS256,
            Kind::PS256 => Algorithm::PS256,
        }
    }

    /// The header Better Auth puts on its tokens: `alg` and `kid`, no `typ`.
    pub fn header(&self) -> Value {
        json!({"alg": format!("{:?}", self.algorithm()), "kid": self.kid})
    }

    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The raw public key (for key-confusion attempts).
    pub fn public_bytes(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// Signs `header.claims` with this key, whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match &self.signer {
            Signer::Jwt(key) => {
                jsonwebtoken::crypto::sign(message.as_bytes(), key, self.algorithm()).unwrap()
            }
            Signer::Ec(key) => {
                let digest = openssl::sha::sha256(message.as_bytes());
                let signature = openssl::ecdsa::EcdsaSig::sign(&digest, key).unwrap();
                let raw = [
                    signature.r().to_vec_padded(32).unwrap(),
                    signature.s().to_vec_padded(32).unwrap(),
                ]
                .concat();
                b64(&raw)
            }
        };
        format!("{message}.{signature}")
    }
}

/// An HS256 token with any header, signed with `secret`.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}
