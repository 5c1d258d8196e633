//! The producer role's transactional side: taking the broker's checks for
//! its group and writing END_TRANSACTION (see [`crate::transaction`]).

use alloc::boxed::Box;
use alloc::string::String;

use super::Producer;
use crate::engine::{Answered, BrokerRequest, Context, Delivery};
use crate::message::{decode_messages, property};
use crate::protocol::headers::CheckTransactionStateRequestHeader;
use crate::protocol::{request_code, RemotingCommand};
use crate::transaction::{
    CheckSink, EndTarget, EndTransaction, EndTransactionError, TransactionCheck,
};

/// The host's check sink, boxed (no `Debug` of its own).
pub(super) struct Checks(pub(super) Box<dyn CheckSink>);

impl core::fmt::Debug for Checks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Checks(..)")
    }
}

impl Producer {
    /// Makes this producer group transactional: from now on it takes the
    /// CHECK_TRANSACTION_STATE requests of its group (`PGROUP`) and hands
    /// each to `sink`. A producer that is not transactional leaves them to
    /// the next role (and the engine drops them: they are oneway).
    pub fn enable_transactions(&mut self, sink: Box<dyn CheckSink>) {
        self.checks = Some(Checks(sink));
    }

    /// True once [`Producer::enable_transactions`] was called.
    pub fn is_transactional(&self) -> bool {
        self.checks.is_some()
    }

    /// Writes `end` (oneway): to the master of the broker that stored the
    /// half message, or to the broker that sent the check.
    pub fn end_transaction(
        &mut self,
        ctx: &mut Context<'_>,
        end: EndTransaction,
    ) -> Result<(), EndTransactionError> {
        let addr = match &end.target {
            EndTarget::Addr(addr) => addr.clone(),
            EndTarget::Broker { topic, broker_name } => {
                let table = ctx.route(topic).or_else(|| self.templated.get(topic));
                table
                    .and_then(|t| t.master_addr(broker_name))
                    .map(String::from)
                    .ok_or_else(|| EndTransactionError::NoBrokerAddress(broker_name.clone()))?
            }
        };
        let mut cmd = RemotingCommand::request(request_code::END_TRANSACTION, 0)
            .with_header(&end.header)
            .into_oneway();
        if let Some(remark) = end.remark {
            cmd = cmd.with_remark(remark);
        }
        match ctx.request_command(&addr, cmd, Delivery::Oneway) {
            Ok(_) => Ok(()),
            Err(crate::engine::RequestError::Unencodable { reason }) => {
                Err(EndTransactionError::Unencodable(reason))
            }
            Err(_) => Err(EndTransactionError::NotRunning),
        }
    }

    /// Takes a CHECK_TRANSACTION_STATE of this group when transactional;
    /// hands anything else back.
    pub(super) fn take_check(
        &mut self,
        ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        if request.code() != request_code::CHECK_TRANSACTION_STATE {
            return Err(request);
        }
        let Some(checks) = self.checks.as_mut() else {
            return Err(request);
        };
        let cmd = request.command();
        let message = decode_messages(&cmd.body)
            .ok()
            .and_then(|mut msgs| (!msgs.is_empty()).then(|| msgs.swap_remove(0)));
        let Some(message) = message else {
            // An unreadable check: nothing to answer with; the broker asks
            // again at its next check round.
            return Ok(request.accept_oneway(ctx));
        };
        if message.property(property::PRODUCER_GROUP) != Some(self.config.group.as_str()) {
            return Err(request);
        }
        let Ok(header) = cmd.header::<CheckTransactionStateRequestHeader>() else {
            return Ok(request.accept_oneway(ctx));
        };
        let Some(broker_addr) = ctx.peer_addr(request.conn()).map(String::from) else {
            return Ok(request.accept_oneway(ctx));
        };
        checks.0.check(TransactionCheck {
            broker_addr,
            header,
            message,
        });
        Ok(request.accept_oneway(ctx))
    }
}
