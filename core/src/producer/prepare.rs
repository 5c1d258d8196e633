//! Turning a user's message into what goes on the wire: validation before any
//! I/O, unique id, compression, properties string, batch body.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::message::batch::{encode_batch, validate_batch};
use crate::message::compression::compress_zlib;
use crate::message::id::UniqueIdGenerator;
use crate::message::{
    property, sysflag, validate_message, validate_topic, Message, ValidationError,
};

use super::ProducerConfig;

/// Wall-clock time for a send, supplied by the host (the core reads no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WallClock {
    /// Milliseconds since the Unix epoch: the born timestamp.
    pub now_ms: i64,
    /// Milliseconds since the Unix epoch of 00:00 on the first day of the
    /// current month (the unique id counts time from there).
    pub month_start_ms: i64,
}

impl WallClock {
    /// The wall clock at `unix_ms` (milliseconds since the Unix epoch),
    /// with the unique-id month origin in UTC (brokers never parse the
    /// id's time, so the time zone does not matter).
    pub fn from_unix_ms(unix_ms: i64) -> Self {
        WallClock {
            now_ms: unix_ms,
            month_start_ms: crate::message::id::month_start_unix_ms(unix_ms, 0),
        }
    }
}

#[cfg(test)]
mod wall_clock_tests {
    use super::WallClock;

    #[test]
    fn month_start_of_a_mid_month_instant_is_the_first_at_midnight() {
        // 2026-11-27T04:08:54Z → 2026-11-01T00:00:00Z
        let clock = WallClock::from_unix_ms(1_795_752_534_000);
        assert_eq!(clock.month_start_ms, 1_793_491_200_000);
    }

    #[test]
    fn month_start_of_the_first_millisecond_is_itself() {
        let clock = WallClock::from_unix_ms(1_793_491_200_000);
        assert_eq!(clock.month_start_ms, 1_793_491_200_000);
    }
}

/// What a send carries.
#[derive(Debug, Clone)]
pub enum Payload {
    /// One message.
    Single(Message),
    /// Several messages of one topic, stored in order as one request.
    Batch(Vec<Message>),
}

/// A message ready for the wire; re-encoded per attempt with the chosen queue.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) topic: String,
    pub(crate) properties: String,
    pub(crate) body: Bytes,
    pub(crate) sys_flag: i32,
    pub(crate) flag: i32,
    pub(crate) batch: bool,
    /// A reply (`MSG_TYPE=reply`): sent with SEND_REPLY_MESSAGE_V2.
    pub(crate) reply: bool,
    pub(crate) born_ms: i64,
    /// UNIQ_KEY, comma-separated for a batch.
    pub(crate) msg_id: String,
    /// The original message, for user queue selectors (single sends only).
    pub(crate) message: Option<Message>,
}

fn properties_string(msg: &Message) -> String {
    let mut buf = Vec::with_capacity(msg.properties.encoded_len());
    msg.properties.encode_into(&mut buf);
    // Properties are built from Rust strings: always UTF-8.
    String::from_utf8(buf).unwrap_or_default()
}

/// Checks and prepares a payload; nothing is sent when this fails.
pub(crate) fn prepare(
    payload: Payload,
    config: &ProducerConfig,
    ids: &mut UniqueIdGenerator,
    clock: WallClock,
) -> Result<Prepared, ValidationError> {
    match payload {
        Payload::Single(mut msg) => {
            validate_topic(&msg.topic)?;
            validate_message(&msg, config.max_message_size)?;
            if let Some(level) = msg.properties.get(property::DELAY) {
                let ok = level.parse::<u8>().is_ok_and(|l| (1..=18).contains(&l));
                if !ok {
                    return Err(ValidationError::DelayLevel);
                }
            }
            let msg_id = ids.next(clock.now_ms, clock.month_start_ms);
            msg.properties
                .insert(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, msg_id.clone());
            let mut sys_flag = 0;
            if msg.property(property::TRANSACTION_PREPARED) == Some("true") {
                sys_flag |= sysflag::TRANSACTION_PREPARED_TYPE;
            }
            let mut body = msg.body.clone();
            if body.len() > config.compress_threshold {
                let packed = compress_zlib(&body, config.compress_level);
                if packed.len() < body.len() {
                    body = Bytes::from(packed);
                    sys_flag |= sysflag::COMPRESSED;
                }
            }
            Ok(Prepared {
                topic: msg.topic.clone(),
                properties: properties_string(&msg),
                body,
                sys_flag,
                flag: msg.flag,
                batch: false,
                reply: super::is_reply(&msg),
                born_ms: clock.now_ms,
                msg_id,
                message: Some(msg),
            })
        }
        Payload::Batch(mut msgs) => {
            validate_batch(&msgs)?;
            let first = msgs.first().ok_or(ValidationError::EmptyBatch)?;
            validate_topic(&first.topic)?;
            let topic = first.topic.clone();
            let mut msg_ids = String::new();
            for msg in msgs.iter_mut() {
                validate_message(msg, config.max_message_size)?;
                let id = ids.next(clock.now_ms, clock.month_start_ms);
                if !msg_ids.is_empty() {
                    msg_ids.push(',');
                }
                msg_ids.push_str(&id);
                msg.properties
                    .insert(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, id);
            }
            let mut body = Vec::new();
            encode_batch(&msgs, &mut body);
            if body.len() > config.max_message_size {
                return Err(ValidationError::BodyTooLarge {
                    size: body.len(),
                    max: config.max_message_size,
                });
            }
            // The batch's own properties carry WAIT=true but no unique id
            // (as the Go client): 4.9.x brokers append them to every stored
            // message, and a batch-level UNIQ_KEY would then replace each
            // message's own id (apache/rocketmq#9416).
            let mut batch_props = crate::message::Properties::default();
            batch_props.insert(property::WAIT_STORE_MSG_OK, "true");
            let mut buf = Vec::new();
            batch_props.encode_into(&mut buf);
            Ok(Prepared {
                topic,
                properties: String::from_utf8(buf).unwrap_or_default(),
                body: Bytes::from(body),
                sys_flag: 0,
                flag: 0,
                batch: true,
                reply: false,
                born_ms: clock.now_ms,
                msg_id: msg_ids,
                message: None,
            })
        }
    }
}
