//! Request and response codes of the remoting protocol.

/// Request codes (`RemotingCommand::code` of a request).
pub mod request_code {
    /// 10: Send one message (broker; header `SendMessageRequestHeader`).
    pub const SEND_MESSAGE: i32 = 10;
    /// 11: Pull messages from a queue (broker).
    pub const PULL_MESSAGE: i32 = 11;
    /// 12: Query messages by key or unique key (broker).
    pub const QUERY_MESSAGE: i32 = 12;
    /// 14: Read a group's committed offset for a queue (broker).
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    /// 15: Commit a group's offset for a queue (broker).
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    /// 17: Create or update a topic (broker admin).
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    /// 28: Read a broker's runtime statistics (broker admin).
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    /// 29: Find the queue offset for a store timestamp (broker).
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    /// 30: Read a queue's max offset (broker).
    pub const GET_MAX_OFFSET: i32 = 30;
    /// 31: Read a queue's min offset (broker).
    pub const GET_MIN_OFFSET: i32 = 31;
    /// 32: Read the store time of a queue's earliest message (broker).
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    /// 33: Fetch a message by its commit-log offset id (broker).
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    /// 34: Client heartbeat with producer/consumer data (broker).
    pub const HEART_BEAT: i32 = 34;
    /// 35: Unregister a producer/consumer group member (broker).
    pub const UNREGISTER_CLIENT: i32 = 35;
    /// 36: Send a failed message back for retry (broker).
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    /// 37: Commit or roll back a half message (broker, oneway).
    pub const END_TRANSACTION: i32 = 37;
    /// 38: List the client ids of a consumer group (broker).
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    /// 39: Broker → client: check a half message's state (oneway).
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    /// 40: Broker → client: the group's members changed (oneway).
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    /// 41: Lock queues for orderly consumption (broker).
    pub const LOCK_BATCH_MQ: i32 = 41;
    /// 42: Unlock queues (broker).
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    /// 105: Read a topic's route data (name server).
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    /// 106: Read cluster info (name server).
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    /// 203: List a consumer group's connections (broker admin).
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    /// 206: List all topics (name server).
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    /// 208: A consumer group's offsets and lag per queue (broker admin).
    pub const GET_CONSUME_STATS: i32 = 208;
    /// 215: Delete a topic on a broker (admin).
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    /// 216: Delete a topic on the name server (admin).
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    /// 222: Ask a broker to reset a group's offsets to a time (admin).
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    /// 220: Broker → client: reset consumer offsets (oneway).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    /// 221: Broker → client: consumer status (deprecated).
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    /// 307: Broker → client: report consumer running info (expects a response).
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    /// 309: Broker → client: consume one message directly (expects a response).
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    /// 310: Send one message with the short-key header (broker).
    pub const SEND_MESSAGE_V2: i32 = 310;
    /// 320: Send a batch of messages (broker; also needs `m=true`).
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    /// 324: Send a request-reply reply message (broker).
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    /// 325: Send a reply message with the short-key header (broker).
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    /// 326: Broker → client: deliver a reply message.
    pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;
    /// 361: Pull for lite pull consumers (broker).
    pub const LITE_PULL_MESSAGE: i32 = 361;
    /// 400: Query server-side queue assignment (broker, 5.x).
    pub const QUERY_ASSIGNMENT: i32 = 400;
    /// 200050: Pop messages (broker, 5.x; JSON header only).
    pub const POP_MESSAGE: i32 = 200050;
    /// 200051: Acknowledge a popped message (broker, 5.x; JSON header only).
    pub const ACK_MESSAGE: i32 = 200051;
    /// 200052: Peek messages (broker, 5.x; JSON header only).
    pub const PEEK_MESSAGE: i32 = 200052;
    /// 200053: Change a popped message's invisible time (broker, 5.x; JSON header only).
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    /// 200054: Long-poll notification for pop consumers (broker, 5.x; JSON header only).
    pub const NOTIFICATION: i32 = 200054;
    /// 200151: Acknowledge popped messages in batch (broker, 5.x; JSON header only).
    pub const BATCH_ACK_MESSAGE: i32 = 200151;

