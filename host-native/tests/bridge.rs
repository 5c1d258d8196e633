//! `rmq-bridge` in-process on 127.0.0.1:0, driven by `tokio-tungstenite`
//! clients. The learning tests use the real name servers of
//! `cargo xtask test` (RMQ_TEST_NAMESRV_V5 / RMQ_TEST_NAMESRV_V4; never
//! skipped); the others use local TCP targets (echo, sink, stalled).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rmq::bridge::{Allowlist, BridgeConfig, Server, ShutdownHandle, TargetAddr, TlsFiles};
use rmq::rmq_core::protocol::body::ClusterInfo;
use rmq::rmq_core::protocol::{
    request_code, response_code, FrameDecoder, RemotingCommand, SerializeType,
};
use rmq::rmq_core::route::TopicRouteData;
use rmq_tests::raw::{self, RawClient, DEFAULT_TIMEOUT};
use rmq_tests::{env_cluster, BrokerVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Bound on every single wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- harness

struct Bridge {
    addr: SocketAddr,
    stop: ShutdownHandle,
    allowlist: Arc<Allowlist>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config: BridgeConfig) -> Bridge {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(config, listener).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let allowlist = server.allowlist();
    let task = tokio::spawn(async move { server.run().await.unwrap() });
    Bridge {
        addr,
        stop,
        allowlist,
        task,
    }
}

impl Bridge {
    async fn stop(self) {
        self.stop.shutdown();
        timeout(WAIT, self.task).await.unwrap().unwrap();
    }
}

fn config_allowing(targets: &[SocketAddr]) -> BridgeConfig {
    BridgeConfig {
        allow: targets.iter().map(|a| a.to_string()).collect(),
        ..BridgeConfig::default()
    }
}

type Ws<S = TcpStream> = WebSocketStream<S>;

/// A client for `/tcp/<target>` (plus `query`), with `headers`, from
/// `source` (default 127.0.0.1).
async fn open_with(
    bridge: &Bridge,
    target: &str,
    query: &str,
    headers: &[(&str, &str)],
    source: Option<IpAddr>,
) -> Result<Ws, WsError> {
    open_at(bridge.addr, target, query, headers, source).await
}

/// [`open_with`] for the bridge listening at `addr`.
async fn open_at(
    addr: SocketAddr,
    target: &str,
    query: &str,
    headers: &[(&str, &str)],
    source: Option<IpAddr>,
) -> Result<Ws, WsError> {
    let url = format!("ws://{addr}/tcp/{target}{query}");
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let tcp = timeout(WAIT, socket.connect(addr)).await.unwrap().unwrap();
    let (ws, _) = timeout(WAIT, tokio_tungstenite::client_async(req, tcp))
        .await
        .unwrap()?;
    Ok(ws)
}

async fn open(bridge: &Bridge, target: &str) -> Result<Ws, WsError> {
    open_with(bridge, target, "", &[], None).await
}

/// The HTTP status of a refused upgrade.
fn status(result: Result<Ws, WsError>) -> StatusCode {
    match result {
        Err(WsError::Http(resp)) => resp.status(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, got an upgrade"),
    }
}

/// A local TCP server echoing every byte.
async fn echo_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Reads binary messages until `n` bytes arrived.
async fn read_bytes<S>(ws: &mut Ws<S>, n: usize) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut got = Vec::new();
    while got.len() < n {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            other => panic!("expected data, got {other:?}"),
        }
    }
    got
}

async fn assert_echoes<S>(ws: &mut Ws<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let data = b"through the bridge and back".to_vec();
    ws.send(Message::binary(data.clone())).await.unwrap();
    assert_eq!(read_bytes(ws, data.len()).await, data);
}

/// A fresh client reaches `echo` through the bridge: the bridge still serves.
async fn assert_serves(bridge: &Bridge, echo: SocketAddr) {
    let mut ws = open(bridge, &echo.to_string()).await.unwrap();
    assert_echoes(&mut ws).await;
    ws.close(None).await.unwrap();
}

