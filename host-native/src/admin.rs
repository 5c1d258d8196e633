//! [`Admin`]: name-server and broker queries (routes, raw requests).

use std::time::Duration;

use rmq_core::engine::{ClientConfig, Engine};
use rmq_core::protocol::fields::CommandHeader;
use rmq_core::protocol::headers::GetRouteInfoRequestHeader;
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::TopicRouteData;

use crate::client::{default_instance, host_defaults, ClientHandle};
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
        let mut config = ClientConfig {
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

    /// Closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.handle.shutdown().await
    }
}