    /// The constant name of a request code, if known.
    pub fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            SEND_MESSAGE => "SEND_MESSAGE",
            PULL_MESSAGE => "PULL_MESSAGE",
            QUERY_MESSAGE => "QUERY_MESSAGE",
            QUERY_CONSUMER_OFFSET => "QUERY_CONSUMER_OFFSET",
            UPDATE_CONSUMER_OFFSET => "UPDATE_CONSUMER_OFFSET",
            UPDATE_AND_CREATE_TOPIC => "UPDATE_AND_CREATE_TOPIC",
            GET_BROKER_RUNTIME_INFO => "GET_BROKER_RUNTIME_INFO",
            SEARCH_OFFSET_BY_TIMESTAMP => "SEARCH_OFFSET_BY_TIMESTAMP",
            GET_MAX_OFFSET => "GET_MAX_OFFSET",
            GET_MIN_OFFSET => "GET_MIN_OFFSET",
            GET_EARLIEST_MSG_STORETIME => "GET_EARLIEST_MSG_STORETIME",
            VIEW_MESSAGE_BY_ID => "VIEW_MESSAGE_BY_ID",
            HEART_BEAT => "HEART_BEAT",
            UNREGISTER_CLIENT => "UNREGISTER_CLIENT",
            CONSUMER_SEND_MSG_BACK => "CONSUMER_SEND_MSG_BACK",
            END_TRANSACTION => "END_TRANSACTION",
            GET_CONSUMER_LIST_BY_GROUP => "GET_CONSUMER_LIST_BY_GROUP",
            CHECK_TRANSACTION_STATE => "CHECK_TRANSACTION_STATE",
            NOTIFY_CONSUMER_IDS_CHANGED => "NOTIFY_CONSUMER_IDS_CHANGED",
            LOCK_BATCH_MQ => "LOCK_BATCH_MQ",
            UNLOCK_BATCH_MQ => "UNLOCK_BATCH_MQ",
            GET_ROUTEINFO_BY_TOPIC => "GET_ROUTEINFO_BY_TOPIC",
            GET_BROKER_CLUSTER_INFO => "GET_BROKER_CLUSTER_INFO",
            GET_CONSUMER_CONNECTION_LIST => "GET_CONSUMER_CONNECTION_LIST",
            GET_ALL_TOPIC_LIST_FROM_NAMESERVER => "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
            GET_CONSUME_STATS => "GET_CONSUME_STATS",
            INVOKE_BROKER_TO_RESET_OFFSET => "INVOKE_BROKER_TO_RESET_OFFSET",
            DELETE_TOPIC_IN_BROKER => "DELETE_TOPIC_IN_BROKER",
            DELETE_TOPIC_IN_NAMESRV => "DELETE_TOPIC_IN_NAMESRV",
            RESET_CONSUMER_CLIENT_OFFSET => "RESET_CONSUMER_CLIENT_OFFSET",
            GET_CONSUMER_STATUS_FROM_CLIENT => "GET_CONSUMER_STATUS_FROM_CLIENT",
            GET_CONSUMER_RUNNING_INFO => "GET_CONSUMER_RUNNING_INFO",
            CONSUME_MESSAGE_DIRECTLY => "CONSUME_MESSAGE_DIRECTLY",
            SEND_MESSAGE_V2 => "SEND_MESSAGE_V2",
            SEND_BATCH_MESSAGE => "SEND_BATCH_MESSAGE",
            SEND_REPLY_MESSAGE => "SEND_REPLY_MESSAGE",
            SEND_REPLY_MESSAGE_V2 => "SEND_REPLY_MESSAGE_V2",
            PUSH_REPLY_MESSAGE_TO_CLIENT => "PUSH_REPLY_MESSAGE_TO_CLIENT",
            LITE_PULL_MESSAGE => "LITE_PULL_MESSAGE",
            QUERY_ASSIGNMENT => "QUERY_ASSIGNMENT",
            POP_MESSAGE => "POP_MESSAGE",
            ACK_MESSAGE => "ACK_MESSAGE",
            PEEK_MESSAGE => "PEEK_MESSAGE",
            CHANGE_MESSAGE_INVISIBLETIME => "CHANGE_MESSAGE_INVISIBLETIME",
            NOTIFICATION => "NOTIFICATION",
            BATCH_ACK_MESSAGE => "BATCH_ACK_MESSAGE",
            _ => return None,
        })
    }

    /// True for codes that do not fit the binary header's int16 `code`
    /// (pop family, ≥ 200050): these must travel with the JSON header.
    pub fn needs_json_header(code: i32) -> bool {
        i16::try_from(code).is_err()
    }
}