/// The close frame the bridge sends next (data before it is skipped).
async fn next_close<S>(ws: &mut Ws<S>) -> CloseFrame
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(frame)))) => return frame,
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Sends `cmd` and returns the response with its opaque.
async fn call(ws: &mut Ws, decoder: &mut FrameDecoder, cmd: &RemotingCommand) -> RemotingCommand {
    let mut out = BytesMut::new();
    cmd.encode(SerializeType::Json, &mut out).unwrap();
    ws.send(Message::Binary(out.freeze())).await.unwrap();
    loop {
        while let Some(c) = decoder.decode_next().unwrap() {
            if c.is_response() && c.opaque == cmd.opaque {
                return c;
            }
        }
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => decoder.feed(&b),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

fn route_request(opaque: i32, topic: &str) -> RemotingCommand {
    let mut c = RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC, opaque);
    c.ext_fields.insert("topic", topic);
    c
}

/// TBW102's master broker, asked directly (not through the bridge).
async fn tbw102_broker(namesrv: &str) -> String {
    let ns = namesrv.to_owned();
    let route = tokio::task::spawn_blocking(move || {
        let mut c = RawClient::connect(&ns, SerializeType::Json, DEFAULT_TIMEOUT).unwrap();
        raw::topic_route(&mut c, "TBW102").unwrap()
    })
    .await
    .unwrap();
    route.broker_datas[0].master_addr().unwrap().to_owned()
}

/// A request a broker answers: TBW102 queue 0's max offset.
async fn assert_broker_answers(bridge: &Bridge, broker: &str) {
    let mut ws = open(bridge, broker).await.expect("learned broker accepted");
    let mut q = RemotingCommand::request(request_code::GET_MAX_OFFSET, 2);
    q.ext_fields.insert("topic", "TBW102");
    q.ext_fields.insert("queueId", "0");
    let r = call(&mut ws, &mut FrameDecoder::default(), &q).await;
    assert_eq!(r.code, response_code::SUCCESS, "{r:?}");
    assert!(r.ext_fields.get("offset").is_some(), "{r:?}");
    ws.close(None).await.unwrap();
}

// ------------------------------------------------------ learning (brokers)

async fn route_answer_teaches_the_broker_address(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let broker = tbw102_broker(&namesrv).await;
    let bridge = start(BridgeConfig {
        name_servers: vec![namesrv.clone()],
        ..BridgeConfig::default()
    })
    .await;

    assert_eq!(status(open(&bridge, &broker).await), StatusCode::FORBIDDEN);

    let mut ns = open(&bridge, &namesrv).await.unwrap();
    let resp = call(
        &mut ns,
        &mut FrameDecoder::default(),
        &route_request(1, "TBW102"),
    )
    .await;
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    let route = TopicRouteData::parse(&resp.body).unwrap();
    assert!(
        route
            .broker_datas
            .iter()
            .any(|b| b.broker_addrs.values().any(|a| *a == broker)),
        "{route:?}"
    );
    assert!(bridge
        .allowlist
        .learned()
        .contains(&TargetAddr::parse(&broker).unwrap()));

    assert_broker_answers(&bridge, &broker).await;
    ns.close(None).await.unwrap();
    drop(ns);
    bridge.stop().await;
}

#[tokio::test]
async fn route_answer_teaches_the_broker_address_v5() {
    route_answer_teaches_the_broker_address(BrokerVersion::V5).await;
}

#[tokio::test]
async fn route_answer_teaches_the_broker_address_v4() {
    route_answer_teaches_the_broker_address(BrokerVersion::V4).await;
}

#[tokio::test]
async fn cluster_answer_teaches_the_broker_address() {
    let namesrv = env_cluster(BrokerVersion::V5).unwrap();
    let broker = tbw102_broker(&namesrv).await;
    let bridge = start(BridgeConfig {
        name_servers: vec![namesrv.clone()],
        ..BridgeConfig::default()
    })
    .await;
    assert_eq!(status(open(&bridge, &broker).await), StatusCode::FORBIDDEN);

    let mut ns = open(&bridge, &namesrv).await.unwrap();
    let req = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO, 7);
    let resp = call(&mut ns, &mut FrameDecoder::default(), &req).await;
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    let info = ClusterInfo::parse(&resp.body).unwrap();
    assert!(
        info.broker_addr_table
            .values()
            .any(|b| b.broker_addrs.values().any(|a| *a == broker)),
        "{info:?}"
    );

    assert_broker_answers(&bridge, &broker).await;
    drop(ns);
    bridge.stop().await;
}

