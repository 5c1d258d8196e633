//! Fixtures shared by the codec benchmarks (`benches/codec.rs`) and the
//! allocation test (`tests/alloc.rs`): a SEND_MESSAGE_V2 request as a Java
//! producer sends it and a pull response body of stored records
//! (PROTOCOL.md §5.1) as a 5.x broker returns it.

use rmq_core::protocol::headers::SendMessageRequestHeaderV2;

/// Size of every message body in the fixtures.
pub const BODY_SIZE: usize = 1024;

/// Messages in the pull response body.
pub const PULL_BATCH: usize = 32;

/// Producer group of the send request.
pub const PRODUCER_GROUP: &str = "bench-producer-group";

/// Topic of every fixture message.
pub const TOPIC: &str = "BenchTopic";

/// Broker name (`n`) of the send request.
pub const BROKER_NAME: &str = "broker-a";

/// Properties string of the send request (§5.4): what a Java 5.x producer
/// writes for a message with a tag and a key.
pub const SEND_PROPERTIES: &str = "KEYS\u{1}order-000042\u{2}UNIQ_KEY\u{1}7F000001A1B218B4AAC2\
                                   5E7D3C0F0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}";

/// A 1 KiB body of printable JSON-ish text (not all one byte, so nothing
/// can shortcut it).
pub fn body_1k() -> Vec<u8> {
    let pattern = br#"{"orderId":42,"sku":"A-1001","qty":3,"note":"benchmark payload"},"#;
    pattern.iter().copied().cycle().take(BODY_SIZE).collect()
}

/// The SEND_MESSAGE_V2 header a producer sends for one message of
/// [`TOPIC`] with [`SEND_PROPERTIES`].
pub fn send_v2_header() -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: PRODUCER_GROUP.into(),
        b: TOPIC.into(),
        c: "TBW102".into(),
        d: 4,
        e: 3,
        f: 0,
        g: 1_732_680_000_123,
        h: 0,
        i: Some(SEND_PROPERTIES.into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
        n: Some(BROKER_NAME.into()),
    }
}

/// Properties string of stored message `index`: the producer's KEYS,
/// UNIQ_KEY, WAIT and TAGS.
pub fn stored_properties(index: usize) -> String {
    format!(
        "KEYS\u{1}order-{index:06}\u{2}UNIQ_KEY\u{1}7F000001A1B218B4AAC25E7D3C0F{index:04X}\
         \u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}"
    )
}

/// A pull response body: `count` V1 records with IPv4 hosts, a
/// [`BODY_SIZE`] body and [`stored_properties`], at consecutive queue and
/// commit-log offsets, as laid out in PROTOCOL.md §5.1.
pub fn pull_body(count: usize) -> Vec<u8> {
    let body = body_1k();
    let mut out = Vec::new();
    let mut commit_log_offset: i64 = 1 << 20;
    for index in 0..count {
        let props = stored_properties(index);
        let record = stored_record(index as i64, commit_log_offset, &body, props.as_bytes());
        commit_log_offset += record.len() as i64;
        out.extend_from_slice(&record);
    }
    out
}

/// One V1 stored record with IPv4 born/store hosts (§5.1).
fn stored_record(queue_offset: i64, commit_log_offset: i64, body: &[u8], props: &[u8]) -> Vec<u8> {
    const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
    let mut v = Vec::with_capacity(128 + body.len() + props.len());
    v.extend_from_slice(&0i32.to_be_bytes()); // TOTALSIZE, patched below
    v.extend_from_slice(&MAGIC_V1.to_be_bytes());
    v.extend_from_slice(&((crc32(body) & 0x7FFF_FFFF) as i32).to_be_bytes());
    v.extend_from_slice(&3i32.to_be_bytes()); // queue id
    v.extend_from_slice(&0i32.to_be_bytes()); // flag
    v.extend_from_slice(&queue_offset.to_be_bytes());
    v.extend_from_slice(&commit_log_offset.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes()); // sys flag
    v.extend_from_slice(&1_732_680_000_123i64.to_be_bytes());
    v.extend_from_slice(&[10, 0, 0, 7]);
    v.extend_from_slice(&51_234i32.to_be_bytes());
    v.extend_from_slice(&1_732_680_000_125i64.to_be_bytes());
    v.extend_from_slice(&[10, 0, 0, 1]);
    v.extend_from_slice(&10_911i32.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes()); // reconsume times
    v.extend_from_slice(&0i64.to_be_bytes()); // prepared transaction offset
    v.extend_from_slice(&(body.len() as i32).to_be_bytes());
    v.extend_from_slice(body);
    v.push(TOPIC.len() as u8);
    v.extend_from_slice(TOPIC.as_bytes());
    v.extend_from_slice(&(props.len() as i16).to_be_bytes());
    v.extend_from_slice(props);
    let total = v.len() as i32;
    v[..4].copy_from_slice(&total.to_be_bytes());
    v
}

/// CRC-32 (IEEE, reflected), bitwise; fixtures only.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn body_is_one_kib() {
        assert_eq!(body_1k().len(), BODY_SIZE);
    }

    #[test]
    fn pull_body_decodes_to_every_message_with_tags_keys_and_unique_key() {
        let body = bytes::Bytes::from(pull_body(PULL_BATCH));
        let msgs = rmq_core::message::decode_messages(&body).unwrap();
        assert_eq!(msgs.len(), PULL_BATCH);
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.topic(), TOPIC);
            assert_eq!(m.body().len(), BODY_SIZE);
            assert_eq!(m.queue_offset, i as i64);
            assert_eq!(m.tags(), Some("TagA"));
            assert_eq!(m.property("KEYS"), Some(format!("order-{i:06}").as_str()));
            assert_eq!(m.unique_key().map(str::len), Some(32));
        }
    }

    #[test]
    fn stored_body_crc_matches_the_body() {
        let body = bytes::Bytes::from(pull_body(2));
        let options = rmq_core::message::DecodeOptions {
            verify_body_crc: true,
            ..Default::default()
        };
        assert_eq!(
            rmq_core::message::decode_messages_with(&body, &options)
                .unwrap()
                .len(),
            2
        );
    }
}
