//! Lambda entry point: configuration, the pool and the router are built once per execution environment.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    shared::lambda::start(tasks::build).await
}
