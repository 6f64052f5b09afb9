-- Uniqueness moves from lower(email) to the canonical key filled by 0006. The index keeps its
-- name, so a unique violation still reads as "email already registered" (SQLSTATE 23505 on
-- users_email_key).
alter table users alter column email_key set not null;
drop index users_email_key;
create unique index users_email_key on users (email_key);
