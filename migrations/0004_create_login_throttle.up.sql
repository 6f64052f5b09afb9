-- Failed sign-in attempts, shared by every Lambda environment (they share no memory).
-- `key` is `account:<lower(email)>` or `ip:<source ip>`. After a threshold of failures the key is
-- locked until `locked_until`, with a delay that doubles per further failure and is capped, so an
-- attacker can delay an account but never lock it for good.
create table login_throttle (
    key               text primary key check (char_length(key) <= 400),
    failures          integer not null default 0,
    first_failure_at  timestamptz not null default now(),
    locked_until      timestamptz,
    updated_at        timestamptz not null default now()
);

-- Housekeeping deletes rows idle for a day.
create index login_throttle_updated_at_idx on login_throttle (updated_at);
