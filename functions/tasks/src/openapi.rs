//! The tasks function's part of the OpenAPI document, generated from the handlers' annotations and
//! the types they read and write. The health function merges it into the whole API's document.

use utoipa::OpenApi;

use crate::handlers;

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::list_tasks,
        handlers::create_task,
        handlers::get_task,
        handlers::replace_task,
        handlers::update_task,
        handlers::delete_task,
        handlers::complete_task,
    ),
    tags((name = "tasks", description = "The caller's own tasks"))
)]
struct TasksApi;

/// The tasks routes, their bodies and their answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    TasksApi::openapi()
}