#[tokio::test]
async fn other_answers_teach_nothing() {
    // A topic nobody created: TOPIC_NOT_EXIST, nothing learned.
    let namesrv = env_cluster(BrokerVersion::V5).unwrap();
    let broker = tbw102_broker(&namesrv).await;
    let bridge = start(BridgeConfig {
        name_servers: vec![namesrv.clone()],
        ..BridgeConfig::default()
    })
    .await;
    let mut ns = open(&bridge, &namesrv).await.unwrap();
    let topic = raw::unique_name("bridge_missing");
    let resp = call(
        &mut ns,
        &mut FrameDecoder::default(),
        &route_request(3, &topic),
    )
    .await;
    assert_eq!(resp.code, response_code::TOPIC_NOT_EXIST, "{resp:?}");
    assert!(bridge.allowlist.learned().is_empty());
    assert_eq!(status(open(&bridge, &broker).await), StatusCode::FORBIDDEN);
    drop(ns);
    bridge.stop().await;
}

// ---------------------------------------------- learning (local targets)

/// A local "name server" that records what it receives and sends `answer`
/// after the first bytes arrive.
async fn scripted_namesrv(answer: Vec<u8>) -> (SocketAddr, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut answered = false;
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = tx.send(buf[..n].to_vec()).await;
                    if !answered {
                        answered = true;
                        s.write_all(&answer).await.unwrap();
                    }
                }
            }
        }
        let _ = tx.send(Vec::new()).await; // EOF marker
    });
    (addr, rx)
}

#[tokio::test]
async fn a_malformed_answer_stops_learning_but_bytes_still_flow() {
    let route = br#"{"brokerDatas":[{"brokerAddrs":{"0":"10.9.9.9:10911"},"brokerName":"b","cluster":"c"}],"queueDatas":[]}"#;
    let mut good = BytesMut::new();
    RemotingCommand::response(0, 1)
        .with_body(&route[..])
        .encode(SerializeType::Json, &mut good)
        .unwrap();
    // A frame whose length is below the minimum, then a valid answer.
    let mut answer = vec![0, 0, 0, 2, 0xAB, 0xCD];
    answer.extend_from_slice(&good);
    let (ns, _) = scripted_namesrv(answer.clone()).await;
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        name_servers: vec![ns.to_string()],
        allow: vec![echo.to_string()],
        ..BridgeConfig::default()
    })
    .await;

    let mut ws = open(&bridge, &ns.to_string()).await.unwrap();
    let mut out = BytesMut::new();
    route_request(1, "T")
        .encode(SerializeType::Json, &mut out)
        .unwrap();
    ws.send(Message::Binary(out.freeze())).await.unwrap();
    assert_eq!(read_bytes(&mut ws, answer.len()).await, answer);
    assert!(bridge.allowlist.learned().is_empty());
    assert_eq!(
        status(open(&bridge, "10.9.9.9:10911").await),
        StatusCode::FORBIDDEN
    );
    assert_serves(&bridge, echo).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn broker_registration_through_the_bridge_is_refused() {
    let (ns, mut received) = scripted_namesrv(Vec::new()).await;
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        name_servers: vec![ns.to_string()],
        allow: vec![echo.to_string()],
        ..BridgeConfig::default()
    })
    .await;
    let mut ws = open(&bridge, &ns.to_string()).await.unwrap();
    let mut out = BytesMut::new();
    let mut reg = RemotingCommand::request(103, 1).with_body(&b"{}"[..]);
    reg.ext_fields.insert("brokerAddr", "127.0.0.1:22");
    reg.encode(SerializeType::Json, &mut out).unwrap();
    ws.send(Message::Binary(out.freeze())).await.unwrap();
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Policy);
    // The name server saw the connection end, and not one byte.
    let first = timeout(WAIT, received.recv()).await.unwrap().unwrap();
    assert!(first.is_empty(), "forwarded {} bytes", first.len());
    assert_serves(&bridge, echo).await;
    drop(ws);
    bridge.stop().await;
}

