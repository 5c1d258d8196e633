//! Shrinking a failing run: greedy delta debugging over its faults.
//!
//! A run is replayed with a subset of the faults its seed draws
//! ([`FaultMask`]: a fault left out is still drawn, and its random choices
//! still made, so the others keep their kinds and times). [`shrink`] keeps
//! any subset that still violates the same [`Invariant`] kind: first none
//! at all, then (delta debugging) the list without one half, one quarter,
//! ..., one fault, within a bound on re-runs. Re-runs stop at the virtual
//! time the failure happened (a step invariant must fail no later), so a
//! shrink costs at most that many runs' worth of the failing prefix.

use std::fmt;
use std::time::Duration;

use super::{run, Failure, FaultMask, Invariant, SimConfig};

/// Re-runs [`shrink`] spends at most, by default (the final replay of the
/// minimized run included).
pub const SHRINK_RUNS: usize = 64;

/// A failure and its minimized run.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The full run's failure.
    pub original: Box<Failure>,
    /// The minimized run's failure, replayed as
    /// `config.with_faults(kept).replay()` replays it: the same report.
    pub failure: Box<Failure>,
    /// The faults kept (what `cargo xtask sim --faults` takes).
    pub kept: FaultMask,
    /// Re-runs spent, the final replay included.
    pub runs: usize,
    /// Where the re-runs stopped (virtual ms); `None` for an
    /// [`Invariant::at_end`] violation (they ran to the end).
    pub stopped_at_ms: Option<u64>,
    /// The bound on re-runs ended the search before every single fault
    /// left was tried without: the list may not be minimal.
    pub exhausted: bool,
}

impl fmt::Display for Shrunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.original;
        let applied: Vec<String> = o
            .faults
            .iter()
            .filter(|x| !x.skipped)
            .map(|x| format!("#{} {:?} at {} ms", x.index, x.kind, x.at_ms))
            .collect();
        writeln!(
            f,
            "seed {}: {:?} at {} ms (step {}) in the full run, after {} faults{}{}",
            o.seed,
            o.invariant,
            o.at_ms,
            o.steps,
            applied.len(),
            if applied.is_empty() { "" } else { ": " },
            applied.join(", ")
        )?;
        let kept = self.failure.faults.iter().filter(|x| !x.skipped).count();
        let stop = match self.stopped_at_ms {
            Some(ms) => format!("each stopped at {ms} ms"),
            None => "each to the end".to_string(),
        };
        writeln!(
            f,
            "minimized in {} re-runs ({stop}): {kept} of {} faults kept{}",
            self.runs,
            applied.len(),
            if self.exhausted {
                " (re-runs ran out: perhaps not minimal)"
            } else {
                ""
            }
        )?;
        writeln!(f, "{}", self.failure)?;
        write!(f, "full run: {}", o.command)
    }
}

/// Minimizes `failure`, the failure of `seed`'s run with `config`, in at
/// most `budget` re-runs (at least 1: the final replay): the fewest faults
/// found that still violate the same invariant kind, and that run's report.
pub fn shrink(seed: u64, config: &SimConfig, failure: &Failure, budget: usize) -> Shrunk {
    let want = failure.invariant;
    let stop = (!want.at_end()).then_some(failure.at_ms);
    let budget = budget.max(1);
    let mut search = Search {
        seed,
        config,
        want,
        stop,
        runs: 0,
        // Leave one re-run for the final replay.
        budget: budget - 1,
    };
    // Faults that found nothing to do drew the same choices as skipped
    // ones do: leaving them out gives the same run.
    let mut keep: Vec<usize> = failure
        .faults
        .iter()
        .filter(|f| !f.skipped && !f.notes.is_empty())
        .map(|f| f.index)
        .collect();
    let mut best: Option<Box<Failure>> = None;
    let mut exhausted = false;
    if !keep.is_empty() {
        match search.fails(&keep) {
            Some(f) => best = Some(f),
            // Not expected (the runs are deterministic): keep every fault.
            None => keep = failure.applied(),
        }
    }
    if !keep.is_empty() {
        if let Some(f) = search.fails(&[]) {
            keep.clear();
            best = Some(f);
        }
    }
    let mut n = 2;
    while keep.len() >= 2 {
        if search.spent() {
            exhausted = true;
            break;
        }
        let mut reduced = false;
        for chunk in chunks(&keep, n) {
            if search.spent() {
                break;
            }
            let candidate: Vec<usize> = keep
                .iter()
                .copied()
                .filter(|i| !chunk.contains(i))
                .collect();
            if let Some(f) = search.fails(&candidate) {
                keep = candidate;
                best = Some(f);
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if search.spent() {
                exhausted = true;
                break;
            }
            if n >= keep.len() {
                break; // every single fault is needed
            }
            n = (n * 2).min(keep.len());
        }
    }
    let kept = FaultMask::only(keep);
    let replay = config.clone().with_faults(kept.clone()).replay();
    search.runs += 1;
    let minimized = match run(seed, &replay) {
        Err(f) => f,
        // Not expected: the replay is the run that failed, not stopped.
        Ok(_) => best.unwrap_or_else(|| Box::new(failure.clone())),
    };
    Shrunk {
        original: Box::new(failure.clone()),
        failure: minimized,
        kept,
        runs: search.runs,
        stopped_at_ms: stop,
        exhausted,
    }
}

/// The state of one shrink: what it looks for and what it spent.
struct Search<'a> {
    seed: u64,
    config: &'a SimConfig,
    want: Invariant,
    stop: Option<u64>,
    runs: usize,
    budget: usize,
}

impl Search<'_> {
    fn spent(&self) -> bool {
        self.runs >= self.budget
    }

    /// Whether the run with only `keep`'s faults violates the invariant
    /// looked for (by the stop time): its failure.
    fn fails(&mut self, keep: &[usize]) -> Option<Box<Failure>> {
        if self.spent() {
            return None;
        }
        self.runs += 1;
        let config = SimConfig {
            fault_mask: FaultMask::only(keep.iter().copied()),
            stop_at: self.stop.map(Duration::from_millis),
            history: 0,
            ..self.config.clone()
        };
        run(self.seed, &config)
            .err()
            .filter(|f| f.invariant == self.want)
    }
}

/// `keep` cut into `n` nearly equal runs (fewer if it is shorter).
fn chunks(keep: &[usize], n: usize) -> Vec<Vec<usize>> {
    let n = n.clamp(1, keep.len().max(1));
    let (size, extra) = (keep.len() / n, keep.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = size + usize::from(i < extra);
        out.push(keep[at..at + len].to_vec());
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chunks;
    use crate::cluster::FaultMask;

    #[test]
    fn chunks_cover_the_list_in_order() {
        assert_eq!(chunks(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(chunks(&[1, 2], 5), vec![vec![1], vec![2]]);
    }

    #[test]
    fn a_fault_mask_reads_back_what_it_writes() {
        for text in ["all", "none", "0,3,5"] {
            let mask = FaultMask::parse(text).expect("a valid mask");
            assert_eq!(mask.to_string(), text);
        }
        assert!(FaultMask::parse("1,x").is_err());
        assert!(FaultMask::only([2]).applies(2));
        assert!(!FaultMask::only([2]).applies(1));
        assert!(FaultMask::all().applies(7));
    }
}
