//! The blocking `std::net` host of rmq-core (`core/examples/blocking.rs`,
//! no async runtime) against real 5.x and 4.9.x brokers: run as a child
//! process, it sends the seed's three tagged messages and consumes exactly
//! those, then shuts down cleanly.
//!
//! The example binary is the one `cargo test --workspace` builds (examples
//! of workspace members are built with the tests); running this test alone
//! needs `cargo build -p rmq-core --example blocking --features std` first.

mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use producer_support::{create_topic, unique};
use rmq::Admin;
use rmq_tests::{env_cluster, BrokerVersion};

/// The whole run (sends, consume, shutdown) must end within this.
const LIMIT: Duration = Duration::from_secs(90);

/// `…/debug/deps/blocking_host-<hash>` → `…/debug/examples/blocking`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("blocking{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the blocking example is not built at {}: run `cargo build -p rmq-core --example \
         blocking --features std` (or the whole `cargo test --workspace`, which builds it)",
        bin.display()
    );
    bin
}

/// Runs the example to completion (killed past [`LIMIT`]): exit success and stdout.
fn run_example(bin: PathBuf, namesrv: &str, topic: &str, group: &str) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["--namesrv", namesrv, "--topic", topic, "--group", group])
        .env_remove("NAMESRV_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the blocking example");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let out = reader.join().unwrap_or_default();
            panic!("the blocking example ran past {LIMIT:?}; its output:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().expect("read the example's stdout");
    (status.success(), out, started.elapsed())
}

/// The value of `key=` in a line of `key=value` words.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

async fn the_blocking_std_host_sends_and_consumes_the_seeds_three_messages(version: BrokerVersion) {
    let bin = example_binary();
    let namesrv = env_cluster(version).unwrap();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("blocking_host");
    create_topic(&admin, &topic, 4).await;
    let group = unique("cg_blocking_host");
    let (ns, t, g) = (namesrv, topic.clone(), group);
    let (ok, out, took) = tokio::task::spawn_blocking(move || run_example(bin, &ns, &t, &g))
        .await
        .unwrap();
    let context = format!("{version}, took {took:?}, output:\n{out}");

    let sent: BTreeSet<&str> = out
        .lines()
        .filter(|l| l.starts_with("send message ") && l.contains(" success: "))
        .filter_map(|l| field(l, "msgId"))
        .collect();
    assert_eq!(sent.len(), 3, "three sends succeeded ({context})");

    let consumed: Vec<(&str, &str)> = out
        .lines()
        .filter(|l| l.starts_with("consumed: "))
        .map(|l| {
            assert_eq!(field(l, "topic"), Some(topic.as_str()), "{context}");
            (field(l, "msgId").unwrap(), field(l, "tags").unwrap())
        })
        .collect();
    let by_id: BTreeMap<&str, &str> = consumed.iter().copied().collect();
    assert_eq!(consumed.len(), 3, "each consumed exactly once ({context})");
    assert_eq!(
        by_id.keys().copied().collect::<BTreeSet<_>>(),
        sent,
        "the sent messages came back ({context})"
    );
    assert_eq!(
        by_id.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(["TagA", "TagB", "TagC"]),
        "with their tags ({context})"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("done: ") && l.ends_with("shutdown clean")),
        "the client shut down cleanly ({context})"
    );
    assert!(ok, "exit code 0 ({context})");
}

#[tokio::test]
async fn the_blocking_std_host_sends_and_consumes_the_seeds_three_messages_on_5x() {
    the_blocking_std_host_sends_and_consumes_the_seeds_three_messages(BrokerVersion::V5).await;
}

#[tokio::test]
async fn the_blocking_std_host_sends_and_consumes_the_seeds_three_messages_on_4x() {
    the_blocking_std_host_sends_and_consumes_the_seeds_three_messages(BrokerVersion::V4).await;
}
