//! The `cargo lambda watch` router in Cargo.toml sends every route of the API to the function that
//! serves it, so local paths are the same as API Gateway's.

use std::collections::HashMap;

use test_support::routes::ROUTES;

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
    let params: HashMap<&str, &str> = [
        ("user_id", "user-1"),
        ("id", "42"),
        ("session_id", "6f1c2b9e-8d4a-4c3e-9b7a-2f5d1e0c3a4b"),
        ("file", "app-1.0.js"),
        ("provider", "corp"),
        ("identity_id", "7e2d3c4b-5a69-4f8e-a7b6-c5d4e3f2a1b0"),
    ]
    .into();
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

/// (function binary, method, path) of every HttpApi event in template.yaml, read line by line:
/// `Binary:` names the function of the resource being read, `Method:`/`Path:` pairs are its events.
fn template_events() -> Vec<(String, String, String)> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let mut events = Vec::new();
    let (mut binary, mut method) = (String::new(), None::<String>);
    for line in template.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("Binary:") {
            binary = name.trim().to_owned();
        } else if let Some(m) = line.strip_prefix("Method:") {
            method = Some(m.trim().to_owned());
        } else if let Some(path) = line.strip_prefix("Path:") {
            let method = method.take().expect("Method: before Path: in each event");
            events.push((binary.clone(), method, path.trim().to_owned()));
        }
    }
    events
}

#[test]
fn every_route_has_exactly_one_event_in_the_sam_template_on_its_function() {
    let events = template_events();
    for route in ROUTES {
        let matching: Vec<_> = events
            .iter()
            .filter(|(_, method, path)| method == route.method && path == route.path)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{} {} in template.yaml: {matching:?}",
            route.method,
            route.path
        );
        assert_eq!(
            matching[0].0,
            route.function.name(),
            "{} {}",
            route.method,
            route.path
        );
    }
    assert_eq!(
        events.len(),
        ROUTES.len(),
        "template.yaml has events for routes the API does not have"
    );
}
