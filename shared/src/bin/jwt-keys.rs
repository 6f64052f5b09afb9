//! Our EdDSA keys, by hand:
//! - `jwt-keys env`: a new key ring as `.env` lines (`JWT_ALGORITHM`, `JWT_SIGNING_KEY`,
//!   `JWT_PUBLIC_KEYS`), for local development (scripts/dev.sh writes them once);
//! - `jwt-keys rotate PRIVATE_SECRET_ARN PUBLIC_SECRET_ARN`: one rotation of the ring kept in
//!   Secrets Manager (the stack's `JwtSigningKeysArn` and `JwtPublicKeysArn` outputs; credentials
//!   and region as for the AWS CLI). scripts/rotate-jwt-keys.sh looks the ARNs up for a stack.

use std::process::ExitCode;

use shared::keyring::{rotate_in_secrets_manager, KeyRing};

const USAGE: &str = "usage: jwt-keys env | rotate PRIVATE_SECRET_ARN PUBLIC_SECRET_ARN";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["env"] => {
            print!("{}", KeyRing::generate().dotenv_lines());
            Ok(())
        }
        ["rotate", private, public] => {
            let sdk = shared::aws::sdk_config().await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            rotate_in_secrets_manager(&client, private, public, false)
                .await
                .map(|kid| {
                    eprintln!(
                        "rotated: new tokens will carry kid {}; deploy to make every function read it",
                        kid.unwrap_or_default()
                    );
                })
        }
        _ => Err(anyhow::anyhow!(USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jwt-keys: {error:#}");
            ExitCode::FAILURE
        }
    }
}
