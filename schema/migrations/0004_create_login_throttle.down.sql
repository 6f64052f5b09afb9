drop table if exists login_throttle;
