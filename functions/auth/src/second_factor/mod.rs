//! The second factor: a TOTP authenticator ([`totp`]) whose secret is sealed at rest ([`sealing`]),
//! ten single-use recovery codes ([`recovery`]), the challenge that joins the two steps of a
//! sign-in, and the step-up rule for sensitive changes. The rules live here, once:
//!
//! - **A code is checked through the [`PasswordGate`]**: refused while the account, the source or
//!   the account's second-factor key is locked; a wrong code counts against all three
//!   ([`throttle::SECOND_FACTOR`] for the bound) and is logged.
//! - **A code is accepted once**: a TOTP step moves `last_used_step` forward by one conditional
//!   update; a recovery code is spent by one conditional update.
//! - **A challenge is single-use and short-lived**, and dies with every event that ends credentials
//!   (`end_user_credentials`, migrations/0014) and with its user.
//! - **Step-up**: while a factor is active, a sensitive change needs the session to have proven it
//!   within `SECOND_FACTOR_MAX_AGE_SECONDS` ([`require_recent`]).

pub mod recovery;
pub mod sealing;
pub mod totp;

use std::sync::Arc;

use shared::error::{ApiError, FieldError};
use shared::misconfig::Misconfiguration;
use shared::token::unix_now;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::password_gate::PasswordGate;
use crate::secrets::{new_token, token_hash};
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::throttle;
use sealing::SealingKey;

/// How long the second step of a sign-in may wait for its code.
pub const CHALLENGE_TTL_SECS: u64 = 300;

/// How a code proved the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Totp,
    RecoveryCode { remaining: i64 },
}

impl Proof {
    /// The RFC 8176 methods this proof adds to a session's first factor: a TOTP code is `otp`;
    /// either makes it multi-factor (`mfa`, so `aal2`).
    pub fn added_methods(&self) -> Vec<String> {
        let methods: &[&str] = match self {
            Self::Totp => &["otp", "mfa"],
            Self::RecoveryCode { .. } => &["mfa"],
        };
        methods.iter().map(|m| (*m).to_owned()).collect()
    }

    /// The session's methods after a first factor (`pwd`, or `fed` for an identity provider) and
    /// this proof.
    pub fn amr_after(&self, first_factor: &str) -> Vec<String> {
        let mut amr = vec![first_factor.to_owned()];
        amr.extend(self.added_methods());
        amr
    }
}

/// Which factor a code is checked against: the one being enrolled (its first code activates it)
/// or the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pending,
    Active,
}

/// The key that seals secrets, or the misconfiguration that says it is not set.
pub fn sealing_key(state: &AuthState) -> Result<&SealingKey, ApiError> {
    state.settings.second_factor_key.as_ref().ok_or_else(|| {
        ApiError::Misconfigured(Arc::new(Misconfiguration {
            setting: Some("SECOND_FACTOR_KEY"),
            detail: "SECOND_FACTOR_KEY is not set, so no second factor can be enrolled or checked: \
                     set it to a random string of at least 32 characters (scripts/dev.sh writes one \
                     to .env; the template generates one), then restart the function"
                .to_owned(),
            cause: "SECOND_FACTOR_KEY is not set".to_owned(),
        }))
    })
}

/// Checks `raw` — a TOTP code, or at [`Stage::Active`] a recovery code — for `user_id` through
/// `gate`. `Ok(None)`: wrong (already counted and logged); a string that is neither kind of code is
/// a 422 on `field` and counts nothing (it cannot be right, so it tests no secret).
pub async fn prove(
    state: &AuthState,
    gate: &PasswordGate<'_>,
    user_id: Uuid,
    raw: &str,
    field: &str,
    via: &'static str,
    stage: Stage,
) -> Result<Option<Proof>, ApiError> {
    let lock_key = throttle::second_factor_key(&user_id);
    let totp_code = totp::normalize_code(raw);
    let recovery_code = match stage {
        Stage::Active => recovery::normalize(raw),
        Stage::Pending => None,
    };
    if totp_code.is_none() && recovery_code.is_none() {
        let expected = match stage {
            Stage::Pending => "Expected the 6-digit code your authenticator app shows",
            Stage::Active => {
                "Expected the 6-digit code your authenticator app shows, or a recovery code"
            }
        };
        return Err(ApiError::invalid_field(FieldError::body(
            field,
            expected,
            "value_error",
        )));
    }
    gate.refuse_if_locked(std::slice::from_ref(&lock_key))
        .await?;
    let proof = match (totp_code, recovery_code) {
        (Some(code), _) => check_totp(state, user_id, &code, stage).await?,
        (None, Some(code)) => spend_recovery_code(state, user_id, &code).await?,
        (None, None) => None,
    };
    match proof {
        Some(proof) => {
            state
                .db
                .execute(
                    "delete from login_throttle where key = $1",
                    &[(&lock_key, Type::TEXT)],
                )
                .await?;
            Ok(Some(proof))
        }
        None => {
            let failed = Event::SecondFactorFailed { via };
            let policy = Some((lock_key, throttle::SECOND_FACTOR));
            gate.count_failure(Some(user_id), policy, failed).await?;
            Ok(None)
        }
    }
}

