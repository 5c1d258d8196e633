//! Push-consumer scenarios: a scripted name server and broker inside the
//! test (a small model of the broker's consumer side: members, offsets,
//! stored messages, suspended pulls), driven in virtual time. Each test is
//! one behaviour, named for it.

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use rmq_core::client::ConsumerId;
use rmq_core::consumer::{ConsumeFrom, ConsumeResult, ConsumeType, ConsumerConfig, Delivery};
use rmq_core::engine::ClientConfig;
use rmq_core::message::ext::MAGIC_V1;
use rmq_core::message::Properties;
use rmq_core::protocol::body::LockBatchResponseBody;
use rmq_core::protocol::headers::{
    ConsumerSendMsgBackRequestHeader, PullMessageRequestHeader, SendMessageRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::MessageQueue;
use rmq_sim::{Network, NodeId, Script};

const NAMESRV: &str = "ns:9876";
const BROKER: &str = "10.0.0.1:10911";
const BROKER_NAME: &str = "broker-a";
const GROUP: &str = "cg";
const TOPIC: &str = "orders";
const RETRY: &str = "%RETRY%cg";
/// This client's id, and the other members' (sorted: `A` < `ME` < `C`).
const A: &str = "10.0.0.9@a";
const ME: &str = "10.0.0.9@b";
const C: &str = "10.0.0.9@c";

/// Queues of `TOPIC` (the retry topic has one, as brokers create it).
const QUEUES: i32 = 8;

// ----- the scripted broker -------------------------------------------------------

/// A message stored in one queue.
#[derive(Debug, Clone)]
struct Stored {
    offset: i64,
    tag: String,
    body: String,
    /// Properties beyond the tag and the unique key.
    extra: Vec<(String, String)>,
}

/// What the broker knows, shared between its script and the test.
#[derive(Debug, Default)]
struct Broker {
    /// The group's members as GET_CONSUMER_LIST_BY_GROUP lists them.
    members: Vec<String>,
    /// Committed offsets by (topic, queue); a queue missing here is
    /// QUERY_NOT_FOUND (a new group).
    offsets: BTreeMap<(String, i32), i64>,
    /// GET_MAX_OFFSET's answer for every queue.
    max_offset: i64,
    /// Stored messages by (topic, queue).
    messages: BTreeMap<(String, i32), Vec<Stored>>,
    /// Pulls below this offset of a queue are answered PULL_NOT_FOUND
    /// pointing here (what the broker filtered out or lost).
    skip_to: BTreeMap<(String, i32), i64>,
    /// Pulls below this offset of a queue are answered PULL_OFFSET_MOVED
    /// pointing here (the queue was truncated).
    moved_to: BTreeMap<(String, i32), i64>,
    /// Every pull is answered with this code (no header) while set.
    fail_pulls: Option<i32>,
    /// CONSUMER_SEND_MSG_BACK's answer (SUCCESS by default).
    send_back_code: i32,
    /// CONSUMER_SEND_MSG_BACK is never answered while set.
    hold_send_backs: bool,
    /// SEND_MESSAGE's answer (the send-back fallback; SUCCESS by default).
    retry_send_code: i32,
    /// Queues LOCK_BATCH_MQ will not lock (another member holds them).
    lock_refused: Vec<(String, i32)>,
    /// SEARCH_OFFSET_BY_TIMESTAMP's answer for every queue.
    search_offset: i64,
    /// QUERY_CONSUMER_OFFSET is answered with this code while set.
    query_error: Option<i32>,
    /// QUERY_CONSUMER_OFFSET is not answered (yet) while set: the
    /// requests wait in `held_queries`.
    hold_queries: bool,
    held_queries: Vec<RemotingCommand>,
    /// LOCK_BATCH_MQ is not answered (yet) while set: the requests wait in
    /// `held_locks`.
    hold_locks: bool,
    held_locks: Vec<RemotingCommand>,
    /// Topics the name server does not route (yet): TOPIC_NOT_EXIST.
    unrouted: Vec<String>,
    /// Pulls with nothing to return, suspended as a broker holds a long poll.
    held: Vec<RemotingCommand>,
}

fn key(topic: &str, queue: i32) -> (String, i32) {
    (topic.to_string(), queue)
}

/// Where the model stores a message in its commit log.
fn commit_log_offset(queue: i32, offset: i64) -> i64 {
    1_000_000 + i64::from(queue) * 10_000 + offset
}

/// The unique key of a stored message.
fn uniq_key(topic: &str, queue: i32, offset: i64) -> String {
    format!("{topic}-{queue}-{offset}")
}

impl Broker {
    fn with_members(members: &[&str]) -> Broker {
        Broker {
            members: members.iter().map(|m| m.to_string()).collect(),
            ..Broker::default()
        }
    }

    /// Stores messages with `tags` at the end of a queue.
    fn store(&mut self, topic: &str, queue: i32, tags: &[&str]) {
        let stored = self.messages.entry(key(topic, queue)).or_default();
        for tag in tags {
            let offset = stored.last().map_or(0, |m| m.offset + 1);
            stored.push(Stored {
                offset,
                tag: tag.to_string(),
                body: format!("body-{offset}"),
                extra: Vec::new(),
            });
        }
    }

    fn answer(&mut self, cmd: &RemotingCommand) -> Option<RemotingCommand> {
        let f = &cmd.ext_fields;
        let mut ok = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
        match cmd.code {
            request_code::GET_ROUTEINFO_BY_TOPIC
                if self
                    .unrouted
                    .iter()
                    .any(|t| f.get("topic") == Some(t.as_str())) =>
            {
                ok.code = response_code::TOPIC_NOT_EXIST;
            }
            request_code::GET_ROUTEINFO_BY_TOPIC => {
                let queues = if f.get("topic") == Some(TOPIC) {
                    QUEUES
                } else {
                    1
                };
                ok.body = route_body(queues).into();
            }
            request_code::GET_CONSUMER_LIST_BY_GROUP => {
                let ids: Vec<String> = self.members.iter().map(|m| format!("\"{m}\"")).collect();
                ok.body = format!("{{\"consumerIdList\":[{}]}}", ids.join(",")).into();
            }
            request_code::QUERY_CONSUMER_OFFSET if self.hold_queries => {
                self.held_queries.push(cmd.clone());
                return None;
            }
            request_code::QUERY_CONSUMER_OFFSET if self.query_error.is_some() => {
                ok.code = self.query_error.unwrap_or_default();
            }
            request_code::QUERY_CONSUMER_OFFSET => {
                let queue = f.get("queueId").unwrap().parse().unwrap();
                match self.offsets.get(&key(f.get("topic").unwrap(), queue)) {
                    Some(offset) => ok.ext_fields.insert("offset", offset.to_string()),
                    None => ok.code = response_code::QUERY_NOT_FOUND,
                }
            }
            request_code::GET_MAX_OFFSET => {
                ok.ext_fields.insert("offset", self.max_offset.to_string());
            }
            request_code::UPDATE_CONSUMER_OFFSET => {
                let h: UpdateConsumerOffsetRequestHeader = cmd.header().unwrap();
                self.offsets
                    .insert(key(&h.topic, h.queue_id), h.commit_offset);
            }
            request_code::PULL_MESSAGE => {
                // A pull with the commit flag commits the offset it carries.
                let h: PullMessageRequestHeader = cmd.header().unwrap();
                if h.sys_flag & 1 != 0 {
                    self.offsets
                        .insert(key(&h.topic, h.queue_id), h.commit_offset);
                }
                return self.pull(cmd);
            }
            request_code::CONSUMER_SEND_MSG_BACK if self.hold_send_backs => return None,
            request_code::CONSUMER_SEND_MSG_BACK => ok.code = self.send_back_code,
            request_code::SEND_MESSAGE => ok.code = self.retry_send_code,
            request_code::SEARCH_OFFSET_BY_TIMESTAMP => {
                ok.ext_fields
                    .insert("offset", self.search_offset.to_string());
            }
            request_code::LOCK_BATCH_MQ if self.hold_locks => {
                self.held_locks.push(cmd.clone());
                return None;
            }
            request_code::LOCK_BATCH_MQ => {
                // The request's mqSet, read with the response body's parser.
                let text = String::from_utf8_lossy(&cmd.body).replace("mqSet", "lockOKMQSet");
                let asked = LockBatchResponseBody::parse(text.as_bytes()).unwrap();
                let granted: Vec<String> = asked
                    .lock_ok_mq_set
                    .iter()
                    .filter(|q| !self.lock_refused.contains(&key(&q.topic, q.queue_id)))
                    .map(|q| {
                        format!(
                            r#"{{"brokerName":"{}","queueId":{},"topic":"{}"}}"#,
                            q.broker_name, q.queue_id, q.topic
                        )
                    })
                    .collect();
                ok.body = format!("{{\"lockOKMQSet\":[{}]}}", granted.join(",")).into();
            }
            _ => {} // heartbeats, unregistrations
        }
        Some(ok)
    }

    /// Answers a pull, or holds it (`None`) while there is nothing to return.
    fn pull(&mut self, cmd: &RemotingCommand) -> Option<RemotingCommand> {
        let h: PullMessageRequestHeader = cmd.header().unwrap();
        let queue = key(&h.topic, h.queue_id);
        if let Some(code) = self.fail_pulls {
            return Some(RemotingCommand::response(code, cmd.opaque));
        }
        if let Some(&next) = self.skip_to.get(&queue).filter(|&&n| h.queue_offset < n) {
            return Some(pull_response(cmd, response_code::PULL_NOT_FOUND, next));
        }
        if let Some(&next) = self.moved_to.get(&queue).filter(|&&n| h.queue_offset < n) {
            return Some(pull_response(cmd, response_code::PULL_OFFSET_MOVED, next));
        }
        let found: Vec<&Stored> = self
            .messages
            .get(&queue)
            .into_iter()
            .flatten()
            .filter(|m| m.offset >= h.queue_offset)
            .take(h.max_msg_nums as usize)
            .collect();
        let Some(last) = found.last() else {
            self.held.push(cmd.clone());
            return None;
        };
        let mut resp = pull_response(cmd, response_code::SUCCESS, last.offset + 1);
        let mut body = Vec::new();
        for m in found {
            encode_stored(&mut body, &h.topic, h.queue_id, m);
        }
        resp.body = body.into();
        Some(resp)
    }

    /// Takes the held pulls of a queue that now have something to return,
    /// with their answers.
    fn wake(&mut self, topic: &str, queue: i32) -> Vec<RemotingCommand> {
        let (mine, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|c| {
                c.ext_fields.get("topic") == Some(topic)
                    && c.ext_fields.get("queueId") == Some(&*queue.to_string())
            });
        self.held = rest;
        mine.iter().filter_map(|c| self.pull(c)).collect()
    }
}

fn pull_response(cmd: &RemotingCommand, code: i32, next: i64) -> RemotingCommand {
    let mut r = RemotingCommand::response(code, cmd.opaque);
    r.ext_fields.insert("nextBeginOffset", next.to_string());
    r.ext_fields.insert("minOffset", "0");
    r.ext_fields.insert("maxOffset", next.to_string());
    r.ext_fields.insert("suggestWhichBrokerId", "0");
    r
}

fn route_body(queues: i32) -> Vec<u8> {
    format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{0:"{BROKER}"}},"brokerName":"{BROKER_NAME}","cluster":"c"}}],"queueDatas":[{{"brokerName":"{BROKER_NAME}","perm":6,"readQueueNums":{queues},"topicSysFlag":0,"writeQueueNums":{queues}}}]}}"#
    )
    .into_bytes()
}

