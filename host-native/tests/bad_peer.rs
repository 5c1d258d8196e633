//! A peer that misbehaves: garbage, truncated frames, a 2 GiB length
//! prefix, a header that is not JSON, an answer with an unknown opaque, a
//! route with absurd queue counts, a pull body whose lengths lie, a close
//! mid-frame; and a user queue selector that panics when a route answer
//! arrives. A fake name server also counts how often a producer asks it for
//! routes (`poll_name_server_interval`). The tokio host reports typed errors, closes that connection
//! (the fake peer sees EOF), keeps its other connections working (a healthy
//! real name server next to the bad one) and never allocates a frame past
//! its limit (the process RSS does not jump).
//!
//! Broker-backed cases need `RMQ_TEST_NAMESRV_V5` (set by `cargo xtask test`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rmq::rmq_core::protocol::{
    request_code, response_code, FrameDecoder, RemotingCommand, SerializeType,
};
use rmq::{Admin, Error, Message, MessageQueue, Producer};
use rmq_tests::{env_cluster, BrokerVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the fake peer does with one request.
#[derive(Clone)]
enum Act {
    /// Writes these bytes and keeps the connection open.
    Raw(Vec<u8>),
    /// Writes these bytes, then closes.
    RawThenClose(Vec<u8>),
    /// Answers with this command (its opaque set to the request's unless `keep_opaque`).
    Answer(RemotingCommand, bool),
}

type Script = Arc<dyn Fn(&RemotingCommand) -> Act + Send + Sync>;

/// A fake peer: runs `script` on every request; `closed` counts connections
/// that ended (by the client's close, seen as EOF, or by the script).
struct FakePeer {
    addr: String,
    closed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_peer(script: impl Fn(&RemotingCommand) -> Act + Send + Sync + 'static) -> FakePeer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let closed = Arc::new(AtomicUsize::new(0));
    let script: Script = Arc::new(script);
    let counter = Arc::clone(&closed);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((sock, _)) = listener.accept().await {
            let script = Arc::clone(&script);
            let counter = Arc::clone(&counter);
            conns.spawn(async move {
                serve(sock, script).await;
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    FakePeer { addr, closed, task }
}

async fn serve(mut sock: TcpStream, script: Script) {
    let mut dec = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        dec.feed(&buf[..n]);
        while let Ok(Some(req)) = dec.decode_next() {
            if !act(&mut sock, &req, script(&req)).await {
                return;
            }
        }
    }
}

/// Carries out `a`; false once the connection is closed.
async fn act(sock: &mut TcpStream, req: &RemotingCommand, a: Act) -> bool {
    match a {
        Act::Raw(bytes) => sock.write_all(&bytes).await.is_ok(),
        Act::RawThenClose(bytes) => {
            let _ = sock.write_all(&bytes).await;
            let _ = sock.shutdown().await;
            false
        }
        Act::Answer(mut resp, keep_opaque) => {
            if !keep_opaque {
                resp.opaque = req.opaque;
            }
            let mut out = BytesMut::new();
            resp.encode(SerializeType::Json, &mut out).unwrap();
            sock.write_all(&out).await.is_ok()
        }
    }
}

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

async fn producer(namesrv: &str, timeout: Duration) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_bad_peer"))
        .send_timeout(timeout)
        .retries(0)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

/// Resident set size of this process, in bytes (Linux).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Waits (bounded) until the fake peer saw `n` connections end.
async fn wait_closed(peer: &FakePeer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer.closed.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the client did not close the bad connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends to a name server that answers every request with `script`: the send
/// fails with a typed connection error, in time, and the connection is closed.
async fn assert_closed_with_typed_error(
    script: impl Fn(&RemotingCommand) -> Act + Send + Sync + 'static,
) -> Error {
    let ns = fake_peer(script).await;
    let p = producer(&ns.addr, Duration::from_secs(3)).await;
    let started = Instant::now();
    let err = p
        .send(Message::new(unique("bad_peer_t"), "x"))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Connection { .. } | Error::NoRoute { .. }),
        "expected a typed connection error, got {err:?}"
    );
    wait_closed(&ns, 1).await;
    p.shutdown().await.unwrap();
    err
}

/// A frame with a JSON (type 0) header of these bytes.
fn frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let header_word = header.len() as u32;
    let len = (4 + header.len() + body.len()) as u32;
    [
        &len.to_be_bytes()[..],
        &header_word.to_be_bytes(),
        header,
        body,
    ]
    .concat()
}

#[tokio::test]
async fn garbage_bytes_close_the_connection_with_a_typed_error() {
    let err = assert_closed_with_typed_error(|_| {
        Act::Raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec())
    })
    .await;
    assert!(err.to_string().contains("exceeds the maximum"), "{err}");
}

#[tokio::test]
async fn a_two_gib_length_prefix_is_refused_without_allocating_it() {
    let before = rss();
    let err =
        assert_closed_with_typed_error(|_| Act::Raw(vec![0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]))
            .await;
    assert!(
        err.to_string().contains("2147483647 exceeds the maximum"),
        "{err}"
    );
    let grown = rss().saturating_sub(before);
    assert!(grown < 64 * 1024 * 1024, "RSS grew by {grown} bytes");
}

#[tokio::test]
async fn a_header_that_is_not_json_closes_the_connection_with_a_typed_error() {
    let err = assert_closed_with_typed_error(|_| Act::Raw(frame(b"this is {json", b""))).await;
    assert!(err.to_string().contains("bad header"), "{err}");
}

#[tokio::test]
async fn a_truncated_frame_then_close_is_a_typed_error() {
    // A frame announcing 100 bytes, 10 of them sent, then the close.
    let mut bytes = 100u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 10]);
    assert_closed_with_typed_error(move |_| Act::RawThenClose(bytes.clone())).await;
}

