drop function end_user_credentials(uuid, uuid);