/// Appends one stored-message record (V1, IPv4 hosts, uncompressed), the
/// layout `rmq_core::message::decode_messages` reads.
fn encode_stored(out: &mut Vec<u8>, topic: &str, queue: i32, m: &Stored) {
    let mut props = format!(
        "TAGS\u{1}{}\u{2}UNIQ_KEY\u{1}{}\u{2}",
        m.tag,
        uniq_key(topic, queue, m.offset)
    );
    for (k, v) in &m.extra {
        props.push_str(&format!("{k}\u{1}{v}\u{2}"));
    }
    let mut r = Vec::new();
    r.extend_from_slice(&0i32.to_be_bytes()); // total size, patched below
    r.extend_from_slice(&MAGIC_V1.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes()); // body CRC (not checked)
    r.extend_from_slice(&queue.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes()); // flag
    r.extend_from_slice(&m.offset.to_be_bytes());
    r.extend_from_slice(&commit_log_offset(queue, m.offset).to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes()); // sys flag
    r.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // born
    r.extend_from_slice(&[10, 0, 0, 7]);
    r.extend_from_slice(&50_000i32.to_be_bytes());
    r.extend_from_slice(&1_700_000_000_001i64.to_be_bytes()); // stored
    r.extend_from_slice(&[10, 0, 0, 1]);
    r.extend_from_slice(&10_911i32.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes()); // reconsume times
    r.extend_from_slice(&0i64.to_be_bytes()); // prepared transaction offset
    r.extend_from_slice(&(m.body.len() as i32).to_be_bytes());
    r.extend_from_slice(m.body.as_bytes());
    r.push(topic.len() as u8);
    r.extend_from_slice(topic.as_bytes());
    r.extend_from_slice(&(props.len() as u16).to_be_bytes());
    r.extend_from_slice(props.as_bytes());
    let size = r.len() as i32;
    r[..4].copy_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&r);
}

// ----- the client under test -------------------------------------------------------

/// One client (`ME`) with one push-consumer group on a simulated network.
struct Cluster {
    net: Network,
    node: NodeId,
    broker: Rc<RefCell<Broker>>,
    consumer: ConsumerId,
}

fn config() -> ConsumerConfig {
    ConsumerConfig {
        group: GROUP.into(),
        ..Default::default()
    }
}

fn mq(topic: &str, queue: i32) -> MessageQueue {
    MessageQueue::new(topic, BROKER_NAME, queue)
}

impl Cluster {
    /// Starts the group subscribed to every message of `TOPIC`, and lets
    /// its first rebalance finish.
    fn start(broker: Broker, config: ConsumerConfig) -> Cluster {
        Cluster::start_subscribed(broker, config, "*")
    }

    fn start_subscribed(broker: Broker, config: ConsumerConfig, expression: &str) -> Cluster {
        Cluster::start_with(broker, config, &[(TOPIC, expression, false)], |_| {})
    }

    /// Starts the group with `subscriptions`, `prepare` run on the consumer
    /// first (lite pull's `assign`), and lets its first rebalance finish.
    fn start_with(
        broker: Broker,
        config: ConsumerConfig,
        subscriptions: &[(&str, &str, bool)],
        prepare: impl FnOnce(&mut rmq_core::consumer::PushConsumer),
    ) -> Cluster {
        let broker = Rc::new(RefCell::new(broker));
        let script: Script = {
            let broker = Rc::clone(&broker);
            Box::new(move |_addr, cmd| broker.borrow_mut().answer(cmd))
        };
        let mut net = Network::new(script);
        let node = net.add_client(ClientConfig {
            name_servers: vec![NAMESRV.into()],
            client_id: ME.into(),
            ..Default::default()
        });
        let now = net.now;
        let consumer =
            net.client(node)
                .add_consumer_with(config, subscriptions, None, 1, now, prepare);
        net.settle();
        let mut cluster = Cluster {
            net,
            node,
            broker,
            consumer,
        };
        cluster.advance(Duration::ZERO);
        cluster
    }

    fn broker(&self) -> RefMut<'_, Broker> {
        self.broker.borrow_mut()
    }

    fn advance(&mut self, by: Duration) {
        self.net.advance(by);
    }

    /// Stores messages with `tags` in a queue and answers its held pulls.
    fn publish(&mut self, topic: &str, queue: i32, tags: &[&str]) {
        self.broker().store(topic, queue, tags);
        self.wake(topic, queue);
    }

    /// The broker answers the held pulls of a queue it now has messages for.
    fn wake(&mut self, topic: &str, queue: i32) {
        let answers = self.broker().wake(topic, queue);
        for answer in answers {
            assert!(self.net.peer_sends(self.node, BROKER, &answer));
        }
    }

    /// The broker tells the group its members changed; the consumer
    /// rebalances at once.
    /// Answers requests the broker held, now.
    fn answer_held(&mut self, held: Vec<RemotingCommand>) {
        for request in held {
            let answer = self.broker().answer(&request).unwrap();
            assert!(self.net.peer_sends(self.node, BROKER, &answer));
        }
        self.advance(Duration::ZERO);
    }

    fn members_change(&mut self, members: &[&str]) {
        self.broker().members = members.iter().map(|m| m.to_string()).collect();
        let mut notify =
            RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 9000).into_oneway();
        notify.ext_fields.insert("consumerGroup", GROUP);
        assert!(self.net.peer_sends(self.node, BROKER, &notify));
        self.advance(Duration::ZERO);
    }

    /// Every delivery waiting for the handler.
    fn deliveries(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Some((id, d)) = self.net.client(self.node).poll_delivery() {
            assert_eq!(id, self.consumer);
            out.push(d);
        }
        out
    }

    fn ack(&mut self, delivery: &Delivery, result: ConsumeResult) {
        let (consumer, now) = (self.consumer, self.net.now);
        self.net
            .client(self.node)
            .consumed(consumer, delivery.id, result, now);
        self.net.settle();
    }

    /// The queue ids of `topic` this consumer owns.
    fn owned(&mut self, topic: &str) -> Vec<i32> {
        let consumer = self.consumer;
        let c = self.net.client(self.node).consumer(consumer).unwrap();
        c.owned_queues()
            .filter(|q| q.topic == topic)
            .map(|q| q.queue_id)
            .collect()
    }

    /// How many frames were written so far (for `since`).
    fn mark(&self) -> usize {
        self.net.seen.len()
    }

    /// Requests with `code` written since `mark`.
    fn sent_since(&self, mark: usize, code: i32) -> Vec<RemotingCommand> {
        self.net.seen[mark..]
            .iter()
            .filter(|(a, c)| a == BROKER && c.code == code && !c.is_response())
            .map(|(_, c)| c.clone())
            .collect()
    }

    fn sent(&self, code: i32) -> Vec<RemotingCommand> {
        self.sent_since(0, code)
    }

    /// Pulls of one queue since `mark`.
    fn pulls_since(&self, mark: usize, topic: &str, queue: i32) -> Vec<PullMessageRequestHeader> {
        self.sent_since(mark, request_code::PULL_MESSAGE)
            .iter()
            .map(|c| c.header::<PullMessageRequestHeader>().unwrap())
            .filter(|h| h.topic == topic && h.queue_id == queue)
            .collect()
    }

    fn pulls(&self, topic: &str, queue: i32) -> Vec<PullMessageRequestHeader> {
        self.pulls_since(0, topic, queue)
    }

    /// The offsets UPDATE_CONSUMER_OFFSET sent for a queue of `TOPIC` since `mark`.
    fn commits_since(&self, mark: usize, queue: i32) -> Vec<i64> {
        self.sent_since(mark, request_code::UPDATE_CONSUMER_OFFSET)
            .iter()
            .map(|c| c.header::<UpdateConsumerOffsetRequestHeader>().unwrap())
            .filter(|h| h.topic == TOPIC && h.queue_id == queue)
            .map(|h| h.commit_offset)
            .collect()
    }

    /// Responses this client wrote to broker requests, as (opaque, code).
    fn responses(&self) -> Vec<(i32, i32)> {
        self.net
            .seen
            .iter()
            .filter(|(_, c)| c.is_response())
            .map(|(_, c)| (c.opaque, c.code))
            .collect()
    }
}

