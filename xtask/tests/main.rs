//! The tooling's tests, one binary: the generated files are current, and the house rules hold.

mod openapi;
mod tidy;
