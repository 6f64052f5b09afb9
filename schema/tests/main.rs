//! The schema crate's tests, one binary: the migration runner and schema.sql.

mod migrate_command;
mod migrations;
mod previous_release;
mod schema_sql;
