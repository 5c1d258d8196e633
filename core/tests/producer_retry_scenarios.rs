//! Retries of pipelined sends: many sends in flight at once from one
//! caller retry exactly like one synchronous send (Java's
//! `retryTimesWhenSendFailed`, another broker on each retry). The seed's Go
//! client never retries its async sends; rmq's sends are all the same
//! state machine, whatever the host awaits them with. Scripted brokers on
//! the rmq-sim network refuse the first attempt of every message.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rmq_core::engine::ClientConfig;
use rmq_core::message::Message;
use rmq_core::producer::{ProducerConfig, SendError, SendId, SendReceipt, SendRequest, WallClock};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_sim::Network;

const NAMESRV: &str = "ns:9876";
const BROKER_A: &str = "10.0.0.1:10911";
const BROKER_B: &str = "10.0.0.2:10911";
/// Sends in flight at once.
const PIPELINED: usize = 32;

fn route_body() -> Vec<u8> {
    let mut datas = Vec::new();
    let mut queues = Vec::new();
    for (name, addr) in [("broker-a", BROKER_A), ("broker-b", BROKER_B)] {
        datas.push(format!(
            r#"{{"brokerAddrs":{{0:"{addr}"}},"brokerName":"{name}","cluster":"DefaultCluster"}}"#
        ));
        queues.push(format!(
            r#"{{"brokerName":"{name}","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2}}"#
        ));
    }
    format!(
        r#"{{"brokerDatas":[{}],"queueDatas":[{}]}}"#,
        datas.join(","),
        queues.join(",")
    )
    .into_bytes()
}

/// The UNIQ_KEY of a SEND_MESSAGE_V2's properties (`i`).
fn uniq_key(cmd: &RemotingCommand) -> String {
    let props = cmd.ext_fields.get("i").unwrap_or("");
    props
        .split('\u{2}')
        .find_map(|kv| kv.strip_prefix("UNIQ_KEY\u{1}"))
        .unwrap_or("")
        .to_string()
}

/// Attempts per message, in order: the broker address of each.
type Attempts = Rc<RefCell<BTreeMap<String, Vec<String>>>>;

/// Brokers that answer `refusal` to the first attempt of every message and
/// store every later one.
fn refuse_first_attempt(refusal: i32, attempts: Attempts) -> rmq_sim::Script {
    Box::new(move |addr, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
            r.body = route_body().into();
            Some(r)
        }
        request_code::SEND_MESSAGE_V2 => {
            let mut seen = attempts.borrow_mut();
            let tries = seen.entry(uniq_key(cmd)).or_default();
            tries.push(addr.to_string());
            if tries.len() == 1 {
                let mut r = RemotingCommand::response(refusal, cmd.opaque);
                r.remark = Some("refused once".into());
                return Some(r);
            }
            let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
            r.ext_fields
                .insert("msgId", "0A00000100002A9F0000000000000001");
            r.ext_fields
                .insert("queueId", cmd.ext_fields.get("e").unwrap_or("0"));
            r.ext_fields.insert("queueOffset", "1");
            Some(r)
        }
        _ => Some(RemotingCommand::response(
            response_code::SUCCESS,
            cmd.opaque,
        )),
    })
}

/// Starts [`PIPELINED`] sends before the network moves, then lets it
/// settle: every send is in flight at once. Returns each send's outcome.
fn pipelined_sends(
    refusal: i32,
    retries: u32,
    attempts: &Attempts,
) -> Vec<Result<SendReceipt, SendError>> {
    let mut net = Network::new(refuse_first_attempt(refusal, Rc::clone(attempts)));
    let node = net.add_client(ClientConfig {
        name_servers: vec![NAMESRV.into()],
        client_id: "127.0.0.1@retry".into(),
        ..Default::default()
    });
    let producer = net.add_producer(
        node,
        ProducerConfig {
            group: "pg_retry".into(),
            retries,
            ..Default::default()
        },
    );
    let mut ids: Vec<SendId> = Vec::new();
    for i in 0..PIPELINED {
        let request = SendRequest::new(
            Message::new("orders", format!("m{i}")),
            WallClock::from_unix_ms(1_700_000_000_000),
        );
        let caller = net.recorder(node);
        ids.push(
            net.client(node)
                .send(producer, request, rmq_sim_now(), caller),
        );
    }
    net.settle();
    ids.iter()
        .map(|id| net.send_outcome(node, *id).expect("every send settled"))
        .collect()
}

/// The sim's clock starts at zero and these scenarios never advance it.
fn rmq_sim_now() -> rmq_core::time::Instant {
    rmq_core::time::Instant::ZERO
}

#[test]
fn pipelined_sends_refused_once_are_each_retried_on_the_other_broker() {
    let attempts = Attempts::default();
    let outcomes = pipelined_sends(response_code::SYSTEM_BUSY, 2, &attempts);
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Ok(SendReceipt::Acknowledged(_))),
            "{outcome:?}"
        );
    }
    let attempts = attempts.borrow();
    assert_eq!(attempts.len(), PIPELINED, "one unique key per message");
    for (key, tries) in attempts.iter() {
        assert_eq!(tries.len(), 2, "{key}: refused once, stored by the retry");
        assert_ne!(
            tries[0], tries[1],
            "{key}: the retry goes to the other broker"
        );
    }
}

#[test]
fn pipelined_sends_are_all_written_before_any_answer() {
    // Every first attempt goes out before the first refusal comes back: the
    // sends really are in flight together, and still each one retries.
    let attempts = Attempts::default();
    let mut net = Network::new(refuse_first_attempt(
        response_code::SYSTEM_BUSY,
        Rc::clone(&attempts),
    ));
    let node = net.add_client(ClientConfig {
        name_servers: vec![NAMESRV.into()],
        client_id: "127.0.0.1@retry".into(),
        ..Default::default()
    });
    let producer = net.add_producer(node, ProducerConfig::default());
    for i in 0..PIPELINED {
        let request = SendRequest::new(
            Message::new("orders", format!("m{i}")),
            WallClock::from_unix_ms(1_700_000_000_000),
        );
        let caller = net.recorder(node);
        net.client(node)
            .send(producer, request, rmq_sim_now(), caller);
    }
    net.settle();
    let sends: Vec<String> = net
        .seen
        .iter()
        .filter(|(_, c)| c.code == request_code::SEND_MESSAGE_V2)
        .map(|(_, c)| uniq_key(c))
        .collect();
    assert_eq!(sends.len(), 2 * PIPELINED);
    let first_wave: std::collections::BTreeSet<&String> = sends[..PIPELINED].iter().collect();
    assert_eq!(
        first_wave.len(),
        PIPELINED,
        "the first {PIPELINED} writes are the {PIPELINED} first attempts"
    );
}

#[test]
fn pipelined_sends_without_retries_fail_with_the_refusal() {
    let attempts = Attempts::default();
    let outcomes = pipelined_sends(response_code::SYSTEM_BUSY, 0, &attempts);
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Err(SendError::Broker { code, .. }) if *code == response_code::SYSTEM_BUSY),
            "{outcome:?}"
        );
    }
    assert!(attempts.borrow().values().all(|t| t.len() == 1));
}

#[test]
fn pipelined_sends_refused_with_no_permission_are_retried() {
    // A broker whose topic lost its write permission answers NO_PERMISSION:
    // Java retries it on another broker, and so does every pipelined send.
    let attempts = Attempts::default();
    let outcomes = pipelined_sends(response_code::NO_PERMISSION, 2, &attempts);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(SendReceipt::Acknowledged(_)))));
    assert!(attempts.borrow().values().all(|t| t.len() == 2));
}