fn offsets(deliveries: &[Delivery]) -> Vec<i64> {
    deliveries
        .iter()
        .flat_map(|d| d.messages.iter().map(|m| m.queue_offset))
        .collect()
}

/// A broker where the group is `members`, every queue committed at 0.
fn committed_at_zero(members: &[&str]) -> Broker {
    let mut b = Broker::with_members(members);
    for q in 0..QUEUES {
        b.offsets.insert(key(TOPIC, q), 0);
    }
    b.offsets.insert(key(RETRY, 0), 0);
    b
}

const SEC: Duration = Duration::from_secs(1);

// ----- start and heartbeat -----------------------------------------------------------

#[test]
fn the_heartbeat_carries_the_group_with_its_subscription_and_the_retry_subscription() {
    let c = Cluster::start_subscribed(committed_at_zero(&[ME]), config(), "TagA || TagB");
    let beats = c.sent(request_code::HEART_BEAT);
    assert!(!beats.is_empty(), "the broker is heartbeated");
    let body = String::from_utf8(beats[0].body.to_vec()).unwrap();
    assert!(body.contains(r#""clientID":"10.0.0.9@b""#), "{body}");
    assert!(body.contains(r#""groupName":"cg""#), "{body}");
    assert!(
        body.contains(r#""consumeType":"CONSUME_PASSIVELY""#),
        "{body}"
    );
    assert!(body.contains(r#""messageModel":"CLUSTERING""#), "{body}");
    assert!(body.contains(r#""topic":"orders""#), "{body}");
    assert!(body.contains(r#""subString":"TagA || TagB""#), "{body}");
    assert!(body.contains(r#""topic":"%RETRY%cg""#), "{body}");
    assert!(body.contains(r#""subString":"*""#), "{body}");
}

#[test]
fn the_group_is_announced_before_its_members_are_asked_for() {
    let c = Cluster::start(committed_at_zero(&[ME]), config());
    let position = |code| {
        c.net
            .seen
            .iter()
            .position(|(a, cmd)| a == BROKER && cmd.code == code)
            .unwrap()
    };
    assert!(
        position(request_code::HEART_BEAT) < position(request_code::GET_CONSUMER_LIST_BY_GROUP)
    );
}

// ----- rebalance ---------------------------------------------------------------------

#[test]
fn rebalance_takes_the_java_average_share_of_eight_queues_with_two_members() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    // Sorted members [A, ME]: ME is second, so it gets the second half.
    assert_eq!(c.owned(TOPIC), [4, 5, 6, 7]);
    // One retry queue for two members: the first one takes it.
    assert_eq!(c.owned(RETRY), [] as [i32; 0]);
    for q in 0..QUEUES {
        let expected = usize::from(q >= 4);
        assert_eq!(c.pulls(TOPIC, q).len(), expected, "pulls of queue {q}");
    }
}

#[test]
fn a_member_joining_takes_queues_away_after_their_offsets_are_committed() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    c.publish(TOPIC, 6, &["t"]);
    let delivered = c.deliveries();
    c.ack(&delivered[0], ConsumeResult::Success);
    let mark = c.mark();

    c.members_change(&[A, ME, C]);

    // [A, ME, C] over 8 queues: 3, 3, 2; ME holds 3..=5.
    assert_eq!(c.owned(TOPIC), [3, 4, 5]);
    assert_eq!(
        c.commits_since(mark, 6),
        [1, 1],
        "queue 6 committed past its message, twice: a dropped queue's last commit"
    );
    assert_eq!(c.commits_since(mark, 7), [0, 0]);
    assert!(c.pulls_since(mark, TOPIC, 6).is_empty());
    assert!(c.pulls_since(mark, TOPIC, 7).is_empty());
    assert_eq!(
        c.pulls_since(mark, TOPIC, 3).len(),
        1,
        "the new queue is pulled"
    );
    assert_eq!(c.broker().offsets[&key(TOPIC, 6)], 1);
}

#[test]
fn a_member_leaving_hands_its_queues_to_the_rest() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    let mark = c.mark();

    c.members_change(&[ME]);

    assert_eq!(c.owned(TOPIC), (0..QUEUES).collect::<Vec<_>>());
    assert_eq!(c.owned(RETRY), [0]);
    for q in 0..4 {
        assert_eq!(c.pulls_since(mark, TOPIC, q).len(), 1, "queue {q} is taken");
    }
    for q in 4..QUEUES {
        assert!(c.pulls_since(mark, TOPIC, q).is_empty(), "queue {q} kept");
    }
}

#[test]
fn a_membership_change_without_notice_is_found_by_the_periodic_rebalance() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    c.broker().members = vec![ME.to_string()];
    c.advance(19 * SEC);
    assert_eq!(c.owned(TOPIC), [4, 5, 6, 7]);
    c.advance(SEC);
    assert_eq!(c.owned(TOPIC), (0..QUEUES).collect::<Vec<_>>());
}

#[test]
fn a_notice_for_another_group_changes_nothing() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    c.broker().members = vec![ME.to_string()];
    let mut notify =
        RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 9001).into_oneway();
    notify.ext_fields.insert("consumerGroup", "other");
    assert!(c.net.peer_sends(c.node, BROKER, &notify));
    c.advance(Duration::ZERO);
    assert_eq!(c.owned(TOPIC), [4, 5, 6, 7]);
    assert!(c.responses().is_empty(), "a oneway notice is not answered");
}

// ----- where consumption starts -------------------------------------------------------

#[test]
fn a_new_group_consuming_from_last_starts_at_the_max_offset() {
    let mut b = Broker::with_members(&[ME]);
    b.max_offset = 42;
    let c = Cluster::start(b, config());
    for q in 0..QUEUES {
        let pulls = c.pulls(TOPIC, q);
        assert_eq!(pulls.len(), 1);
        assert_eq!(pulls[0].queue_offset, 42, "queue {q}");
    }
    let asked: Vec<String> = c
        .sent(request_code::GET_MAX_OFFSET)
        .iter()
        .map(|r| r.ext_fields.get("topic").unwrap().to_string())
        .collect();
    assert_eq!(asked.len(), QUEUES as usize);
    assert!(asked.iter().all(|t| t == TOPIC), "{asked:?}");
    // A new group's retry queue is read from its start.
    assert_eq!(c.pulls(RETRY, 0)[0].queue_offset, 0);
}

#[test]
fn a_new_group_consuming_from_first_starts_at_zero() {
    let mut b = Broker::with_members(&[ME]);
    b.max_offset = 42;
    let first = ConsumerConfig {
        consume_from: ConsumeFrom::First,
        ..config()
    };
    let c = Cluster::start(b, first);
    assert!(c.sent(request_code::GET_MAX_OFFSET).is_empty());
    for q in 0..QUEUES {
        assert_eq!(c.pulls(TOPIC, q)[0].queue_offset, 0, "queue {q}");
    }
}

#[test]
fn a_committed_offset_is_where_pulling_resumes_whatever_consume_from_says() {
    let mut b = committed_at_zero(&[ME]);
    b.offsets.insert(key(TOPIC, 2), 17);
    b.max_offset = 42;
    let c = Cluster::start(b, config());
    assert!(c.sent(request_code::GET_MAX_OFFSET).is_empty());
    assert_eq!(c.pulls(TOPIC, 2)[0].queue_offset, 17);
    assert_eq!(c.pulls(TOPIC, 3)[0].queue_offset, 0);
}

// ----- pulling ------------------------------------------------------------------------

#[test]
fn each_owned_queue_has_one_long_poll_pull_with_suspend_and_subscription_flags() {
    let mut c = Cluster::start_subscribed(committed_at_zero(&[A, ME]), config(), "TagA");
    c.advance(10 * SEC);
    for q in [4, 5, 6, 7] {
        let pulls = c.pulls(TOPIC, q);
        assert_eq!(pulls.len(), 1, "one long poll held for queue {q}");
        let p = &pulls[0];
        assert_eq!(p.consumer_group, GROUP);
        assert_eq!(p.sys_flag, 2 | 4, "suspend + subscription, no commit at 0");
        assert_eq!(p.commit_offset, 0);
        assert_eq!(p.suspend_timeout_millis, 15_000);
        assert_eq!(p.max_msg_nums, 32);
        assert_eq!(p.subscription.as_deref(), Some("TagA"));
        assert_eq!(p.expression_type.as_deref(), Some("TAG"));
        assert_eq!(p.sub_version, 1);
    }
}

#[test]
fn a_pull_carries_the_commit_flag_only_with_a_positive_commit_offset() {
    let mut b = committed_at_zero(&[ME]);
    b.offsets.insert(key(TOPIC, 1), 5);
    let c = Cluster::start(b, config());
    let zero = &c.pulls(TOPIC, 0)[0];
    assert_eq!((zero.sys_flag, zero.commit_offset), (2 | 4, 0));
    let five = &c.pulls(TOPIC, 1)[0];
    assert_eq!((five.sys_flag, five.commit_offset), (1 | 2 | 4, 5));
    assert_eq!(five.queue_offset, 5);
}

#[test]
fn pulled_messages_are_delivered_in_queue_order_and_pulling_goes_on_after_them() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let delivered = c.deliveries();
    assert_eq!(delivered.len(), 3, "one message per delivery by default");
    assert_eq!(offsets(&delivered), [0, 1, 2]);
    let first = &delivered[0];
    assert_eq!(first.queue, mq(TOPIC, 0));
    assert_eq!(first.messages[0].topic(), TOPIC);
    assert_eq!(&first.messages[0].body()[..], b"body-0");
    assert_eq!(first.messages[0].tags(), Some("a"));
    let pulls = c.pulls(TOPIC, 0);
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[1].queue_offset, 3);
}

#[test]
fn the_batch_size_groups_messages_of_one_pull_into_deliveries() {
    let batched = ConsumerConfig {
        consume_batch_size: 2,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), batched);
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let sizes: Vec<usize> = c.deliveries().iter().map(|d| d.messages.len()).collect();
    assert_eq!(sizes, [2, 1]);
}

#[test]
fn a_message_from_the_retry_queue_is_delivered_with_its_original_topic() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.broker()
        .messages
        .entry(key(RETRY, 0))
        .or_default()
        .push(Stored {
            offset: 0,
            tag: "a".into(),
            body: "retried".into(),
            extra: vec![("RETRY_TOPIC".into(), TOPIC.into())],
        });
    c.wake(RETRY, 0);
    let delivered = c.deliveries();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].queue, mq(RETRY, 0));
    assert_eq!(delivered[0].messages[0].topic(), TOPIC);
}

#[test]
fn a_batch_from_the_retry_queue_never_mixes_original_topics() {
    let batched = ConsumerConfig {
        consume_batch_size: 4,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), batched);
    let originals = [TOPIC, TOPIC, "payments", TOPIC];
    for (offset, original) in originals.iter().enumerate() {
        c.broker()
            .messages
            .entry(key(RETRY, 0))
            .or_default()
            .push(Stored {
                offset: offset as i64,
                tag: "a".into(),
                body: format!("retried-{offset}"),
                extra: vec![("RETRY_TOPIC".into(), original.to_string())],
            });
    }
    c.wake(RETRY, 0);
    let batches: Vec<Vec<String>> = c
        .deliveries()
        .iter()
        .map(|d| d.messages.iter().map(|m| m.topic().to_string()).collect())
        .collect();
    assert_eq!(
        batches,
        [vec![TOPIC, TOPIC], vec!["payments"], vec![TOPIC]],
        "each batch of one topic, in queue order"
    );
}

#[test]
fn messages_the_subscription_does_not_accept_are_not_delivered() {
    let mut c = Cluster::start_subscribed(committed_at_zero(&[ME]), config(), "TagA");
    c.publish(TOPIC, 0, &["TagA", "TagB", "TagA"]);
    let delivered = c.deliveries();
    assert_eq!(offsets(&delivered), [0, 2]);
}

#[test]
fn pull_not_found_pulls_again_at_once_from_the_next_begin_offset() {
    let mut b = committed_at_zero(&[ME]);
    b.skip_to.insert(key(TOPIC, 0), 7);
    let c = Cluster::start(b, config());
    let from: Vec<i64> = c.pulls(TOPIC, 0).iter().map(|p| p.queue_offset).collect();
    assert_eq!(from, [0, 7]);
}

#[test]
fn an_offset_moved_answer_commits_the_brokers_offset_and_pulls_again_from_there() {
    let mut b = committed_at_zero(&[ME]);
    b.moved_to.insert(key(TOPIC, 0), 50);
    let c = Cluster::start(b, config());
    assert_eq!(
        c.commits_since(0, 0),
        [50, 50],
        "a dropped queue's last commit goes twice"
    );
    let from: Vec<i64> = c.pulls(TOPIC, 0).iter().map(|p| p.queue_offset).collect();
    assert_eq!(
        from,
        [0, 50],
        "the queue is taken again at the broker's offset"
    );
}

#[test]
fn a_failed_pull_is_retried_after_three_seconds_and_never_abandoned() {
    let mut b = committed_at_zero(&[ME]);
    b.fail_pulls = Some(response_code::SYSTEM_ERROR);
    let mut c = Cluster::start(b, config());
    assert_eq!(c.pulls(TOPIC, 0).len(), 1);
    c.advance(Duration::from_millis(2_999));
    assert_eq!(c.pulls(TOPIC, 0).len(), 1, "backing off");
    c.advance(Duration::from_millis(1));
    assert_eq!(c.pulls(TOPIC, 0).len(), 2, "retried at 3 s");
    // Five minutes of failures: one try every 3 s, never given up.
    c.advance(300 * SEC);
    assert_eq!(c.pulls(TOPIC, 0).len(), 2 + 100);
    // The broker recovers: messages flow again.
    c.broker().fail_pulls = None;
    c.broker().store(TOPIC, 0, &["a"]);
    c.advance(3 * SEC);
    assert_eq!(offsets(&c.deliveries()), [0]);
}

#[test]
fn a_long_poll_that_is_never_answered_times_out_and_is_pulled_again() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    // The pull times out at 30 s, then backs off 3 s.
    c.advance(30 * SEC);
    assert_eq!(c.pulls(TOPIC, 0).len(), 1);
    c.advance(3 * SEC - Duration::from_millis(1));
    assert_eq!(c.pulls(TOPIC, 0).len(), 1, "backing off");
    c.advance(Duration::from_millis(1));
    assert_eq!(c.pulls(TOPIC, 0).len(), 2);
    assert_eq!(c.pulls(TOPIC, 0)[1].queue_offset, 0);
}

#[test]
fn broker_flow_control_backs_off_briefly() {
    let mut b = committed_at_zero(&[ME]);
    b.fail_pulls = Some(response_code::FLOW_CONTROL);
    let mut c = Cluster::start(b, config());
    c.advance(Duration::from_millis(19));
    assert_eq!(c.pulls(TOPIC, 0).len(), 1);
    c.advance(Duration::from_millis(1));
    assert_eq!(c.pulls(TOPIC, 0).len(), 2, "retried after 20 ms");
}

// ----- flow control -----------------------------------------------------------------

#[test]
fn pulls_pause_while_the_queue_caches_more_than_its_threshold_and_resume_on_acks() {
    let small = ConsumerConfig {
        pull_threshold_for_queue: 2,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), small);
    c.publish(TOPIC, 0, &["a", "b", "c", "d", "e"]);
    let delivered = c.deliveries();
    assert_eq!(delivered.len(), 5);
    c.advance(10 * SEC);
    assert_eq!(c.pulls(TOPIC, 0).len(), 1, "five cached: no pull");

    c.ack(&delivered[0], ConsumeResult::Success);
    c.ack(&delivered[1], ConsumeResult::Success);
    assert_eq!(c.pulls(TOPIC, 0).len(), 1, "three cached: still over 2");

    c.ack(&delivered[2], ConsumeResult::Success);
    let pulls = c.pulls(TOPIC, 0);
    assert_eq!(pulls.len(), 2, "two cached: pulling resumes at once");
    assert_eq!(pulls[1].queue_offset, 5);
}

