//! The linking rule: which account a provider identity signs in to. The one home of the rule; the
//! part most implementations get wrong, because an email address from a provider is only as good
//! as the provider's word on it and as ours.
//!
//! 1. An identity `(provider, sub)` already linked signs in to its account (a disabled one is
//!    refused). Nothing else about the token matters then: `sub` is the identity, not the email.
//! 2. Otherwise the provider must assert `email_verified: true` for its `email`. An unverified
//!    provider address neither links nor creates: linking would hand an account to whoever typed
//!    its address at a provider that does not check; creating would let an attacker pre-claim a
//!    victim's address before they register (pre-account hijacking).
//! 3. A verified address whose canonical key ([`Email::key`]) is an account's: linked only if that
//!    account's own address is verified here too (`email_verified_at`). An unverified account may
//!    be someone's squat of the address (registered with a password by an attacker, waiting for
//!    the owner to link a provider and share it): refused, `account_exists_unverified`; its owner
//!    verifies it (or resets its password) first.
//! 4. No account: one is made (no password, address verified on the provider's word through
//!    `record_email_verified`, role `user` — never admin, whatever `ADMIN_EMAIL` says) with the
//!    identity.
//!
//! All of it in one transaction; the unique `(provider, subject)` and `email_key` settle races.

use shared::db::Queries as _;
use shared::error::ApiError;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::domain::Email;
use crate::security_log::{Event, Origin};
use crate::state::AuthState;

use super::{Asserted, Refused};

/// The account a provider sign-in ends in.
#[derive(Debug)]
pub struct Account {
    pub user_id: Uuid,
    /// How it came to be: an identity known already, one just linked, or a new account.
    pub how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Known,
    Linked,
    Created,
}

/// Applies the rule (module docs) to what `provider` asserted; `Err(Refused)` tells the frontend
/// why (and is in the refused account's security log when there is one).
pub async fn resolve(
    state: &AuthState,
    provider: &str,
    asserted: &Asserted,
    origin: &Origin,
) -> Result<Result<Account, Refused>, ApiError> {
    // Twice at most: a second pass only after losing a race to create the same account or link.
    for _ in 0..2 {
        if let Some(outcome) = attempt(state, provider, asserted, origin).await? {
            return Ok(outcome);
        }
    }
    Ok(Err(Refused::new(
        "temporarily_unavailable",
        "The sign-in raced another one for the same account; try again",
    )))
}

async fn refuse(
    state: &AuthState,
    user: Option<Uuid>,
    provider: &str,
    origin: &Origin,
    reason: &'static str,
    description: &str,
) -> Result<Option<Result<Account, Refused>>, ApiError> {
    if let Some(user) = user {
        let event = Event::ProviderSignInFailed {
            provider: provider.to_owned(),
            reason,
        };
        state.log_event(user, origin, None, event).await;
    }
    tracing::info!(provider, reason, "provider sign-in refused");
    Ok(Some(Err(Refused::new(reason, description))))
}

