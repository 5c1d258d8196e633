//! `rmq-sim`: runs the cluster simulation over seeds.
//!
//! ```text
//! rmq-sim --seed S          one seed; prints its stats, or the failure trace
//! rmq-sim --seeds N [--from F]   seeds F..F+N; reports throughput; exits 1 on any failure
//! ```

use std::process::ExitCode;
use std::time::Instant;

use rmq_sim::cluster::{run, SimConfig};

fn usage() -> ExitCode {
    eprintln!("usage: rmq-sim --seed S | --seeds N [--from F]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seed = None;
    let mut seeds = None;
    let mut from = 0u64;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--seed", Some(v)) => seed = Some(v),
            ("--seeds", Some(v)) => seeds = Some(v),
            ("--from", Some(v)) => from = v,
            _ => return usage(),
        }
        i += 2;
    }
    if let Some(s) = seed {
        let started = Instant::now();
        return match run(s, &SimConfig::for_seed(s)) {
            Ok(stats) => {
                println!(
                    "seed {s}: ok in {:.1} ms: {stats:?}",
                    started.elapsed().as_secs_f64() * 1e3
                );
                ExitCode::SUCCESS
            }
            Err(f) => {
                println!("{f}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(n) = seeds else {
        return usage();
    };
    let started = Instant::now();
    let (mut steps, mut failed, mut acked, mut checks) = (0u64, 0u64, 0usize, 0u64);
    for s in from..from + n {
        match run(s, &SimConfig::for_seed(s)) {
            Ok(stats) => {
                steps += stats.steps;
                acked += stats.acked;
                checks += stats.ownership_checks;
            }
            Err(f) => {
                failed += 1;
                if failed <= 3 {
                    println!("{f}\n");
                } else {
                    println!("seed {s}: {:?}: {}", f.invariant, f.detail);
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} seeds ({from}..{}) in {secs:.2} s: {failed} failed; {steps} steps, {:.0} steps/s, {:.0} seeds/s; {acked} messages acknowledged; {checks} ownership checks",
        from + n,
        steps as f64 / secs,
        n as f64 / secs,
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
