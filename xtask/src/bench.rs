//! `cargo xtask bench`: rmq against the Apache RocketMQ Go and Java clients
//! on a real 5.x broker, in interleaved rounds, as one markdown report
//! (stdout and `benches/results/latest.md`).
//!
//! ```text
//! cargo xtask bench [--only send,consume,latency,node] [--clients rmq,go,java]
//!                   [--rounds 3] [--duration-sec 8] [--consume-count 200000]
//!                   [--latency-rate 2000] [--namesrv ADDR] [--out FILE]
//! ```
//!
//! - `--only`: the sections to run (comma-separated; default all four).
//! - `--clients`: the clients to run (default all; a ratio against a client
//!   left out shows `-`).
//! - `--rounds`: rounds per section; each round runs every case of the
//!   section once, in table order (interleaved), with a fresh group.
//! - `--duration-sec`: length of each send run, and the measured part of
//!   each latency run (after a 2 s warm-up).
//! - `--consume-count`: messages pre-filled (1 KiB, 8 queues) and consumed
//!   by every consume run.
//! - `--latency-rate`: messages per second of the latency runs.
//! - `--namesrv`: use a running cluster; default: start a 5.x cluster on
//!   free ports and stop it afterwards.
//! - `--out`: where the markdown goes (default `benches/results/latest.md`).
//!
//! Sections:
//! - send: each client sends 1 KiB messages for `--duration-sec`
//!   (`rmq_send_bench`; the peers' `bench-send`), synchronously with 1, 16
//!   and 256 senders and in batches of 32 from 4 senders.
//! - consume: one topic is pre-filled once (`rmq_prefill`, rmq batches);
//!   each run consumes all of it with a fresh group from the first offset
//!   (`rmq_consume_bench`; `bench-consume`), timed from the first delivered
//!   message to the last.
//! - latency: each run gets a fresh, empty topic; one process consumes what
//!   it sends at a fixed rate (`rmq_latency_bench`; `bench-latency`).
//! - node: rmq in Node (WebAssembly) vs rmq native, over rmq-bridge, and
//!   Apache's TypeScript client through rocketmq-proxy (xtask/src/bench_node.rs).
//!
//! Every program is a separate process reporting its own CPU time and peak
//! RSS in the same JSON summary shape. The Go peer is tests/interop/go
//! (xtask/src/go.rs builds it), the Java peer tests/interop/java
//! (xtask/src/java.rs), rmq's programs are in benches/src/bin.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};

use crate::java::JavaPeer;
use crate::{go, java, say};

/// Which program runs a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Rmq,
    Go,
    Java,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Rmq => "rmq",
            Client::Go => "go",
            Client::Java => "java",
        }
    }
}

/// A part of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Send,
    Consume,
    Latency,
}

impl Section {
    const ALL: [Section; 3] = [Section::Send, Section::Consume, Section::Latency];

    fn name(self) -> &'static str {
        match self {
            Section::Send => "send",
            Section::Consume => "consume",
            Section::Latency => "latency",
        }
    }
}

/// One benchmark case.
struct Case {
    section: Section,
    /// Short label, unique.
    label: &'static str,
    client: Client,
    /// Send cases: `sync`, `pipelined` or `batch` (the peers do `sync` and `batch`).
    mode: &'static str,
    /// Senders (sync, batch) or sends in flight (pipelined).
    concurrency: usize,
    /// Messages per send (1, or the batch size).
    batch_size: usize,
    /// rmq's tokio worker threads (0 = default multi-thread, 1 = current-thread).
    worker_threads: usize,
    /// Labels of the Go and Java cases an rmq case is compared with.
    vs_go: Option<&'static str>,
    vs_java: Option<&'static str>,
    /// What the case measures, for the table.
    what: &'static str,
}

const fn send(
    label: &'static str,
    client: Client,
    mode: &'static str,
    concurrency: usize,
    batch_size: usize,
    what: &'static str,
) -> Case {
    Case {
        section: Section::Send,
        label,
        client,
        mode,
        concurrency,
        batch_size,
        worker_threads: 0,
        vs_go: None,
        vs_java: None,
        what,
    }
}

const fn versus(mut case: Case, go: &'static str, java: &'static str) -> Case {
    case.vs_go = Some(go);
    case.vs_java = Some(java);
    case
}

