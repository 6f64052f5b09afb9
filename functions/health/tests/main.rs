//! The health function's tests, one binary: health, the docs pages and start-up.

mod docs;
mod health;
mod startup;
