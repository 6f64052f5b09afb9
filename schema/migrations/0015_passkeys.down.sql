drop table webauthn_ceremonies;
drop table passkeys;