async fn check_totp(
    state: &AuthState,
    user_id: Uuid,
    code: &str,
    stage: Stage,
) -> Result<Option<Proof>, ApiError> {
    let key = sealing_key(state)?;
    let Some(row) = state
        .db
        .query_opt(
            "select sealed_secret, last_used_step from second_factors
              where user_id = $1 and (activated_at is not null) = $2",
            &[
                (&user_id, Type::UUID),
                (&(stage == Stage::Active), Type::BOOL),
            ],
        )
        .await?
    else {
        return Ok(None);
    };
    let sealed: Vec<u8> = row.get(0);
    let last_used = row.get::<_, Option<i64>>(1).map(|step| step as u64);
    let secret = key.open(user_id, &sealed).ok_or_else(|| {
        ApiError::Misconfigured(Arc::new(Misconfiguration {
            setting: Some("SECOND_FACTOR_KEY"),
            detail: "A stored second factor does not open with SECOND_FACTOR_KEY: the key was \
                     changed after the factor was enrolled; restore the previous value"
                .to_owned(),
            cause: format!("the sealed TOTP secret of user {user_id} does not open"),
        }))
    })?;
    let Some(step) = totp::matching_step(&secret, code, totp::step_at(unix_now()), last_used)
    else {
        return Ok(None);
    };
    // Of two requests with one code, exactly one moves the step forward.
    let accepted = state
        .db
        .execute(
            "update second_factors set last_used_step = $2
              where user_id = $1 and (last_used_step is null or last_used_step < $2)",
            &[(&user_id, Type::UUID), (&(step as i64), Type::INT8)],
        )
        .await?;
    Ok((accepted == 1).then_some(Proof::Totp))
}

async fn spend_recovery_code(
    state: &AuthState,
    user_id: Uuid,
    code: &str,
) -> Result<Option<Proof>, ApiError> {
    let row = state
        .db
        .query_one(
            "with spent as (
                update recovery_codes set used_at = now()
                 where user_id = $1 and code_hash = $2 and used_at is null
                   and exists (select 1 from second_factors f
                                where f.user_id = $1 and f.activated_at is not null)
                returning 1
             )
             select (select count(*) from spent),
                    (select count(*) from recovery_codes where user_id = $1 and used_at is null)",
            &[(&user_id, Type::UUID), (&recovery::hash(code), Type::BYTEA)],
        )
        .await?;
    let (spent, unused_before): (i64, i64) = (row.get(0), row.get(1));
    Ok((spent == 1).then_some(Proof::RecoveryCode {
        remaining: unused_before - 1,
    }))
}

/// Logs a successful proof, and mails the owner when a recovery code was used.
pub async fn record_proof(
    state: &AuthState,
    user_id: Uuid,
    email: &str,
    origin: &Origin,
    session: Option<Uuid>,
    proof: Proof,
    via: &'static str,
) {
    let event = match proof {
        Proof::Totp => Event::SecondFactorUsed { via },
        Proof::RecoveryCode { remaining } => {
            if let Err(error) = state.mailer.send_recovery_code_used(email, remaining).await {
                tracing::warn!(%user_id, error = %error, "recovery-code notice not sent");
            }
            Event::RecoveryCodeUsed { via, remaining }
        }
    };
    state.log_event(user_id, origin, session, event).await;
}

