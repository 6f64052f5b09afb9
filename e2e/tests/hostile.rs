//! What the attacker's suite run against each release found (issue 23), proved fixed through the
//! real `cargo lambda watch`: a registration replay is no password oracle, weak RSA keys in a Better
//! Auth JWKS are not trusted, token answers are never cached, and the discovery metadata is RFC
//! 8414's, built from configuration only (a real client library, oauth4webapi, reads it).

use crate::emulator;
use crate::frontend::node;

use base64::Engine as _;
use emulator::{free_port, send, Answer, Emulator};
use serde_json::{json, Value};
use test_support::TestDb;

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const BETTER_AUTH_ISSUER: &str = "https://frontend.example";

/// The test-only RSA keys of fixtures/rsa_keys.json: three too small to trust, one of 2048 bits.
fn rsa_keys() -> Vec<Value> {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/rsa_keys.json")).unwrap();
    fixture["keys"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_attackers_findings_stay_fixed_through_cargo_lambda_watch() {
    let database = TestDb::new().await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let jwks = json!({"keys": rsa_keys().iter().map(|k| k["jwk"].clone()).collect::<Vec<_>>()});
    let jwks = jwks.to_string();
    let emulator = Emulator::start_at(
        port,
        &database.url,
        &[
            // Our issuer is the emulator's own URL, so the metadata can name real endpoints.
            ("JWT_ISSUER", &issuer),
            ("THROTTLE_REGISTRATIONS_PER_IP_HOUR", "3"),
            ("BETTER_AUTH_JWKS", &jwks),
            ("BETTER_AUTH_ISSUER", BETTER_AUTH_ISSUER),
        ],
    )
    .await;
    let base = emulator.base.clone();
    let refresh_token = tokio::task::spawn_blocking(move || {
        registration_replays_meet_the_sign_in_limits(&base);
        let refresh_token = token_answers_are_never_stored(&base);
        weak_rsa_keys_verify_nothing(&base);
        metadata_comes_from_configuration(&base);
        refresh_token
    })
    .await
    .unwrap();
    node(
        "discovery.mjs",
        vec![
            ("ISSUER".into(), issuer),
            ("REFRESH_TOKEN".into(), refresh_token),
        ],
        &emulator,
    )
    .await;
}

fn register(base: &str, email: &str, password: &str, key: Option<&str>) -> Answer {
    let mut headers = vec![JSON];
    headers.extend(key.map(|key| ("idempotency-key", key)));
    let body = json!({"email": email, "password": password}).to_string();
    send(
        "POST",
        &format!("{base}/auth/register"),
        &headers,
        Some(&body),
    )
}

/// Finding 1: a replay of a registration checked the password before any limit, and counted a
/// wrong one only against registrations. Now it passes the sign-in gate: locks first, then the
/// check, a wrong one counted against the account and the source like a failed sign-in.
fn registration_replays_meet_the_sign_in_limits(base: &str) {
    let right = "correct horse battery staple";
    assert_eq!(
        register(base, "ada@example.com", right, Some("reg-ada")).status,
        201
    );
    assert_eq!(
        register(base, "bob@example.com", right, Some("reg-bob")).status,
        201
    );

    // Per account: five wrong guesses through replays lock Ada's account ...
    for guess in 0..5 {
        let answer = register(
            base,
            "ada@example.com",
            &format!("guess {guess} wrong"),
            Some("reg-ada"),
        );
        assert_eq!(answer.status, 422, "guess {guess}: {}", answer.body);
    }
    // ... so the right password gets the lock's answer, by replay and by sign-in alike.
    let replay = register(base, "ada@example.com", right, Some("reg-ada"));
    assert_eq!(replay.status, 429, "{}", replay.body);
    assert!(replay.headers.contains_key("retry-after"));
    let login = send(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(&json!({"email": "ADA@example.com", "password": right}).to_string()),
    );
    assert_eq!(login.status, 429, "sign-in shares the lock: {}", login.body);

    // Per source: the third registration uses the address's last one, the fourth is refused ...
    assert_eq!(register(base, "cy@example.com", right, None).status, 201);
    assert_eq!(register(base, "dee@example.com", right, None).status, 429);
    // ... and so is a replay of an earlier one, even with the right password.
    let replay = register(base, "bob@example.com", right, Some("reg-bob"));
    assert_eq!(replay.status, 429, "{}", replay.body);
}

/// Finding 3: the answers that carry a token pair had no `Cache-Control`. RFC 6749 §5.1.
fn token_answers_are_never_stored(base: &str) -> String {
    let password = "correct horse battery staple";
    let no_store = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, 200, "{what}: {}", answer.body);
        assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
        assert_eq!(answer.headers["pragma"], "no-cache", "{what}");
    };
    // Cy registered in the test before, as this source's last registration.
    let login = send(
        "POST",
        &format!("{base}/auth/login"),
        &[JSON],
        Some(&json!({"email": "cy@example.com", "password": password}).to_string()),
    );
    no_store(&login, "POST /auth/login");
    let form = send(
        "POST",
        &format!("{base}/auth/token"),
        &[FORM],
        Some("grant_type=password&username=cy%40example.com&password=correct+horse+battery+staple"),
    );
    no_store(&form, "POST /auth/token (password)");
    let refresh = form.body["refresh_token"].as_str().unwrap();
    let grant = send(
        "POST",
        &format!("{base}/auth/token"),
        &[FORM],
        Some(&format!("grant_type=refresh_token&refresh_token={refresh}")),
    );
    no_store(&grant, "POST /auth/token (refresh_token)");
    let refresh = grant.body["refresh_token"].as_str().unwrap();
    let rotated = send(
        "POST",
        &format!("{base}/auth/refresh"),
        &[JSON],
        Some(&json!({"refresh_token": refresh}).to_string()),
    );
    no_store(&rotated, "POST /auth/refresh");
    rotated.body["refresh_token"].as_str().unwrap().to_owned()
}

