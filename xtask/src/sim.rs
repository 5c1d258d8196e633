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
        match arg.as_str() {
            "--seed" | "--seeds" | "--from" | "--jobs" => {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                value
                    .parse::<u64>()
                    .map_err(|e| format!("{arg} {value}: {e}"))?;
                forwarded.push(arg.clone());
                forwarded.push(value.clone());
            }
            "--groups" => {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                if !matches!(value.as_str(), "clustering" | "broadcasting" | "both") {
                    return Err(format!(
                        "{arg} {value}: expected clustering, broadcasting or both"
                    ));
                }
                forwarded.push(arg.clone());
                forwarded.push(value.clone());
            }
            "--faults" => {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                let list = value == "none"
                    || value
                        .split(',')
                        .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
                if !list {
                    return Err(format!(
                        "{arg} {value}: expected fault indices like 0,3,5, or none"
                    ));
                }
                forwarded.push(arg.clone());
                forwarded.push(value.clone());
            }
            "--bug" => {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                const BUGS: [&str; 3] = [
                    "frozen-routes",
                    "drops-every-other-delivery",
                    "forgets-broadcast-offsets",
                ];
                if !BUGS.contains(&value.as_str()) {
                    return Err(format!(
                        "{arg} {value}: expected one of {}",
                        BUGS.join(", ")
                    ));
                }
                forwarded.push(arg.clone());
                forwarded.push(value.clone());
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
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