const fn one_per_client(
    section: Section,
    label: &'static str,
    client: Client,
    what: &'static str,
) -> Case {
    Case {
        section,
        label,
        client,
        mode: "",
        concurrency: 1,
        batch_size: 1,
        worker_threads: 0,
        vs_go: None,
        vs_java: None,
        what,
    }
}

const CASES: &[Case] = &[
    send(
        "go-sync-1",
        Client::Go,
        "sync",
        1,
        1,
        "Go: sync send, 1 sender",
    ),
    send(
        "java-sync-1",
        Client::Java,
        "sync",
        1,
        1,
        "Java: sync send, 1 sender",
    ),
    versus(
        send(
            "rmq-sync-1",
            Client::Rmq,
            "sync",
            1,
            1,
            "rmq: sync send, 1 sender",
        ),
        "go-sync-1",
        "java-sync-1",
    ),
    versus(
        Case {
            worker_threads: 1,
            ..send(
                "rmq-sync-1-ct",
                Client::Rmq,
                "sync",
                1,
                1,
                "rmq: sync send, 1 sender, current-thread runtime",
            )
        },
        "go-sync-1",
        "java-sync-1",
    ),
    send(
        "go-sync-16",
        Client::Go,
        "sync",
        16,
        1,
        "Go: sync send, 16 senders",
    ),
    send(
        "java-sync-16",
        Client::Java,
        "sync",
        16,
        1,
        "Java: sync send, 16 threads",
    ),
    versus(
        send(
            "rmq-sync-16",
            Client::Rmq,
            "sync",
            16,
            1,
            "rmq: sync send, 16 senders",
        ),
        "go-sync-16",
        "java-sync-16",
    ),
    send(
        "go-sync-256",
        Client::Go,
        "sync",
        256,
        1,
        "Go: sync send, 256 goroutines",
    ),
    send(
        "java-sync-256",
        Client::Java,
        "sync",
        256,
        1,
        "Java: sync send, 256 threads",
    ),
    versus(
        send(
            "rmq-pipelined-256",
            Client::Rmq,
            "pipelined",
            256,
            1,
            "rmq: 256 sends in flight from one task",
        ),
        "go-sync-256",
        "java-sync-256",
    ),
    send(
        "go-batch-4x32",
        Client::Go,
        "batch",
        4,
        32,
        "Go: batches of 32, 4 senders",
    ),
    send(
        "java-batch-4x32",
        Client::Java,
        "batch",
        4,
        32,
        "Java: batches of 32, 4 threads",
    ),
    versus(
        send(
            "rmq-batch-4x32",
            Client::Rmq,
            "batch",
            4,
            32,
            "rmq: batches of 32, 4 senders",
        ),
        "go-batch-4x32",
        "java-batch-4x32",
    ),
    one_per_client(
        Section::Consume,
        "go-consume",
        Client::Go,
        "Go: push consumer",
    ),
    one_per_client(
        Section::Consume,
        "java-consume",
        Client::Java,
        "Java: push consumer",
    ),
    versus(
        one_per_client(
            Section::Consume,
            "rmq-consume",
            Client::Rmq,
            "rmq: push consumer",
        ),
        "go-consume",
        "java-consume",
    ),
    one_per_client(Section::Latency, "go-latency", Client::Go, "Go"),
    one_per_client(Section::Latency, "java-latency", Client::Java, "Java"),
    versus(
        one_per_client(Section::Latency, "rmq-latency", Client::Rmq, "rmq"),
        "go-latency",
        "java-latency",
    ),
];

/// One run's summary line, as every program prints it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Messages sent (consume: consumed) in the timed run.
    sent: f64,
    pub(crate) errors: f64,
    pub(crate) msgs_per_sec: f64,
    cpu_sec: f64,
    pub(crate) max_rss_kib: f64,
    /// Latency runs: messages of the measured part that arrived.
    received: f64,
    lat_p50_ms: f64,
    lat_p99_ms: f64,
    lat_max_ms: f64,
}

