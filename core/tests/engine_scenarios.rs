//! Engine scenarios: a scripted name server and brokers inside the test feed
//! responses and advance virtual time. No sockets, no clocks.

use std::collections::BTreeMap;
use std::time::Duration;

use rmq_core::client::ProducerId;
use rmq_core::engine::{ClientConfig, ConnId};
use rmq_core::message::Message;
use rmq_core::producer::{
    ProducerConfig, QueueTarget, SendError, SendId, SendReceipt, SendRequest, WallClock,
};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_sim::{Network, NodeId};

const NAMESRV: &str = "ns:9876";
const BROKER_A: &str = "10.0.0.1:10911";
const BROKER_B: &str = "10.0.0.2:10911";

fn route_body(brokers: &[(&str, &str)], queues: i32) -> Vec<u8> {
    let datas: Vec<String> = brokers
        .iter()
        .map(|(name, addr)| {
            format!(r#"{{"brokerAddrs":{{0:"{addr}"}},"brokerName":"{name}","cluster":"DefaultCluster"}}"#)
        })
        .collect();
    let qs: Vec<String> = brokers
        .iter()
        .map(|(name, _)| {
            format!(r#"{{"brokerName":"{name}","perm":6,"readQueueNums":{queues},"topicSysFlag":0,"writeQueueNums":{queues}}}"#)
        })
        .collect();
    format!(
        r#"{{"brokerDatas":[{}],"queueDatas":[{}]}}"#,
        datas.join(","),
        qs.join(",")
    )
    .into_bytes()
}

/// How a scripted peer answers one request: `None` means silence.
type Script = rmq_sim::Script;

/// One client with one producer group on a simulated network.
struct Net {
    net: Network,
    node: NodeId,
    producer: ProducerId,
}

impl std::ops::Deref for Net {
    type Target = Network;
    fn deref(&self) -> &Network {
        &self.net
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut Network {
        &mut self.net
    }
}

impl Net {
    fn new(config: ClientConfig, producer: ProducerConfig, script: Script) -> Net {
        let mut net = Network::new(script);
        let node = net.add_client(config);
        let producer = net.add_producer(node, producer);
        Net {
            net,
            node,
            producer,
        }
    }

    fn standard(script: Script) -> Net {
        let config = ClientConfig {
            name_servers: vec![NAMESRV.into()],
            client_id: "127.0.0.1@test".into(),
            ..Default::default()
        };
        let producer = ProducerConfig {
            group: "pg".into(),
            ..Default::default()
        };
        Net::new(config, producer, script)
    }

    fn send(&mut self, msg: Message) -> SendId {
        self.send_req(SendRequest::new(msg, clock()))
    }

    fn send_req(&mut self, req: SendRequest) -> SendId {
        let (node, producer) = (self.node, self.producer);
        self.net.send(node, producer, req)
    }

    /// Starts a send without settling the network.
    fn start_send(&mut self, req: SendRequest) -> SendId {
        let (node, producer, now) = (self.node, self.producer, self.net.now);
        let caller = self.net.recorder(node);
        self.net.client(node).send(producer, req, now, caller)
    }

    fn outcome(&self, id: SendId) -> Option<Result<SendReceipt, SendError>> {
        self.net.send_outcome(self.node, id)
    }

    /// Open connections by id: (remote address, nothing).
    fn conns(&self) -> BTreeMap<ConnId, (String, ())> {
        let conns = self.net.connections(self.node);
        conns
            .into_iter()
            .map(|(id, addr)| (id, (addr, ())))
            .collect()
    }

    fn shutdown(&mut self) {
        let node = self.node;
        self.net.shutdown(node);
    }

    fn shut_down(&self) -> bool {
        self.net.is_shut_down(self.node)
    }

    fn client(&mut self) -> &mut rmq_core::client::Client<rmq_sim::Recorder> {
        let node = self.node;
        self.net.client(node)
    }

    fn sends_to(&self, addr: &str) -> usize {
        self.seen
            .iter()
            .filter(|(a, c)| {
                a == addr
                    && (c.code == request_code::SEND_MESSAGE_V2
                        || c.code == request_code::SEND_BATCH_MESSAGE)
            })
            .count()
    }
}

fn clock() -> WallClock {
    WallClock {
        now_ms: 1_795_752_534_000,
        month_start_ms: 1_793_491_200_000,
    }
}

fn ok_send(cmd: &RemotingCommand, offset: i64) -> RemotingCommand {
    let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
    r.ext_fields
        .insert("msgId", "0A00000100002A9F0000000000000001");
    r.ext_fields
        .insert("queueId", cmd.ext_fields.get("e").unwrap_or("0"));
    r.ext_fields.insert("queueOffset", offset.to_string());
    r
}

fn route_ok(cmd: &RemotingCommand, body: Vec<u8>) -> RemotingCommand {
    let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
    r.body = body.into();
    r
}

/// A cluster of two brokers where every send succeeds.
fn healthy() -> Script {
    Box::new(|addr, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(route_ok(
            cmd,
            route_body(&[("broker-a", BROKER_A), ("broker-b", BROKER_B)], 4),
        )),
        request_code::SEND_MESSAGE_V2 | request_code::SEND_BATCH_MESSAGE => {
            Some(ok_send(cmd, if addr == BROKER_A { 100 } else { 200 }))
        }
        _ => Some(RemotingCommand::response(
            response_code::SUCCESS,
            cmd.opaque,
        )),
    })
}

fn acknowledged(r: Result<SendReceipt, SendError>) -> rmq_core::producer::SendResult {
    match r {
        Ok(SendReceipt::Acknowledged(res)) => res,
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

#[test]
fn first_send_queries_the_route_then_is_acknowledged() {
    let mut net = Net::standard(healthy());
    let id = net.send(Message::new("orders", "hello").with_tags("TagA"));
    let res = acknowledged(net.outcome(id).expect("send finished"));
    assert_eq!(res.queue.topic, "orders");
    assert_eq!(res.msg_id.len(), 32);
    assert_eq!(res.offset_msg_id, "0A00000100002A9F0000000000000001");
    assert_eq!(net.seen[0].1.code, request_code::GET_ROUTEINFO_BY_TOPIC);
    assert_eq!(net.seen[0].1.ext_fields.get("topic"), Some("orders"));
}

#[test]
fn send_request_carries_group_topic_tags_and_unique_id_in_short_keys() {
    let mut net = Net::standard(healthy());
    net.send(
        Message::new("orders", "hello")
            .with_tags("TagA")
            .with_keys(["k1", "k2"]),
    );
    let (_, send) = net
        .seen
        .iter()
        .find(|(_, c)| c.code == request_code::SEND_MESSAGE_V2)
        .expect("a send was written");
    assert_eq!(send.ext_fields.get("a"), Some("pg"));
    assert_eq!(send.ext_fields.get("b"), Some("orders"));
    assert_eq!(send.ext_fields.get("c"), Some("TBW102"));
    let props = send.ext_fields.get("i").expect("properties");
    assert!(props.contains("TAGS\u{1}TagA\u{2}"));
    assert!(props.contains("KEYS\u{1}k1 k2\u{2}"));
    assert!(props.contains("UNIQ_KEY\u{1}"));
    assert_eq!(&send.body[..], b"hello");
}

#[test]
fn heartbeat_goes_to_each_broker_before_its_first_send() {
    let mut net = Net::standard(healthy());
    net.send(Message::new("orders", "x"));
    let first_to_a = net
        .seen
        .iter()
        .position(|(a, _)| a == BROKER_A)
        .expect("broker a used");
    assert_eq!(net.seen[first_to_a].1.code, request_code::HEART_BEAT);
    let body = String::from_utf8(net.seen[first_to_a].1.body.to_vec()).unwrap();
    assert!(body.contains(r#""groupName":"pg""#), "{body}");
}

#[test]
fn sends_round_robin_over_the_writable_queues() {
    let mut net = Net::standard(healthy());
    let ids: Vec<SendId> = (0..8)
        .map(|_| net.send(Message::new("orders", "x")))
        .collect();
    let mut queues: Vec<(String, i32)> = ids
        .iter()
        .map(|id| {
            let r = acknowledged(net.outcome(*id).unwrap());
            (r.queue.broker_name.clone(), r.queue.queue_id)
        })
        .collect();
    queues.sort();
    queues.dedup();
    assert_eq!(queues.len(), 8, "8 sends over 8 queues hit each once");
}

#[test]
fn a_busy_broker_is_retried_on_the_other_broker() {
    let mut net = Net::standard(Box::new(|addr, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(route_ok(
            cmd,
            route_body(&[("broker-a", BROKER_A), ("broker-b", BROKER_B)], 1),
        )),
        request_code::SEND_MESSAGE_V2 if addr == BROKER_A => {
            let mut r = RemotingCommand::response(response_code::SYSTEM_BUSY, cmd.opaque);
            r.remark = Some("[PCBUSY_CLEAN_QUEUE]broker busy".into());
            Some(r)
        }
        request_code::SEND_MESSAGE_V2 => Some(ok_send(cmd, 7)),
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    for _ in 0..4 {
        let id = net.send(Message::new("orders", "x"));
        let r = acknowledged(net.outcome(id).unwrap());
        assert_eq!(r.queue.broker_name, "broker-b");
    }
}

#[test]
fn a_refused_message_is_not_retried() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(route_ok(
            cmd,
            route_body(&[("broker-a", BROKER_A), ("broker-b", BROKER_B)], 1),
        )),
        request_code::SEND_MESSAGE_V2 => {
            let mut r = RemotingCommand::response(response_code::MESSAGE_ILLEGAL, cmd.opaque);
            r.remark = Some("too big".into());
            Some(r)
        }
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("orders", "x"));
    match &net.outcome(id).unwrap() {
        Err(SendError::Broker { code, remark, .. }) => {
            assert_eq!(*code, response_code::MESSAGE_ILLEGAL);
            assert_eq!(remark, "too big");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(net.sends_to(BROKER_A) + net.sends_to(BROKER_B), 1);
}

#[test]
fn retries_stop_after_the_configured_count() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(route_ok(
            cmd,
            route_body(&[("broker-a", BROKER_A), ("broker-b", BROKER_B)], 1),
        )),
        request_code::SEND_MESSAGE_V2 => Some(RemotingCommand::response(
            response_code::SYSTEM_BUSY,
            cmd.opaque,
        )),
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("orders", "x"));
    assert!(matches!(
        net.outcome(id),
        Some(Err(SendError::Broker { code: 2, .. }))
    ));
    assert_eq!(
        net.sends_to(BROKER_A) + net.sends_to(BROKER_B),
        3,
        "1 attempt + 2 retries"
    );
}

#[test]
fn a_silent_broker_times_out_at_the_send_deadline() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            Some(route_ok(cmd, route_body(&[("broker-a", BROKER_A)], 1)))
        }
        request_code::SEND_MESSAGE_V2 => None,
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("orders", "x"));
    assert!(net.outcome(id).is_none());
    net.advance(Duration::from_millis(2999));
    assert!(net.outcome(id).is_none(), "not before the deadline");
    net.advance(Duration::from_millis(1));
    assert!(
        matches!(net.outcome(id), Some(Err(SendError::Timeout { broker })) if broker == "broker-a")
    );
}

#[test]
fn an_invalid_topic_fails_before_any_io() {
    let mut net = Net::standard(healthy());
    let id = net.send(Message::new("bad topic!", "x"));
    assert!(matches!(net.outcome(id), Some(Err(SendError::Invalid(_)))));
    assert!(net.seen.is_empty());
    assert!(net.conns().is_empty());
}

#[test]
fn an_oversized_body_fails_before_any_io() {
    let mut net = Net::standard(healthy());
    let id = net.send(Message::new("orders", vec![0u8; 5 * 1024 * 1024]));
    assert!(matches!(net.outcome(id), Some(Err(SendError::Invalid(_)))));
    assert!(net.conns().is_empty());
}

#[test]
fn an_empty_batch_fails_before_any_io() {
    let mut net = Net::standard(healthy());
    let req = SendRequest {
        payload: rmq_core::producer::Payload::Batch(vec![]),
        ..SendRequest::new(Message::new("orders", "x"), clock())
    };
    let id = net.send_req(req);
    assert!(matches!(net.outcome(id), Some(Err(SendError::Invalid(_)))));
    assert!(net.conns().is_empty());
}

#[test]
fn a_mixed_topic_batch_fails_before_any_io() {
    let mut net = Net::standard(healthy());
    let req = SendRequest {
        payload: rmq_core::producer::Payload::Batch(vec![
            Message::new("a", "1"),
            Message::new("b", "2"),
        ]),
        ..SendRequest::new(Message::new("orders", "x"), clock())
    };
    let id = net.send_req(req);
    assert!(matches!(net.outcome(id), Some(Err(SendError::Invalid(_)))));
    assert!(net.conns().is_empty());
}

#[test]
fn an_unknown_topic_is_sent_through_the_default_topic_route() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC if cmd.ext_fields.get("topic") == Some("TBW102") => {
            Some(route_ok(cmd, route_body(&[("broker-a", BROKER_A)], 8)))
        }
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(RemotingCommand::response(
            response_code::TOPIC_NOT_EXIST,
            cmd.opaque,
        )),
        request_code::SEND_MESSAGE_V2 => Some(ok_send(cmd, 0)),
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("fresh", "x"));
    let r = acknowledged(net.outcome(id).unwrap());
    assert_eq!(r.queue.topic, "fresh");
    assert!(r.queue.queue_id < 4, "Java uses min(4, TBW102 queues)");
}

#[test]
fn a_dead_name_server_is_skipped() {
    let config = ClientConfig {
        name_servers: vec!["dead:9876".into(), NAMESRV.into()],
        seed: 0,
        ..Default::default()
    };
    let producer = ProducerConfig {
        group: "pg".into(),
        ..Default::default()
    };
    let mut net = Net::new(config, producer, healthy());
    net.dead.push("dead:9876".into());
    let id = net.send(Message::new("orders", "x"));
    acknowledged(net.outcome(id).unwrap());
}

#[test]
fn no_reachable_name_server_is_a_no_route_error() {
    let mut net = Net::standard(healthy());
    net.dead.push(NAMESRV.into());
    let id = net.send(Message::new("orders", "x"));
    match net.outcome(id) {
        Some(Err(SendError::NoRoute { topic, reason })) => {
            assert_eq!(topic, "orders");
            assert!(reason.contains("refused"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connection_lost_mid_send_retries_on_another_broker() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => Some(route_ok(
            cmd,
            route_body(&[("broker-a", BROKER_A), ("broker-b", BROKER_B)], 1),
        )),
        request_code::SEND_MESSAGE_V2 => None,
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("orders", "x"));
    let conns = net.conns();
    let (&conn, _) = conns
        .iter()
        .find(|(_, (a, _))| a == BROKER_A || a == BROKER_B)
        .unwrap();
    let first = net.conns()[&conn].0.clone();
    let now = net.now;
    net.client().handle_closed(conn, "reset by peer", now);
    net.settle();
    assert!(net.outcome(id).is_none(), "retrying, not failed");
    let other = if first == BROKER_A {
        BROKER_B
    } else {
        BROKER_A
    };
    assert_eq!(net.sends_to(other), 1);
}

#[test]
fn ordered_sends_of_one_key_go_to_one_queue() {
    let mut net = Net::standard(healthy());
    let mut seen = Vec::new();
    for _ in 0..5 {
        let mut req = SendRequest::new(Message::new("orders", "x"), clock());
        req.target = QueueTarget::ShardingKey("order-42".into());
        let id = net.send_req(req);
        seen.push(acknowledged(net.outcome(id).unwrap()).queue.clone());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_batch_is_one_request_with_the_batch_flag() {
    let mut net = Net::standard(healthy());
    let req = SendRequest {
        payload: rmq_core::producer::Payload::Batch(vec![
            Message::new("orders", "1"),
            Message::new("orders", "2"),
        ]),
        ..SendRequest::new(Message::new("orders", "x"), clock())
    };
    let id = net.send_req(req);
    let r = acknowledged(net.outcome(id).unwrap());
    assert_eq!(r.msg_id.split(',').count(), 2);
    let (_, cmd) = net
        .seen
        .iter()
        .find(|(_, c)| c.code == request_code::SEND_BATCH_MESSAGE)
        .unwrap();
    assert_eq!(cmd.ext_fields.get("m"), Some("true"));
}

#[test]
fn a_batch_carries_unique_ids_only_on_its_messages() {
    // 4.9.x brokers append the batch's properties to every stored message:
    // a batch-level UNIQ_KEY would overwrite each message's own id.
    let mut net = Net::standard(healthy());
    let req = SendRequest {
        payload: rmq_core::producer::Payload::Batch(vec![
            Message::new("orders", "1"),
            Message::new("orders", "2"),
        ]),
        ..SendRequest::new(Message::new("orders", "x"), clock())
    };
    let id = net.send_req(req);
    let r = acknowledged(net.outcome(id).unwrap());
    let (_, cmd) = net
        .seen
        .iter()
        .find(|(_, c)| c.code == request_code::SEND_BATCH_MESSAGE)
        .unwrap();
    let props = cmd.ext_fields.get("i").expect("batch properties");
    assert!(!props.contains("UNIQ_KEY"), "{props:?}");
    assert!(props.contains("WAIT\u{1}true"), "{props:?}");
    let inner = rmq_core::message::decode_batch(&cmd.body, "orders").unwrap();
    let ids: Vec<&str> = inner.iter().map(|m| m.unique_key().unwrap()).collect();
    assert_eq!(ids.join(","), r.msg_id);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn a_oneway_send_completes_when_written_and_is_flagged_oneway() {
    let mut net = Net::standard(healthy());
    let mut req = SendRequest::new(Message::new("orders", "x"), clock());
    req.oneway = true;
    let id = net.send_req(req);
    assert!(matches!(
        net.outcome(id),
        Some(Ok(SendReceipt::Written { .. }))
    ));
    let (_, cmd) = net
        .seen
        .iter()
        .find(|(_, c)| c.code == request_code::SEND_MESSAGE_V2)
        .unwrap();
    assert!(cmd.is_oneway());
}

#[test]
fn large_bodies_are_compressed() {
    let mut net = Net::standard(healthy());
    let body = "abc".repeat(4000);
    net.send(Message::new("orders", body.clone()));
    let (_, cmd) = net
        .seen
        .iter()
        .find(|(_, c)| c.code == request_code::SEND_MESSAGE_V2)
        .unwrap();
    assert_eq!(cmd.ext_fields.get("f"), Some("1"), "sysFlag COMPRESSED");
    assert!(cmd.body.len() < body.len());
}

#[test]
fn many_sends_are_pipelined_on_one_connection() {
    let mut net = Net::standard(healthy());
    let ids: Vec<SendId> = (0..100)
        .map(|_| net.start_send(SendRequest::new(Message::new("orders", "x"), clock())))
        .collect();
    net.settle();
    assert!(ids.iter().all(|id| matches!(net.outcome(*id), Some(Ok(_)))));
    let broker_conns = net
        .conns()
        .values()
        .filter(|(a, _)| a == BROKER_A || a == BROKER_B)
        .count();
    assert_eq!(broker_conns, 2);
}

#[test]
fn heartbeats_repeat_every_thirty_seconds() {
    let mut net = Net::standard(healthy());
    net.send(Message::new("orders", "x"));
    let count = |net: &Net| {
        net.seen
            .iter()
            .filter(|(a, c)| a == BROKER_A && c.code == request_code::HEART_BEAT)
            .count()
    };
    assert_eq!(count(&net), 1);
    net.advance(Duration::from_secs(30));
    assert_eq!(count(&net), 2);
}

#[test]
fn routes_are_refreshed_every_thirty_seconds() {
    let mut net = Net::standard(healthy());
    net.send(Message::new("orders", "x"));
    let count = |net: &Net| {
        net.seen
            .iter()
            .filter(|(_, c)| c.code == request_code::GET_ROUTEINFO_BY_TOPIC)
            .count()
    };
    assert_eq!(count(&net), 1);
    net.advance(Duration::from_secs(30));
    assert_eq!(count(&net), 2);
}

#[test]
fn shutdown_unregisters_from_each_broker_then_completes() {
    let mut net = Net::standard(healthy());
    net.send(Message::new("orders", "x"));
    net.shutdown();
    let unregs: Vec<&RemotingCommand> = net
        .seen
        .iter()
        .filter(|(_, c)| c.code == request_code::UNREGISTER_CLIENT)
        .map(|(_, c)| c)
        .collect();
    assert!(!unregs.is_empty());
    assert_eq!(unregs[0].ext_fields.get("producerGroup"), Some("pg"));
    assert!(net.shut_down());
    assert!(net.conns().is_empty());
}

#[test]
fn sends_after_shutdown_are_refused() {
    let mut net = Net::standard(healthy());
    net.shutdown();
    let id = net.send(Message::new("orders", "x"));
    assert!(matches!(net.outcome(id), Some(Err(SendError::NotRunning))));
}

#[test]
fn a_garbage_frame_closes_the_connection_and_fails_its_requests() {
    let mut net = Net::standard(Box::new(|_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            Some(route_ok(cmd, route_body(&[("broker-a", BROKER_A)], 1)))
        }
        request_code::SEND_MESSAGE_V2 => None,
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let id = net.send(Message::new("orders", "x"));
    let conns = net.conns();
    let (&conn, _) = conns.iter().find(|(_, (a, _))| a == BROKER_A).unwrap();
    let now = net.now;
    net.client()
        .handle_input(conn, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], now);
    net.settle();
    net.advance(Duration::from_secs(3));
    assert!(matches!(net.outcome(id), Some(Err(_))));
}

#[test]
fn a_broker_that_left_the_route_is_no_longer_heartbeated() {
    use std::cell::Cell;
    use std::rc::Rc;
    let moved = Rc::new(Cell::new(false));
    let flag = Rc::clone(&moved);
    let mut net = Net::standard(Box::new(move |_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC if flag.get() => {
            Some(route_ok(cmd, route_body(&[("broker-b", BROKER_B)], 1)))
        }
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            Some(route_ok(cmd, route_body(&[("broker-a", BROKER_A)], 1)))
        }
        request_code::SEND_MESSAGE_V2 => Some(ok_send(cmd, 0)),
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    net.send(Message::new("orders", "x"));
    moved.set(true);
    net.advance(Duration::from_secs(30)); // route refresh moves the topic to broker-b
    let beats = |net: &Net, addr: &str| {
        net.seen
            .iter()
            .filter(|(a, c)| a == addr && c.code == request_code::HEART_BEAT)
            .count()
    };
    let a_before = beats(&net, BROKER_A);
    net.advance(Duration::from_secs(30));
    assert_eq!(
        beats(&net, BROKER_A),
        a_before,
        "broker-a no longer heartbeated"
    );
    assert!(beats(&net, BROKER_B) >= 1);
}

#[test]
fn a_retry_after_the_route_turned_read_only_fails_with_no_route() {
    use std::cell::Cell;
    use std::rc::Rc;
    let read_only = Rc::new(Cell::new(false));
    let flag = Rc::clone(&read_only);
    let mut net = Net::standard(Box::new(move |_, cmd| match cmd.code {
        request_code::GET_ROUTEINFO_BY_TOPIC if cmd.ext_fields.get("topic") == Some("TBW102") => {
            Some(RemotingCommand::response(
                response_code::TOPIC_NOT_EXIST,
                cmd.opaque,
            ))
        }
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            let perm = if flag.get() { 4 } else { 6 };
            let body = String::from_utf8(route_body(&[("broker-a", BROKER_A)], 1))
                .unwrap()
                .replace("\"perm\":6", &format!("\"perm\":{perm}"));
            Some(route_ok(cmd, body.into_bytes()))
        }
        request_code::SEND_MESSAGE_V2 => None,
        _ => Some(RemotingCommand::response(0, cmd.opaque)),
    }));
    let mut req = SendRequest::new(Message::new("orders", "x"), clock());
    req.timeout = Some(Duration::from_secs(60));
    let id = net.send_req(req);
    read_only.set(true);
    net.advance(Duration::from_secs(31)); // the refresh finds the topic read-only
    let conns = net.conns();
    let (&conn, _) = conns.iter().find(|(_, (a, _))| a == BROKER_A).unwrap();
    let now = net.now;
    net.client().handle_closed(conn, "reset by peer", now);
    net.settle();
    assert!(matches!(
        net.outcome(id),
        Some(Err(SendError::NoRoute { .. }))
    ));
}
