alter table users drop column email_key;
