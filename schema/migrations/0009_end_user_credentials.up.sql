-- One rule for every event after which a user's outstanding credentials must die: a password
-- change, an email change, a completed password reset, logout-all and disable. Every session but
-- the one that made the change (`keep_session`, for a change made while signed in) ends, and
-- every unspent password-reset token is spent. Each of those statements calls this function, so
-- a new kind of credential (a verification link, say) is added here, once. Deleting a user needs
-- no call: sessions, refresh and reset tokens cascade from the user row.
-- Returns the number of sessions it ended.
create function end_user_credentials(user_id uuid, keep_session uuid default null)
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
    )
    select count(*) from ended
$$;
