//! Property tests for the remoting codec: decoders never panic on arbitrary
//! input, and encode → decode is the identity (modulo the documented
//! binary-header rule that empty strings mean null).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rmq_core::protocol::json::{self, JsonNumber, JsonValue};
use rmq_core::protocol::{
    binary_header, decode_command, json_header, ExtFields, FrameDecoder, LanguageCode,
    RemotingCommand, SerializeType,
};

fn arb_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i32>(),
        any::<u8>(),
        prop_oneof![any::<i32>(), -5i32..600],
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(".{0,12}"),
        proptest::collection::vec(("[a-zA-Z_]{0,6}|.{0,4}", ".{0,10}"), 0..6),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, lang, version, opaque, flag, remark, ext, body)| {
            let mut ext_fields = ExtFields::new();
            for (k, v) in ext {
                ext_fields.push(k, v);
            }
            RemotingCommand {
                code,
                language: LanguageCode::from_code(lang),
                version,
                opaque,
                flag,
                remark,
                ext_fields,
                body: Bytes::from(body),
            }
        })
}

fn small_code_command() -> impl Strategy<Value = RemotingCommand> {
    (arb_command(), -32768i32..32768, -32768i32..32768).prop_map(|(mut c, code, version)| {
        c.code = code;
        c.version = version;
        c
    })
}

/// What the binary header can carry: empty strings are null.
fn binary_normalised(c: &RemotingCommand) -> RemotingCommand {
    let mut n = c.clone();
    n.remark = c.remark.clone().filter(|r| !r.is_empty());
    let mut ext = ExtFields::new();
    for (k, v) in c.ext_fields.iter() {
        if k.is_empty() {
            continue;
        }
        if v.is_empty() {
            ext.remove(k);
        } else {
            ext.push(k.into(), v.into());
        }
    }
    n.ext_fields = ext;
    n
}

fn round_trip(c: &RemotingCommand, ser: SerializeType) -> RemotingCommand {
    let mut out = BytesMut::new();
    c.encode(ser, &mut out).unwrap();
    let mut d = FrameDecoder::default();
    d.feed(&out);
    let back = d.decode_next().unwrap().unwrap();
    assert_eq!(d.decode_next().unwrap(), None);
    back
}

fn arb_json() -> impl Strategy<Value = JsonValue> {
    let number = prop_oneof![
        any::<i64>().prop_map(JsonNumber::from),
        "-?(0|[1-9][0-9]{0,5})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?"
            .prop_map(|t| JsonNumber::from_text(&t).unwrap()),
    ];
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        number.clone().prop_map(JsonValue::Number),
        ".{0,8}".prop_map(JsonValue::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![
            ".{0,6}".prop_map(JsonValue::String),
            any::<i64>().prop_map(|i| JsonValue::Number(JsonNumber::from(i))),
            proptest::collection::vec((".{0,4}".prop_map(JsonValue::String), inner.clone()), 0..3)
                .prop_map(JsonValue::Object),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(JsonValue::Array),
            proptest::collection::vec((key, inner), 0..6).prop_map(JsonValue::Object),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frame_decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
    ) {
        let mut d = FrameDecoder::new(4096);
        for part in bytes.chunks(chunk) {
            d.feed(part);
            while let Ok(Some(_)) = d.decode_next() {}
        }
    }

    #[test]
    fn frame_decoder_never_panics_on_plausible_frames(
        ser in 0u8..3,
        header in proptest::collection::vec(any::<u8>(), 0..128),
        body in proptest::collection::vec(any::<u8>(), 0..16),
        header_len_delta in -3i32..3,
    ) {
        let hl = (header.len() as i32 + header_len_delta).max(0) as u32;
        let mut frame = Vec::new();
        frame.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
        frame.extend_from_slice(&((u32::from(ser) << 24) | hl).to_be_bytes());
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&body);
        let mut d = FrameDecoder::default();
        d.feed(&frame);
        let _ = d.decode_next();
    }

    #[test]
    fn header_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = binary_header::decode(&bytes);
        let _ = json_header::decode(&bytes);
        let _ = decode_command(Bytes::from(bytes));
    }

    #[test]
    fn json_parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = json::parse(&bytes);
    }

    #[test]
    fn json_parse_never_panics_on_json_like_text(text in "[\\[\\]{}:,\"\\\\u0-9a-fA-F .eE+-]{0,128}") {
        let _ = json::parse(text.as_bytes());
    }

    #[test]
    fn json_write_then_parse_is_identity(v in arb_json()) {
        let mut out = Vec::new();
        v.write_to(&mut out);
        prop_assert_eq!(json::parse(&out).unwrap(), v);
    }

    #[test]
    fn json_header_round_trip_is_identity(c in arb_command()) {
        prop_assert_eq!(round_trip(&c, SerializeType::Json), c);
    }

    #[test]
    fn binary_header_round_trip_is_identity_up_to_empty_strings(c in small_code_command()) {
        prop_assert_eq!(round_trip(&c, SerializeType::RocketMq), binary_normalised(&c));
    }

    #[test]
    fn binary_request_beyond_int16_round_trips_via_json(c in arb_command()) {
        let fits = i16::try_from(c.code).is_ok() && i16::try_from(c.version).is_ok();
        let expected = if fits { binary_normalised(&c) } else { c.clone() };
        prop_assert_eq!(round_trip(&c, SerializeType::RocketMq), expected);
    }

    #[test]
    fn any_split_of_a_stream_decodes_the_same_commands(
        cmds in proptest::collection::vec(arb_command(), 1..4),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        for c in &cmds {
            c.encode(SerializeType::Json, &mut stream).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut d = FrameDecoder::default();
        let mut got = Vec::new();
        let mut prev = 0;
        for p in points.into_iter().chain([stream.len()]) {
            d.feed(&stream[prev..p]);
            prev = p;
            while let Some(c) = d.decode_next().unwrap() {
                got.push(c);
            }
        }
        prop_assert_eq!(got, cmds);
    }
}

