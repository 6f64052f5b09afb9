//! Reset mails through Amazon SES (v2 API), against a local AWS API (moto), not a mock of ours.

use crate::common;

use auth::mailer::Mailer;
use common::TestApp;
use http::StatusCode;
use serde_json::json;
use test_support::Moto;

async fn ses_mailer(moto: &Moto, from: &str) -> Mailer {
    let client = aws_sdk_sesv2::Client::new(&moto.sdk_config());
    client
        .create_email_identity()
        .email_identity("no-reply@example.com")
        .send()
        .await
        .expect("moto verifies the identity");
    Mailer::Ses {
        client,
        from: from.to_owned(),
    }
}

#[tokio::test]
async fn ses_sends_from_a_verified_address_and_refuses_an_unverified_one() {
    let moto = Moto::start().await;
    let verified = ses_mailer(&moto, "no-reply@example.com").await;
    verified
        .send_password_reset("ada@example.com", "https://app.example.com/reset?token=abc")
        .await
        .expect("SES accepts the message");
    let unverified = ses_mailer(&moto, "someone-else@elsewhere.example").await;
    let error = unverified
        .send_password_reset("ada@example.com", "https://app.example.com/reset?token=abc")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("SES send_email failed"),
        "{error:#}"
    );
}

#[tokio::test]
async fn reset_request_through_ses_still_answers_202_when_sending_fails() {
    let moto = Moto::start().await;
    let mut app = TestApp::new().await;
    app.state.mailer = ses_mailer(&moto, "unverified@elsewhere.example").await;
    let router = auth::app(app.state.clone());
    app.router = router;
    app.register("ada@example.com").await;
    let answer = app
        .post("/auth/password-reset", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::ACCEPTED,
        "the answer never depends on delivery"
    );
}

fn median(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The answer time of a reset request must not tell a known address (a token is stored and the
/// mail goes through SES) from an unknown one (nothing is sent): 50 of each, interleaved.
#[tokio::test]
async fn reset_requests_take_as_long_for_known_and_unknown_addresses_with_ses_in_the_loop() {
    let moto = Moto::start().await;
    let mut app = TestApp::with_vars(&[("PASSWORD_RESET_ANSWER_MS", "150")]).await;
    app.state.mailer = ses_mailer(&moto, "no-reply@example.com").await;
    app.router = auth::app(app.state.clone());
    app.register("ada@example.com").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..50 {
        for (email, samples) in [
            ("ada@example.com".to_owned(), &mut known),
            (format!("nobody-{round}@example.com"), &mut unknown),
        ] {
            let started = std::time::Instant::now();
            let answer = app
                .post("/auth/password-reset", json!({"email": email}))
                .await;
            samples.push(started.elapsed());
            assert_eq!(answer.status, StatusCode::ACCEPTED);
        }
    }
    let sent: i64 = app
        .sql()
        .await
        .query_one("select count(*) from password_reset_tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sent, 50, "every known request stored a token and mailed it");
    let (known, unknown) = (median(known), median(unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    eprintln!("reset request medians: known {known:?}, unknown {unknown:?}, ratio {ratio:.3}");
    assert!(
        (1.0 / 1.1..=1.1).contains(&ratio),
        "known {known:?} vs unknown {unknown:?}: ratio {ratio:.3}"
    );
}
