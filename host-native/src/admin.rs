//! [`Admin`]: name-server and broker queries and operations: routes, raw
//! requests and pulls; topics (create, delete, list), clusters and brokers,
//! consumer groups (progress, connections, offset reset), and messages (by
//! offset id, unique id or key; their trace).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rmq_core::acl::AclCredentials;
use rmq_core::client::{pull_request, Client, Outcome};
use rmq_core::message::{decode_messages, MessageExt, OffsetMessageId};
use rmq_core::protocol::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, KvTable, ResetOffsetBody, TopicList,
};
use rmq_core::protocol::fields::CommandHeader;
use rmq_core::protocol::headers::{
    CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetRouteInfoRequestHeader, QueryMessageRequestHeader, ResetOffsetRequestHeader,
    RpcHeaderExtras, SearchOffsetRequestHeader, SearchOffsetResponseHeader, TopicFilterType,
    UpdateConsumerOffsetRequestHeader, ViewMessageRequestHeader,
};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::{MessageQueue, TopicRouteData};
use rmq_core::trace::{self as core_trace, TraceRecord};

pub use rmq_core::client::{PullResult, PullStatus};

use crate::client::ClientHandle;
use crate::settings::{ClientSettings, Connection};
use crate::Error;

/// Administrative and raw access to name servers and brokers.
#[derive(Clone)]
pub struct Admin {
    handle: ClientHandle,
    timeout: Duration,
    name_servers: Vec<String>,
}

/// A topic to create or update with [`Admin::create_topic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic.
    pub name: String,
    /// Readable queues on each broker (default 8).
    pub read_queues: i32,
    /// Writable queues on each broker (default 8).
    pub write_queues: i32,
    /// Permission bits: 2 write, 4 read (default 6, both).
    pub perm: i32,
    /// An ordered topic (default false).
    pub order: bool,
    /// Only the masters of this cluster (default: every master).
    pub cluster: Option<String>,
}

impl TopicConfig {
    /// `name` with Java's defaults: 8 read and 8 write queues, read-write.
    pub fn new(name: impl Into<String>) -> Self {
        TopicConfig {
            name: name.into(),
            read_queues: 8,
            write_queues: 8,
            perm: 6,
            order: false,
            cluster: None,
        }
    }

    /// Sets both queue counts.
    pub fn queues(mut self, n: i32) -> Self {
        self.read_queues = n;
        self.write_queues = n;
        self
    }
}

