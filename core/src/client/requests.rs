//! Raw requests as a role: a user's request to a broker or the name server,
//! answered by whatever the peer says, with a guard deadline a little after
//! the request's own so a caller is always answered.

use alloc::collections::VecDeque;
use alloc::string::String;
use core::time::Duration;

use crate::collections::{DeadlineSet, IdMap};
use crate::engine::{Context, Delivery, RequestError, RequestKey, Role, TimerKind, Token};
use crate::protocol::RemotingCommand;
use crate::time::Instant;

/// Identifies a raw request started with [`super::Client::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// How long after a request's own deadline the guard fails it, should the
/// engine not have (it always does; the guard keeps a caller from waiting
/// forever on a broken invariant).
pub const REQUEST_GUARD: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Pending {
    key: Option<RequestKey>,
    addr: String,
    guard: Instant,
}

/// The raw-request role.
#[derive(Debug, Default)]
pub(super) struct RawRequests {
    next_id: u64,
    pending: IdMap<RequestId, Pending>,
    guards: DeadlineSet<RequestId>,
    done: VecDeque<(RequestId, Result<RemotingCommand, RequestError>)>,
}

impl RawRequests {
    /// Sends `command` to `addr` (or the current name server with `None`).
    pub(super) fn request(
        &mut self,
        ctx: &mut Context<'_>,
        addr: Option<&str>,
        command: RemotingCommand,
        timeout: Duration,
    ) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        if !ctx.is_running() {
            self.done.push_back((id, Err(RequestError::ShutDown)));
            return id;
        }
        let Some(addr) = addr.or(ctx.name_server()).map(String::from) else {
            self.done.push_back((id, Err(RequestError::NoNameServer)));
            return id;
        };
        let deadline = ctx.now() + timeout;
        let delivery = Delivery::Answer {
            token: Token(id.0),
            deadline,
        };
        match ctx.request_command(&addr, command, delivery) {
            Ok(key) => {
                let guard = deadline + REQUEST_GUARD;
                self.pending.insert(id, Pending { key, addr, guard });
                self.guards.insert((guard, id));
                self.arm(ctx);
            }
            Err(e) => self.done.push_back((id, Err(e))),
        }
        id
    }

    pub(super) fn poll_done(
        &mut self,
    ) -> Option<(RequestId, Result<RemotingCommand, RequestError>)> {
        self.done.pop_front()
    }

    fn finish(&mut self, id: RequestId, result: Result<RemotingCommand, RequestError>) {
        if let Some(p) = self.pending.remove(&id) {
            self.guards.remove(&(p.guard, id));
            self.done.push_back((id, result));
        }
    }

    fn arm(&self, ctx: &mut Context<'_>) {
        let next = self.guards.first().map(|(t, _)| t);
        if ctx.timer(TimerKind::OperationDeadline) != next {
            ctx.set_timer(TimerKind::OperationDeadline, next);
        }
    }
}

impl Role for RawRequests {
    fn on_response(
        &mut self,
        ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        self.finish(RequestId(token.0), outcome);
        self.arm(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _kind: TimerKind) {
        let now = ctx.now();
        while let Some((guard, id)) = self.guards.first() {
            if guard > now {
                break;
            }
            debug_assert!(false, "request {id:?} outlived its deadline");
            if let Some(p) = self.pending.get(&id) {
                if let Some(key) = p.key {
                    ctx.cancel(key);
                }
                let addr = p.addr.clone();
                self.finish(id, Err(RequestError::Timeout { addr }));
            } else {
                self.guards.pop_first();
            }
        }
        self.arm(ctx);
    }

    fn on_closed(&mut self, ctx: &mut Context<'_>) {
        while let Some(id) = self.pending.first_key() {
            self.finish(id, Err(RequestError::ShutDown));
        }
        self.arm(ctx);
    }
}
