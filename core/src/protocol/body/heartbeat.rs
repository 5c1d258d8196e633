//! HEART_BEAT (34) body: `HeartbeatData` and the subscriptions it carries
//! (PROTOCOL.md §4.2).

use alloc::string::String;
use alloc::vec::Vec;

use crate::message::tag_hash_code;
use crate::protocol::json::JsonWriter;

/// The subscription expression that selects every message.
pub const SUB_ALL: &str = "*";

/// A client's heartbeat: the producer and consumer groups it belongs to.
///
/// Serialised like Java 5.x (`heartbeatFingerprint` and `withoutSub` are
/// included; 4.x brokers ignore them). A fingerprint of 0 selects the
/// broker's V1 handling, which registers every group in full.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeartbeatData {
    /// Client ID (`ip@instance[@unit]`), sent as `clientID`.
    pub client_id: String,
    /// Producer groups.
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups and their subscriptions.
    pub consumer_data_set: Vec<ConsumerData>,
    /// Heartbeat V2 fingerprint; 0 (the default) = V1 heartbeat.
    pub heartbeat_fingerprint: i32,
    /// Heartbeat V2: subscriptions omitted because unchanged.
    pub without_sub: bool,
}

/// A producer group in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerData {
    /// Producer group name.
    pub group_name: String,
}

/// A consumer group in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerData {
    /// Consumer group name.
    pub group_name: String,
    /// Pull, push or pop.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Where a group without a committed offset starts.
    pub consume_from_where: ConsumeFromWhere,
    /// One entry per subscribed topic (push consumers in clustering mode
    /// also list `%RETRY%<group>` with `*`).
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode (rarely used).
    pub unit_mode: bool,
}

/// A topic subscription (Java `SubscriptionData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionData {
    /// Subscribed topic.
    pub topic: String,
    /// The expression as given: `*`, `TagA || TagB`, or SQL92.
    pub sub_string: String,
    /// Tags of a TAG expression (trimmed, deduplicated); empty for `*`/SQL92.
    pub tags_set: Vec<String>,
    /// Java `hashCode` of each tag (deduplicated); the broker filters on these.
    pub code_set: Vec<i32>,
    /// Version (ms when built); pulls must not carry a newer version than the
    /// last heartbeat.
    pub sub_version: i64,
    /// Expression language.
    pub expression_type: ExpressionType,
    /// Legacy class filter mode; always false.
    pub class_filter_mode: bool,
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
        }

        impl $name {
            /// The Java enum constant name, as sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $text,)*
                }
            }

            /// The variant whose Java name is `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$var),)*
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(
    /// How a consumer fetches messages (Java `ConsumeType`).
    ConsumeType {
        /// Pull consumer (`CONSUME_ACTIVELY`).
        ConsumeActively => "CONSUME_ACTIVELY",
        /// Push consumer (`CONSUME_PASSIVELY`).
        ConsumePassively => "CONSUME_PASSIVELY",
        /// Pop consumer, 5.x (`CONSUME_POP`).
        ConsumePop => "CONSUME_POP",
    }
);

wire_enum!(
    /// Clustering (queues shared by the group) or broadcasting (every
    /// consumer gets every message).
    MessageModel {
        /// `CLUSTERING`.
        Clustering => "CLUSTERING",
        /// `BROADCASTING`.
        Broadcasting => "BROADCASTING",
    }
);

wire_enum!(
    /// Where a consumer group without a committed offset starts.
    ConsumeFromWhere {
        /// `CONSUME_FROM_LAST_OFFSET` (Java default).
        LastOffset => "CONSUME_FROM_LAST_OFFSET",
        /// Deprecated Java constant.
        LastOffsetAndFromMinWhenBootFirst => "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Deprecated Java constant.
        MinOffset => "CONSUME_FROM_MIN_OFFSET",
        /// Deprecated Java constant.
        MaxOffset => "CONSUME_FROM_MAX_OFFSET",
        /// `CONSUME_FROM_FIRST_OFFSET`.
        FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
        /// `CONSUME_FROM_TIMESTAMP`.
        Timestamp => "CONSUME_FROM_TIMESTAMP",
    }
);

wire_enum!(
    /// Subscription expression language (Java `ExpressionType`).
    ExpressionType {
        /// Tag expression: `*` or `TagA || TagB`.
        Tag => "TAG",
        /// SQL92 over message properties (broker needs `enablePropertyFilter`).
        Sql92 => "SQL92",
    }
);

