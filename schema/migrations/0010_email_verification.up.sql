-- Proof that a user reads the mailbox of their address. A link (token) is mailed at registration
-- and after an email change; following it sets email_verified_at. Tokens are random, single use,
-- valid 24 hours, stored as SHA-256 only, and each names the canonical address it proves
-- (email_key): a link mailed to one address never verifies another.
--
-- An email change does not replace the address at once: it is kept as pending_email until its
-- link is followed, and the old address signs in (and receives reset links) until then, so a
-- mistyped new address never locks anyone out. A completed password reset also proves the
-- mailbox (its link was mailed there), and verifies the address.
alter table users
    add column email_verified_at timestamptz,
    add column pending_email     text check (char_length(pending_email) between 3 and 320),
    add column pending_email_key text check (char_length(pending_email_key) between 3 and 320),
    add constraint users_pending_email_pair check ((pending_email is null) = (pending_email_key is null));

create table email_verification_tokens (
    token_hash bytea primary key check (octet_length(token_hash) = 32),
    user_id    uuid not null references users (id) on delete cascade,
    email_key  text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz
);

create index email_verification_tokens_user_id_idx on email_verification_tokens (user_id);

-- The credential rule (0009) now spends verification links too.
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
    )
    select count(*) from ended
$$;

-- The one place an address becomes verified (a followed link, a completed reset): a pending
-- address replaces the old one when it is the one proven, and the address named by ADMIN_EMAIL
-- (its canonical key, passed in) makes its owner the first admin — only once proven, so whoever
-- registers that address first without reading its mailbox never becomes admin.
-- Returns the user's role afterwards.
create function record_email_verified(user_id uuid, proven_key text, admin_email_key text)
returns text
language sql volatile
as $$
    update users u
       set email = case when u.pending_email_key = proven_key then u.pending_email else u.email end,
           email_key = proven_key,
           pending_email = null,
           pending_email_key = null,
           email_verified_at = now(),
           role = case when proven_key = admin_email_key
                        and not exists (select 1 from users a where a.role = 'admin')
                       then 'admin' else u.role end,
           updated_at = now()
     where u.id = record_email_verified.user_id
       and proven_key in (u.email_key, u.pending_email_key)
    returning u.role
$$;
