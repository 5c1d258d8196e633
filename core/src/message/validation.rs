//! Client-side checks on topics, groups and messages (PROTOCOL.md §10),
//! matching what Java's `Validators` rejects before anything is sent.

use alloc::string::String;

use super::properties::MAX_ENCODED_LEN;
use super::{property, Message};

/// Longest ordinary topic name.
pub const TOPIC_MAX_LEN: usize = 127;
/// Longest `%RETRY%` / `%DLQ%` topic name.
pub const RETRY_TOPIC_MAX_LEN: usize = 255;
/// Longest group name (5.x).
pub const GROUP_MAX_LEN: usize = 120;
/// Default broker `maxMessageSize`: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Prefix of retry topics (`%RETRY%<group>`).
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of dead-letter topics (`%DLQ%<group>`).
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Prefix of light message queues.
pub const LMQ_PREFIX: &str = "%LMQ%";
/// Prefix of broker system topics.
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";

/// Broker system topics (besides the [`SYSTEM_TOPIC_PREFIX`] family).
pub const SYSTEM_TOPICS: &[&str] = &[
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    "CHECKPOINT_TOPIC",
];

/// Topics brokers refuse to accept sends to (NO_PERMISSION).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// Group names reserved by RocketMQ itself.
pub const RESERVED_GROUPS: &[&str] = &[
    "DEFAULT_PRODUCER",
    "DEFAULT_CONSUMER",
    "TOOLS_CONSUMER",
    "SCHEDULE_CONSUMER",
    "FILTERSRV_CONSUMER",
    "__MONITOR_CONSUMER",
    "CLIENT_INNER_PRODUCER",
    "SELF_TEST_P_GROUP",
    "SELF_TEST_C_GROUP",
];

/// Prefixes of reserved group names.
pub const RESERVED_GROUP_PREFIXES: &[&str] = &["CID_ONS", "CID_RMQ_SYS_"];

/// A topic, group or message breaks a rule; the variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The topic is empty or whitespace.
    #[error("topic is blank")]
    BlankTopic,
    /// The topic has characters outside `[%|a-zA-Z0-9_-]`.
    #[error("topic `{0}` contains characters outside [%|a-zA-Z0-9_-]")]
    IllegalTopicCharacters(String),
    /// The topic is longer than allowed.
    #[error("topic is {len} characters long, the maximum is {max}")]
    TopicTooLong {
        /// Topic length.
        len: usize,
        /// Applicable maximum.
        max: usize,
    },
    /// Brokers refuse sends to this system topic.
    #[error("sending to system topic `{0}` is not allowed")]
    TopicNotAllowedForSending(String),
    /// The group is empty or whitespace.
    #[error("group is blank")]
    BlankGroup,
    /// The group has characters outside `[%|a-zA-Z0-9_-]`.
    #[error("group `{0}` contains characters outside [%|a-zA-Z0-9_-]")]
    IllegalGroupCharacters(String),
    /// The group is longer than [`GROUP_MAX_LEN`].
    #[error("group is {len} characters long, the maximum is {max}")]
    GroupTooLong {
        /// Group length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The body is empty.
    #[error("message body is empty")]
    EmptyBody,
    /// The body (or encoded batch) is larger than the maximum message size.
    #[error("message body of {size} bytes exceeds the maximum of {max}")]
    BodyTooLarge {
        /// Body length.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// The delay level (`DELAY`) is not a non-negative integer (brokers
    /// fail such messages with SYSTEM_ERROR).
    #[error("delay level is not a valid level")]
    DelayLevel,
    /// Encoded properties exceed 32767 bytes.
    #[error("message properties of {len} bytes exceed 32767")]
    PropertiesTooLong {
        /// Encoded length.
        len: usize,
    },
    /// A batch has no message.
    #[error("batch is empty")]
    EmptyBatch,
    /// A batch mixes topics.
    #[error("batch messages must all have the same topic")]
    BatchMixedTopics,
    /// A batch message has a delay level.
    #[error("batch messages cannot have a delay level")]
    BatchWithDelay,
    /// A batch targets a retry topic.
    #[error("batches cannot be sent to a %RETRY% topic")]
    BatchToRetryTopic,
    /// Batch messages disagree on `WAIT`.
    #[error("batch messages must all have the same WAIT property")]
    BatchMixedWait,
}

fn legal_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-')
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Whether `topic` is a retry topic (`%RETRY%...`).
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
}

