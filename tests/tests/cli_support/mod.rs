//! The `rmq` command-line binary for tests that run it as a child process
//! (rmq-tests cannot name another package's binary with `CARGO_BIN_EXE_`),
//! and small helpers for child processes.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The `rmq` command line: `RMQ_CLI` when set; else the one `cargo test
/// --workspace` built next to this test binary, when it is newer than every
/// source of `rmq` and `rmq-core`; else built now (`cargo build -p rmq --bin
/// rmq`), since `cargo test -p rmq-tests` does not build another package's
/// binaries.
pub fn rmq_cli() -> PathBuf {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| {
        if let Some(path) = std::env::var_os("RMQ_CLI").filter(|v| !v.is_empty()) {
            return PathBuf::from(path);
        }
        let root = rmq_tests::maven::workspace_root();
        let sibling = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("rmq")));
        if let Some(sibling) = sibling {
            let built = std::fs::metadata(&sibling).and_then(|m| m.modified()).ok();
            let sources = newest_source(&root);
            if built.is_some_and(|b| sources.is_some_and(|s| b > s)) {
                return sibling;
            }
        }
        build_rmq_cli(&root)
    })
    .clone()
}

/// The newest modification time of the sources the `rmq` binary is built
/// from.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(path: &Path, newest: &mut Option<SystemTime>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(t) = meta.modified() {
            *newest = Some(newest.map_or(t, |n| n.max(t)));
        }
    }
    let mut newest = None;
    for rel in [
        "Cargo.lock",
        "Cargo.toml",
        "core/Cargo.toml",
        "core/src",
        "host-native/Cargo.toml",
        "host-native/src",
    ] {
        walk(&root.join(rel), &mut newest);
    }
    newest
}

fn build_rmq_cli(root: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "build",
            "-p",
            "rmq",
            "--bin",
            "rmq",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cargo runs");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let limit = Duration::from_secs(900);
    let status = wait_bounded(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`cargo build -p rmq --bin rmq` still running after {limit:?}")
    });
    assert!(status.success(), "`cargo build -p rmq --bin rmq` failed");
    let out = String::from_utf8_lossy(&stdout.join().expect("stdout reader")).into_owned();
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "rmq")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no rmq executable:\n{out}"))
}

pub fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
