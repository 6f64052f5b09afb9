//! `cargo xtask jwt-keys env | rotate PRIVATE_SECRET_ARN PUBLIC_SECRET_ARN`: our EdDSA key ring by
//! hand. `env` prints a new ring as `.env` lines (scripts/dev.sh writes them once); `rotate` turns
//! the ring kept in Secrets Manager once (scripts/rotate-jwt-keys.sh looks the ARNs up).

use shared::token::ring::{rotate_in_secrets_manager, KeyRing};

/// A new key ring as `.env` lines.
pub fn env() -> String {
    KeyRing::generate().dotenv_lines()
}

/// One rotation of the ring in Secrets Manager; the functions read it at their next deploy.
pub async fn rotate(private: &str, public: &str) -> anyhow::Result<()> {
    let sdk = shared::aws::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let kid = rotate_in_secrets_manager(&client, private, public, false).await?;
    eprintln!(
        "rotated: new tokens will carry kid {}; deploy to make every function read it",
        kid.unwrap_or_default()
    );
    Ok(())
}