impl HeartbeatData {
    /// The body bytes, exactly as fastjson writes Java's `HeartbeatData`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    /// Appends the body bytes to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut w = JsonWriter::new(out);
        w.begin_object().field_str("clientID", &self.client_id);
        w.key("consumerDataSet").begin_array();
        for c in &self.consumer_data_set {
            c.write(&mut w);
        }
        w.end_array();
        w.field_i64(
            "heartbeatFingerprint",
            i64::from(self.heartbeat_fingerprint),
        );
        w.key("producerDataSet").begin_array();
        for p in &self.producer_data_set {
            w.begin_object()
                .field_str("groupName", &p.group_name)
                .end_object();
        }
        w.end_array();
        w.field_bool("withoutSub", self.without_sub).end_object();
    }
}

impl ProducerData {
    /// A producer group entry.
    pub fn new(group_name: impl Into<String>) -> Self {
        Self {
            group_name: group_name.into(),
        }
    }
}

impl ConsumerData {
    fn write(&self, w: &mut JsonWriter<'_>) {
        w.begin_object()
            .field_str("consumeFromWhere", self.consume_from_where.as_str())
            .field_str("consumeType", self.consume_type.as_str())
            .field_str("groupName", &self.group_name)
            .field_str("messageModel", self.message_model.as_str());
        w.key("subscriptionDataSet").begin_array();
        for s in &self.subscription_data_set {
            s.write(w);
        }
        w.end_array();
        w.field_bool("unitMode", self.unit_mode).end_object();
    }
}

/// Java `String.trim`: strips leading and trailing chars ≤ U+0020.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

impl SubscriptionData {
    /// A TAG subscription built like Java `FilterAPI.buildSubscriptionData`:
    /// an empty expression or exactly `*` subscribes to everything (empty
    /// sets, `subString` `*`); otherwise the expression is split on `||`,
    /// each tag trimmed, empty ones dropped, and every tag and its hash code
    /// recorded. `subString` keeps the expression as given.
    pub fn from_expression(topic: impl Into<String>, expression: &str, sub_version: i64) -> Self {
        let mut data = Self {
            topic: topic.into(),
            sub_string: String::from(SUB_ALL),
            tags_set: Vec::new(),
            code_set: Vec::new(),
            sub_version,
            expression_type: ExpressionType::Tag,
            class_filter_mode: false,
        };
        if expression.is_empty() || expression == SUB_ALL {
            return data;
        }
        data.sub_string = String::from(expression);
        for tag in expression
            .split("||")
            .map(java_trim)
            .filter(|t| !t.is_empty())
        {
            if !data.tags_set.iter().any(|t| t == tag) {
                data.tags_set.push(String::from(tag));
            }
            let code = tag_hash_code(tag);
            if !data.code_set.contains(&code) {
                data.code_set.push(code);
            }
        }
        data
    }

    /// An SQL92 subscription: `subString` = the SQL, empty tag and code sets.
    pub fn sql92(topic: impl Into<String>, sql: impl Into<String>, sub_version: i64) -> Self {
        Self {
            topic: topic.into(),
            sub_string: sql.into(),
            tags_set: Vec::new(),
            code_set: Vec::new(),
            sub_version,
            expression_type: ExpressionType::Sql92,
            class_filter_mode: false,
        }
    }

    /// True for a TAG subscription to every message (`*`).
    pub fn is_sub_all(&self) -> bool {
        self.expression_type == ExpressionType::Tag && self.sub_string == SUB_ALL
    }

    /// Client-side re-filter (the broker filters by hash code only, which
    /// can collide): with a non-empty tag set only messages whose tag is in
    /// it pass, and messages without a tag are dropped, as Java does.
    pub fn accepts_tag(&self, tag: Option<&str>) -> bool {
        if self.tags_set.is_empty() || self.class_filter_mode {
            return true;
        }
        tag.is_some_and(|t| self.tags_set.iter().any(|s| s == t))
    }

