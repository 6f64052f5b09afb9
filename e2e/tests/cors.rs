//! One CORS policy everywhere: template.yaml's HTTP API `CorsConfiguration` allows exactly the
//! methods and headers the functions' own layer does (shared::cors), and feeds the same
//! `CorsOrigins` to the functions as `CORS_ORIGINS`.

use shared::cors::{ALLOW_HEADERS, ALLOW_METHODS, EXPOSE_HEADERS, MAX_AGE};

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap()
}

/// The value of `key:` inside the HttpApi's `CorsConfiguration:` block.
fn cors_setting(key: &str) -> String {
    let template = template();
    let block = template
        .split_once("CorsConfiguration:")
        .expect("template.yaml has a CorsConfiguration")
        .1;
    block
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("CorsConfiguration has no {key}"))
        .trim()
        .to_owned()
}

fn list(value: &str) -> Vec<String> {
    value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn the_http_api_and_the_functions_allow_the_same_methods_and_headers() {
    let methods: Vec<String> = ALLOW_METHODS
        .iter()
        .map(|m| m.as_str().to_ascii_lowercase())
        .collect();
    assert_eq!(list(&cors_setting("AllowMethods")), methods);
    assert_eq!(list(&cors_setting("AllowHeaders")), ALLOW_HEADERS);
    assert_eq!(list(&cors_setting("ExposeHeaders")), EXPOSE_HEADERS);
    assert_eq!(cors_setting("MaxAge"), MAX_AGE.as_secs().to_string());
}

#[test]
fn the_http_api_and_the_functions_allow_the_same_origins() {
    assert_eq!(cors_setting("AllowOrigins"), "!Ref CorsOrigins");
    assert!(
        template().contains(r#"CORS_ORIGINS: !Join [",", !Ref CorsOrigins]"#),
        "the functions' CORS_ORIGINS comes from the same CorsOrigins parameter"
    );
}
