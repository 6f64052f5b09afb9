//! The tasks function's routes under `/api/{user_id}/tasks`, one module per operation, and the
//! router that serves them; the request bodies are public here for the fuzz targets to parse.

use axum::routing::{get, patch};
use axum::Router;

use crate::state::TasksState;

pub mod create;
pub mod delete;
pub mod list;
mod path;
pub mod read;
pub mod update;

pub use create::NewTask;
pub use update::{CompleteBody, TaskChanges};

/// Every tasks route, waiting for its state.
pub fn router() -> Router<TasksState> {
    Router::new()
        .route(
            "/api/{user_id}/tasks",
            get(list::list_tasks).post(create::create_task),
        )
        .route(
            "/api/{user_id}/tasks/{id}",
            get(read::get_task)
                .put(update::replace_task)
                .patch(update::update_task)
                .delete(delete::delete_task),
        )
        .route(
            "/api/{user_id}/tasks/{id}/complete",
            patch(update::complete_task),
        )
}
