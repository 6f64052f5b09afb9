drop table if exists password_reset_tokens;
