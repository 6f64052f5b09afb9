//! The one gate every check of a password or a second-factor code passes through: sign-in
//! (`/auth/login`, the `/auth/token` password grant, and its second step), the replay of a
//! registration, the current password asked before an email or password change or an account
//! deletion, and the codes of enrolment and step-up.
//!
//! The rule (NIST SP 800-63B-4 §3.2.2, ASVS 5 V6.3): the account's and the source address's locks
//! are read *before* the password is checked, so a locked account gets the lock's answer whatever
//! the password (no oracle while locked); a wrong password then counts against both, with the
//! same policies whichever path checked it. A caller never calls the hasher itself.

use shared::error::ApiError;
use uuid::Uuid;

use crate::password::Verified;
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::throttle;

/// One attempt at one account's password, from one source address.
pub struct PasswordGate<'a> {
    state: &'a AuthState,
    account_key: String,
    ip: Option<&'a str>,
    origin: &'a Origin,
    /// Which path checks (`sign_in`, `registration_replay`, `current_password`), for the log.
    via: &'static str,
}

impl<'a> PasswordGate<'a> {
    /// `email_key` is the account's canonical address ([`shared::email::Email::key`]): every
    /// spelling of an address meets one lock.
    pub fn new(
        state: &'a AuthState,
        email_key: &str,
        origin: &'a Origin,
        via: &'static str,
    ) -> Self {
        Self {
            state,
            account_key: throttle::account_key(email_key),
            ip: origin.ip.as_deref(),
            origin,
            via,
        }
    }

    /// The throttle keys whose lock refuses this attempt, for a caller that reads the locks in a
    /// query of its own (sign-in reads them with the user, in one round trip). A caller that does
    /// so must answer [`throttle::too_many`] when one is locked, before [`Self::check`].
    pub fn lock_keys(&self) -> Vec<String> {
        let mut keys = vec![self.account_key.clone()];
        keys.extend(self.ip.map(throttle::ip_key));
        keys
    }

    /// The throttle key of the account (sign-in clears it after a success).
    pub fn account_key(&self) -> &str {
        &self.account_key
    }

    /// Refuses with 429 while the account, the source, or any of `also` is locked: one round trip.
    pub async fn refuse_if_locked(&self, also: &[String]) -> Result<(), ApiError> {
        let mut keys = self.lock_keys();
        keys.extend_from_slice(also);
        match throttle::locked_for(&self.state.db, &keys).await? {
            Some(seconds) => Err(throttle::too_many(seconds)),
            None => Ok(()),
        }
    }

    /// Checks `given` against `stored` (`None`: no usable account; the same work is done, and the
    /// attempt fails). A mismatch is counted against the account and the source before it is
    /// returned, and written to the security log of `user` (the account, when there is one),
    /// with the lock it caused.
    pub async fn check(
        &self,
        given: &str,
        stored: Option<String>,
        user: Option<Uuid>,
    ) -> Result<Verified, ApiError> {
        let verified = self.state.hasher.verify(given, stored).await?;
        if verified == Verified::Mismatch {
            let failed = Event::PasswordFailed { via: self.via };
            self.count_failure(user, None, failed).await?;
        }
        Ok(verified)
    }

    /// Counts one wrong secret against the account, the source and `also` (the second-factor key
    /// of [`throttle::SECOND_FACTOR`], say), and logs `failed` (and the lock it caused) for `user`.
    /// [`Self::check`] calls it for passwords; the second-factor code checks call it directly.
    pub async fn count_failure(
        &self,
        user: Option<Uuid>,
        also: Option<(String, throttle::Policy)>,
        failed: Event,
    ) -> Result<(), ApiError> {
        let failures = [
            Some((self.account_key.clone(), throttle::ACCOUNT)),
            self.ip
                .map(|ip| (throttle::ip_key(ip), self.state.settings.source_ip_policy)),
            also,
        ];
        let failures: Vec<_> = failures.into_iter().flatten().collect();
        let locked = throttle::record_failure(&self.state.db, &failures).await?;
        if let Some(user) = user {
            self.state.log_event(user, self.origin, None, failed).await;
            if let Some(seconds) = locked {
                let lock = Event::AccountLocked { seconds };
                self.state.log_event(user, self.origin, None, lock).await;
            }
        }
        Ok(())
    }
}
