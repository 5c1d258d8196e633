//! rmq-core's codec natively and as WebAssembly (issue 8): the program in
//! `tests/wasi-vectors` is built for `wasm32-wasip1`, then that crate's
//! test runs it inside wasmtime over every golden vector of
//! `core/tests/vectors` and asserts a report byte-identical to the native
//! one. The crate is a workspace of its own (wasmtime is a big compile that
//! `cargo test --workspace` should not pay for); `cargo xtask test` runs it.
//!
//! Installed when missing, and said so: the rustup target `wasm32-wasip1`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const TARGET: &str = "wasm32-wasip1";

fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<root>/target`.
fn target_dir() -> PathBuf {
    let root = crate::workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) if PathBuf::from(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Adds the rustup target when it is missing.
fn ensure_target(say: &mut dyn FnMut(&str)) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    say(&format!("adding the rustup target {TARGET}"));
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustup target add {TARGET} failed ({status})"))
    }
}

/// Builds the guest and runs `tests/wasi-vectors`' tests against it.
pub fn run(say: &mut dyn FnMut(&str)) -> Result<(), String> {
    ensure_target(say)?;
    let manifest = crate::workspace_root().join("tests/wasi-vectors/Cargo.toml");
    let started = Instant::now();
    say(&format!(
        "wasi-vectors: building the {TARGET} guest (release)"
    ));
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--bin",
            "wasi-vectors",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {TARGET} guest failed ({status})"));
    }
    let guest = target_dir().join(TARGET).join("release/wasi-vectors.wasm");
    say(&format!(
        "wasi-vectors: cargo test (native vs wasmtime over the golden vectors), guest {}",
        guest.display()
    ));
    let status = Command::new(cargo())
        .arg("test")
        .arg("--manifest-path")
        .arg(&manifest)
        .env("WASI_VECTORS_WASM", &guest)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    say(&format!(
        "wasi-vectors finished in {:.1?}",
        started.elapsed()
    ));
    if status.success() {
        Ok(())
    } else {
        Err(format!("tests/wasi-vectors failed ({status})"))
    }
}
