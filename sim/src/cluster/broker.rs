//! The broker and name-server model: what a client can observe of Apache
//! RocketMQ over the wire. Topics with queues and offsets, long-polling
//! pulls, committed offsets (persisted every 5 s, so a crash loses the
//! latest), consumer groups rebuilt from heartbeats and channel closes with
//! NOTIFY_CONSUMER_IDS_CHANGED, queue locks that expire after 60 s,
//! send-back into `%RETRY%group` through the delay levels.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rmq_core::message::ext::MAGIC_V1;
use rmq_core::message::{property, Properties};
use rmq_core::protocol::json::{self, JsonValue};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::MessageQueue;
use rmq_core::time::Instant;

/// Identifies one simulated TCP connection.
pub type LinkId = u64;

/// The broker's delay levels (messageDelayLevel), in seconds.
const DELAY_LEVELS: [u64; 18] = [
    1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

/// How long a broker keeps a queue lock without renewal
/// (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const LOCK_LIVE: Duration = Duration::from_secs(60);

/// A client channel not heard from for this long is dropped
/// (`ClientHousekeepingService`: 120 s).
pub const CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

/// How often committed offsets reach disk (`flushConsumerOffsetInterval`).
pub const OFFSET_FLUSH: Duration = Duration::from_secs(5);

/// A stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its body (the simulation's message identity).
    pub body: Vec<u8>,
    /// Encoded properties.
    pub props: Properties,
    /// Born timestamp.
    pub born: i64,
    /// Reconsume times.
    pub reconsume: i32,
    /// Commit-log offset.
    pub commit_offset: i64,
}

/// Where a message lives: broker name, topic, queue, offset.
pub type Location = (String, String, i32, i64);

/// What the broker did that the invariant checker watches.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A message was stored.
    Stored {
        /// Where.
        at: Location,
        /// Its body.
        body: Vec<u8>,
    },
    /// A group committed `offset` for a queue.
    Committed {
        /// The group.
        group: String,
        /// The queue (broker, topic, queue, offset = committed).
        at: Location,
    },
    /// A group's failed message went to the retry topic (or the DLQ).
    TakenBack {
        /// The group.
        group: String,
        /// Where the failed message was.
        at: Location,
    },
    /// A message was sent straight to a group's retry topic (the
    /// consumer's fallback when CONSUMER_SEND_MSG_BACK failed).
    RetrySent {
        /// The group.
        group: String,
        /// Its body.
        body: Vec<u8>,
    },
    /// A group's member list on this broker changed.
    MembersChanged,
    /// A topic was created on this broker (a route change).
    TopicCreated,
}

/// A pull the broker holds (long polling).
#[derive(Debug)]
struct Held {
    link: LinkId,
    cmd: RemotingCommand,
    deadline: Instant,
}

/// One consumer group as this broker knows it.
#[derive(Debug, Default)]
struct Group {
    /// Member client ids with their channel and last heartbeat.
    members: BTreeMap<String, (LinkId, Instant)>,
    /// Topics the members' heartbeats subscribed to.
    topics: BTreeSet<String>,
}

/// One simulated broker.
#[derive(Debug)]
pub struct Broker {
    /// Broker name.
    pub name: String,
    /// Its address.
    pub addr: String,
    /// Accepting connections (registered with the name servers).
    pub up: bool,
    /// Frames wait until then (a GC pause, a stuck disk).
    pub paused_until: Option<Instant>,
    /// Topics with their queue counts.
    pub topics: BTreeMap<String, i32>,
    queues: BTreeMap<(String, i32), Vec<Stored>>,
    commit_log: BTreeMap<i64, (String, i32, i64)>,
    next_commit: i64,
    /// Committed offsets by (group, topic, queue).
    pub offsets: BTreeMap<(String, String, i32), i64>,
    flushed: BTreeMap<(String, String, i32), i64>,
    next_flush: Instant,
    groups: BTreeMap<String, Group>,
    locks: BTreeMap<(String, String, i32), (String, Instant)>,
    held: Vec<Held>,
    scheduled: Vec<(Instant, String, Stored)>,
    /// Frames to send: (link, command).
    pub out: Vec<(LinkId, RemotingCommand)>,
    /// Effects for the checker.
    pub effects: Vec<Effect>,
}

fn field<'a>(cmd: &'a RemotingCommand, k: &str) -> &'a str {
    cmd.ext_fields.get(k).unwrap_or_default()
}

