//! `cargo xtask`: project automation.
//!
//! ```text
//! cargo xtask test [-- <cargo test args>]   install what is missing, build the
//!                                           no_std core for thumbv7em, start both
//!                                           real clusters, run `cargo test --workspace`
//! cargo xtask demo                          start a 5.x cluster and run the examples
//! cargo xtask setup                         install what is missing, resolve the jars
//! cargo xtask broker start [--version 5|4] [--namesrv-port N] [--broker-port N]
//!                          [--set key=value]...
//! cargo xtask broker stop [--version 5|4] [--namesrv-port N] [--all]
//! cargo xtask broker status
//! cargo xtask vectors [--check]              regenerate the allocation vectors with
//!                                           the Java client (tests/java/allocation-vectors)
//! cargo xtask fuzz [--seconds N] [--target T]  run the cargo-fuzz targets of fuzz/
//!                                           (installs cargo-fuzz; stable rustc with
//!                                           RUSTC_BOOTSTRAP=1); `test` runs 15 s each
//! cargo xtask soak [--minutes N] [--seed S]  producer + consumer group on a private
//!                                           cluster under consumer restarts and a broker
//!                                           crash: nothing lost, resources flat (xtask/src/soak.rs)
//! cargo xtask sim [--seed S | --seeds N] [--from F] [--jobs J]
//!                                           deterministic cluster simulation (rmq-sim,
//!                                           release); `test` runs 2000 seeds
//! ```

mod bench;
mod bench_node;
mod fuzz;
mod go;
mod java;
mod runtimes;
mod sim;
mod soak;
mod vectors;
mod wasi;
mod wasm;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rmq_tests::{BrokerVersion, Cluster, ClusterInfo, ClusterSpec, HarnessError};

/// Targets the workspace must build for (the `no_std` core).
const RUST_TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "wasm32-unknown-unknown"];

/// One step of `cargo xtask demo`: `cargo run -p <package> --example <example>`.
struct DemoStep {
    title: &'static str,
    package: &'static str,
    package_dir: &'static str,
    example: &'static str,
}

/// The demo, in order. Add a step here to extend it.
const DEMO_STEPS: &[DemoStep] = &[
    DemoStep {
        title: "produce messages",
        package: "rmq",
        package_dir: "host-native",
        example: "producer",
    },
    DemoStep {
        title: "consume them with the seed's consumer (group test)",
        package: "rmq",
        package_dir: "host-native",
        example: "consumer",
    },
];

