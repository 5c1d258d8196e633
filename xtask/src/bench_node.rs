//! The `node` section of `cargo xtask bench`: rmq in Node (the npm package,
//! rmq-core in WebAssembly) against rmq native, against itself through
//! `rmq-bridge`, and against Apache's TypeScript client
//! (`rocketmq-client-nodejs`, gRPC) through `rocketmq-proxy` in cluster mode
//! in front of the same broker — same run, same broker, interleaved rounds.
//!
//! What it starts, beside the cluster `cargo xtask bench` gives it:
//! - `rocketmq-proxy` 5.5.0 (Maven Central, `benches/proxy/pom.xml`) on free
//!   gRPC and remoting ports, cluster mode, pointed at the name server;
//! - `rmq-bridge` (release build) on a free port, allowing the name server;
//! - the TypeScript client, installed once with npm into
//!   `$CARGO_TARGET_DIR/tools/ts-client-<version>`.
//!
//! Every JavaScript run is `benches/node/send_bench.mjs`; rmq native runs
//! are `rmq_send_bench`. All print the same JSON summary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bench::{median, parse_summary, run_program, Finished, Sample};
use crate::say;

/// The pinned TypeScript client (npm).
pub const TS_CLIENT_VERSION: &str = "1.0.8";

/// Processes started in the background (proxy, bridge), killed on Ctrl-C.
static BACKGROUND: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every background process of this section (the signal handler).
pub fn kill_background() {
    if let Ok(pids) = BACKGROUND.lock() {
        for pid in pids.iter() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A child killed when dropped.
struct Background {
    name: &'static str,
    child: Child,
}

impl Background {
    fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Self, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        if let Ok(mut pids) = BACKGROUND.lock() {
            pids.push(child.id());
        }
        Ok(Background { name, child })
    }

    /// Waits until `port` accepts connections (or the process exits).
    fn wait_for_port(&mut self, port: u16, limit: Duration, log: &Path) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening on {port}; log: {}",
                    self.name,
                    log.display()
                ));
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{} did not listen on {port} within {} s; log: {}",
                    self.name,
                    limit.as_secs(),
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut pids) = BACKGROUND.lock() {
            pids.retain(|&p| p != self.child.id());
        }
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Who runs a case, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    /// `rmq_send_bench` (tokio host).
    Native,
    /// The npm package over TCP.
    Node,
    /// The npm package through rmq-bridge.
    NodeBridge,
    /// rocketmq-client-nodejs through rocketmq-proxy.
    Ts,
}

struct Case {
    label: &'static str,
    runner: Runner,
    /// Sends in flight (a "sender" loop each, in JS; pipelined in native).
    in_flight: usize,
    batch: usize,
}

const CASES: &[Case] = &[
    case("native-1", Runner::Native, 1, 1),
    case("node-1", Runner::Node, 1, 1),
    case("bridge-1", Runner::NodeBridge, 1, 1),
    case("ts-proxy-1", Runner::Ts, 1, 1),
    case("native-16", Runner::Native, 16, 1),
    case("node-16", Runner::Node, 16, 1),
    case("bridge-16", Runner::NodeBridge, 16, 1),
    case("ts-proxy-16", Runner::Ts, 16, 1),
    case("native-batch32", Runner::Native, 1, 32),
    case("node-batch32", Runner::Node, 1, 32),
];

const fn case(label: &'static str, runner: Runner, in_flight: usize, batch: usize) -> Case {
    Case {
        label,
        runner,
        in_flight,
        batch,
    }
}

/// What the section needs from the rest of the bench.
pub struct Setup<'a> {
    pub namesrv: &'a str,
    pub cluster_name: &'a str,
    pub rmq_bench_dir: &'a Path,
    pub rounds: usize,
    pub duration_sec: u64,
    pub run_id: u32,
    /// Creates `topic` with the bench's queue count.
    pub create_topic: &'a dyn Fn(&str) -> Result<(), String>,
}

