//! Captures golden vectors (raw response frames, length prefix included)
//! from a REAL namesrv + broker into a directory, for
//! `core/tests/golden_vectors.rs`.
//!
//! ```text
//! cargo xtask broker start --version 5 --namesrv-port 9906 --broker-port 10951
//! cargo run -p rmq-tests --example capture_vectors -- 127.0.0.1:9906 v5 core/tests/vectors/broker
//! ```
//!
//! Every file is `<what>_<label>.bin`. Topic names are fixed
//! (`golden_<what>_<label>`) so the decoded fields are predictable; pulls
//! start at the offset the first send reported, so a re-run on the same
//! cluster captures the same messages (with new offsets and timestamps).

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use rmq_core::message::compression::compress_zlib;
use rmq_core::message::{property, sysflag, Message};
use rmq_core::protocol::headers::{
    GetRouteInfoRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use rmq_core::protocol::{
    encode_request, request_code, response_code, CommandMeta, RemotingCommand, SerializeType,
};
use rmq_tests::raw::{self, Exchange, RawClient, DEFAULT_TIMEOUT};

type Res<T> = Result<T, Box<dyn Error>>;

/// Messages in the multi-message pull.
const PULL_COUNT: usize = 6;
/// Size of the compressible body.
const BIG_BODY_LEN: usize = 8 * 1024;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ns_addr, label, out_dir) =
        match args.as_slice() {
            [ns, label, out] => (ns.as_str(), label, out),
            [flag, broker, label, out] if flag == "--broker-only" => {
                let cap = Capture::new(out, label)?;
                return capture_broker_only(&cap, broker);
            }
            _ => return Err(
                "usage: capture_vectors <namesrv host:port> <label, e.g. v5> <out dir>\n       \
                        capture_vectors --broker-only <broker host:port> <label> <out dir>"
                    .into(),
            ),
        };
    let cap = Capture::new(out_dir, label)?;

    let json = SerializeType::Json;
    let bin = SerializeType::RocketMq;
    let mut ns = RawClient::connect(ns_addr, json, DEFAULT_TIMEOUT)?;

    // Cluster info (namesrv, JSON header; body with unquoted integer keys).
    let info = raw::cluster_info_exchange(&mut ns)?;
    cap.save("cluster_info", &info)?;

    // Route of a topic nobody created.
    let missing = format!("golden_missing_{label}");
    let ex = raw::route_exchange(&mut ns, &missing)?;
    assert_code(&ex, response_code::TOPIC_NOT_EXIST)?;
    cap.save("route_not_exist", &ex)?;

    // Route of a created topic (2 queues): as asked by a modern client
    // (version 479 + acceptStandardJsonOnly) and by a legacy one (version 317,
    // no flag), to see how brokerAddrs keys are written.
    let topic = format!("golden_route_{label}");
    let broker_addr = raw::create_topic_and_wait(ns_addr, json, &topic, 2)?;
    let ex = raw::route_exchange(&mut ns, &topic)?;
    assert_code(&ex, response_code::SUCCESS)?;
    cap.save("route", &ex)?;
    let legacy = GetRouteInfoRequestHeader {
        topic: topic.clone(),
        ..Default::default()
    };
    let ex = request_with_version(&mut ns, request_code::GET_ROUTEINFO_BY_TOPIC, 317, &legacy)?;
    assert_code(&ex, response_code::SUCCESS)?;
    cap.save("route_legacy", &ex)?;
    // The namesrv asked with a binary header.
    let mut ns_bin = RawClient::connect(ns_addr, bin, DEFAULT_TIMEOUT)?;
    let ex = raw::route_exchange(&mut ns_bin, &topic)?;
    cap.save("route_binreq", &ex)?;

    // Our own SEND_MESSAGE_V2 requests (fixed content), sent as-is.
    let req_topic = format!("golden_req_{label}");
    raw::create_topic_and_wait(ns_addr, json, &req_topic, 1)?;
    let mut broker = RawClient::connect(&broker_addr, json, DEFAULT_TIMEOUT)?;
    let mut broker_bin = RawClient::connect(&broker_addr, bin, DEFAULT_TIMEOUT)?;
    for (client, ser, name) in [
        (&mut broker, json, "send_v2_request_json"),
        (&mut broker_bin, bin, "send_v2_request_binary"),
    ] {
        let frame = golden_send_request(ser, &req_topic);
        fs::write(cap.path(name), &frame)?;
        let ex = client.exchange(&frame, GOLDEN_OPAQUE)?;
        assert_code(&ex, response_code::SUCCESS)?;
        let reply = if ser == json {
            "send_v2_response"
        } else {
            "send_v2_response_binreq"
        };
        cap.save(reply, &ex)?;
    }

    // Several messages with tags, keys and properties, pulled in one go.
    let multi = format!("golden_multi_{label}");
    raw::create_topic_and_wait(ns_addr, json, &multi, 1)?;
    let mut first_offset = None;
    for i in 0..PULL_COUNT {
        let msg = golden_message(&multi, i);
        let sent = raw::send(&mut broker, "golden_producer", &msg, 0)?;
        first_offset.get_or_insert(sent.queue_offset);
    }
    let first = first_offset.unwrap_or(0);
    let ex = pull_all(&mut broker, &multi, first, PULL_COUNT)?;
    cap.save("pull_multi", &ex)?;
    let ex = pull_all(&mut broker_bin, &multi, first, PULL_COUNT)?;
    cap.save("pull_multi_binreq", &ex)?;

    // An 8 KiB compressible body, zlib-compressed with sysFlag COMPRESSED.
    let zipped = format!("golden_zlib_{label}");
    raw::create_topic_and_wait(ns_addr, json, &zipped, 1)?;
    let body = big_body();
    let msg = Message::new(zipped.as_str(), body.clone())
        .with_tags("Big")
        .with_keys(["big-key"]);
    let header = raw::send_header(
        "golden_producer",
        &msg,
        0,
        sysflag::COMPRESSED,
        raw::now_ms(),
    );
    let sent: SendMessageResponseHeader =
        raw::send_exchange(&mut broker, &header, &compress_zlib(&body, 5))?
            .response
            .header()?;
    let ex = pull_all(&mut broker, &zipped, sent.queue_offset, 1)?;
    cap.save("pull_compressed", &ex)?;

    println!("captured into {}", cap.out.display());
    Ok(())
}

