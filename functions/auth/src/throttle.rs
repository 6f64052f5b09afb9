//! Throttling of sign-in and registration, stored in Postgres (`login_throttle`). Keys come from
//! the account (`account:<email>`) and from the source IP that API Gateway saw (`ip:<addr>`), never
//! from a client header.

use shared::db::{Db, Queries};
use shared::error::ApiError;
use tokio_postgres::types::Type;

/// How many failures lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub threshold: i32,
    pub base_lock_secs: i32,
    pub max_lock_secs: i32,
    pub window_secs: i32,
}

/// Like Cognito: a short lock after 5 failures, doubling with each further one, capped at 15 min.
pub const ACCOUNT: Policy = Policy {
    threshold: 5,
    base_lock_secs: 30,
    max_lock_secs: 900,
    window_secs: 900,
};

/// One address may fail 20 times (across any accounts) before it is slowed down the same way.
pub const SOURCE_IP: Policy = Policy {
    threshold: 20,
    base_lock_secs: 60,
    max_lock_secs: 900,
    window_secs: 900,
};

/// Wrong second-factor codes per account, on top of [`ACCOUNT`] and [`SOURCE_IP`] (which they
/// also count against): 5, then a lock doubling from a minute to a day. Whoever holds the password
/// then gets about 16 guesses in the first 34 hours and one a day after — each with a 3 in 10^6
/// chance (the ±1-step window) — so about 0.1% in a year, against 11% with the account policy
/// alone (one guess per 15 minutes).
pub const SECOND_FACTOR: Policy = Policy {
    threshold: 5,
    base_lock_secs: 60,
    max_lock_secs: 86_400,
    window_secs: 86_400,
};

/// Registrations per address: 10 an hour.
pub const REGISTRATION: Policy = Policy {
    threshold: 10,
    base_lock_secs: 3600,
    max_lock_secs: 3600,
    window_secs: 3600,
};

/// `email_key` is the canonical key ([`shared::email::Email::key`]), so every spelling of an
/// address counts against one lock.
pub fn account_key(email_key: &str) -> String {
    format!("account:{email_key}")
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Per user id, not per address: a code is checked for a known account only.
pub fn second_factor_key(user_id: &uuid::Uuid) -> String {
    format!("second_factor:{user_id}")
}

pub fn registration_key(ip: &str) -> String {
    format!("register:{ip}")
}

pub fn too_many(seconds: i64) -> ApiError {
    ApiError::TooManyRequests {
        detail: "Too many attempts; try again later".to_owned(),
        retry_after_secs: seconds.max(1) as u64,
    }
}

/// Counts one attempt against a rate-limited `key` (a registration, a reset request) and refuses
/// it with a 429 when the key was already locked. One round trip: the check and the count are one
/// statement.
pub async fn count_attempt(db: &impl Queries, key: String, policy: Policy) -> Result<(), ApiError> {
    match record(db, &[(key, policy)]).await?.locked_before {
        Some(seconds) => Err(too_many(seconds)),
        None => Ok(()),
    }
}

/// Seconds left on the longest lock in force among `keys`, if any; counts nothing.
pub async fn locked_for(db: &Db, keys: &[String]) -> Result<Option<i64>, ApiError> {
    Ok(db
        .query_one(
            "select ceil(extract(epoch from max(locked_until) - now()))::int8
               from login_throttle where key = any($1) and locked_until > now()",
            &[(&keys, Type::TEXT_ARRAY)],
        )
        .await?
        .get(0))
}

/// Counts one failure against each key, atomically (concurrent failures are all counted), and
/// returns the longest lock now in force, in seconds, if any.
pub async fn record_failure(
    db: &impl Queries,
    keys: &[(String, Policy)],
) -> Result<Option<i64>, ApiError> {
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(record(db, keys).await?.locked_now)
}

/// Seconds left on the longest lock of the keys, before and after one counted attempt.
struct Recorded {
    locked_before: Option<i64>,
    locked_now: Option<i64>,
}

async fn record(db: &impl Queries, keys: &[(String, Policy)]) -> Result<Recorded, ApiError> {
    let names: Vec<&str> = keys.iter().map(|(key, _)| key.as_str()).collect();
    let column = |pick: fn(&Policy) -> i32| keys.iter().map(|(_, p)| pick(p)).collect::<Vec<i32>>();
    let (threshold, base, max, window) = (
        column(|p| p.threshold),
        column(|p| p.base_lock_secs),
        column(|p| p.max_lock_secs),
        column(|p| p.window_secs),
    );
    // The failure count after this one: reset when the key was idle for its window, unchanged while
    // a lock is in force (attempts during a lock are refused, not counted). `before` reads the
    // statement's snapshot, so it sees the locks as they were before this attempt.
    let row = db
        .query_one(
            "with before as (
                select max(locked_until) as locked_until
                  from login_throttle where key = any($1) and locked_until > now()
             ),
             recorded as (
                insert into login_throttle as t
                       (key, failures, locked_until, threshold, base_lock_secs, max_lock_secs, window_secs, updated_at)
                select key, 1,
                       case when threshold <= 1 then now() + make_interval(secs => base) end,
                       threshold, base, cap, win, now()
                  from unnest($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::int4[])
                       as k(key, threshold, base, cap, win)
                on conflict (key) do update set
                    failures = case
                        when t.locked_until > now() then t.failures
                        when t.updated_at < now() - make_interval(secs => t.window_secs)
                             and (t.locked_until is null or t.locked_until < now() - make_interval(secs => t.window_secs))
                            then 1
                        else t.failures + 1 end,
                    locked_until = case
                        when t.locked_until > now() then t.locked_until
                        when (case when t.updated_at < now() - make_interval(secs => t.window_secs)
                                        and (t.locked_until is null or t.locked_until < now() - make_interval(secs => t.window_secs))
                                   then 1 else t.failures + 1 end) >= t.threshold
                            then now() + make_interval(secs => least(
                                t.max_lock_secs::float8,
                                t.base_lock_secs * power(2, least(t.failures + 1 - t.threshold, 30))))
                        else t.locked_until end,
                    updated_at = now()
                returning locked_until
             )
             select (select ceil(extract(epoch from locked_until - now()))::int8 from before),
                    (select ceil(extract(epoch from max(locked_until) - now()))::int8
                       from recorded where locked_until > now())",
            &[
                (&names, Type::TEXT_ARRAY),
                (&threshold, Type::INT4_ARRAY),
                (&base, Type::INT4_ARRAY),
                (&max, Type::INT4_ARRAY),
                (&window, Type::INT4_ARRAY),
            ],
        )
        .await?;
    Ok(Recorded {
        locked_before: row.get(0),
        locked_now: row.get(1),
    })
}
