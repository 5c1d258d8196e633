//! GET_ROUTEINFO_BY_TOPIC (105), sent to a name server.

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC request header, Java
    /// `GetRouteInfoRequestHeader`.
    pub struct GetRouteInfoRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `acceptStandardJsonOnly`: ask for standard JSON route data
        /// (name servers ≥ 4.9.4; they also do so for request version ≥ 401).
        accept_standard_json_only: opt bool => "acceptStandardJsonOnly",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

impl GetRouteInfoRequestHeader {
    /// A request for `topic` that asks for standard JSON.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
            rpc: RpcHeaderExtras::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::CommandHeader;

    header_spec!(
        route_request,
        full: GetRouteInfoRequestHeader {
            topic: "T".into(),
            accept_standard_json_only: Some(true),
            rpc: full_extras(),
        },
        minimal: GetRouteInfoRequestHeader { topic: "T".into(), ..Default::default() },
        keys: ["topic", "acceptStandardJsonOnly", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic"],
    );

    #[test]
    fn new_asks_for_standard_json() {
        let f = GetRouteInfoRequestHeader::new("T").to_ext_fields();
        assert_eq!(f.get("topic"), Some("T"));
        assert_eq!(f.get("acceptStandardJsonOnly"), Some("true"));
        assert_eq!(f.len(), 2);
    }
}
