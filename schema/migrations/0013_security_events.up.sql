-- The security log: what happened to an account (sign-ins and their failures, locks, password and
-- email changes, resets, verification, sessions ended, an administrator's changes), append-only,
-- read by the account's owner and by administrators. Never a password, code, secret or token: the
-- auth function writes `kind` from a closed list and `detail` from its own values
-- (functions/auth/src/security_log.rs). Rows go with their user; older ones are swept a few at a
-- time by the statement that records a new one (no cron), after SECURITY_LOG_RETENTION_DAYS.
create table security_events (
    id bigint generated always as identity primary key,
    user_id uuid not null references users (id) on delete cascade,
    kind text not null check (char_length(kind) <= 40),
    at timestamptz not null default now(),
    source_ip text check (char_length(source_ip) <= 64),
    user_agent text check (char_length(user_agent) <= 512),
    session_id uuid,
    detail jsonb not null default '{}'::jsonb check (pg_column_size(detail) <= 1024)
);

create index security_events_user_id_idx on security_events (user_id, id desc);
create index security_events_at_idx on security_events (at);