// ---------------------------------------------------------------- refusals

#[tokio::test]
async fn a_target_not_on_the_allowlist_is_refused_403() {
    let echo = echo_target().await;
    let bridge = start(config_allowing(&[echo])).await;
    assert_eq!(
        status(open(&bridge, "127.0.0.1:22").await),
        StatusCode::FORBIDDEN
    );
    assert_serves(&bridge, echo).await;
    bridge.stop().await;
}

#[tokio::test]
async fn a_bad_token_is_refused_401() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        token: Some("s3cret".into()),
        ..config_allowing(&[echo])
    })
    .await;
    let target = echo.to_string();
    let header = [("authorization", "Bearer wrong")];
    assert_eq!(
        status(open_with(&bridge, &target, "", &header, None).await),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(open_with(&bridge, &target, "?token=wrong", &[], None).await),
        StatusCode::UNAUTHORIZED
    );
    // The right token, as a header and as the query parameter, gets through.
    let header = [("authorization", "Bearer s3cret")];
    let mut ws = open_with(&bridge, &target, "", &header, None)
        .await
        .unwrap();
    assert_echoes(&mut ws).await;
    drop(ws);
    let mut ws = open_with(&bridge, &target, "?token=s3cret", &[], None)
        .await
        .unwrap();
    assert_echoes(&mut ws).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_missing_token_is_refused_401() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        token: Some("s3cret".into()),
        ..config_allowing(&[echo])
    })
    .await;
    let target = echo.to_string();
    assert_eq!(
        status(open(&bridge, &target).await),
        StatusCode::UNAUTHORIZED
    );
    let mut ws = open_with(&bridge, &target, "?token=s3cret", &[], None)
        .await
        .unwrap();
    assert_echoes(&mut ws).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_bad_or_missing_origin_is_refused_403() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        allowed_origins: vec!["https://app.example".into()],
        ..config_allowing(&[echo])
    })
    .await;
    let target = echo.to_string();
    let evil = [("origin", "https://evil.example")];
    assert_eq!(
        status(open_with(&bridge, &target, "", &evil, None).await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(status(open(&bridge, &target).await), StatusCode::FORBIDDEN);
    let good = [("origin", "https://app.example")];
    let mut ws = open_with(&bridge, &target, "", &good, None).await.unwrap();
    assert_echoes(&mut ws).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        max_message_size: 1024,
        ..config_allowing(&[echo])
    })
    .await;
    let mut ws = open(&bridge, &echo.to_string()).await.unwrap();
    assert_echoes(&mut ws).await;
    ws.send(Message::binary(vec![0u8; 4096])).await.unwrap();
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Size);
    assert_serves(&bridge, echo).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_text_message_closes_with_1008() {
    let echo = echo_target().await;
    let bridge = start(config_allowing(&[echo])).await;
    let mut ws = open(&bridge, &echo.to_string()).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Policy);
    assert_serves(&bridge, echo).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_connection_past_the_total_limit_is_refused_503() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        max_connections: 1,
        ..config_allowing(&[echo])
    })
    .await;
    let target = echo.to_string();
    let mut first = open(&bridge, &target).await.unwrap();
    assert_eq!(
        status(open(&bridge, &target).await),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_echoes(&mut first).await;
    first.close(None).await.unwrap();
    drop(first);
    // Once the first connection is gone, another client is served.
    let deadline = Instant::now() + WAIT;
    let mut ws = loop {
        match open(&bridge, &target).await {
            Ok(ws) => break ws,
            Err(WsError::Http(r)) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                assert!(Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_echoes(&mut ws).await;
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_connection_past_the_per_ip_limit_is_refused_429() {
    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        max_connections_per_ip: 1,
        ..config_allowing(&[echo])
    })
    .await;
    let target = echo.to_string();
    let mut first = open(&bridge, &target).await.unwrap();
    assert_eq!(
        status(open(&bridge, &target).await),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client address is served meanwhile (all of 127/8 is loopback).
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut ws = open_with(&bridge, &target, "", &[], Some(other))
        .await
        .unwrap();
    assert_echoes(&mut ws).await;
    assert_echoes(&mut first).await;
    drop(first);
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn an_unreachable_target_closes_with_1011() {
    // A port nobody listens on (bound, then released).
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let echo = echo_target().await;
    let bridge = start(config_allowing(&[closed, echo])).await;
    let mut ws = open(&bridge, &closed.to_string()).await.unwrap();
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Error);
    drop(ws);
    assert_serves(&bridge, echo).await;
    bridge.stop().await;
}

#[tokio::test]
async fn missing_tls_files_fail_at_startup() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = BridgeConfig {
        allow: vec!["127.0.0.1:9876".into()],
        tls: Some(TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        }),
        ..BridgeConfig::default()
    };
    match Server::new(config, listener) {
        Err(rmq::bridge::BridgeError::Tls(msg)) => assert!(msg.contains("cert.pem"), "{msg}"),
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(_) => panic!("expected a TLS error"),
    }
}

// ------------------------------------------------------- lifetime, closing

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let echo = echo_target().await;
    let idle = Duration::from_millis(300);
    let bridge = start(BridgeConfig {
        idle_timeout: idle,
        ..config_allowing(&[echo])
    })
    .await;
    let mut ws = open(&bridge, &echo.to_string()).await.unwrap();
    assert_echoes(&mut ws).await;
    let quiet_since = Instant::now();
    let frame = next_close(&mut ws).await;
    assert!(quiet_since.elapsed() >= idle - Duration::from_millis(50));
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(frame.reason.as_str(), "idle timeout");
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn target_eof_closes_the_websocket() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"bye").await.unwrap();
        // Dropped: EOF.
    });
    let bridge = start(config_allowing(&[target])).await;
    let mut ws = open(&bridge, &target.to_string()).await.unwrap();
    assert_eq!(read_bytes(&mut ws, 3).await, b"bye");
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Normal);
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn client_close_shuts_down_the_tcp_side() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await; // returns at EOF
        let _ = tx.send(got);
    });
    let bridge = start(config_allowing(&[target])).await;
    let mut ws = open(&bridge, &target.to_string()).await.unwrap();
    ws.send(Message::binary(b"last words".to_vec()))
        .await
        .unwrap();
    ws.close(None).await.unwrap();
    let got = timeout(WAIT, rx).await.unwrap().unwrap();
    assert_eq!(got, b"last words");
    // The bridge answered the close and ended the stream.
    let rest = timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(rest.is_ok());
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001() {
    let echo = echo_target().await;
    let bridge = start(config_allowing(&[echo])).await;
    let mut ws = open(&bridge, &echo.to_string()).await.unwrap();
    assert_echoes(&mut ws).await;
    bridge.stop.shutdown();
    assert_eq!(next_close(&mut ws).await.code, CloseCode::Away);
    drop(ws);
    timeout(WAIT, bridge.task).await.unwrap().unwrap();
}

