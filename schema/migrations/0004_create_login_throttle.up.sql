-- Failed sign-in attempts (and registrations), shared by every Lambda environment (they share no
-- memory). `key` is `account:<lower(email)>`, `ip:<source ip>` or `register:<source ip>`.
-- Each row carries its own policy, so one atomic upsert can count a failure and compute the lock:
-- from `threshold` failures on, the key is locked for `base_lock_secs`, doubling per further
-- failure, never longer than `max_lock_secs`; a key idle for `window_secs` starts over. A lock is
-- always bounded, so an attacker can delay an account but never lock it for good.
create table login_throttle (
    key            text primary key check (char_length(key) <= 400),
    failures       integer not null default 0,
    locked_until   timestamptz,
    threshold      integer not null check (threshold > 0),
    base_lock_secs integer not null check (base_lock_secs > 0),
    max_lock_secs  integer not null check (max_lock_secs >= base_lock_secs),
    window_secs    integer not null check (window_secs > 0),
    updated_at     timestamptz not null default now()
);

-- Housekeeping deletes rows idle for a day.
create index login_throttle_updated_at_idx on login_throttle (updated_at);
