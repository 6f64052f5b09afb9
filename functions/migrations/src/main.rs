//! Lambda entry point of the deploy-time custom resources: the migrations and, for EdDSA, the
//! first key ring (`Custom::JwtKeys`). A configuration problem (say, a secret the
//! role may not read) is reported to CloudFormation as FAILED rather than crashing the init, which
//! would leave the stack waiting for an answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use migrations::{
    database_target, handle, handle_jwt_keys, respond, CustomResourceRequest, DatabaseTarget,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let target: DatabaseTarget = match shared::config::load_environment().await {
        Ok(vars) => database_target(&vars),
        Err(error) => Err(format!("{error:#}")),
    };
    let target = &target;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CustomResourceRequest>| async move {
            // Leave 10 s to answer CloudFormation before Lambda's own timeout.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now));
            let limit = remaining
                .saturating_sub(Duration::from_secs(10))
                .max(Duration::from_secs(1));
            let response = if event.payload.resource_type == "Custom::JwtKeys" {
                let sdk = shared::aws::sdk_config().await;
                let client = aws_sdk_secretsmanager::Client::new(&sdk);
                handle_jwt_keys(&event.payload, &client).await
            } else {
                handle(&event.payload, target, limit).await
            };
            respond(&event.payload.response_url, &response).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({"Status": response.status}))
        },
    ))
    .await
}
