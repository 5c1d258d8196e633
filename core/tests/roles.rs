//! The engine's contract with its roles, on a simulated network: many
//! groups under one client id, broker requests answered exactly once, roles
//! that answer broker requests and arm timers themselves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::engine::{
    Answered, BrokerRequest, ClientConfig, Context, Delivery, RequestError, Role, TimerKind, Token,
};
use rmq_core::message::Message;
use rmq_core::producer::{ProducerConfig, SendRequest, WallClock};
use rmq_core::protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel,
};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::time::Instant;
use rmq_sim::{Network, NodeId, Script};

const NAMESRV: &str = "ns:9876";
const BROKER: &str = "10.0.0.1:10911";

fn route_body() -> Vec<u8> {
    format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{0:"{BROKER}"}},"brokerName":"broker-a","cluster":"c"}}],"queueDatas":[{{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}}]}}"#
    )
    .into_bytes()
}

/// A name server and one broker that accept everything.
fn cluster() -> Script {
    Box::new(|_, cmd| {
        let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
        match cmd.code {
            request_code::GET_ROUTEINFO_BY_TOPIC => r.body = route_body().into(),
            request_code::SEND_MESSAGE_V2 => {
                r.ext_fields
                    .insert("msgId", "0A00000100002A9F0000000000000001");
                r.ext_fields
                    .insert("queueId", cmd.ext_fields.get("e").unwrap_or("0"));
                r.ext_fields.insert("queueOffset", "0");
            }
            _ => {}
        }
        Some(r)
    })
}

fn client(net: &mut Network) -> NodeId {
    net.add_client(ClientConfig {
        name_servers: vec![NAMESRV.into()],
        client_id: "127.0.0.1@roles".into(),
        ..Default::default()
    })
}

fn producer(group: &str) -> ProducerConfig {
    ProducerConfig {
        group: group.into(),
        ..Default::default()
    }
}

fn send_one(net: &mut Network, node: NodeId, p: rmq_core::client::ProducerId) {
    let clock = WallClock::from_unix_ms(1_795_752_534_000);
    net.send(
        node,
        p,
        SendRequest::new(Message::new("orders", "x"), clock),
    );
}

fn heartbeats_to(net: &Network, addr: &str) -> Vec<String> {
    net.seen
        .iter()
        .filter(|(a, c)| a == addr && c.code == request_code::HEART_BEAT)
        .map(|(_, c)| String::from_utf8_lossy(&c.body).into_owned())
        .collect()
}

/// Answers with `(opaque, code)` of every response the client wrote.
fn responses(net: &Network) -> Vec<(i32, i32)> {
    net.seen
        .iter()
        .filter(|(_, c)| c.is_response())
        .map(|(_, c)| (c.opaque, c.code))
        .collect()
}

fn broker_request(code: i32, opaque: i32) -> RemotingCommand {
    RemotingCommand::request(code, opaque)
}

#[test]
fn two_producer_groups_of_one_client_share_one_heartbeat() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let a = net.add_producer(node, producer("group-a"));
    let _b = net.add_producer(node, producer("group-b"));
    send_one(&mut net, node, a);
    let beats = heartbeats_to(&net, BROKER);
    assert_eq!(
        beats.len(),
        1,
        "one heartbeat for the client, not one per group"
    );
    assert!(
        beats[0].contains(r#""groupName":"group-a""#),
        "{}",
        beats[0]
    );
    assert!(
        beats[0].contains(r#""groupName":"group-b""#),
        "{}",
        beats[0]
    );
    assert!(
        beats[0].contains(r#""clientID":"127.0.0.1@roles""#),
        "{}",
        beats[0]
    );
}

#[test]
fn a_group_added_to_a_running_client_is_announced_at_once() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let a = net.add_producer(node, producer("group-a"));
    send_one(&mut net, node, a);
    assert_eq!(heartbeats_to(&net, BROKER).len(), 1);
    net.add_producer(node, producer("group-late"));
    net.advance(Duration::ZERO);
    let beats = heartbeats_to(&net, BROKER);
    assert_eq!(beats.len(), 2, "a heartbeat now, not at the next 30 s tick");
    assert!(
        beats[1].contains(r#""groupName":"group-late""#),
        "{}",
        beats[1]
    );
}

#[test]
fn every_group_unregisters_on_shutdown() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let a = net.add_producer(node, producer("group-a"));
    net.add_producer(node, producer("group-b"));
    send_one(&mut net, node, a);
    net.shutdown(node);
    let mut groups: Vec<String> = net
        .seen
        .iter()
        .filter(|(a, c)| a == BROKER && c.code == request_code::UNREGISTER_CLIENT)
        .filter_map(|(_, c)| c.ext_fields.get("producerGroup").map(String::from))
        .collect();
    groups.sort();
    assert_eq!(groups, ["group-a", "group-b"]);
    assert!(net.is_shut_down(node));
}

#[test]
fn an_unknown_broker_request_is_answered_not_supported_exactly_once() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let p = net.add_producer(node, producer("pg"));
    send_one(&mut net, node, p);
    assert!(net.peer_sends(node, BROKER, &broker_request(9999, 77)));
    assert_eq!(
        responses(&net),
        [(77, response_code::REQUEST_CODE_NOT_SUPPORTED)]
    );
}

