//! What every function's `main` and `app` share: the common routing layers, the database set-up at
//! init, and handing the router to the Lambda runtime.

use axum::middleware::from_fn;
use axum::Router;

use crate::config::DatabaseConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::telemetry::log_request;

/// Adds what every function answers the same way: problem+json for unknown paths and methods,
/// and the one log line per request.
pub fn finish(router: Router) -> Router {
    router
        .fallback(crate::error::route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(log_request))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method Not Allowed".to_owned())
}

/// The pool for this execution environment, warmed up with one connection unless `DB_WARMUP=false`
/// (the warm-up happens during init, which Lambda does not bill at full price, and never fails it).
pub async fn database(
    config: &DatabaseConfig,
    vars: &std::collections::HashMap<String, String>,
) -> anyhow::Result<Db> {
    let db = Db::connect_lazy(config)?;
    let warm_up = !matches!(
        vars.get("DB_WARMUP")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("false" | "0" | "no" | "off")
    );
    if warm_up {
        db.warm_up().await;
    }
    Ok(db)
}

/// Serves `app` to the Lambda runtime (API Gateway HTTP API and REST API, ALB) until shutdown.
pub async fn run(app: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(app).await
}

/// The whole life of a function process: telemetry, configuration, `build` (pool, keys, router),
/// then serving. A configuration problem stops the process with one clear line, never a panic or a
/// printed config.
pub async fn start<F, Fut>(build: F) -> std::process::ExitCode
where
    F: FnOnce(std::collections::HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Router>>,
{
    crate::telemetry::init();
    return_freed_memory_to_the_os();
    let app = match crate::config::load_environment().await {
        Ok(vars) => with_cors(build, vars).await,
        Err(error) => Err(error),
    };
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = %crate::error::ErrorChain(&error), "refusing to start: configuration is invalid");
            eprintln!("refusing to start: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(app).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The function's router behind the CORS policy of `CORS_ORIGINS` (see `cors`): an invalid origin
/// stops the start like any other configuration error.
async fn with_cors<F, Fut>(
    build: F,
    vars: std::collections::HashMap<String, String>,
) -> anyhow::Result<Router>
where
    F: FnOnce(std::collections::HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Router>>,
{
    let origins = crate::cors::origins(&vars)?;
    let cors = crate::cors::layer(&origins)?;
    let app = build(vars).await?;
    Ok(match cors {
        Some(cors) => app.layer(cors),
        None => app,
    })
}

/// Keeps glibc from holding on to large freed blocks. argon2id allocates 19 MiB per hash; with glibc's
/// default, the first free raises the mmap threshold past that size, so later hashes come from the
/// heap and each blocking thread's arena keeps its 19 MiB (the auth function was seen at 126 MB RSS
/// after a few dozen logins). A fixed threshold sends such blocks straight back to the OS.
fn return_freed_memory_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
