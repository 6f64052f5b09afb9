//! The security log: one row per thing that happened to an account, written here and nowhere else
//! (`security_events`, migrations/0013). Each event is a variant of [`Event`], so what a row can
//! say is a closed list: its `kind` and a `detail` made of our own values, never a password, code,
//! secret or token. Recording never fails the request it describes (that already happened): a
//! failed insert is logged as a warning.

use axum::http::{header, HeaderMap};
use serde::Serialize;
use shared::db::Db;
use tokio_postgres::types::Type;
use utoipa::ToSchema;
use uuid::Uuid;

/// Rows older than the retention swept by each insert, at most: enough to keep up with any rate of
/// new events, small enough to cost the insert nothing noticeable.
const SWEEP_PER_INSERT: i64 = 20;

/// Where a request came from, as the log records it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// `ip` as API Gateway saw it ([`shared::http::SourceIp`]); the `User-Agent`, cut to 512 characters.
    pub fn new(ip: Option<&str>, headers: &HeaderMap) -> Self {
        Self {
            ip: ip.map(str::to_owned),
            user_agent: user_agent(headers).map(str::to_owned),
        }
    }
}

/// The request's `User-Agent`, cut to 512 characters (what sessions and the log keep).
pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|agent| truncate(agent, 512))
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An account was made (`provider`: through that identity provider, without a password).
    Registered {
        provider: Option<String>,
    },
    /// A session was opened; `amr`: how (RFC 8176: `pwd`, `otp`, `mfa`, `fed`, ...).
    SignedIn {
        amr: Vec<String>,
    },
    /// An identity at `provider` now signs in to this account.
    IdentityLinked {
        provider: String,
    },
    /// The user removed the identity at `provider`.
    IdentityUnlinked {
        provider: String,
    },
    /// A sign-in through `provider` that asserted this account's address was refused (`reason`:
    /// `email_not_verified`, `account_exists_unverified`, `account_disabled`).
    ProviderSignInFailed {
        provider: String,
        reason: &'static str,
    },
    /// A wrong password, on any path that checks one (`via`: `sign_in`, `registration_replay`,
    /// `current_password`).
    PasswordFailed {
        via: &'static str,
    },
    /// Failures reached the account's limit: sign-in is refused for a while.
    AccountLocked {
        seconds: i64,
    },
    PasswordChanged,
    /// A new address was asked for; it takes effect when its link is followed.
    EmailChangeRequested,
    EmailVerified,
    ResetRequested,
    ResetCompleted,
    /// One session ended (`by_admin`: an administrator ended it).
    SessionEnded {
        session: Uuid,
        by_admin: bool,
    },
    /// `count` sessions ended at once (`scope`: `all` or `others`).
    SessionsEnded {
        count: i64,
        scope: &'static str,
    },
    RoleChanged {
        role: &'static str,
        by: Uuid,
    },
    /// A TOTP factor was proven and is now active.
    SecondFactorEnrolled,
    /// The factor and its recovery codes were removed (`by`: the administrator who did it, for a
    /// user who lost the device and the codes).
    SecondFactorRemoved {
        by: Option<Uuid>,
    },
    /// A second factor was proven (`via`: `sign_in`, `step_up`), with a TOTP code.
    SecondFactorUsed {
        via: &'static str,
    },
    /// A wrong code, on any path that checks one (`via`: `sign_in`, `step_up`, `activation`).
    SecondFactorFailed {
        via: &'static str,
    },
    /// A recovery code stood in for the TOTP code (`remaining`: unused codes left).
    RecoveryCodeUsed {
        via: &'static str,
        remaining: i64,
    },
    RecoveryCodesRegenerated,
    /// A passkey was registered (`passkey`: its id).
    PasskeyAdded {
        passkey: Uuid,
    },
    PasskeyRemoved {
        passkey: Uuid,
    },
    /// A passkey sign-in of this account was refused (`via`: why — `signature`, `origin`,
    /// `user_verification`, `ceremony`, `account`, `counter`...).
    PasskeyFailed {
        via: &'static str,
    },
    /// The authenticator's signature counter did not move forward: a cloned authenticator, or a
    /// replayed assertion. Refused.
    PasskeyCloneSuspected {
        passkey: Uuid,
    },
    DisabledChanged {
        disabled: bool,
        by: Uuid,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "registered",
            Self::SignedIn { .. } => "signed_in",
            Self::IdentityLinked { .. } => "identity_linked",
            Self::IdentityUnlinked { .. } => "identity_unlinked",
            Self::ProviderSignInFailed { .. } => "provider_sign_in_failed",
            Self::PasswordFailed { .. } => "password_failed",
            Self::AccountLocked { .. } => "account_locked",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailVerified => "email_verified",
            Self::ResetRequested => "password_reset_requested",
            Self::ResetCompleted => "password_reset_completed",
            Self::SessionEnded { .. } => "session_ended",
            Self::SessionsEnded { .. } => "sessions_ended",
            Self::RoleChanged { .. } => "role_changed",
            Self::DisabledChanged { .. } => "disabled_changed",
            Self::SecondFactorEnrolled => "second_factor_enrolled",
            Self::SecondFactorRemoved { .. } => "second_factor_removed",
            Self::SecondFactorUsed { .. } => "second_factor_used",
            Self::SecondFactorFailed { .. } => "second_factor_failed",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PasskeyAdded { .. } => "passkey_added",
            Self::PasskeyRemoved { .. } => "passkey_removed",
            Self::PasskeyFailed { .. } => "passkey_failed",
            Self::PasskeyCloneSuspected { .. } => "passkey_clone_suspected",
        }
    }

    fn detail(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Self::Registered {
                provider: Some(provider),
            }
            | Self::IdentityLinked { provider }
            | Self::IdentityUnlinked { provider } => json!({ "provider": provider }),
            Self::SignedIn { amr } => json!({ "amr": amr }),
            Self::ProviderSignInFailed { provider, reason } => {
                json!({ "provider": provider, "reason": reason })
            }
            Self::PasswordFailed { via }
            | Self::SecondFactorUsed { via }
            | Self::SecondFactorFailed { via }
            | Self::PasskeyFailed { via } => json!({ "via": via }),
            Self::PasskeyAdded { passkey }
            | Self::PasskeyRemoved { passkey }
            | Self::PasskeyCloneSuspected { passkey } => json!({ "passkey_id": passkey }),
            Self::RecoveryCodeUsed { via, remaining } => {
                json!({ "via": via, "remaining": remaining })
            }
            Self::AccountLocked { seconds } => json!({ "seconds": seconds }),
            Self::SessionEnded { session, by_admin } => {
                json!({ "session_id": session, "by_admin": by_admin })
            }
            Self::SessionsEnded { count, scope } => json!({ "count": count, "scope": scope }),
            Self::RoleChanged { role, by } => json!({ "role": role, "by": by }),
            Self::DisabledChanged { disabled, by } => json!({ "disabled": disabled, "by": by }),
            Self::SecondFactorRemoved { by: Some(by) } => json!({ "by": by }),
            _ => json!({}),
        }
    }
}

