//! Moving bytes between one WebSocket and one TCP connection.
//!
//! Each direction is a loop that reads one unit (a WebSocket message, or at
//! most [`CHUNK`] bytes from TCP) and reads the next only after the other
//! side accepted the previous one (`write_all` to TCP; `send`, which
//! flushes, to the WebSocket). Nothing is queued in between, so per
//! connection the bridge holds at most one incoming message
//! (`max_message_size`), the WebSocket read buffer, one [`CHUNK`], and the
//! name-server inspector's bounded state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::allowlist::Allowlist;
use super::learn::{NamesrvInspector, Violation};

/// Bytes read from the TCP side at a time (one WebSocket message each).
pub const CHUNK: usize = 64 * 1024;
/// Time allowed for the closing handshake after the relay ends.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes read and thrown away while waiting for a client to finish closing.
const DRAIN_LIMIT: usize = 64 << 20;

/// How a relay ended.
#[derive(Debug)]
pub enum End {
    /// The client sent a close frame.
    ClientClosed,
    /// The client's connection ended or failed without a close frame.
    ClientGone(Option<WsError>),
    /// The client sent a text message (closed with 1008).
    TextFrame,
    /// The client sent a message larger than the limit (closed with 1009).
    TooBig,
    /// The client sent a request the bridge does not pass (closed with 1008).
    Refused(Violation),
    /// The target closed its connection (closed with 1000).
    TargetClosed,
    /// Reading from or writing to the target failed (closed with 1011).
    TargetFailed(std::io::Error),
    /// No traffic for the idle timeout (closed with 1000).
    Idle,
    /// The bridge is shutting down (closed with 1001).
    Shutdown,
}

impl End {
    /// The close frame the bridge sends, if any.
    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::ClientClosed | End::ClientGone(_) => return None,
            End::TextFrame => (CloseCode::Policy, "binary frames only"),
            End::TooBig => (CloseCode::Size, "message too big"),
            End::Refused(_) => (CloseCode::Policy, "request not allowed through this bridge"),
            End::TargetClosed => (CloseCode::Normal, "target closed the connection"),
            End::TargetFailed(_) => (CloseCode::Error, "target connection failed"),
            End::Idle => (CloseCode::Normal, "idle timeout"),
            End::Shutdown => (CloseCode::Away, "bridge shutting down"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// Everything a relay needs besides its two connections.
pub struct RelayContext {
    /// Close after this long without traffic.
    pub idle_timeout: Duration,
    /// Set for name-server targets: reads the traffic to learn brokers.
    pub inspector: Option<NamesrvInspector>,
    /// Where learned brokers go.
    pub allowlist: Arc<Allowlist>,
    /// Turns true when the bridge shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The target, for logs.
    pub target: String,
}

/// Last-traffic time, shared by both directions of one relay.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// Relays until one side ends, then closes both: a WebSocket close (or its
/// reply) to the client, a TCP shutdown to the target.
pub async fn relay<S>(ws: WebSocketStream<S>, tcp: TcpStream, mut ctx: RelayContext) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut tcp_rd, mut tcp_wr) = tcp.into_split();
    let activity = Activity::new();
    let inspector = ctx.inspector.take().map(Mutex::new);
    let allowlist = &ctx.allowlist;
    let target = ctx.target.as_str();

    let upstream = async {
        loop {
            let msg = match ws_rx.next().await {
                None => return End::ClientGone(None),
                Some(Err(WsError::Capacity(_))) => return End::TooBig,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return End::ClientGone(None)
                }
                Some(Err(e)) => return End::ClientGone(Some(e)),
                Some(Ok(m)) => m,
            };
            activity.touch();
            match msg {
                Message::Binary(data) => {
                    if let Some(i) = &inspector {
                        let checked = lock(i).client_bytes(&data);
                        if let Err(v) = checked {
                            return End::Refused(v);
                        }
                    }
                    if let Err(e) = tcp_wr.write_all(&data).await {
                        return End::TargetFailed(e);
                    }
                    activity.touch();
                }
                Message::Text(_) => return End::TextFrame,
                Message::Close(_) => return End::ClientClosed,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    };

    let downstream = async {
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(CHUNK);
            let n = match (&mut tcp_rd).take(CHUNK as u64).read_buf(&mut buf).await {
                Ok(0) => return End::TargetClosed,
                Ok(n) => n,
                Err(e) => return End::TargetFailed(e),
            };
            activity.touch();
            let chunk = buf.split_to(n).freeze();
            if let Some(i) = &inspector {
                let found = lock(i).server_bytes(&chunk);
                if !found.is_empty() {
                    for t in allowlist.learn(found.iter().map(String::as_str)) {
                        tracing::info!(broker = %t, namesrv = target, "learned broker address");
                    }
                }
            }
            if let Err(e) = ws_tx.send(Message::Binary(chunk)).await {
                return match e {
                    WsError::ConnectionClosed | WsError::AlreadyClosed => End::ClientGone(None),
                    e => End::ClientGone(Some(e)),
                };
            }
        }
    };

    let end = tokio::select! {
        end = upstream => end,
        end = downstream => end,
        () = activity.idle_for(ctx.idle_timeout) => End::Idle,
        () = super::server::stopped(&mut ctx.shutdown) => End::Shutdown,
    };

    // WebSocket close → TCP shutdown (FIN), then the TCP side is dropped.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tcp_wr.shutdown()).await;
    drop((tcp_rd, tcp_wr));

    let closing = async {
        match end.close_frame() {
            // The client closed: tungstenite queued the reply; flush it.
            None if matches!(end, End::ClientClosed) => {
                let _ = ws_tx.flush().await;
            }
            None => {}
            Some(frame) => {
                let _ = ws_tx.send(Message::Close(Some(frame))).await;
            }
        }
        // The server closes TCP first (RFC 6455 §7.1.1): shut down the write
        // side, then read and drop whatever the client still sends (its
        // close reply, or the rest of an oversized message) until it closes.
        if let Ok(mut ws) = ws_rx.reunite(ws_tx) {
            let stream = ws.get_mut();
            let _ = stream.shutdown().await;
            let mut scratch = vec![0u8; 8 * 1024];
            let mut drained = 0;
            while drained < DRAIN_LIMIT {
                match stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
    end
}

fn lock(i: &Mutex<NamesrvInspector>) -> std::sync::MutexGuard<'_, NamesrvInspector> {
    i.lock().unwrap_or_else(|e| e.into_inner())
}
