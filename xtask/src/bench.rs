//! `cargo xtask bench`: rmq against the Apache RocketMQ Go client on a real
//! 5.x broker, in interleaved rounds, as one markdown table (stdout and
//! `benches/results/latest.md`).
//!
//! Both sides are separate processes that report their own CPU time and peak
//! RSS over the timed run in the same JSON summary shape: the Go peer's
//! `bench-send` and rmq's `rmq_send_bench` (crate rmq-benches, release build).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};

use crate::{go, say};

/// Which program runs a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Go,
    Rmq,
}

/// One benchmark case: a client, a send mode and its concurrency.
struct Case {
    /// Short label, unique.
    label: &'static str,
    client: Client,
    /// `sync`, `pipelined` or `batch` (the Go peer only does `sync`).
    mode: &'static str,
    /// Senders (sync, batch) or sends in flight (pipelined).
    concurrency: usize,
    /// Messages per batch (batch mode).
    batch_size: usize,
    /// rmq's tokio worker threads (0 = default multi-thread, 1 = current-thread).
    worker_threads: usize,
    /// Label of the Go case this one is compared with.
    baseline: Option<&'static str>,
    /// What the case measures, for the table.
    what: &'static str,
}

const CASES: &[Case] = &[
    Case {
        label: "go-sync-1",
        client: Client::Go,
        mode: "sync",
        concurrency: 1,
        batch_size: 1,
        worker_threads: 0,
        baseline: None,
        what: "Go: sync send, 1 sender",
    },
    Case {
        label: "rmq-sync-1",
        client: Client::Rmq,
        mode: "sync",
        concurrency: 1,
        batch_size: 1,
        worker_threads: 0,
        baseline: Some("go-sync-1"),
        what: "rmq: sync send, 1 sender",
    },
    Case {
        label: "rmq-sync-1-ct",
        client: Client::Rmq,
        mode: "sync",
        concurrency: 1,
        batch_size: 1,
        worker_threads: 1,
        baseline: Some("go-sync-1"),
        what: "rmq: sync send, 1 sender, current-thread runtime",
    },
    Case {
        label: "go-sync-16",
        client: Client::Go,
        mode: "sync",
        concurrency: 16,
        batch_size: 1,
        worker_threads: 0,
        baseline: None,
        what: "Go: sync send, 16 senders",
    },
    Case {
        label: "rmq-sync-16",
        client: Client::Rmq,
        mode: "sync",
        concurrency: 16,
        batch_size: 1,
        worker_threads: 0,
        baseline: Some("go-sync-16"),
        what: "rmq: sync send, 16 senders",
    },
    Case {
        label: "go-sync-256",
        client: Client::Go,
        mode: "sync",
        concurrency: 256,
        batch_size: 1,
        worker_threads: 0,
        baseline: None,
        what: "Go: sync send, 256 goroutines",
    },
    Case {
        label: "rmq-pipelined-256",
        client: Client::Rmq,
        mode: "pipelined",
        concurrency: 256,
        batch_size: 1,
        worker_threads: 0,
        baseline: Some("go-sync-256"),
        what: "rmq: 256 sends in flight from one task",
    },
    Case {
        label: "rmq-batch-4x32",
        client: Client::Rmq,
        mode: "batch",
        concurrency: 4,
        batch_size: 32,
        worker_threads: 0,
        baseline: Some("go-sync-16"),
        what: "rmq: batches of 32, 4 senders",
    },
];

/// One run's summary line, as both programs print it.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    sent: f64,
    errors: f64,
    msgs_per_sec: f64,
    cpu_sec: f64,
    max_rss_kib: f64,
}

impl Sample {
    fn cpu_per_100k(&self) -> f64 {
        if self.sent > 0.0 {
            self.cpu_sec / self.sent * 100_000.0
        } else {
            f64::NAN
        }
    }
}

/// A number field of a flat JSON object (`"key":123.4`).
fn json_number(line: &str, key: &str) -> Option<f64> {
    let needle = format!("\"{key}\":");
    let at = line.find(&needle)? + needle.len();
    let rest = line[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn parse_summary(stdout: &str) -> Result<Sample, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"type\":\"summary\""))
        .ok_or_else(|| format!("no summary line in: {stdout}"))?;
    let field = |k: &str| json_number(line, k).ok_or_else(|| format!("no `{k}` in {line}"));
    Ok(Sample {
        sent: field("sent")?,
        errors: field("errors")?,
        msgs_per_sec: field("msgs_per_sec")?,
        cpu_sec: field("cpu_user_sec")? + field("cpu_sys_sec")?,
        max_rss_kib: field("max_rss_kib")?,
    })
}