impl Sample {
    pub(crate) fn cpu_per_100k(&self) -> f64 {
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

pub(crate) fn parse_summary(stdout: &str) -> Result<Sample, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"type\":\"summary\""))
        .ok_or_else(|| {
            let tail: Vec<&str> = stdout.lines().rev().take(3).collect();
            format!("no summary line; last output: {}", tail.join(" | "))
        })?;
    let field = |k: &str| json_number(line, k).ok_or_else(|| format!("no `{k}` in {line}"));
    let optional = |k: &str| json_number(line, k).unwrap_or(f64::NAN);
    Ok(Sample {
        sent: field("sent")?,
        errors: field("errors")?,
        msgs_per_sec: field("msgs_per_sec")?,
        cpu_sec: field("cpu_user_sec")? + field("cpu_sys_sec")?,
        max_rss_kib: field("max_rss_kib")?,
        received: optional("received"),
        lat_p50_ms: optional("lat_p50_ms"),
        lat_p99_ms: optional("lat_p99_ms"),
        lat_max_ms: optional("lat_max_ms"),
    })
}

struct Options {
    rounds: usize,
    duration_sec: u64,
    sections: Vec<Section>,
    clients: Vec<Client>,
    consume_count: u64,
    latency_rate: u64,
    namesrv: Option<String>,
    out: PathBuf,
    /// Run the `node` section (xtask/src/bench_node.rs).
    node: bool,
}

/// Latency runs: seconds sent (and not counted) before the measured part.
const LATENCY_WARMUP_SEC: u64 = 2;
/// Queues of the topics the bench creates.
const QUEUES: &str = "8";

fn parse_list<T: Copy>(
    flag: &str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let item = all
            .iter()
            .copied()
            .find(|&x| name(x) == word)
            .ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|&x| name(x)).collect();
                format!("{flag}: unknown `{word}` (one of {})", names.join(", "))
            })?;
        out.push(item);
    }
    if out.is_empty() {
        return Err(format!("{flag} needs at least one value"));
    }
    Ok(out)
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut out = Options {
        rounds: 3,
        duration_sec: 8,
        sections: Section::ALL.to_vec(),
        clients: vec![Client::Rmq, Client::Go, Client::Java],
        consume_count: 200_000,
        latency_rate: 2000,
        namesrv: None,
        out: crate::workspace_root().join("benches/results/latest.md"),
        node: true,
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
        let number = |v: String| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag {
            "--rounds" => out.rounds = number(value()?)? as usize,
            "--duration-sec" => out.duration_sec = number(value()?)?,
            "--consume-count" => out.consume_count = number(value()?)?,
            "--latency-rate" => out.latency_rate = number(value()?)?,
            "--only" => {
                let v = value()?;
                let words: Vec<&str> = v.split(',').map(str::trim).collect();
                out.node = words.contains(&"node");
                let rest: Vec<&str> = words.into_iter().filter(|w| *w != "node").collect();
                out.sections = if rest.iter().all(|w| w.is_empty()) && out.node {
                    Vec::new()
                } else {
                    parse_list(flag, &rest.join(","), &Section::ALL, Section::name)?
                };
            }
            "--clients" => {
                let all = [Client::Rmq, Client::Go, Client::Java];
                out.clients = parse_list(flag, &value()?, &all, Client::name)?;
            }
            "--namesrv" => out.namesrv = Some(value()?),
            "--out" => out.out = PathBuf::from(value()?),
            other => return Err(format!("unknown bench option `{other}`")),
        }
    }
    out.rounds = out.rounds.max(1);
    out.duration_sec = out.duration_sec.max(1);
    out.consume_count = out.consume_count.max(1);
    out.latency_rate = out.latency_rate.max(1);
    Ok(out)
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

/// Builds rmq's bench programs (release); returns their directory.
fn build_rmq_benches() -> Result<PathBuf, String> {
    say("cargo build --release -p rmq-benches --bins");
    let mut build = crate::cargo();
    build.args(["build", "--release", "-p", "rmq-benches", "--bins"]);
    let status = crate::run_child(build)?;
    if !status.success() {
        return Err("the rmq bench programs do not build".into());
    }
    Ok(target_dir().join("release"))
}

/// The built programs.
struct Peers {
    rmq_dir: PathBuf,
    go: Option<PathBuf>,
    java: Option<JavaPeer>,
}

impl Peers {
    /// The command that runs `section` for `client`.
    fn command(&self, client: Client, section: Section) -> Command {
        let (rmq_program, subcommand) = match section {
            Section::Send => ("rmq_send_bench", "bench-send"),
            Section::Consume => ("rmq_consume_bench", "bench-consume"),
            Section::Latency => ("rmq_latency_bench", "bench-latency"),
        };
        let mut cmd = match client {
            Client::Rmq => return Command::new(self.rmq_dir.join(rmq_program)),
            Client::Go => Command::new(self.go.as_ref().expect("the Go peer was built")),
            Client::Java => self
                .java
                .as_ref()
                .expect("the Java peer was built")
                .command(),
        };
        cmd.arg(subcommand);
        cmd
    }