/// Pid of the `cargo test` / `cargo run` child, for the signal handler.
static CHILD_PID: AtomicU32 = AtomicU32::new(0);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => cmd_test(&args[1..]),
        Some("demo") => cmd_demo(),
        Some("bench") => bench::cmd_bench(&args[1..]),
        Some("setup") => setup(true).map(|()| ExitCode::SUCCESS),
        Some("broker") => cmd_broker(&args[1..]),
        Some("vectors") => vectors::cmd_vectors(&args[1..]),
        Some("sim") => sim::cmd_sim(&args[1..]),
        Some("fuzz") => fuzz::cmd_fuzz(&args[1..]),
        Some("soak") => soak::cmd_soak(&args[1..]),
        Some("wasm") => wasm::build_wasm(&mut |l| say(l), true).map(|_| ExitCode::SUCCESS),
        Some("-h" | "--help" | "help") | None => {
            print_usage();
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command `{other}`")),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("xtask: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn print_usage() {
    println!(
        "usage:
  cargo xtask test [-- <cargo test args>]
  cargo xtask demo
  cargo xtask bench [--only send,consume,latency] [--clients rmq,go,java] [--rounds 3] [--duration-sec 8] [--consume-count 200000] [--latency-rate 2000] [--namesrv ADDR] [--out FILE]
  cargo xtask setup
  cargo xtask broker start [--version 5|4] [--namesrv-port N] [--broker-port N] [--set key=value]...
  cargo xtask broker stop [--version 5|4] [--namesrv-port N] [--all]
  cargo xtask broker status
  cargo xtask vectors [--check]
  cargo xtask sim [--seed S | --seeds N] [--from F] [--jobs J]
                                            deterministic cluster simulation: replay one seed, or run N and report steps/s
  cargo xtask fuzz [--seconds N] [--target T]... [--sanitizer none|address]
                                            run the cargo-fuzz targets of fuzz/ (default 15 s each)
  cargo xtask soak [--minutes N] [--seed S] [--rate N] [--consumers N]
                                            a bounded soak on a private 5.x cluster (default 10 min)
  cargo xtask wasm                          build the WebAssembly client into js/dist/wasm (fails over the size budget)

versions: 5 = Apache RocketMQ {} (namesrv {}, broker {}), 4 = {} (namesrv {}, broker {})",
        BrokerVersion::V5.maven_version(),
        BrokerVersion::V5.default_namesrv_port(),
        BrokerVersion::V5.default_broker_port(),
        BrokerVersion::V4.maven_version(),
        BrokerVersion::V4.default_namesrv_port(),
        BrokerVersion::V4.default_broker_port(),
    );
}

fn say(line: &str) {
    eprintln!("[xtask] {line}");
}

/// The workspace this run serves, found at run time: `cargo run` exports
/// the xtask manifest dir, else the nearest ancestor of the current dir with
/// a `[workspace]` manifest. Never the compile-time path alone: one shared
/// CARGO_TARGET_DIR may hold an xtask binary built from another checkout.
fn workspace_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let manifest = PathBuf::from(dir);
        if manifest.join("Cargo.toml").is_file() {
            return manifest
                .parent()
                .map_or(manifest.clone(), Path::to_path_buf);
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let is_workspace = std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("[workspace]"));
            if is_workspace {
                return dir.to_path_buf();
            }
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Stops clusters and the cargo child on Ctrl-C / SIGTERM, then exits 130.
fn install_signal_handler() {
    let result = ctrlc::set_handler(|| {
        say("interrupted: stopping the clusters this run started");
        let child = CHILD_PID.load(Ordering::SeqCst);
        if child != 0 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.to_string())
                .status();
        }
        bench_node::kill_background();
        rmq_tests::kill_all_started();
        std::process::exit(130);
    });
    if let Err(e) = result {
        say(&format!("warning: cannot install the Ctrl-C handler: {e}"));
    }
}

fn run_child(mut cmd: Command) -> Result<std::process::ExitStatus, String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    CHILD_PID.store(child.id(), Ordering::SeqCst);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {cmd:?}: {e}"));
    CHILD_PID.store(0, Ordering::SeqCst);
    status
}

// ---------------------------------------------------------------------------
// Prerequisites.

/// Installs what is missing (rustup targets, Java, Maven) and resolves the
/// broker jars. Idempotent; says what it does.
fn setup(need_targets: bool) -> Result<(), String> {
    if need_targets {
        ensure_rust_targets()?;
    }
    ensure_tool("java", &["-version"], "openjdk-17-jre-headless")?;
    ensure_tool("mvn", &["-v"], "maven")?;
    let start = Instant::now();
    rmq_tests::maven::resolve_all(&mut |line| say(line)).map_err(|e| e.to_string())?;
    say(&format!(
        "RocketMQ {} and {} jars ready ({:.1} s; cache {})",
        BrokerVersion::V5.maven_version(),
        BrokerVersion::V4.maven_version(),
        start.elapsed().as_secs_f64(),
        rmq_tests::maven::cache_dir().display()
    ));
    Ok(())
}

fn ensure_rust_targets() -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            say("rustup not found: assuming the targets are installed");
            return Ok(());
        }
    };
    for target in RUST_TARGETS {
        if installed.lines().any(|l| l.trim() == target) {
            continue;
        }
        say(&format!(
            "installing rust target {target} (rustup target add)"
        ));
        let ok = Command::new("rustup")
            .args(["target", "add", target])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`rustup target add {target}` failed"));
        }
    }
    Ok(())
}