/// Response codes (`RemotingCommand::code` of a response).
pub mod response_code {
    /// 0: Success.
    pub const SUCCESS: i32 = 0;
    /// 1: Unspecified server error (see remark).
    pub const SYSTEM_ERROR: i32 = 1;
    /// 2: Server busy / flow control; retry later.
    pub const SYSTEM_BUSY: i32 = 2;
    /// 3: The peer does not handle this request code.
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    /// 4: Transaction failed.
    pub const TRANSACTION_FAILED: i32 = 4;
    /// 10: Send: stored, but the disk flush timed out (durability warning).
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    /// 11: Send: stored, but no slave is available (durability warning).
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    /// 12: Send: stored, but replication to the slave timed out (durability warning).
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    /// 13: The message is invalid (size, topic length, properties).
    pub const MESSAGE_ILLEGAL: i32 = 13;
    /// 14: The service is not available (e.g. broker shutting down, slave).
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    /// 15: Client version not supported.
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    /// 16: Permission denied (ACL or topic perm).
    pub const NO_PERMISSION: i32 = 16;
    /// 17: The topic does not exist.
    pub const TOPIC_NOT_EXIST: i32 = 17;
    /// 18: The topic already exists.
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    /// 19: Pull: no message found (long-poll ended empty).
    pub const PULL_NOT_FOUND: i32 = 19;
    /// 20: Pull: retry immediately.
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    /// 21: Pull: offset illegal, jump to `nextBeginOffset`.
    pub const PULL_OFFSET_MOVED: i32 = 21;
    /// 22: Query: no message found.
    pub const QUERY_NOT_FOUND: i32 = 22;
    /// 23: Subscription expression failed to parse.
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    /// 24: Subscription does not exist on the broker.
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    /// 25: Subscription version older than the broker's.
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    /// 26: Subscription group does not exist.
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    /// 27: Filter data does not exist.
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    /// 28: Filter data is not the latest.
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    /// 29: A request parameter is invalid.
    pub const INVALID_PARAMETER: i32 = 29;
    /// 200: Transaction check answer: commit.
    pub const TRANSACTION_SHOULD_COMMIT: i32 = 200;
    /// 201: Transaction check answer: roll back.
    pub const TRANSACTION_SHOULD_ROLLBACK: i32 = 201;
    /// 202: Transaction check answer: unknown (sic).
    pub const TRANSACTION_STATE_UNKNOW: i32 = 202;
    /// 203: Transaction state: wrong producer group.
    pub const TRANSACTION_STATE_GROUP_WRONG: i32 = 203;
    /// 204: No buyer id (legacy unit routing).
    pub const NO_BUYER_ID: i32 = 204;
    /// 205: Not in the current unit (legacy unit routing).
    pub const NOT_IN_CURRENT_UNIT: i32 = 205;
    /// 206: The target consumer is not online.
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    /// 207: Consuming the message timed out.
    pub const CONSUME_MSG_TIMEOUT: i32 = 207;
    /// 208: No message (e.g. pop found nothing).
    pub const NO_MESSAGE: i32 = 208;
    /// 209: Pop: too many pending long polls.
    pub const POLLING_FULL: i32 = 209;
    /// 210: Pop: long poll timed out.
    pub const POLLING_TIMEOUT: i32 = 210;
    /// 211: The broker does not exist.
    pub const BROKER_NOT_EXIST: i32 = 211;
    /// 212: The broker has not finished dispatching.
    pub const BROKER_DISPATCH_NOT_COMPLETE: i32 = 212;
    /// 213: Operation not allowed in broadcasting mode.
    pub const BROADCAST_CONSUMPTION: i32 = 213;
    /// 215: Flow control.
    pub const FLOW_CONTROL: i32 = 215;
    /// 501: Not the leader for the queue (static topics).
    pub const NOT_LEADER_FOR_QUEUE: i32 = 501;
    /// 604: Illegal operation (e.g. late END_TRANSACTION).
    pub const ILLEGAL_OPERATION: i32 = 604;
    /// 1500: The server is going away: reconnect elsewhere (5.x).
    pub const GO_AWAY: i32 = 1500;
    /// -1000: Client side only: unknown RPC failure.
    pub const RPC_UNKNOWN: i32 = -1000;
    /// -1002: Client side only: no address to send to.
    pub const RPC_ADDR_IS_NULL: i32 = -1002;
    /// -1004: Client side only: writing the request failed.
    pub const RPC_SEND_TO_CHANNEL_FAILED: i32 = -1004;
    /// -1006: Client side only: the request timed out.
    pub const RPC_TIME_OUT: i32 = -1006;