    fn rmq(&self, program: &str) -> Command {
        Command::new(self.rmq_dir.join(program))
    }
}

/// How a bench program ended.
pub(crate) struct Finished {
    pub(crate) stdout: String,
    /// `None` on exit 0, else the exit status and the tail of stderr.
    pub(crate) failure: Option<String>,
}

/// Runs a bench program to completion (killed after `limit`); returns its
/// stdout and how it exited, or an error when it could not run or was killed.
pub(crate) fn run_program(mut cmd: Command, limit: Duration) -> Result<Finished, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    crate::CHILD_PID.store(child.id(), Ordering::SeqCst);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut tail = std::collections::VecDeque::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tail.len() == 12 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        Vec::from(tail).join("\n")
    });
    let start = Instant::now();
    let status: Result<ExitStatus, String> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("killed after {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => break Err(format!("waiting: {e}")),
        }
    };
    crate::CHILD_PID.store(0, Ordering::SeqCst);
    let stdout = out_reader.join().unwrap_or_default();
    let stderr_tail = err_reader.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => Ok(Finished {
            stdout,
            failure: None,
        }),
        Ok(s) => {
            let failure = format!(
                "{s}; stdout: {}; stderr tail:\n{stderr_tail}",
                stdout.lines().last().unwrap_or("")
            );
            Ok(Finished {
                stdout,
                failure: Some(failure),
            })
        }
        Err(e) => Err(format!("{e}; stderr tail:\n{stderr_tail}")),
    }
}

/// Creates `topic` with [`QUEUES`] queues and fills it with `count` 1 KiB messages.
fn prefill(peers: &Peers, namesrv: &str, topic: &str, count: u64) -> Result<Sample, String> {
    let mut cmd = peers.rmq("rmq_prefill");
    cmd.args(["--namesrv", namesrv, "--topic", topic, "--queues", QUEUES])
        .args(["--count", &count.to_string(), "--body-size", "1024"]);
    let run = run_program(cmd, Duration::from_secs(600));
    match run {
        Ok(Finished {
            stdout,
            failure: None,
        }) => parse_summary(&stdout),
        Ok(Finished {
            failure: Some(e), ..
        })
        | Err(e) => Err(format!("rmq_prefill {topic}: {e}")),
    }
}

/// A run's sample, and a warning when the program exited non-zero but
/// still reported a summary with messages in it (e.g. the Java peer exits 1
/// when a latency message did not arrive).
type Outcome = (Sample, Option<String>);

