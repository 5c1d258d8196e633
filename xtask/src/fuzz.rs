//! `cargo xtask fuzz [--seconds N] [--target T]... [--sanitizer none|address]`:
//! runs the cargo-fuzz targets of `fuzz/` for N seconds each (default 15),
//! on a corpus seeded from the golden vectors of `core/tests/vectors`.
//!
//! - cargo-fuzz is installed if missing (`cargo install cargo-fuzz --locked`).
//! - The stable compiler builds the targets with `RUSTC_BOOTSTRAP=1` (the
//!   sanitizer-coverage flags cargo-fuzz passes are unstable); a nightly
//!   toolchain is not needed.
//! - Builds go to `$CARGO_TARGET_DIR/fuzz` (else `target/fuzz`); the
//!   working corpus (seeds plus what libFuzzer finds) is kept beside it, in
//!   `fuzz-corpus/<target>`, so a run never dirties the checkout. The
//!   committed inputs in `fuzz/corpus/<target>` and `fuzz/regressions/<target>`
//!   are read as extra seeds.
//! - A crash fails the run and names the input (under `fuzz-artifacts/`):
//!   fix it in the core, add a unit test named for the behaviour, and
//!   commit the input to `fuzz/regressions/<target>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use crate::{run_child, say, workspace_root};

/// Every target, in the order they run.
pub(crate) const TARGETS: [&str; 5] = ["frame", "command", "message", "route_json", "engine"];

/// Seconds per target in `cargo xtask test`.
pub(crate) const CI_SECONDS: u64 = 15;

