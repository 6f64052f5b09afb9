-- Sign-in with an OpenID Provider (functions/auth/src/oidc/). Expand only: a nullable column, new
-- tables; the previous release keeps working (it never reads a provider-made account's password,
-- which it could not sign in anyway).
--
-- An account made through a provider has no password until its owner sets one through a password
-- reset: every reader of password_hash treats NULL as "no password" (sign-in: a mismatch after the
-- same work; current_password checks: a problem naming the reset).
-- Why ban-drop-not-null is safe here: no existing row changes, and the previous release only meets
-- a NULL for an account this release made through a provider: its sign-in reads the column as
-- optional (a mismatch), and its current-password check answers that rare account a 500 until
-- the rollout ends (schema/tests/previous_release.rs runs the previous release on this schema).
-- squawk-ignore ban-drop-not-null
alter table users alter column password_hash drop not null;

-- A provider's account linked to one of ours: (provider, subject) is the identity (OIDC Core §2:
-- `sub` is unique only within its issuer). `email` is what the provider asserted when linked, shown
-- to the user; it never decides anything after the link.
create table user_identities (
    id           uuid primary key default gen_random_uuid(),
    user_id      uuid not null references users (id) on delete cascade,
    provider     text not null check (char_length(provider) between 1 and 32),
    subject      text not null check (char_length(subject) between 1 and 255),
    email        text check (char_length(email) <= 320),
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    unique (provider, subject)
);
create index user_identities_user_id_idx on user_identities (user_id);

-- One sign-in under way at a provider: what the callback needs, found by the hash of its `state`
-- and spent by it (delete ... returning, so a state is used once). `browser_hash` binds it to the
-- browser that started it (a cookie): a callback URL replayed elsewhere is refused (login CSRF).
create table oidc_logins (
    state_hash     bytea primary key check (octet_length(state_hash) = 32),
    provider       text not null,
    nonce          text not null,
    pkce_verifier  text not null,
    return_to      text not null,
    browser_hash   bytea not null check (octet_length(browser_hash) = 32),
    -- The frontend's own PKCE challenge (S256) for the one-time code, when it sent one.
    code_challenge text check (char_length(code_challenge) <= 128),
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null
);
create index oidc_logins_expires_at_idx on oidc_logins (expires_at);

-- The one-time code the callback hands the frontend (in the URL, in place of tokens), exchanged at
-- /auth/token (grant_type=authorization_code) within a minute, once.
create table sign_in_codes (
    code_hash      bytea primary key check (octet_length(code_hash) = 32),
    user_id        uuid not null references users (id) on delete cascade,
    amr            text[] not null,
    code_challenge text check (char_length(code_challenge) <= 128),
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null
);
create index sign_in_codes_user_id_idx on sign_in_codes (user_id);

-- The credential rule (migrations/0009, 0010, 0011, 0014) now also spends one-time sign-in codes
-- not yet exchanged: a password change, reset, logout-all or disable ends them too.
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
    ), codes as (
        delete from sign_in_codes c where c.user_id = end_user_credentials.user_id
    )
    select count(*) from ended
$$;