// --------------------------------------------------------------------- TLS

#[tokio::test]
async fn wss_with_a_trusted_certificate_gets_through() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio_rustls::rustls::{self, pki_types::ServerName, RootCertStore};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "rmq-bridge-tls-{}-{}",
        std::process::id(),
        raw::unique_name("t")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, leaf.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();

    let echo = echo_target().await;
    let bridge = start(BridgeConfig {
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        ..config_allowing(&[echo])
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();

    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    #[allow(deprecated)] // ring, as the bridge uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let connect = |connector: tokio_rustls::TlsConnector| async move {
        let tcp = TcpStream::connect(bridge.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await
    };

    let tls = timeout(WAIT, connect(connector.clone()))
        .await
        .unwrap()
        .unwrap();
    let url = format!("wss://localhost:{}/tcp/{echo}", bridge.addr.port());
    let (mut ws, resp) = timeout(WAIT, tokio_tungstenite::client_async(url, tls))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_echoes(&mut ws).await;
    ws.close(None).await.unwrap();

    // A client that does not trust the CA does not get through.
    let stranger = rustls::ClientConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(RootCertStore::empty())
    .with_no_client_auth();
    let refused = timeout(
        WAIT,
        connect(tokio_rustls::TlsConnector::from(Arc::new(stranger))),
    )
    .await
    .unwrap();
    assert!(refused.is_err());
    drop(ws);
    bridge.stop().await;
}

// ------------------------------------------------------------ backpressure

/// Upper bound of what the kernel may buffer on loopback: the largest
/// receive buffer (the bridge's WebSocket socket) plus the largest send
/// buffer (its socket to the target).
fn kernel_buffer_bound() -> usize {
    let max_of = |path: &str| -> usize {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().last()?.parse().ok())
            .unwrap_or(32 << 20)
    };
    max_of("/proc/sys/net/ipv4/tcp_rmem") + max_of("/proc/sys/net/ipv4/tcp_wmem")
}