#[test]
fn flow_control_of_one_queue_does_not_pause_the_others() {
    let small = ConsumerConfig {
        pull_threshold_for_queue: 1,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), small);
    c.publish(TOPIC, 0, &["a", "b"]);
    c.publish(TOPIC, 1, &["a"]);
    assert_eq!(c.pulls(TOPIC, 0).len(), 1, "queue 0 is paused");
    assert_eq!(c.pulls(TOPIC, 1).len(), 2, "queue 1 pulls on");
}

// ----- offsets -----------------------------------------------------------------------

#[test]
fn consumed_offsets_are_committed_every_persist_interval_moved_or_not() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a", "b"]);
    for d in c.deliveries() {
        c.ack(&d, ConsumeResult::Success);
    }
    let mark = c.mark();
    c.advance(Duration::from_millis(4_999));
    assert!(c.commits_since(mark, 0).is_empty());
    c.advance(Duration::from_millis(1));
    assert_eq!(c.commits_since(mark, 0), [2]);
    // Unchanged offsets are sent again, as Java's persistAll does: that
    // repairs a first commit a 4.9 broker lost to its offset-table race.
    c.advance(5 * SEC);
    assert_eq!(c.commits_since(mark, 0), [2, 2]);
}

#[test]
fn the_committed_offset_never_passes_an_unacknowledged_message() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let delivered = c.deliveries();
    c.ack(&delivered[1], ConsumeResult::Success);
    c.ack(&delivered[2], ConsumeResult::Success);
    c.advance(5 * SEC);
    assert!(c.commits_since(0, 0).iter().all(|&o| o == 0));

    // Another message arrives: its pull still commits nothing past 0.
    c.publish(TOPIC, 0, &["d"]);
    let next = c.deliveries();
    let last_pull = c.pulls(TOPIC, 0).pop().unwrap();
    assert_eq!(last_pull.commit_offset, 0);
    assert_eq!(last_pull.sys_flag & 1, 0);
    c.ack(&next[0], ConsumeResult::Success);
    c.advance(5 * SEC);
    assert!(c.commits_since(0, 0).iter().all(|&o| o == 0));

    // The oldest message is acknowledged: everything up to 4 is done.
    c.ack(&delivered[0], ConsumeResult::Success);
    let mark = c.mark();
    c.advance(5 * SEC);
    assert_eq!(c.commits_since(mark, 0), [4]);
}