#[test]
fn a_oneway_broker_request_nobody_takes_gets_no_answer() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let p = net.add_producer(node, producer("pg"));
    send_one(&mut net, node, p);
    let mut notify = broker_request(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 78);
    notify.flag |= rmq_core::protocol::ONEWAY_FLAG;
    assert!(net.peer_sends(node, BROKER, &notify));
    assert!(responses(&net).is_empty());
}

/// What the scripted role saw, shared with the test.
#[derive(Debug, Default)]
struct Seen {
    timers: Vec<(Instant, TimerKind)>,
    responses: Vec<(Token, i32)>,
    offered: Vec<i32>,
}

/// A role that answers GET_CONSUMER_RUNNING_INFO, lets everything else
/// pass, and records its timers and responses.
struct RunningInfo {
    seen: Arc<Mutex<Seen>>,
}

impl Role for RunningInfo {
    fn on_response(
        &mut self,
        _ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        let code = outcome.map_or(-1, |c| c.code);
        self.seen.lock().unwrap().responses.push((token, code));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, kind: TimerKind) {
        self.seen.lock().unwrap().timers.push((ctx.now(), kind));
    }

    fn on_broker_request(
        &mut self,
        ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        self.seen.lock().unwrap().offered.push(request.code());
        if request.code() != request_code::GET_CONSUMER_RUNNING_INFO {
            return Err(request);
        }
        let mut resp = RemotingCommand::response(response_code::SUCCESS, 0);
        resp.body = b"running".to_vec().into();
        Ok(request.respond(ctx, resp))
    }
}

fn with_running_info(net: &mut Network, node: NodeId) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let role = Box::new(RunningInfo {
        seen: Arc::clone(&seen),
    });
    let now = net.now;
    net.client(node).add_role(role, now, |ctx| {
        let data = ConsumerData {
            group_name: "cg".into(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            subscription_data_set: Vec::new(),
            unit_mode: false,
        };
        ctx.set_group_data(rmq_core::engine::GroupData::Consumer(data));
        ctx.set_timer(
            TimerKind::Rebalance,
            Some(ctx.now() + Duration::from_secs(20)),
        );
    });
    net.settle();
    seen
}

#[test]
fn a_role_answers_the_broker_requests_it_serves_itself() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let p = net.add_producer(node, producer("pg"));
    let _seen = with_running_info(&mut net, node);
    send_one(&mut net, node, p);
    let request = broker_request(request_code::GET_CONSUMER_RUNNING_INFO, 5);
    assert!(net.peer_sends(node, BROKER, &request));
    let answers: Vec<&RemotingCommand> = net
        .seen
        .iter()
        .filter(|(_, c)| c.is_response() && c.opaque == 5)
        .map(|(_, c)| c)
        .collect();
    assert_eq!(answers.len(), 1, "answered once, by the role");
    assert_eq!(answers[0].code, response_code::SUCCESS);
    assert_eq!(&answers[0].body[..], b"running");
}

