alter table sign_in_challenges drop column first_factor;