struct Options {
    rounds: usize,
    duration_sec: u64,
    namesrv: Option<String>,
    out: PathBuf,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut out = Options {
        rounds: 3,
        duration_sec: 8,
        namesrv: None,
        out: crate::workspace_root().join("benches/results/latest.md"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--rounds" => out.rounds = value()?.parse().map_err(|_| "--rounds: not a number")?,
            "--duration-sec" => {
                out.duration_sec = value()?
                    .parse()
                    .map_err(|_| "--duration-sec: not a number")?
            }
            "--namesrv" => out.namesrv = Some(value()?),
            "--out" => out.out = PathBuf::from(value()?),
            other => return Err(format!("unknown bench option `{other}`")),
        }
    }
    out.rounds = out.rounds.max(1);
    out.duration_sec = out.duration_sec.max(1);
    Ok(out)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

fn build_rmq_bench() -> Result<PathBuf, String> {
    say("cargo build --release -p rmq-benches --bin rmq_send_bench");
    let mut build = crate::cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "rmq-benches",
        "--bin",
        "rmq_send_bench",
    ]);
    let status = crate::run_child(build)?;
    if !status.success() {
        return Err("rmq_send_bench does not build".into());
    }
    Ok(target_dir().join("release").join("rmq_send_bench"))
}

