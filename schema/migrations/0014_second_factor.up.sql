-- A second factor (TOTP, RFC 6238) with recovery codes, and sign-in in two steps. Additive only:
-- new tables, and new session columns with defaults, so the previous release keeps working while
-- this one rolls out (expand, then contract).
--
-- The TOTP secret is stored sealed (AEAD, functions/auth/src/second_factor/sealing.rs) with a key
-- only the auth function holds; a copy of the database alone does not give the codes.
create table second_factors (
    user_id uuid primary key references users (id) on delete cascade,
    sealed_secret bytea not null check (octet_length(sealed_secret) <= 128),
    -- Null until the user proves one code: an unproven factor does not guard sign-in.
    activated_at timestamptz,
    -- The last time step a code was accepted for: a code is never accepted twice, nor one of an
    -- earlier step (RFC 6238 §5.2). Moved forward by one conditional update, so of two concurrent
    -- uses of one code exactly one wins.
    last_used_step bigint,
    created_at timestamptz not null default now()
);

-- Ten single-use codes per user, shown once, stored as SHA-256 (each holds 50 random bits, so a
-- slow hash adds nothing).
create table recovery_codes (
    user_id uuid not null references users (id) on delete cascade,
    code_hash bytea not null,
    used_at timestamptz,
    primary key (user_id, code_hash)
);

-- The password step of a sign-in to an account with an active factor: a single-use, short-lived
-- challenge the second step spends. Stored as SHA-256, like refresh tokens.
create table sign_in_challenges (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index sign_in_challenges_user_id_idx on sign_in_challenges (user_id);

-- How a session was authenticated (RFC 8176 `amr` values), carried into every access token it
-- issues, and when its second factor was last proven (sign-in or step-up).
alter table sessions
    add column amr text[] not null default '{pwd}',
    add column second_factor_at timestamptz;

-- The credential rule (migrations/0009, 0010, 0011) now also kills pending sign-in challenges: a
-- password change, reset, logout-all or disable ends a half-done sign-in too.
create or replace function end_user_credentials(user_id uuid, keep_session uuid default null)
returns bigint
language sql volatile
as $$
    with ended as (
        update sessions s set revoked_at = now()
         where s.user_id = end_user_credentials.user_id
           and s.revoked_at is null
           and s.id is distinct from end_user_credentials.keep_session
        returning 1
    ), spent as (
        update password_reset_tokens t set used_at = now()
         where t.user_id = end_user_credentials.user_id and t.used_at is null
    ), unverifiable as (
        update email_verification_tokens t set used_at = now()
         where t.user_id = end_user_credentials.user_id and t.used_at is null
    ), forgotten as (
        delete from idempotency_keys k
         where k.user_id = end_user_credentials.user_id and k.operation = 'registerUser'
    ), challenges as (
        delete from sign_in_challenges c where c.user_id = end_user_credentials.user_id
    )
    select count(*) from ended
$$;
