//! The `cargo lambda watch` router in Cargo.toml sends every route of the API to the function that
//! serves it, so local paths are the same as API Gateway's.

use std::collections::HashMap;

use shared::routes::ROUTES;

fn watch_router() -> matchit::Router<String> {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&manifest).unwrap();
    let routes = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router] in Cargo.toml");
    let mut router = matchit::Router::new();
    for (path, function) in routes {
        router
            .insert(
                path.clone(),
                function.as_str().expect("a function name").to_owned(),
            )
            .unwrap();
    }
    router
}

/// `/api/{user_id}/tasks/{id}` with sample values in place of its parameters.
fn concrete(path: &str) -> String {
    let params: HashMap<&str, &str> = [("user_id", "user-1"), ("id", "42")].into();
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => params[name].to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_reaches_its_function_under_cargo_lambda_watch() {
    let router = watch_router();
    for route in ROUTES {
        let path = concrete(route.path);
        let matched = router.at(&path).unwrap_or_else(|_| {
            panic!(
                "{} {} has no entry in the watch router",
                route.method, route.path
            )
        });
        assert_eq!(
            matched.value,
            route.function.name(),
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[test]
fn every_function_binary_in_the_watch_router_exists() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
    for function in ["auth", "tasks", "health"] {
        assert!(
            manifest.contains(&format!("\"functions/{function}\"")),
            "{function} is not a workspace member"
        );
    }
}
