-- Tasks belong to a subject: our users' id (a uuid, as text) or the `sub`/`userId` of a Better Auth
-- token (any string), which is why user_id is text and not a foreign key. Deleting one of our users
-- deletes their tasks in the same statement (see the auth function).
create extension if not exists pg_trgm;

create table tasks (
    id          bigint generated always as identity primary key,
    user_id     text not null check (char_length(user_id) between 1 and 255),
    title       text not null check (char_length(title) between 1 and 200),
    description text check (char_length(description) <= 1000),
    completed   boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- Listing is always per user, sorted, with `id` as the tie-break that keeps cursors stable.
create index tasks_user_created_idx on tasks (user_id, created_at, id);
create index tasks_user_updated_idx on tasks (user_id, updated_at, id);
create index tasks_user_title_idx on tasks (user_id, title, id);
-- `?q=` is a case-insensitive substring search over title and description; a trigram index keeps
-- it fast at 100k tasks per user.
create index tasks_search_idx on tasks
    using gin (lower(title || ' ' || coalesce(description, '')) gin_trgm_ops);
