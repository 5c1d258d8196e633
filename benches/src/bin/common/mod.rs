//! Shared by the `rmq_*` bench programs (each includes it with `mod common;`):
//! flag parsing, the process's CPU time and peak RSS, JSON output, bodies and
//! the tokio runtime. Every program prints one `{"type":"summary",...}` line
//! shaped like the Go and Java peers' (`sent`, `errors`, `msgs_per_sec`,
//! `cpu_user_sec`, `cpu_sys_sec`, `max_rss_kib`, ...), or one
//! `{"type":"error",...}` line and a non-zero exit.
#![allow(dead_code)] // each program uses a different part

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// `--flag value` / `--flag=value` pairs (one or two leading dashes).
pub struct Flags {
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Parses the process's arguments; every flag must be one of `known`.
    pub fn parse(known: &[&str]) -> Result<Flags, String> {
        let mut values = BTreeMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.trim_start_matches('-').to_string(), Some(v.to_string())),
                None => (arg.trim_start_matches('-').to_string(), None),
            };
            if !known.contains(&flag.as_str()) {
                return Err(format!("unknown flag --{flag}"));
            }
            let value = inline
                .or_else(|| it.next())
                .ok_or_else(|| format!("--{flag} needs a value"))?;
            values.insert(flag, value);
        }
        Ok(Flags { values })
    }

    /// A string flag, or `default`.
    pub fn string(&self, flag: &str, default: &str) -> String {
        self.values
            .get(flag)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// A required string flag.
    pub fn required(&self, flag: &str) -> Result<String, String> {
        self.values
            .get(flag)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| format!("--{flag} is required"))
    }

    /// A number flag, or `default`.
    pub fn number<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, String> {
        match self.values.get(flag) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{flag}: `{v}` is not a number")),
        }
    }
}

/// User and system CPU seconds of this process so far (/proc/self/stat).
pub fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall (11th and 12th after the name).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    const CLK_TCK: f64 = 100.0;
    (ticks(11) / CLK_TCK, ticks(12) / CLK_TCK)
}

/// Peak resident set size of this process in KiB (VmHWM).
pub fn max_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The time and the process's CPU usage at one point of a run.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub at: Instant,
    pub user: f64,
    pub sys: f64,
}

impl Mark {
    pub fn now() -> Mark {
        let (user, sys) = cpu_seconds();
        Mark {
            at: Instant::now(),
            user,
            sys,
        }
    }

    /// Seconds from `self` to `later`.
    pub fn seconds_to(&self, later: &Mark) -> f64 {
        later.at.duration_since(self.at).as_secs_f64()
    }

    /// (user, sys) CPU seconds from `self` to `later`.
    pub fn cpu_to(&self, later: &Mark) -> (f64, f64) {
        (later.user - self.user, later.sys - self.sys)
    }
}

/// Nanoseconds since the Unix epoch (wall clock).
pub fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `size` bytes of `a`..`z`, cycling.
pub fn filler(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints `{"type":"error","stage":...,"error":...}`.
pub fn print_error(stage: &str, error: &str) {
    println!(
        "{{\"type\":\"error\",\"stage\":\"{stage}\",\"error\":{}}}",
        json_string(error)
    );
}

/// Runs `main` on a tokio runtime with `worker_threads` workers (0: tokio's
/// default multi-thread runtime, 1: a current-thread runtime). An error
/// becomes an error line and exit 1.
pub fn run<F>(worker_threads: usize, main: F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let mut builder = match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            print_error("start", &format!("cannot start tokio: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error("run", &e);
            ExitCode::FAILURE
        }
    }
}

/// Parses flags with `parse`; a bad command line becomes an error line and
/// exit 2.
pub fn flags_or_exit<T>(parse: impl FnOnce() -> Result<T, String>) -> Result<T, ExitCode> {
    parse().map_err(|e| {
        print_error("flags", &e);
        ExitCode::from(2)
    })
}