#[test]
fn the_next_pull_carries_the_consumed_offset() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::Success);
    c.publish(TOPIC, 0, &["b"]);
    let pulls = c.pulls(TOPIC, 0);
    let last = pulls.last().unwrap();
    assert_eq!(last.queue_offset, 2);
    assert_eq!((last.commit_offset, last.sys_flag & 1), (1, 1));
}

// ----- failed consumption -------------------------------------------------------------

#[test]
fn retry_later_sends_the_message_back_with_its_delay_level_and_commit_log_offset() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a"]);
    let d = c.deliveries();
    let retry = ConsumeResult::RetryLater {
        acked: 0,
        delay_level: 3,
    };
    c.ack(&d[0], retry);
    let backs = c.sent(request_code::CONSUMER_SEND_MSG_BACK);
    assert_eq!(backs.len(), 1);
    let h: ConsumerSendMsgBackRequestHeader = backs[0].header().unwrap();
    assert_eq!(h.offset, commit_log_offset(0, 0));
    assert_eq!(h.group, GROUP);
    assert_eq!(h.delay_level, 3);
    assert_eq!(h.origin_msg_id.as_deref(), Some(&*uniq_key(TOPIC, 0, 0)));
    assert_eq!(h.origin_topic.as_deref(), Some(TOPIC));
    assert_eq!(h.max_reconsume_times, Some(16));
    // The broker took it: the queue commits past it, nothing is redelivered.
    let mark = c.mark();
    c.advance(10 * SEC);
    assert_eq!(c.commits_since(mark, 0), [1, 1], "two persist intervals");
    assert!(c.deliveries().is_empty());
}

#[test]
fn retry_later_sends_back_only_the_messages_after_the_acked_ones() {
    let batched = ConsumerConfig {
        consume_batch_size: 3,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), batched);
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let d = c.deliveries();
    let retry = ConsumeResult::RetryLater {
        acked: 1,
        delay_level: 0,
    };
    c.ack(&d[0], retry);
    let sent_back: Vec<i64> = c
        .sent(request_code::CONSUMER_SEND_MSG_BACK)
        .iter()
        .map(|b| {
            b.header::<ConsumerSendMsgBackRequestHeader>()
                .unwrap()
                .offset
        })
        .collect();
    assert_eq!(
        sent_back,
        [commit_log_offset(0, 1), commit_log_offset(0, 2)]
    );
}

#[test]
fn a_failed_send_back_sends_the_message_itself_to_the_retry_topic() {
    let mut b = committed_at_zero(&[ME]);
    b.send_back_code = response_code::SYSTEM_ERROR;
    let mut c = Cluster::start(b, config());
    c.publish(TOPIC, 0, &["a"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::RETRY);
    let sends = c.sent(request_code::SEND_MESSAGE);
    assert_eq!(sends.len(), 1, "one retry send");
    let h: SendMessageRequestHeader = sends[0].header().unwrap();
    assert_eq!(h.topic, RETRY);
    assert_eq!(h.reconsume_times, Some(1));
    assert_eq!(h.max_reconsume_times, Some(16));
    let props = Properties::decode(h.properties.as_deref().unwrap_or_default().as_bytes());
    assert_eq!(props.get("RETRY_TOPIC"), Some(TOPIC));
    assert_eq!(props.get("RECONSUME_TIME"), Some("1"));
    assert_eq!(props.get("MAX_RECONSUME_TIMES"), Some("16"));
    assert_eq!(props.get("DELAY"), Some("3"), "3 + reconsume times");
    assert_eq!(
        props.get("ORIGIN_MESSAGE_ID"),
        Some(&*uniq_key(TOPIC, 0, 0))
    );
    assert_eq!(props.get("TAGS"), Some("a"));
    assert_eq!(&sends[0].body[..], b"body-0");
    // The broker took it: the queue commits past it, nothing comes again.
    let mark = c.mark();
    c.advance(10 * SEC);
    assert_eq!(c.commits_since(mark, 0).last(), Some(&1));
    assert!(c.deliveries().is_empty());
}

#[test]
fn a_send_back_is_given_five_seconds_before_the_message_is_sent_to_the_retry_topic() {
    let mut b = committed_at_zero(&[ME]);
    b.hold_send_backs = true;
    let mut c = Cluster::start(b, config());
    c.publish(TOPIC, 0, &["a"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::RETRY);
    c.advance(Duration::from_millis(4_999));
    assert!(
        c.sent(request_code::SEND_MESSAGE).is_empty(),
        "no second copy while the broker may still take the first (3 s is the request timeout)"
    );
    c.advance(Duration::from_millis(1));
    assert_eq!(
        c.sent(request_code::SEND_MESSAGE).len(),
        1,
        "the fallback at 5 s"
    );
}

#[test]
fn a_message_whose_send_back_and_retry_send_failed_is_delivered_again_after_the_local_retry_delay()
{
    let mut b = committed_at_zero(&[ME]);
    b.send_back_code = response_code::SYSTEM_ERROR;
    b.retry_send_code = response_code::SYSTEM_ERROR;
    let mut c = Cluster::start(b, config());
    c.publish(TOPIC, 0, &["a"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::RETRY);
    c.advance(Duration::from_millis(4_999));
    assert!(c.deliveries().is_empty());
    c.advance(Duration::from_millis(1));
    let again = c.deliveries();
    assert_eq!(offsets(&again), [0], "redelivered after 5 s");
    assert_ne!(again[0].id, d[0].id);
    assert_eq!(
        again[0].messages[0].reconsume_times, 1,
        "counted as one more reconsumption, as Java counts it"
    );
    // Still unacknowledged: the offset stays on it.
    assert!(c.commits_since(0, 0).iter().all(|&o| o == 0));
    c.ack(&again[0], ConsumeResult::Success);
    let mark = c.mark();
    c.advance(5 * SEC);
    assert_eq!(c.commits_since(mark, 0), [1]);
}

// ----- shutdown ----------------------------------------------------------------------

#[test]
fn shutdown_commits_offsets_and_does_not_wait_for_long_polls() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.publish(TOPIC, 0, &["a", "b"]);
    for d in c.deliveries() {
        c.ack(&d, ConsumeResult::Success);
    }
    let mark = c.mark();
    c.net.shutdown(c.node);
    assert_eq!(
        c.commits_since(mark, 0),
        [2, 2],
        "the last commit goes twice, the second after the first was answered"
    );
    let unregister = c.net.seen[mark..]
        .iter()
        .position(|(_, cmd)| cmd.code == request_code::UNREGISTER_CLIENT)
        .expect("unregistered");
    let commit = c.net.seen[mark..]
        .iter()
        .position(|(_, cmd)| cmd.code == request_code::UPDATE_CONSUMER_OFFSET)
        .unwrap();
    assert!(
        commit < unregister,
        "offsets committed before unregistering"
    );
    assert!(
        c.net.is_shut_down(c.node),
        "closed at once: the held pulls were cancelled"
    );
    assert!(c.pulls_since(mark, TOPIC, 0).is_empty());
}

#[test]
fn nothing_is_pulled_or_delivered_after_shutdown() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    c.net.shutdown(c.node);
    let mark = c.mark();
    c.broker().store(TOPIC, 0, &["a"]);
    c.advance(60 * SEC);
    assert!(c.sent_since(mark, request_code::PULL_MESSAGE).is_empty());
    assert!(c.deliveries().is_empty());
}

// ----- broker requests ----------------------------------------------------------------

fn running_info_request(group: &str, opaque: i32) -> RemotingCommand {
    let mut r = RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO, opaque);
    r.ext_fields.insert("consumerGroup", group);
    r.ext_fields.insert("clientId", ME);
    r
}

#[test]
fn running_info_for_another_group_is_answered_not_supported_exactly_once() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    assert!(c
        .net
        .peer_sends(c.node, BROKER, &running_info_request("other", 71)));
    assert_eq!(
        c.responses(),
        [(71, response_code::REQUEST_CODE_NOT_SUPPORTED)]
    );
}

