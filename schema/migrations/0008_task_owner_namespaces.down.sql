-- Back to one namespace of bare subjects. Rows of different issuers with the same subject merge
-- again (the defect the up migration fixed), and deleting a user no longer cascades to their
-- tasks: run this only together with the code that predates it.
drop index tasks_owner_id_idx;
drop index tasks_owner_created_idx;
drop index tasks_owner_updated_idx;
drop index tasks_owner_title_idx;
alter table tasks
    drop constraint tasks_owner_check,
    drop column owner_id,
    drop column issuer;
create index tasks_user_created_idx on tasks (user_id, created_at, id);
create index tasks_user_updated_idx on tasks (user_id, updated_at, id);
create index tasks_user_title_idx on tasks (user_id, title, id);
