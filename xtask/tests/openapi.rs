//! The committed `functions/health/openapi.json` (what the health function serves, and what
//! frontends generate clients from) is exactly what the three functions' annotations produce.

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let artifact = xtask::openapi::artifact();
    assert!(artifact.is_current(), "{}", artifact.stale_message());
}

#[test]
fn the_document_is_built_from_every_function() {
    let doc = serde_json::to_value(xtask::openapi::document()).unwrap();
    for path in ["/health", "/auth/token", "/api/{user_id}/tasks"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is missing");
    }
}