/// Runs one case once.
fn run_case(
    case: &Case,
    peers: &Peers,
    opts: &Options,
    namesrv: &str,
    topic: &str,
    group: &str,
) -> Result<Outcome, String> {
    let mut cmd = peers.command(case.client, case.section);
    cmd.args(["--namesrv", namesrv, "--topic", topic, "--group", group]);
    let limit = match case.section {
        Section::Send => {
            if case.client == Client::Rmq {
                cmd.args(["--mode", case.mode])
                    .args(["--worker-threads", &case.worker_threads.to_string()]);
            }
            if case.batch_size > 1 || case.client == Client::Rmq {
                cmd.args(["--batch-size", &case.batch_size.to_string()]);
            }
            cmd.args(["--body-size", "1024", "--warmup", "100"])
                .args(["--concurrency", &case.concurrency.to_string()])
                .args(["--duration-sec", &opts.duration_sec.to_string()]);
            opts.duration_sec + 120
        }
        Section::Consume => {
            // Generous: even 2000 msgs/s finishes 200 000 in 100 s.
            let timeout = 120 + opts.consume_count / 1000;
            cmd.args(["--expect", &opts.consume_count.to_string()])
                .args(["--timeout-sec", &timeout.to_string()]);
            timeout + 60
        }
        Section::Latency => {
            cmd.args(["--rate", &opts.latency_rate.to_string()])
                .args(["--duration-sec", &opts.duration_sec.to_string()])
                .args(["--warmup-sec", &LATENCY_WARMUP_SEC.to_string()])
                .args(["--body-size", "1024"]);
            opts.duration_sec + LATENCY_WARMUP_SEC + 150
        }
    };
    let run = run_program(cmd, Duration::from_secs(limit))?;
    match (parse_summary(&run.stdout), run.failure) {
        (Ok(sample), None) => Ok((sample, None)),
        (Ok(sample), Some(failure)) if sample.sent > 0.0 => Ok((sample, Some(failure))),
        (_, Some(failure)) => Err(failure),
        (Err(e), None) => Err(e),
    }
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Medians (throughput, CPU per 100k, latency percentiles), the largest
/// peak RSS and maximum latency, and totals over the rounds of one case.
struct Summary {
    rounds: usize,
    per_round: Vec<f64>,
    msgs_per_sec: f64,
    cpu_per_100k: f64,
    rss_mib: f64,
    errors: f64,
    sent: f64,
    received: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    p99_per_round: Vec<f64>,
}

fn summarize(samples: &[Sample]) -> Summary {
    let per_round: Vec<f64> = samples.iter().map(|s| s.msgs_per_sec).collect();
    let collect = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    Summary {
        rounds: samples.len(),
        msgs_per_sec: median(&mut per_round.clone()),
        cpu_per_100k: median(&mut collect(Sample::cpu_per_100k)),
        rss_mib: samples.iter().map(|s| s.max_rss_kib).fold(0.0, f64::max) / 1024.0,
        errors: samples.iter().map(|s| s.errors).sum(),
        sent: samples.iter().map(|s| s.sent).sum(),
        received: samples.iter().map(|s| s.received).sum(),
        p50_ms: median(&mut collect(|s| s.lat_p50_ms)),
        p99_ms: median(&mut collect(|s| s.lat_p99_ms)),
        max_ms: samples
            .iter()
            .map(|s| s.lat_max_ms)
            .fold(f64::NAN, f64::max),
        p99_per_round: collect(|s| s.lat_p99_ms),
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

/// The baselines' client libraries and the JVM, for the header.
fn peer_versions() -> String {
    // `java -version` writes to stderr.
    let jvm = Command::new(rmq_tests::java_binary())
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "java ?".into());
    format!(
        "rocketmq-client-go/v2 v2.1.2 (tests/interop/go) and rocketmq-client 5.5.0 on {jvm} \
         (tests/interop/java)"
    )
}

/// Everything measured, for the report.
struct Results<'a> {
    summaries: Vec<(&'a Case, Summary)>,
    failures: Vec<String>,
    prefill: Option<Sample>,
}

impl Results<'_> {
    fn get(&self, label: &str) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|(c, s)| c.label == label && s.rounds > 0)
            .map(|(_, s)| s)
    }
}

/// `rmq / baseline` as `1.23x`, or `-` when either is missing.
fn ratio(value: f64, base: Option<f64>) -> Option<f64> {
    let r = value / base?;
    r.is_finite().then_some(r)
}

fn cell(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "-".into()
    }
}

/// The four ratio cells of an rmq row: throughput and CPU per message vs Go
/// and vs Java (`-` for a baseline that was not run, or a non-rmq row).
fn ratio_cells(results: &Results, case: &Case, s: &Summary) -> [String; 4] {
    let base = |label: Option<&str>| label.and_then(|l| results.get(l));
    let go = base(case.vs_go);
    let java = base(case.vs_java);
    [
        cell(ratio(s.msgs_per_sec, go.map(|b| b.msgs_per_sec))),
        cell(ratio(s.cpu_per_100k, go.map(|b| b.cpu_per_100k))),
        cell(ratio(s.msgs_per_sec, java.map(|b| b.msgs_per_sec))),
        cell(ratio(s.cpu_per_100k, java.map(|b| b.cpu_per_100k))),
    ]
}

