drop view live_sessions;
