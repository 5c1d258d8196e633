//! Transactional messages (PROTOCOL.md §11), the parts that are not I/O.
//!
//! A transaction is a half message, a local step, and an END_TRANSACTION:
//! 1. [`mark_half`] marks the message as the broker expects (`TRAN_MSG`,
//!    `PGROUP`, no delay level); the producer then sends it like any other
//!    message, with the `TRANSACTION_PREPARED_TYPE` sysflag, and retries it
//!    like any synchronous send.
//! 2. The local step runs only when the broker answered SEND_OK; the other
//!    stored statuses (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT,
//!    SLAVE_NOT_AVAILABLE) roll back without running it
//!    ([`resolution_without_local_step`]).
//! 3. [`EndTransaction::after_send`] builds the oneway END_TRANSACTION the
//!    broker checks strictly: `producerGroup` = the half message's `PGROUP`,
//!    `tranStateTableOffset` = its queue offset, `commitLogOffset` from its
//!    offset message id. [`Unknown`](TransactionResolution::Unknown) is sent
//!    too (code 0): the broker checks back later.
//! 4. A broker checks back with CHECK_TRANSACTION_STATE (oneway): the
//!    producer role of the message's `PGROUP` hands a [`TransactionCheck`]
//!    to its [`CheckSink`]; the host runs the user's checker off the
//!    engine's path and answers with [`EndTransaction::after_check`], sent
//!    to the broker that asked.
//!
//! The producer role carries the sending side
//! ([`crate::producer::Producer::enable_transactions`],
//! [`crate::producer::Producer::end_transaction`]).

use alloc::string::{String, ToString};

use crate::engine::MaybeSend;
use crate::message::{property, Message, MessageExt, OffsetMessageId};
use crate::producer::{SendResult, SendStatus};
use crate::protocol::headers::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};

pub use crate::protocol::headers::TransactionResolution;

/// Marks `message` as the half message of a transaction of producer group
/// `group`, as Java's `sendMessageInTransaction` does: any delay level is
/// cleared (a half message is never delayed), `TRAN_MSG=true` and
/// `PGROUP=<group>` are set. The producer adds the
/// `TRANSACTION_PREPARED_TYPE` sysflag to any message carrying `TRAN_MSG=true`.
pub fn mark_half(message: &mut Message, group: &str) {
    message.properties.remove(property::DELAY_TIME_LEVEL);
    message
        .properties
        .insert(property::TRANSACTION_PREPARED, "true");
    message.properties.insert(property::PRODUCER_GROUP, group);
}

/// True when `message` is a half message ([`mark_half`]).
pub fn is_half(message: &Message) -> bool {
    message.property(property::TRANSACTION_PREPARED) == Some("true")
}

/// The resolution of a half message the broker stored with `status`, when
/// it is decided without the local step: `None` for SEND_OK (run the local
/// step), rollback for the statuses Java rolls back on.
pub fn resolution_without_local_step(status: SendStatus) -> Option<TransactionResolution> {
    match status {
        SendStatus::Ok => None,
        SendStatus::FlushDiskTimeout
        | SendStatus::FlushSlaveTimeout
        | SendStatus::SlaveNotAvailable => Some(TransactionResolution::Rollback),
    }
}

/// Why an END_TRANSACTION could not be built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndTransactionError {
    /// Neither the offset message id nor the message id of the send result
    /// is an offset message id: the commit-log offset is unknown.
    #[error("no commit-log offset in message id {0:?}")]
    NoCommitLogOffset(String),
    /// The route knows no master address for the broker that holds the
    /// half message.
    #[error("no master address for broker {0}")]
    NoBrokerAddress(String),
    /// The client is shutting down.
    #[error("the client is not running")]
    NotRunning,
    /// The request could not be encoded.
    #[error("END_TRANSACTION cannot be encoded: {0}")]
    Unencodable(String),
}

