//! Builds `rmq-go-peer` (tests/interop/go), the Apache RocketMQ Go client used
//! as interop peer and benchmark baseline, into a cache directory outside the
//! repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

/// Where the Go peer is built: `$RMQ_GO_PEER_DIR`, else
/// `$CARGO_TARGET_DIR/go`, else `/var/tmp/rmq-go`.
pub fn peer_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RMQ_GO_PEER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(target) => PathBuf::from(target).join("go"),
        None => PathBuf::from("/var/tmp/rmq-go"),
    }
}

/// Finds the `go` tool: `$GO`, then `PATH`, then `/usr/local/go/bin/go`.
fn go_tool() -> Result<PathBuf, String> {
    let candidates = std::env::var_os("GO")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("go"), PathBuf::from("/usr/local/go/bin/go")]);
    for go in candidates {
        let works = Command::new(&go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Ok(go);
        }
    }
    Err(
        "the Go toolchain (>= 1.21) is missing: install it (https://go.dev/dl, or Debian: \
         apt-get install golang-go) or set GO=/path/to/go"
            .into(),
    )
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".go") || name == "go.mod" || name == "go.sum"
        })
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}

/// Builds `rmq-go-peer` from `source` (tests/interop/go) into [`peer_dir`]
/// when the binary is missing or older than a source file; runs
/// `go mod download` first. Returns the binary's path. Progress goes to `say`.
///
/// # Errors
/// When Go is missing or a `go` command fails.
pub fn build_go_peer(source: &Path, say: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let out_dir = peer_dir();
    let binary = out_dir.join("rmq-go-peer");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let fresh = match (built, newest_mtime(source)) {
        (Some(b), Some(src)) => b >= src,
        _ => false,
    };
    if fresh {
        say(&format!("Go peer up to date: {}", binary.display()));
        return Ok(binary);
    }
    let go = go_tool()?;
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let start = Instant::now();
    let run = |args: &[&str]| -> Result<(), String> {
        let status = Command::new(&go)
            .args(args)
            .current_dir(source)
            .status()
            .map_err(|e| format!("cannot run {} {}: {e}", go.display(), args.join(" ")))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`go {}` in {} failed: {status}",
                args.join(" "),
                source.display()
            ))
        }
    };
    say("go mod download (tests/interop/go)");
    run(&["mod", "download"])?;
    let target = binary.to_string_lossy().into_owned();
    say(&format!("go build -o {target}"));
    run(&["build", "-o", &target, "."])?;
    say(&format!(
        "Go peer built in {:.1} s: {target}",
        start.elapsed().as_secs_f64()
    ));
    Ok(binary)
}
