//! A broker that accepts connections but never reads: sends fail with typed
//! errors in time, and the bytes queued for it stay bounded.
//!
//! The name server here is a tiny scripted peer built on rmq-core's codec; the
//! "broker" is a socket nobody reads. No real broker can be made to stall
//! like this on demand.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rmq::{Error, Message, Producer, ProducerBuilder, TlsConfig};
use rmq_core::protocol::{
    request_code, response_code, FrameDecoder, RemotingCommand, SerializeType,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every route query with one broker at `broker_addr`; over TLS
/// with `tls`.
async fn scripted_name_server(
    listener: TcpListener,
    broker_addr: String,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let broker_addr = broker_addr.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => answer_routes(sock, broker_addr).await,
                Some(tls) => {
                    if let Ok(Ok(sock)) =
                        tokio::time::timeout(Duration::from_secs(5), tls.accept(sock)).await
                    {
                        answer_routes(sock, broker_addr).await;
                    }
                }
            }
        });
    }
}

/// Answers the route queries of one connection until it closes.
async fn answer_routes(mut sock: impl AsyncRead + AsyncWrite + Unpin, broker_addr: String) {
    let mut dec = FrameDecoder::default();
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        dec.feed(&buf[..n]);
        while let Ok(Some(req)) = dec.decode_next() {
            let mut resp = RemotingCommand::response(response_code::SUCCESS, req.opaque);
            if req.code == request_code::GET_ROUTEINFO_BY_TOPIC {
                resp.body = format!(
                    r#"{{"brokerDatas":[{{"brokerAddrs":{{"0":"{broker_addr}"}},"brokerName":"stalled","cluster":"c"}}],"queueDatas":[{{"brokerName":"stalled","perm":6,"readQueueNums":1,"writeQueueNums":1,"topicSysFlag":0}}]}}"#
                )
                .into_bytes()
                .into();
            }
            let mut out = BytesMut::new();
            resp.encode(SerializeType::Json, &mut out).unwrap();
            if sock.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn sends_to_a_broker_that_never_reads_fail_in_time() {
    let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker_addr = broker.local_addr().unwrap().to_string();
    // Accept and hold the sockets without ever reading them.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = broker.accept().await {
            held.push(s);
        }
    });
    let ns = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ns_addr = ns.local_addr().unwrap().to_string();
    tokio::spawn(scripted_name_server(ns, broker_addr, None));

    let producer = Producer::builder()
        .name_server(&ns_addr)
        .group("stalled_pg")
        .send_timeout(Duration::from_secs(2))
        .compress_threshold(usize::MAX)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let body = vec![7u8; 4 * 1024 * 1024 - 1024];
    let started = Instant::now();
    let sends: Vec<_> = (0..40)
        .map(|_| {
            let p = producer.clone();
            let m = Message::new("stalled_topic", body.clone());
            tokio::spawn(async move { p.send(m).await })
        })
        .collect();
    let mut cut_off = 0;
    for s in sends {
        let err = s.await.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::Timeout { .. } | Error::Connection { .. }),
            "{err}"
        );
        if err.to_string().contains("not reading") {
            cut_off += 1;
        }
    }
    assert!(cut_off > 0, "the backlog cap closed the connection");
    // Every send settled by its deadline (plus scheduling slack), and ~158 MiB
    // never piled up: the host closed the connection past its 128 MiB cap.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    producer.shutdown().await.unwrap();
    holder.abort();
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_with_writes_blocked_on_a_stalled_broker_leaks_no_task_or_socket() {
    let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker_addr = broker.local_addr().unwrap().to_string();
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    // Accept and hold the sockets without ever reading them.
    let holder = tokio::spawn(async move {
        while let Ok((s, _)) = broker.accept().await {
            let _ = held_tx.send(s);
        }
    });
    let ns = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ns_addr = ns.local_addr().unwrap().to_string();
    let ns_task = tokio::spawn(scripted_name_server(ns, broker_addr, None));
    let baseline = alive_tasks();

    let producer = Producer::builder()
        .name_server(&ns_addr)
        .group("stalled_leak_pg");
    // No writer waits on the stalled socket for ever.
    stalled_and_shut_down_leaves_nothing(producer, baseline, &mut held_rx, "the stalled socket")
        .await;
    holder.abort();
    ns_task.abort();
}