fn render(opts: &Options, results: &Results) -> String {
    let mut md = String::new();
    md.push_str("# rmq vs the Apache RocketMQ Go and Java clients\n\n");
    md.push_str(&format!(
        "Generated by `cargo xtask bench` on {} (commit {}): Apache RocketMQ {} on \
         127.0.0.1, {} CPU cores shared by broker and client, 1 KiB bodies, {} interleaved \
         rounds per section. Baselines: {}. Every client is its own process and reports \
         its own CPU (user + sys seconds over the timed part) and peak RSS. msgs/s, CPU and \
         latency percentiles are medians over the rounds; RSS and max latency are the \
         largest. Ratios are rmq / baseline: throughput above 1 and CPU per message below 1 \
         favour rmq. Java's CPU includes its JIT compiler and GC threads, which weigh more \
         in short runs.\n\n",
        shell_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        commit_label(),
        BrokerVersion::V5.maven_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        opts.rounds,
        peer_versions(),
    ));
    let in_section = |section: Section| {
        results
            .summaries
            .iter()
            .filter(move |(c, _)| c.section == section)
    };
    let ran = |section: Section| opts.sections.contains(&section);

    if ran(Section::Send) {
        md.push_str(&format!(
            "## Send\n\n{} s per run; CPU per 100,000 messages acknowledged. rmq's batch row \
             is compared with the Go and Java batch rows, every other rmq row with the \
             clients' sync sends at the same concurrency.\n\n",
            opts.duration_sec
        ));
        md.push_str(
            "| case | msgs/s | per round | CPU s / 100k msgs | peak RSS MiB | errors | \
             msgs/s vs Go | CPU/msg vs Go | msgs/s vs Java | CPU/msg vs Java |\n",
        );
        md.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (case, s) in in_section(Section::Send) {
            let [t_go, c_go, t_java, c_java] = ratio_cells(results, case, s);
            let rounds: Vec<String> = s.per_round.iter().map(|v| format!("{v:.0}")).collect();
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {t_go} | {c_go} | {t_java} | {c_java} |\n",
                case.what,
                num(s.msgs_per_sec, 0),
                rounds.join(" / "),
                num(s.cpu_per_100k, 2),
                num(s.rss_mib, 1),
                s.errors,
            ));
        }
        md.push('\n');
    }

    if ran(Section::Consume) {
        let prefill = results.prefill.map_or_else(String::new, |p| {
            format!(
                " (pre-filled by rmq batches of 32 at {:.0} msgs/s)",
                p.msgs_per_sec
            )
        });
        md.push_str(&format!(
            "## Consume\n\nEvery run reads the same {} × 1 KiB messages from one topic with \
             {QUEUES} queues{prefill}: a push consumer of a fresh group, clustering, from the \
             first offset, 20 handler threads (goroutines, tasks), one message per handler \
             call, a handler that only counts. msgs/s and CPU run from the first delivered \
             message to the last.\n\n",
            opts.consume_count
        ));
        md.push_str(
            "| client | msgs/s | per round | CPU s / 100k msgs | peak RSS MiB | \
             msgs/s vs Go | CPU/msg vs Go | msgs/s vs Java | CPU/msg vs Java |\n",
        );
        md.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (case, s) in in_section(Section::Consume) {
            let [t_go, c_go, t_java, c_java] = ratio_cells(results, case, s);
            let rounds: Vec<String> = s.per_round.iter().map(|v| format!("{v:.0}")).collect();
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {t_go} | {c_go} | {t_java} | {c_java} |\n",
                case.what,
                num(s.msgs_per_sec, 0),
                rounds.join(" / "),
                num(s.cpu_per_100k, 2),
                num(s.rss_mib, 1),
            ));
        }
        md.push('\n');
    }

    if ran(Section::Latency) {
        md.push_str(&format!(
            "## End-to-end latency at {} msgs/s\n\nOne process per run: a push consumer of a \
             fresh group on a fresh {QUEUES}-queue topic, then a producer sending synchronously \
             at a fixed pace (message i due at t0 + i / rate, handed to one of 8 senders) \
             for {LATENCY_WARMUP_SEC} s of warm-up (not counted) and {} s measured. \
             Latency = receive time − the send time written in the body. CPU (producer and \
             consumer together) runs from the end of the warm-up until the last message \
             arrived, per 100,000 messages sent. lost = sent − arrived within 30 s, over all \
             rounds; \"(behind)\": the client sent below 95% of the rate.\n\n",
            opts.latency_rate, opts.duration_sec
        ));
        md.push_str(
            "| client | sent msgs/s | p50 ms | p99 ms | p99 per round | max ms | lost | \
             CPU s / 100k msgs | peak RSS MiB | errors | CPU/msg vs Go | CPU/msg vs Java |\n",
        );
        md.push_str("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (case, s) in in_section(Section::Latency) {
            let [_, c_go, _, c_java] = ratio_cells(results, case, s);
            let rounds: Vec<String> = s.p99_per_round.iter().map(|v| num(*v, 2)).collect();
            let behind = s.msgs_per_sec < 0.95 * opts.latency_rate as f64;
            let sent_rate = format!(
                "{}{}",
                num(s.msgs_per_sec, 0),
                if behind { " (behind)" } else { "" }
            );
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {c_go} | {c_java} |\n",
                case.what,
                sent_rate,
                num(s.p50_ms, 2),
                num(s.p99_ms, 2),
                rounds.join(" / "),
                num(s.max_ms, 1),
                num(s.sent - s.received, 0),
                num(s.cpu_per_100k, 2),
                num(s.rss_mib, 1),
                s.errors,
            ));
        }
        md.push('\n');
    }

    md.push_str(&render_targets(opts, results));

    if !results.failures.is_empty() {
        md.push_str(
            "\n## Failed runs\n\nRuns without a summary are left out of the tables; \
             \"summary kept\" runs exited non-zero but reported numbers, which are used.\n\n",
        );
        for f in &results.failures {
            md.push_str(&format!("- {}\n", f.replace('\n', " ⏎ ")));
        }
    }
    md
}