mod allocations {
    //! The send path allocates nothing when `out` already has capacity.

    use super::*;
    use rmq_core::protocol::codes::request_code;
    use rmq_core::protocol::{encode_request, CommandHeader, CommandMeta, FieldSink, FieldValue};
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static ALLOCS: Cell<usize> = const { Cell::new(0) };
    }

    // SAFETY: delegates to the system allocator; only counts calls.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Shaped like SendMessageRequestHeaderV2.
    struct SendV2<'a> {
        group: &'a str,
        topic: &'a str,
        queue_id: i32,
        born: i64,
        properties: &'a str,
    }

    impl CommandHeader for SendV2<'_> {
        fn write_fields<S: FieldSink + ?Sized>(&self, s: &mut S) {
            s.field("a", FieldValue::Str(self.group));
            s.field("b", FieldValue::Str(self.topic));
            s.field("c", FieldValue::Str("TBW102"));
            s.field("d", FieldValue::Int(4));
            s.field("e", FieldValue::Int(i64::from(self.queue_id)));
            s.field("f", FieldValue::Int(0));
            s.field("g", FieldValue::Int(self.born));
            s.field("h", FieldValue::Int(0));
            s.field("i", FieldValue::Str(self.properties));
            s.field("j", FieldValue::Int(0));
            s.field("k", FieldValue::Bool(false));
            s.field("m", FieldValue::Bool(false));
        }
        fn from_fields(_: &ExtFields) -> Result<Self, rmq_core::protocol::HeaderError> {
            unreachable!()
        }
    }

    #[test]
    fn encode_request_allocates_nothing_beyond_out() {
        let header = SendV2 {
            group: "pg",
            topic: "TopicTest",
            queue_id: 3,
            born: 1_700_000_000_000,
            properties: "UNIQ_KEY\u{1}7F0000010001\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}",
        };
        let body = vec![7u8; 1024];
        let extra = [("bname", "broker-a")];
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut out = BytesMut::with_capacity(1 << 16);
            let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, 1);
            let before = ALLOCS.with(Cell::get);
            encode_request(&mut out, ser, &meta, &header, &extra, &body).unwrap();
            let after = ALLOCS.with(Cell::get);
            assert_eq!(after - before, 0, "{ser:?}");
            let back = decode_command(out.freeze().slice(4..)).unwrap();
            assert_eq!(back.ext_fields.get("i"), Some(header.properties));
            assert_eq!(back.body.len(), 1024);
        }
    }
}