/// Broker-side vectors only, from a broker that needs no namesrv (e.g. one
/// started with `-Drocketmq.serialize.type=ROCKETMQ`, which answers every
/// request with a binary header): the topics are created on it directly.
fn capture_broker_only(cap: &Capture, broker_addr: &str) -> Res<()> {
    let label = &cap.label;
    let mut broker = RawClient::connect(broker_addr, SerializeType::Json, DEFAULT_TIMEOUT)?;
    let req_topic = format!("golden_req_{label}");
    raw::create_topic(&mut broker, &req_topic, 1)?;
    let frame = golden_send_request(SerializeType::Json, &req_topic);
    let ex = broker.exchange(&frame, GOLDEN_OPAQUE)?;
    assert_code(&ex, response_code::SUCCESS)?;
    cap.save("send_v2_response", &ex)?;

    let multi = format!("golden_multi_{label}");
    raw::create_topic(&mut broker, &multi, 1)?;
    let mut first_offset = None;
    for i in 0..PULL_COUNT {
        let sent = raw::send(
            &mut broker,
            "golden_producer",
            &golden_message(&multi, i),
            0,
        )?;
        first_offset.get_or_insert(sent.queue_offset);
    }
    let ex = pull_all(&mut broker, &multi, first_offset.unwrap_or(0), PULL_COUNT)?;
    cap.save("pull_multi", &ex)?;
    let ex = raw::pull_exchange(&mut broker, "golden_consumer", &multi, 0, 1_000, 32)?;
    cap.save("pull_offset_moved", &ex)?;
    println!("captured into {}", cap.out.display());
    Ok(())
}

