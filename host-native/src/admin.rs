//! [`Admin`]: name-server and broker queries (routes, raw requests, pulls).

use std::time::Duration;

use rmq_core::acl::AclCredentials;
use rmq_core::client::{identify, parse_name_servers, pull_request, Client, Outcome};
use rmq_core::engine::ClientConfig;
use rmq_core::protocol::fields::CommandHeader;
use rmq_core::protocol::headers::GetRouteInfoRequestHeader;
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::{MessageQueue, TopicRouteData};

pub use rmq_core::client::{PullResult, PullStatus};

use crate::client::ClientHandle;
use crate::clock::host_facts;
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
            name_servers: parse_name_servers(name_servers),
            ..Default::default()
        };
        if config.name_servers.is_empty() {
            return Err(Error::Config("no name server address".into()));
        }
        identify(&mut config, &host_facts(), None);
        let timeout = config.request_timeout;
        let handle = ClientHandle::new(move |now| Client::new(config, now));
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

    /// Closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.handle.shutdown().await
    }
}