#[test]
fn running_info_for_its_own_group_lists_the_owned_queues() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    assert!(c
        .net
        .peer_sends(c.node, BROKER, &running_info_request(GROUP, 72)));
    assert_eq!(c.responses(), [(72, response_code::SUCCESS)]);
    let answer = c
        .net
        .seen
        .iter()
        .find(|(_, cmd)| cmd.is_response() && cmd.opaque == 72)
        .map(|(_, cmd)| String::from_utf8(cmd.body.to_vec()).unwrap())
        .unwrap();
    assert!(answer.contains("\"mqTable\":{"), "{answer}");
    for q in 4..QUEUES {
        let entry = format!(r#""queueId":{q},"topic":"orders""#);
        assert!(answer.contains(&entry), "queue {q} listed: {answer}");
    }
    assert!(
        !answer.contains(r#""queueId":3,"topic":"orders""#),
        "{answer}"
    );
    assert!(answer.contains(r#""subString":"*""#), "{answer}");
}

/// Bug A: a pull still in flight when its queue was dropped is applied to
/// the queue taken again later (the op is keyed by the queue, not by the
/// queue's incarnation): its messages are delivered twice and two pulls
/// run on one queue.
#[test]
fn a_pull_answered_after_its_queue_was_dropped_and_taken_again_is_ignored() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    // Queue 6 has a long poll held at offset 0. A member joins and leaves
    // within the suspend time: queue 6 is dropped, then taken again, and
    // its new owner (us again) holds a second long poll at offset 0.
    c.members_change(&[A, ME, C]);
    assert!(!c.owned(TOPIC).contains(&6));
    c.members_change(&[A, ME]);
    assert!(c.owned(TOPIC).contains(&6));
    assert_eq!(
        c.broker()
            .held
            .iter()
            .filter(|p| p.ext_fields.get("queueId") == Some("6"))
            .count(),
        2
    );
    // A message arrives: the broker wakes both suspended pulls.
    c.publish(TOPIC, 6, &["a"]);
    assert_eq!(offsets(&c.deliveries()), [0], "delivered once");
    let held_for_6 = c
        .broker()
        .held
        .iter()
        .filter(|p| p.ext_fields.get("queueId") == Some("6"))
        .count();
    assert_eq!(held_for_6, 1, "one pull in flight per queue");
}

/// Bug B: a queue paused by flow control issues no pull, so `last_pull`
/// stops moving and the watchdog (pull_max_idle, 120 s) takes it for a
/// lost pull: it is dropped and taken again, and every message the slow
/// handler still holds is delivered a second time (its acks are ignored).
/// Java stamps lastPullTimestamp at the top of pullMessage, before the
/// flow-control check, so a paused queue is never "idle".
#[test]
fn a_queue_paused_by_flow_control_is_not_mistaken_for_an_idle_one() {
    let small = ConsumerConfig {
        pull_threshold_for_queue: 2,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), small);
    c.publish(TOPIC, 0, &["a", "b", "c", "d", "e"]);
    let delivered = c.deliveries();
    assert_eq!(delivered.len(), 5);
    // The handler is slow: 150 s for these five.
    c.advance(150 * SEC);
    assert!(c.deliveries().is_empty(), "nothing delivered twice");
    for d in &delivered {
        c.ack(d, ConsumeResult::Success);
    }
    let last = c.pulls(TOPIC, 0).pop().unwrap();
    assert_eq!(last.queue_offset, 5, "pulling resumes after the five");
}

/// Bug C: once a queue has had a message, its commit point is "one past
/// the highest message ever cached", even when the process queue is empty
/// and the broker has moved nextBeginOffset past messages the
/// subscription filtered out (PULL_NOT_FOUND / PULL_RETRY_IMMEDIATELY).
/// The committed offset then lags for ever: the broker reports a growing
/// lag, and a new owner re-reads everything since. Java's
/// correctTagsOffset commits nextOffset when the process queue is empty.
#[test]
fn an_empty_queue_commits_the_offset_the_broker_moved_past_filtered_messages() {
    let mut c = Cluster::start_subscribed(committed_at_zero(&[ME]), config(), "TagA");
    c.publish(TOPIC, 0, &["TagA"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::Success);
    // Offsets 1..10 hold only TagB: the broker filters them and answers the
    // held pull PULL_NOT_FOUND with nextBeginOffset 10.
    c.broker().skip_to.insert(key(TOPIC, 0), 10);
    c.wake(TOPIC, 0);
    assert_eq!(c.pulls(TOPIC, 0).pop().unwrap().queue_offset, 10);
    c.advance(5 * SEC);
    // By UPDATE_CONSUMER_OFFSET or by the pull's commitOffset, either way.
    assert_eq!(c.broker().offsets[&key(TOPIC, 0)], 10);
}

// ----- consume timeout -----------------------------------------------------------------

#[test]
fn a_delivery_held_past_the_consume_timeout_is_sent_back_with_delay_level_3() {
    let mut cfg = config();
    cfg.consume_timeout = Duration::from_secs(60);
    let mut c = Cluster::start(committed_at_zero(&[ME]), cfg);
    c.publish(TOPIC, 0, &["slow"]);
    let d = c.deliveries();
    assert_eq!(offsets(&d), [0]);
    c.advance(Duration::from_secs(55));
    assert!(
        c.sent(request_code::CONSUMER_SEND_MSG_BACK).is_empty(),
        "not before the timeout"
    );
    let mark = c.mark();
    c.advance(Duration::from_secs(10));
    let backs = c.sent(request_code::CONSUMER_SEND_MSG_BACK);
    assert_eq!(backs.len(), 1, "sent back once");
    assert_eq!(backs[0].ext_fields.get("delayLevel"), Some("3"));
    // The broker took it: the offset moves past it, and the late result
    // of the handler changes nothing.
    c.advance(5 * SEC);
    assert_eq!(
        c.commits_since(mark, 0),
        [0, 1, 1],
        "held at 0 while the message was out, past it once sent back"
    );
    c.ack(&d[0], ConsumeResult::RETRY);
    assert_eq!(c.sent(request_code::CONSUMER_SEND_MSG_BACK).len(), 1);
}

// ----- orderly -----------------------------------------------------------------------

fn orderly() -> ConsumerConfig {
    ConsumerConfig {
        orderly: true,
        ..config()
    }
}

/// LOCK_BATCH_MQ requests since `mark`, as the sets of queue ids they ask for.
fn lock_requests(c: &Cluster, mark: usize) -> Vec<Vec<i32>> {
    c.sent_since(mark, request_code::LOCK_BATCH_MQ)
        .iter()
        .map(|cmd| {
            let text = String::from_utf8_lossy(&cmd.body).replace("mqSet", "lockOKMQSet");
            LockBatchResponseBody::parse(text.as_bytes())
                .unwrap()
                .lock_ok_mq_set
                .iter()
                .filter(|q| q.topic == TOPIC)
                .map(|q| q.queue_id)
                .collect()
        })
        .collect()
}

#[test]
fn orderly_queues_are_locked_before_they_are_pulled() {
    let c = Cluster::start(committed_at_zero(&[ME]), orderly());
    let first_lock = c
        .net
        .seen
        .iter()
        .position(|(_, cmd)| cmd.code == request_code::LOCK_BATCH_MQ)
        .expect("locked");
    let first_pull = c
        .net
        .seen
        .iter()
        .position(|(_, cmd)| cmd.code == request_code::PULL_MESSAGE)
        .expect("pulled");
    assert!(first_lock < first_pull);
}

#[test]
fn orderly_locks_are_renewed_every_lock_renew_interval_between_rebalances() {
    let config = ConsumerConfig {
        rebalance_interval: Duration::from_secs(600),
        ..orderly()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    let mark = c.mark();
    c.advance(Duration::from_millis(19_999));
    assert!(lock_requests(&c, mark).is_empty());
    c.advance(Duration::from_millis(1));
    assert_eq!(lock_requests(&c, mark), [(0..QUEUES).collect::<Vec<_>>()]);
    c.advance(20 * SEC);
    assert_eq!(lock_requests(&c, mark).len(), 2);
}

#[test]
fn a_queue_the_broker_will_not_lock_is_neither_pulled_nor_consumed() {
    let mut b = committed_at_zero(&[ME]);
    b.lock_refused.push(key(TOPIC, 2));
    let c = Cluster::start(b, orderly());
    assert!(c.pulls(TOPIC, 2).is_empty());
    assert_eq!(c.pulls(TOPIC, 1).len(), 1);
}

#[test]
fn a_lock_the_broker_takes_back_stops_consumption_of_that_queue() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), orderly());
    c.broker().lock_refused.push(key(TOPIC, 0));
    c.advance(20 * SEC); // the renewal is refused for queue 0
    c.publish(TOPIC, 0, &["a"]);
    c.publish(TOPIC, 1, &["b"]);
    let delivered: Vec<i32> = c.deliveries().iter().map(|d| d.queue.queue_id).collect();
    assert_eq!(delivered, [1], "queue 0 is not ours to consume now");
}

