//! `cargo xtask sim [--seed S [--faults I,J,K] | --seeds N] [--from F]
//! [--jobs J] [--groups clustering|broadcasting|both] [--bug NAME]`: the
//! deterministic cluster simulation (rmq-sim's `rmq-sim` binary, built in
//! release mode so thousands of seeds take seconds).
//!
//! - `--seed S` replays one seed exactly: its stats, or on a violated
//!   invariant the report of its run shrunk to the fewest faults that
//!   still violate it (at most 64 re-runs), with the events about what the
//!   violation names and the command line that replays the shrunk run.
//! - `--faults I,J,K` (or `none`), with `--seed S`: only the seed's faults
//!   with these indices (in drawing order) are applied; the rest are drawn
//!   and skipped. Replays a shrunk run exactly, its report as printed.
//! - `--seeds N` runs seeds `F..F+N` (default 0..[`CI_SEEDS`]) on every
//!   core and reports throughput (simulated steps per second); the first
//!   failures are shrunk.
//! - `--groups G` gives every seed these consumer groups (default: a
//!   clustering group, a broadcasting group, or both, in turn by seed).
//! - `--bug NAME` re-introduces a client bug in the simulated hosts
//!   (`frozen-routes`, `drops-every-other-delivery`,
//!   `forgets-broadcast-offsets`) to see the checker catch it.
//! - `cargo xtask test` runs [`CI_SEEDS`] seeds.

use std::process::ExitCode;

use crate::{cargo, run_child, say};

/// Seeds `cargo xtask test` runs.
pub(crate) const CI_SEEDS: u64 = 2000;

/// Parses the arguments of `cargo xtask sim` and runs.
pub(crate) fn cmd_sim(args: &[String]) -> Result<ExitCode, String> {
    let mut forwarded = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // What is wrong with a flag's value, if anything.
        let check: fn(&str) -> Option<String> = match arg.as_str() {
            "--seed" | "--seeds" | "--from" | "--jobs" => {
                |v| v.parse::<u64>().err().map(|e| e.to_string())
            }
            "--groups" => |v| {
                (!matches!(v, "clustering" | "broadcasting" | "both"))
                    .then(|| "expected clustering, broadcasting or both".into())
            },
            "--faults" => |v| {
                let list = v == "none"
                    || v.split(',')
                        .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
                (!list).then(|| "expected fault indices like 0,3,5, or none".into())
            },
            "--bug" => |v| {
                const BUGS: [&str; 3] = [
                    "frozen-routes",
                    "drops-every-other-delivery",
                    "forgets-broadcast-offsets",
                ];
                (!BUGS.contains(&v)).then(|| format!("expected one of {}", BUGS.join(", ")))
            },
            other => return Err(format!("unexpected argument `{other}`")),
        };
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        if let Some(wrong) = check(value) {
            return Err(format!("{arg} {value}: {wrong}"));
        }
        forwarded.push(arg.clone());
        forwarded.push(value.clone());
    }
    let seed = forwarded.iter().any(|a| a == "--seed");
    if forwarded.iter().any(|a| a == "--faults") && !seed {
        return Err("--faults replays one seed: give --seed S".into());
    }
    if !seed && !forwarded.iter().any(|a| a == "--seeds") {
        forwarded.extend(["--seeds".into(), CI_SEEDS.to_string()]);
    }
    let ok = simulate(&forwarded)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The CI-sized run of `cargo xtask test`.
pub(crate) fn run_ci() -> Result<(), String> {
    let args = ["--seeds".to_string(), CI_SEEDS.to_string()];
    match simulate(&args)? {
        true => Ok(()),
        false => Err("a simulation seed violated an invariant (see its trace above)".into()),
    }
}

fn simulate(args: &[String]) -> Result<bool, String> {
    say(&format!(
        "cargo run --release -p rmq-sim --bin rmq-sim -- {}",
        args.join(" ")
    ));
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "rmq-sim",
        "--bin",
        "rmq-sim",
        "--",
    ])
    .args(args);
    Ok(run_child(cmd)?.success())
}
