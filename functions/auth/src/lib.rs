//! The auth function. Its routes answer 501 problem+json until their handlers land; the paths,
//! methods and error shape are already those of the SPEC.

use std::collections::HashMap;

use axum::Router;
use shared::config::{DatabaseConfig, JwtConfig, Source};
use shared::routes::Function;

/// Builds the function from its configuration; refuses to start without a usable JWT secret.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let source = Source::new(&vars);
    let _jwt = JwtConfig::from_source(&source)?;
    let database = DatabaseConfig::from_source(&source)?;
    let _db = shared::lambda::database(&database, &vars).await?;
    Ok(app())
}

pub fn app() -> Router {
    shared::lambda::finish(shared::lambda::not_implemented_routes(Function::Auth))
}
