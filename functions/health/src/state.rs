//! What every request of the health function shares, built once per execution environment.

use std::sync::Arc;

use shared::db::Db;
use shared::misconfig::Misconfiguration;

#[derive(Clone)]
pub struct HealthState {
    pub db: Db,
    /// A shared setting of the other functions found invalid at start (see `settings`).
    pub misconfigured: Option<Arc<Misconfiguration>>,
}

impl HealthState {
    /// The state of a health function whose environment holds no invalid shared setting.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            misconfigured: None,
        }
    }
}