    /// The constant name of a response code, if known.
    pub fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            SUCCESS => "SUCCESS",
            SYSTEM_ERROR => "SYSTEM_ERROR",
            SYSTEM_BUSY => "SYSTEM_BUSY",
            REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
            TRANSACTION_FAILED => "TRANSACTION_FAILED",
            FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
            SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
            FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
            MESSAGE_ILLEGAL => "MESSAGE_ILLEGAL",
            SERVICE_NOT_AVAILABLE => "SERVICE_NOT_AVAILABLE",
            VERSION_NOT_SUPPORTED => "VERSION_NOT_SUPPORTED",
            NO_PERMISSION => "NO_PERMISSION",
            TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
            TOPIC_EXIST_ALREADY => "TOPIC_EXIST_ALREADY",
            PULL_NOT_FOUND => "PULL_NOT_FOUND",
            PULL_RETRY_IMMEDIATELY => "PULL_RETRY_IMMEDIATELY",
            PULL_OFFSET_MOVED => "PULL_OFFSET_MOVED",
            QUERY_NOT_FOUND => "QUERY_NOT_FOUND",
            SUBSCRIPTION_PARSE_FAILED => "SUBSCRIPTION_PARSE_FAILED",
            SUBSCRIPTION_NOT_EXIST => "SUBSCRIPTION_NOT_EXIST",
            SUBSCRIPTION_NOT_LATEST => "SUBSCRIPTION_NOT_LATEST",
            SUBSCRIPTION_GROUP_NOT_EXIST => "SUBSCRIPTION_GROUP_NOT_EXIST",
            FILTER_DATA_NOT_EXIST => "FILTER_DATA_NOT_EXIST",
            FILTER_DATA_NOT_LATEST => "FILTER_DATA_NOT_LATEST",
            INVALID_PARAMETER => "INVALID_PARAMETER",
            TRANSACTION_SHOULD_COMMIT => "TRANSACTION_SHOULD_COMMIT",
            TRANSACTION_SHOULD_ROLLBACK => "TRANSACTION_SHOULD_ROLLBACK",
            TRANSACTION_STATE_UNKNOW => "TRANSACTION_STATE_UNKNOW",
            TRANSACTION_STATE_GROUP_WRONG => "TRANSACTION_STATE_GROUP_WRONG",
            NO_BUYER_ID => "NO_BUYER_ID",
            NOT_IN_CURRENT_UNIT => "NOT_IN_CURRENT_UNIT",
            CONSUMER_NOT_ONLINE => "CONSUMER_NOT_ONLINE",
            CONSUME_MSG_TIMEOUT => "CONSUME_MSG_TIMEOUT",
            NO_MESSAGE => "NO_MESSAGE",
            POLLING_FULL => "POLLING_FULL",
            POLLING_TIMEOUT => "POLLING_TIMEOUT",
            BROKER_NOT_EXIST => "BROKER_NOT_EXIST",
            BROKER_DISPATCH_NOT_COMPLETE => "BROKER_DISPATCH_NOT_COMPLETE",
            BROADCAST_CONSUMPTION => "BROADCAST_CONSUMPTION",
            FLOW_CONTROL => "FLOW_CONTROL",
            NOT_LEADER_FOR_QUEUE => "NOT_LEADER_FOR_QUEUE",
            ILLEGAL_OPERATION => "ILLEGAL_OPERATION",
            GO_AWAY => "GO_AWAY",
            RPC_UNKNOWN => "RPC_UNKNOWN",
            RPC_ADDR_IS_NULL => "RPC_ADDR_IS_NULL",
            RPC_SEND_TO_CHANNEL_FAILED => "RPC_SEND_TO_CHANNEL_FAILED",
            RPC_TIME_OUT => "RPC_TIME_OUT",
            _ => return None,
        })
    }

    /// True for the send codes that mean the message **was stored** (0, 10,
    /// 11, 12): resending would duplicate it.
    pub fn is_stored(code: i32) -> bool {
        matches!(
            code,
            SUCCESS | FLUSH_DISK_TIMEOUT | SLAVE_NOT_AVAILABLE | FLUSH_SLAVE_TIMEOUT
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_names_match_constants() {
        assert_eq!(response_code::name(response_code::SUCCESS), Some("SUCCESS"));
        assert_eq!(response_code::name(1500), Some("GO_AWAY"));
        assert_eq!(response_code::name(-1006), Some("RPC_TIME_OUT"));
        assert_eq!(response_code::name(9999), None);
    }

    #[test]
    fn request_names_match_constants() {
        assert_eq!(request_code::name(310), Some("SEND_MESSAGE_V2"));
        assert_eq!(request_code::name(200151), Some("BATCH_ACK_MESSAGE"));
        assert_eq!(request_code::name(1), None);
    }

    #[test]
    fn pop_codes_need_the_json_header() {
        assert!(request_code::needs_json_header(request_code::POP_MESSAGE));
        assert!(!request_code::needs_json_header(
            request_code::SEND_MESSAGE_V2
        ));
    }

    #[test]
    fn stored_send_codes() {
        for c in [0, 10, 11, 12] {
            assert!(response_code::is_stored(c));
        }
        assert!(!response_code::is_stored(response_code::SYSTEM_BUSY));
    }
}