#[tokio::test]
async fn a_target_that_does_not_read_stops_the_client() {
    // The target accepts and never reads; its receive buffer is small.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let target = listener.local_addr().unwrap();
    let (conn_tx, conn_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let _ = conn_tx.send(s);
    });

    let max_message = 64 * 1024;
    let bridge = start(BridgeConfig {
        max_message_size: max_message,
        ..config_allowing(&[target])
    })
    .await;
    // The client's own send buffer is small too, so what it has handed to
    // its kernel is close to what the bridge has read.
    let client_socket = TcpSocket::new_v4().unwrap();
    client_socket.set_send_buffer_size(4096).unwrap();
    let tcp = client_socket.connect(bridge.addr).await.unwrap();
    let url = format!("ws://{}/tcp/{target}", bridge.addr);
    let config = WebSocketConfig::default().write_buffer_size(0);
    let (mut ws, _) = timeout(
        WAIT,
        tokio_tungstenite::client_async_with_config(url, tcp, Some(config)),
    )
    .await
    .unwrap()
    .unwrap();
    let mut target_conn = timeout(WAIT, conn_rx).await.unwrap().unwrap();

    // Each message carries its sequence number, to check order afterwards.
    let message = |i: u32| -> Bytes {
        let mut m = vec![(i % 251) as u8; max_message];
        m[..4].copy_from_slice(&i.to_be_bytes());
        Bytes::from(m)
    };
    let bound = kernel_buffer_bound() + 2 * max_message + (1 << 20);
    let mut accepted = 0usize;
    let mut i = 0u32;
    // A send counts as stalled once it stays pending for two periods in a
    // row (a slow machine may delay one).
    let period = Duration::from_millis(400);
    let stalled = loop {
        let mut send = Box::pin(ws.send(Message::Binary(message(i))));
        let mut done = timeout(period, &mut send).await;
        if done.is_err() {
            done = timeout(period, &mut send).await;
        }
        match done {
            Ok(sent) => {
                sent.unwrap();
                accepted += max_message;
                i += 1;
                assert!(
                    accepted <= bound,
                    "the bridge accepted {accepted} bytes for a target that reads nothing (bound {bound})"
                );
            }
            Err(_) => break send,
        }
    };
    eprintln!("stalled after {accepted} bytes (bound {bound})");

    // Once the target reads, everything arrives, in order, and the send
    // completes.
    let total = accepted + max_message;
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; total];
        target_conn.read_exact(&mut got).await.unwrap();
        got
    });
    timeout(WAIT, stalled).await.unwrap().unwrap();
    let got = timeout(WAIT, reader).await.unwrap().unwrap();
    for (n, chunk) in got.chunks(max_message).enumerate() {
        assert_eq!(chunk, &message(n as u32)[..], "message {n}");
    }
    drop(ws);
    bridge.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_stops_the_target() {
    // The target writes numbered chunks as fast as it may.
    let chunk = 64 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let numbered = move |i: u32| -> Vec<u8> {
        let mut m = vec![(i % 251) as u8; chunk];
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    };
    let writer = {
        let (written, stop) = (Arc::clone(&written), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                s.write_all(&numbered(i)).await.unwrap();
                written.fetch_add(chunk, std::sync::atomic::Ordering::SeqCst);
                i += 1;
            }
            s.shutdown().await.unwrap();
        })
    };

    let max_message = 64 * 1024;
    let bridge = start(BridgeConfig {
        max_message_size: max_message,
        ..config_allowing(&[target])
    })
    .await;
    // The client reads nothing, through a small receive buffer.
    let client_socket = TcpSocket::new_v4().unwrap();
    client_socket.set_recv_buffer_size(4096).unwrap();
    let tcp = client_socket.connect(bridge.addr).await.unwrap();
    let url = format!("ws://{}/tcp/{target}", bridge.addr);
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
        .await
        .unwrap()
        .unwrap();

    // The target stalls once the bridge stops reading it: no progress for
    // two periods in a row, with a bounded amount taken from it.
    let bound = kernel_buffer_bound() + 2 * max_message + (1 << 20);
    let period = Duration::from_millis(400);
    let mut last = usize::MAX;
    let mut quiet = 0;
    let started = Instant::now();
    while quiet < 2 {
        tokio::time::sleep(period).await;
        let now = written.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            now <= bound,
            "the bridge took {now} bytes for a client that reads nothing (bound {bound})"
        );
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
        assert!(started.elapsed() < WAIT * 4, "the target never stalled");
    }
    eprintln!("the target stalled after {last} bytes (bound {bound})");

    // Once the client reads, everything arrives, in order.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut got = Vec::new();
    loop {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("reading the bridge: {e}"),
        }
    }
    timeout(WAIT, writer).await.unwrap().unwrap();
    let total = written.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(got.len(), total, "every byte the target wrote arrived");
    for (n, c) in got.chunks(chunk).enumerate() {
        assert_eq!(c, &numbered(n as u32)[..], "chunk {n}");
    }
    bridge.stop().await;
}