/// Where an END_TRANSACTION goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndTarget {
    /// The master of this broker (the one that stored the half message).
    Broker {
        /// Topic whose route names the broker.
        topic: String,
        /// Broker name.
        broker_name: String,
    },
    /// This address: the broker that sent a check.
    Addr(String),
}

/// A ready END_TRANSACTION (request code 37, oneway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransaction {
    /// Where it goes.
    pub target: EndTarget,
    /// The header the broker checks.
    pub header: EndTransactionRequestHeader,
    /// Free text for the broker's log (why the local step failed).
    pub remark: Option<String>,
}

impl EndTransaction {
    /// Ends the half message `result` reports (sent by producer group
    /// `group` to `topic`) with `resolution`, as Java's `endTransaction`.
    pub fn after_send(
        group: &str,
        topic: &str,
        result: &SendResult,
        resolution: TransactionResolution,
        remark: Option<String>,
    ) -> Result<Self, EndTransactionError> {
        let commit_log_offset = OffsetMessageId::decode(&result.offset_msg_id)
            .or_else(|_| OffsetMessageId::decode(&result.msg_id))
            .map_err(|_| EndTransactionError::NoCommitLogOffset(result.offset_msg_id.clone()))?
            .commit_log_offset;
        let broker_name = result.queue.broker_name.clone();
        let mut header = EndTransactionRequestHeader {
            topic: Some(topic.to_string()),
            producer_group: group.to_string(),
            tran_state_table_offset: result.queue_offset,
            commit_log_offset,
            commit_or_rollback: resolution,
            from_transaction_check: Some(false),
            msg_id: result.msg_id.clone(),
            transaction_id: result.transaction_id.clone(),
            ..Default::default()
        };
        header.rpc.broker_name = Some(broker_name.clone());
        Ok(EndTransaction {
            target: EndTarget::Broker {
                topic: topic.to_string(),
                broker_name,
            },
            header,
            remark,
        })
    }

    /// Answers `check` for producer group `group` with `resolution`, as
    /// Java's `checkTransactionState`: the check's offsets and ids,
    /// `fromTransactionCheck=true`, to the broker that asked.
    pub fn after_check(
        group: &str,
        check: &TransactionCheck,
        resolution: TransactionResolution,
        remark: Option<String>,
    ) -> Self {
        let h = &check.header;
        let msg_id = check
            .message
            .unique_key()
            .map(String::from)
            .unwrap_or_else(|| check.message.msg_id.clone());
        let mut header = EndTransactionRequestHeader {
            topic: h.topic.clone(),
            producer_group: group.to_string(),
            tran_state_table_offset: h.tran_state_table_offset,
            commit_log_offset: h.commit_log_offset,
            commit_or_rollback: resolution,
            from_transaction_check: Some(true),
            msg_id,
            transaction_id: h.transaction_id.clone(),
            ..Default::default()
        };
        header.rpc.broker_name = h.rpc.broker_name.clone();
        EndTransaction {
            target: EndTarget::Addr(check.broker_addr.clone()),
            header,
            remark,
        }
    }
}

/// A broker asks how a transaction ended (CHECK_TRANSACTION_STATE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionCheck {
    /// The address of the broker that asked (the answer goes there).
    pub broker_addr: String,
    /// The check's header: offsets and ids to echo.
    pub header: CheckTransactionStateRequestHeader,
    /// The half message, as stored (real topic and queue restored). Its
    /// `UNIQ_KEY` is the id the local step saw.
    pub message: MessageExt,
}

impl TransactionCheck {
    /// The transaction id: the message's `UNIQ_KEY`, else the header's.
    pub fn transaction_id(&self) -> Option<&str> {
        self.message
            .unique_key()
            .or(self.header.transaction_id.as_deref())
    }
}

/// Where a transactional producer role hands the checks it takes: the
/// host's queue to its checker. Called inside the engine's dispatch, so it
/// must only queue (never call back into the client).
pub trait CheckSink: MaybeSend {
    /// A check arrived.
    fn check(&mut self, check: TransactionCheck);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::MessageQueue;

