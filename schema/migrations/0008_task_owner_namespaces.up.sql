-- Tasks are owned by (issuer, subject), not by a bare subject string: a Better Auth user whose id
-- happens to equal one of our users' ids must see only its own Better Auth tasks, never that user's
-- (before this, a BETTER_AUTH_SECRET token with such a `sub` read and wrote them, even after the
-- user's logout-all). `issuer` is '' for our own users and names the Better Auth issuer otherwise:
-- 'better-auth-secret' for HS256 tokens signed with BETTER_AUTH_SECRET (they carry no `iss`), the
-- verified `iss` for the JWT plugin's tokens. `user_id` stays the subject, as the API shows it.
--
-- Our own users' tasks also reference the user row, so deleting the user deletes them in the same
-- transaction, and a task insert racing that delete either commits first (and is deleted with the
-- user) or fails the foreign key (the tasks function answers 401, as for any ended session): no
-- task can outlive its user.
alter table tasks
    add column issuer text not null default '',
    add column owner_id uuid references users (id) on delete cascade;

-- Existing rows: a subject that is one of our users' ids was that user's (the shared-secret mode
-- could have written some of them too; the two cannot be told apart, and the user is the safer
-- owner). Every other subject came from the shared-secret mode, the only other one there was; that
-- includes uuid-shaped subjects of no user of ours (Better Auth can be set to generate uuids).
update tasks t set owner_id = u.id from users u where t.user_id = u.id::text;
update tasks set issuer = 'better-auth-secret' where owner_id is null;

-- No default from now on: every insert says whose task it is.
alter table tasks
    alter column issuer drop default,
    add constraint tasks_owner_check check (
        (issuer = '' and owner_id is not null and user_id = owner_id::text)
        or (issuer <> '' and owner_id is null));

-- Every listing and lookup is per owner, so the owner key leads each index.
drop index tasks_user_created_idx;
drop index tasks_user_updated_idx;
drop index tasks_user_title_idx;
create index tasks_owner_created_idx on tasks (issuer, user_id, created_at, id);
create index tasks_owner_updated_idx on tasks (issuer, user_id, updated_at, id);
create index tasks_owner_title_idx on tasks (issuer, user_id, title, id);
-- The cascade of a user's deletion finds their tasks through this one.
create index tasks_owner_id_idx on tasks (owner_id) where owner_id is not null;
