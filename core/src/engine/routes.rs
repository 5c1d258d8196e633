//! The route cache and the name-server queries that fill it.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{ConnId, Engine, Purpose, RequestError};
use crate::protocol::headers::GetRouteInfoRequestHeader;
use crate::protocol::{request_code, response_code, RemotingCommand};
use crate::route::{RouteTable, TopicRouteData};
use crate::time::Instant;

/// What the engine knows about one topic's route.
#[derive(Debug, Default)]
pub(crate) struct TopicEntry {
    table: Option<RouteTable>,
    querying: bool,
}

/// Route tables by topic.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    topics: BTreeMap<String, TopicEntry>,
}

impl Routes {
    pub(crate) fn table(&self, topic: &str) -> Option<&RouteTable> {
        self.topics.get(topic)?.table.as_ref()
    }

    pub(crate) fn is_querying(&self, topic: &str) -> bool {
        self.topics.get(topic).is_some_and(|e| e.querying)
    }

    fn set_querying(&mut self, topic: &str, querying: bool) {
        self.topics.entry(topic.to_string()).or_default().querying = querying;
    }

    /// Master addresses of every cached route.
    pub(crate) fn master_addrs(&self) -> alloc::collections::BTreeSet<String> {
        self.topics
            .values()
            .filter_map(|e| e.table.as_ref())
            .flat_map(|t| {
                t.broker_names()
                    .filter_map(|b| t.master_addr(b).map(String::from))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn topics_with_tables(&self) -> Vec<String> {
        self.topics
            .iter()
            .filter(|(_, e)| e.table.is_some() && !e.querying)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// Outcome of a route query, for the waiting sends.
#[derive(Debug)]
pub(crate) enum RouteOutcome {
    Ready,
    Failed(String),
}

impl Engine {
    /// Asks the current name server for the route of `topic` (or, with
    /// `via_default`, of the auto-create template topic on its behalf).
    pub(crate) fn query_route(
        &mut self,
        topic: &str,
        via_default: bool,
        attempt: usize,
        now: Instant,
    ) {
        let Some(addr) = self.namesrv.current().map(String::from) else {
            self.routes.set_querying(topic, false);
            self.route_settled(
                topic,
                RouteOutcome::Failed("no name server configured".into()),
                now,
            );
            return;
        };
        self.routes.set_querying(topic, true);
        let asked = match (&self.producer, via_default) {
            (Some(p), true) => p.config.create_topic_key.clone(),
            _ => topic.to_string(),
        };
        let header = GetRouteInfoRequestHeader {
            topic: asked,
            accept_standard_json_only: None,
            ..Default::default()
        };
        let conn: ConnId = self.conns.get_or_open(&addr);
        let opaque = self.write_request(
            conn,
            request_code::GET_ROUTEINFO_BY_TOPIC,
            &header,
            &[],
            false,
        );
        let deadline = now + self.config.request_timeout;
        let purpose = Purpose::Route {
            topic: topic.to_string(),
            via_default,
            attempt,
        };
        self.track(opaque, conn, deadline, now, purpose);
    }

    pub(crate) fn on_route_response(
        &mut self,
        conn: ConnId,
        topic: String,
        via_default: bool,
        attempt: usize,
        cmd: RemotingCommand,
        now: Instant,
    ) {
        match cmd.code {
            response_code::SUCCESS => match TopicRouteData::parse(&cmd.body) {
                Ok(data) => {
                    let table = if via_default {
                        let queues = self
                            .producer
                            .as_ref()
                            .map_or(4, |p| p.config.default_topic_queue_nums);
                        RouteTable::from_default_topic(&topic, &data, queues)
                    } else {
                        RouteTable::new(&topic, &data)
                    };
                    if table.publish_queues().is_empty() && !via_default && self.producer.is_some()
                    {
                        // Known to the name server but not writable anywhere
                        // (e.g. a topic being created): try the template.
                        self.query_route(&topic, true, 0, now);
                        return;
                    }
                    let masters: Vec<String> = table
                        .broker_names()
                        .filter_map(|b| table.master_addr(b).map(String::from))
                        .collect();
                    let entry = self.routes.topics.entry(topic.clone()).or_default();
                    entry.table = Some(table);
                    entry.querying = false;
                    self.adopt_brokers(masters, now);
                    self.route_settled(&topic, RouteOutcome::Ready, now);
                }
                Err(e) => {
                    let reason = alloc::format!("unreadable route from name server: {e}");
                    self.routes.set_querying(&topic, false);
                    self.route_settled(&topic, RouteOutcome::Failed(reason), now);
                }
            },
            response_code::TOPIC_NOT_EXIST if !via_default && self.producer.is_some() => {
                self.query_route(&topic, true, 0, now);
            }
            code => {
                let remark = cmd.remark.unwrap_or_default();
                let addr = self
                    .conns
                    .get(conn)
                    .map(|c| c.addr.clone())
                    .unwrap_or_default();
                let reason = alloc::format!("name server {addr} answered code {code}: {remark}");
                if code == response_code::TOPIC_NOT_EXIST {
                    self.routes.set_querying(&topic, false);
                    self.route_settled(&topic, RouteOutcome::Failed(reason), now);
                } else {
                    self.retry_route_elsewhere(&addr, topic, via_default, attempt, reason, now);
                }
            }
        }
    }

    pub(crate) fn on_route_failure(
        &mut self,
        topic: String,
        via_default: bool,
        attempt: usize,
        err: RequestError,
        now: Instant,
    ) {
        let addr = match &err {
            RequestError::Timeout { addr } | RequestError::Connection { addr, .. } => addr.clone(),
            _ => String::new(),
        };
        let reason = err.to_string();
        self.retry_route_elsewhere(&addr, topic, via_default, attempt, reason, now);
    }

    fn retry_route_elsewhere(
        &mut self,
        failed_addr: &str,
        topic: String,
        via_default: bool,
        attempt: usize,
        reason: String,
        now: Instant,
    ) {
        self.namesrv.rotate_past(failed_addr);
        if attempt + 1 < self.namesrv.len() && self.is_running() {
            self.query_route(&topic, via_default, attempt + 1, now);
        } else {
            self.routes.set_querying(&topic, false);
            self.route_settled(&topic, RouteOutcome::Failed(reason), now);
        }
    }

    /// Re-queries every known route (Java: every 30 s). A failed refresh
    /// keeps the old table.
    pub(crate) fn refresh_routes(&mut self, now: Instant) {
        for topic in self.routes.topics_with_tables() {
            self.query_route(&topic, false, 0, now);
        }
    }

    /// Drops the cached route of `topic` and fetches it again.
    pub(crate) fn invalidate_route(&mut self, topic: &str, now: Instant) {
        if !self.routes.is_querying(topic) {
            self.query_route(topic, false, 0, now);
        }
    }
}