/// The opaque of the golden SEND_MESSAGE_V2 requests.
const GOLDEN_OPAQUE: i32 = 42;

/// The golden SEND_MESSAGE_V2 request: `core/tests/golden_vectors.rs` builds
/// the same one and expects these bytes.
fn golden_send_request(ser: SerializeType, topic: &str) -> Vec<u8> {
    let mut msg = Message::new(topic, &b"golden request body"[..])
        .with_tags("TagG")
        .with_keys(["gk1", "gk2"]);
    msg.properties.insert("color", "blue");
    msg.properties.insert(
        property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
        "7F00000100002A9F0000000000000001",
    );
    let header: SendMessageRequestHeaderV2 =
        raw::send_header("golden_group", &msg, 0, 0, 1_764_201_600_000);
    let mut out = BytesMut::new();
    encode_request(
        &mut out,
        ser,
        &CommandMeta::request(request_code::SEND_MESSAGE_V2, GOLDEN_OPAQUE),
        &header,
        &[],
        &msg.body,
    )
    .expect("encodes");
    out.to_vec()
}

/// Message `i` of the multi-message pull.
fn golden_message(topic: &str, i: usize) -> Message {
    let mut msg = Message::new(topic, format!("golden body {i}").into_bytes())
        .with_tags(format!("Tag{i}"))
        .with_keys([format!("key-{i}"), format!("order-{i}")]);
    msg.flag = i as i32;
    msg.properties.insert("idx", i.to_string());
    msg.properties.insert(
        property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
        format!("7F00000100002A9F00000000000001{i:02X}"),
    );
    msg
}

/// 8 KiB of text that zlib shrinks well.
fn big_body() -> Vec<u8> {
    let line = b"rmq golden vector: a compressible line of text. ";
    line.iter().copied().cycle().take(BIG_BODY_LEN).collect()
}

fn pull_all(broker: &mut RawClient, topic: &str, from: i64, want: usize) -> Res<Exchange> {
    for _ in 0..100 {
        let ex = raw::pull_exchange(broker, "golden_consumer", topic, 0, from, 32)?;
        if ex.response.code == response_code::SUCCESS {
            let msgs = rmq_core::message::decode_messages(&ex.response.body)?;
            if msgs.len() >= want {
                return Ok(ex);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("pull of {topic} never returned {want} messages").into())
}

fn request_with_version<H: rmq_core::protocol::CommandHeader>(
    client: &mut RawClient,
    code: i32,
    version: i32,
    header: &H,
) -> Res<Exchange> {
    let opaque = client.next_opaque();
    let mut meta = CommandMeta::request(code, opaque);
    meta.version = version;
    let mut out = BytesMut::new();
    encode_request(&mut out, client.serialize_type(), &meta, header, &[], &[])?;
    Ok(client.exchange(&out, opaque)?)
}

fn assert_code(ex: &Exchange, code: i32) -> Res<()> {
    if ex.response.code == code {
        Ok(())
    } else {
        Err(format!("expected code {code}, got {:?}", ex.response).into())
    }
}

struct Capture {
    out: PathBuf,
    label: String,
}

impl Capture {
    fn new(out_dir: &str, label: &str) -> Res<Capture> {
        let out = PathBuf::from(out_dir);
        fs::create_dir_all(&out)?;
        Ok(Capture {
            out,
            label: label.to_string(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.out.join(format!("{name}_{}.bin", self.label))
    }

    fn save(&self, name: &str, ex: &Exchange) -> Res<()> {
        let path = self.path(name);
        fs::write(&path, &ex.frame)?;
        describe(&path, &ex.response, &ex.frame);
        Ok(())
    }
}

fn describe(path: &Path, cmd: &RemotingCommand, frame: &[u8]) {
    let ser = frame.get(4).map_or(255, |b| *b);
    println!(
        "{}: {} bytes, header serialize type {ser}, code {}, version {}, {} ext fields, body {} bytes",
        path.display(),
        frame.len(),
        cmd.code,
        cmd.version,
        cmd.ext_fields.len(),
        cmd.body.len()
    );
}