/// Parses the arguments of `cargo xtask fuzz` and runs.
pub(crate) fn cmd_fuzz(args: &[String]) -> Result<ExitCode, String> {
    let mut seconds = CI_SECONDS;
    let mut targets: Vec<String> = Vec::new();
    let mut sanitizer = String::from("none");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--seconds" => {
                seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--target" => targets.push(value("--target")?),
            "--sanitizer" => sanitizer = value("--sanitizer")?,
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    for t in &targets {
        if !TARGETS.contains(&t.as_str()) {
            return Err(format!(
                "unknown fuzz target `{t}` (targets: {})",
                TARGETS.join(", ")
            ));
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    run(&targets, seconds, &sanitizer).map(|()| ExitCode::SUCCESS)
}

/// Builds and runs `targets` for `seconds` each.
pub(crate) fn run(targets: &[String], seconds: u64, sanitizer: &str) -> Result<(), String> {
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let out = target_root(&root);
    let build_dir = out.join("fuzz");

    let start = Instant::now();
    say(&format!(
        "building the fuzz targets (stable rustc with RUSTC_BOOTSTRAP=1, sanitizer {sanitizer}) into {}",
        build_dir.display()
    ));
    let mut build = cargo_fuzz(&fuzz_dir);
    build.args(["build", "-O", "-a", "-s", sanitizer, "--target-dir"]);
    build.arg(&build_dir);
    if !run_child(build)?.success() {
        return Err("the fuzz targets do not build".into());
    }
    say(&format!(
        "fuzz targets built in {:.1} s",
        start.elapsed().as_secs_f64()
    ));

    let vectors = root.join("core/tests/vectors");
    for target in targets {
        let corpus = out.join("fuzz-corpus").join(target);
        let artifacts = out.join("fuzz-artifacts").join(target);
        for dir in [&corpus, &artifacts] {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let seeds = seed_from_vectors(target, &vectors, &corpus)?;
        let began = Instant::now();
        say(&format!(
            "fuzzing `{target}` for {seconds} s ({seeds} seeds from the golden vectors)"
        ));
        // The binary `cargo fuzz build` made, run directly: `cargo fuzz run`
        // would check (and sometimes redo) the build once per target.
        let binary = build_dir.join(host_triple()).join("release").join(target);
        let mut run = Command::new(&binary);
        run.arg(&corpus);
        for extra in ["corpus", "regressions"] {
            let dir = fuzz_dir.join(extra).join(target);
            if dir.is_dir() {
                run.arg(dir);
            }
        }
        run.arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-max_len=65536")
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1");
        // libFuzzer reports every new coverage point: thousands of lines per
        // run. They go to a log file; a failure prints its tail.
        let log = artifacts.join(format!("{target}.log"));
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let file2 = file.try_clone().map_err(|e| e.to_string())?;
        run.stdout(file).stderr(file2);
        if !run_child(run)?.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
            return Err(format!(
                "fuzz target `{target}` failed (log {}): the crashing input is in {}; fix it in the core with a regression test and commit the input to fuzz/regressions/{target}/",
                log.display(),
                artifacts.display()
            ));
        }
        let executed = std::fs::read_to_string(&log)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
                    .map(|n| n.trim().to_string())
            })
            .unwrap_or_else(|| "?".into());
        say(&format!(
            "`{target}`: no crash in {:.1} s ({executed} inputs; log {})",
            began.elapsed().as_secs_f64(),
            log.display()
        ));
    }
    say(&format!(
        "fuzzing done in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The triple cargo-fuzz builds for: the host's.
fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_string())
}

/// `$CARGO_TARGET_DIR`, else `<root>/target`.
fn target_root(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo fuzz` in `fuzz/`, on the stable compiler with unstable flags allowed.
fn cargo_fuzz(fuzz_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.arg("fuzz").current_dir(fuzz_dir);
    cmd.env("RUSTC_BOOTSTRAP", "1");
    // The workspace's own target dir must not leak into the fuzz build's
    // flags; `--target-dir` says where it goes.
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd
}

/// Installs cargo-fuzz from crates.io unless `cargo fuzz` already runs.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let present = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    say("installing cargo-fuzz (cargo install cargo-fuzz --locked)");
    let mut install = Command::new(&cargo);
    install.args(["install", "cargo-fuzz", "--locked"]);
    if run_child(install)?.success() {
        Ok(())
    } else {
        Err("cargo install cargo-fuzz failed".into())
    }
}

/// Writes seeds for `target` derived from the golden vectors into
/// `corpus`; returns how many.
fn seed_from_vectors(target: &str, vectors: &Path, corpus: &Path) -> Result<usize, String> {
    let mut n = 0;
    let mut write = |name: &str, data: &[u8]| -> Result<(), String> {
        let path = corpus.join(format!("seed-{name}"));
        std::fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))?;
        n += 1;
        Ok(())
    };
    for (name, frame) in frames(&vectors.join("broker"))? {
        let Some(parts) = split_frame(&frame) else {
            continue;
        };
        match target {
            // The first byte is the split size of the stream.
            "frame" => write(&name, &[&[61u8][..], &frame].concat())?,
            "command" => write(&name, &frame[4..])?,
            "message" if name.starts_with("pull_") => write(&name, parts.body)?,
            "route_json" if name.starts_with("route_") || name.starts_with("cluster_") => {
                write(&name, parts.body)?
            }
            _ => {}
        }
    }
    if target == "message" {
        for entry in read_dir(vectors)? {
            let name = file_name(&entry);
            if name.starts_with("message_plain") {
                let data =
                    std::fs::read(&entry).map_err(|e| format!("{}: {e}", entry.display()))?;
                write(&name, &data)?;
            }
        }
    }
    Ok(n)
}

struct FrameParts<'a> {
    body: &'a [u8],
}

/// A whole frame (with its length prefix) split into its body.
fn split_frame(frame: &[u8]) -> Option<FrameParts<'_>> {
    let word = u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?);
    let header_len = (word & 0x00FF_FFFF) as usize;
    let body = frame.get(8 + header_len..)?;
    Some(FrameParts { body })
}

/// Every `*.bin` frame of a vectors directory, by file name.
fn frames(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for path in read_dir(dir)? {
        if path.extension().is_some_and(|e| e == "bin") {
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((file_name(&path), data));
        }
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