/// Messages a QUERY_MESSAGE may return per broker, as Java asks
/// (`queryMessageByUniqKey` asks 32; the broker caps every query at its
/// `defaultQueryMaxNum`, 32 by default).
pub const QUERY_MAX: i32 = 32;

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// Starts an admin client for `name_servers` (`;`-separated).
    pub async fn connect(name_servers: &str) -> Result<Admin, Error> {
        Admin::connect_with(name_servers, None).await
    }

    /// Starts an admin client for `name_servers` (`;`-separated) that signs
    /// every request with `credentials` (ACL 1.0 access/secret key, or ACL
    /// 2.0 user name/password) when given: [`Admin::request`],
    /// [`Admin::pull`] and route queries alike.
    pub async fn connect_with(
        name_servers: &str,
        credentials: Option<AclCredentials>,
    ) -> Result<Admin, Error> {
        Admin::connect_with_tls(name_servers, credentials, None).await
    }

    /// [`Admin::connect_with`], speaking TLS to every name server and
    /// broker when `tls` is given (see [`crate::TlsConfig`]).
    pub async fn connect_with_tls(
        name_servers: &str,
        credentials: Option<AclCredentials>,
        tls: Option<crate::TlsConfig>,
    ) -> Result<Admin, Error> {
        let mut settings = ClientSettings::default();
        settings.add_name_servers(name_servers);
        // No NAMESRV_ADDR default here: the caller names the name servers.
        if settings.config_mut().name_servers.is_empty() {
            return Err(Error::Config("no name server address".into()));
        }
        if let Some(credentials) = credentials {
            settings.set_credentials(credentials);
        }
        if let Some(tls) = tls {
            settings.set_tls(tls);
        }
        let Connection { config, tls, .. } = settings.connect(None)?;
        let timeout = config.request_timeout;
        let name_servers = config.name_servers.clone();
        let handle = ClientHandle::with_tls(tls, move |now| Client::new(config, now));
        handle.start()?;
        Ok(Admin {
            handle,
            timeout,
            name_servers,
        })
    }

    /// The route of `topic` as the name server reports it.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData, Error> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: None,
            ..Default::default()
        };
        let mut cmd = RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC, 0);
        cmd.ext_fields = header.to_ext_fields();
        let resp = self.request(None, cmd, self.timeout).await?;
        if resp.code != response_code::SUCCESS {
            return Err(Error::NoRoute {
                topic: topic.to_string(),
                reason: format!("code {}: {}", resp.code, resp.remark.unwrap_or_default()),
            });
        }
        TopicRouteData::parse(&resp.body).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Sends a raw request to `addr` (or the name server, with `None`) and
    /// returns the response, whatever its code.
    pub async fn request(
        &self,
        addr: Option<&str>,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        let outcome = self
            .handle
            .call(|client, now, reply| {
                client.request(addr, command, timeout, now, reply);
            })
            .await?;
        match outcome {
            Outcome::Answered { result, .. } => result.map_err(Error::from),
            _ => Err(Error::ShutDown),
        }
    }

    /// Pulls up to `max` messages of `queue` from `offset` on its master
    /// broker, once, without a consumer group's bookkeeping (no long poll,
    /// no offset commit): the raw read a pull consumer is built on.
    pub async fn pull(
        &self,
        group: &str,
        queue: &MessageQueue,
        offset: i64,
        max: i32,
    ) -> Result<PullResult, Error> {
        let route = self.topic_route(&queue.topic).await?;
        let addr = route
            .broker(&queue.broker_name)
            .and_then(|b| b.master_addr())
            .ok_or_else(|| Error::NoRoute {
                topic: queue.topic.clone(),
                reason: format!("broker {} has no master", queue.broker_name),
            })?
            .to_string();
        let cmd = pull_request(group, queue, offset, max);
        let resp = self.request(Some(&addr), cmd, self.timeout).await?;
        PullResult::from_response(&resp, &addr)
    }

    /// The name servers this admin asks.
    pub fn name_servers(&self) -> &[String] {
        &self.name_servers
    }

    /// Sends `command` to `addr` (a name server with `None`) and returns
    /// the body of a SUCCESS answer; any other code is [`Error::Broker`].
    async fn call(
        &self,
        addr: Option<&str>,
        command: RemotingCommand,
        what: &str,
    ) -> Result<bytes::Bytes, Error> {
        self.call_with(addr, command, what, self.timeout).await
    }

    async fn call_with(
        &self,
        addr: Option<&str>,
        command: RemotingCommand,
        what: &str,
        timeout: Duration,
    ) -> Result<bytes::Bytes, Error> {
        let resp = self.request(addr, command, timeout).await?;
        if resp.code != response_code::SUCCESS {
            return Err(refused(addr, what, &resp));
        }
        Ok(resp.body)
    }

    /// Every cluster and broker the name server knows (GET_BROKER_CLUSTER_INFO).
    pub async fn cluster_info(&self) -> Result<ClusterInfo, Error> {
        let cmd = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO, 0);
        let body = self.call(None, cmd, "GET_BROKER_CLUSTER_INFO").await?;
        ClusterInfo::parse(&body).map_err(|e| Error::Protocol(format!("cluster info: {e}")))
    }

    /// A broker's runtime statistics (GET_BROKER_RUNTIME_INFO): its version
    /// (`brokerVersionDesc`), today's put and get totals, TPS, and more.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>, Error> {
        let cmd = RemotingCommand::request(request_code::GET_BROKER_RUNTIME_INFO, 0);
        let body = self
            .call(Some(addr), cmd, "GET_BROKER_RUNTIME_INFO")
            .await?;
        KvTable::parse(&body)
            .map(|t| t.table)
            .map_err(|e| Error::Protocol(format!("broker {addr} runtime info: {e}")))
    }

    /// Every topic the name server knows, sorted
    /// (GET_ALL_TOPIC_LIST_FROM_NAMESERVER).
    pub async fn topics(&self) -> Result<Vec<String>, Error> {
        let cmd = RemotingCommand::request(request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0);
        let body = self
            .call(None, cmd, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER")
            .await?;
        TopicList::parse(&body)
            .map(|t| t.topics)
            .map_err(|e| Error::Protocol(format!("topic list: {e}")))
    }

    /// Master addresses of `cluster`, or of every cluster.
    async fn masters(&self, cluster: Option<&str>) -> Result<Vec<String>, Error> {
        let info = self.cluster_info().await?;
        let mut addrs = BTreeSet::new();
        for (name, _) in info.cluster_addr_table.iter() {
            if cluster.is_some_and(|c| c != name) {
                continue;
            }
            addrs.extend(info.master_addrs(name).into_iter().map(String::from));
        }
        if addrs.is_empty() {
            return Err(Error::Config(match cluster {
                Some(c) => format!("cluster {c} has no master broker"),
                None => "the name server knows no master broker".into(),
            }));
        }
        Ok(addrs.into_iter().collect())
    }

    /// Creates `topic`, or updates its queues and permission, on every
    /// master of its cluster (UPDATE_AND_CREATE_TOPIC); each broker
    /// registers the change with the name servers at once. Returns the
    /// masters' addresses.
    pub async fn create_topic(&self, topic: &TopicConfig) -> Result<Vec<String>, Error> {
        rmq_core::message::validate_topic(&topic.name)
            .map_err(|e| Error::Config(format!("topic: {e}")))?;
        let masters = self.masters(topic.cluster.as_deref()).await?;
        for addr in &masters {
            let header = CreateTopicRequestHeader {
                topic: topic.name.clone(),
                default_topic: "TBW102".into(),
                read_queue_nums: topic.read_queues,
                write_queue_nums: topic.write_queues,
                perm: topic.perm,
                topic_filter_type: TopicFilterType::SingleTag,
                topic_sys_flag: Some(0),
                order: topic.order,
                ..Default::default()
            };
            let cmd = RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC, 0)
                .with_header(&header);
            self.call(Some(addr), cmd, "UPDATE_AND_CREATE_TOPIC")
                .await?;
        }
        Ok(masters)
    }

    /// Deletes `topic` from every broker (masters and slaves) of `cluster`
    /// (or of every cluster), then from every name server (Java
    /// `deleteTopic`: DELETE_TOPIC_IN_BROKER, DELETE_TOPIC_IN_NAMESRV).
    pub async fn delete_topic(&self, topic: &str, cluster: Option<&str>) -> Result<(), Error> {
        let info = self.cluster_info().await?;
        let mut addrs = BTreeSet::new();
        for (name, brokers) in info.cluster_addr_table.iter() {
            if cluster.is_some_and(|c| c != name) {
                continue;
            }
            for b in brokers {
                if let Some(data) = info.broker_addr_table.get(b) {
                    addrs.extend(data.broker_addrs.values().cloned());
                }
            }
        }
        for addr in &addrs {
            let header = DeleteTopicRequestHeader {
                topic: topic.to_string(),
                ..Default::default()
            };
            let cmd = RemotingCommand::request(request_code::DELETE_TOPIC_IN_BROKER, 0)
                .with_header(&header);
            self.call(Some(addr), cmd, "DELETE_TOPIC_IN_BROKER").await?;
        }
        for ns in &self.name_servers {
            let header = DeleteTopicFromNamesrvRequestHeader {
                topic: topic.to_string(),
                cluster_name: cluster.map(String::from),
                ..Default::default()
            };
            let cmd = RemotingCommand::request(request_code::DELETE_TOPIC_IN_NAMESRV, 0)
                .with_header(&header);
            self.call(Some(ns), cmd, "DELETE_TOPIC_IN_NAMESRV").await?;
        }
        Ok(())
    }

    /// Master addresses serving `topic`, by broker name.
    async fn topic_masters(&self, topic: &str) -> Result<BTreeMap<String, String>, Error> {
        let route = self.topic_route(topic).await?;
        let mut masters = BTreeMap::new();
        for b in &route.broker_datas {
            if let Some(addr) = b.master_addr() {
                masters.insert(b.broker_name.clone(), addr.to_string());
            }
        }
        if masters.is_empty() {
            return Err(Error::NoRoute {
                topic: topic.to_string(),
                reason: "no broker of the route has a master".into(),
            });
        }
        Ok(masters)
    }

    /// A consumer group's progress on `topic` (or, with `None`, on every
    /// topic it consumes), merged over every master (GET_CONSUME_STATS):
    /// per queue the max offset, the committed offset and the lag.
    pub async fn consume_stats(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats, Error> {
        rmq_core::message::validate_group(group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        let masters: Vec<String> = match topic {
            Some(t) => self.topic_masters(t).await?.into_values().collect(),
            None => self.masters(None).await?,
        };
        let mut stats = ConsumeStats::default();
        for addr in &masters {
            let header = GetConsumeStatsRequestHeader {
                consumer_group: group.to_string(),
                topic: topic.map(String::from),
                ..Default::default()
            };
            let cmd =
                RemotingCommand::request(request_code::GET_CONSUME_STATS, 0).with_header(&header);
            let resp = self.request(Some(addr), cmd, self.timeout).await?;
            match resp.code {
                response_code::SUCCESS => {
                    let one = ConsumeStats::parse(&resp.body).map_err(|e| {
                        Error::Protocol(format!("broker {addr}: consume stats: {e}"))
                    })?;
                    stats.consume_tps += one.consume_tps;
                    stats.offset_table.extend(one.offset_table);
                }
                // A broker that never saw the group (or the topic).
                response_code::SUBSCRIPTION_GROUP_NOT_EXIST
                | response_code::TOPIC_NOT_EXIST
                | response_code::CONSUMER_NOT_ONLINE => {}
                _ => return Err(refused(Some(addr), "GET_CONSUME_STATS", &resp)),
            }
        }
        Ok(stats)
    }

    /// A consumer group's live members and subscriptions, merged over every
    /// master (GET_CONSUMER_CONNECTION_LIST); no connection when none is
    /// online.
    pub async fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection, Error> {
        rmq_core::message::validate_group(group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        let mut merged = ConsumerConnection::default();
        for addr in &self.masters(None).await? {
            let header = GetConsumerConnectionListRequestHeader {
                consumer_group: group.to_string(),
                rpc: RpcHeaderExtras::default(),
            };
            let cmd = RemotingCommand::request(request_code::GET_CONSUMER_CONNECTION_LIST, 0)
                .with_header(&header);
            let resp = self.request(Some(addr), cmd, self.timeout).await?;
            match resp.code {
                response_code::SUCCESS => {
                    let one = ConsumerConnection::parse(&resp.body).map_err(|e| {
                        Error::Protocol(format!("broker {addr}: consumer connections: {e}"))
                    })?;
                    for c in one.connections {
                        if !merged
                            .connections
                            .iter()
                            .any(|m| m.client_id == c.client_id)
                        {
                            merged.connections.push(c);
                        }
                    }
                    merged.subscriptions.extend(one.subscriptions);
                    merged.consume_type = merged.consume_type.or(one.consume_type);
                    merged.message_model = merged.message_model.or(one.message_model);
                    merged.consume_from_where =
                        merged.consume_from_where.or(one.consume_from_where);
                }
                response_code::CONSUMER_NOT_ONLINE => {}
                _ => return Err(refused(Some(addr), "GET_CONSUMER_CONNECTION_LIST", &resp)),
            }
        }
        merged
            .connections
            .sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(merged)
    }

    /// Moves `group`'s offsets on `topic` to the first message stored at or
    /// after `timestamp_ms` (Java `resetOffsetNew`): each master resets the
    /// offsets and tells the group's online consumers
    /// (INVOKE_BROKER_TO_RESET_OFFSET); where no consumer is online
    /// (CONSUMER_NOT_ONLINE) the offsets are looked up by time and committed
    /// queue by queue (SEARCH_OFFSET_BY_TIMESTAMP, UPDATE_CONSUMER_OFFSET).
    /// Returns the new offset of every queue.
    pub async fn reset_offset(
        &self,
        group: &str,
        topic: &str,
        timestamp_ms: i64,
    ) -> Result<BTreeMap<MessageQueue, i64>, Error> {
        rmq_core::message::validate_group(group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        let route = self.topic_route(topic).await?;
        let mut offsets = BTreeMap::new();
        for b in &route.broker_datas {
            let Some(addr) = b.master_addr() else {
                continue;
            };
            let header = ResetOffsetRequestHeader {
                group: group.to_string(),
                topic: topic.to_string(),
                queue_id: Some(-1),
                offset: None,
                timestamp: timestamp_ms,
                is_force: true,
                rpc: RpcHeaderExtras::default(),
            };
            let cmd = RemotingCommand::request(request_code::INVOKE_BROKER_TO_RESET_OFFSET, 0)
                .with_header(&header);
            let resp = self.request(Some(addr), cmd, self.timeout).await?;
            match resp.code {
                response_code::SUCCESS => {
                    let body = ResetOffsetBody::parse(&resp.body).map_err(|e| {
                        Error::Protocol(format!("broker {addr}: reset offsets: {e}"))
                    })?;
                    offsets.extend(body.offset_table);
                }
                response_code::CONSUMER_NOT_ONLINE => {
                    let queues = route
                        .queue_datas
                        .iter()
                        .find(|q| q.broker_name == b.broker_name)
                        .map_or(0, |q| q.read_queue_nums);
                    for queue_id in 0..queues {
                        let mq = MessageQueue::new(topic, b.broker_name.as_str(), queue_id);
                        let offset = self.search_offset(addr, &mq, timestamp_ms).await?;
                        self.commit_offset(addr, group, &mq, offset).await?;
                        offsets.insert(mq, offset);
                    }
                }
                _ => return Err(refused(Some(addr), "INVOKE_BROKER_TO_RESET_OFFSET", &resp)),
            }
        }
        Ok(offsets)
    }

    /// The offset of the first message of `mq` stored at or after
    /// `timestamp_ms` (SEARCH_OFFSET_BY_TIMESTAMP).
    async fn search_offset(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, Error> {
        let header = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            timestamp: timestamp_ms,
            boundary_type: None,
            rpc: RpcHeaderExtras::with_broker_name(mq.broker_name.as_str()),
        };
        let cmd = RemotingCommand::request(request_code::SEARCH_OFFSET_BY_TIMESTAMP, 0)
            .with_header(&header);
        let resp = self.request(Some(addr), cmd, self.timeout).await?;
        if resp.code != response_code::SUCCESS {
            return Err(refused(Some(addr), "SEARCH_OFFSET_BY_TIMESTAMP", &resp));
        }
        let h: SearchOffsetResponseHeader = resp.header().map_err(|e| {
            Error::Protocol(format!("broker {addr}: SEARCH_OFFSET_BY_TIMESTAMP: {e}"))
        })?;
        Ok(h.offset)
    }

    /// Commits `offset` for `group` on `mq` (UPDATE_CONSUMER_OFFSET, two-way).
    async fn commit_offset(
        &self,
        addr: &str,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<(), Error> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: offset,
            rpc: RpcHeaderExtras::with_broker_name(mq.broker_name.as_str()),
        };
        let cmd =
            RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET, 0).with_header(&header);
        self.call(Some(addr), cmd, "UPDATE_CONSUMER_OFFSET").await?;
        Ok(())
    }

    /// The message an offset message id names, read from the broker the id
    /// holds (VIEW_MESSAGE_BY_ID). `Ok(None)` when the broker has no
    /// message there.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<Option<MessageExt>, Error> {
        let id = OffsetMessageId::decode(offset_msg_id).map_err(|e| {
            Error::Config(format!(
                "{offset_msg_id:?} is not an offset message id: {e}"
            ))
        })?;
        let addr = id.addr.to_string();
        let header = ViewMessageRequestHeader {
            topic: None,
            offset: id.commit_log_offset,
        };
        let cmd =
            RemotingCommand::request(request_code::VIEW_MESSAGE_BY_ID, 0).with_header(&header);
        let resp = self.request(Some(&addr), cmd, self.timeout).await?;
        match resp.code {
            response_code::SUCCESS => {}
            // 4.9 answers SYSTEM_ERROR ("can not find message by the
            // offset"), 5.x the same or NO_MESSAGE.
            response_code::SYSTEM_ERROR
            | response_code::NO_MESSAGE
            | response_code::QUERY_NOT_FOUND => return Ok(None),
            _ => return Err(refused(Some(&addr), "VIEW_MESSAGE_BY_ID", &resp)),
        }
        let msgs = decode_messages(&resp.body)
            .map_err(|e| Error::Protocol(format!("broker {addr}: VIEW_MESSAGE_BY_ID: {e}")))?;
        Ok(msgs.into_iter().next())
    }

    /// Messages of `topic` whose keys include `key`, stored between
    /// `begin_ms` and `end_ms`, from every broker of the topic
    /// (QUERY_MESSAGE), each broker giving at most `max`; a key's hash
    /// collisions are filtered out, as Java does. Sorted by store time.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: i32,
    ) -> Result<Vec<MessageExt>, Error> {
        let found = self.query(topic, key, begin_ms, end_ms, max, false).await?;
        Ok(found
            .into_iter()
            .filter(|m| m.topic() == topic && m.message.keys().any(|k| k == key))
            .collect())
    }

    /// Messages of `topic` whose unique (client) id is `id`, stored between
    /// `begin_ms` and `end_ms`, from every broker of the topic (Java
    /// `queryMessageByUniqKey`: QUERY_MESSAGE with `_UNIQUE_KEY_QUERY`).
    /// Usually one; a message sent again (a retry, a redelivery) is stored
    /// more than once under one id.
    pub async fn query_by_unique_key(
        &self,
        topic: &str,
        id: &str,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<MessageExt>, Error> {
        let found = self
            .query(topic, id, begin_ms, end_ms, QUERY_MAX, true)
            .await?;
        Ok(found.into_iter().filter(|m| m.id() == id).collect())
    }

    async fn query(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: i32,
        unique: bool,
    ) -> Result<Vec<MessageExt>, Error> {
        let masters = self.topic_masters(topic).await?;
        let mut found = Vec::new();
        for (broker, addr) in &masters {
            let header = QueryMessageRequestHeader {
                topic: topic.to_string(),
                key: key.to_string(),
                max_num: max,
                begin_timestamp: begin_ms,
                end_timestamp: end_ms,
                unique_key_query: unique.then_some(true),
                rpc: RpcHeaderExtras::with_broker_name(broker.as_str()),
            };
            let cmd = RemotingCommand::request(request_code::QUERY_MESSAGE, 0).with_header(&header);
            // Java waits three request timeouts: the broker reads its index
            // files.
            let resp = self.request(Some(addr), cmd, self.timeout * 3).await?;
            match resp.code {
                response_code::SUCCESS => {
                    let msgs = decode_messages(&resp.body).map_err(|e| {
                        Error::Protocol(format!("broker {addr}: QUERY_MESSAGE: {e}"))
                    })?;
                    found.extend(msgs);
                }
                response_code::QUERY_NOT_FOUND => {}
                _ => return Err(refused(Some(addr), "QUERY_MESSAGE", &resp)),
            }
        }
        found.sort_by_key(|m| (m.store_timestamp, m.commit_log_offset));
        Ok(found)
    }

    /// Every trace record of message `msg_id` (its unique id, as traces
    /// name it) in `trace_topic` (default [`rmq_core::trace::TRACE_TOPIC`]),
    /// sorted by time: sends, deliveries and consume results, whichever
    /// client (rmq or Java) wrote them. Java's `queryMsgTraceById`.
    pub async fn message_trace(
        &self,
        msg_id: &str,
        trace_topic: Option<&str>,
    ) -> Result<Vec<TraceRecord>, Error> {
        let topic = trace_topic.unwrap_or(core_trace::TRACE_TOPIC);
        let msgs = self.query(topic, msg_id, 0, i64::MAX, 64, false).await?;
        let mut records = Vec::new();
        for m in &msgs {
            let text = String::from_utf8_lossy(m.body());
            let decoded = core_trace::decode(&text)
                .map_err(|e| Error::Protocol(format!("trace message {}: {e}", m.id())))?;
            records.extend(decoded.into_iter().filter(|r| r.msg_id() == msg_id));
        }
        records.sort_by_key(|r| r.timestamp().unwrap_or(i64::MAX));
        records.dedup();
        Ok(records)
    }

    /// Closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.handle.shutdown().await
    }
}

/// The error for a non-SUCCESS answer to `what` from `addr` (a permission
/// refusal is [`Error::PermissionDenied`]).
fn refused(addr: Option<&str>, what: &str, resp: &RemotingCommand) -> Error {
    let remark = format!("{what}: {}", resp.remark.as_deref().unwrap_or(""));
    Error::from_refusal(addr.unwrap_or("name server"), resp.code, remark)
}
