//! `cargo xtask <command>` (alias in .cargo/config.toml): the project's tooling. `cargo xtask
//! --help` lists the commands; each is a module of this crate.

use std::process::ExitCode;

mod flags;

use flags::{JwtKeysCmd, XtaskCmd};

fn main() -> ExitCode {
    let flags = match flags::Xtask::from_env() {
        Ok(flags) => flags,
        Err(error) if error.is_help() => {
            println!("{error}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("xtask: {error}\n`cargo xtask --help` lists the commands and their flags");
            return ExitCode::from(2);
        }
    };
    let result = match flags.subcommand {
        XtaskCmd::Openapi(cmd) => xtask::codegen::ensure(&xtask::openapi::artifact(), cmd.check),
        XtaskCmd::Schema(cmd) => runtime().block_on(async {
            let text = xtask::schema::render(cmd.server.as_deref()).await?;
            xtask::codegen::ensure(&xtask::schema::artifact(text), cmd.check)
        }),
        XtaskCmd::JwtKeys(cmd) => match cmd.subcommand {
            JwtKeysCmd::Env(_) => {
                print!("{}", xtask::jwt_keys::env());
                Ok(())
            }
            JwtKeysCmd::Rotate(cmd) => runtime().block_on(xtask::jwt_keys::rotate(
                &cmd.private_secret_arn,
                &cmd.public_secret_arn,
            )),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