// ------------------------------------------------------- refusal log lines

/// The `rmq-bridge` binary on 127.0.0.1:0 (`RUST_LOG=info`, the default),
/// its stderr log read line by line; killed on drop.
struct LoggedBridge {
    child: std::process::Child,
    addr: SocketAddr,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line read so far, for failure messages and counting.
    seen: Vec<String>,
}

impl LoggedBridge {
    /// Starts the binary with `args` (and `RMQ_BRIDGE_TOKEN=token`) and
    /// waits (bounded) for its "rmq-bridge serving" line.
    async fn start(args: &[&str], token: Option<&str>) -> LoggedBridge {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rmq-bridge"));
        // No RMQ_BRIDGE_* or RUST_LOG from the environment leaks in.
        cmd.env_clear()
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(t) = token {
            cmd.env("RMQ_BRIDGE_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("rmq-bridge starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(strip_ansi(&line)).is_err() {
                    break;
                }
            }
        });
        let mut bridge = LoggedBridge {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            seen: Vec::new(),
        };
        let serving = bridge.line_with("rmq-bridge serving").await;
        let listen = serving
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .unwrap_or_else(|| panic!("no listen= in {serving:?}"));
        bridge.addr = listen.parse().unwrap();
        bridge
    }

    /// The next log line containing `needle` (waits at most [`WAIT`]).
    async fn line_with(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "rmq-bridge exited before logging {needle:?}:\n{}",
                    self.seen.join("\n")
                ),
                Err(_) => panic!(
                    "no log line with {needle:?} within {WAIT:?}:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The lines read so far that report a refusal.
    fn refusals(&self) -> Vec<&String> {
        self.seen
            .iter()
            .filter(|l| l.contains(" refused "))
            .collect()
    }

    /// A client for `/tcp/<target>` (plus `query`), with `headers`.
    async fn open(
        &self,
        target: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, WsError> {
        open_at(self.addr, target, query, headers, None).await
    }

    /// A client gets through to `echo` (with `query`, `headers`) and the
    /// bridge logs it; the lines logged before then are in `seen`.
    async fn assert_serves(&mut self, echo: SocketAddr, query: &str, headers: &[(&str, &str)]) {
        let mut ws = self.open(&echo.to_string(), query, headers).await.unwrap();
        assert_echoes(&mut ws).await;
        ws.close(None).await.unwrap();
        self.line_with(&format!("target={echo}")).await;
    }
}

impl Drop for LoggedBridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without ANSI colour sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts `line` is a refusal log line for `status`, saying `reason`, for
/// the request path `path`.
fn assert_refusal_line(line: &str, status: u16, reason: &str, path: &str) {
    assert!(line.contains("WARN"), "not a warning: {line}");
    assert!(line.contains(" refused "), "not a refusal: {line}");
    assert!(line.contains("peer=127.0.0.1:"), "no peer: {line}");
    assert!(
        line.contains(&format!("status={status}")),
        "no status {status}: {line}"
    );
    assert!(
        line.contains(&format!("reason={reason}")),
        "no reason {reason:?}: {line}"
    );
    assert!(
        line.contains(&format!("path={path}")),
        "no path {path}: {line}"
    );
}

#[tokio::test]
async fn a_target_not_on_the_allowlist_is_logged_naming_the_target() {
    let echo = echo_target().await;
    let mut bridge = LoggedBridge::start(&["--allow", &echo.to_string()], None).await;
    let refused = bridge.open("127.0.0.1:22", "", &[]).await;
    assert_eq!(status(refused), StatusCode::FORBIDDEN);
    let line = bridge.line_with(" refused ").await;
    assert_refusal_line(
        &line,
        403,
        "target 127.0.0.1:22 not allowed",
        "/tcp/127.0.0.1:22",
    );
    bridge.assert_serves(echo, "", &[]).await;
    assert_eq!(bridge.refusals(), [&line], "one line per refusal");
}

#[tokio::test]
async fn a_bad_or_missing_token_is_logged_without_the_token() {
    let echo = echo_target().await;
    let target = echo.to_string();
    let mut bridge = LoggedBridge::start(&["--allow", &target], Some("s3cret")).await;
    let path = format!("/tcp/{target}");

    let refused = bridge.open(&target, "?token=wr0ng-guess", &[]).await;
    assert_eq!(status(refused), StatusCode::UNAUTHORIZED);
    let bad = bridge.line_with(" refused ").await;
    assert_refusal_line(&bad, 401, "bad token", &path);
    assert!(
        !bad.contains("wr0ng-guess"),
        "the offered token is logged: {bad}"
    );

    let refused = bridge.open(&target, "", &[]).await;
    assert_eq!(status(refused), StatusCode::UNAUTHORIZED);
    let missing = bridge.line_with(" refused ").await;
    assert_refusal_line(&missing, 401, "missing token", &path);

    bridge.assert_serves(echo, "?token=s3cret", &[]).await;
    assert_eq!(bridge.refusals(), [&bad, &missing], "one line per refusal");
    assert!(
        bridge.seen.iter().all(|l| !l.contains("s3cret")),
        "the token is logged:\n{}",
        bridge.seen.join("\n")
    );
}

#[tokio::test]
async fn a_bad_or_missing_origin_is_logged_naming_the_origin() {
    let echo = echo_target().await;
    let target = echo.to_string();
    let mut bridge = LoggedBridge::start(
        &["--allow", &target, "--allow-origin", "https://app.example"],
        None,
    )
    .await;
    let path = format!("/tcp/{target}");

    let evil = [("origin", "https://evil.example")];
    assert_eq!(
        status(bridge.open(&target, "", &evil).await),
        StatusCode::FORBIDDEN
    );
    let bad = bridge.line_with(" refused ").await;
    assert_refusal_line(
        &bad,
        403,
        "origin `https://evil.example` not allowed",
        &path,
    );

    assert_eq!(
        status(bridge.open(&target, "", &[]).await),
        StatusCode::FORBIDDEN
    );
    let missing = bridge.line_with(" refused ").await;
    assert_refusal_line(&missing, 403, "missing origin", &path);

    bridge
        .assert_serves(echo, "", &[("origin", "https://app.example")])
        .await;
    assert_eq!(bridge.refusals(), [&bad, &missing], "one line per refusal");
}

// --------------------------------------------------------------------- CLI

#[test]
fn help_documents_every_option() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmq-bridge"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--listen",
        "--namesrv",
        "--allow ",
        "--token",
        "--allow-origin",
        "--max-connections ",
        "--max-connections-per-ip",
        "--idle-timeout",
        "--max-message-size",
        "--connect-timeout",
        "--handshake-timeout",
        "--max-learned",
        "--learned-ttl",
        "--tls-cert",
        "--tls-key",
        "/tcp/",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
}
