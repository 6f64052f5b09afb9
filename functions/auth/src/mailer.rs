//! Delivery of password-reset links. Locally the link goes to the log (at info, target `mail`) so a
//! developer can click it; in AWS, Amazon SES sends it when `SES_FROM_ADDRESS` is set. In AWS
//! without it, nothing is sent and the link is NOT logged: a live reset token in CloudWatch would
//! let anyone who reads the logs take over the account.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

#[derive(Debug, Clone)]
pub enum Mailer {
    /// Local development: the link is written to the log.
    Log,
    /// In AWS (`AWS_EXECUTION_ENV` is set) without `SES_FROM_ADDRESS`: a warning, no link.
    Unconfigured,
    /// Amazon SES (v2 API), from a verified address or domain.
    Ses {
        client: aws_sdk_sesv2::Client,
        from: String,
    },
}

impl Mailer {
    /// SES when `SES_FROM_ADDRESS` is set (the SDK is loaded only then); else the log locally, and
    /// nothing in AWS.
    pub async fn from_vars(vars: &std::collections::HashMap<String, String>) -> Self {
        match vars
            .get("SES_FROM_ADDRESS")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(from) => {
                let sdk = shared::aws::sdk_config().await;
                Self::Ses {
                    client: aws_sdk_sesv2::Client::new(&sdk),
                    from: from.to_owned(),
                }
            }
            None if vars.contains_key("AWS_EXECUTION_ENV") => {
                tracing::warn!(target: "mail", "SES_FROM_ADDRESS is not set: password reset links will not be sent");
                Self::Unconfigured
            }
            None => Self::Log,
        }
    }

    pub async fn send_password_reset(&self, to: &str, link: &str) -> anyhow::Result<()> {
        self.send(to, Mail::PasswordReset { link }).await
    }

    pub async fn send_email_verification(&self, to: &str, link: &str) -> anyhow::Result<()> {
        self.send(to, Mail::EmailVerification { link }).await
    }

    /// Tells the owner a recovery code was used (a stolen set shows up at once).
    pub async fn send_recovery_code_used(&self, to: &str, remaining: i64) -> anyhow::Result<()> {
        self.send(to, Mail::RecoveryCodeUsed { remaining }).await
    }

    /// Tells the owner a passkey was added (a stolen session adding one shows up at once).
    pub async fn send_passkey_added(&self, to: &str, name: &str) -> anyhow::Result<()> {
        self.send(to, Mail::PasskeyAdded { name }).await
    }

    async fn send(&self, to: &str, mail: Mail<'_>) -> anyhow::Result<()> {
        match self {
            Self::Log => {
                let link = mail.link().unwrap_or("");
                tracing::info!(target: "mail", to, link, "{} link (local development: not emailed)", mail.name());
                Ok(())
            }
            Self::Unconfigured => {
                tracing::warn!(target: "mail", "{} requested, not sent: SES_FROM_ADDRESS is not set", mail.name());
                Ok(())
            }
            Self::Ses { client, from } => {
                let message = Message::builder()
                    .subject(
                        Content::builder()
                            .data(mail.subject())
                            .charset("UTF-8")
                            .build()?,
                    )
                    .body(
                        Body::builder()
                            .text(
                                Content::builder()
                                    .data(mail.text())
                                    .charset("UTF-8")
                                    .build()?,
                            )
                            .build(),
                    )
                    .build();
                client
                    .send_email()
                    .from_email_address(from)
                    .destination(Destination::builder().to_addresses(to).build())
                    .content(EmailContent::builder().simple(message).build())
                    .send()
                    .await
                    .map_err(|error| {
                        anyhow::anyhow!(
                            "SES send_email failed: {}",
                            aws_sdk_sesv2::error::DisplayErrorContext(&error)
                        )
                    })?;
                tracing::info!(target: "mail", "{} mail sent through SES", mail.name());
                Ok(())
            }
        }
    }
}

/// The mails we send: a link with a single-use token, or a notice.
enum Mail<'a> {
    PasswordReset { link: &'a str },
    EmailVerification { link: &'a str },
    RecoveryCodeUsed { remaining: i64 },
    PasskeyAdded { name: &'a str },
}

impl Mail<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::PasswordReset { .. } => "password reset",
            Self::EmailVerification { .. } => "email verification",
            Self::RecoveryCodeUsed { .. } => "recovery code used",
            Self::PasskeyAdded { .. } => "passkey added",
        }
    }

    fn link(&self) -> Option<&str> {
        match self {
            Self::PasswordReset { link } | Self::EmailVerification { link } => Some(link),
            Self::RecoveryCodeUsed { .. } | Self::PasskeyAdded { .. } => None,
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Self::PasswordReset { .. } => "Reset your password",
            Self::EmailVerification { .. } => "Confirm your email address",
            Self::RecoveryCodeUsed { .. } => "A recovery code of your account was used",
            Self::PasskeyAdded { .. } => "A passkey was added to your account",
        }
    }

    fn text(&self) -> String {
        match self {
            Self::PasswordReset { link } => format!(
                "Someone asked to reset the password of this account.\n\n\
                 To choose a new password, open this link within 15 minutes:\n{link}\n\n\
                 If it was not you, ignore this message: your password stays as it is."
            ),
            Self::EmailVerification { link } => format!(
                "Someone signed up, or changed the address of an account, with this address.\n\n\
                 To confirm that it is yours, open this link within 24 hours:\n{link}\n\n\
                 If it was not you, ignore this message: the address stays unconfirmed."
            ),
            Self::RecoveryCodeUsed { remaining } => format!(
                "A recovery code was just used to sign in to this account, or to confirm a change, \
                 instead of your authenticator app. {remaining} unused codes are left.\n\n\
                 If it was not you, change your password and create new recovery codes now: \
                 someone has your password and your codes."
            ),
            Self::PasskeyAdded { name } => format!(
                "A passkey named \"{name}\" was just added to this account: it can now sign in \
                 without a password.\n\n\
                 If it was not you, remove it from your account's passkeys and change your \
                 password now: someone is signed in as you."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn the_link_is_logged_only_outside_aws() {
        assert!(matches!(Mailer::from_vars(&vars(&[])).await, Mailer::Log));
        let in_aws = vars(&[("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")]);
        assert!(matches!(
            Mailer::from_vars(&in_aws).await,
            Mailer::Unconfigured
        ));
        let blank = vars(&[
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("SES_FROM_ADDRESS", "  "),
        ]);
        assert!(matches!(
            Mailer::from_vars(&blank).await,
            Mailer::Unconfigured
        ));
    }
}