    fn half_result() -> SendResult {
        SendResult {
            status: SendStatus::Ok,
            msg_id: "7F0000010001000000000000000A".into(),
            offset_msg_id: "7F00000100002A9F0000000000001234".into(),
            queue: MessageQueue {
                topic: "T".into(),
                broker_name: "broker-a".into(),
                queue_id: 2,
            },
            queue_offset: 17,
            transaction_id: Some("7F0000010001000000000000000A".into()),
            region_id: None,
            trace_on: true,
        }
    }

    #[test]
    fn mark_half_sets_tran_msg_and_pgroup_and_clears_the_delay_level() {
        let mut m = Message::new("T", "b").with_delay_level(3);
        mark_half(&mut m, "PG");
        assert_eq!(m.property("TRAN_MSG"), Some("true"));
        assert_eq!(m.property("PGROUP"), Some("PG"));
        assert_eq!(m.property("DELAY"), None);
        assert!(is_half(&m));
    }

    #[test]
    fn only_send_ok_runs_the_local_step() {
        assert_eq!(resolution_without_local_step(SendStatus::Ok), None);
        for s in [
            SendStatus::FlushDiskTimeout,
            SendStatus::FlushSlaveTimeout,
            SendStatus::SlaveNotAvailable,
        ] {
            assert_eq!(
                resolution_without_local_step(s),
                Some(TransactionResolution::Rollback)
            );
        }
    }

    #[test]
    fn end_after_send_carries_the_offsets_the_broker_checks() {
        let end = EndTransaction::after_send(
            "PG",
            "T",
            &half_result(),
            TransactionResolution::Commit,
            None,
        )
        .unwrap();
        let h = &end.header;
        assert_eq!(h.producer_group, "PG");
        assert_eq!(h.tran_state_table_offset, 17);
        assert_eq!(h.commit_log_offset, 0x1234);
        assert_eq!(h.commit_or_rollback.code(), 8);
        assert_eq!(h.from_transaction_check, Some(false));
        assert_eq!(h.msg_id, "7F0000010001000000000000000A");
        assert_eq!(h.topic.as_deref(), Some("T"));
        assert_eq!(h.rpc.broker_name.as_deref(), Some("broker-a"));
        assert_eq!(
            end.target,
            EndTarget::Broker {
                topic: "T".into(),
                broker_name: "broker-a".into()
            }
        );
    }

    #[test]
    fn end_after_send_without_an_offset_id_is_an_error() {
        let mut r = half_result();
        r.offset_msg_id = "0".into();
        r.msg_id = "x".into();
        let end = EndTransaction::after_send("PG", "T", &r, TransactionResolution::Unknown, None);
        assert!(matches!(
            end,
            Err(EndTransactionError::NoCommitLogOffset(_))
        ));
    }

    #[test]
    fn end_after_check_echoes_the_check_and_goes_to_the_asking_broker() {
        let mut msg = Message::new("T", "b");
        msg.set_unique_key("UNIQ");
        let check = TransactionCheck {
            broker_addr: "127.0.0.1:10911".into(),
            header: CheckTransactionStateRequestHeader {
                topic: Some("T".into()),
                tran_state_table_offset: 5,
                commit_log_offset: 99,
                transaction_id: Some("TX".into()),
                ..Default::default()
            },
            message: MessageExt::from_message(msg),
        };
        let end = EndTransaction::after_check("PG", &check, TransactionResolution::Rollback, None);
        assert_eq!(end.target, EndTarget::Addr("127.0.0.1:10911".into()));
        assert_eq!(end.header.tran_state_table_offset, 5);
        assert_eq!(end.header.commit_log_offset, 99);
        assert_eq!(end.header.commit_or_rollback.code(), 12);
        assert_eq!(end.header.from_transaction_check, Some(true));
        assert_eq!(end.header.msg_id, "UNIQ");
        assert_eq!(end.header.transaction_id.as_deref(), Some("TX"));
        assert_eq!(check.transaction_id(), Some("UNIQ"));
    }
}