#[test]
fn an_orderly_queue_dropped_while_its_batch_is_with_the_handler_is_unlocked_after_the_batch() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), orderly());
    c.publish(TOPIC, 6, &["a"]);
    let d = c.deliveries();
    assert_eq!(d.len(), 1);
    let mark = c.mark();
    let unlocks_of_6 = |c: &Cluster| {
        c.sent_since(mark, request_code::UNLOCK_BATCH_MQ)
            .iter()
            .filter(|u| String::from_utf8_lossy(&u.body).contains(r#""queueId":6"#))
            .count()
    };
    c.members_change(&[A, ME, C]); // queues 6 and 7 go to C
    assert_eq!(
        unlocks_of_6(&c),
        0,
        "not while its batch is with the handler"
    );
    c.ack(&d[0], ConsumeResult::Success);
    assert_eq!(unlocks_of_6(&c), 1);
    assert_eq!(
        c.commits_since(mark, 6).last(),
        Some(&1),
        "committed past it first"
    );
    assert!(!c.owned(TOPIC).contains(&6));
}

/// Queue ids of `TOPIC` in the UNLOCK_BATCH_MQ requests since `mark`.
fn unlocked_since(c: &Cluster, mark: usize) -> Vec<i32> {
    c.sent_since(mark, request_code::UNLOCK_BATCH_MQ)
        .iter()
        .flat_map(|cmd| {
            let text = String::from_utf8_lossy(&cmd.body).replace("mqSet", "lockOKMQSet");
            LockBatchResponseBody::parse(text.as_bytes())
                .unwrap()
                .lock_ok_mq_set
                .into_iter()
                .filter(|q| q.topic == TOPIC)
                .map(|q| q.queue_id)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Issue #10 (sim seed 95): a queue another member held locked for 140 s
/// was never pulled meanwhile; when its lock finally came, the watchdog
/// of the next rebalance, with the offset lookup still in flight, took
/// the 140 s since the queue was taken for a lost pull and dropped it,
/// leaving it unowned. Java re-stamps the pull time every 3 s while a
/// queue waits for its lock, so the idle clock starts at the lock.
#[test]
fn an_orderly_queue_whose_lock_comes_late_is_not_dropped_as_idle_by_the_next_rebalance() {
    let config = ConsumerConfig {
        rebalance_interval: Duration::from_secs(600),
        ..orderly()
    };
    let mut b = committed_at_zero(&[ME]);
    b.lock_refused.push(key(TOPIC, 2));
    let mut c = Cluster::start(b, config);
    c.advance(130 * SEC);
    assert!(c.pulls(TOPIC, 2).is_empty(), "not ours to pull yet");
    // The other holder's lock lapses; the renewal at 140 s takes it, and
    // the offset lookup is slow to come back.
    {
        let mut broker = c.broker();
        broker.lock_refused.clear();
        broker.hold_queries = true;
    }
    c.advance(10 * SEC);
    assert_eq!(
        c.broker().held_queries.len(),
        1,
        "queue 2's offset asked for"
    );
    let mark = c.mark();
    c.members_change(&[ME]); // a rebalance, and its watchdog, now
    assert!(unlocked_since(&c, mark).is_empty(), "not dropped");
    assert!(c.owned(TOPIC).contains(&2));
    // The lookup comes back: queue 2 is pulled from its offset.
    let held = std::mem::take(&mut c.broker().held_queries);
    c.broker().hold_queries = false;
    c.answer_held(held);
    assert_eq!(c.pulls_since(mark, TOPIC, 2).len(), 1);
}

/// A queue dropped before the broker granted its lock is unlocked all the
/// same (Java unlocks every dropped orderly queue): a grant still in
/// flight would otherwise hold the queue from its next owner for the
/// broker's lock expiry (60 s). The broker ignores an unlock from a
/// client that does not hold the lock.
#[test]
fn an_orderly_queue_dropped_without_its_lock_granted_is_unlocked_all_the_same() {
    let mut b = committed_at_zero(&[A, ME]);
    b.lock_refused.push(key(TOPIC, 6));
    let mut c = Cluster::start(b, orderly());
    assert!(c.owned(TOPIC).contains(&6));
    let mark = c.mark();
    c.members_change(&[A, ME, C]); // queues 6 and 7 go to C
    assert!(!c.owned(TOPIC).contains(&6));
    let mut unlocked = unlocked_since(&c, mark);
    unlocked.sort();
    unlocked.dedup(); // sent again after a lock in flight, see below
    assert_eq!(unlocked, [6, 7]);
}

/// The broker handles LOCK_BATCH_MQ and UNLOCK_BATCH_MQ on a thread pool,
/// so an unlock sent while a lock of the same queue is in flight may be
/// handled first and the lock then kept for its 60 s expiry (seen against
/// 5.5.0 and 4.9.7: a new member of an orderly group waited ~55 s for its
/// queues). The unlock is sent again once the lock is answered.
#[test]
fn an_orderly_queue_dropped_while_its_lock_is_in_flight_is_unlocked_again_once_the_lock_is_answered(
) {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), orderly());
    assert!(c.owned(TOPIC).contains(&6));
    c.broker().hold_locks = true;
    c.advance(Duration::from_secs(20)); // the lock renewal goes out, unanswered
    assert!(!c.broker().held_locks.is_empty());
    let mark = c.mark();
    c.members_change(&[A, ME, C]); // queues 6 and 7 go to C
    let mut unlocked = unlocked_since(&c, mark);
    unlocked.sort();
    assert_eq!(unlocked, [6, 7], "unlocked at once");
    let held = std::mem::take(&mut c.broker().held_locks);
    c.broker().hold_locks = false;
    c.answer_held(held);
    let mut unlocked = unlocked_since(&c, mark);
    unlocked.sort();
    assert_eq!(unlocked, [6, 6, 7, 7], "and again after the lock's answer");
    assert!(
        !c.owned(TOPIC).contains(&6),
        "not taken back by the late grant"
    );
}

#[test]
fn an_orderly_queue_yields_for_a_moment_after_consuming_continuously_for_the_max_time() {
    let config = ConsumerConfig {
        orderly_max_continuous: Duration::from_secs(60),
        ..orderly()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let first = c.deliveries();
    c.advance(Duration::from_secs(61)); // a slow handler
    c.ack(&first[0], ConsumeResult::Success);
    assert!(c.deliveries().is_empty(), "yields");
    c.advance(Duration::from_millis(10));
    assert_eq!(offsets(&c.deliveries()), [1], "and goes on 10 ms later");
}

#[test]
fn orderly_retry_later_suspends_the_queue_and_retries_the_same_batch() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), orderly());
    c.publish(TOPIC, 0, &["a", "b"]);
    let d = c.deliveries();
    assert_eq!(offsets(&d), [0]);
    c.ack(&d[0], ConsumeResult::RETRY);
    c.advance(Duration::from_millis(999));
    assert!(c.deliveries().is_empty());
    c.advance(Duration::from_millis(1));
    let again = c.deliveries();
    assert_eq!(offsets(&again), [0], "the same message, not the next");
    assert_eq!(again[0].messages[0].reconsume_times, 1);
}

#[test]
fn orderly_past_max_reconsume_times_sends_a_plain_message_to_the_retry_topic() {
    let config = ConsumerConfig {
        orderly_max_reconsume_times: Some(1),
        ..orderly()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.publish(TOPIC, 0, &["a", "b"]);
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::RETRY);
    c.advance(SEC);
    let again = c.deliveries();
    c.ack(&again[0], ConsumeResult::RETRY);
    assert!(c.sent(request_code::CONSUMER_SEND_MSG_BACK).is_empty());
    let sends = c.sent(request_code::SEND_MESSAGE);
    assert_eq!(sends.len(), 1);
    let h: SendMessageRequestHeader = sends[0].header().unwrap();
    assert_eq!((h.topic.as_str(), h.reconsume_times), (RETRY, Some(2)));
    assert_eq!(h.max_reconsume_times, Some(1), "past it: the broker's DLQ");
    // Taken: the queue goes on with the next message.
    assert_eq!(offsets(&c.deliveries()), [1]);
}

// ----- broker requests ---------------------------------------------------------------

/// A CONSUME_MESSAGE_DIRECTLY request carrying message `offset` of queue 0.
fn consume_directly_request(opaque: i32) -> RemotingCommand {
    let mut r = RemotingCommand::request(request_code::CONSUME_MESSAGE_DIRECTLY, opaque);
    r.ext_fields.insert("consumerGroup", GROUP);
    r.ext_fields.insert("clientId", ME);
    r.ext_fields.insert("brokerName", BROKER_NAME);
    r.ext_fields.insert("msgId", uniq_key(TOPIC, 0, 5));
    let stored = Stored {
        offset: 5,
        tag: "x".into(),
        body: "direct".into(),
        extra: Vec::new(),
    };
    let mut body = Vec::new();
    encode_stored(&mut body, TOPIC, 0, &stored);
    r.body = body.into();
    r
}

fn response_body(c: &Cluster, opaque: i32) -> Option<String> {
    c.net
        .seen
        .iter()
        .find(|(_, cmd)| cmd.is_response() && cmd.opaque == opaque)
        .map(|(_, cmd)| String::from_utf8(cmd.body.to_vec()).unwrap())
}