/// Records `event` for `user_id`, and sweeps a few rows past `retention_days`.
pub async fn record(
    db: &Db,
    retention_days: i32,
    user_id: Uuid,
    origin: &Origin,
    session: Option<Uuid>,
    event: Event,
) {
    let detail = event.detail();
    let recorded = db
        .execute(
            "with swept as (
                delete from security_events
                 where id in (select id from security_events
                               where at < now() - make_interval(days => $7)
                               limit $8 for update skip locked)
             )
             insert into security_events (user_id, kind, source_ip, user_agent, session_id, detail)
             values ($1, $2, $3, $4, $5, $6)",
            &[
                (&user_id, Type::UUID),
                (&event.kind(), Type::TEXT),
                (&origin.ip, Type::TEXT),
                (&origin.user_agent, Type::TEXT),
                (&session, Type::UUID),
                (&detail, Type::JSONB),
                (&retention_days, Type::INT4),
                (&SWEEP_PER_INSERT, Type::INT8),
            ],
        )
        .await;
    if let Err(error) = recorded {
        tracing::warn!(%user_id, kind = event.kind(), error = %error, "security event not recorded");
    }
}

/// One event as its user and administrators read it.
#[derive(Serialize, ToSchema)]
pub struct SecurityEvent {
    /// Increasing; also the page cursor.
    pub id: i64,
    /// `registered`, `signed_in`, `identity_linked`, `identity_unlinked`,
    /// `provider_sign_in_failed`, `password_failed`, `account_locked`, `password_changed`,
    /// `email_change_requested`, `email_verified`, `password_reset_requested`,
    /// `password_reset_completed`, `session_ended`, `sessions_ended`, `role_changed`,
    /// `disabled_changed`, `second_factor_enrolled`, `second_factor_removed`,
    /// `second_factor_used`, `second_factor_failed`, `recovery_code_used`,
    /// `recovery_codes_regenerated`.
    #[schema(example = "signed_in")]
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session the event happened in, or that it created.
    pub session_id: Option<Uuid>,
    /// What else there is to say, by kind (`via`, `seconds`, `count`, `scope`, `role`, `by`,
    /// `amr`, `provider`, `reason`, ...).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of `user_id`'s events, newest first, after the event `before` when given; one more than
/// `limit` when there is a next page.
pub async fn page(
    db: &Db,
    user_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<SecurityEvent>, i64), shared::db::DbError> {
    let rows = db
        .query(
            "select id, kind, at, source_ip, user_agent, session_id, detail,
                    (select count(*) from security_events where user_id = $1)
               from security_events
              where user_id = $1 and ($2::int8 is null or id < $2)
              order by id desc
              limit $3",
            &[
                (&user_id, Type::UUID),
                (&before, Type::INT8),
                (&(limit + 1), Type::INT8),
            ],
        )
        .await?;
    let total = rows.first().map_or(0, |row| row.get(7));
    let events = rows
        .iter()
        .map(|row| SecurityEvent {
            id: row.get(0),
            kind: row.get(1),
            at: row.get(2),
            ip: row.get(3),
            user_agent: row.get(4),
            session_id: row.get(5),
            detail: row.get(6),
        })
        .collect();
    Ok((events, total))
}