#[tokio::test]
async fn an_answer_with_an_unknown_opaque_is_ignored_and_the_request_times_out() {
    let ns = fake_peer(|req| {
        let mut resp =
            RemotingCommand::response(response_code::SUCCESS, req.opaque.wrapping_add(7777));
        resp.body = br#"{"brokerDatas":[],"queueDatas":[]}"#.to_vec().into();
        Act::Answer(resp, true)
    })
    .await;
    let p = producer(&ns.addr, Duration::from_secs(2)).await;
    let started = Instant::now();
    let err = p
        .send(Message::new(unique("bad_peer_t"), "x"))
        .await
        .unwrap_err();
    // The route request ends at its own 3 s timeout (measured: 3.0 s), so
    // a 4 s bound left a loaded machine 1 s; a hang still fails at 6 s.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Timeout { .. } | Error::NoRoute { .. }),
        "{err:?}"
    );
    // Not a bad frame: the connection stays open.
    assert_eq!(ns.closed.load(Ordering::SeqCst), 0);
    p.shutdown().await.unwrap();
}

fn route_body(broker: &str, read: i64, write: i64) -> Vec<u8> {
    format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"{broker}"}},"brokerName":"fake","cluster":"c"}}],"queueDatas":[{{"brokerName":"fake","perm":6,"readQueueNums":{read},"writeQueueNums":{write},"topicSysFlag":0}}]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn a_route_with_absurd_queue_counts_is_refused_without_allocating_it() {
    let before = rss();
    let ns = fake_peer(|req| {
        let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
        resp.body = route_body("127.0.0.1:1", i64::from(i32::MAX), i64::from(i32::MAX)).into();
        Act::Answer(resp, false)
    })
    .await;
    let p = producer(&ns.addr, Duration::from_secs(3)).await;
    let err = p
        .send(Message::new(unique("bad_peer_t"), "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoRoute { .. }), "{err:?}");
    assert!(err.to_string().contains("QueueNums"), "{err}");
    let grown = rss().saturating_sub(before);
    assert!(grown < 64 * 1024 * 1024, "RSS grew by {grown} bytes");
    p.shutdown().await.unwrap();
}

/// A fake name server routing every topic to a fake broker whose pulls
/// answer SUCCESS with `body`.
async fn pull_from_fake_broker(body: Vec<u8>) -> Result<rmq::PullResult, Error> {
    let broker = fake_peer(move |req| {
        let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
        if req.code == request_code::PULL_MESSAGE {
            for (k, v) in [
                ("suggestWhichBrokerId", "0"),
                ("nextBeginOffset", "1"),
                ("minOffset", "0"),
                ("maxOffset", "1"),
            ] {
                resp.ext_fields.insert(k, v);
            }
            resp.body = body.clone().into();
        }
        Act::Answer(resp, false)
    })
    .await;
    let broker_addr = broker.addr.clone();
    let ns = fake_peer(move |req| {
        let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
        resp.body = route_body(&broker_addr, 1, 1).into();
        Act::Answer(resp, false)
    })
    .await;
    let admin = Admin::connect(&ns.addr).await.unwrap();
    let q = MessageQueue::new("bad_pull_t", "fake", 0);
    let result = admin.pull("bad_pull_g", &q, 0, 32).await;
    admin.shutdown().await.unwrap();
    result
}

/// One stored-message record from a real broker (golden vector), as a pull body.
fn real_pull_body() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/vectors/broker/pull_multi_v5.bin"
    );
    let bytes = std::fs::read(path).unwrap();
    let mut dec = FrameDecoder::default();
    dec.feed(&bytes);
    dec.decode_next().unwrap().unwrap().body.to_vec()
}

#[tokio::test]
async fn a_pull_body_whose_total_size_lies_is_a_typed_error() {
    let mut body = real_pull_body();
    body[..4].copy_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    let err = pull_from_fake_broker(body).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("pull body"), "{err}");
}

