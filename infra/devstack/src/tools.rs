//! cargo-lambda, installed for this checkout only (`.tools/`, a Python venv: cargo-lambda is
//! published on PyPI with its zig), never system-wide.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context as _, bail};

/// The version polite's commands are written against (TOOLING.md).
pub const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

static INSTALLING: Mutex<()> = Mutex::new(());

/// `<workspace>/.tools/bin/cargo-lambda`, installed first when missing.
///
/// # Errors
/// When the venv cannot be created or pip fails.
pub fn cargo_lambda(workspace: &Path) -> anyhow::Result<PathBuf> {
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let tools = workspace.join(".tools");
    let binary = tools.join("bin/cargo-lambda");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("installing {CARGO_LAMBDA} into {} (once, ~10 s)", tools.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(&tools))?;
    run(Command::new(tools.join("bin/pip")).args(["install", "--quiet", CARGO_LAMBDA]))?;
    if !binary.is_file() {
        bail!("pip installed {CARGO_LAMBDA} but {} is missing", binary.display());
    }
    Ok(binary)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