/// Finding 2: RSA keys under 2048 bits in a Better Auth JWKS verified tokens (RFC 7518 §3.3).
fn weak_rsa_keys_verify_nothing(base: &str) {
    for key in rsa_keys() {
        let kid = key["kid"].as_str().unwrap();
        let algorithm = match key["alg"].as_str().unwrap() {
            "RS256" => jsonwebtoken::Algorithm::RS256,
            "PS256" => jsonwebtoken::Algorithm::PS256,
            other => panic!("{other}"),
        };
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        let now = shared::token::unix_now();
        let subject = format!("user-{kid}");
        let claims = json!({"sub": subject, "iss": BETTER_AUTH_ISSUER, "aud": BETTER_AUTH_ISSUER,
                            "iat": now, "exp": now + 600});
        let der = base64::engine::general_purpose::STANDARD
            .decode(key["private_key_pkcs1_der_base64"].as_str().unwrap())
            .unwrap();
        let signing = jsonwebtoken::EncodingKey::from_rsa_der(&der);
        let token = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
        let answer = send(
            "POST",
            &format!("{base}/api/{subject}/tasks"),
            &[JSON, ("authorization", &format!("Bearer {token}"))],
            Some(r#"{"title":"minted"}"#),
        );
        let expected = if key["bits"].as_u64().unwrap() >= 2048 {
            201
        } else {
            401
        };
        assert_eq!(answer.status, expected, "{kid}: {}", answer.body);
    }
}

/// Findings 4 and 5: the discovery document was an invalid OIDC one whose URLs came from `Host`.
fn metadata_comes_from_configuration(base: &str) {
    let path = "/.well-known/oauth-authorization-server";
    let metadata = send(
        "GET",
        &format!("{base}{path}"),
        &[("host", "attacker.example")],
        None,
    );
    assert_eq!(metadata.status, 200, "{}", metadata.body);
    assert!(
        !metadata.body.to_string().contains("attacker.example"),
        "{}",
        metadata.body
    );
    assert_eq!(metadata.body["issuer"], base);
    assert_eq!(
        metadata.body["token_endpoint"],
        format!("{base}/auth/token")
    );
    assert_eq!(
        metadata.body["jwks_uri"],
        format!("{base}/.well-known/jwks.json")
    );
    let oidc = send(
        "GET",
        &format!("{base}/.well-known/openid-configuration"),
        &[],
        None,
    );
    assert_eq!(oidc.status, 404, "we are no OpenID Provider: {}", oidc.body);
}