#[test]
fn consume_message_directly_hands_the_message_to_the_handler_and_answers_its_result() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    assert!(c
        .net
        .peer_sends(c.node, BROKER, &consume_directly_request(81)));
    let d = c.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(&d[0].messages[0].body()[..], b"direct");
    assert!(
        response_body(&c, 81).is_none(),
        "answered once the handler is done"
    );
    c.advance(Duration::from_millis(7));
    c.ack(&d[0], ConsumeResult::Success);
    let answer = response_body(&c, 81).unwrap();
    assert!(
        answer.contains(r#""consumeResult":"CR_SUCCESS""#),
        "{answer}"
    );
    assert!(answer.contains(r#""spentTimeMills":7"#), "{answer}");
    assert_eq!(c.responses(), [(81, response_code::SUCCESS)]);
    // Outside any queue: no commit moves, nothing is sent back.
    c.advance(5 * SEC);
    assert!(c.commits_since(0, 0).iter().all(|&o| o == 0));
}

#[test]
fn consume_message_directly_answers_cr_later_for_retry_later() {
    let mut c = Cluster::start(committed_at_zero(&[ME]), config());
    assert!(c
        .net
        .peer_sends(c.node, BROKER, &consume_directly_request(82)));
    let d = c.deliveries();
    c.ack(&d[0], ConsumeResult::RETRY);
    assert!(response_body(&c, 82)
        .unwrap()
        .contains(r#""consumeResult":"CR_LATER""#));
    assert!(c.sent(request_code::CONSUMER_SEND_MSG_BACK).is_empty());
}

#[test]
fn consumer_status_lists_the_commit_offset_of_each_owned_queue_of_the_topic() {
    let mut c = Cluster::start(committed_at_zero(&[A, ME]), config());
    c.publish(TOPIC, 5, &["a", "b"]);
    for d in c.deliveries() {
        c.ack(&d, ConsumeResult::Success);
    }
    let mut r = RemotingCommand::request(request_code::GET_CONSUMER_STATUS_FROM_CLIENT, 83);
    r.ext_fields.insert("group", GROUP);
    r.ext_fields.insert("topic", TOPIC);
    assert!(c.net.peer_sends(c.node, BROKER, &r));
    let answer = response_body(&c, 83).unwrap();
    assert!(
        answer.contains(r#"{"brokerName":"broker-a","queueId":5,"topic":"orders"}:2"#),
        "{answer}"
    );
    assert!(
        answer.contains(r#""queueId":4,"topic":"orders"}:0"#),
        "{answer}"
    );
    assert!(
        !answer.contains(r#""queueId":3,"#),
        "only owned queues: {answer}"
    );
}

#[test]
fn running_info_carries_the_properties_java_admin_tools_read() {
    let config = ConsumerConfig {
        handler_threads: 7,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    assert!(c
        .net
        .peer_sends(c.node, BROKER, &running_info_request(GROUP, 84)));
    let answer = response_body(&c, 84).unwrap();
    for expected in [
        r#""PROP_CONSUME_TYPE":"CONSUME_PASSIVELY""#,
        r#""PROP_CONSUMEORDERLY":"false""#,
        r#""PROP_THREADPOOL_CORE_SIZE":"7""#,
        r#""PROP_CONSUMER_START_TIMESTAMP":"1""#,
        r#""PROP_NAMESERVER_ADDR":"ns:9876""#,
        r#""PROP_CLIENT_VERSION":"rmq-"#,
        r#""statusTable":{"%RETRY%cg":{"consumeFailedMsgs":0"#,
        r#""cachedMsgCount":0"#,
    ] {
        assert!(answer.contains(expected), "{expected} in {answer}");
    }
}

// ----- triggers, flow control, start points -----------------------------------------

#[test]
fn a_broker_connected_again_after_a_loss_triggers_a_rebalance_at_once() {
    let config = ConsumerConfig {
        rebalance_interval: Duration::from_secs(600),
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.broker().members = vec![A.into(), ME.into()];
    let mark = c.mark();
    assert!(c.net.drop_connection(c.node, BROKER));
    // The next request to the broker opens a new connection: pulls retry
    // after their backoff.
    c.advance(Duration::from_secs(3));
    assert!(!c
        .sent_since(mark, request_code::GET_CONSUMER_LIST_BY_GROUP)
        .is_empty());
    assert_eq!(
        c.owned(TOPIC),
        [4, 5, 6, 7],
        "the broker's new view, long before 600 s"
    );
}

#[test]
fn pulls_pause_while_the_queue_caches_more_bytes_than_its_size_threshold() {
    let config = ConsumerConfig {
        pull_threshold_size_for_queue: 10,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.publish(TOPIC, 0, &["a", "b"]); // two 6-byte bodies
    let held = c.deliveries();
    let mark = c.mark();
    c.advance(SEC);
    assert!(
        c.pulls_since(mark, TOPIC, 0).is_empty(),
        "12 bytes > 10: paused"
    );
    c.ack(&held[0], ConsumeResult::Success);
    assert_eq!(c.pulls_since(mark, TOPIC, 0).len(), 1, "6 bytes: resumed");
}

#[test]
fn concurrent_pulls_pause_while_the_cached_offsets_span_more_than_the_max_span() {
    let config = ConsumerConfig {
        max_offset_span: 2,
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.publish(TOPIC, 0, &["a", "b", "c", "d"]);
    let held = c.deliveries();
    // Offsets 1..=3 acked, 0 still out: span 3 > 2.
    for d in &held[1..] {
        c.ack(d, ConsumeResult::Success);
    }
    let mark = c.mark();
    c.advance(SEC);
    assert!(c.pulls_since(mark, TOPIC, 0).is_empty());
}

#[test]
fn a_topic_limit_is_shared_evenly_by_the_topics_owned_queues() {
    let config = ConsumerConfig {
        pull_threshold_for_topic: Some(16), // 8 queues: 2 each
        ..config()
    };
    let mut c = Cluster::start(committed_at_zero(&[ME]), config);
    c.publish(TOPIC, 0, &["a", "b", "c"]);
    let _held = c.deliveries();
    let mark = c.mark();
    c.advance(SEC);
    assert!(c.pulls_since(mark, TOPIC, 0).is_empty(), "3 cached > 2");
}

#[test]
fn a_new_group_consuming_from_half_an_hour_ago_searches_the_queue_by_that_time() {
    let mut b = Broker::with_members(&[ME]);
    b.search_offset = 42;
    let config = ConsumerConfig {
        consume_from: ConsumeFrom::HalfHourAgo,
        ..config()
    };
    let c = Cluster::start(b, config);
    let searches = c.sent(request_code::SEARCH_OFFSET_BY_TIMESTAMP);
    assert_eq!(searches.len(), QUEUES as usize, "every queue of the topic");
    // The consumer started at wall clock 1 ms (the scenario's version).
    let at: i64 = searches[0]
        .ext_fields
        .get("timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(at, 1 - 30 * 60 * 1000);
    assert_eq!(c.pulls(TOPIC, 0)[0].queue_offset, 42);
    // The retry topic starts at its end for a timestamp group.
    assert!(!c.sent(request_code::GET_MAX_OFFSET).is_empty());
}

#[test]
fn a_query_error_other_than_not_found_skips_the_queue_for_that_round() {
    let mut b = Broker::with_members(&[ME]);
    b.query_error = Some(response_code::SYSTEM_ERROR);
    let mut c = Cluster::start(b, config());
    assert!(c.pulls(TOPIC, 0).is_empty(), "no default start on an error");
    c.broker().query_error = None;
    c.broker().offsets.insert(key(TOPIC, 0), 3);
    c.advance(SEC); // the incomplete round is tried again after 1 s
    assert_eq!(c.pulls(TOPIC, 0)[0].queue_offset, 3);
}

#[test]
fn a_lite_pull_consumer_announces_itself_as_consuming_actively() {
    let config = ConsumerConfig {
        consume_type: ConsumeType::ConsumeActively,
        ..config()
    };
    let c = Cluster::start(committed_at_zero(&[ME]), config);
    let hb = c.sent(request_code::HEART_BEAT);
    let body = String::from_utf8_lossy(&hb[0].body);
    assert!(
        body.contains(r#""consumeType":"CONSUME_ACTIVELY""#),
        "{body}"
    );
}

#[test]
fn a_topic_without_a_route_yet_is_looked_up_again_after_a_second_not_a_round() {
    // The retry topic exists only once the broker had the group's first
    // heartbeat: its first route query finds nothing.
    let mut b = committed_at_zero(&[ME]);
    b.unrouted.push(RETRY.into());
    let mut c = Cluster::start(b, config());
    assert!(c.owned(RETRY).is_empty());
    c.broker().unrouted.clear();
    c.advance(SEC);
    assert_eq!(c.owned(RETRY), [0], "owned a second later, not after 20 s");
}

#[test]
fn an_assigned_queue_of_a_topic_not_routed_yet_is_owned_a_second_after_its_route_appears() {
    // A topic a producer created a moment ago: the name server may not
    // route it yet when the lite pull consumer first asks.
    let mut b = committed_at_zero(&[ME]);
    b.unrouted.push(TOPIC.into());
    let config = ConsumerConfig {
        consume_type: ConsumeType::ConsumeActively,
        ..config()
    };
    let mut c = Cluster::start_with(b, config, &[], |c| c.assign(vec![mq(TOPIC, 3)], 1));
    assert!(c.owned(TOPIC).is_empty());
    c.broker().unrouted.clear();
    c.advance(SEC);
    assert_eq!(c.owned(TOPIC), [3], "owned a second later, not after 20 s");
}
