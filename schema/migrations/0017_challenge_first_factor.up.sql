-- The first factor of a two-step sign-in (RFC 8176: `pwd` for a password, `fed` for an identity
-- provider), so the session the second step opens says how it began (`["fed","otp","mfa"]`, not
-- `["pwd",...]`). Additive with a constant default: the previous release's challenges are `pwd`,
-- which they are.
alter table sign_in_challenges add column first_factor text not null default 'pwd';