/// Runs the section; returns its markdown.
pub fn run(setup: &Setup) -> Result<String, String> {
    let root = crate::workspace_root();
    let target = crate::bench::target_dir();
    let work = target.join("bench-node");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    crate::wasm::build_wasm(&mut |l| say(l), false)?;
    let bridge_bin = build_bridge(&target)?;
    let ts_dir = install_ts_client(&target)?;

    let topic = format!("RmqBenchNode_{}", setup.run_id);
    (setup.create_topic)(&topic)?;

    let proxy_port = free_port()?;
    let proxy = start_proxy(&root, &work, setup, proxy_port)?;
    let bridge_port = free_port()?;
    let bridge = start_bridge(&bridge_bin, &work, setup.namesrv, bridge_port)?;
    wait_for_proxy_route(&root, &ts_dir, proxy_port, &topic)?;

    let script = root.join("benches/node/send_bench.mjs");
    let mut samples: Vec<Vec<Sample>> = CASES.iter().map(|_| Vec::new()).collect();
    let mut cold: Vec<Vec<f64>> = CASES.iter().map(|_| Vec::new()).collect();
    let mut failures = Vec::new();
    for round in 0..setup.rounds {
        for (i, c) in CASES.iter().enumerate() {
            let group = format!("rmq_bench_node_{}_{}_{round}", setup.run_id, i);
            let cmd = match c.runner {
                Runner::Native => {
                    let mut cmd = Command::new(setup.rmq_bench_dir.join("rmq_send_bench"));
                    let mode = if c.batch > 1 { "batch" } else { "pipelined" };
                    cmd.args([
                        "--namesrv",
                        setup.namesrv,
                        "--topic",
                        &topic,
                        "--group",
                        &group,
                    ])
                    .args(["--mode", mode, "--worker-threads", "0"])
                    .args(["--concurrency", &c.in_flight.to_string()])
                    .args(["--batch-size", &c.batch.to_string()]);
                    cmd
                }
                Runner::Node | Runner::NodeBridge | Runner::Ts => {
                    let mut cmd = Command::new("node");
                    if c.runner == Runner::NodeBridge {
                        // Node 20 has WebSocket only behind this flag (22: default).
                        cmd.arg("--experimental-websocket");
                    }
                    cmd.arg(&script)
                        .args(["--topic", &topic, "--group", &group])
                        .args(["--concurrency", &c.in_flight.to_string()])
                        .args(["--batch-size", &c.batch.to_string()])
                        .env("RMQ_TS_CLIENT_DIR", &ts_dir)
                        // The TS client logs under $HOME/logs.
                        .env("HOME", &work);
                    match c.runner {
                        Runner::Ts => {
                            let endpoint = format!("127.0.0.1:{proxy_port}");
                            cmd.args(["--client", "ts", "--endpoint", &endpoint]);
                        }
                        Runner::NodeBridge => {
                            let url = format!("ws://127.0.0.1:{bridge_port}");
                            cmd.args(["--client", "rmq", "--endpoint", setup.namesrv])
                                .args(["--bridge", &url]);
                        }
                        _ => {
                            cmd.args(["--client", "rmq", "--endpoint", setup.namesrv]);
                        }
                    }
                    cmd
                }
            };
            let mut cmd = cmd;
            cmd.args(["--body-size", "1024", "--warmup", "100"])
                .args(["--duration-sec", &setup.duration_sec.to_string()]);
            let head = format!("node round {}/{} {:<15}", round + 1, setup.rounds, c.label);
            match run_program(cmd, Duration::from_secs(setup.duration_sec + 120)) {
                Ok(Finished {
                    stdout,
                    failure: None,
                }) => match parse_summary(&stdout) {
                    Ok(sample) => {
                        say(&format!(
                            "{head} {:>9.0} msgs/s  {:>6.2} CPU s/100k  {:>6.1} MiB  {} errors",
                            sample.msgs_per_sec,
                            sample.cpu_per_100k(),
                            sample.max_rss_kib / 1024.0,
                            sample.errors
                        ));
                        if let Some(ms) = json_field(&stdout, "cold_start_ms") {
                            cold[i].push(ms);
                        }
                        samples[i].push(sample);
                    }
                    Err(e) => failures.push(format!("{head}: {e}")),
                },
                Ok(Finished {
                    failure: Some(e), ..
                })
                | Err(e) => {
                    say(&format!("{head} FAILED: {e}"));
                    failures.push(format!("{head}: {e}"));
                }
            }
        }
    }
    drop(bridge);
    drop(proxy);

    let sizes = PackageSizes::measure(&root.join("js"), &ts_dir);
    Ok(render(setup, &samples, &cold, &failures, &sizes))
}

fn json_field(stdout: &str, key: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"type\":\"summary\""))?;
    let needle = format!("\"{key}\":");
    let at = line.find(&needle)? + needle.len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn build_bridge(target: &Path) -> Result<PathBuf, String> {
    say("cargo build --release -p rmq --bin rmq-bridge");
    let mut build = crate::cargo();
    build.args(["build", "--release", "-p", "rmq", "--bin", "rmq-bridge"]);
    if !crate::run_child(build)?.success() {
        return Err("rmq-bridge does not build".into());
    }
    Ok(target.join("release").join("rmq-bridge"))
}

