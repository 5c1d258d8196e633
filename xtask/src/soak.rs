//! `cargo xtask soak [--minutes N] [--seed S] [other rmq_soak flags]`: builds
//! and runs the soak program (`tests/examples/rmq_soak.rs`) on its own
//! private 5.x cluster (one name server, two brokers, SYNC_FLUSH), and fails
//! when it does. `cargo xtask test` runs a short one ([`CI_MINUTES`]).
//!
//! The program prints a table (time, RSS, sockets, TCP sockets, tokio
//! tasks, sent / acknowledged / consumed) and a verdict on standard output,
//! progress on standard error. Every run is bounded: past its deadline it
//! gets SIGTERM (it kills its JVMs on the way out), then SIGKILL.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{cargo, say, setup, workspace_root, CHILD_PID};

/// Minutes of traffic in `cargo xtask test` (plus ~30 s of cluster start
/// and ~10 s of checks).
pub(crate) const CI_MINUTES: f64 = 1.5;
/// Minutes of traffic of `cargo xtask soak` without `--minutes`.
const DEFAULT_MINUTES: f64 = 10.0;
/// Time on top of the traffic before the run is killed: the cluster start
/// (three JVMs), the broker restart, the settle and quiet waits, shutdown.
const OVERHEAD: Duration = Duration::from_secs(10 * 60);
/// How long the program gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(20);

/// Parses the arguments of `cargo xtask soak` and runs.
pub(crate) fn cmd_soak(args: &[String]) -> Result<ExitCode, String> {
    let mut minutes = DEFAULT_MINUTES;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--minutes" => {
                let v = it.next().ok_or("--minutes needs a value")?;
                minutes = v
                    .parse()
                    .map_err(|_| format!("--minutes: `{v}` is not a number"))?;
            }
            // The program checks its own flags.
            flag if flag.starts_with("--") => {
                rest.push(arg.clone());
                if let Some(v) = it.next() {
                    rest.push(v.clone());
                }
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if !(0.5..=24.0 * 60.0).contains(&minutes) {
        return Err(format!("--minutes {minutes}: give 0.5 to 1440"));
    }
    crate::install_signal_handler();
    setup(false)?;
    run(minutes, &rest).map(|()| ExitCode::SUCCESS)
}

/// Builds the soak program and runs it for `minutes` of traffic with
/// `extra` flags; an error says why it failed.
pub(crate) fn run(minutes: f64, extra: &[String]) -> Result<(), String> {
    // `--workspace`: the features `cargo test --workspace` resolved, so
    // after it nothing is rebuilt (`-p rmq-tests` would rebuild rmq).
    say("cargo build --workspace --example rmq_soak");
    let mut build = cargo();
    build.args(["build", "--workspace", "--example", "rmq_soak"]);
    let status = crate::run_child(build)?;
    if !status.success() {
        return Err("the soak program does not build".into());
    }
    let program = target_dir().join("debug/examples/rmq_soak");
    let mut cmd = Command::new(&program);
    cmd.arg("--minutes")
        .arg(minutes.to_string())
        .args(extra)
        .current_dir(workspace_root());
    let limit = Duration::from_secs_f64(minutes * 60.0) + OVERHEAD;
    say(&format!(
        "soak: {minutes} min of traffic on a private 5.x cluster (killed after {} min)",
        limit.as_secs() / 60
    ));
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    CHILD_PID.store(child.id(), Ordering::SeqCst);
    let mut termed: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(format!("waiting for the soak: {e}")),
        }
        match termed {
            None if start.elapsed() > limit => {
                say("soak: past its deadline, SIGTERM");
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                termed = Some(Instant::now());
            }
            Some(at) if at.elapsed() > TERM_GRACE => {
                let _ = child.kill();
                let _ = child.wait();
                break Err("the soak ignored SIGTERM and was killed".into());
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    CHILD_PID.store(0, Ordering::SeqCst);
    let status = status?;
    say(&format!(
        "soak finished in {:.0} s: {status}",
        start.elapsed().as_secs_f64()
    ));
    match (status.success(), termed) {
        (true, None) => Ok(()),
        (_, Some(_)) => Err(format!(
            "the soak outlived its {} min deadline",
            limit.as_secs() / 60
        )),
        (false, None) => Err(format!("the soak failed ({status}); see its verdict above")),
    }
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        // Relative: to the workspace, where cargo ran.
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
