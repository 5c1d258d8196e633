//! Transaction headers: END_TRANSACTION (37, client → broker, one-way) and
//! CHECK_TRANSACTION_STATE (39, broker → client, one-way).

use super::{RpcHeaderExtras, ToField};
use crate::protocol::fields::{FieldValue, FromField};
use alloc::string::String;

/// How END_TRANSACTION resolves a half message: the `commitOrRollback`
/// integer (Java `MessageSysFlag.TRANSACTION_*_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(i32)]
pub enum TransactionResolution {
    /// 0 (`TRANSACTION_NOT_TYPE`): unknown yet; the broker checks back later.
    #[default]
    Unknown = 0,
    /// 8 (`TRANSACTION_COMMIT_TYPE`): deliver the message.
    Commit = 8,
    /// 12 (`TRANSACTION_ROLLBACK_TYPE`): discard the message.
    Rollback = 12,
}

impl TransactionResolution {
    /// The wire integer.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The resolution for a wire integer; `None` for anything but 0, 8, 12.
    pub const fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(TransactionResolution::Unknown),
            8 => Some(TransactionResolution::Commit),
            12 => Some(TransactionResolution::Rollback),
            _ => None,
        }
    }
}

impl ToField for TransactionResolution {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Int(i64::from(self.code()))
    }
}

impl FromField for TransactionResolution {
    fn from_field(s: &str) -> Option<Self> {
        i32::from_field(s).and_then(Self::from_code)
    }
}

command_header! {
    /// END_TRANSACTION request header, Java `EndTransactionRequestHeader`.
    /// The remark of the command may carry a free-text reason.
    pub struct EndTransactionRequestHeader {
        /// `topic` (5.x, optional).
        topic: opt String => "topic",
        /// `producerGroup`: must equal the half message's PGROUP.
        producer_group: req String => "producerGroup",
        /// `tranStateTableOffset`: the half message's queue offset.
        tran_state_table_offset: req i64 => "tranStateTableOffset",
        /// `commitLogOffset`: from the half message's offset msg ID.
        commit_log_offset: req i64 => "commitLogOffset",
        /// `commitOrRollback`: 0, 8 or 12.
        commit_or_rollback: req TransactionResolution => "commitOrRollback",
        /// `fromTransactionCheck`: true when answering a check (Java always
        /// sends it, default false).
        from_transaction_check: opt bool => "fromTransactionCheck",
        /// `msgId`: the UNIQ_KEY of the half message.
        msg_id: req String => "msgId",
        /// `transactionId`.
        transaction_id: opt String => "transactionId",
        /// Inherited keys (no `lo`: Java's class extends `RpcRequestHeader`).
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE request header (incoming), Java
    /// `CheckTransactionStateRequestHeader`; the body is the half message.
    pub struct CheckTransactionStateRequestHeader {
        /// `topic` (5.x).
        topic: opt String => "topic",
        /// `tranStateTableOffset`: echo it in END_TRANSACTION.
        tran_state_table_offset: req i64 => "tranStateTableOffset",
        /// `commitLogOffset`: echo it in END_TRANSACTION.
        commit_log_offset: req i64 => "commitLogOffset",
        /// `msgId`: the UNIQ_KEY.
        msg_id: opt String => "msgId",
        /// `transactionId`.
        transaction_id: opt String => "transactionId",
        /// `offsetMsgId`.
        offset_msg_id: opt String => "offsetMsgId",
        /// Inherited keys; `rpc.broker_name` (`bname`) names the checking broker.
        rpc: flat RpcHeaderExtras,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::{CommandHeader, ExtFields, HeaderError};

    fn full_end() -> EndTransactionRequestHeader {
        EndTransactionRequestHeader {
            topic: Some("T".into()),
            producer_group: "PG".into(),
            tran_state_table_offset: 11,
            commit_log_offset: 4096,
            commit_or_rollback: TransactionResolution::Commit,
            from_transaction_check: Some(true),
            msg_id: "7F000001000118B4AAC2".into(),
            transaction_id: Some("7F000001000118B4AAC2".into()),
            rpc: rpc_only_extras(),
        }
    }

    header_spec!(
        end_transaction_request,
        full: full_end(),
        minimal: EndTransactionRequestHeader {
            topic: None,
            from_transaction_check: None,
            transaction_id: None,
            rpc: RpcHeaderExtras::default(),
            ..full_end()
        },
        keys: [
            "topic", "producerGroup", "tranStateTableOffset", "commitLogOffset",
            "commitOrRollback", "fromTransactionCheck", "msgId", "transactionId",
            "ns", "nsd", "bname", "oway",
        ],
        required: [
            "producerGroup", "tranStateTableOffset", "commitLogOffset", "commitOrRollback",
            "msgId",
        ],
    );

    header_spec!(
        check_transaction_state_request,
        full: CheckTransactionStateRequestHeader {
            topic: Some("T".into()),
            tran_state_table_offset: 11,
            commit_log_offset: 4096,
            msg_id: Some("7F000001000118B4AAC2".into()),
            transaction_id: Some("7F000001000118B4AAC2".into()),
            offset_msg_id: Some("0A00000500002A9F0000000000001000".into()),
            rpc: rpc_only_extras(),
        },
        minimal: CheckTransactionStateRequestHeader {
            tran_state_table_offset: 11,
            commit_log_offset: 4096,
            ..Default::default()
        },
        keys: [
            "topic", "tranStateTableOffset", "commitLogOffset", "msgId", "transactionId",
            "offsetMsgId", "ns", "nsd", "bname", "oway",
        ],
        required: ["tranStateTableOffset", "commitLogOffset"],
    );

    #[test]
    fn resolutions_have_java_wire_codes() {
        assert_eq!(TransactionResolution::Unknown.code(), 0);
        assert_eq!(TransactionResolution::Commit.code(), 8);
        assert_eq!(TransactionResolution::Rollback.code(), 12);
    }

    #[test]
    fn commit_or_rollback_is_written_as_an_integer() {
        let mut h = full_end();
        h.commit_or_rollback = TransactionResolution::Rollback;
        assert_eq!(h.to_ext_fields().get("commitOrRollback"), Some("12"));
    }

    #[test]
    fn unknown_commit_or_rollback_code_is_invalid() {
        let mut f: ExtFields = full_end().to_ext_fields();
        f.insert("commitOrRollback", "4");
        assert_eq!(
            EndTransactionRequestHeader::from_fields(&f),
            Err(HeaderError::Invalid {
                key: "commitOrRollback"
            })
        );
    }

    #[test]
    fn check_request_carries_the_broker_name_as_bname() {
        let f: ExtFields = [
            ("tranStateTableOffset", "1"),
            ("commitLogOffset", "2"),
            ("bname", "broker-a"),
        ]
        .into_iter()
        .collect();
        let h = CheckTransactionStateRequestHeader::from_fields(&f).unwrap();
        assert_eq!(h.rpc.broker_name.as_deref(), Some("broker-a"));
    }
}