fn num(cmd: &RemotingCommand, k: &str) -> i64 {
    field(cmd, k).parse().unwrap_or(-1)
}

impl Broker {
    /// A broker, down until started.
    pub fn new(name: &str, addr: &str) -> Self {
        Broker {
            name: name.into(),
            addr: addr.into(),
            up: false,
            paused_until: None,
            topics: BTreeMap::new(),
            queues: BTreeMap::new(),
            commit_log: BTreeMap::new(),
            next_commit: 0,
            offsets: BTreeMap::new(),
            flushed: BTreeMap::new(),
            next_flush: Instant::ZERO,
            groups: BTreeMap::new(),
            locks: BTreeMap::new(),
            held: Vec::new(),
            scheduled: Vec::new(),
            out: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// The broker process dies: what is only in memory is gone (channels,
    /// groups, locks, held pulls, offsets not yet flushed). Messages are
    /// flushed synchronously, the delay queue is on disk.
    pub fn crash(&mut self) {
        self.up = false;
        self.paused_until = None;
        self.groups.clear();
        self.locks.clear();
        self.held.clear();
        self.offsets = self.flushed.clone();
    }

    /// Messages of a queue.
    pub fn queue_len(&self, topic: &str, queue: i32) -> i64 {
        self.queues
            .get(&(topic.to_string(), queue))
            .map_or(0, |q| q.len() as i64)
    }

    /// Is `body` stored at (topic, queue, offset)?
    pub fn holds(&self, topic: &str, queue: i32, offset: i64, body: &[u8]) -> bool {
        self.queues
            .get(&(topic.to_string(), queue))
            .and_then(|q| q.get(usize::try_from(offset).ok()?))
            .is_some_and(|m| m.body == body)
    }

    /// Member ids of `group` as GET_CONSUMER_LIST_BY_GROUP lists them.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many members `group` has here.
    pub fn member_count(&self, group: &str) -> usize {
        self.groups.get(group).map_or(0, |g| g.members.len())
    }

    /// Is `client` a member of `group` here?
    pub fn is_member(&self, group: &str, client: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.members.contains_key(client))
    }

    /// The next instant housekeeping has work.
    pub fn next_due(&self) -> Option<Instant> {
        if !self.up {
            return None;
        }
        let held = self.held.iter().map(|h| h.deadline).min();
        let sched = self.scheduled.iter().map(|s| s.0).min();
        [held, sched, Some(self.next_flush)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Housekeeping at `now`: flush offsets, move due delayed messages to
    /// their queue, answer held pulls past their suspend time.
    pub fn tick(&mut self, now: Instant) {
        if now >= self.next_flush {
            self.flushed = self.offsets.clone();
            self.next_flush = now + OFFSET_FLUSH;
        }
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|s| s.0 <= now);
        self.scheduled = rest;
        for (_, topic, m) in due {
            self.topics.entry(topic.clone()).or_insert(1);
            self.append(&topic, 0, m, now);
        }
        let (expired, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.deadline <= now);
        self.held = rest;
        for h in expired {
            let offset = num(&h.cmd, "queueOffset");
            let r = pull_response(&h.cmd, response_code::PULL_NOT_FOUND, offset, offset);
            self.out.push((h.link, r));
        }
        // Channels not heard from for 120 s are closed.
        let mut changed = Vec::new();
        for (name, g) in &mut self.groups {
            let before = g.members.len();
            g.members
                .retain(|_, (_, seen)| now.saturating_duration_since(*seen) < CHANNEL_EXPIRY);
            if g.members.len() != before {
                changed.push(name.clone());
            }
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        for g in changed {
            self.notify(&g);
        }
    }

    /// The connection `link` closed: its consumers leave their groups
    /// (`doChannelCloseEvent`) and the others are told.
    pub fn link_closed(&mut self, link: LinkId) {
        self.held.retain(|h| h.link != link);
        let mut changed = Vec::new();
        for (name, g) in &mut self.groups {
            let before = g.members.len();
            g.members.retain(|_, (l, _)| *l != link);
            if g.members.len() != before {
                changed.push(name.clone());
            }
        }
        // The last member gone, the group and its subscriptions go too.
        self.groups.retain(|_, g| !g.members.is_empty());
        for g in changed {
            self.notify(&g);
        }
    }

    fn notify(&mut self, group: &str) {
        self.effects.push(Effect::MembersChanged);
        let Some(g) = self.groups.get(group) else {
            return;
        };
        for (link, _) in g.members.values() {
            let mut n = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 0)
                .into_oneway();
            n.ext_fields.insert("consumerGroup", group);
            self.out.push((*link, n));
        }
    }

    fn append(&mut self, topic: &str, queue: i32, mut m: Stored, now: Instant) -> i64 {
        let key = (topic.to_string(), queue);
        let q = self.queues.entry(key).or_default();
        let offset = q.len() as i64;
        m.commit_offset = self.next_commit;
        self.commit_log
            .insert(self.next_commit, (topic.to_string(), queue, offset));
        self.next_commit += 1;
        self.effects.push(Effect::Stored {
            at: (self.name.clone(), topic.to_string(), queue, offset),
            body: m.body.clone(),
        });
        q.push(m);
        self.wake(topic, queue, now);
        offset
    }

    fn wake(&mut self, topic: &str, queue: i32, now: Instant) {
        let qs = queue.to_string();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| field(&h.cmd, "topic") == topic && field(&h.cmd, "queueId") == qs);
        self.held = rest;
        for h in mine {
            if let Some(r) = self.pull(h.link, &h.cmd, now, false) {
                self.out.push((h.link, r));
            }
        }
    }

    /// Handles one request from `link`; the answer (if any now) goes to `out`.
    pub fn handle(&mut self, link: LinkId, cmd: &RemotingCommand, now: Instant) {
        let answer = self.answer(link, cmd, now);
        if let Some(mut r) = answer {
            r.opaque = cmd.opaque;
            if !cmd.is_oneway() {
                self.out.push((link, r));
            }
        }
    }

    fn answer(
        &mut self,
        link: LinkId,
        cmd: &RemotingCommand,
        now: Instant,
    ) -> Option<RemotingCommand> {
        let mut ok = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
        match cmd.code {
            request_code::HEART_BEAT => self.heartbeat(link, cmd, now),
            request_code::UNREGISTER_CLIENT => {
                let client = field(cmd, "clientID").to_string();
                let group = field(cmd, "consumerGroup").to_string();
                let removed = self
                    .groups
                    .get_mut(&group)
                    .is_some_and(|g| g.members.remove(&client).is_some());
                if removed {
                    self.notify(&group);
                }
            }
            request_code::SEND_MESSAGE | request_code::SEND_MESSAGE_V2 => {
                return Some(self.send(cmd, now));
            }
            request_code::PULL_MESSAGE => return self.pull(link, cmd, now, true),
            request_code::GET_CONSUMER_LIST_BY_GROUP => {
                let members = self.members(field(cmd, "consumerGroup"));
                if members.is_empty() {
                    ok.code = response_code::SYSTEM_ERROR;
                    ok.remark = Some("no consumer for this group".into());
                } else {
                    let ids: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
                    ok.body = format!("{{\"consumerIdList\":[{}]}}", ids.join(",")).into();
                }
            }
            request_code::QUERY_CONSUMER_OFFSET => {
                let key = (
                    field(cmd, "consumerGroup").to_string(),
                    field(cmd, "topic").to_string(),
                    num(cmd, "queueId") as i32,
                );
                // A young queue (min offset 0, still in memory) answers a
                // new group with 0 (both 4.9 and 5.x), unless asked not to.
                match self.offsets.get(&key) {
                    Some(offset) => ok.ext_fields.insert("offset", offset.to_string()),
                    None if field(cmd, "setZeroIfNotFound") == "false" => {
                        ok.code = response_code::QUERY_NOT_FOUND;
                    }
                    None => ok.ext_fields.insert("offset", "0"),
                }
            }
            request_code::UPDATE_CONSUMER_OFFSET => {
                let group = field(cmd, "consumerGroup").to_string();
                let topic = field(cmd, "topic").to_string();
                let queue = num(cmd, "queueId") as i32;
                self.commit(&group, &topic, queue, num(cmd, "commitOffset"));
            }
            request_code::GET_MAX_OFFSET => {
                let n = self.queue_len(field(cmd, "topic"), num(cmd, "queueId") as i32);
                ok.ext_fields.insert("offset", n.to_string());
            }
            request_code::GET_MIN_OFFSET | request_code::SEARCH_OFFSET_BY_TIMESTAMP => {
                ok.ext_fields.insert("offset", "0");
            }
            request_code::CONSUMER_SEND_MSG_BACK => return Some(self.send_back(cmd, now)),
            request_code::LOCK_BATCH_MQ => {
                let (group, client, mqs) = lock_body(&cmd.body)?;
                let mut granted = Vec::new();
                for mq in mqs {
                    let key = (group.clone(), mq.topic.clone(), mq.queue_id);
                    let free = match self.locks.get(&key) {
                        None => true,
                        Some((holder, until)) => *holder == client || *until <= now,
                    };
                    if free {
                        self.locks.insert(key, (client.clone(), now + LOCK_LIVE));
                        granted.push(format!(
                            r#"{{"brokerName":"{}","queueId":{},"topic":"{}"}}"#,
                            mq.broker_name, mq.queue_id, mq.topic
                        ));
                    }
                }
                ok.body = format!("{{\"lockOKMQSet\":[{}]}}", granted.join(",")).into();
            }
            request_code::UNLOCK_BATCH_MQ => {
                let (group, client, mqs) = lock_body(&cmd.body)?;
                for mq in mqs {
                    let key = (group.clone(), mq.topic.clone(), mq.queue_id);
                    if self.locks.get(&key).is_some_and(|(h, _)| *h == client) {
                        self.locks.remove(&key);
                    }
                }
            }
            _ => {}
        }
        Some(ok)
    }

    fn commit(&mut self, group: &str, topic: &str, queue: i32, offset: i64) {
        if offset < 0 {
            return;
        }
        self.offsets
            .insert((group.to_string(), topic.to_string(), queue), offset);
        self.effects.push(Effect::Committed {
            group: group.to_string(),
            at: (self.name.clone(), topic.to_string(), queue, offset),
        });
    }

    fn heartbeat(&mut self, link: LinkId, cmd: &RemotingCommand, now: Instant) {
        let Ok(root) = json::parse(&cmd.body) else {
            return;
        };
        let client = root
            .get("clientID")
            .and_then(JsonValue::as_str)
            .unwrap_or_default()
            .to_string();
        let consumers = root
            .get("consumerDataSet")
            .and_then(JsonValue::as_array)
            .unwrap_or_default();
        for c in consumers {
            let Some(group) = c.get("groupName").and_then(JsonValue::as_str) else {
                continue;
            };
            let clustering =
                c.get("messageModel").and_then(JsonValue::as_str) != Some("BROADCASTING");
            if clustering {
                // The broker creates the group's retry topic on its first heartbeat.
                let retry = format!("%RETRY%{group}");
                if let std::collections::btree_map::Entry::Vacant(e) = self.topics.entry(retry) {
                    e.insert(1);
                    self.effects.push(Effect::TopicCreated);
                }
            }
            let g = self.groups.entry(group.to_string()).or_default();
            let subs = c
                .get("subscriptionDataSet")
                .and_then(JsonValue::as_array)
                .unwrap_or_default();
            for sub in subs {
                if let Some(topic) = sub.get("topic").and_then(JsonValue::as_str) {
                    g.topics.insert(topic.to_string());
                }
            }
            let new = match g.members.insert(client.clone(), (link, now)) {
                None => true,
                Some((old, _)) => old != link,
            };
            if new {
                self.notify(group);
            }
        }
    }

    fn send(&mut self, cmd: &RemotingCommand, now: Instant) -> RemotingCommand {
        let v2 = cmd.code == request_code::SEND_MESSAGE_V2;
        let k = |long: &'static str, short: &'static str| if v2 { short } else { long };
        let topic = field(cmd, k("topic", "b")).to_string();
        let mut queue = num(cmd, k("queueId", "e")) as i32;
        let props = Properties::decode(field(cmd, k("properties", "i")).as_bytes());
        let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
        let Some(&count) = self.topics.get(&topic) else {
            r.code = response_code::TOPIC_NOT_EXIST;
            return r;
        };
        if queue < 0 || queue >= count {
            if !topic.starts_with("%RETRY%") {
                r.code = response_code::SYSTEM_ERROR;
                r.remark = Some(format!("queueId {queue} is illegal"));
                return r;
            }
            queue = 0;
        }
        let m = Stored {
            body: cmd.body.to_vec(),
            born: num(cmd, k("bornTimestamp", "g")),
            reconsume: field(cmd, k("reconsumeTimes", "j")).parse().unwrap_or(0),
            props,
            commit_offset: 0,
        };
        let delay: i64 = m
            .props
            .get(property::DELAY_TIME_LEVEL)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        if let Some(group) = topic.strip_prefix("%RETRY%") {
            self.effects.push(Effect::RetrySent {
                group: group.to_string(),
                body: m.body.clone(),
            });
        }
        if delay > 0 {
            // Parked in the delay queue: stored, not yet in its queue.
            let level = (delay as usize).min(DELAY_LEVELS.len());
            let due = now + Duration::from_secs(DELAY_LEVELS[level - 1]);
            self.scheduled.push((due, topic, m));
            r.ext_fields
                .insert("msgId", format!("{:032X}", self.next_commit));
            r.ext_fields.insert("queueId", queue.to_string());
            r.ext_fields.insert("queueOffset", "0");
            return r;
        }
        let offset = self.append(&topic, queue, m, now);
        r.ext_fields.insert(
            "msgId",
            format!("0A00000100002A9F{:016X}", self.next_commit - 1),
        );
        r.ext_fields.insert("queueId", queue.to_string());
        r.ext_fields.insert("queueOffset", offset.to_string());
        r
    }

    fn send_back(&mut self, cmd: &RemotingCommand, now: Instant) -> RemotingCommand {
        let mut r = RemotingCommand::response(response_code::SUCCESS, cmd.opaque);
        let group = field(cmd, "group").to_string();
        let Some((topic, queue, offset)) = self.commit_log.get(&num(cmd, "offset")).cloned() else {
            r.code = response_code::SYSTEM_ERROR;
            r.remark = Some("look message by offset failed".into());
            return r;
        };
        let orig = self.queues[&(topic.clone(), queue)][offset as usize].clone();
        let max: i32 = field(cmd, "maxReconsumeTimes").parse().unwrap_or(16);
        let mut level = num(cmd, "delayLevel");
        let mut m = Stored {
            body: orig.body.clone(),
            props: orig.props.clone(),
            born: orig.born,
            reconsume: orig.reconsume + 1,
            commit_offset: 0,
        };
        if !m.props.contains(property::RETRY_TOPIC) {
            m.props.insert(property::RETRY_TOPIC, topic.clone());
        }
        m.props
            .insert(property::ORIGIN_MESSAGE_ID, field(cmd, "originMsgId"));
        let to_dlq = orig.reconsume >= max || level < 0;
        if to_dlq {
            let dlq = format!("%DLQ%{group}");
            self.topics.entry(dlq.clone()).or_insert(1);
            self.append(&dlq, 0, m, now);
        } else {
            if level == 0 {
                level = 3 + i64::from(orig.reconsume);
            }
            let level = (level as usize).clamp(1, DELAY_LEVELS.len());
            let due = now + Duration::from_secs(DELAY_LEVELS[level - 1]);
            self.scheduled.push((due, format!("%RETRY%{group}"), m));
        }
        self.effects.push(Effect::TakenBack {
            group,
            at: (self.name.clone(), topic, queue, offset),
        });
        r
    }

    fn pull(
        &mut self,
        link: LinkId,
        cmd: &RemotingCommand,
        now: Instant,
        first: bool,
    ) -> Option<RemotingCommand> {
        let topic = field(cmd, "topic").to_string();
        let queue = num(cmd, "queueId") as i32;
        let offset = num(cmd, "queueOffset");
        let flag = num(cmd, "sysFlag");
        let group = field(cmd, "consumerGroup");
        // Without SUBSCRIPTION the broker filters by the heartbeat's
        // subscription: none yet (a broker just restarted) is an error.
        let subscribed = self
            .groups
            .get(group)
            .is_some_and(|g| g.topics.contains(&topic));
        if first && !subscribed && flag & 4 == 0 {
            let mut r =
                RemotingCommand::response(response_code::SUBSCRIPTION_NOT_EXIST, cmd.opaque);
            r.remark = Some(format!(
                "the consumer's subscription not exist, group: {group}"
            ));
            return Some(r);
        }
        if first && flag & 1 != 0 {
            let group = group.to_string();
            self.commit(&group, &topic, queue, num(cmd, "commitOffset"));
        }
        if self.topics.get(&topic).is_none_or(|&n| queue >= n) {
            return Some(pull_response(cmd, response_code::PULL_NOT_FOUND, offset, 0));
        }
        let len = self.queue_len(&topic, queue);
        if offset > len || offset < 0 {
            return Some(pull_response(
                cmd,
                response_code::PULL_OFFSET_MOVED,
                len,
                len,
            ));
        }
        if offset == len {
            if first && flag & 2 != 0 {
                let suspend = u64::try_from(num(cmd, "suspendTimeoutMillis")).unwrap_or(0);
                self.held.push(Held {
                    link,
                    cmd: cmd.clone(),
                    deadline: now + Duration::from_millis(suspend),
                });
                return None;
            }
            return Some(pull_response(
                cmd,
                response_code::PULL_NOT_FOUND,
                offset,
                len,
            ));
        }
        let max = num(cmd, "maxMsgNums").clamp(1, 32) as usize;
        let msgs = &self.queues[&(topic.clone(), queue)];
        let end = (offset as usize + max).min(msgs.len());
        let mut body = Vec::new();
        for (i, m) in msgs[offset as usize..end].iter().enumerate() {
            encode_stored(&mut body, &topic, queue, offset + i as i64, m);
        }
        let mut r = pull_response(cmd, response_code::SUCCESS, end as i64, len);
        r.body = body.into();
        Some(r)
    }
}

fn pull_response(cmd: &RemotingCommand, code: i32, next: i64, max: i64) -> RemotingCommand {
    let mut r = RemotingCommand::response(code, cmd.opaque);
    r.ext_fields.insert("nextBeginOffset", next.to_string());
    r.ext_fields.insert("minOffset", "0");
    r.ext_fields.insert("maxOffset", max.to_string());
    r.ext_fields.insert("suggestWhichBrokerId", "0");
    r
}

fn lock_body(body: &[u8]) -> Option<(String, String, Vec<MessageQueue>)> {
    let root = json::parse(body).ok()?;
    let group = root.get("consumerGroup")?.as_str()?.to_string();
    let client = root.get("clientId")?.as_str()?.to_string();
    let mqs = root
        .get("mqSet")?
        .as_array()?
        .iter()
        .filter_map(MessageQueue::from_json)
        .collect();
    Some((group, client, mqs))
}

/// Appends one stored-message record (V1, IPv4 hosts, uncompressed).
fn encode_stored(out: &mut Vec<u8>, topic: &str, queue: i32, offset: i64, m: &Stored) {
    let props = m.props.encode();
    let start = out.len();
    out.extend_from_slice(&0i32.to_be_bytes()); // total size, patched below
    out.extend_from_slice(&MAGIC_V1.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // body CRC (not checked)
    out.extend_from_slice(&queue.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // flag
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&m.commit_offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // sys flag
    out.extend_from_slice(&m.born.to_be_bytes());
    out.extend_from_slice(&[10, 0, 0, 7]);
    out.extend_from_slice(&50_000i32.to_be_bytes());
    out.extend_from_slice(&(m.born + 1).to_be_bytes()); // stored
    out.extend_from_slice(&[10, 0, 0, 1]);
    out.extend_from_slice(&10_911i32.to_be_bytes());
    out.extend_from_slice(&m.reconsume.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes()); // prepared transaction offset
    out.extend_from_slice(&(m.body.len() as i32).to_be_bytes());
    out.extend_from_slice(&m.body);
    out.push(topic.len() as u8);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(&(props.len() as u16).to_be_bytes());
    out.extend_from_slice(&props);
    let size = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// The name servers' route for `topic` from the brokers that are up and
/// carry it (a broker's registration goes with its channel).
pub fn route_answer(brokers: &[Broker], topic: &str, opaque: i32) -> RemotingCommand {
    let mut datas = Vec::new();
    let mut queues = Vec::new();
    let names: BTreeSet<&str> = brokers
        .iter()
        .filter(|b| b.up)
        .map(|b| b.name.as_str())
        .collect();
    for b in brokers
        .iter()
        .filter(|b| b.up && names.contains(b.name.as_str()))
    {
        let Some(n) = b.topics.get(topic) else {
            continue;
        };
        datas.push(format!(
            r#"{{"brokerAddrs":{{0:"{}"}},"brokerName":"{}","cluster":"c"}}"#,
            b.addr, b.name
        ));
        queues.push(format!(
            r#"{{"brokerName":"{}","perm":6,"readQueueNums":{n},"topicSysFlag":0,"writeQueueNums":{n}}}"#,
            b.name
        ));
    }
    let mut r = RemotingCommand::response(response_code::SUCCESS, opaque);
    if datas.is_empty() {
        r.code = response_code::TOPIC_NOT_EXIST;
        r.remark = Some(format!(
            "No topic route info in name server for the topic: {topic}"
        ));
        return r;
    }
    r.body = format!(
        r#"{{"brokerDatas":[{}],"queueDatas":[{}]}}"#,
        datas.join(","),
        queues.join(",")
    )
    .into();
    r
}
