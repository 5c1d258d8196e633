//! The seed's pair, as the README and `cargo xtask demo` run it: the
//! producer example sends three tagged messages, the consumer example
//! (group "test") receives those three and exits — against real 5.x and
//! 4.9.x brokers, each example a child process.
//!
//! The example binaries are the ones `cargo test --workspace` builds;
//! running this test alone needs `cargo build -p rmq --examples` first.

mod producer_support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use producer_support::{create_topic, unique};
use rmq::Admin;
use rmq_tests::{env_cluster, BrokerVersion};

/// `…/debug/deps/seed_examples-<hash>` → `…/debug/examples/<name>`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the {name} example is not built at {}: run `cargo build -p rmq --examples` \
         (or the whole `cargo test --workspace`, which builds it)",
        bin.display()
    );
    bin
}

/// Runs an example with the demo's environment: (exited successfully,
/// stdout, stderr, how long it took). Killed past `limit`.
fn run(
    name: &str,
    namesrv: &str,
    topic: &str,
    limit: Duration,
) -> (bool, String, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(example(name))
        .env("NAMESRV_ADDR", namesrv)
        .env("RMQ_DEMO_TOPIC", topic)
        .env("RMQ_DEMO_EXPECT", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {name} example: {e}"));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            out
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    (ok, stdout, stderr, started.elapsed())
}

async fn the_seeds_producer_and_consumer_examples_exchange_three_tagged_messages(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("seed_pair");
    create_topic(&admin, &topic, 4).await;

    let (ok, stdout, stderr, took) = run("producer", namesrv, &topic, Duration::from_secs(60));
    assert!(ok, "producer example failed: {stdout}\n{stderr}");
    println!("producer example: {:.1} s\n{stdout}", took.as_secs_f64());

    let (ok, stdout, stderr, took) = run("consumer", namesrv, &topic, Duration::from_secs(75));
    assert!(ok, "consumer example failed: {stdout}\n{stderr}");
    println!("consumer example: {:.1} s\n{stdout}", took.as_secs_f64());
    let tags: BTreeSet<&str> = stdout
        .lines()
        .filter(|l| l.contains(&format!("topic={topic} ")))
        .filter_map(|l| l.split("tags=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(tags, BTreeSet::from(["TagA", "TagB", "TagC"]), "{stdout}");
}

#[tokio::test]
async fn the_seeds_producer_and_consumer_examples_exchange_three_tagged_messages_on_5x() {
    the_seeds_producer_and_consumer_examples_exchange_three_tagged_messages(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn the_seeds_producer_and_consumer_examples_exchange_three_tagged_messages_on_4x() {
    the_seeds_producer_and_consumer_examples_exchange_three_tagged_messages(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}
