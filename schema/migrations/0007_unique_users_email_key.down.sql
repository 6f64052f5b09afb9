drop index users_email_key;
create unique index users_email_key on users (lower(email));
alter table users alter column email_key drop not null;
