-- The live-session rule, written once: a session is live while it is neither revoked nor expired
-- and its user is not disabled (a deleted user's sessions are gone with the user row). Every
-- statement that acts for a signed-in caller (authenticate, refresh, logout, logout-all, every
-- task statement) reads sessions through this view, so a new condition (a second factor still
-- pending, say) is added here and nowhere else. A plain view: the planner inlines it, so a lookup
-- by id stays one index probe on sessions_pkey plus one on users_pkey.
create view live_sessions as
select s.id, s.user_id, s.expires_at, u.role
  from sessions s
  join users u on u.id = s.user_id
 where s.revoked_at is null
   and s.expires_at > now()
   and not u.disabled;
