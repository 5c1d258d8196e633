//! `rmq-sim`: runs the cluster simulation over seeds.
//!
//! ```text
//! rmq-sim --seed S                          one seed: its stats, or its failure
//!                                           shrunk to the fewest faults that
//!                                           still fail (rmq_sim::cluster::shrink)
//! rmq-sim --seed S --faults I,J,K|none      that seed with only these faults
//!                                           (by index): replays a shrunk run
//! rmq-sim --seeds N [--from F] [--jobs J]   seeds F..F+N on J threads; reports
//!                                           throughput; exits 1 on any failure
//!                                           (the first 3 failures shrunk)
//! --fault-count K   draw K faults per seed instead of 4 (a harder run)
//! --bug NAME   re-introduce a client bug in the simulated hosts
//!              (frozen-routes, drops-every-other-delivery,
//!              forgets-broadcast-offsets: rmq_sim::cluster::Bug)
//! --orderly 0|1   every seed concurrent (0) or orderly (1), instead of one in four orderly
//! --groups clustering|broadcasting|both   every seed with these consumer
//!              groups, instead of the three in turn (rmq_sim::cluster::Groups)
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rmq_sim::cluster::{run, shrink, Bug, FaultMask, Groups, SimConfig, Stats, SHRINK_RUNS};

fn usage() -> ExitCode {
    eprintln!(
        "usage: rmq-sim --seed S [--faults I,J,K|none] | --seeds N [--from F] [--jobs J]; [--fault-count K] [--orderly 0|1] [--groups clustering|broadcasting|both] [--bug NAME]"
    );
    ExitCode::from(2)
}

/// Totals over a batch of seeds.
#[derive(Default)]
struct Totals {
    steps: u64,
    acked: usize,
    checks: u64,
    faults: usize,
    broadcast: usize,
    failed: Vec<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut seed, mut seeds, mut from) = (None, None, 0u64);
    let mut jobs = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let (mut faults, mut orderly, mut groups) = (None, None, None);
    let (mut mask, mut bug) = (None, None);
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            return usage();
        };
        let number = value.parse::<u64>().ok();
        match (flag.as_str(), number) {
            ("--bug", _) => match Bug::parse(value) {
                Some(b) => bug = Some(b),
                None => return usage(),
            },
            ("--faults", _) => match FaultMask::parse(value) {
                Ok(m) => mask = Some(m),
                Err(e) => {
                    eprintln!("--faults: {e}");
                    return usage();
                }
            },
            ("--groups", _) => match Groups::parse(value) {
                Some(g) => groups = Some(g),
                None => return usage(),
            },
            ("--seed", Some(v)) => seed = Some(v),
            ("--seeds", Some(v)) => seeds = Some(v),
            ("--from", Some(v)) => from = v,
            ("--jobs", Some(v)) => jobs = v.max(1),
            ("--fault-count", Some(v)) => faults = Some(v as usize),
            ("--orderly", Some(v)) => orderly = Some(v != 0),
            _ => return usage(),
        }
    }
    let config = move |s: u64| {
        let mut c = SimConfig::for_seed(s);
        if let Some(g) = groups {
            c = c.with_groups(g);
        }
        c.faults = faults.unwrap_or(c.faults);
        c.orderly = orderly.unwrap_or(c.orderly);
        c.bug = bug;
        c
    };
    if let Some(s) = seed {
        let started = Instant::now();
        // With --faults: the replay of a shrunk run, reported as is.
        let replay = mask.is_some();
        let mut c = config(s);
        if let Some(m) = mask {
            c = c.with_faults(m).replay();
        }
        return match run(s, &c) {
            Ok(stats) => {
                let ms = started.elapsed().as_secs_f64() * 1e3;
                println!("seed {s}: every invariant held ({ms:.1} ms): {stats:?}");
                ExitCode::SUCCESS
            }
            Err(f) if replay => {
                println!("{f}");
                ExitCode::FAILURE
            }
            Err(f) => {
                println!("{}", shrink(s, &c, &f, SHRINK_RUNS));
                ExitCode::FAILURE
            }
        };
    }
    if mask.is_some() {
        eprintln!("--faults replays one seed: give --seed S");
        return usage();
    }
    let Some(n) = seeds else {
        return usage();
    };
    let started = Instant::now();
    let next = AtomicU64::new(from);
    let failures = AtomicU64::new(0);
    let totals = Mutex::new(Totals::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let s = next.fetch_add(1, Ordering::Relaxed);
                if s >= from + n {
                    return;
                }
                let result = run(s, &config(s));
                // The first failures are shrunk (outside the lock).
                let shrunk = match &result {
                    Err(f) if failures.fetch_add(1, Ordering::Relaxed) < 3 => {
                        Some(shrink(s, &config(s), f, SHRINK_RUNS))
                    }
                    _ => None,
                };
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                t.broadcast += result.as_ref().map_or(0, |r| r.broadcast_consumed);
                match result {
                    Ok(Stats {
                        steps,
                        acked,
                        ownership_checks,
                        faults,
                        ..
                    }) => {
                        t.steps += steps;
                        t.acked += acked;
                        t.checks += ownership_checks;
                        t.faults += faults;
                    }
                    Err(f) => {
                        if let Some(shrunk) = shrunk {
                            println!("{shrunk}\n");
                        } else {
                            println!("seed {s}: {:?}: {}", f.invariant, f.detail);
                        }
                        t.failed.push(s.to_string());
                    }
                }
            });
        }
    });
    let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} seeds ({from}..{}) on {jobs} threads in {secs:.2} s: {} failed; {} simulated steps ({:.0} steps/s, {:.0} seeds/s); {} faults injected; {} messages acknowledged; {} broadcast consumptions; {} ownership checks",
        from + n,
        t.failed.len(),
        t.steps,
        t.steps as f64 / secs,
        n as f64 / secs,
        t.faults,
        t.acked,
        t.broadcast,
        t.checks,
    );
    if t.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failing seeds: {}", t.failed.join(" "));
        ExitCode::FAILURE
    }
}
