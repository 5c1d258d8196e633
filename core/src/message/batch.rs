//! Batch bodies (SEND_BATCH_MESSAGE and inner batches, PROTOCOL.md §5.3).
//!
//! Per message: `TOTALSIZE i32 (= 22 + bodyLen + propLen) | MAGIC i32 (0) |
//! BODYCRC i32 (0) | FLAG i32 | BODYLEN i32 | BODY | PROPLEN i16 | PROPERTIES`.
//! The topic is not part of the encoding; the request header carries it.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use super::ext::Reader;
use super::properties::MAX_ENCODED_LEN;
use super::validation::{validate_message, ValidationError, RETRY_GROUP_TOPIC_PREFIX};
use super::{Message, Properties};

/// Fixed bytes per batch entry besides body and properties.
pub const ENTRY_OVERHEAD: usize = 22;

/// A message cannot be put into a batch body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchEncodeError {
    /// A body does not fit the int32 length field.
    #[error("message {index}: body of {len} bytes is too large for a batch entry")]
    BodyTooLarge {
        /// Index of the message in the batch.
        index: usize,
        /// Body length.
        len: usize,
    },
    /// Encoded properties exceed 32767 bytes.
    #[error("message {index}: properties of {len} bytes exceed 32767")]
    PropertiesTooLong {
        /// Index of the message in the batch.
        index: usize,
        /// Encoded properties length.
        len: usize,
    },
}

/// A batch body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchDecodeError {
    /// The input ends inside the entry at `offset`.
    #[error("batch entry at offset {offset} is truncated")]
    Truncated {
        /// Entry offset.
        offset: usize,
    },
    /// The entry at `offset` has a negative body length.
    #[error("batch entry at offset {offset} has a negative body length")]
    NegativeBodyLength {
        /// Entry offset.
        offset: usize,
    },
}

/// Encoded size of `messages` as a batch body.
pub fn encoded_batch_len(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| ENTRY_OVERHEAD + m.body.len() + m.properties.encoded_len())
        .sum()
}

/// Appends the batch encoding of `messages` to `out`. Each message's own
/// properties (UNIQ_KEY, TAGS, KEYS, WAIT, ...) are written as they are;
/// topics are not written.
///
/// Messages must have passed [`validate_message`] (properties of at most
/// 32767 bytes). If one has not, nothing is appended, so the batch fails
/// visibly instead of carrying a corrupt length; use [`try_encode_batch`]
/// to get the reason.
pub fn encode_batch(messages: &[Message], out: &mut Vec<u8>) {
    let _ = try_encode_batch(messages, out);
}

/// [`encode_batch`] that reports an entry that cannot be encoded. On error
/// `out` is left as it was.
pub fn try_encode_batch(messages: &[Message], out: &mut Vec<u8>) -> Result<(), BatchEncodeError> {
    let start = out.len();
    out.reserve(encoded_batch_len(messages));
    for (index, message) in messages.iter().enumerate() {
        if let Err(e) = encode_entry(index, message, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

fn encode_entry(index: usize, m: &Message, out: &mut Vec<u8>) -> Result<(), BatchEncodeError> {
    let props_len = m.properties.encoded_len();
    if props_len > MAX_ENCODED_LEN {
        return Err(BatchEncodeError::PropertiesTooLong {
            index,
            len: props_len,
        });
    }
    let too_large = BatchEncodeError::BodyTooLarge {
        index,
        len: m.body.len(),
    };
    let body_len = i32::try_from(m.body.len()).map_err(|_| too_large.clone())?;
    let total = i32::try_from(ENTRY_OVERHEAD + m.body.len() + props_len).map_err(|_| too_large)?;
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&m.flag.to_be_bytes());
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&m.body);
    out.extend_from_slice(&(props_len as u16).to_be_bytes());
    m.properties.encode_into(out);
    Ok(())
}

/// Decodes a batch body into messages of `topic`. Bodies are zero-copy
/// slices of `data`. As in Java, entries are walked by their body and
/// properties lengths (TOTALSIZE, MAGIC and BODYCRC are not checked).
pub fn decode_batch(data: &Bytes, topic: &str) -> Result<Vec<Message>, BatchDecodeError> {
    let mut out = Vec::new();
    let mut r = Reader::new(data);
    while r.remaining() > 0 {
        let offset = r.pos;
        let truncated = BatchDecodeError::Truncated { offset };
        r.skip(12).ok_or(truncated.clone())?;
        let flag = r.i32().ok_or(truncated.clone())?;
        let body_len = r.i32().ok_or(truncated.clone())?;
        let body_len = usize::try_from(body_len)
            .map_err(|_| BatchDecodeError::NegativeBodyLength { offset })?;
        let body_start = r.pos;
        r.skip(body_len).ok_or(truncated.clone())?;
        let body = data.slice(body_start..r.pos);
        let props_len = r.u16().ok_or(truncated.clone())?;
        let props = r.take(usize::from(props_len)).ok_or(truncated)?;
        out.push(Message {
            topic: String::from(topic),
            flag,
            properties: Properties::decode(props),
            body,
        });
    }
    Ok(out)
}

/// Checks the batch rules Java checks before sending a batch: at least one
/// message, one topic, no `%RETRY%` topic, no delay level and the same
/// `WAIT` everywhere. Each message still needs [`validate_message`], and
/// the encoded body ([`encoded_batch_len`]) must not exceed the maximum
/// message size; [`validate_batch_with`] does all of it.
pub fn validate_batch(messages: &[Message]) -> Result<(), ValidationError> {
    let first = messages.first().ok_or(ValidationError::EmptyBatch)?;
    for m in messages {
        if m.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            return Err(ValidationError::BatchToRetryTopic);
        }
        if m.delay_level() > 0 {
            return Err(ValidationError::BatchWithDelay);
        }
        if m.topic != first.topic {
            return Err(ValidationError::BatchMixedTopics);
        }
        if m.wait_store_msg_ok() != first.wait_store_msg_ok() {
            return Err(ValidationError::BatchMixedWait);
        }
    }
    Ok(())
}