fn tool_works(tool: &Path, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ensure_tool(tool: &str, check_args: &[&str], apt_package: &str) -> Result<(), String> {
    let path = if tool == "java" {
        rmq_tests::java_binary()
    } else {
        PathBuf::from(tool)
    };
    if tool_works(&path, check_args) {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root || !tool_works(Path::new("apt-get"), &["--version"]) {
        return Err(format!(
            "`{tool}` is missing; install it (Debian: apt-get install {apt_package})"
        ));
    }
    say(&format!(
        "`{tool}` is missing: apt-get install -y {apt_package}"
    ));
    let ok = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", apt_package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    if ok && tool_works(&path, check_args) {
        Ok(())
    } else {
        Err(format!("could not install `{tool}` ({apt_package})"))
    }
}

// ---------------------------------------------------------------------------
// Clusters for test/demo: reuse a healthy detached one, else start our own.

enum ClusterHandle {
    Owned(Box<Cluster>),
    Reused(ClusterInfo),
}

impl ClusterHandle {
    fn namesrv_addr(&self) -> String {
        match self {
            ClusterHandle::Owned(c) => c.namesrv_addr(),
            ClusterHandle::Reused(i) => i.namesrv_addr(),
        }
    }

    fn finish(self) {
        if let ClusterHandle::Owned(cluster) = self {
            let version = cluster.version();
            let start = Instant::now();
            match cluster.stop() {
                Ok(()) => say(&format!(
                    "{version} cluster stopped ({:.1} s)",
                    start.elapsed().as_secs_f64()
                )),
                Err(e) => say(&format!("warning: stopping the {version} cluster: {e}")),
            }
        }
    }
}

/// After a failed run, before an owned cluster is stopped (its run
/// directory goes with it): its broker's warnings and errors, so what the
/// broker did is in the CI log, and its logs kept in the artifacts dir.
fn report_broker_log(cluster: &ClusterHandle) {
    let ClusterHandle::Owned(c) = cluster else {
        return;
    };
    let version = c.version();
    let logs = c.run_dir().join("logs");
    let keep = wasm::target_dir(&workspace_root())
        .join("rmq-artifacts")
        .join(format!("broker-logs-{}", version.maven_version()));
    if std::fs::create_dir_all(&keep).is_ok() {
        for name in ["broker.log", "namesrv.log"] {
            let _ = std::fs::copy(logs.join(name), keep.join(name));
        }
    }
    let text = std::fs::read_to_string(logs.join("broker.log")).unwrap_or_default();
    let notable: Vec<&str> = text
        .lines()
        .filter(|l| {
            (l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("Exception"))
                && !l.contains("WATERMARK")
        })
        .collect();
    say(&format!(
        "{version} broker: the last {} of {} warning/error lines of broker.log (all kept in {}):",
        notable.len().min(40),
        notable.len(),
        keep.display()
    ));
    for line in &notable[notable.len().saturating_sub(40)..] {
        say(&format!("  {}", line.chars().take(400).collect::<String>()));
    }
}

/// Stops the owned clusters in parallel (a 5.x broker's shutdown hooks take
/// about 17 s).
fn finish_all(clusters: Vec<ClusterHandle>) {
    std::thread::scope(|scope| {
        for c in clusters {
            scope.spawn(move || c.finish());
        }
    });
}

fn acquire_cluster(version: BrokerVersion) -> Result<ClusterHandle, HarnessError> {
    let port = version.default_namesrv_port();
    if let Some(info) = ClusterInfo::find(port) {
        let healthy = info.version == version
            && info.detached
            && info.namesrv_alive()
            && info.broker_alive()
            && rmq_tests::probe::broker_registered(
                &info.namesrv_addr(),
                &info.broker_name,
                &info.broker_addr(),
                std::time::Duration::from_secs(2),
            );
        if healthy {
            say(&format!(
                "reusing the running {version} cluster at {} (started by `cargo xtask broker start`)",
                info.namesrv_addr()
            ));
            return Ok(ClusterHandle::Reused(info));
        }
    }
    say(&format!("starting {version} (namesrv + broker)"));
    let cluster = Cluster::start_with_log(ClusterSpec::new(version), &mut |l| say(l))?;
    Ok(ClusterHandle::Owned(Box::new(cluster)))
}

// ---------------------------------------------------------------------------
// cargo xtask test

fn cmd_test(args: &[String]) -> Result<ExitCode, String> {
    let passthrough: Vec<String> = match args.first().map(String::as_str) {
        Some("--") => args[1..].to_vec(),
        Some(other) => return Err(format!("unexpected argument `{other}` (use `-- <args>`)")),
        None => Vec::new(),
    };
    install_signal_handler();
    setup(true)?;
    let go_peer = go::build_go_peer(&workspace_root().join("tests/interop/go"), &mut |l| say(l))?;
    let java_peer = java::build_java_peer(&mut |l| say(l))?;

    for target in RUST_TARGETS {
        say(&format!("cargo build -p rmq-core --target {target}"));
        let mut build = cargo();
        build.args(["build", "-p", "rmq-core", "--target", target]);
        let status = run_child(build)?;
        if !status.success() {
            return Err(format!("rmq-core does not build for {target}"));
        }
    }

    let mut clusters = Vec::new();
    for version in BrokerVersion::ALL {
        match acquire_cluster(version) {
            Ok(c) => clusters.push((version, c)),
            Err(e) => {
                finish_all(clusters.into_iter().map(|(_, c)| c).collect());
                return Err(format!("cannot start {version}: {e}"));
            }
        }
    }

    let mut test = cargo();
    test.args(["test", "--workspace", "--no-fail-fast"])
        .args(&passthrough);
    test.env("RMQ_GO_PEER", &go_peer);
    test.env("RMQ_JAVA_PEER", java_peer.launcher());
    for (version, c) in &clusters {
        say(&format!("{}={}", version.env_var(), c.namesrv_addr()));
        test.env(version.env_var(), c.namesrv_addr());
    }
    say(&format!("cargo test --workspace {}", passthrough.join(" ")));
    let run = run_timed(test);

    // The npm package: rmq-core as WebAssembly driven from Node, against
    // the same brokers (the whole suite only, not a filtered run).
    let node = passthrough.is_empty().then(|| {
        let namesrv = |version: BrokerVersion| {
            clusters
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, c)| c.namesrv_addr())
                .unwrap_or_default()
        };
        let (v5, v4) = (namesrv(BrokerVersion::V5), namesrv(BrokerVersion::V4));
        // The size budget is enforced: over it, this fails (issue 8).
        let built = wasm::build_wasm(&mut |l| say(l), true).map(|_| ());
        let node = built
            .clone()
            .and_then(|()| wasm::run_node_tests(&mut |l| say(l), &v5, &v4, &go_peer));
        // The same package under Deno and in chromium (through rmq-bridge).
        let runtimes = built.and_then(|()| runtimes::run_runtime_tests(&mut |l| say(l), &v5, &v4));
        match (node, runtimes) {
            (Ok(()), Ok(())) => Ok(()),
            (node, runtimes) => Err([node.err(), runtimes.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")),
        }
    });

    let failed =
        !matches!(&run, Ok((status, _)) if status.success()) || matches!(&node, Some(Err(_)));
    if failed {
        for (_, c) in &clusters {
            report_broker_log(c);
        }
    }
    finish_all(clusters.into_iter().map(|(_, c)| c).collect());
    // A short bounded fuzz run of every target (the whole suite only).
    let fuzzed = passthrough.is_empty().then(|| {
        let targets: Vec<String> = fuzz::TARGETS.iter().map(|t| t.to_string()).collect();
        fuzz::run(&targets, fuzz::CI_SECONDS, "none")
    });
    // A short bounded soak on its own cluster (the whole suite only).
    let soaked = passthrough
        .is_empty()
        .then(|| soak::run(soak::CI_MINUTES, &[]));
    // The deterministic cluster simulation, CI-sized (the whole suite only).
    let simulated = passthrough.is_empty().then(sim::run_ci);
    // rmq-core's codec natively and inside wasmtime as wasm32-wasip1,
    // byte for byte (the whole suite only).
    let wasi = passthrough.is_empty().then(|| wasi::run(&mut |l| say(l)));
    let (status, binaries) = run?;
    say(&format!("cargo test finished: {status}"));
    // On standard error: standard output still ends with libtest's own
    // `test result:` lines.
    for line in slowest_table(&binaries, 10) {
        say(&line);
    }
    if let Some(Err(e)) = node {
        say(&format!("the npm package's tests failed: {e}"));
        return Ok(ExitCode::FAILURE);
    }
    if let Some(Err(e)) = fuzzed {
        say(&format!("fuzzing failed: {e}"));
        return Ok(ExitCode::FAILURE);
    }
    if let Some(Err(e)) = soaked {
        say(&format!("the soak failed: {e}"));
        return Ok(ExitCode::FAILURE);
    }
    if let Some(Err(e)) = simulated {
        say(&format!("the simulation failed: {e}"));
        return Ok(ExitCode::FAILURE);
    }
    if let Some(Err(e)) = wasi {
        say(&format!("the wasm32-wasip1 golden vectors failed: {e}"));
        return Ok(ExitCode::FAILURE);
    }
    return Ok(exit_code_of(status));

    // ----- per-binary times ------------------------------------------------------
    //
    // Stable libtest has no per-test times, so `cargo xtask test` reports
    // each test binary's: cargo says on standard error which binary it runs
    // (`Running tests/cli.rs (…/deps/cli-…)`, `Doc-tests rmq`), each binary
    // says on standard output `running N tests` first and `test result: …
    // finished in Xs` last. Both streams pass through unchanged as they
    // come; the k-th `running` block belongs to the k-th `Running` line.

    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// One test binary's run.
    struct BinaryTime {
        name: String,
        tests: u64,
        /// libtest's own `finished in` time; else the time between its
        /// `running` line and the next (or the end): it did not finish.
        secs: f64,
        outcome: &'static str,
    }

    /// What one stream's lines said, in order.
    enum Seen {
        Binary(String),
        Started(u64, Instant),
        Finished(bool, f64),
    }

    fn run_timed(mut cmd: Command) -> Result<(std::process::ExitStatus, Vec<BinaryTime>), String> {
        use std::io::IsTerminal;
        use std::process::Stdio;
        if std::io::stderr().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
            cmd.env("CARGO_TERM_COLOR", "always");
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        CHILD_PID.store(child.id(), Ordering::SeqCst);
        let out = Tee::start(child.stdout.take(), std::io::stdout());
        let err = Tee::start(child.stderr.take(), std::io::stderr());
        let status = child
            .wait()
            .map_err(|e| format!("waiting for {cmd:?}: {e}"));
        CHILD_PID.store(0, Ordering::SeqCst);
        let end = Instant::now();
        // The pipes end with cargo, unless a process a test left behind
        // holds them: then what came so far.
        while !(out.ended() && err.ended()) && end.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok((status?, pair(out.seen(), err.seen(), end)))
    }

    /// A thread copying a pipe through as it comes, parsing its lines.
    struct Tee {
        seen: Arc<Mutex<Vec<Seen>>>,
        ended: Arc<AtomicBool>,
    }

    impl Tee {
        fn start(
            from: Option<impl std::io::Read + Send + 'static>,
            to: impl std::io::Write + Send + 'static,
        ) -> Tee {
            let tee = Tee {
                seen: Arc::default(),
                ended: Arc::new(AtomicBool::new(from.is_none())),
            };
            if let Some(from) = from {
                let (seen, ended) = (Arc::clone(&tee.seen), Arc::clone(&tee.ended));
                std::thread::spawn(move || {
                    copy(from, to, &seen);
                    ended.store(true, Ordering::SeqCst);
                });
            }
            tee
        }

        fn ended(&self) -> bool {
            self.ended.load(Ordering::SeqCst)
        }

        fn seen(&self) -> Vec<Seen> {
            std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }

    fn copy(mut from: impl std::io::Read, mut to: impl std::io::Write, seen: &Mutex<Vec<Seen>>) {
        let push = |line: &[u8]| {
            if let Some(s) = parse(&String::from_utf8_lossy(line)) {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        };
        let mut line = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let _ = to.write_all(&buf[..n]);
            let _ = to.flush();
            for &b in &buf[..n] {
                if b == b'\n' {
                    push(&line);
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
        push(&line);
    }

    fn parse(line: &str) -> Option<Seen> {
        // Without colour codes (CARGO_TERM_COLOR=always).
        let mut plain = String::with_capacity(line.len());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        let t = plain.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            // `tests/cli.rs (/…/deps/cli-0123abcd)`: the source, and the
            // binary's name without its hash.
            let (source, exe) = match rest.rsplit_once(" (") {
                Some((source, exe)) => (source, exe.trim_end_matches(')')),
                None => (rest, ""),
            };
            let file = exe.rsplit('/').next().unwrap_or("");
            let stem = file.rsplit_once('-').map_or(file, |(stem, _)| stem);
            return Some(Seen::Binary(if stem.is_empty() {
                source.to_string()
            } else {
                format!("{source} [{stem}]")
            }));
        }
        if let Some(krate) = t.strip_prefix("Doc-tests ") {
            return Some(Seen::Binary(format!("doc tests [{krate}]")));
        }
        if let Some(rest) = t.strip_prefix("running ") {
            let n = rest.split_whitespace().next()?.parse().ok()?;
            if rest.ends_with(" test") || rest.ends_with(" tests") {
                return Some(Seen::Started(n, Instant::now()));
            }
        }
        if let Some(rest) = t.strip_prefix("test result: ") {
            let secs = rest
                .rsplit_once("finished in ")
                .and_then(|(_, s)| s.trim_end_matches('s').parse().ok())
                .unwrap_or(0.0);
            return Some(Seen::Finished(rest.starts_with("ok"), secs));
        }
        None
    }

    /// The k-th block of standard output belongs to the k-th binary cargo
    /// named on standard error.
    fn pair(out: Vec<Seen>, err: Vec<Seen>, end: Instant) -> Vec<BinaryTime> {
        let mut names = err.into_iter().filter_map(|s| match s {
            Seen::Binary(name) => Some(name),
            _ => None,
        });
        let mut binaries: Vec<(BinaryTime, Instant)> = Vec::new();
        for s in out {
            match s {
                Seen::Started(tests, at) => {
                    let index = binaries.len() + 1;
                    let name = names
                        .next()
                        .unwrap_or_else(|| format!("test binary #{index}"));
                    let unfinished = BinaryTime {
                        name,
                        tests,
                        secs: f64::NAN,
                        outcome: "no result",
                    };
                    binaries.push((unfinished, at));
                }
                Seen::Finished(ok, secs) => {
                    if let Some((b, _)) = binaries.last_mut() {
                        b.secs = secs;
                        b.outcome = if ok { "ok" } else { "FAILED" };
                    }
                }
                Seen::Binary(_) => {}
            }
        }
        // A binary that printed no result (it crashed, or was stopped):
        // the time until the next one started, or until the end.
        let starts: Vec<Instant> = binaries.iter().map(|(_, at)| *at).collect();
        binaries
            .into_iter()
            .enumerate()
            .map(|(i, (mut b, at))| {
                if b.secs.is_nan() {
                    let next = starts.get(i + 1).copied().unwrap_or(end);
                    b.secs = next.saturating_duration_since(at).as_secs_f64();
                }
                b
            })
            .collect()
    }

    fn slowest_table(binaries: &[BinaryTime], n: usize) -> Vec<String> {
        if binaries.is_empty() {
            return vec!["no test binary ran".to_string()];
        }
        let tests: u64 = binaries.iter().map(|b| b.tests).sum();
        let total: f64 = binaries.iter().map(|b| b.secs).sum();
        let mut sorted: Vec<&BinaryTime> = binaries.iter().collect();
        sorted.sort_by(|a, b| b.secs.total_cmp(&a.secs));
        let mut lines = vec![format!(
            "slowest test binaries ({} binaries, {tests} tests, {total:.1} s in tests; \
             libtest's own times, per binary: stable Rust has none per test):",
            binaries.len()
        )];
        for b in sorted.into_iter().take(n) {
            let outcome = if b.outcome == "ok" {
                String::new()
            } else {
                format!("  {}", b.outcome)
            };
            lines.push(format!(
                "  {:>8.2} s  {:>4} tests  {}{outcome}",
                b.secs, b.tests, b.name
            ));
        }
        lines
    }
}

fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}

// ---------------------------------------------------------------------------
// cargo xtask demo

fn cmd_demo() -> Result<ExitCode, String> {
    let root = workspace_root();
    let missing: Vec<String> = DEMO_STEPS
        .iter()
        .filter(|s| {
            let dir = root.join(s.package_dir).join("examples");
            !dir.join(format!("{}.rs", s.example)).is_file()
                && !dir.join(s.example).join("main.rs").is_file()
        })
        .map(|s| {
            format!(
                "{}/examples/{}.rs (`cargo run -p {} --example {}`: {})",
                s.package_dir, s.example, s.package, s.example, s.title
            )
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask demo: these examples do not exist yet:");
        for m in &missing {
            eprintln!("  - {m}");
        }
        return Ok(ExitCode::FAILURE);
    }
    install_signal_handler();
    setup(false)?;
    let cluster = acquire_cluster(BrokerVersion::V5).map_err(|e| e.to_string())?;
    let addr = cluster.namesrv_addr();
    let mut result = Ok(ExitCode::SUCCESS);
    for (i, step) in DEMO_STEPS.iter().enumerate() {
        say(&format!(
            "step {}/{}: {} (cargo run -p {} --example {}, NAMESRV_ADDR={addr})",
            i + 1,
            DEMO_STEPS.len(),
            step.title,
            step.package,
            step.example
        ));
        let mut run = cargo();
        run.args(["run", "-q", "-p", step.package, "--example", step.example])
            .env("NAMESRV_ADDR", &addr)
            .env("RMQ_NAMESRV_ADDR", &addr)
            .env("RMQ_DEMO_EXPECT", "3");
        match run_child(run) {
            Ok(s) if s.success() => {}
            Ok(s) => {
                result = Err(format!("demo step `{}` failed: {s}", step.example));
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    cluster.finish();
    result
}

// ---------------------------------------------------------------------------
// cargo xtask broker start|stop|status

struct BrokerArgs {
    version: BrokerVersion,
    namesrv_port: Option<u16>,
    broker_port: Option<u16>,
    set: Vec<(String, String)>,
    all: bool,
}

fn parse_broker_args(args: &[String]) -> Result<BrokerArgs, String> {
    let mut out = BrokerArgs {
        version: BrokerVersion::V5,
        namesrv_port: None,
        broker_port: None,
        set: Vec::new(),
        all: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let port = |v: String, name: &str| -> Result<u16, String> {
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a port"))
        };
        match flag {
            "--version" | "-v" => {
                out.version = value(flag)?
                    .parse()
                    .map_err(|e: HarnessError| e.to_string())?
            }
            "--namesrv-port" => out.namesrv_port = Some(port(value(flag)?, flag)?),
            "--broker-port" => out.broker_port = Some(port(value(flag)?, flag)?),
            "--set" => {
                let kv = value(flag)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--set expects key=value, got `{kv}`"))?;
                out.set.push((k.to_string(), v.to_string()));
            }
            "--all" => out.all = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(out)
}

fn cmd_broker(args: &[String]) -> Result<ExitCode, String> {
    let Some(sub) = args.first() else {
        print_usage();
        return Err("`broker` needs start, stop or status".into());
    };
    let opts = parse_broker_args(&args[1..])?;
    match sub.as_str() {
        "start" => broker_start(opts),
        "stop" => broker_stop(opts),
        "status" => broker_status(),
        other => Err(format!("unknown broker command `{other}`")),
    }
}

fn broker_start(opts: BrokerArgs) -> Result<ExitCode, String> {
    install_signal_handler();
    setup(false)?;
    let version = opts.version;
    let spec = ClusterSpec {
        version,
        namesrv_port: opts.namesrv_port.unwrap_or(version.default_namesrv_port()),
        broker_port: opts.broker_port.unwrap_or(version.default_broker_port()),
        extra_broker_config: opts.set,
        home_files: Vec::new(),
        extra_namesrv_ports: Vec::new(),
        namesrv_jvm_props: Vec::new(),
    };
    let cluster = Cluster::start_with_log(spec, &mut |l| say(l)).map_err(|e| e.to_string())?;
    let times = cluster.startup_times();
    let (ns_rss, broker_rss) = rmq_tests::rss_kib(&cluster);
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{} MiB", k / 1024));
    let info = cluster.detach().map_err(|e| e.to_string())?;
    println!(
        "{version} running: namesrv {} (pid {}, ready in {:.1} s, RSS {}), broker {} {} \
         (pid {}, ready in {:.1} s, RSS {})",
        info.namesrv_addr(),
        info.namesrv_pid,
        times.namesrv.as_secs_f64(),
        mib(ns_rss),
        info.broker_name,
        info.broker_addr(),
        info.broker_pid,
        times.broker.as_secs_f64(),
        mib(broker_rss)
    );
    println!("run dir: {}", info.run_dir.display());
    println!("export {}={}", version.env_var(), info.namesrv_addr());
    println!(
        "stop with: cargo xtask broker stop --namesrv-port {}",
        info.namesrv_port
    );
    Ok(ExitCode::SUCCESS)
}

fn broker_stop(opts: BrokerArgs) -> Result<ExitCode, String> {
    let ports: Vec<u16> = if opts.all {
        // Detached clusters, and clusters whose owner process is gone; a
        // cluster a live test or soak owns is that process's to stop.
        rmq_tests::list_clusters()
            .iter()
            .filter(|c| {
                let owned = !c.detached && Path::new(&format!("/proc/{}", c.owner_pid)).exists();
                if owned {
                    say(&format!(
                        "leaving the {} cluster on namesrv port {} to its owner, live process {}",
                        c.version, c.namesrv_port, c.owner_pid
                    ));
                }
                !owned
            })
            .map(|c| c.namesrv_port)
            .collect()
    } else {
        vec![opts
            .namesrv_port
            .unwrap_or(opts.version.default_namesrv_port())]
    };
    if ports.is_empty() {
        say("no harness cluster is recorded");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for port in ports {
        let start = Instant::now();
        match rmq_tests::stop_detached(port) {
            Ok(info) => say(&format!(
                "stopped {} (namesrv {}, broker {}) in {:.1} s; removed {}",
                info.version,
                info.namesrv_addr(),
                info.broker_addr(),
                start.elapsed().as_secs_f64(),
                info.run_dir.display()
            )),
            Err(e @ HarnessError::NotRunning { .. }) if !opts.all => {
                say(&e.to_string());
            }
            Err(e) => {
                failed = true;
                say(&format!("error: {e}"));
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn broker_status() -> Result<ExitCode, String> {
    let clusters = rmq_tests::list_clusters();
    if clusters.is_empty() {
        println!(
            "no harness cluster is recorded in {}",
            rmq_tests::state_dir().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for info in clusters {
        let registered = info.namesrv_alive()
            && rmq_tests::probe::broker_registered(
                &info.namesrv_addr(),
                &info.broker_name,
                &info.broker_addr(),
                std::time::Duration::from_secs(2),
            );
        let proc_state = |alive: bool, pid: u32| {
            if alive {
                let rss =
                    rmq_tests::pid_rss_kib(pid).map_or("?".into(), |k| (k / 1024).to_string());
                format!("up, pid {pid}, RSS {rss} MiB")
            } else {
                "down".into()
            }
        };
        let owner = if info.detached {
            "detached".to_string()
        } else if info.owner_alive() {
            format!("owned by pid {}", info.owner_pid)
        } else {
            format!("owner pid {} gone: stale", info.owner_pid)
        };
        println!(
            "{}: namesrv {} [{}], broker {} {} [{}], {}, {owner}\n  run dir {}",
            info.version,
            info.namesrv_addr(),
            proc_state(info.namesrv_alive(), info.namesrv_pid),
            info.broker_name,
            info.broker_addr(),
            proc_state(info.broker_alive(), info.broker_pid),
            if registered {
                "registered"
            } else {
                "NOT registered"
            },
            info.run_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
