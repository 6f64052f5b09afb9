//! The tasks function's part of the OpenAPI document, generated from the routes' annotations and
//! the types they read and write. The health function merges it into the whole API's document.

use utoipa::OpenApi;

use crate::routes::{create, delete, list, read, update};

#[derive(OpenApi)]
#[openapi(
    paths(
        list::list_tasks,
        create::create_task,
        read::get_task,
        update::replace_task,
        update::update_task,
        delete::delete_task,
        update::complete_task,
    ),
    tags((name = "tasks", description = "The caller's own tasks"))
)]
struct TasksApi;

/// The tasks routes, their bodies and their answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    TasksApi::openapi()
}
