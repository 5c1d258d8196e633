//! A single PULL_MESSAGE and what its answer means, shared by every host's
//! raw pull (the consumers build on the same mapping).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::Error;
use crate::message::{decode_messages, MessageExt};
use crate::protocol::headers::{PullMessageRequestHeader, PullMessageResponseHeader};
use crate::protocol::{request_code, response_code, RemotingCommand};
use crate::route::MessageQueue;

/// PullSysFlag SUBSCRIPTION: the request carries its own subscription.
pub const PULL_SUBSCRIPTION_FLAG: i32 = 4;

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

/// The answer to one pull.
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

/// A one-shot pull of up to `max` messages of `queue` from `offset` for
/// `group`, subscribed to everything, without long polling or an offset
/// commit: the raw read a pull consumer is built on.
pub fn pull_request(group: &str, queue: &MessageQueue, offset: i64, max: i32) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        consumer_group: group.to_string(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        queue_offset: offset,
        max_msg_nums: max,
        sys_flag: PULL_SUBSCRIPTION_FLAG,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some(String::from("*")),
        sub_version: 0,
        expression_type: Some(String::from("TAG")),
        ..Default::default()
    };
    RemotingCommand::request(request_code::PULL_MESSAGE, 0).with_header(&header)
}

impl PullResult {
    /// Reads the broker's answer to a pull sent to `broker`.
    pub fn from_response(response: &RemotingCommand, broker: &str) -> Result<Self, Error> {
        let status = match response.code {
            response_code::SUCCESS => PullStatus::Found,
            response_code::PULL_NOT_FOUND => PullStatus::NoNewMessages,
            response_code::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMessages,
            response_code::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            code => {
                let remark = response.remark.clone().unwrap_or_default();
                return Err(Error::from_refusal(broker, code, remark));
            }
        };
        let h: PullMessageResponseHeader = response
            .header()
            .map_err(|e| Error::Protocol(alloc::format!("pull response header: {e}")))?;
        let messages = if status == PullStatus::Found {
            decode_messages(&response.body)
                .map_err(|e| Error::Protocol(alloc::format!("pull body: {e}")))?
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexpected_code_is_a_broker_error() {
        let mut resp = RemotingCommand::response(response_code::SYSTEM_ERROR, 1);
        resp.remark = Some("boom".into());
        match PullResult::from_response(&resp, "b:1") {
            Err(Error::Broker { code, remark, .. }) => {
                assert_eq!(code, response_code::SYSTEM_ERROR);
                assert_eq!(remark, "boom");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_found_maps_to_no_new_messages() {
        let mut resp = RemotingCommand::response(response_code::PULL_NOT_FOUND, 1);
        for (k, v) in [
            ("nextBeginOffset", "5"),
            ("minOffset", "0"),
            ("maxOffset", "5"),
            ("suggestWhichBrokerId", "0"),
        ] {
            resp.ext_fields.insert(k, v);
        }
        let r = PullResult::from_response(&resp, "b:1").unwrap();
        assert_eq!(r.status, PullStatus::NoNewMessages);
        assert_eq!(r.next_begin_offset, 5);
        assert!(r.messages.is_empty());
    }
}
