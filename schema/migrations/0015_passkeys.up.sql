-- Passkeys (WebAuthn Level 3): a user's registered credentials and the short-lived, single-use
-- ceremonies (registration and sign-in) that create and prove them. Additive only: two new tables,
-- so the previous release keeps working while this one rolls out (expand, then contract).
--
-- A passkey row holds webauthn-rs's `Passkey` as JSON: the public key, its counter and flags; no
-- secret (the private key never leaves the authenticator). `credential_id` is unique across all
-- accounts: an authenticator's credential belongs to exactly one of them.
create table passkeys (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    credential_id bytea not null unique check (octet_length(credential_id) between 16 and 1023),
    passkey jsonb not null,
    name text not null default 'Passkey' check (char_length(name) between 1 and 64),
    -- The authenticator's signature counter at its last use (0: it keeps none). One that goes
    -- backwards is a cloned authenticator: refused and logged (`passkey_clone_suspected`).
    sign_count bigint not null default 0,
    backed_up boolean not null default false,
    created_at timestamptz not null default now(),
    last_used_at timestamptz
);
create index passkeys_user_id_idx on passkeys (user_id);

-- One ceremony in progress: the server half of the challenge (webauthn-rs's state, which holds the
-- challenge) under the SHA-256 of the handle the client got. Single use (finishing deletes it with
-- `delete ... returning`), bound to its kind and, for registration, to its user; five minutes.
-- `user_id` is null for a discoverable (email-less) sign-in.
create table webauthn_ceremonies (
    handle_hash bytea primary key,
    user_id uuid references users (id) on delete cascade,
    kind text not null check (kind in ('registration', 'authentication')),
    state jsonb not null,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index webauthn_ceremonies_user_id_idx on webauthn_ceremonies (user_id);
create index webauthn_ceremonies_expires_at_idx on webauthn_ceremonies (expires_at);