    fn write(&self, w: &mut JsonWriter<'_>) {
        w.begin_object()
            .field_bool("classFilterMode", self.class_filter_mode);
        w.key("codeSet").begin_array();
        for c in &self.code_set {
            w.i64(i64::from(*c));
        }
        w.end_array();
        w.field_str("expressionType", self.expression_type.as_str())
            .field_str("subString", &self.sub_string)
            .field_i64("subVersion", self.sub_version);
        w.key("tagsSet").begin_array();
        for t in &self.tags_set {
            w.string(t);
        }
        w.end_array();
        w.field_str("topic", &self.topic).end_object();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn producer_only_heartbeat_matches_fastjson_bytes() {
        let hb = HeartbeatData {
            client_id: "10.0.0.1@12345#987654321".into(),
            producer_data_set: vec![ProducerData::new("pg")],
            ..HeartbeatData::default()
        };
        assert_eq!(
            core::str::from_utf8(&hb.to_json()).unwrap(),
            r#"{"clientID":"10.0.0.1@12345#987654321","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"pg"}],"withoutSub":false}"#
        );
    }

    #[test]
    fn consumer_heartbeat_matches_fastjson_bytes() {
        // PROTOCOL.md §4.2 example, whitespace removed.
        let hb = HeartbeatData {
            client_id: "10.0.0.1@12345#987654321".into(),
            producer_data_set: vec![ProducerData::new("pg")],
            consumer_data_set: vec![ConsumerData {
                group_name: "cg".into(),
                consume_type: ConsumeType::ConsumePassively,
                message_model: MessageModel::Clustering,
                consume_from_where: ConsumeFromWhere::LastOffset,
                subscription_data_set: vec![SubscriptionData::from_expression(
                    "T",
                    "TagA",
                    1_700_000_000_000,
                )],
                unit_mode: false,
            }],
            ..HeartbeatData::default()
        };
        assert_eq!(
            core::str::from_utf8(&hb.to_json()).unwrap(),
            concat!(
                r#"{"clientID":"10.0.0.1@12345#987654321","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","#,
                r#""consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":["#,
                r#"{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","#,
                r#""subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"#,
                r#""heartbeatFingerprint":0,"producerDataSet":[{"groupName":"pg"}],"withoutSub":false}"#
            )
        );
    }

    #[test]
    fn heartbeat_output_is_readable_json() {
        let hb = HeartbeatData {
            client_id: "c\"1".into(),
            consumer_data_set: vec![ConsumerData {
                group_name: "g".into(),
                consume_type: ConsumeType::ConsumeActively,
                message_model: MessageModel::Broadcasting,
                consume_from_where: ConsumeFromWhere::Timestamp,
                subscription_data_set: vec![
                    SubscriptionData::from_expression("T", "*", 1),
                    SubscriptionData::sql92("U", "a > 1", 2),
                ],
                unit_mode: true,
            }],
            ..HeartbeatData::default()
        };
        let v = crate::protocol::json::parse(&hb.to_json()).unwrap();
        assert_eq!(v.get("clientID").unwrap().as_str(), Some("c\"1"));
        let subs = v.get("consumerDataSet").unwrap().as_array().unwrap()[0]
            .get("subscriptionDataSet")
            .unwrap()
            .as_array()
            .unwrap();
        assert_eq!(
            subs[1].get("expressionType").unwrap().as_str(),
            Some("SQL92")
        );
        assert_eq!(subs[1].get("subString").unwrap().as_str(), Some("a > 1"));
    }

    #[test]
    fn star_and_empty_expressions_subscribe_to_all() {
        for expr in ["*", ""] {
            let s = SubscriptionData::from_expression("T", expr, 0);
            assert_eq!(s.sub_string, "*");
            assert!(s.tags_set.is_empty() && s.code_set.is_empty());
            assert!(s.is_sub_all());
        }
    }

    #[test]
    fn tag_expression_is_split_trimmed_and_hashed() {
        let s = SubscriptionData::from_expression("T", " TagA || TagB ||", 7);
        assert_eq!(s.sub_string, " TagA || TagB ||");
        assert_eq!(s.tags_set, ["TagA", "TagB"]);
        assert_eq!(s.code_set, [2_598_919, 2_598_920]);
        assert_eq!(s.sub_version, 7);
        assert!(!s.is_sub_all());
    }

    #[test]
    fn duplicate_tags_are_recorded_once() {
        let s = SubscriptionData::from_expression("T", "A||A", 0);
        assert_eq!(s.tags_set, ["A"]);
        assert_eq!(s.code_set, [65]);
    }

    #[test]
    fn colliding_tags_share_one_code() {
        // "Aa" and "BB" have the same Java hashCode (2112).
        let s = SubscriptionData::from_expression("T", "Aa||BB", 0);
        assert_eq!(s.tags_set, ["Aa", "BB"]);
        assert_eq!(s.code_set, [2112]);
    }

    #[test]
    fn re_filter_drops_other_and_missing_tags() {
        let s = SubscriptionData::from_expression("T", "TagA", 0);
        assert!(s.accepts_tag(Some("TagA")));
        assert!(!s.accepts_tag(Some("TagB")));
        assert!(!s.accepts_tag(None));
        assert!(SubscriptionData::from_expression("T", "*", 0).accepts_tag(None));
    }

    #[test]
    fn enum_names_round_trip() {
        for c in [
            ConsumeFromWhere::LastOffset,
            ConsumeFromWhere::FirstOffset,
            ConsumeFromWhere::Timestamp,
        ] {
            assert_eq!(ConsumeFromWhere::from_name(c.as_str()), Some(c));
        }
        assert_eq!(
            ConsumeType::from_name("CONSUME_POP"),
            Some(ConsumeType::ConsumePop)
        );
        assert_eq!(MessageModel::from_name("clustering"), None);
    }
}
