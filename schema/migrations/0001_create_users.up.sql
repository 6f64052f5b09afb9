-- Accounts. Emails are unique whatever their letter case: the unique index is on lower(email),
-- so `User@Example.com` and `user@example.com` collide at insert time (no check-then-insert race).
create table users (
    id            uuid primary key default gen_random_uuid(),
    email         text not null check (char_length(email) between 3 and 320),
    name          text check (char_length(name) <= 100),
    -- argon2id PHC string; the parameters live in the string so they can change without a migration.
    password_hash text not null,
    role          text not null default 'user' check (role in ('user', 'admin')),
    -- A disabled user's tokens stop working at once (checked with the session on every request).
    disabled      boolean not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    last_login_at timestamptz
);

create unique index users_email_key on users (lower(email));
-- Admin listing pages through users in creation order.
create index users_created_at_idx on users (created_at, id);