/// One pass of the rule; `None` when a concurrent sign-in won a race (try again).
async fn attempt(
    state: &AuthState,
    provider: &str,
    asserted: &Asserted,
    origin: &Origin,
) -> Result<Option<Result<Account, Refused>>, ApiError> {
    let known = state
        .db
        .query_opt(
            "update user_identities i set last_used_at = now()
               from users u
              where i.provider = $1 and i.subject = $2 and u.id = i.user_id
             returning u.id, u.disabled",
            &[(&provider, Type::TEXT), (&asserted.subject, Type::TEXT)],
        )
        .await?;
    if let Some(row) = known {
        let user_id: Uuid = row.get(0);
        if row.get::<_, bool>(1) {
            return refuse(
                state,
                Some(user_id),
                provider,
                origin,
                "account_disabled",
                "This account is disabled",
            )
            .await;
        }
        return Ok(Some(Ok(Account {
            user_id,
            how: How::Known,
        })));
    }
    let (Some(raw_email), true) = (&asserted.email, asserted.email_verified) else {
        // The provider's unverified word names no account; but an account with that address is
        // told someone tried (its log), though nothing is linked.
        let named = match asserted.email.as_deref().map(|e| Email::parse(e, "email")) {
            Some(Ok(email)) => state
                .db
                .query_opt(
                    "select id from users where email_key = $1",
                    &[(&email.key(), Type::TEXT)],
                )
                .await?
                .map(|row| row.get::<_, Uuid>(0)),
            _ => None,
        };
        return refuse(
            state,
            named,
            provider,
            origin,
            "email_not_verified",
            "The provider did not vouch for your email address (email_verified is not true); verify it there, or sign up with a password",
        )
        .await;
    };
    let Ok(email) = Email::parse(raw_email, "email") else {
        return refuse(
            state,
            None,
            provider,
            origin,
            "invalid_email",
            "The provider's email address is not one we accept",
        )
        .await;
    };
    let existing = state
        .db
        .query_opt(
            "select id, disabled, email_verified_at is not null from users where email_key = $1",
            &[(&email.key(), Type::TEXT)],
        )
        .await?;
    let (user_id, how) = match existing {
        Some(row) => {
            let user_id: Uuid = row.get(0);
            if row.get::<_, bool>(1) {
                return refuse(
                    state,
                    Some(user_id),
                    provider,
                    origin,
                    "account_disabled",
                    "This account is disabled",
                )
                .await;
            }
            if !row.get::<_, bool>(2) {
                return refuse(
                    state,
                    Some(user_id),
                    provider,
                    origin,
                    "account_exists_unverified",
                    "An account with this email exists but its address is not verified: verify it (or reset its password) first, then sign in with the provider again",
                )
                .await;
            }
            // The insert checks the account again: verified and enabled when it links.
            let linked = state
                .db
                .execute(
                    "insert into user_identities (user_id, provider, subject, email)
                     select id, $2, $3, $4 from users
                      where id = $1 and email_verified_at is not null and not disabled
                     on conflict (provider, subject) do nothing",
                    &[
                        (&user_id, Type::UUID),
                        (&provider, Type::TEXT),
                        (&asserted.subject, Type::TEXT),
                        (&email.as_str(), Type::TEXT),
                    ],
                )
                .await?;
            if linked == 0 {
                return Ok(None);
            }
            (user_id, How::Linked)
        }
        None => {
            let transaction = state.db.begin().await?;
            let created = transaction
                .query_opt(
                    "insert into users (email, email_key, password_hash) values ($1, $2, null)
                     on conflict do nothing returning id",
                    &[(&email.as_str(), Type::TEXT), (&email.key(), Type::TEXT)],
                )
                .await?;
            let Some(row) = created else {
                transaction.rollback().await;
                return Ok(None);
            };
            let user_id: Uuid = row.get(0);
            transaction
                .query_one(
                    "select record_email_verified($1, $2, null)",
                    &[(&user_id, Type::UUID), (&email.key(), Type::TEXT)],
                )
                .await?;
            let linked = transaction
                .execute(
                    "insert into user_identities (user_id, provider, subject, email)
                     values ($1, $2, $3, $4) on conflict (provider, subject) do nothing",
                    &[
                        (&user_id, Type::UUID),
                        (&provider, Type::TEXT),
                        (&asserted.subject, Type::TEXT),
                        (&email.as_str(), Type::TEXT),
                    ],
                )
                .await?;
            if linked == 0 {
                transaction.rollback().await;
                return Ok(None);
            }
            transaction.commit().await?;
            (user_id, How::Created)
        }
    };
    if how == How::Created {
        let event = Event::Registered {
            provider: Some(provider.to_owned()),
        };
        state.log_event(user_id, origin, None, event).await;
    }
    let event = Event::IdentityLinked {
        provider: provider.to_owned(),
    };
    state.log_event(user_id, origin, None, event).await;
    tracing::info!(%user_id, provider, ?how, "provider identity linked");
    Ok(Some(Ok(Account { user_id, how })))
}
