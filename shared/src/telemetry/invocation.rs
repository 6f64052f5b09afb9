//! The Lambda invocation a log line belongs to: its request id, X-Ray trace id, function ARN and
//! whether it is the execution environment's first (the cold start). Kept per task rather than per
//! process, so every line logged while serving an invocation carries its own, also when one
//! environment serves several at once (Lambda managed instances).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the JSON line writes of the invocation being served.
pub(super) struct Invocation {
    pub request_id: String,
    pub xray_trace_id: Option<String>,
    pub function_arn: String,
    pub cold_start: bool,
}

tokio::task_local! {
    static CURRENT: Invocation;
}

/// Whether this execution environment has begun an invocation yet. One per environment, shared by
/// every clone of the adapter that serves it (one per worker when invocations run concurrently).
#[derive(Clone, Default)]
pub struct ColdStart {
    begun: Arc<AtomicBool>,
}

impl ColdStart {
    /// True once: for the first invocation of the environment.
    fn take(&self) -> bool {
        !self.begun.swap(true, Ordering::Relaxed)
    }
}

/// Runs `work` as the invocation of `context`: every line it logs carries the invocation's keys.
pub async fn in_invocation<F: Future>(
    context: &lambda_http::Context,
    cold_start: &ColdStart,
    work: F,
) -> F::Output {
    let invocation = Invocation {
        request_id: context.request_id.clone(),
        xray_trace_id: context.xray_trace_id.clone(),
        function_arn: context.invoked_function_arn.clone(),
        cold_start: cold_start.take(),
    };
    CURRENT.scope(invocation, work).await
}

/// `read` of the invocation being served, if any (none during init, or on a blocking thread).
pub(super) fn with_current<R>(read: impl FnOnce(&Invocation) -> R) -> Option<R> {
    CURRENT.try_with(read).ok()
}
