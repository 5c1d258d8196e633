//! The accept loop, TLS, the WebSocket upgrade and its refusals.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::allowlist::{Allowlist, TargetKind};
use super::config::{BridgeConfig, TargetAddr, TlsFiles};
use super::learn::NamesrvInspector;
use super::policy::{Admitted, Limits, Permit, Policy, Refusal};
use super::relay::{self, End, RelayContext, CHUNK};
use super::BridgeError;

/// Connections being refused (answered 503/429) at the same time at most;
/// past it, a connection over the limits is closed without an answer.
pub const MAX_REFUSING: usize = 64;
/// How long [`Server::run`] waits for connections to close at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Shared {
    config: BridgeConfig,
    allowlist: Arc<Allowlist>,
    policy: Policy,
    limits: Arc<Limits>,
    refusing: AtomicUsize,
    tls: Option<TlsAcceptor>,
    ws_config: WebSocketConfig,
    shutdown: watch::Receiver<bool>,
}

/// A bridge bound to a listener. [`Server::run`] serves until
/// [`ShutdownHandle::shutdown`].
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
}

/// Stops a running [`Server`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Stops accepting, closes every connection (WebSocket close 1001), and
    /// lets [`Server::run`] return.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

impl Server {
    /// Validates `config`, loads its TLS files, and takes `listener`.
    pub fn new(config: BridgeConfig, listener: TcpListener) -> Result<Self, BridgeError> {
        config.validate()?;
        let parse_all = |v: &[String]| -> Vec<TargetAddr> {
            // Validated above.
            v.iter().filter_map(|a| TargetAddr::parse(a).ok()).collect()
        };
        let allowlist = Arc::new(Allowlist::new(
            parse_all(&config.name_servers),
            parse_all(&config.allow),
            config.max_learned,
            config.learned_ttl,
        ));
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let policy = Policy::new(
            config.token.clone(),
            &config.allowed_origins,
            Arc::clone(&allowlist),
        );
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_message_size))
            .read_buffer_size(CHUNK)
            .write_buffer_size(0)
            .max_write_buffer_size(2 * CHUNK + 1024);
        let (stop, shutdown) = watch::channel(false);
        let limits = Limits::new(config.max_connections, config.max_connections_per_ip);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                config,
                allowlist,
                policy,
                limits,
                refusing: AtomicUsize::new(0),
                tls,
                ws_config,
                shutdown,
            }),
            stop: Arc::new(stop),
        })
    }

    /// The listening address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops this server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.stop))
    }

    /// The allowlist, to inspect what was learned.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        Arc::clone(&self.shared.allowlist)
    }

    /// Accepts and serves connections until shut down, then waits (at most
    /// [`SHUTDOWN_GRACE`]) for open connections to close.
    pub async fn run(self) -> Result<(), BridgeError> {
        let Server {
            listener,
            shared,
            stop: _stop,
        } = self;
        let mut shutdown = shared.shutdown.clone();
        let mut tasks = JoinSet::new();
        tracing::info!(
            listen = %listener.local_addr()?,
            tls = shared.tls.is_some(),
            name_servers = ?shared.config.name_servers,
            allow = ?shared.config.allow,
            "rmq-bridge serving"
        );
        loop {
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!(error = %e, "connection task panicked");
                        }
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let admission = shared.limits.try_acquire(peer.ip());
                        let refusing = match &admission {
                            Ok(_) => None,
                            Err(r) => match RefusalSlot::take(&shared) {
                                Some(slot) => Some(slot),
                                None => {
                                    tracing::warn!(peer = %peer, status = r.status().as_u16(), reason = %r.reason(), "refused without answer (too many refusals in progress)");
                                    continue;
                                }
                            },
                        };
                        let shared = Arc::clone(&shared);
                        tasks.spawn(async move {
                            let _refusing = refusing;
                            connection(shared, tcp, peer, admission).await;
                        });
                    }
                    Err(e) => {
                        // E.g. out of file descriptors: back off a little.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        tracing::info!(open = tasks.len(), "rmq-bridge shutting down");
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
        Ok(())
    }
}

/// Runs a bridge on `listener` until `shutdown` completes.
pub async fn serve_with_shutdown(
    config: BridgeConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), BridgeError> {
    let server = Server::new(config, listener)?;
    let handle = server.shutdown_handle();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        handle.shutdown();
    });
    let r = server.run().await;
    stopper.abort();
    r
}

/// Completes when `rx` turns true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = rx.wait_for(|stop| *stop).await.map(|_| ());
}

struct RefusalSlot(Arc<Shared>);

