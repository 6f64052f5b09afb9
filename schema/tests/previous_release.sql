-- The previous release's writes, as it sends them (parameters written in as literals): the test
-- previous_release.rs runs them on a database after every migration of this checkout, in a
-- transaction it rolls back. While a deploy migrates, the previous release keeps serving for
-- seconds against the new schema (docs/deployment.md, "Expand, then contract"): a migration that
-- breaks one of these breaks production until the new code serves.
--
-- Taken from main at f7030fe (functions/auth/src/handlers/account.rs and session.rs,
-- functions/tasks/src/routes/create.rs and sql.rs, shared/src/idempotency.rs). At each release,
-- replace them with the statements of the release that will be the previous one, and keep every
-- statement that writes a table a migration could touch.

-- Registration: the account and its first verification link.
with inserted as (
    insert into users (email, email_key, name, password_hash)
    values ('Prev@Example.com', 'prev@example.com', 'Prev', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')
    returning id, email, name, role, created_at, updated_at, last_login_at, email_verified_at, pending_email
), link as (
    insert into email_verification_tokens (token_hash, user_id, email_key, expires_at)
    select sha256('link'), id, 'prev@example.com', now() + make_interval(hours => 24) from inserted
)
select * from inserted;

-- Sign-in: the session, its first refresh token, last_login_at, the account's failures cleared.
with session as (
    insert into sessions (user_id, expires_at, user_agent, source_ip)
    values ((select id from users where email_key = 'prev@example.com'),
            now() + make_interval(secs => 86400.0), 'curl/8', '203.0.113.7')
    returning id, expires_at
), refresh as (
    insert into refresh_tokens (token_hash, session_id, expires_at)
    select sha256('refresh'), id, expires_at from session
), login as (
    update users set last_login_at = now(), password_hash = coalesce(null, password_hash)
     where id = (select id from users where email_key = 'prev@example.com')
), cleared as (
    delete from login_throttle where key = 'account:prev@example.com'
)
select id from session;

-- An idempotency claim (shared/src/idempotency.rs, `begin`).
with swept as (
    delete from idempotency_keys
     where ctid in (select ctid from idempotency_keys
                     where expires_at <= now()
                       and not (operation = 'createTask' and caller = sha256('caller') and key = 'k')
                     limit 8 for update skip locked)
), claimed as (
    insert into idempotency_keys as k
           (operation, caller, key, fingerprint, claim_id, lease_until, expires_at)
    values ('createTask', sha256('caller'), 'k', sha256('request'), gen_random_uuid(),
            now() + make_interval(secs => 60.0), now() + make_interval(hours => 24))
    on conflict (operation, caller, key) do update
       set fingerprint = excluded.fingerprint, claim_id = excluded.claim_id,
           lease_until = excluded.lease_until, expires_at = excluded.expires_at,
           created_at = now(), secret_hash = null, user_id = null,
           status = null, location = null, body = null
     where k.expires_at <= now()
        or (k.status is null and k.lease_until <= now()
            and k.fingerprint = excluded.fingerprint)
    returning 1
)
select exists (select 1 from claimed);

-- A task create (functions/tasks/src/routes/create.rs through sql.rs's `caller` CTE).
with caller as (
    select (select id from sessions limit 1)::uuid is null or exists (
        select 1 from live_sessions
         where id = (select id from sessions limit 1)
           and user_id = (select id from users where email_key = 'prev@example.com')) as live
), created as (
    insert into tasks (issuer, user_id, owner_id, title, description, completed)
    select '', (select id::text from users where email_key = 'prev@example.com'),
           (select id from users where email_key = 'prev@example.com'), 'Buy milk', '2 litres', false
      from caller where live
    returning id, user_id, title, description, completed, created_at, updated_at
)
select caller.live, created.* from caller left join created on true;

-- The stored answer of the claim.
update idempotency_keys
   set status = 201, location = '/api/x/tasks/1', body = convert_to('{}', 'UTF8'),
       user_id = (select id from users where email_key = 'prev@example.com'), secret_hash = null
 where operation = 'createTask' and caller = sha256('caller') and key = 'k';
