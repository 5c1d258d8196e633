//! [`Admin`]: name-server and broker queries (routes, raw requests).

use std::time::Duration;

use rmq_core::acl::AclCredentials;
use rmq_core::engine::{ClientConfig, Engine};
use rmq_core::protocol::fields::CommandHeader;
use rmq_core::protocol::headers::GetRouteInfoRequestHeader;
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::TopicRouteData;

use rmq_core::message::{decode_messages, MessageExt};
use rmq_core::protocol::headers::{PullMessageRequestHeader, PullMessageResponseHeader};
use rmq_core::route::MessageQueue;

use crate::client::{default_instance, host_defaults, ClientHandle};

/// PullSysFlag SUBSCRIPTION: the request carries its own subscription.
const PULL_SUBSCRIPTION_FLAG: i32 = 4;

/// What a pull found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages were returned.
    Found,
    /// Nothing at or after the offset yet.
    NoNewMessages,
    /// Messages exist but none matched the subscription.
    NoMatchedMessages,
    /// The offset is outside the queue; continue from `next_begin_offset`.
    OffsetIllegal,
}

/// The result of [`Admin::pull`].
#[derive(Debug, Clone)]
pub struct PullResult {
    /// What the broker found.
    pub status: PullStatus,
    /// Where the next pull should start.
    pub next_begin_offset: i64,
    /// The queue's smallest offset.
    pub min_offset: i64,
    /// The queue's next write offset.
    pub max_offset: i64,
    /// Decoded messages (decompressed, properties parsed).
    pub messages: Vec<MessageExt>,
}
use crate::Error;

/// Administrative and raw access to name servers and brokers.
#[derive(Clone)]
pub struct Admin {
    handle: ClientHandle,
    timeout: Duration,
}

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
        let mut config = ClientConfig {
            credentials,
            name_servers: name_servers
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            ..Default::default()
        };
        if config.name_servers.is_empty() {
            return Err(Error::Config("no name server address".into()));
        }
        host_defaults(&mut config, &default_instance());
        let timeout = config.request_timeout;
        let handle = ClientHandle::new(move |now| Engine::new(config, now));
        handle.start()?;
        Ok(Admin { handle, timeout })
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
        let resp = self.handle.request(None, cmd, self.timeout).await?;
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
        self.handle
            .request(addr.map(String::from), command, timeout)
            .await
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
        let header = PullMessageRequestHeader {
            consumer_group: group.to_string(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            queue_offset: offset,
            max_msg_nums: max,
            sys_flag: PULL_SUBSCRIPTION_FLAG,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some("*".to_string()),
            sub_version: 0,
            expression_type: Some("TAG".to_string()),
            ..Default::default()
        };
        let cmd = RemotingCommand::request(request_code::PULL_MESSAGE, 0).with_header(&header);
        let resp = self
            .handle
            .request(Some(addr.clone()), cmd, self.timeout)
            .await?;
        let status = match resp.code {
            response_code::SUCCESS => PullStatus::Found,
            response_code::PULL_NOT_FOUND => PullStatus::NoNewMessages,
            response_code::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMessages,
            response_code::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            code => {
                return Err(Error::Broker {
                    broker: addr,
                    code,
                    remark: resp.remark.unwrap_or_default(),
                })
            }
        };
        let h: PullMessageResponseHeader = resp
            .header()
            .map_err(|e| Error::Protocol(format!("pull response header: {e}")))?;
        let messages = if status == PullStatus::Found {
            decode_messages(&resp.body).map_err(|e| Error::Protocol(format!("pull body: {e}")))?
        } else {
            Vec::new()
        };
        Ok(PullResult {
            status,
            next_begin_offset: h.next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            messages,
        })
    }

    /// Closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.handle.shutdown().await
    }
}
