//! The route cache, the name-server queries that fill it, and the roles
//! watching each topic. The cache holds what the name server said; what a
//! role makes of it (a producer's template route for a topic still to be
//! created, a consumer's subscribe queues) is the role's business.

use crate::collections::{VecMap, VecSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{ConnId, Engine, Notice, Owner, RequestError, RoleId, RouteOutcome};
use crate::protocol::headers::GetRouteInfoRequestHeader;
use crate::protocol::{request_code, response_code, RemotingCommand};
use crate::route::{RouteTable, TopicRouteData};
use crate::time::Instant;

/// What the engine knows about one topic's route.
#[derive(Debug, Default)]
struct TopicEntry {
    route: Option<(TopicRouteData, RouteTable)>,
    querying: bool,
    watchers: VecSet<RoleId>,
}

/// Route tables by topic.
#[derive(Debug, Default)]
pub(super) struct Routes {
    topics: VecMap<String, TopicEntry>,
}

impl Routes {
    pub(super) fn table(&self, topic: &str) -> Option<&RouteTable> {
        self.topics.get(topic)?.route.as_ref().map(|(_, t)| t)
    }

    pub(super) fn data(&self, topic: &str) -> Option<&TopicRouteData> {
        self.topics.get(topic)?.route.as_ref().map(|(d, _)| d)
    }

    pub(super) fn is_querying(&self, topic: &str) -> bool {
        self.topics.get(topic).is_some_and(|e| e.querying)
    }

    fn entry(&mut self, topic: &str) -> &mut TopicEntry {
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_string(), TopicEntry::default());
        }
        // Inserted just above when missing.
        self.topics.get_or_default(topic.to_string())
    }

    /// Master addresses of every cached route.
    pub(super) fn master_addrs(&self) -> VecSet<String> {
        self.topics
            .values()
            .filter_map(|e| e.route.as_ref())
            .flat_map(|(_, t)| masters(t))
            .collect()
    }

    /// Topics to refresh: every watched or cached one not being queried.
    fn refreshable(&self) -> Vec<String> {
        self.topics
            .iter()
            .filter(|(_, e)| (e.route.is_some() || !e.watchers.is_empty()) && !e.querying)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// The master address of every broker of `table`.
fn masters(table: &RouteTable) -> Vec<String> {
    table
        .broker_names()
        .filter_map(|b| table.master_addr(b).map(String::from))
        .collect()
}

impl Engine {
    /// `role` watches `topic`; fetches it now unless cached or in flight.
    pub(super) fn watch_route(&mut self, role: RoleId, topic: &str, now: Instant) {
        let entry = self.routes.entry(topic);
        entry.watchers.insert(role);
        if entry.route.is_none() && !entry.querying {
            self.query_route(topic, 0, now);
        }
    }

    /// Fetches `topic` again unless a query is in flight.
    pub(super) fn refresh_route(&mut self, topic: &str, now: Instant) {
        if !self.routes.is_querying(topic) {
            self.query_route(topic, 0, now);
        }
    }

    /// Asks the `attempt`-th name server (counting from the current one)
    /// for the route of `topic`.
    fn query_route(&mut self, topic: &str, attempt: usize, now: Instant) {
        if self.is_closed() {
            let reason = String::from("client shut down");
            self.route_settled(topic, RouteOutcome::Failed { reason });
            return;
        }
        let Some(addr) = self.namesrv.current().map(String::from) else {
            self.routes.entry(topic).querying = false;
            let reason = String::from("no name server configured");
            self.route_settled(topic, RouteOutcome::Failed { reason });
            return;
        };
        self.routes.entry(topic).querying = true;
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: None,
            ..Default::default()
        };
        let owner = Owner::Route {
            topic: topic.to_string(),
            attempt,
        };
        self.write_engine_request(
            &addr,
            request_code::GET_ROUTEINFO_BY_TOPIC,
            &header,
            &[],
            owner,
            now,
        );
    }

    pub(super) fn on_route_response(
        &mut self,
        conn: ConnId,
        topic: String,
        attempt: usize,
        cmd: RemotingCommand,
        now: Instant,
    ) {
        match cmd.code {
            response_code::SUCCESS => match TopicRouteData::parse(&cmd.body) {
                Ok(data) => self.cache_route(&topic, data, now),
                Err(e) => {
                    self.routes.entry(&topic).querying = false;
                    let reason = alloc::format!("unreadable route from name server: {e}");
                    self.route_settled(&topic, RouteOutcome::Failed { reason });
                }
            },
            code => {
                let remark = cmd.remark.unwrap_or_default();
                let addr = self.addr_of(conn);
                let reason = alloc::format!("name server {addr} answered code {code}: {remark}");
                if code == response_code::TOPIC_NOT_EXIST {
                    // The topic is gone (or never was): so is its route.
                    let entry = self.routes.entry(&topic);
                    entry.querying = false;
                    entry.route = None;
                    self.route_settled(&topic, RouteOutcome::NotExist { reason });
                } else {
                    self.retry_route_elsewhere(&addr, topic, attempt, reason, now);
                }
            }
        }
    }

    fn cache_route(&mut self, topic: &str, data: TopicRouteData, now: Instant) {
        let entry = self.routes.entry(topic);
        entry.querying = false;
        let changed = entry.route.as_ref().is_none_or(|(old, _)| *old != data);
        if changed {
            let table = RouteTable::new(topic, &data);
            entry.route = Some((data, table));
        }
        if let Some((_, table)) = &entry.route {
            let addrs = masters(table);
            self.adopt_brokers(addrs, now);
        }
        self.route_settled(topic, RouteOutcome::Ready { changed });
    }

    pub(super) fn on_route_failure(
        &mut self,
        topic: String,
        attempt: usize,
        err: RequestError,
        now: Instant,
    ) {
        let addr = match &err {
            RequestError::Timeout { addr } | RequestError::Connection { addr, .. } => addr.clone(),
            _ => String::new(),
        };
        let reason = err.to_string();
        self.retry_route_elsewhere(&addr, topic, attempt, reason, now);
    }

    fn retry_route_elsewhere(
        &mut self,
        failed_addr: &str,
        topic: String,
        attempt: usize,
        reason: String,
        now: Instant,
    ) {
        self.namesrv.rotate_past(failed_addr);
        if attempt + 1 < self.namesrv.len() && self.is_running() {
            self.query_route(&topic, attempt + 1, now);
        } else {
            self.routes.entry(&topic).querying = false;
            self.route_settled(&topic, RouteOutcome::Failed { reason });
        }
    }

    /// Tells every watcher of `topic` how its query ended.
    fn route_settled(&mut self, topic: &str, outcome: RouteOutcome) {
        let Some(entry) = self.routes.topics.get(topic) else {
            return;
        };
        for role in &entry.watchers {
            self.notices.push_back(Notice::Route {
                role: *role,
                topic: topic.to_string(),
                outcome: outcome.clone(),
            });
        }
    }

    /// Re-queries every watched or cached route (Java: every 30 s). A
    /// failed refresh keeps the old table.
    pub(super) fn refresh_routes(&mut self, now: Instant) {
        for topic in self.routes.refreshable() {
            self.query_route(&topic, 0, now);
        }
    }
}