/// Installs rocketmq-client-nodejs (pinned) once; returns its directory.
fn install_ts_client(target: &Path) -> Result<PathBuf, String> {
    let dir = target
        .join("tools")
        .join(format!("ts-client-{TS_CLIENT_VERSION}"));
    let marker = dir
        .join("node_modules")
        .join("rocketmq-client-nodejs")
        .join("package.json");
    if marker.is_file() {
        return Ok(dir);
    }
    say(&format!(
        "installing rocketmq-client-nodejs@{TS_CLIENT_VERSION} (npm) into {}",
        dir.display()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"rmq-bench-ts-client\",\"private\":true}\n",
    )
    .map_err(|e| e.to_string())?;
    let mut npm = Command::new("npm");
    npm.current_dir(&dir)
        .args(["install", "--no-audit", "--no-fund", "--ignore-scripts"])
        .arg(format!("rocketmq-client-nodejs@{TS_CLIENT_VERSION}"));
    if !crate::run_child(npm)?.success() {
        return Err("npm install rocketmq-client-nodejs failed".into());
    }
    Ok(dir)
}

/// Starts rocketmq-proxy (cluster mode) on `grpc_port`.
fn start_proxy(
    root: &Path,
    work: &Path,
    setup: &Setup,
    grpc_port: u16,
) -> Result<Background, String> {
    let pom = root.join("benches/proxy/pom.xml");
    let cp = rmq_tests::maven::classpath_of_pom(&pom, "rocketmq-proxy-5.5.0", &mut |l| say(l))
        .map_err(|e| e.to_string())?;
    let home = work.join("proxy-home");
    std::fs::create_dir_all(home.join("conf")).map_err(|e| e.to_string())?;
    let remoting_port = free_port()?;
    let config = home.join("conf").join("rmq-proxy.json");
    std::fs::write(
        &config,
        format!(
            "{{\"rocketMQClusterName\":\"{}\",\"namesrvAddr\":\"{}\",\
             \"grpcServerPort\":{grpc_port},\"remotingListenPort\":{remoting_port}}}\n",
            setup.cluster_name, setup.namesrv
        ),
    )
    .map_err(|e| e.to_string())?;
    say(&format!(
        "starting rocketmq-proxy 5.5.0 (cluster mode) on gRPC port {grpc_port}"
    ));
    let mut cmd = Command::new("java");
    cmd.env("ROCKETMQ_HOME", &home)
        .args(["-Xms512m", "-Xmx512m", "-XX:+UseG1GC"])
        .arg(format!("-Duser.home={}", home.display()))
        .arg("-cp")
        .arg(cp)
        .arg("org.apache.rocketmq.proxy.ProxyStartup")
        .args(["-pm", "cluster", "-pc"])
        .arg(&config);
    let log = work.join("proxy.out");
    let mut proxy = Background::spawn("rocketmq-proxy", cmd, &log)?;
    proxy.wait_for_port(grpc_port, Duration::from_secs(90), &log)?;
    Ok(proxy)
}

fn start_bridge(bin: &Path, work: &Path, namesrv: &str, port: u16) -> Result<Background, String> {
    say(&format!("starting rmq-bridge on port {port}"));
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--namesrv", namesrv]);
    let log = work.join("bridge.out");
    let mut bridge = Background::spawn("rmq-bridge", cmd, &log)?;
    bridge.wait_for_port(port, Duration::from_secs(30), &log)?;
    Ok(bridge)
}

/// The proxy learns routes lazily; one short TS run (retried) proves the
/// topic is reachable before anything is timed.
fn wait_for_proxy_route(root: &Path, ts_dir: &Path, port: u16, topic: &str) -> Result<(), String> {
    let script = root.join("benches/node/send_bench.mjs");
    let start = Instant::now();
    loop {
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .args(["--client", "ts", "--endpoint", &format!("127.0.0.1:{port}")])
            .args(["--topic", topic, "--group", "rmq_bench_node_probe"])
            .args(["--duration-sec", "1", "--warmup", "1"])
            .env("RMQ_TS_CLIENT_DIR", ts_dir)
            .env("HOME", ts_dir);
        let outcome = run_program(cmd, Duration::from_secs(60));
        match outcome {
            Ok(Finished { failure: None, .. }) => return Ok(()),
            Ok(Finished {
                failure: Some(e), ..
            })
            | Err(e) => {
                if start.elapsed() > Duration::from_secs(90) {
                    return Err(format!("the TS client cannot send through the proxy: {e}"));
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Installed sizes: rmq's npm package (no dependencies) and the TS client
/// with its dependency tree.
struct PackageSizes {
    rmq_kib: Option<u64>,
    ts_kib: Option<u64>,
}

impl PackageSizes {
    fn measure(js: &Path, ts_dir: &Path) -> Self {
        PackageSizes {
            rmq_kib: npm_pack_unpacked_kib(js),
            ts_kib: du_kib(&ts_dir.join("node_modules")),
        }
    }
}

/// `npm pack --dry-run --json`'s unpackedSize, in KiB.
fn npm_pack_unpacked_kib(js: &Path) -> Option<u64> {
    let out = Command::new("npm")
        .current_dir(js)
        .args(["pack", "--dry-run", "--json"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("\"unpackedSize\":")? + "\"unpackedSize\":".len();
    let rest = text[at..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse::<u64>().ok().map(|b| b / 1024)
}

fn du_kib(dir: &Path) -> Option<u64> {
    let out = Command::new("du").arg("-sk").arg(dir).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn med(samples: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    median(&mut samples.iter().map(f).collect::<Vec<f64>>())
}

fn render(
    setup: &Setup,
    samples: &[Vec<Sample>],
    cold: &[Vec<f64>],
    failures: &[String],
    sizes: &PackageSizes,
) -> String {
    let idx = |label: &str| CASES.iter().position(|c| c.label == label);
    let rate = |label: &str| idx(label).map_or(f64::NAN, |i| med(&samples[i], |s| s.msgs_per_sec));
    let cpu = |label: &str| idx(label).map_or(f64::NAN, |i| med(&samples[i], Sample::cpu_per_100k));
    let ratio = |a: f64, b: f64| {
        if a.is_finite() && b.is_finite() && b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "-".into()
        }
    };
    let mut md = String::new();
    md.push_str(
        "## Node: rmq in Node vs rmq native, the bridge, and Apache's TypeScript client\n\n",
    );
    md.push_str(&format!(
        "{} rounds of {} s per case, 1 KiB bodies, one topic (8 queues) on the same broker. \
         `node-*`: the npm package (rmq-core in WebAssembly) over TCP; `bridge-*`: the same \
         through rmq-bridge (WebSocket); `ts-proxy-*`: rocketmq-client-nodejs@{TS_CLIENT_VERSION} \
         (gRPC) through rocketmq-proxy 5.5.0 in cluster mode; `native-*`: rmq's tokio host \
         (pipelined). `-16` = 16 sends in flight from one event loop / task. CPU and RSS are the \
         client process's own (the proxy's CPU is not counted for the TS client).\n\n",
        setup.rounds, setup.duration_sec
    ));
    md.push_str("| case | msgs/s (median) | CPU s / 100k msgs | peak RSS MiB | cold start to first ack, ms | rounds |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|\n");
    for (i, c) in CASES.iter().enumerate() {
        let s = &samples[i];
        let rss = s.iter().map(|x| x.max_rss_kib).fold(0.0, f64::max) / 1024.0;
        let cold_ms = if cold[i].is_empty() {
            "-".to_string()
        } else {
            format!("{:.0}", median(&mut cold[i].clone()))
        };
        md.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.1} | {} | {} |\n",
            c.label,
            med(s, |x| x.msgs_per_sec),
            med(s, Sample::cpu_per_100k),
            rss,
            cold_ms,
            s.len()
        ));
    }
    md.push_str("\nRatios (targets from issue 8):\n\n");
    md.push_str("| comparison | throughput | CPU per message |\n|---|---:|---:|\n");
    for (what, a, b) in [
        ("node-1 vs native-1 (target ≥ 0.5x)", "node-1", "native-1"),
        (
            "node-16 vs native-16 (target ≥ 0.5x)",
            "node-16",
            "native-16",
        ),
        (
            "node-batch32 vs native-batch32 (target ≥ 0.5x)",
            "node-batch32",
            "native-batch32",
        ),
        (
            "node-1 vs ts-proxy-1 (target ≥ 1.5x, CPU ≤ 0.5x)",
            "node-1",
            "ts-proxy-1",
        ),
        (
            "node-16 vs ts-proxy-16 (target ≥ 1.5x, CPU ≤ 0.5x)",
            "node-16",
            "ts-proxy-16",
        ),
        ("bridge-1 vs node-1 (bridge overhead)", "bridge-1", "node-1"),
        (
            "bridge-16 vs node-16 (bridge overhead)",
            "bridge-16",
            "node-16",
        ),
    ] {
        md.push_str(&format!(
            "| {what} | {} | {} |\n",
            ratio(rate(a), rate(b)),
            ratio(cpu(a), cpu(b))
        ));
    }
    let kib =
        |v: Option<u64>| v.map_or("-".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    md.push_str(&format!(
        "\nInstalled size: rmq (npm pack, unpacked, no dependencies) {}; \
         rocketmq-client-nodejs@{TS_CLIENT_VERSION} with its dependencies (node_modules) {}.\n",
        kib(sizes.rmq_kib),
        kib(sizes.ts_kib)
    ));
    if !failures.is_empty() {
        md.push_str("\nFailed runs:\n\n");
        for f in failures {
            md.push_str(&format!("- {f}\n"));
        }
    }
    md
}