/// [`validate_batch`], [`validate_message`] on each message with
/// `max_size`, and the encoded batch no larger than `max_size`.
pub fn validate_batch_with(messages: &[Message], max_size: usize) -> Result<(), ValidationError> {
    validate_batch(messages)?;
    for m in messages {
        validate_message(m, max_size)?;
    }
    let size = encoded_batch_len(messages);
    if size > max_size {
        return Err(ValidationError::BodyTooLarge {
            size,
            max: max_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::validation::DEFAULT_MAX_MESSAGE_SIZE;

    fn msgs() -> Vec<Message> {
        alloc::vec![
            Message::new("T", "a").with_tags("x").with_flag(1),
            Message::new("T", "bb").with_keys(["k"]),
        ]
    }

    #[test]
    fn entry_layout_matches_the_spec() {
        let m = Message::new("T", "body").with_property("a", "b");
        let mut out = Vec::new();
        encode_batch(core::slice::from_ref(&m), &mut out);
        let mut expected = Vec::new();
        expected.extend_from_slice(&30i32.to_be_bytes()); // 22 + 4 + 4
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&0i32.to_be_bytes());
        expected.extend_from_slice(&4i32.to_be_bytes());
        expected.extend_from_slice(b"body");
        expected.extend_from_slice(&4u16.to_be_bytes());
        expected.extend_from_slice(b"a\x01b\x02");
        assert_eq!(out, expected);
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let m = msgs();
        let mut out = Vec::new();
        encode_batch(&m, &mut out);
        assert_eq!(out.len(), encoded_batch_len(&m));
        assert_eq!(decode_batch(&Bytes::from(out), "T").unwrap(), m);
    }

    #[test]
    fn oversized_properties_are_rejected_and_output_untouched() {
        let big = Message::new("T", "b").with_property("k", "v".repeat(40_000));
        let mut out = alloc::vec![7u8];
        let batch = [Message::new("T", "a"), big];
        let err = try_encode_batch(&batch, &mut out).unwrap_err();
        assert!(matches!(
            err,
            BatchEncodeError::PropertiesTooLong { index: 1, .. }
        ));
        assert_eq!(out, [7u8]);
        encode_batch(&batch, &mut out);
        assert_eq!(out, [7u8]);
    }

    #[test]
    fn truncated_batch_is_an_error() {
        let mut out = Vec::new();
        encode_batch(&msgs(), &mut out);
        let first_entry = encoded_batch_len(&msgs()[..1]);
        for cut in 1..out.len() {
            if cut == first_entry {
                continue;
            }
            assert!(
                decode_batch(&Bytes::copy_from_slice(&out[..cut]), "T").is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn batch_with_invalid_message_fails_full_validation() {
        let m = [Message::new("A", "x"), Message::new("A", "")];
        assert_eq!(validate_batch(&m), Ok(()));
        assert_eq!(
            validate_batch_with(&m, DEFAULT_MAX_MESSAGE_SIZE),
            Err(ValidationError::EmptyBody)
        );
    }

    #[test]
    fn valid_batch_passes() {
        assert_eq!(validate_batch(&msgs()), Ok(()));
    }

    #[test]
    fn empty_batch_is_rejected() {
        assert_eq!(validate_batch(&[]), Err(ValidationError::EmptyBatch));
    }

    #[test]
    fn mixed_topics_are_rejected() {
        let m = [Message::new("A", "x"), Message::new("B", "x")];
        assert_eq!(validate_batch(&m), Err(ValidationError::BatchMixedTopics));
    }

    #[test]
    fn delay_in_batch_is_rejected() {
        let m = [
            Message::new("A", "x"),
            Message::new("A", "x").with_delay_level(2),
        ];
        assert_eq!(validate_batch(&m), Err(ValidationError::BatchWithDelay));
    }

    #[test]
    fn retry_topic_batch_is_rejected() {
        let m = [Message::new("%RETRY%g", "x")];
        assert_eq!(validate_batch(&m), Err(ValidationError::BatchToRetryTopic));
    }

    #[test]
    fn mixed_wait_is_rejected() {
        let m = [
            Message::new("A", "x"),
            Message::new("A", "x").with_wait_store_msg_ok(false),
        ];
        assert_eq!(validate_batch(&m), Err(ValidationError::BatchMixedWait));
    }

    #[test]
    fn batch_larger_than_max_is_rejected() {
        let m = [Message::new("A", "xxxxxxxx"), Message::new("A", "xxxxxxxx")];
        assert_eq!(
            validate_batch_with(&m, 40),
            Err(ValidationError::BodyTooLarge { size: 60, max: 40 })
        );
    }
}