/// The issue's targets, each with the measured value and met / MISSED.
fn render_targets(opts: &Options, results: &Results) -> String {
    let mut rows = Vec::new();
    let mut check = |target: &str, rmq: &str, base: Option<&str>, cpu: bool, bound: f64| {
        let Some(base) = base else { return };
        if !opts.sections.contains(&section_of(rmq)) {
            return;
        }
        let value = match (results.get(rmq), results.get(base)) {
            (Some(r), Some(b)) if cpu => ratio(r.cpu_per_100k, Some(b.cpu_per_100k)),
            (Some(r), Some(b)) => ratio(r.msgs_per_sec, Some(b.msgs_per_sec)),
            _ => None,
        };
        let verdict = match value {
            None => "not measured",
            Some(v) if (cpu && v <= bound) || (!cpu && v >= bound) => "met",
            Some(_) => "MISSED",
        };
        rows.push(format!(
            "| {target} | {rmq} vs {base} | {} | {verdict} |\n",
            cell(value)
        ));
    };
    let rmq_cases = || CASES.iter().filter(|c| c.client == Client::Rmq);
    for c in rmq_cases().filter(|c| c.section == Section::Send) {
        check("sends >= 1.3x Java", c.label, c.vs_java, false, 1.3);
    }
    for c in rmq_cases().filter(|c| c.section == Section::Consume) {
        check("consume >= 1.5x Go", c.label, c.vs_go, false, 1.5);
        check("consume >= 1.2x Java", c.label, c.vs_java, false, 1.2);
    }
    for c in rmq_cases() {
        check("CPU per message <= 0.5x Go", c.label, c.vs_go, true, 0.5);
        check(
            "CPU per message <= 0.5x Java",
            c.label,
            c.vs_java,
            true,
            0.5,
        );
    }
    for c in rmq_cases().filter(|c| c.section == Section::Send) {
        check("(earlier) sends >= 1.5x Go", c.label, c.vs_go, false, 1.5);
    }
    let mut md = String::from(
        "## Targets\n\nsends >= 1.3x Java; consume >= 1.5x Go and >= 1.2x Java; CPU per \
         message <= 0.5x both (every rmq row: send, consume and latency); and the earlier \
         sends >= 1.5x Go.\n\n| target | rows | measured | result |\n|---|---|---:|---|\n",
    );
    let met = rows.iter().filter(|r| r.ends_with("| met |\n")).count();
    for r in &rows {
        md.push_str(r);
    }
    md.push_str(&format!("\n{met} of {} targets met.\n", rows.len()));
    md
}

fn section_of(label: &str) -> Section {
    CASES
        .iter()
        .find(|c| c.label == label)
        .map_or(Section::Send, |c| c.section)
}

