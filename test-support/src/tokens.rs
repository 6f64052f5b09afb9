//! The test run's token keys: EdDSA as the template deploys (HS256 on request), the variables
//! that configure a signer or a verifier, and tokens signed as ours.

/// How the test run signs our access tokens: EdDSA (Ed25519), what the template deploys, unless
/// `TEST_JWT_ALGORITHM=HS256` asks for the seeds' shared secret. The HS256 path keeps focused tests
/// of its own (e2e/tests/hs256.rs, the HS256 rotation tests) that do not depend on this switch.
pub fn test_algorithm() -> shared::config::TokenAlgorithm {
    match std::env::var("TEST_JWT_ALGORITHM").as_deref() {
        Ok("EdDSA") | Err(_) => shared::config::TokenAlgorithm::EdDSA,
        Ok("HS256") => shared::config::TokenAlgorithm::HS256,
        Ok(other) => panic!("TEST_JWT_ALGORITHM must be HS256 or EdDSA, not {other:?}"),
    }
}

/// The test run's Ed25519 key (one per test process), as a PKCS#8 PEM.
pub fn test_signing_key_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(shared::token::jwks::Ed25519Key::generate_pem)
}

/// The JWKS of [`test_signing_key_pem`].
pub fn test_public_keys() -> String {
    let key =
        shared::token::jwks::Ed25519Key::from_pem(test_signing_key_pem()).expect("our own key");
    shared::token::jwks::document([&key.public])
}

/// The variables that configure the function that signs (auth) for the test run's algorithm:
/// `JWT_SECRET` = `secret` with HS256; the Ed25519 key and its JWKS with EdDSA.
pub fn jwt_signer_vars(secret: &str) -> Vec<(String, String)> {
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => vec![("JWT_SECRET".into(), secret.into())],
        shared::config::TokenAlgorithm::EdDSA => vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_SIGNING_KEY".into(), test_signing_key_pem().into()),
            ("JWT_PUBLIC_KEYS".into(), test_public_keys()),
        ],
    }
}

/// The variables that configure a function that only verifies (tasks): with EdDSA the public keys
/// only, so the tests run it as it is deployed, without any key that could sign.
pub fn jwt_verifier_vars(secret: &str) -> Vec<(String, String)> {
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => vec![("JWT_SECRET".into(), secret.into())],
        shared::config::TokenAlgorithm::EdDSA => vec![
            ("JWT_ALGORITHM".into(), "EdDSA".into()),
            ("JWT_PUBLIC_KEYS".into(), test_public_keys()),
        ],
    }
}

/// `claims` signed as our own tokens are in this test run (HS256 with `secret`, or the Ed25519 key
/// with its `kid`): for tests that hand-craft tokens our keys would sign.
pub fn sign_as_ours(claims: &serde_json::Value, secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    match test_algorithm() {
        shared::config::TokenAlgorithm::HS256 => jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        ),
        shared::config::TokenAlgorithm::EdDSA => {
            let key = shared::token::jwks::Ed25519Key::from_pem(test_signing_key_pem())
                .expect("our own key");
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(key.kid().to_owned());
            jsonwebtoken::encode(&header, claims, &key.encoding)
        }
    }
    .expect("signable claims")
}