impl RefusalSlot {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        let prev = shared.refusing.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_REFUSING {
            shared.refusing.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(RefusalSlot(Arc::clone(shared)))
    }
}

impl Drop for RefusalSlot {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, BridgeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        BridgeError::Tls(format!("{what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| tls_err("reading certificates", &files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("reading certificates", &files.cert, &e))?;
    if certs.is_empty() {
        return Err(BridgeError::Tls(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err("reading the private key", &files.key, &e))?;
    // ring builds quickly and needs no C toolchain beyond cc; rustls 0.23.48
    // deprecates it only because it lacks post-quantum key exchange
    // (X25519MLKEM768). Terminate TLS in a proxy where that matters.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BridgeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| BridgeError::Tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One accepted TCP connection: TLS, upgrade (or refusal), connect, relay.
async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    admission: Result<Permit, Refusal>,
) {
    let handshake_timeout = shared.config.handshake_timeout;
    match &shared.tls {
        None => upgrade(&shared, tcp, peer, admission).await,
        Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await
        {
            Ok(Ok(tls)) => upgrade(&shared, tls, peer, admission).await,
            Ok(Err(e)) => tracing::debug!(peer = %peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
        },
    }
}

async fn upgrade<S>(
    shared: &Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    admission: Result<Permit, Refusal>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut decided: Option<Result<Admitted, Refusal>> = None;
    // The request path (never the query: it may hold the token), logged
    // with a refusal.
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        let decision = match &admission {
            Err(r) => Err(r.clone()),
            Ok(_) => shared.policy.admit(req),
        };
        let answer = match &decision {
            Ok(_) => Ok(resp),
            Err(r) => Err(r.response()),
        };
        decided = Some(decision);
        answer
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(shared.ws_config));
    let result = tokio::time::timeout(shared.config.handshake_timeout, handshake).await;
    let ws = match (result, decided) {
        (Ok(Ok(ws)), Some(Ok(admitted))) => (ws, admitted),
        (_, Some(Err(refusal))) => {
            tracing::warn!(peer = %peer, path = %path, status = refusal.status().as_u16(), reason = %refusal.reason(), "refused");
            return;
        }
        (Ok(Err(e)), _) => {
            tracing::debug!(peer = %peer, error = %e, "WebSocket handshake failed");
            return;
        }
        (Err(_), _) => {
            tracing::debug!(peer = %peer, "WebSocket handshake timed out");
            return;
        }
        (Ok(Ok(_)), None) => return,
    };
    let (ws, admitted) = ws;
    // The permit is held until the relay ends.
    let _permit = admission;
    serve_target(shared, ws, peer, admitted).await;
}

async fn serve_target<S>(
    shared: &Arc<Shared>,
    mut ws: WebSocketStream<S>,
    peer: SocketAddr,
    admitted: Admitted,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = admitted.target;
    let connect = TcpStream::connect((target.host(), target.port()));
    let tcp = match tokio::time::timeout(shared.config.connect_timeout, connect).await {
        Ok(Ok(tcp)) => tcp,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::warn!(peer = %peer, target = %target, error = %why, "target unreachable");
            let frame = CloseFrame {
                code: CloseCode::Error,
                reason: "target unreachable".into(),
            };
            let closing = async {
                use futures_util::SinkExt;
                let _ = ws.send(Message::Close(Some(frame))).await;
                let _ = ws.get_mut().shutdown().await;
            };
            let _ = tokio::time::timeout(relay::CLOSE_TIMEOUT, closing).await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    tracing::info!(peer = %peer, target = %target, kind = ?admitted.kind, "connected");
    let ctx = RelayContext {
        idle_timeout: shared.config.idle_timeout,
        inspector: (admitted.kind == TargetKind::NameServer).then(NamesrvInspector::new),
        allowlist: Arc::clone(&shared.allowlist),
        shutdown: shared.shutdown.clone(),
        target: target.to_string(),
    };
    let end = relay::relay(ws, tcp, ctx).await;
    match &end {
        End::Refused(v) => {
            tracing::warn!(peer = %peer, target = %target, reason = %v, "closed: request refused")
        }
        End::TargetFailed(e) => {
            tracing::warn!(peer = %peer, target = %target, error = %e, "closed: target connection failed")
        }
        End::ClientGone(Some(e)) => {
            tracing::debug!(peer = %peer, target = %target, error = %e, "closed: client connection failed")
        }
        End::TooBig | End::TextFrame | End::Idle => {
            tracing::info!(peer = %peer, target = %target, end = ?end, "closed")
        }
        _ => tracing::debug!(peer = %peer, target = %target, end = ?end, "closed"),
    }
}