/// Refuses with 401 `insufficient_user_authentication` (RFC 9470) when `user_id` has an active
/// factor and `session_id` has not proven it within `SECOND_FACTOR_MAX_AGE_SECONDS`.
pub async fn require_recent(
    state: &AuthState,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(), ApiError> {
    let max_age = state.settings.step_up_max_age.as_secs_f64();
    let fresh_enough: bool = state
        .db
        .query_one(
            "select not exists (select 1 from second_factors f
                                 where f.user_id = $1 and f.activated_at is not null)
                    or coalesce((select s.second_factor_at > now() - make_interval(secs => $3)
                                   from sessions s where s.id = $2 and s.user_id = $1), false)",
            &[
                (&user_id, Type::UUID),
                (&session_id, Type::UUID),
                (&max_age, Type::FLOAT8),
            ],
        )
        .await?
        .get(0);
    if fresh_enough {
        Ok(())
    } else {
        Err(ApiError::StepUpRequired {
            max_age_secs: state.settings.step_up_max_age.as_secs(),
        })
    }
}

/// Records on `session_id` that its second factor was just proven: what step-up checks, and the
/// `amr` its next tokens carry.
pub async fn mark_session(
    state: &AuthState,
    session_id: Uuid,
    proof: Proof,
) -> Result<(), ApiError> {
    state
        .db
        .execute(
            // The session keeps its first factor (`amr[1]`: `pwd`, `fed`) and gains the proof's.
            "update sessions set second_factor_at = now(), amr = array[amr[1]] || $2
              where id = $1",
            &[
                (&session_id, Type::UUID),
                (&proof.added_methods(), Type::TEXT_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

/// Opens the challenge of a sign-in whose password was right: the opaque value the client sends
/// back with the code.
/// `first_factor` is the RFC 8176 method of the step that opened it (`pwd`, `fed`): the second
/// step's session carries it.
pub async fn open_challenge(
    state: &AuthState,
    user_id: Uuid,
    first_factor: &str,
) -> Result<String, ApiError> {
    let (challenge, hash) = new_token();
    state
        .db
        .execute(
            "with swept as (
                delete from sign_in_challenges where user_id = $1 and expires_at < now()
             )
             insert into sign_in_challenges (token_hash, user_id, expires_at, first_factor)
             values ($2, $1, now() + make_interval(secs => $3), $4)",
            &[
                (&user_id, Type::UUID),
                (&hash, Type::BYTEA),
                (&(CHALLENGE_TTL_SECS as f64), Type::FLOAT8),
                (&first_factor, Type::TEXT),
            ],
        )
        .await?;
    Ok(challenge)
}

/// The account a live challenge belongs to (its user enabled).
pub struct Challenged {
    pub user_id: Uuid,
    pub email: String,
    pub email_key: String,
    pub role: String,
    /// The method of the step that opened the challenge (`pwd`, `fed`).
    pub first_factor: String,
}

/// The account of `challenge` while it is unexpired and its user enabled; `None` otherwise.
pub async fn find_challenge(
    state: &AuthState,
    challenge: &str,
) -> Result<Option<Challenged>, ApiError> {
    if challenge.is_empty() || challenge.len() > 256 {
        return Ok(None);
    }
    let row = state
        .db
        .query_opt(
            "select u.id, u.email, u.email_key, u.role, c.first_factor
               from sign_in_challenges c join users u on u.id = c.user_id
              where c.token_hash = $1 and c.expires_at > now() and not u.disabled",
            &[(&token_hash(challenge), Type::BYTEA)],
        )
        .await?;
    Ok(row.map(|row| Challenged {
        user_id: row.get(0),
        email: row.get(1),
        email_key: row.get(2),
        role: row.get(3),
        first_factor: row.get(4),
    }))
}

/// Spends `challenge`: true for exactly one caller, whatever the concurrency.
pub async fn spend_challenge(state: &AuthState, challenge: &str) -> Result<bool, ApiError> {
    Ok(state
        .db
        .execute(
            "delete from sign_in_challenges where token_hash = $1 and expires_at > now()",
            &[(&token_hash(challenge), Type::BYTEA)],
        )
        .await?
        == 1)
}

#[cfg(test)]
mod tests {
    use super::Proof;

    #[test]
    fn a_proof_adds_to_the_first_factor() {
        assert_eq!(Proof::Totp.amr_after("pwd"), ["pwd", "otp", "mfa"]);
        assert_eq!(Proof::Totp.amr_after("fed"), ["fed", "otp", "mfa"]);
        let recovery = Proof::RecoveryCode { remaining: 3 };
        assert_eq!(recovery.amr_after("fed"), ["fed", "mfa"]);
    }
}