/// `cargo xtask bench [--only ..] [--clients ..] [--rounds N] [--duration-sec S]
/// [--consume-count N] [--latency-rate R] [--namesrv ADDR] [--out FILE]`.
pub fn cmd_bench(args: &[String]) -> Result<ExitCode, String> {
    let opts = parse_options(args)?;
    crate::install_signal_handler();
    let wants = |client: Client| opts.clients.contains(&client);
    let go = if wants(Client::Go) {
        Some(go::build_go_peer(
            &crate::workspace_root().join("tests/interop/go"),
            &mut |l| say(l),
        )?)
    } else {
        None
    };
    let java = if wants(Client::Java) {
        Some(java::build_java_peer(&mut |l| say(l))?)
    } else {
        None
    };
    let peers = Peers {
        rmq_dir: build_rmq_benches()?,
        go,
        java,
    };

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

    let mut result = if opts.sections.is_empty() {
        Ok(String::new())
    } else {
        run_all(&opts, &peers, &namesrv)
    };
    if opts.node && result.is_ok() {
        let cluster_name = cluster.as_ref().map_or("DefaultCluster".to_string(), |c| {
            c.cluster_name().to_string()
        });
        let create_topic = |topic: &str| prefill(&peers, &namesrv, topic, 0).map(|_| ());
        let setup = crate::bench_node::Setup {
            namesrv: &namesrv,
            cluster_name: &cluster_name,
            rmq_bench_dir: &peers.rmq_dir,
            rounds: opts.rounds,
            duration_sec: opts.duration_sec,
            run_id: std::process::id(),
            create_topic: &create_topic,
        };
        result = crate::bench_node::run(&setup).map(|node| {
            let mut md = result.unwrap_or_default();
            md.push('\n');
            md.push_str(&node);
            md
        });
    }
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

fn run_all(opts: &Options, peers: &Peers, namesrv: &str) -> Result<String, String> {
    let run_id = std::process::id();
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|c| opts.sections.contains(&c.section) && opts.clients.contains(&c.client))
        .collect();
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    let mut failures = Vec::new();
    let mut prefill_sample = None;
    let start = Instant::now();
    let total = opts.rounds * cases.len();
    let mut n = 0;
    for section in Section::ALL {
        let in_section: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].section == section)
            .collect();
        if in_section.is_empty() {
            continue;
        }
        // Send: one topic for every run; consume: one pre-filled topic.
        let shared_topic = match section {
            Section::Send => {
                let topic = format!("RmqBenchSend_{run_id}");
                prefill(peers, namesrv, &topic, 0)?;
                topic
            }
            Section::Consume => {
                let topic = format!("RmqBenchConsume_{run_id}");
                say(&format!(
                    "pre-filling {topic} ({QUEUES} queues) with {} × 1 KiB",
                    opts.consume_count
                ));
                let p = prefill(peers, namesrv, &topic, opts.consume_count)?;
                say(&format!("pre-filled at {:.0} msgs/s", p.msgs_per_sec));
                prefill_sample = Some(p);
                topic
            }
            Section::Latency => String::new(),
        };
        for round in 0..opts.rounds {
            for &i in &in_section {
                let case = cases[i];
                n += 1;
                let tag = case.label.replace('-', "_");
                let group = format!("rmq_bench_{run_id}_{tag}_{round}");
                let topic = if section == Section::Latency {
                    let topic = format!("RmqBenchLat_{run_id}_{tag}_{round}");
                    prefill(peers, namesrv, &topic, 0)?;
                    topic
                } else {
                    shared_topic.clone()
                };
                let result = run_case(case, peers, opts, namesrv, &topic, &group);
                let head = format!(
                    "[{n}/{total}, {:.0} s] round {}/{} {:<18}",
                    start.elapsed().as_secs_f64(),
                    round + 1,
                    opts.rounds,
                    case.label,
                );
                match result {
                    Ok((sample, warning)) => {
                        if let Some(w) = warning {
                            say(&format!("{head} exited non-zero (summary kept): {w}"));
                            failures.push(format!(
                                "round {} {} (summary kept): {w}",
                                round + 1,
                                case.label
                            ));
                        }
                        let latency = if section == Section::Latency {
                            format!(
                                "  p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  {} of {} arrived",
                                sample.lat_p50_ms,
                                sample.lat_p99_ms,
                                sample.lat_max_ms,
                                sample.received,
                                sample.sent
                            )
                        } else {
                            String::new()
                        };
                        say(&format!(
                            "{head} {:>9.0} msgs/s  {:>6.2} CPU s/100k  {:>6.1} MiB  {} errors{latency}",
                            sample.msgs_per_sec,
                            sample.cpu_per_100k(),
                            sample.max_rss_kib / 1024.0,
                            sample.errors
                        ));
                        samples[i].push(sample);
                    }
                    Err(e) => {
                        say(&format!("{head} FAILED: {e}"));
                        failures.push(format!("round {} {}: {e}", round + 1, case.label));
                    }
                }
            }
        }
    }
    let results = Results {
        summaries: cases
            .iter()
            .zip(samples.iter())
            .map(|(c, s)| (*c, summarize(s)))
            .collect(),
        failures,
        prefill: prefill_sample,
    };
    Ok(render(opts, &results))
}
