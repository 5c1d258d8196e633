//! Namespaces: one client-level name prefix `ns%` on every topic and group
//! the client uses, exactly as the Java client's `NamespaceUtil` applies
//! it, so several tenants share one cluster with the same resource names.
//!
//! - [`wrap`]: `topic` → `ns%topic`; `%RETRY%group` → `%RETRY%ns%group`;
//!   `%DLQ%group` → `%DLQ%ns%group`. System topics (`TBW102`,
//!   `SCHEDULE_TOPIC_XXXX`, `rmq_sys_*`, …) and system groups
//!   (`CID_RMQ_SYS_*`) are exempt, and a name already in the namespace is
//!   left alone (never wrapped twice).
//! - [`unwrap`]: the inverse, for what the user sees (send results'
//!   queues, received messages' topics); names of another namespace are
//!   left as they are.
//!
//! 5.x also has "namespace v2" ([`crate::engine::ClientConfig::namespace_v2`]):
//! names are not wrapped; every request carries ext fields `ns` (the
//! namespace) and `nsd` = `true` instead (Java `NamespaceRpcHook`).
//!
//! ```
//! use rmq_core::namespace::{unwrap, wrap};
//!
//! assert_eq!(wrap("ns1", "orders"), "ns1%orders");
//! assert_eq!(wrap("ns1", "ns1%orders"), "ns1%orders");
//! assert_eq!(wrap("ns1", "%RETRY%group"), "%RETRY%ns1%group");
//! assert_eq!(wrap("ns1", "TBW102"), "TBW102");
//! assert_eq!(unwrap("ns1", "%DLQ%ns1%group"), "%DLQ%group");
//! ```

use alloc::string::String;

/// `%`: between the namespace and the name.
pub const SEPARATOR: char = '%';
const RETRY_PREFIX: &str = "%RETRY%";
const DLQ_PREFIX: &str = "%DLQ%";
const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";

/// Java `TopicValidator.SYSTEM_TOPIC_SET`.
const SYSTEM_TOPICS: &[&str] = &[
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

/// True for names no namespace applies to: Java's system topics and
/// system consumer groups.
pub fn is_system_resource(name: &str) -> bool {
    SYSTEM_TOPICS.contains(&name)
        || name.starts_with(SYSTEM_TOPIC_PREFIX)
        || name.starts_with(SYSTEM_GROUP_PREFIX)
}

/// `name` without a `%RETRY%` or `%DLQ%` prefix (Java `withOutRetryAndDLQ`).
fn strip_prefix(name: &str) -> (&'static str, &str) {
    if let Some(rest) = name.strip_prefix(RETRY_PREFIX) {
        (RETRY_PREFIX, rest)
    } else if let Some(rest) = name.strip_prefix(DLQ_PREFIX) {
        (DLQ_PREFIX, rest)
    } else {
        ("", name)
    }
}

/// True when `name` (after a retry or DLQ prefix) already starts with
/// `namespace%` (Java `isAlreadyWithNamespace`).
pub fn is_wrapped(namespace: &str, name: &str) -> bool {
    if namespace.is_empty() || name.is_empty() || is_system_resource(name) {
        return false;
    }
    let (_, rest) = strip_prefix(name);
    rest.strip_prefix(namespace)
        .is_some_and(|r| r.starts_with(SEPARATOR))
}

/// `name` in `namespace` (Java `NamespaceUtil.wrapNamespace`).
pub fn wrap(namespace: &str, name: &str) -> String {
    if namespace.is_empty()
        || name.is_empty()
        || is_system_resource(name)
        || is_wrapped(namespace, name)
    {
        return String::from(name);
    }
    let (prefix, rest) = strip_prefix(name);
    let mut out = String::with_capacity(name.len() + namespace.len() + 1);
    out.push_str(prefix);
    out.push_str(namespace);
    out.push(SEPARATOR);
    out.push_str(rest);
    out
}

/// `name` out of `namespace` when it is in it, else unchanged (Java
/// `NamespaceUtil.withoutNamespace(resource, namespace)`).
pub fn unwrap(namespace: &str, name: &str) -> String {
    if namespace.is_empty() || name.is_empty() || !is_wrapped(namespace, name) {
        return String::from(name);
    }
    let (prefix, rest) = strip_prefix(name);
    match rest.find(SEPARATOR) {
        Some(i) if i > 0 => {
            let mut out = String::from(prefix);
            out.push_str(&rest[i + 1..]);
            out
        }
        _ => String::from(name),
    }
}

/// [`wrap`] when `namespace` is set, else `name` as it is.
pub fn wrap_opt(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => wrap(ns, name),
        None => String::from(name),
    }
}

/// [`unwrap`] when `namespace` is set, else `name` as it is.
pub fn unwrap_opt(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => unwrap(ns, name),
        None => String::from(name),
    }
}

#[cfg(test)]
mod tests {
    //! Vectors from Java's `NamespaceUtilTest` and the examples in
    //! `NamespaceUtil`'s documentation.
    use super::*;

    const NS: &str = "MQ_INST_XXX";
    const NS_WRONG: &str = "MQ_INST_XXX1";

