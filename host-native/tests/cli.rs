//! The `rmq` command line against the real 5.x broker started by
//! `cargo xtask test` (RMQ_TEST_NAMESRV_V5). Never skipped: without the
//! variable the tests fail and say how to run them.

use std::process::{Command, Output};

fn namesrv() -> String {
    std::env::var("RMQ_TEST_NAMESRV_V5").unwrap_or_else(|_| {
        panic!("RMQ_TEST_NAMESRV_V5 is not set: run `cargo xtask test`, or start a broker with `cargo xtask broker start --version 5` and export it")
    })
}

fn rmq(args: &[&str], namesrv: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(["--namesrv", namesrv])
        .args(args)
        .output()
        .expect("the rmq binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn unique_topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("cli_{name}_{nanos}")
}

#[test]
fn send_prints_the_acknowledgement_and_route_shows_the_broker() {
    let ns = namesrv();
    let topic = unique_topic("send");
    let out = rmq(
        &[
            "send",
            "--topic",
            &topic,
            "--tag",
            "TagA",
            "--key",
            "k1",
            "--prop",
            "color=red",
            "hello",
        ],
        &ns,
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("status=Ok"), "{printed}");
    assert!(printed.contains("msgId="), "{printed}");

    let out = rmq(&["route", &topic], &ns);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("broker broker-a id=0"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_invalid_topic_is_a_clear_error_and_exit_code_1() {
    let out = rmq(&["send", "--topic", "bad topic!", "x"], &namesrv());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("invalid message"), "{}", text(&out));
}

#[test]
fn an_unknown_topic_route_is_a_clear_error() {
    let out = rmq(&["route", &unique_topic("missing")], &namesrv());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no route for topic"), "{}", text(&out));
}

#[test]
fn an_unreachable_name_server_is_a_clear_error() {
    let out = rmq(&["send", "--topic", "t", "x"], "127.0.0.1:1");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("127.0.0.1:1"), "{}", text(&out));
}

#[test]
fn a_bad_property_is_rejected_before_sending() {
    let out = rmq(
        &["send", "--topic", "t", "--prop", "novalue", "x"],
        "127.0.0.1:1",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("expected name=value"), "{}", text(&out));
}
