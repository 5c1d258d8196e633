//! The one task that owns an engine: it moves bytes between sockets and the
//! engine, wakes it on its timer, and routes completions to callers. It
//! decides nothing the engine can.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rmq_core::engine::{
    ConnId, Engine, Event, RequestError, RequestId, SendError, SendId, SendReceipt, Transmit,
};
use rmq_core::producer::SendRequest;
use rmq_core::protocol::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::clock::MonotonicClock;

/// How long the host waits for a TCP connect before reporting failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read buffer size per connection.
const READ_CHUNK: usize = 64 * 1024;

/// A user command for the driver.
pub(crate) enum Command {
    Send {
        request: SendRequest,
        reply: oneshot::Sender<Result<SendReceipt, SendError>>,
    },
    Request {
        /// `None`: the current name server.
        addr: Option<String>,
        command: RemotingCommand,
        timeout: Duration,
        reply: oneshot::Sender<Result<RemotingCommand, RequestError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What socket tasks report.
enum NetEvent {
    Connected(ConnId, mpsc::UnboundedSender<Bytes>),
    Data(ConnId, Bytes),
    Closed(ConnId, String),
}

struct Driver {
    engine: Engine,
    clock: MonotonicClock,
    net_tx: mpsc::UnboundedSender<NetEvent>,
    writers: HashMap<ConnId, mpsc::UnboundedSender<Bytes>>,
    sends: HashMap<SendId, oneshot::Sender<Result<SendReceipt, SendError>>>,
    requests: HashMap<RequestId, oneshot::Sender<Result<RemotingCommand, RequestError>>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    done: bool,
}

/// Spawns the driver task for `engine`; commands go in through the returned sender.
pub(crate) fn spawn(engine: Engine, clock: MonotonicClock) -> mpsc::UnboundedSender<Command> {
    let span = tracing::debug_span!("rmq.client", client_id = %engine.config().client_id);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        engine,
        clock,
        net_tx,
        writers: HashMap::new(),
        sends: HashMap::new(),
        requests: HashMap::new(),
        shutdown_waiters: Vec::new(),
        done: false,
    };
    tokio::spawn(driver.run(cmd_rx, net_rx).instrument(span));
    cmd_tx
}

impl Driver {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut net_rx: mpsc::UnboundedReceiver<NetEvent>,
    ) {
        let mut commands_open = true;
        while !self.done {
            let wake = self.engine.poll_timeout().map(|t| self.clock.to_tokio(t));
            tokio::select! {
                biased;
                Some(ev) = net_rx.recv() => {
                    self.on_net(ev);
                    // Take whatever else is ready before flushing: fewer, larger writes.
                    for _ in 0..256 {
                        match net_rx.try_recv() {
                            Ok(ev) => self.on_net(ev),
                            Err(_) => break,
                        }
                    }
                }
                cmd = cmd_rx.recv(), if commands_open => match cmd {
                    Some(cmd) => {
                        self.on_command(cmd);
                        for _ in 0..256 {
                            match cmd_rx.try_recv() {
                                Ok(cmd) => self.on_command(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        // Every handle is gone: shut down.
                        commands_open = false;
                        let now = self.clock.now();
                        self.engine.shutdown(now);
                    }
                },
                _ = sleep_until(wake) => {
                    let now = self.clock.now();
                    self.engine.handle_timeout(now);
                }
            }
            self.drain();
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::Send { request, reply } => {
                let id = self.engine.send(request, now);
                self.sends.insert(id, reply);
            }
            Command::Request {
                addr,
                command,
                timeout,
                reply,
            } => {
                let id = match addr {
                    Some(addr) => self.engine.request(&addr, command, timeout, now),
                    None => self.engine.request_name_server(command, timeout, now),
                };
                self.requests.insert(id, reply);
            }
            Command::Shutdown { reply } => {
                self.shutdown_waiters.push(reply);
                self.engine.shutdown(now);
            }
        }
    }

    fn on_net(&mut self, ev: NetEvent) {
        let now = self.clock.now();
        match ev {
            NetEvent::Connected(conn, writer) => {
                tracing::debug!(?conn, "connected");
                self.writers.insert(conn, writer);
                self.engine.handle_connected(conn, now);
            }
            NetEvent::Data(conn, bytes) => self.engine.handle_input(conn, &bytes, now),
            NetEvent::Closed(conn, reason) => {
                tracing::debug!(?conn, %reason, "connection closed");
                self.writers.remove(&conn);
                self.engine.handle_closed(conn, &reason, now);
            }
        }
    }

    /// Drains the engine's transmits and events (str0m's rule).
    fn drain(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            match t {
                Transmit::Connect { conn, addr } => {
                    tracing::debug!(?conn, %addr, "connecting");
                    let span = tracing::debug_span!("rmq.conn", ?conn, %addr);
                    tokio::spawn(connect(conn, addr, self.net_tx.clone()).instrument(span));
                }
                Transmit::Write { conn, bytes } => {
                    if let Some(w) = self.writers.get(&conn) {
                        let _ = w.send(bytes);
                    }
                }
                Transmit::Close { conn } => {
                    // Dropping the sender ends the writer task, which shuts the socket.
                    self.writers.remove(&conn);
                }
            }
        }
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::SendDone { id, result } => {
                    if let Err(e) = &result {
                        tracing::debug!(?id, error = %e, "send failed");
                    }
                    if let Some(reply) = self.sends.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Event::RequestDone { id, result } => {
                    if let Some(reply) = self.requests.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Event::BrokerRequest { conn, command } => {
                    tracing::debug!(?conn, code = command.code, "broker request");
                }
                Event::ShutdownComplete => {
                    for w in self.shutdown_waiters.drain(..) {
                        let _ = w.send(());
                    }
                    self.writers.clear();
                    self.done = true;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens a connection, then runs its reader and writer until either ends.
async fn connect(conn: ConnId, addr: String, net: mpsc::UnboundedSender<NetEvent>) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = net.send(NetEvent::Closed(conn, format!("connect to {addr}: {e}")));
            return;
        }
        Err(_) => {
            let _ = net.send(NetEvent::Closed(
                conn,
                format!("connect to {addr} timed out"),
            ));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    if net.send(NetEvent::Connected(conn, wtx)).is_err() {
        return;
    }
    let net_w = net.clone();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if let Err(e) = wr.write_all(&bytes).await {
                let _ = net_w.send(NetEvent::Closed(conn, format!("write: {e}")));
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let reason = loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break String::from("closed by peer"),
            Ok(_) => {
                if net
                    .send(NetEvent::Data(conn, buf.split().freeze()))
                    .is_err()
                {
                    break String::from("client gone");
                }
            }
            Err(e) => break format!("read: {e}"),
        }
    };
    writer.abort();
    let _ = net.send(NetEvent::Closed(conn, reason));
}
