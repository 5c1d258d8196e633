//! The `rmq` command line against the real 5.x broker started by
//! `cargo xtask test` (RMQ_TEST_NAMESRV_V5; the later tests also against
//! 4.9.x, RMQ_TEST_NAMESRV_V4, or a private cluster). Never skipped:
//! without the variables the tests fail and say how to run them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rmq_tests::{env_cluster, BrokerVersion, Cluster, ClusterSpec};

/// How long a `consume` may take before its test fails.
const CONSUME_LIMIT: Duration = Duration::from_secs(15);

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

    // The broker registers the topic the send created a moment later.
    wait_for_route(&ns, &topic);
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

/// Runs `rmq` and fails the test if it has not exited within `limit`.
fn rmq_bounded(args: &[&str], namesrv: &str, limit: Duration) -> Output {
    let mut child = spawn(args, namesrv);
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, limit);
    let out = Output {
        status: status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("the killed rmq is reaped")
        }),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    assert!(
        status.is_some(),
        "rmq {args:?} still running after {limit:?}: {}",
        text(&out)
    );
    out
}

fn spawn(args: &[&str], namesrv: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(["--namesrv", namesrv])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rmq binary runs")
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("rmq can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `rmq send`s `body` and returns the msgId it printed.
fn send(ns: &str, topic: &str, tag: &str, key: &str, body: &str) -> String {
    let out = rmq(
        &[
            "send",
            "--topic",
            topic,
            "--tag",
            tag,
            "--key",
            key,
            "--prop",
            "color=red",
            body,
        ],
        ns,
    );
    msg_id(&out)
}

/// `rmq send -` with `body` on standard input.
fn send_stdin(ns: &str, topic: &str, tag: &str, body: &[u8]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(["--namesrv", ns, "send", "--topic", topic, "--tag", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rmq binary runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("rmq reads standard input");
    msg_id(&child.wait_with_output().expect("rmq send finishes"))
}

fn msg_id(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    printed
        .split_whitespace()
        .find_map(|f| f.strip_prefix("msgId="))
        .unwrap_or_else(|| panic!("no msgId in {printed}"))
        .to_string()
}

/// The value of `name=` in a plain `consume` line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    line.split(' ')
        .find_map(|f| f.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

/// The body of a plain `consume` line (the rest of the line after `body=`).
fn body(line: &str) -> &str {
    let at = line
        .find(" body=")
        .unwrap_or_else(|| panic!("no body in {line}"));
    &line[at + " body=".len()..]
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `rmq offsets`: every queue row as (queue, committed, max, lag), and the
/// total row as (committed, max, lag).
#[allow(clippy::type_complexity)]
fn offsets(
    ns: &str,
    group: &str,
    topic: &str,
) -> (Vec<(String, String, i64, String)>, (i64, i64, i64)) {
    let out = rmq(&["offsets", "--group", group, "--topic", topic], ns);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let mut rows = printed.lines();
    let header: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["BROKER", "QUEUE", "COMMITTED", "MAX", "LAG"],
        "{printed}"
    );
    let (mut queues, mut total) = (Vec::new(), None);
    for row in rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|_| panic!("{s}: {printed}")) };
        match cells.as_slice() {
            ["TOTAL", c, m, l] => total = Some((num(c), num(m), num(l))),
            [broker, q, c, m, l] => {
                assert_eq!(*broker, "broker-a", "{printed}");
                queues.push((q.to_string(), c.to_string(), num(m), l.to_string()));
            }
            _ => panic!("unexpected line {row:?} in {printed}"),
        }
    }
    let total = total.unwrap_or_else(|| panic!("no TOTAL line in {printed}"));
    assert!(!queues.is_empty(), "{printed}");
    (queues, total)
}

/// Every queue that holds messages has them all committed.
fn assert_fully_committed(ns: &str, group: &str, topic: &str, messages: i64) {
    let (queues, total) = offsets(ns, group, topic);
    for (queue, committed, max, lag) in &queues {
        if *max > 0 {
            assert_eq!(committed, &max.to_string(), "queue {queue}: {queues:?}");
            assert_eq!(lag, "0", "queue {queue}: {queues:?}");
        }
    }
    assert_eq!(total, (messages, messages, 0), "{queues:?}");
}

#[test]
fn consume_count_prints_what_send_put_there_and_offsets_then_shows_no_lag() {
    let ns = namesrv();
    let topic = unique_topic("consume");
    let group = format!("{topic}_g");
    let mut sent = Vec::new();
    for i in 0..3 {
        let id = send(&ns, &topic, "TagA", &format!("k{i}"), &format!("hello {i}"));
        sent.push((id, format!("k{i}"), format!("hello {i}")));
    }
    // `offsets` needs the route of the topic the first send created.
    wait_for_route(&ns, &topic);

    // Nothing committed yet: every queue shows `-`.
    let (queues, total) = offsets(&ns, &group, &topic);
    for (queue, committed, _, lag) in &queues {
        assert_eq!((committed.as_str(), lag.as_str()), ("-", "-"), "{queue}");
    }
    assert_eq!(total, (0, 3, 0), "{queues:?}");

    let out = rmq_bounded(
        &[
            "consume", "--group", &group, "--topic", &topic, "--from", "first", "--count", "3",
        ],
        &ns,
        CONSUME_LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = lines(&out);
    assert_eq!(printed.len(), 3, "{}", text(&out));
    let mut got: Vec<(String, String, String)> = printed
        .iter()
        .map(|line| {
            assert_eq!(field(line, "topic"), topic, "{line}");
            let queue = field(line, "queue");
            assert!(queue.starts_with("broker-a:"), "{line}");
            field(line, "offset")
                .parse::<i64>()
                .expect("a numeric offset");
            assert_eq!(field(line, "tags"), "TagA", "{line}");
            (
                field(line, "msgId").to_string(),
                field(line, "keys").to_string(),
                body(line).to_string(),
            )
        })
        .collect();
    got.sort();
    sent.sort();
    assert_eq!(got, sent);

    assert_fully_committed(&ns, &group, &topic, 3);
}

#[test]
fn consume_json_keeps_non_ascii_bodies_and_base64s_binary_ones() {
    let ns = namesrv();
    let topic = unique_topic("json");
    let group = format!("{topic}_g");
    let text_body = "h\u{e9}llo \"w\u{f6}rld\" \u{2713}\\\n\tend";
    let text_id = send(&ns, &topic, "TagJ", "kj", text_body);
    let binary_id = send_stdin(&ns, &topic, "TagB", &[0xff, 0xfe, 0x00, 0x41]);

    let out = rmq_bounded(
        &[
            "consume", "--group", &group, "--topic", &topic, "--from", "first", "--count", "2",
            "--json",
        ],
        &ns,
        CONSUME_LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = lines(&out);
    assert_eq!(printed.len(), 2, "{}", text(&out));
    let text_line = printed
        .iter()
        .find(|l| l.contains(&format!("\"msgId\":\"{text_id}\"")))
        .unwrap_or_else(|| panic!("no line for {text_id}: {printed:?}"));
    let binary_line = printed
        .iter()
        .find(|l| l.contains(&format!("\"msgId\":\"{binary_id}\"")))
        .unwrap_or_else(|| panic!("no line for {binary_id}: {printed:?}"));

    let prefix =
        format!("{{\"topic\":\"{topic}\",\"queue\":{{\"broker\":\"broker-a\",\"queueId\":");
    assert!(text_line.starts_with(&prefix), "{text_line}");
    for part in [
        "\"tags\":\"TagJ\"",
        "\"keys\":[\"kj\"]",
        "\"color\":\"red\"",
        "\"offset\":",
    ] {
        assert!(text_line.contains(part), "{part} in {text_line}");
    }
    assert!(
        text_line.ends_with("\"body\":\"h\u{e9}llo \\\"w\u{f6}rld\\\" \u{2713}\\\\\\n\\tend\"}"),
        "{text_line}"
    );
    assert!(!text_line.contains("bodyBase64"), "{text_line}");

    assert!(binary_line.starts_with(&prefix), "{binary_line}");
    assert!(
        binary_line.contains("\"tags\":\"TagB\",\"keys\":[]"),
        "{binary_line}"
    );
    assert!(
        binary_line.ends_with("\"body\":\"//4AQQ==\",\"bodyBase64\":true}"),
        "{binary_line}"
    );
}

#[test]
fn consume_filter_takes_only_the_matching_tag() {
    let ns = namesrv();
    let topic = unique_topic("filter");
    let group = format!("{topic}_g");
    // More messages to skip than to take: a filter that let everything
    // through would rarely print exactly the two TagA bodies.
    for (tag, body) in [
        ("TagA", "a1"),
        ("TagB", "b1"),
        ("TagB", "b2"),
        ("TagB", "b3"),
        ("TagA", "a2"),
    ] {
        send(&ns, &topic, tag, "k", body);
    }
    let out = rmq_bounded(
        &[
            "consume", "--group", &group, "--topic", &topic, "--from", "first", "--filter", "TagA",
            "--count", "2",
        ],
        &ns,
        CONSUME_LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = lines(&out);
    let mut bodies: Vec<&str> = printed.iter().map(|l| body(l)).collect();
    bodies.sort();
    assert_eq!(bodies, ["a1", "a2"], "{}", text(&out));
    assert!(
        printed.iter().all(|l| field(l, "tags") == "TagA"),
        "{printed:?}"
    );
}

#[test]
fn a_signal_stops_the_consumer_cleanly_and_commits_what_it_printed() {
    let ns = namesrv();
    let topic = unique_topic("signal");
    let group = format!("{topic}_g");
    send(&ns, &topic, "TagA", "k", "first");
    send(&ns, &topic, "TagA", "k", "second");

    // No --count: it runs until the signal. A time before the messages
    // starts the new group at the queues' beginning. Each line reaches the
    // pipe as it is consumed, long before the exit.
    let mut c = Consuming::start(
        &ns,
        &[
            "--group",
            &group,
            "--topic",
            &topic,
            "--from",
            "2020-01-01T00:00:00Z",
        ],
        None,
    );
    let printed = c.lines(2, Duration::ZERO);
    c.stop_with("INT");
    assert_eq!(sorted_bodies(&printed), ["first", "second"]);

    assert_fully_committed(&ns, &group, &topic, 2);
}

#[test]
fn consume_and_offsets_reject_bad_arguments_clearly() {
    // Usage errors: exit code 2, before any connection.
    for (args, says) in [
        (vec!["consume", "--topic", "t"], "--group"),
        (vec!["consume", "--group", "g"], "--topic"),
        (
            vec![
                "consume", "-g", "g", "-t", "t", "--filter", "A", "--sql", "a > 1",
            ],
            "cannot be used with",
        ),
        (
            vec!["consume", "-g", "g", "-t", "t", "--from", "yesterday"],
            "expected first, last, a Unix time in ms, or YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            vec![
                "consume",
                "-g",
                "g",
                "-t",
                "t",
                "--from",
                "2024-02-30T00:00:00Z",
            ],
            "no such date",
        ),
        (
            vec![
                "consume",
                "-g",
                "g",
                "-t",
                "t",
                "--from",
                "2024-01-01T00:00:00+02:00",
            ],
            "only UTC",
        ),
        (
            vec!["consume", "-g", "g", "-t", "t", "--count", "0"],
            "must be at least 1",
        ),
        (vec!["offsets", "--group", "g"], "--topic"),
    ] {
        let out = rmq(&args, "127.0.0.1:1");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }

    // Bad names: exit code 1, still before any connection.
    for (args, says) in [
        (
            vec!["consume", "-g", "bad group", "-t", "t"],
            "group `bad group`",
        ),
        (
            vec!["consume", "-g", "g", "-t", "bad topic!"],
            "topic `bad topic!`",
        ),
        (
            vec!["offsets", "-g", "bad group", "-t", "t"],
            "group `bad group`",
        ),
    ] {
        let out = rmq_bounded(&args, "127.0.0.1:1", Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }

    // An unreachable name server, and a topic it does not know.
    for args in [
        vec!["consume", "-g", "g", "-t", "t"],
        vec!["offsets", "-g", "g", "-t", "t"],
    ] {
        let out = rmq_bounded(&args, "127.0.0.1:1", Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("127.0.0.1:1"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let ns = namesrv();
    let missing = unique_topic("missing");
    for args in [
        vec!["consume", "-g", "g", "-t", missing.as_str()],
        vec!["offsets", "-g", "g", "-t", missing.as_str()],
    ] {
        let out = rmq_bounded(&args, &ns, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("no route for topic"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

// ----- SQL filters, broadcasting, SIGTERM, --from last: 5.x and 4.9.x --------------

fn namesrv_of(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

/// Waits until the name server routes `topic`: a broker registers a topic
/// that a send created with the name server a moment later.
fn wait_for_route(ns: &str, topic: &str) {
    let deadline = Instant::now() + CONSUME_LIMIT;
    loop {
        let out = rmq(&["route", topic], ns);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no route for {topic} within {CONSUME_LIMIT:?}: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `rmq send --prop name=value... body` and the msgId it printed.
fn send_with_props(ns: &str, topic: &str, props: &[String], body: &str) -> String {
    let mut args = vec!["send", "--topic", topic];
    for p in props {
        args.extend(["--prop", p.as_str()]);
    }
    args.push(body);
    msg_id(&rmq(&args, ns))
}

/// A running `rmq consume`: its standard output line by line as it comes.
struct Consuming {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Consuming {
    /// Starts `rmq consume` with `args`, `HOME` set to `home` when given
    /// (where broadcasting keeps its offsets).
    fn start(ns: &str, args: &[&str], home: Option<&Path>) -> Consuming {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmq"));
        cmd.args(["--namesrv", ns, "consume"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(home) = home {
            cmd.env("HOME", home);
        }
        let mut child = cmd.spawn().expect("the rmq binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Some(drain(child.stderr.take().expect("piped stderr")));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Consuming {
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&mut self) -> String {
        let bytes = self
            .stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Kills it and fails the test with `why` and its standard error.
    fn fail(&mut self, why: String) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("{why}; stderr: {}", self.stderr());
    }

    /// Waits for `n` lines (at most `CONSUME_LIMIT`), then `quiet` more for
    /// any line that should not come; returns them all.
    fn lines(&mut self, n: usize, quiet: Duration) -> Vec<String> {
        let deadline = Instant::now() + CONSUME_LIMIT;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(_) => self.fail(format!(
                    "{} of {n} lines within {CONSUME_LIMIT:?}: {got:?}",
                    got.len()
                )),
            }
        }
        let until = Instant::now() + quiet;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        got
    }

    /// Sends `signal` (`INT`, `TERM`) and asserts a clean exit (code 0)
    /// with nothing more printed.
    fn stop_with(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args([format!("-{signal}").as_str(), &pid])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let Some(status) = wait_bounded(&mut self.child, CONSUME_LIMIT) else {
            self.fail(format!("still running {CONSUME_LIMIT:?} after SIG{signal}"));
        };
        let err = self.stderr();
        assert_eq!(status.code(), Some(0), "SIG{signal}; stderr: {err}");
        let late: Vec<String> = self.lines.try_iter().collect();
        assert!(late.is_empty(), "printed while stopping: {late:?}");
    }

    /// Waits for the exit `--count` causes; asserts it is clean.
    fn finish(&mut self) {
        let Some(status) = wait_bounded(&mut self.child, CONSUME_LIMIT) else {
            self.fail(format!("still running after {CONSUME_LIMIT:?}"));
        };
        let err = self.stderr();
        assert_eq!(status.code(), Some(0), "stderr: {err}");
    }
}

/// A consumer still running when its test fails (a panic anywhere, or a
/// second consumer after the first one's failure) is killed, not left
/// behind.
impl Drop for Consuming {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn sorted_bodies(lines: &[String]) -> Vec<String> {
    let mut bodies: Vec<String> = lines.iter().map(|l| body(l).to_string()).collect();
    bodies.sort();
    bodies
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempHome(std::path::PathBuf);

impl TempHome {
    fn new(name: &str) -> TempHome {
        let dir = std::env::temp_dir().join(unique_topic(name));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempHome(dir)
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn consume_sql_prints_only_the_messages_whose_properties_match(version: BrokerVersion) {
    let ns = namesrv_of(version);
    let topic = unique_topic("sql");
    let group = format!("{topic}_g");
    // Six to skip, two to take: a filter that let more through would
    // print more within the quiet second.
    for n in 0..8 {
        send_with_props(
            &ns,
            &topic,
            &[format!("n={n}"), "kind=sql".to_string()],
            &format!("m{n}"),
        );
    }
    wait_for_route(&ns, &topic);
    let mut c = Consuming::start(
        &ns,
        &[
            "--group", &group, "--topic", &topic, "--from", "first", "--sql", "n >= 6", "--json",
        ],
        None,
    );
    let printed = c.lines(2, Duration::from_secs(2));
    c.stop_with("TERM");
    let mut bodies: Vec<String> = printed
        .iter()
        .map(|l| {
            assert!(l.contains("\"kind\":\"sql\""), "{l}");
            let n = l
                .split("\"n\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no property n in {l}"));
            assert!(n.parse::<i32>().expect("a number") >= 6, "{l}");
            l.rsplit("\"body\":\"")
                .next()
                .and_then(|b| b.strip_suffix("\"}"))
                .unwrap_or_else(|| panic!("no body in {l}"))
                .to_string()
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["m6", "m7"], "{printed:?}");
}

#[test]
fn consume_sql_prints_only_the_messages_whose_properties_match_on_5x() {
    consume_sql_prints_only_the_messages_whose_properties_match(BrokerVersion::V5);
}

#[test]
fn consume_sql_prints_only_the_messages_whose_properties_match_on_4x() {
    consume_sql_prints_only_the_messages_whose_properties_match(BrokerVersion::V4);
}

fn consume_broadcast_gives_each_of_two_consumers_of_one_group_every_message(
    version: BrokerVersion,
) {
    let ns = namesrv_of(version);
    let topic = unique_topic("bcast");
    let group = format!("{topic}_g");
    // Both keep their offsets in HOME/.rocketmq_offsets; one HOME, as two
    // consumers on one host share it.
    let home = TempHome::new("bcast_home");
    send(&ns, &topic, "TagA", "k", "m0"); // creates the topic (4 queues)
    wait_for_route(&ns, &topic);
    let args = [
        "--group",
        &group,
        "--topic",
        &topic,
        "--from",
        "first",
        "--broadcast",
        "--count",
        "8",
    ];
    let mut one = Consuming::start(&ns, &args, Some(&home.0));
    let mut two = Consuming::start(&ns, &args, Some(&home.0));
    // Both running (each read its offsets, finding none) before the rest
    // is sent; in clustering they would split the queues and neither
    // would reach 8.
    std::thread::sleep(Duration::from_secs(2));
    for i in 1..8 {
        send(&ns, &topic, "TagA", "k", &format!("m{i}"));
    }
    let expected: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for c in [&mut one, &mut two] {
        let printed = c.lines(8, Duration::ZERO);
        c.finish();
        assert_eq!(sorted_bodies(&printed), expected, "{printed:?}");
    }
    // Broadcasting commits nothing to the broker (which answers "none",
    // or 4.9, for a young queue, 0).
    let (queues, total) = offsets(&ns, &group, &topic);
    for (queue, committed, _, _) in &queues {
        assert!(
            committed == "-" || committed == "0",
            "queue {queue}: {queues:?}"
        );
    }
    assert_eq!(total.0, 0, "{queues:?}");

    // The offsets file it stored at exit: a restart takes only what is new.
    send(&ns, &topic, "TagA", "k", "late");
    let mut again = Consuming::start(&ns, &args[..7], Some(&home.0));
    let printed = again.lines(1, Duration::from_secs(2));
    again.stop_with("TERM");
    assert_eq!(sorted_bodies(&printed), ["late"], "{printed:?}");
}

#[test]
fn consume_broadcast_gives_each_of_two_consumers_of_one_group_every_message_on_5x() {
    consume_broadcast_gives_each_of_two_consumers_of_one_group_every_message(BrokerVersion::V5);
}

#[test]
fn consume_broadcast_gives_each_of_two_consumers_of_one_group_every_message_on_4x() {
    consume_broadcast_gives_each_of_two_consumers_of_one_group_every_message(BrokerVersion::V4);
}

fn sigterm_stops_the_consumer_cleanly_and_a_restart_resumes_after_what_it_printed(
    version: BrokerVersion,
) {
    let ns = namesrv_of(version);
    let topic = unique_topic("sigterm");
    let group = format!("{topic}_g");
    send(&ns, &topic, "TagA", "k", "first");
    send(&ns, &topic, "TagA", "k", "second");
    wait_for_route(&ns, &topic);
    let args = ["--group", &group, "--topic", &topic, "--from", "first"];

    let mut c = Consuming::start(&ns, &args, None);
    let printed = c.lines(2, Duration::from_secs(1));
    c.stop_with("TERM");
    assert_eq!(sorted_bodies(&printed), ["first", "second"]);
    assert_fully_committed(&ns, &group, &topic, 2);

    // Restarted, it resumes after the last printed message: only the new
    // ones, though `--from first` would read a new group from the start.
    send(&ns, &topic, "TagA", "k", "third");
    send(&ns, &topic, "TagA", "k", "fourth");
    let mut c = Consuming::start(&ns, &args, None);
    let printed = c.lines(2, Duration::from_secs(2));
    c.stop_with("TERM");
    assert_eq!(sorted_bodies(&printed), ["fourth", "third"]);
    assert_fully_committed(&ns, &group, &topic, 4);
}

#[test]
fn sigterm_stops_the_consumer_cleanly_and_a_restart_resumes_after_what_it_printed_on_5x() {
    sigterm_stops_the_consumer_cleanly_and_a_restart_resumes_after_what_it_printed(
        BrokerVersion::V5,
    );
}

#[test]
fn sigterm_stops_the_consumer_cleanly_and_a_restart_resumes_after_what_it_printed_on_4x() {
    sigterm_stops_the_consumer_cleanly_and_a_restart_resumes_after_what_it_printed(
        BrokerVersion::V4,
    );
}

/// Java `RequestCode.DELETE_EXPIRED_COMMITLOG`: the broker deletes its
/// expired commit-log files now (`mqadmin deleteExpiredCommitLog`).
const DELETE_EXPIRED_COMMITLOG: i32 = 329;

/// `--from last` starts a new group at the end of each queue only where the
/// broker says the group has no offset (QUERY_NOT_FOUND). On a young queue
/// — its first offset is 0 and that message is still in memory (4.9: within
/// `accessMessageInMemoryMaxRatio`, 40 % of RAM, of the end of the commit
/// log; 5.x: in the page cache) — both brokers answer a new group's query
/// with offset 0 instead, so every client (Java's too) reads it from the
/// start; every queue of the shared clusters is young. A queue is old once
/// its first messages expired: this test runs a private cluster that keeps
/// files for 0 hours, fills one 64 MiB commit-log file, sends the messages
/// `--from last` must skip, and has the broker delete the first file. The
/// broker cleans up from a minute after its start only, so this test takes
/// about 75 s.
fn consume_from_last_on_a_new_group_skips_what_an_old_queue_held_before(version: BrokerVersion) {
    use rmq::rmq_core::protocol::headers::{GetMinOffsetRequestHeader, GetMinOffsetResponseHeader};
    use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
    use rmq::{Admin, Message, Producer, RouteTable};

    let spec = ClusterSpec::with_free_ports(version)
        .unwrap()
        .broker_config("fileReservedTime", "0");
    let cluster = Cluster::start(spec).unwrap();
    let ns = cluster.namesrv_addr();
    let topic = unique_topic("from_last");
    let group = format!("{topic}_g");
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Every queue gets a message in the first commit-log file; a 64 MiB
    // filler rolls the log to a second file; the broker deletes the first.
    let (admin, p, table) = rt.block_on(async {
        let admin = Admin::connect(&ns).await.unwrap();
        let p = Producer::builder()
            .name_server(&ns)
            .group(format!("{group}_p"))
            .build()
            .unwrap();
        p.start().await.unwrap();
        p.send(Message::new(topic.as_str(), "gone")).await.unwrap();
        // The broker registers the topic the send created a moment later.
        let deadline = Instant::now() + CONSUME_LIMIT;
        let route = loop {
            match admin.topic_route(&topic).await {
                Ok(route) => break route,
                Err(e) => assert!(Instant::now() < deadline, "no route for {topic}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let table = RouteTable::new(&topic, &route);
        for q in table.publish_queues() {
            p.send_to_queue(Message::new(topic.as_str(), "gone"), q.clone())
                .await
                .unwrap();
        }
        let filler = format!("{topic}_filler");
        let body = bytes::Bytes::from(vec![b'f'; 1024]);
        for _ in 0..(70 * 1024 / 256) {
            let batch = (0..256)
                .map(|_| Message::new(filler.as_str(), body.clone()))
                .collect();
            p.send_batch(batch).await.unwrap();
        }
        // Messages sent before the group's first start, in the second
        // file: the broker's clean-up moves each queue's first offset to
        // the first message it still has.
        for (i, q) in table.publish_queues().iter().enumerate() {
            let msg = Message::new(topic.as_str(), format!("old{i}"));
            p.send_to_queue(msg, q.clone()).await.unwrap();
        }
        let broker = table.broker_names().next().unwrap().to_string();
        let addr = table.master_addr(&broker).unwrap().to_string();
        let cmd = RemotingCommand::request(DELETE_EXPIRED_COMMITLOG, 0);
        let resp = admin
            .request(Some(&addr), cmd, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
        // The broker's clean-up runs every 10 s from a minute after its
        // start; then the queues start above 0.
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            let mut mins = Vec::new();
            for q in table.subscribe_queues() {
                let header = GetMinOffsetRequestHeader {
                    topic: q.topic.clone(),
                    queue_id: q.queue_id,
                    ..Default::default()
                };
                let cmd =
                    RemotingCommand::request(request_code::GET_MIN_OFFSET, 0).with_header(&header);
                let resp = admin
                    .request(Some(&addr), cmd, Duration::from_secs(10))
                    .await
                    .unwrap();
                mins.push(resp.header::<GetMinOffsetResponseHeader>().unwrap().offset);
            }
            if mins.iter().all(|&m| m > 0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the first commit-log file was never deleted: min offsets {mins:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (admin, p, table)
    });

    // Old queues, holding messages sent before the group's first start.
    let queues = table.subscribe_queues().len();
    let args = ["--group", &group, "--topic", &topic, "--from", "last"];
    let mut c = Consuming::start(&ns, &args, None);
    // Where it started shows once it commits (every 5 s, every owned
    // queue): at the end of every queue.
    let deadline = Instant::now() + CONSUME_LIMIT;
    loop {
        let (rows, _) = offsets(&ns, &group, &topic);
        if rows.iter().all(|(_, committed, _, _)| committed != "-") {
            for (queue, committed, max, _) in &rows {
                assert_eq!(committed, &max.to_string(), "queue {queue}: {rows:?}");
            }
            break;
        }
        if Instant::now() >= deadline {
            c.fail(format!("no commit within {CONSUME_LIMIT:?}: {rows:?}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    send(&ns, &topic, "TagA", "k", "new1");
    send(&ns, &topic, "TagA", "k", "new2");
    let printed = c.lines(2, Duration::from_secs(2));
    c.stop_with("TERM");
    assert_eq!(sorted_bodies(&printed), ["new1", "new2"], "{printed:?}");

    // The old messages were there to read: a new group from the first.
    let all = (queues + 2).to_string();
    let first_group = format!("{group}_first");
    let out = rmq_bounded(
        &[
            "consume",
            "--group",
            &first_group,
            "--topic",
            &topic,
            "--from",
            "first",
            "--count",
            &all,
        ],
        &ns,
        CONSUME_LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut expected: Vec<String> = (0..queues).map(|i| format!("old{i}")).collect();
    expected.extend(["new1".to_string(), "new2".to_string()]);
    expected.sort();
    assert_eq!(sorted_bodies(&lines(&out)), expected);
    rt.block_on(async {
        p.shutdown().await.unwrap();
        admin.shutdown().await.unwrap();
    });
    drop(cluster);
}

#[test]
fn consume_from_last_on_a_new_group_skips_what_an_old_queue_held_before_on_5x() {
    consume_from_last_on_a_new_group_skips_what_an_old_queue_held_before(BrokerVersion::V5);
}

#[test]
fn consume_from_last_on_a_new_group_skips_what_an_old_queue_held_before_on_4x() {
    consume_from_last_on_a_new_group_skips_what_an_old_queue_held_before(BrokerVersion::V4);
}