    #[test]
    fn a_topic_and_a_group_are_prefixed() {
        assert_eq!(wrap(NS, "TOPIC_XXX"), "MQ_INST_XXX%TOPIC_XXX");
        assert_eq!(wrap(NS, "GID_XXX"), "MQ_INST_XXX%GID_XXX");
    }

    #[test]
    fn retry_and_dlq_topics_keep_their_prefix_in_front() {
        assert_eq!(wrap(NS, "%RETRY%GID_XXX"), "%RETRY%MQ_INST_XXX%GID_XXX");
        assert_eq!(wrap(NS, "%DLQ%GID_XXX"), "%DLQ%MQ_INST_XXX%GID_XXX");
    }

    #[test]
    fn a_wrapped_name_is_never_wrapped_again() {
        for name in ["TOPIC_XXX", "%RETRY%GID_XXX", "%DLQ%GID_XXX"] {
            let once = wrap(NS, name);
            assert_eq!(wrap(NS, &once), once);
        }
    }

    #[test]
    fn system_topics_and_groups_are_exempt() {
        for name in [
            "TBW102",
            "SCHEDULE_TOPIC_XXXX",
            "RMQ_SYS_TRACE_TOPIC",
            "rmq_sys_topic",
            "CID_RMQ_SYS_TRANS",
        ] {
            assert_eq!(wrap(NS, name), name);
            assert_eq!(unwrap(NS, name), name);
        }
    }

    #[test]
    fn no_namespace_changes_nothing() {
        assert_eq!(wrap("", "TOPIC_XXX"), "TOPIC_XXX");
        assert_eq!(unwrap("", "MQ_INST_XXX%TOPIC_XXX"), "MQ_INST_XXX%TOPIC_XXX");
        assert_eq!(wrap_opt(None, "t"), "t");
    }

    #[test]
    fn unwrapping_removes_only_our_namespace() {
        // NamespaceUtil's documented cases (1)-(4).
        assert_eq!(unwrap(NS, "MQ_INST_XXX%TOPIC_XXX"), "TOPIC_XXX");
        assert_eq!(
            unwrap(NS_WRONG, "MQ_INST_XXX%TOPIC_XXX"),
            "MQ_INST_XXX%TOPIC_XXX"
        );
        assert_eq!(unwrap(NS, "%RETRY%MQ_INST_XXX%GID_XXX"), "%RETRY%GID_XXX");
        assert_eq!(
            unwrap("MQ_INST_XX3", "%RETRY%MQ_INST_XXX%GID_XXX"),
            "%RETRY%MQ_INST_XXX%GID_XXX"
        );
        assert_eq!(unwrap(NS, "%DLQ%MQ_INST_XXX%GID_XXX"), "%DLQ%GID_XXX");
        assert_eq!(unwrap(NS, "TOPIC_XXX"), "TOPIC_XXX");
    }

    #[test]
    fn a_namespace_that_is_a_prefix_of_another_is_not_confused() {
        assert!(!is_wrapped(NS, "MQ_INST_XXX1%T"));
        assert_eq!(wrap(NS, "MQ_INST_XXX1%T"), "MQ_INST_XXX%MQ_INST_XXX1%T");
    }

    /// The first request the engine writes (a route query) for `config`.
    fn first_request(config: crate::engine::ClientConfig) -> crate::protocol::RemotingCommand {
        use crate::engine::{Engine, Transmit};
        use crate::time::Instant;
        let mut engine = Engine::new(config, Instant::ZERO);
        let role = engine.register_role();
        engine.context(role, Instant::ZERO).watch_route("t");
        let Some(Transmit::Connect { conn, .. }) = engine.poll_transmit() else {
            panic!("no connect");
        };
        engine.handle_connected(conn, Instant::ZERO);
        let Some(Transmit::Write { bytes, .. }) = engine.poll_transmit() else {
            panic!("no write");
        };
        let mut decoder = crate::protocol::FrameDecoder::new(1 << 20);
        decoder.feed(&bytes);
        decoder.decode_next().unwrap().unwrap()
    }

    #[test]
    fn namespace_v2_rides_on_every_request_as_signed_ext_fields() {
        let config = crate::engine::ClientConfig {
            name_servers: alloc::vec![String::from("127.0.0.1:9876")],
            namespace_v2: Some(String::from("tenant")),
            credentials: Some(crate::acl::AclCredentials {
                access_key: String::from("ak"),
                secret_key: String::from("sk"),
                security_token: None,
            }),
            ..Default::default()
        };
        let cmd = first_request(config.clone());
        assert_eq!(cmd.ext_fields.get("ns"), Some("tenant"));
        assert_eq!(cmd.ext_fields.get("nsd"), Some("true"));
        assert_eq!(
            cmd.ext_fields.get("topic"),
            Some("t"),
            "names are not wrapped"
        );
        // The signature covers them: it differs from the same request's without.
        let plain = first_request(crate::engine::ClientConfig {
            namespace_v2: None,
            ..config
        });
        assert_eq!(plain.ext_fields.get("ns"), None);
        assert_ne!(
            cmd.ext_fields.get("Signature"),
            plain.ext_fields.get("Signature")
        );
    }
}
