//! The whole API's OpenAPI 3.1 document, merged from the three functions' annotated handlers and
//! types, and written to `functions/health/openapi.json`, which the health function serves as it
//! is. A test (tests/openapi.rs) fails when the code and the committed file drift.

mod common;

/// The committed document and what the code says it holds.
pub fn artifact() -> crate::codegen::Artifact {
    crate::codegen::Artifact {
        path: crate::codegen::workspace_path("functions/health/openapi.json"),
        contents: render(),
        command: "cargo xtask openapi",
    }
}

/// The document of every route of every function.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = health::docs::openapi();
    doc.merge(auth::openapi::openapi());
    doc.merge(tasks::openapi::openapi());
    common::complete(&mut doc);
    doc
}

/// The document as committed: pretty JSON with a final newline, so diffs read well.
pub fn render() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("an OpenAPI document always serialises");
    json.push('\n');
    json
}
