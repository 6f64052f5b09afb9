-- Password-reset tokens: random, single use, short lived; only their SHA-256 is stored so a read of
-- this table cannot be turned into account takeovers.
create table password_reset_tokens (
    token_hash bytea primary key check (octet_length(token_hash) = 32),
    user_id    uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz
);

create index password_reset_tokens_user_id_idx on password_reset_tokens (user_id);
