//! `rmq topic|cluster|group|query|trace` against the real brokers (5.x and
//! 4.9.x): output for people and `--json` for scripts, exit codes.

use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmq::{Message, Producer, TraceConfig};
use rmq_tests::{env_cluster, BrokerVersion};

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{name}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn rmq(args: &[&str], namesrv: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .arg("-n")
        .arg(namesrv)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// Runs `args` until `done` accepts the output (up to 20 s).
fn eventually(args: &[&str], namesrv: &str, done: impl Fn(&Output) -> bool) -> Output {
    let start = Instant::now();
    loop {
        let out = rmq(args, namesrv);
        if done(&out) || start.elapsed() > Duration::from_secs(20) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let out = ok(Command::new(env!("CARGO_BIN_EXE_rmq"))
        .arg("--help")
        .output()
        .unwrap());
    assert!(out.contains("Exit codes:"), "{out}");
    assert!(out.contains("3    not found"), "{out}");
}

fn topic_create_list_and_delete(namesrv: &str) {
    let topic = unique("cli_topic");
    let created = ok(rmq(
        &["topic", "create", &topic, "--queues", "2", "--json"],
        namesrv,
    ));
    assert!(
        created.starts_with(&format!("{{\"topic\":\"{topic}\",\"queues\":2,")),
        "{created}"
    );
    assert!(created.contains("\"brokers\":[\""), "{created}");
    let listed = eventually(&["topic", "list", "--json"], namesrv, |o| {
        stdout(o).contains(&format!("\"{topic}\""))
    });
    let names = stdout(&listed);
    assert!(
        names.starts_with('[') && names.contains(&format!("\"{topic}\"")),
        "{names}"
    );
    let route = ok(rmq(&["route", &topic], namesrv));
    assert!(route.contains("read=2 write=2"), "{route}");

    assert_eq!(
        ok(rmq(&["topic", "delete", &topic], namesrv)).trim(),
        format!("deleted {topic}")
    );
    let gone = eventually(&["topic", "list"], namesrv, |o| {
        !stdout(o).lines().any(|l| l == topic)
    });
    assert!(!stdout(&gone).lines().any(|l| l == topic));
}

#[test]
fn v5_topic_create_list_and_delete() {
    topic_create_list_and_delete(&env_cluster(BrokerVersion::V5).unwrap());
}

#[test]
fn v4_topic_create_list_and_delete() {
    topic_create_list_and_delete(&env_cluster(BrokerVersion::V4).unwrap());
}

fn cluster_prints_an_aligned_table_and_json(namesrv: &str, version: &str) {
    let table = ok(rmq(&["cluster"], namesrv));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("CLUSTER"), "{table}");
    assert!(
        lines[1].contains("broker-a") && lines[1].contains(version),
        "{table}"
    );
    // Aligned: every column starts where its header does.
    let at = lines[0].find("VERSION").unwrap();
    assert_eq!(lines[1].find(version), Some(at), "{table}");
    let json = ok(rmq(&["cluster", "--json"], namesrv));
    assert!(
        json.contains(&format!("\"version\":\"{version}\"")),
        "{json}"
    );
}

#[test]
fn v5_cluster_prints_an_aligned_table_and_json() {
    cluster_prints_an_aligned_table_and_json(&env_cluster(BrokerVersion::V5).unwrap(), "V5_5_0");
}

#[test]
fn v4_cluster_prints_an_aligned_table_and_json() {
    cluster_prints_an_aligned_table_and_json(&env_cluster(BrokerVersion::V4).unwrap(), "V4_9_7");
}

fn query_finds_by_key_and_id_and_exits_3_when_nothing_is_found(namesrv: &str) {
    let topic = unique("cli_query");
    ok(rmq(&["topic", "create", &topic, "--queues", "2"], namesrv));
    let key = unique("ck");
    let sent = ok(rmq(
        &["send", "-t", &topic, "--key", &key, "--tag", "CT", "body-q"],
        namesrv,
    ));
    let field = |name: &str| {
        sent.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let (msg_id, offset_id) = (field("msgId="), field("offsetMsgId="));
    let by_key = eventually(
        &["query", "--key", &key, "-t", &topic, "--json"],
        namesrv,
        |o| o.status.success(),
    );
    let v = ok(by_key);
    for part in [
        format!("\"msgId\":\"{msg_id}\""),
        format!("\"offsetMsgId\":\"{offset_id}\""),
        "\"body\":\"body-q\"".to_string(),
        "\"tags\":\"CT\"".to_string(),
    ] {
        assert!(v.contains(&part), "{part} in {v}");
    }
    let by_id = ok(rmq(&["query", "--id", &msg_id, "-t", &topic], namesrv));
    assert!(
        by_id.contains(&format!("Offset Msg ID    {offset_id}")),
        "{by_id}"
    );
    let by_offset = ok(rmq(&["query", "--id", &offset_id], namesrv));
    assert!(
        by_offset.contains(&format!("Msg ID           {msg_id}")),
        "{by_offset}"
    );

    let missing = rmq(&["query", "--key", "no-such-key", "-t", &topic], namesrv);
    assert_eq!(missing.status.code(), Some(3), "{missing:?}");
    let no_group = rmq(&["group", "lag", &unique("cg_none")], namesrv);
    assert_eq!(no_group.status.code(), Some(3), "{no_group:?}");
}

#[test]
fn v5_query_finds_by_key_and_id_and_exits_3_when_nothing_is_found() {
    query_finds_by_key_and_id_and_exits_3_when_nothing_is_found(
        &env_cluster(BrokerVersion::V5).unwrap(),
    );
}

#[test]
fn v4_query_finds_by_key_and_id_and_exits_3_when_nothing_is_found() {
    query_finds_by_key_and_id_and_exits_3_when_nothing_is_found(
        &env_cluster(BrokerVersion::V4).unwrap(),
    );
}

fn group_lag_and_reset(namesrv: &str) {
    let topic = unique("cli_lag");
    let group = unique("cg_cli_lag");
    ok(rmq(&["topic", "create", &topic, "--queues", "1"], namesrv));
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    for i in 0..3 {
        ok(rmq(&["send", "-t", &topic, &format!("m{i}")], namesrv));
    }
    ok(rmq(
        &[
            "consume", "-g", &group, "-t", &topic, "--from", "first", "--count", "3",
        ],
        namesrv,
    ));
    let lag = eventually(&["group", "lag", &group, "-t", &topic], namesrv, |o| {
        o.status.success()
    });
    let lag = ok(lag);
    let total = lag.lines().last().unwrap().to_string();
    assert!(total.starts_with("TOTAL"), "{lag}");
    assert!(
        total
            .split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["3", "3", "0"]),
        "{lag}"
    );

    let reset = ok(rmq(
        &[
            "group", "reset", &group, "-t", &topic, "--to", &before, "--json",
        ],
        namesrv,
    ));
    assert!(reset.contains("\"offset\":0}"), "{reset}");
    let lag = ok(rmq(
        &["group", "lag", &group, "-t", &topic, "--json"],
        namesrv,
    ));
    assert!(lag.starts_with("{\"totalLag\":3,"), "{lag}");
}

#[test]
fn v5_group_lag_and_reset() {
    group_lag_and_reset(&env_cluster(BrokerVersion::V5).unwrap());
}

#[test]
fn v4_group_lag_and_reset() {
    group_lag_and_reset(&env_cluster(BrokerVersion::V4).unwrap());
}

fn trace_prints_the_records_of_a_traced_send(namesrv: &str) {
    let topic = unique("cli_trace");
    let trace_topic = unique("cli_trace_topic");
    ok(rmq(&["topic", "create", &topic, "--queues", "1"], namesrv));
    ok(rmq(
        &["topic", "create", &trace_topic, "--queues", "1"],
        namesrv,
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let msg_id = runtime.block_on(async {
        let p = Producer::builder()
            .name_server(namesrv)
            .group(unique("pg_cli_trace"))
            .trace(TraceConfig::with_topic(trace_topic.as_str()))
            .build()
            .unwrap();
        p.start().await.unwrap();
        let r = p.send(Message::new(topic.as_str(), "t")).await.unwrap();
        p.shutdown().await.unwrap();
        r.msg_id
    });
    let args = [
        "trace",
        msg_id.as_str(),
        "--trace-topic",
        trace_topic.as_str(),
    ];
    let table = ok(eventually(&args, namesrv, |o| o.status.success()));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TYPE"), "{table}");
    assert!(
        lines[1].starts_with("Pub") && lines[1].contains("success"),
        "{table}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = ok(rmq(&json_args, namesrv));
    assert!(v.starts_with("{\"type\":\"Pub\""), "{v}");
    assert!(v.contains(&format!("\"topic\":\"{topic}\"")), "{v}");
    let none = rmq(
        &["trace", "no-such-id", "--trace-topic", &trace_topic],
        namesrv,
    );
    assert_eq!(none.status.code(), Some(3), "{none:?}");
}

#[test]
fn v5_trace_prints_the_records_of_a_traced_send() {
    trace_prints_the_records_of_a_traced_send(&env_cluster(BrokerVersion::V5).unwrap());
}

#[test]
fn v4_trace_prints_the_records_of_a_traced_send() {
    trace_prints_the_records_of_a_traced_send(&env_cluster(BrokerVersion::V4).unwrap());
}
