-- A session is one login. Access tokens carry its id (`sid`); a request is served only while the
-- session is neither revoked nor expired, which makes logout, password change, disable and delete
-- effective on the very next request with one primary-key lookup.
create table sessions (
    id           uuid primary key default gen_random_uuid(),
    user_id      uuid not null references users (id) on delete cascade,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    -- Absolute end of the session (refresh tokens cannot extend it past this).
    expires_at   timestamptz not null,
    revoked_at   timestamptz,
    user_agent   text check (char_length(user_agent) <= 512),
    source_ip    text check (char_length(source_ip) <= 64)
);

create index sessions_user_id_idx on sessions (user_id) where revoked_at is null;

-- Refresh tokens are opaque random strings; only their SHA-256 is stored. Each use spends the token
-- and issues the next one in the same session. Presenting a spent token again means it was stolen
-- (or replayed), and the whole session is revoked.
create table refresh_tokens (
    token_hash bytea primary key check (octet_length(token_hash) = 32),
    session_id uuid not null references sessions (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    spent_at   timestamptz
);

create index refresh_tokens_session_id_idx on refresh_tokens (session_id);
