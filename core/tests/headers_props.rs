//! Property tests: typed headers survive encode → ext fields → decode.

use proptest::option;
use proptest::prelude::*;
use rmq_core::protocol::fields::CommandHeader;
use rmq_core::protocol::headers::{
    PullMessageRequestHeader, RpcHeaderExtras, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};

/// Any string, including control characters (properties use \u{1}, \u{2}).
fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn extras() -> impl Strategy<Value = RpcHeaderExtras> {
    (
        option::of(text()),
        option::of(any::<bool>()),
        option::of(text()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(namespace, namespaced, broker_name, oneway, lo)| RpcHeaderExtras {
                namespace,
                namespaced,
                broker_name,
                oneway,
                lo,
            },
        )
}

fn send_v2() -> impl Strategy<Value = SendMessageRequestHeaderV2> {
    (
        (
            text(),
            text(),
            text(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
        ),
        (
            any::<i32>(),
            option::of(text()),
            option::of(any::<i32>()),
            option::of(any::<bool>()),
            option::of(any::<i32>()),
            option::of(any::<bool>()),
            option::of(text()),
        ),
    )
        .prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, l, m, n))| {
            SendMessageRequestHeaderV2 {
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                i,
                j,
                k,
                l,
                m,
                n,
            }
        })
}

fn pull() -> impl Strategy<Value = PullMessageRequestHeader> {
    (
        (
            text(),
            text(),
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
        ),
        (
            any::<i64>(),
            option::of(text()),
            any::<i64>(),
            option::of(text()),
        ),
        (
            option::of(any::<i32>()),
            option::of(any::<i32>()),
            option::of(text()),
            extras(),
        ),
    )
        .prop_map(
            |(
                (
                    consumer_group,
                    topic,
                    queue_id,
                    queue_offset,
                    max_msg_nums,
                    sys_flag,
                    commit_offset,
                ),
                (suspend_timeout_millis, subscription, sub_version, expression_type),
                (max_msg_bytes, request_source, proxy_forward_client_id, rpc),
            )| PullMessageRequestHeader {
                consumer_group,
                topic,
                queue_id,
                queue_offset,
                max_msg_nums,
                sys_flag,
                commit_offset,
                suspend_timeout_millis,
                subscription,
                sub_version,
                expression_type,
                max_msg_bytes,
                request_source,
                proxy_forward_client_id,
                rpc,
            },
        )
}

proptest! {
    #[test]
    fn send_v2_round_trips(h in send_v2()) {
        let fields = h.to_ext_fields();
        prop_assert_eq!(SendMessageRequestHeaderV2::from_fields(&fields), Ok(h));
    }

    #[test]
    fn send_v2_converts_to_v1_and_back(h in send_v2()) {
        let v1 = SendMessageRequestHeader::from(h.clone());
        prop_assert_eq!(SendMessageRequestHeaderV2::from(v1), h);
    }

    #[test]
    fn pull_request_round_trips(h in pull()) {
        let fields = h.to_ext_fields();
        prop_assert_eq!(PullMessageRequestHeader::from_fields(&fields), Ok(h));
    }
}
