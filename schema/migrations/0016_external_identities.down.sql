-- The credential rule as migrations/0014 left it.
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
drop table sign_in_codes;
drop table oidc_logins;
drop table user_identities;
-- Accounts made through a provider have no password: they cannot survive the old schema.
delete from users where password_hash is null;
alter table users alter column password_hash set not null;
