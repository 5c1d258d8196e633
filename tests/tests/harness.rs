//! The harness itself, against real brokers: the shared clusters that
//! `cargo xtask test` exports, and a private cluster whose broker crashes and
//! restarts on the same store.

use std::time::Duration;

use rmq_tests::{env_cluster, probe, BrokerVersion, Cluster, ClusterSpec};

fn shared_cluster_lists_a_registered_broker(version: BrokerVersion) {
    let addr = env_cluster(version).unwrap();
    let body = probe::cluster_info(&addr, Duration::from_secs(5)).unwrap();
    assert!(body.contains("\"brokerName\":\"broker-a\""), "{body}");
    assert!(
        body.contains("\"127.0.0.1:"),
        "brokerIP1 is loopback: {body}"
    );
}

#[test]
fn shared_5x_cluster_lists_a_registered_broker() {
    shared_cluster_lists_a_registered_broker(BrokerVersion::V5);
}

#[test]
fn shared_4x_cluster_lists_a_registered_broker() {
    shared_cluster_lists_a_registered_broker(BrokerVersion::V4);
}

fn broker_restarts_on_the_same_store_after_a_crash(version: BrokerVersion) {
    let mut cluster = Cluster::start(ClusterSpec::with_free_ports(version).unwrap()).unwrap();
    let (ns, name, broker) = (
        cluster.namesrv_addr(),
        cluster.broker_name().to_string(),
        cluster.broker_addr(),
    );
    let registered = || probe::broker_registered(&ns, &name, &broker, Duration::from_secs(10));
    assert!(registered());

    cluster.kill_broker().unwrap();
    assert!(!cluster.broker_running());
    assert!(
        !registered(),
        "the namesrv drops a broker whose channel closed"
    );
    assert!(
        cluster.run_dir().join("store").join("abort").exists(),
        "a crash leaves the abort file"
    );

    cluster.start_broker().unwrap();
    assert!(registered());
    assert!(probe::broker_answers(&broker, Duration::from_secs(10)));
    let log = cluster.log_tail(rmq_tests::Role::Broker, 2000);
    assert!(log.contains("abnormally"), "the restart recovered: {log}");
    // Drop kills both JVMs and removes the run directory.
    let run_dir = cluster.run_dir().to_path_buf();
    drop(cluster);
    assert!(!run_dir.exists());
}

#[test]
fn a_5x_broker_restarts_on_the_same_store_after_a_crash() {
    broker_restarts_on_the_same_store_after_a_crash(BrokerVersion::V5);
}

#[test]
fn a_4x_broker_restarts_on_the_same_store_after_a_crash() {
    broker_restarts_on_the_same_store_after_a_crash(BrokerVersion::V4);
}
