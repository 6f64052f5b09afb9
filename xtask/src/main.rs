//! `cargo run -p xtask -- openapi`: regenerates `functions/health/openapi.json` from the code.
//! `cargo run -p xtask -- openapi --check`: fails when the committed file is not what the code says.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let path = xtask::openapi::committed_path();
    match args.as_slice() {
        ["openapi"] => {
            if let Err(error) = std::fs::write(&path, xtask::openapi::render()) {
                eprintln!("writing {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        ["openapi", "--check"] => {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed == xtask::openapi::render() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} differs from the code: run `cargo run -p xtask -- openapi`",
                    path.display()
                );
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- openapi [--check]");
            ExitCode::from(2)
        }
    }
}