/// Whether `topic` is a dead-letter topic (`%DLQ%...`).
pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
}

/// Whether `topic` is a broker system topic.
pub fn is_system_topic(topic: &str) -> bool {
    SYSTEM_TOPICS.contains(&topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

/// Whether brokers refuse sends to `topic`.
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    NOT_ALLOWED_SEND_TOPICS.contains(&topic)
}

/// Whether `group` is reserved by RocketMQ.
pub fn is_reserved_group(group: &str) -> bool {
    RESERVED_GROUPS.contains(&group) || RESERVED_GROUP_PREFIXES.iter().any(|p| group.starts_with(p))
}

/// Checks a topic name: non-blank, charset `^[%|a-zA-Z0-9_-]+$`, at most
/// 127 characters (255 for `%RETRY%`/`%DLQ%` topics). System topics pass.
pub fn validate_topic_name(topic: &str) -> Result<(), ValidationError> {
    if is_blank(topic) {
        return Err(ValidationError::BlankTopic);
    }
    if !topic.bytes().all(legal_char) {
        return Err(ValidationError::IllegalTopicCharacters(topic.into()));
    }
    let max = if is_retry_topic(topic) || is_dlq_topic(topic) {
        RETRY_TOPIC_MAX_LEN
    } else {
        TOPIC_MAX_LEN
    };
    if topic.len() > max {
        return Err(ValidationError::TopicTooLong {
            len: topic.len(),
            max,
        });
    }
    Ok(())
}

/// Checks a topic to send to: [`validate_topic_name`], and not one of the
/// system topics brokers refuse sends to ([`NOT_ALLOWED_SEND_TOPICS`]).
/// Other system topics (e.g. the trace topic) are allowed.
pub fn validate_topic(topic: &str) -> Result<(), ValidationError> {
    validate_topic_name(topic)?;
    if is_not_allowed_send_topic(topic) {
        return Err(ValidationError::TopicNotAllowedForSending(topic.into()));
    }
    Ok(())
}

/// Checks a group name: non-blank, charset `^[%|a-zA-Z0-9_-]+$`, at most
/// [`GROUP_MAX_LEN`] characters. Reserved names pass; see
/// [`is_reserved_group`].
pub fn validate_group(group: &str) -> Result<(), ValidationError> {
    if is_blank(group) {
        return Err(ValidationError::BlankGroup);
    }
    if !group.bytes().all(legal_char) {
        return Err(ValidationError::IllegalGroupCharacters(group.into()));
    }
    if group.len() > GROUP_MAX_LEN {
        return Err(ValidationError::GroupTooLong {
            len: group.len(),
            max: GROUP_MAX_LEN,
        });
    }
    Ok(())
}

/// Checks a message before sending: [`validate_topic`], a non-empty body of
/// at most `max_body` bytes (uncompressed; brokers default to
/// [`DEFAULT_MAX_MESSAGE_SIZE`]), a numeric delay level if any, and encoded
/// properties of at most 32767 bytes.
pub fn validate_message(msg: &Message, max_body: usize) -> Result<(), ValidationError> {
    validate_topic(&msg.topic)?;
    if msg.body.is_empty() {
        return Err(ValidationError::EmptyBody);
    }
    if msg.body.len() > max_body {
        return Err(ValidationError::BodyTooLarge {
            size: msg.body.len(),
            max: max_body,
        });
    }
    if let Some(level) = msg.properties.get(property::DELAY_TIME_LEVEL) {
        if !level.parse::<i32>().is_ok_and(|l| l >= 0) {
            return Err(ValidationError::DelayLevel);
        }
    }
    let len = msg.properties.encoded_len();
    if len > MAX_ENCODED_LEN {
        return Err(ValidationError::PropertiesTooLong { len });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn ordinary_topic_is_valid() {
        assert_eq!(validate_topic("Topic_A-1|x%y"), Ok(()));
    }

    #[test]
    fn blank_topic_is_rejected() {
        assert_eq!(validate_topic(""), Err(ValidationError::BlankTopic));
        assert_eq!(validate_topic("  "), Err(ValidationError::BlankTopic));
    }

    #[test]
    fn topic_with_illegal_characters_is_rejected() {
        for t in ["a b", "a.b", "a/b", "tópico", "a\u{1}"] {
            assert_eq!(
                validate_topic(t),
                Err(ValidationError::IllegalTopicCharacters(t.to_string())),
                "{t}"
            );
        }
    }

    #[test]
    fn topic_longer_than_127_is_rejected() {
        assert_eq!(validate_topic(&"a".repeat(127)), Ok(()));
        assert_eq!(
            validate_topic(&"a".repeat(128)),
            Err(ValidationError::TopicTooLong { len: 128, max: 127 })
        );
    }

    #[test]
    fn retry_and_dlq_topics_may_reach_255() {
        let retry = "%RETRY%".to_string() + &"g".repeat(248);
        assert_eq!(validate_topic(&retry), Ok(()));
        let dlq = "%DLQ%".to_string() + &"g".repeat(251);
        assert_eq!(
            validate_topic(&dlq),
            Err(ValidationError::TopicTooLong { len: 256, max: 255 })
        );
    }

    #[test]
    fn sending_to_forbidden_system_topics_is_rejected() {
        for t in NOT_ALLOWED_SEND_TOPICS {
            assert_eq!(
                validate_topic(t),
                Err(ValidationError::TopicNotAllowedForSending(t.to_string()))
            );
            assert_eq!(validate_topic_name(t), Ok(()));
        }
        assert_eq!(validate_topic("RMQ_SYS_TRACE_TOPIC"), Ok(()));
    }

    #[test]
    fn system_topics_are_recognised() {
        assert!(is_system_topic("TBW102"));
        assert!(is_system_topic("rmq_sys_wheel_timer"));
        assert!(!is_system_topic("TopicTest"));
    }

    #[test]
    fn group_rules() {
        assert_eq!(validate_group("CG_1"), Ok(()));
        assert_eq!(validate_group(""), Err(ValidationError::BlankGroup));
        assert_eq!(
            validate_group("a b"),
            Err(ValidationError::IllegalGroupCharacters("a b".into()))
        );
        assert_eq!(
            validate_group(&"g".repeat(121)),
            Err(ValidationError::GroupTooLong { len: 121, max: 120 })
        );
    }

    #[test]
    fn reserved_groups_are_recognised() {
        assert!(is_reserved_group("DEFAULT_PRODUCER"));
        assert!(is_reserved_group("CID_RMQ_SYS_X"));
        assert!(is_reserved_group("CID_ONS-foo"));
        assert!(!is_reserved_group("my_group"));
    }

    #[test]
    fn empty_body_is_rejected() {
        let m = Message::new("T", "");
        assert_eq!(
            validate_message(&m, DEFAULT_MAX_MESSAGE_SIZE),
            Err(ValidationError::EmptyBody)
        );
    }

    #[test]
    fn body_over_max_is_rejected() {
        let m = Message::new("T", alloc::vec![0u8; 11]);
        assert_eq!(validate_message(&m, 11), Ok(()));
        assert_eq!(
            validate_message(&m, 10),
            Err(ValidationError::BodyTooLarge { size: 11, max: 10 })
        );
    }

    #[test]
    fn non_numeric_delay_level_is_rejected() {
        let m = Message::new("T", "x").with_property("DELAY", "soon");
        assert_eq!(validate_message(&m, 100), Err(ValidationError::DelayLevel));
        let m = Message::new("T", "x").with_property("DELAY", "-1");
        assert_eq!(validate_message(&m, 100), Err(ValidationError::DelayLevel));
        let m = Message::new("T", "x").with_delay_level(3);
        assert_eq!(validate_message(&m, 100), Ok(()));
    }

    #[test]
    fn message_topic_is_validated() {
        let m = Message::new("SCHEDULE_TOPIC_XXXX", "x");
        assert!(matches!(
            validate_message(&m, 100),
            Err(ValidationError::TopicNotAllowedForSending(_))
        ));
    }

    #[test]
    fn properties_over_32767_bytes_are_rejected() {
        let m = Message::new("T", "x").with_property("k", "v".repeat(32_765));
        assert_eq!(
            validate_message(&m, 100),
            Err(ValidationError::PropertiesTooLong { len: 32_767 + 1 })
        );
    }
}
