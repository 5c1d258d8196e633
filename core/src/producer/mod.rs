//! The producer role: validation, message preparation, queue selection,
//! fault avoidance, retries. A [`Producer`] is one producer group; many may
//! share one [`crate::engine::Engine`], which it reaches only through its
//! [`Context`].

mod config;
mod fault;
mod outcome;
mod prepare;
mod request;
mod routing;
mod select;
mod send;
mod transaction;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use crate::collections::{DeadlineSet, IdMap, VecMap, VecSet};

pub use crate::engine::MaybeSend;
pub use config::ProducerConfig;
pub use fault::FaultTracker;
pub use outcome::{SendError, SendId, SendReceipt, SendResult, SendStatus};
pub use prepare::{Payload, WallClock};
pub use request::{
    create_reply, is_reply, reply_topic, CreateReplyError, ReplyWaiter, RequestReplyError,
    REPLY_MESSAGE_FLAG, REPLY_TOPIC_POSTFIX,
};
pub use select::{hash_queue_index, QueueSelector, QueueTarget, RoundRobin};
pub use send::SendRequest;

use crate::engine::{
    Answered, BrokerRequest, ClientConfig, Context, GroupData, RequestError, Role, RouteOutcome,
    Token,
};
use crate::message::id::UniqueIdGenerator;
use crate::protocol::body::ProducerData;
use crate::protocol::RemotingCommand;
use crate::route::RouteTable;
use crate::time::Instant;

/// One producer group: its sends in flight and what it knows of routes.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    sends: IdMap<SendId, send::PendingSend>,
    /// Send deadlines, for expiry and the role's deadline timer.
    deadlines: DeadlineSet<SendId>,
    /// Sends waiting for a topic's route.
    waiting: VecMap<String, Vec<SendId>>,
    /// Topics the name server does not know yet, routed through the
    /// auto-create template topic (Java's `createTopicKey`).
    templated: VecMap<String, RouteTable>,
    /// Topics waiting for the template topic's route.
    awaiting_template: VecSet<String>,
    round_robin: RoundRobin,
    faults: FaultTracker,
    ids: UniqueIdGenerator,
    next_send_id: u64,
    done: VecDeque<(SendId, Result<SendReceipt, SendError>)>,
    /// Where checks of a transactional group go.
    checks: Option<transaction::Checks>,
    /// Requests waiting for their reply, by correlation id.
    requests: VecMap<String, request::PendingRequest>,
    /// Request deadlines, for expiry and the role's deadline timer.
    request_deadlines: VecSet<(Instant, String)>,
    /// This producer made requests: it takes replies nobody waits for.
    takes_replies: bool,
}

impl Producer {
    /// A producer group on a client configured by `client` (its address,
    /// pid and seed make the unique ids).
    pub fn new(config: ProducerConfig, client: &ClientConfig) -> Self {
        let seed = client.seed;
        Producer {
            config,
            sends: IdMap::new(),
            deadlines: DeadlineSet::new(),
            waiting: VecMap::new(),
            templated: VecMap::new(),
            awaiting_template: VecSet::new(),
            round_robin: RoundRobin::new(seed),
            faults: FaultTracker::default(),
            ids: UniqueIdGenerator::new(client.client_ip, client.pid, seed as i32),
            next_send_id: 0,
            done: VecDeque::new(),
            checks: None,
            requests: VecMap::new(),
            request_deadlines: VecSet::new(),
            takes_replies: false,
        }
    }

    /// The producer configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Announces the group: every heartbeat from now on carries it.
    pub fn start(&mut self, ctx: &mut Context<'_>) {
        let data = ProducerData {
            group_name: self.config.group.clone(),
        };
        ctx.set_group_data(GroupData::Producer(data));
    }

    /// The next finished send, in completion order.
    pub fn poll_done(&mut self) -> Option<(SendId, Result<SendReceipt, SendError>)> {
        let done = self.done.pop_front()?;
        if let (Err(e), false) = (&done.1, self.requests.is_empty()) {
            self.fail_request_of(done.0, e);
        }
        Some(done)
    }

    /// The earliest deadline of the sends in flight and the requests
    /// waiting for a reply.
    pub fn next_deadline(&self) -> Option<Instant> {
        let send = self.deadlines.first().map(|(t, _)| t);
        match (send, self.next_request_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when no send is in flight and no request waits for a reply.
    pub fn is_idle(&self) -> bool {
        self.sends.is_empty() && self.requests.is_empty()
    }
}

impl Role for Producer {
    fn on_response(
        &mut self,
        ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        let id = SendId(token.0);
        match outcome {
            Ok(cmd) => self.on_send_response(ctx, id, cmd),
            Err(err) => self.on_send_failure(ctx, id, err),
        }
    }

    fn on_route(&mut self, ctx: &mut Context<'_>, topic: &str, outcome: &RouteOutcome) {
        self.route_settled(ctx, topic, outcome);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _kind: crate::engine::TimerKind) {
        self.expire_requests(ctx.now());
        self.expire_sends(ctx);
    }

    fn on_broker_request(
        &mut self,
        ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        match self.take_check(ctx, request) {
            Ok(answered) => Ok(answered),
            Err(request) => self.take_reply(ctx, request),
        }
    }

    fn is_settled(&self) -> bool {
        self.is_idle()
    }

    fn on_closed(&mut self, ctx: &mut Context<'_>) {
        self.abort_all_sends(ctx);
        self.abort_requests();
    }
}
