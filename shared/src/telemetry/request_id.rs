//! The id of the HTTP request being served (API Gateway's, see `log_request`): problem bodies
//! carry it so a user can quote it, and every log line of the request carries it as
//! `correlation_id`.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` as the request `id`.
pub(super) async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the request being served, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