#[test]
fn a_request_a_role_declines_is_offered_to_no_one_else_twice() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let p = net.add_producer(node, producer("pg"));
    let seen = with_running_info(&mut net, node);
    send_one(&mut net, node, p);
    assert!(net.peer_sends(node, BROKER, &broker_request(9999, 6)));
    assert_eq!(seen.lock().unwrap().offered, [9999]);
    assert_eq!(
        responses(&net),
        [(6, response_code::REQUEST_CODE_NOT_SUPPORTED)]
    );
}

#[test]
fn a_consumer_groups_data_rides_in_the_same_heartbeat_as_a_producers() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let p = net.add_producer(node, producer("pg"));
    with_running_info(&mut net, node);
    send_one(&mut net, node, p);
    let beats = heartbeats_to(&net, BROKER);
    assert_eq!(beats.len(), 1);
    let data: HeartbeatData = net.client(node).engine().heartbeat_data();
    assert_eq!(data.producer_data_set.len(), 1);
    assert_eq!(data.consumer_data_set.len(), 1);
    assert!(beats[0].contains(r#""groupName":"cg""#), "{}", beats[0]);
}

#[test]
fn a_role_timer_fires_once_at_its_deadline() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let seen = with_running_info(&mut net, node);
    net.advance(Duration::from_secs(19));
    assert!(seen.lock().unwrap().timers.is_empty());
    net.advance(Duration::from_secs(30));
    let timers = &seen.lock().unwrap().timers;
    assert_eq!(
        timers.as_slice(),
        [(Instant::from_millis(20_000), TimerKind::Rebalance)]
    );
}

/// A role that asks the broker something and records the answer.
struct Asker {
    seen: Arc<Mutex<Seen>>,
}

impl Role for Asker {
    fn on_response(
        &mut self,
        _ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        let code = outcome.map_or(-1, |c| c.code);
        self.seen.lock().unwrap().responses.push((token, code));
    }
}

#[test]
fn a_response_comes_back_to_the_role_with_its_token() {
    let mut net = Network::new(cluster());
    let node = client(&mut net);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let role = Box::new(Asker {
        seen: Arc::clone(&seen),
    });
    let now = net.now;
    net.client(node).add_role(role, now, |ctx| {
        let deadline = ctx.now() + Duration::from_secs(3);
        let delivery = Delivery::Answer {
            token: Token(42),
            deadline,
        };
        let header = rmq_core::engine::NoHeader;
        let fields = HeaderAsFields(&header);
        ctx.request(
            BROKER,
            request_code::GET_BROKER_CLUSTER_INFO,
            &fields,
            &[],
            delivery,
        );
    });
    net.settle();
    assert_eq!(
        seen.lock().unwrap().responses,
        [(Token(42), response_code::SUCCESS)]
    );
}

#[test]
fn a_silent_broker_fails_a_role_request_at_its_deadline() {
    let mut net = Network::new(Box::new(|_, _| None));
    let node = client(&mut net);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let role = Box::new(Asker {
        seen: Arc::clone(&seen),
    });
    let now = net.now;
    net.client(node).add_role(role, now, |ctx| {
        let delivery = Delivery::Answer {
            token: Token(1),
            deadline: ctx.now() + Duration::from_secs(2),
        };
        ctx.request(
            BROKER,
            request_code::GET_BROKER_CLUSTER_INFO,
            &NoFields,
            &[],
            delivery,
        );
    });
    net.settle();
    net.advance(Duration::from_millis(1999));
    assert!(seen.lock().unwrap().responses.is_empty());
    net.advance(Duration::from_millis(1));
    assert_eq!(seen.lock().unwrap().responses, [(Token(1), -1)]);
}

/// No header fields.
struct NoFields;

impl rmq_core::protocol::FieldSource for NoFields {
    fn write_to<S: rmq_core::protocol::FieldSink + ?Sized>(&self, _sink: &mut S) {}
}

/// A typed header as fields.
struct HeaderAsFields<'a, H>(&'a H);

impl<H: rmq_core::protocol::CommandHeader> rmq_core::protocol::FieldSource
    for HeaderAsFields<'_, H>
{
    fn write_to<S: rmq_core::protocol::FieldSink + ?Sized>(&self, sink: &mut S) {
        self.0.write_fields(sink);
    }
}