fn run_case(
    case: &Case,
    go_peer: &Path,
    rmq_bench: &Path,
    namesrv: &str,
    topic: &str,
    group: &str,
    duration_sec: u64,
) -> Result<Sample, String> {
    let mut cmd = match case.client {
        Client::Go => Command::new(go_peer),
        Client::Rmq => Command::new(rmq_bench),
    };
    if case.client == Client::Go {
        cmd.arg("bench-send");
    } else {
        cmd.args(["--mode", case.mode]);
        cmd.args(["--batch-size", &case.batch_size.to_string()]);
        cmd.args(["--worker-threads", &case.worker_threads.to_string()]);
    }
    cmd.args(["--namesrv", namesrv, "--topic", topic, "--group", group])
        .args(["--body-size", "1024", "--warmup", "100"])
        .args(["--concurrency", &case.concurrency.to_string()])
        .args(["--duration-sec", &duration_sec.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sample = parse_summary(&stdout)?;
    if !out.status.success() {
        return Err(format!("{} failed ({}): {stdout}", case.label, out.status));
    }
    Ok(sample)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Median throughput, median CPU per 100k messages and the largest peak RSS
/// over the rounds of one case.
struct Summary {
    per_round: Vec<f64>,
    msgs_per_sec: f64,
    cpu_per_100k: f64,
    rss_mib: f64,
    errors: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    let per_round: Vec<f64> = samples.iter().map(|s| s.msgs_per_sec).collect();
    Summary {
        msgs_per_sec: median(&mut per_round.clone()),
        cpu_per_100k: median(&mut samples.iter().map(Sample::cpu_per_100k).collect::<Vec<_>>()),
        rss_mib: samples.iter().map(|s| s.max_rss_kib).fold(0.0, f64::max) / 1024.0,
        errors: samples.iter().map(|s| s.errors).sum(),
        per_round,
    }
}

fn shell_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `HEAD`'s short hash, marked when the client's sources differ from it.
fn commit_label() -> String {
    let head = shell_line("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    let dirty = shell_line(
        "git",
        &[
            "status",
            "--porcelain",
            "--",
            "core",
            "host-native",
            "benches/src",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head} + uncommitted changes in core/host-native/benches")
    } else {
        head
    }
}

fn render(opts: &Options, summaries: &[(&Case, Summary)]) -> String {
    let find = |label: &str| summaries.iter().find(|(c, _)| c.label == label);
    let mut md = String::new();
    md.push_str("# rmq vs rocketmq-client-go: send benchmark\n\n");
    md.push_str(&format!(
        "Generated by `cargo xtask bench` on {} (commit {}): Apache RocketMQ {} on \
         127.0.0.1, {} CPU cores shared by broker and client, 1 KiB bodies, {} interleaved \
         rounds of {} s per case. msgs/s and CPU are medians over the rounds; RSS is the \
         largest peak. CPU = user + sys seconds of the client process during the timed \
         run, per 100,000 messages acknowledged.\n\n",
        shell_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        commit_label(),
        BrokerVersion::V5.maven_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        opts.rounds,
        opts.duration_sec,
    ));
    md.push_str(
        "| case | msgs/s | per round | CPU s / 100k msgs | peak RSS MiB | errors | \
         throughput vs Go | CPU/msg vs Go |\n",
    );
    md.push_str("|---|---:|---|---:|---:|---:|---:|---:|\n");
    let mut verdicts = Vec::new();
    for (case, s) in summaries {
        let (tput, cpu) = match case.baseline.and_then(find) {
            Some((base_case, base)) => {
                let t = s.msgs_per_sec / base.msgs_per_sec;
                let c = s.cpu_per_100k / base.cpu_per_100k;
                verdicts.push(format!(
                    "- {} vs {}: throughput {:.2}x (target >= 1.5x: {}), CPU per message \
                     {:.2}x (target <= 0.5x: {})",
                    case.label,
                    base_case.label,
                    t,
                    if t >= 1.5 { "met" } else { "MISSED" },
                    c,
                    if c <= 0.5 { "met" } else { "MISSED" },
                ));
                (format!("{t:.2}x ({})", base_case.label), format!("{c:.2}x"))
            }
            None => ("-".into(), "-".into()),
        };
        let rounds: Vec<String> = s.per_round.iter().map(|v| format!("{v:.0}")).collect();
        md.push_str(&format!(
            "| {} | {:.0} | {} | {:.2} | {:.1} | {:.0} | {} | {} |\n",
            case.what,
            s.msgs_per_sec,
            rounds.join(" / "),
            s.cpu_per_100k,
            s.rss_mib,
            s.errors,
            tput,
            cpu
        ));
    }
    md.push_str(
        "\nTargets (rmq vs the Go client): throughput >= 1.5x, CPU per message <= 0.5x.\n\n",
    );
    for v in verdicts {
        md.push_str(&v);
        md.push('\n');
    }
    md
}

/// `cargo xtask bench [--rounds N] [--duration-sec S] [--namesrv ADDR] [--out FILE]`.
pub fn cmd_bench(args: &[String]) -> Result<ExitCode, String> {
    let opts = parse_options(args)?;
    crate::install_signal_handler();
    let go_peer = go::build_go_peer(
        &crate::workspace_root().join("tests/interop/go"),
        &mut |l| say(l),
    )?;
    let rmq_bench = build_rmq_bench()?;

    let cluster = match &opts.namesrv {
        Some(addr) => {
            say(&format!("using the cluster at {addr}"));
            None
        }
        None => {
            crate::setup(false)?;
            say("starting RocketMQ 5.x (namesrv + broker) on free ports");
            let spec =
                ClusterSpec::with_free_ports(BrokerVersion::V5).map_err(|e| e.to_string())?;
            Some(Cluster::start_with_log(spec, &mut |l| say(l)).map_err(|e| e.to_string())?)
        }
    };
    let namesrv = match (&opts.namesrv, &cluster) {
        (Some(a), _) => a.clone(),
        (None, Some(c)) => c.namesrv_addr(),
        (None, None) => unreachable!("a cluster was started"),
    };

    let result = run_rounds(&opts, &go_peer, &rmq_bench, &namesrv);
    if let Some(cluster) = cluster {
        say("stopping the cluster");
        if let Err(e) = cluster.stop() {
            say(&format!("warning: stopping the cluster: {e}"));
        }
    }
    let md = result?;
    println!("{md}");
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&opts.out, &md).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    say(&format!("wrote {}", opts.out.display()));
    Ok(ExitCode::SUCCESS)
}

fn run_rounds(
    opts: &Options,
    go_peer: &Path,
    rmq_bench: &Path,
    namesrv: &str,
) -> Result<String, String> {
    let run_id = std::process::id();
    let topic = format!("RmqBench_{run_id}");
    let mut samples: Vec<Vec<Sample>> = CASES.iter().map(|_| Vec::new()).collect();
    let start = Instant::now();
    let total = opts.rounds * CASES.len();
    for round in 0..opts.rounds {
        for (i, case) in CASES.iter().enumerate() {
            let group = format!(
                "rmq_bench_{run_id}_{}_{round}",
                case.label.replace('-', "_")
            );
            let n = round * CASES.len() + i + 1;
            let sample = run_case(
                case,
                go_peer,
                rmq_bench,
                namesrv,
                &topic,
                &group,
                opts.duration_sec,
            )?;
            say(&format!(
                "[{n}/{total}, {:.0} s] round {}/{} {:<18} {:>9.0} msgs/s  {:>6.2} CPU s/100k  \
                 {:>6.1} MiB  {} errors",
                start.elapsed().as_secs_f64(),
                round + 1,
                opts.rounds,
                case.label,
                sample.msgs_per_sec,
                sample.cpu_per_100k(),
                sample.max_rss_kib / 1024.0,
                sample.errors
            ));
            samples[i].push(sample);
        }
    }
    let summaries: Vec<(&Case, Summary)> = CASES
        .iter()
        .zip(samples.iter())
        .map(|(c, s)| (c, summarize(s)))
        .collect();
    Ok(render(opts, &summaries))
}
