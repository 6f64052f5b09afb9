//! The auth function's tests, one binary (linking the AWS SDK once, not once per file): each
//! module below is one part of the API, driven in-process through `auth::app` on its own database.

mod common;

mod account;
mod activity;
mod admin;
mod hostile;
mod idempotency;
mod login;
mod logs;
mod oidc;
mod outage;
mod passkeys;
mod register;
mod reset;
mod routes;
mod second_factor;
mod ses;
mod sessions;
mod startup;
mod verification;