#[tokio::test]
async fn a_pull_body_cut_inside_a_record_is_a_typed_error() {
    let mut body = real_pull_body();
    body.truncate(body.len() - 3);
    let err = pull_from_fake_broker(body).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn a_true_pull_body_from_the_fake_broker_decodes() {
    let result = pull_from_fake_broker(real_pull_body()).await.unwrap();
    assert!(!result.messages.is_empty());
}

/// A bad name server next to the real one: every misbehaviour only costs
/// its own connection; sends succeed through the healthy one. The client
/// starts at a random name server, so producers are made until one met
/// the bad one (bounded).
async fn a_bad_name_server_next_to_a_healthy_one_is_survived(real: &str) {
    let behaviours: Vec<Act> = vec![
        Act::Raw(b"garbage garbage garbage".to_vec()),
        Act::Raw(vec![0x7F, 0xFF, 0xFF, 0xFF]),
        Act::Raw(frame(b"not{js", b"")),
        Act::RawThenClose(vec![0, 0, 0, 50, 0, 0]),
    ];
    for behaviour in behaviours {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let ns = fake_peer(move |_| {
            let _ = tx.send(());
            behaviour.clone()
        })
        .await;
        let mut met = false;
        for _ in 0..16 {
            let p = producer(&format!("{};{real}", ns.addr), Duration::from_secs(6)).await;
            let topic = unique("bad_peer_ok");
            let r = p.send(Message::new(&topic, "survived")).await;
            assert!(r.is_ok(), "{r:?}");
            // And again: the healthy connection keeps working.
            p.send(Message::new(&topic, "again")).await.unwrap();
            p.shutdown().await.unwrap();
            if rx.try_recv().is_ok() {
                met = true;
                break;
            }
        }
        assert!(met, "no send ever met the bad name server");
        wait_closed(&ns, 1).await;
    }
}

#[tokio::test]
async fn a_bad_name_server_next_to_a_healthy_one_is_survived_v5() {
    a_bad_name_server_next_to_a_healthy_one_is_survived(&env_cluster(BrokerVersion::V5).unwrap())
        .await;
}

#[tokio::test]
async fn a_bad_name_server_next_to_a_healthy_one_is_survived_v4() {
    a_bad_name_server_next_to_a_healthy_one_is_survived(&env_cluster(BrokerVersion::V4).unwrap())
        .await;
}

/// A fake broker that stores every send (SUCCESS), and a fake name server
/// routing every topic to it.
async fn fake_route_and_broker() -> (FakePeer, FakePeer) {
    fake_route_and_broker_counting(Arc::default()).await
}

/// [`fake_route_and_broker`], counting the name server's route requests in
/// `route_requests`.
async fn fake_route_and_broker_counting(route_requests: Arc<AtomicUsize>) -> (FakePeer, FakePeer) {
    let broker = fake_peer(|req| {
        let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
        for (k, v) in [
            ("msgId", "7F00000100002A9F0000000000000000"),
            ("queueId", "0"),
            ("queueOffset", "0"),
        ] {
            resp.ext_fields.insert(k, v);
        }
        Act::Answer(resp, false)
    })
    .await;
    let addr = broker.addr.clone();
    let ns = fake_peer(move |req| {
        if req.code == request_code::GET_ROUTEINFO_BY_TOPIC {
            route_requests.fetch_add(1, Ordering::SeqCst);
        }
        let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
        resp.body = route_body(&addr, 4, 4).into();
        Act::Answer(resp, false)
    })
    .await;
    (ns, broker)
}

/// Route requests a producer with `interval` (the default when `None`)
/// makes in 3.5 s after its first send.
async fn route_requests_in_3_5_s(interval: Option<Duration>) -> usize {
    let count = Arc::new(AtomicUsize::new(0));
    let (ns, _broker) = fake_route_and_broker_counting(Arc::clone(&count)).await;
    let mut builder = Producer::builder()
        .name_server(&ns.addr)
        .group(unique("pg_bad_peer_poll"));
    if let Some(interval) = interval {
        builder = builder.poll_name_server_interval(interval);
    }
    let p = builder.build().unwrap();
    p.start().await.unwrap();
    p.send(Message::new(unique("bad_peer_poll"), "x"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    p.shutdown().await.unwrap();
    count.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_producer_asks_for_its_routes_every_poll_name_server_interval() {
    let every_second = route_requests_in_3_5_s(Some(Duration::from_secs(1))).await;
    assert!(
        (3..=6).contains(&every_second),
        "the first route request and one a second after: {every_second}"
    );
    let default = route_requests_in_3_5_s(None).await;
    assert_eq!(default, 1, "the default interval is 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_selector_that_panics_on_a_route_answer_leaves_the_client_working() {
    let (ns, _broker) = fake_route_and_broker().await;
    let p = producer(&ns.addr, Duration::from_secs(2)).await;
    // The topic's route is not known yet: the selector runs when the
    // name server's answer arrives, on the connection's reader.
    let err = p
        .send_with_selector(
            Message::new(unique("bad_peer_sel"), "x"),
            |_: &[MessageQueue], _: &Message| -> usize { panic!("a selector that panics") },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { .. } | Error::Connection { .. }),
        "{err:?}"
    );
    // The name server connection still answers: a new topic's route comes.
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        p.send(Message::new(unique("bad_peer_after"), "y")),
    )
    .await
    .expect("the send is bounded");
    assert!(sent.is_ok(), "{sent:?}");
    p.shutdown().await.unwrap();
}
