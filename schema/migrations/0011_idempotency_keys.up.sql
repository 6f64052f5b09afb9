-- Exactly-once creates: the answer to a POST that carried an Idempotency-Key
-- (draft-ietf-httpapi-idempotency-key-header), kept 24 hours so a retried request gets the same
-- answer instead of a second row. Lambda instances share no memory, so the record lives here.
--
-- A key is scoped to its operation and caller (`caller`: the SHA-256 of the task owner's issuer and
-- subject, or of the canonical address being registered, since a Better Auth subject may be long):
-- one caller's key never replays another's answer.
-- A row is first a claim (status null) held until lease_until by the request that made it;
-- meanwhile the same key is answered 409. It then holds the answer (status, headers, body), or is
-- deleted when the request failed so a retry runs again. `fingerprint` is the SHA-256 of the
-- request's content; a password is never part of it (a fast hash of a password would be a weaker
-- copy of it than the argon2 hash in users): `secret_hash` keeps that argon2 hash instead.
--
-- No cron: every claim deletes a few expired rows (idempotency_keys_expires_at_idx), so rows
-- cannot pile up faster than they are removed.
create table idempotency_keys (
    operation   text not null check (operation in ('createTask', 'registerUser')),
    caller      bytea not null check (octet_length(caller) = 32),
    key         text not null check (char_length(key) between 1 and 255),
    fingerprint bytea not null check (octet_length(fingerprint) = 32),
    secret_hash text,
    -- The account the answer belongs to (the registered user, or the task owner when it is one of
    -- ours): deleting the account deletes its stored answers.
    user_id     uuid references users (id) on delete cascade,
    claim_id    uuid not null,
    lease_until timestamptz not null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    status      smallint check (status between 100 and 599),
    location    text,
    body        bytea,
    primary key (operation, caller, key)
);

create index idempotency_keys_expires_at_idx on idempotency_keys (expires_at);
create index idempotency_keys_user_id_idx on idempotency_keys (user_id);

-- The credential rule (0009, 0010) now drops the stored answer of the user's registration too: it
-- is replayed only to whoever sends the original password, which must die with a password change
-- or a sign-out everywhere. Task answers stay: a client that signs in again may still retry.
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
    )
    select count(*) from ended
$$;