/// A TLS server setup with a fresh self-signed certificate for 127.0.0.1.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    #[allow(deprecated)] // ring, as the crate's own TLS
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_with_writes_blocked_on_a_stalled_tls_broker_leaks_no_task_or_socket() {
    let acceptor = tls_acceptor();
    let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker_addr = broker.local_addr().unwrap().to_string();
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    // Complete the handshake, then hold the session without ever reading.
    let broker_tls = acceptor.clone();
    let holder = tokio::spawn(async move {
        while let Ok((s, _)) = broker.accept().await {
            let session = tokio::time::timeout(Duration::from_secs(5), broker_tls.accept(s)).await;
            if let Ok(Ok(session)) = session {
                let _ = held_tx.send(session);
            }
        }
    });
    let ns = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ns_addr = ns.local_addr().unwrap().to_string();
    let ns_task = tokio::spawn(scripted_name_server(ns, broker_addr, Some(acceptor)));
    let baseline = alive_tasks();

    let producer = Producer::builder()
        .name_server(&ns_addr)
        .group("stalled_tls_leak_pg")
        .tls(TlsConfig::new().insecure_skip_verify());
    // The TLS writer blocked on the stalled session ends too.
    stalled_and_shut_down_leaves_nothing(producer, baseline, &mut held_rx, "the stalled session")
        .await;
    holder.abort();
    ns_task.abort();
}

/// [`send_until_stalled_and_shut_down`], then: every task of the client
/// ends (back to `baseline`), and the broker's end of the connection it
/// held (`held`) sees it closed.
async fn stalled_and_shut_down_leaves_nothing<C: AsyncRead + Unpin>(
    producer: ProducerBuilder,
    baseline: usize,
    held: &mut tokio::sync::mpsc::UnboundedReceiver<C>,
    waiting_on: &str,
) {
    send_until_stalled_and_shut_down(producer).await;
    tasks_end(baseline, waiting_on).await;
    let conn = held.recv().await.expect("the client connected");
    closed_within_10_s(conn, waiting_on).await;
}

/// Sends 32 MiB (8 sends of ~4 MiB, far more than the socket buffers and
/// the TLS writer's channel take, far less than the backlog cap) from a
/// producer built by `builder` to a broker that never reads; each send
/// fails by its 1 s deadline; then shuts the producer down.
async fn send_until_stalled_and_shut_down(builder: ProducerBuilder) {
    let producer = builder
        .send_timeout(Duration::from_secs(1))
        .compress_threshold(usize::MAX)
        .retries(0)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let body = vec![7u8; 4 * 1024 * 1024 - 1024];
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let p = producer.clone();
            let m = Message::new("stalled_topic", body.clone());
            tokio::spawn(async move { p.send(m).await })
        })
        .collect();
    for s in sends {
        assert!(s.await.unwrap().is_err());
    }
    producer.shutdown().await.unwrap();
}

/// Waits (10 s at most) until no more tokio tasks are alive than `baseline`.
async fn tasks_end(baseline: usize, waiting_on: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive_tasks() > baseline {
        assert!(
            Instant::now() < deadline,
            "{} tasks alive, {baseline} before: a task waits on {waiting_on}",
            alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `conn` until its end, which must come within 10 s.
async fn closed_within_10_s(mut conn: impl AsyncRead + Unpin, what: &str) {
    let mut buf = vec![0u8; 1024 * 1024];
    let eof = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(eof.is_ok(), "{what} was never closed");
}
