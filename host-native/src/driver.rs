//! Drives one engine: the engine lives behind a mutex that user calls, socket
//! readers and one timer task take in turn, each time feeding an input and
//! draining outputs (str0m's rule). Writes go straight to the socket when it
//! can take them and through a per-connection writer task when it cannot.
//! There is no task between a user call and the socket, so a send costs one
//! wake-up (the reader completing it), not a chain of hand-offs.
//!
//! The host decides nothing the engine can: it only moves bytes, arms the
//! timer and hands completions to callers.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rmq_core::engine::{
    ConnId, Engine, Event, RequestError, RequestId, SendError, SendId, SendReceipt, Transmit,
};
use rmq_core::producer::SendRequest;
use rmq_core::protocol::RemotingCommand;
use rmq_core::time::Instant;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::clock::MonotonicClock;

/// How long the host waits for a TCP connect before reporting failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read buffer size per connection.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes a connection may hold queued behind a full socket before the host
/// gives up on the peer (it is not reading): the connection is closed and
/// its requests fail, instead of memory growing without bound.
const MAX_BACKLOG: usize = 128 * 1024 * 1024;

type SendReply = oneshot::Sender<Result<SendReceipt, SendError>>;
type RequestReply = oneshot::Sender<Result<RemotingCommand, RequestError>>;

/// The socket side of one open connection.
struct Link {
    writer: Arc<OwnedWriteHalf>,
    /// Bytes waiting for the writer task; `None` while direct writes flow.
    backlog: Option<mpsc::UnboundedSender<Bytes>>,
    /// Bytes queued in `backlog` and not yet written.
    backlog_bytes: Arc<AtomicUsize>,
    reader: JoinHandle<()>,
}

/// Everything behind the mutex.
struct State {
    engine: Engine,
    links: HashMap<ConnId, Link>,
    sends: HashMap<SendId, SendReply>,
    requests: HashMap<RequestId, RequestReply>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// The deadline the timer task sleeps towards.
    armed: Option<Instant>,
    done: bool,
}

/// The engine and what the host keeps beside it.
pub(crate) struct Driver {
    state: Mutex<State>,
    clock: MonotonicClock,
    runtime: Handle,
    timer: Notify,
    span: tracing::Span,
}

impl Driver {
    /// Takes over `engine` and starts its timer task on the current runtime.
    pub(crate) fn start(engine: Engine, clock: MonotonicClock) -> Arc<Driver> {
        let span = tracing::debug_span!("rmq.client", client_id = %engine.config().client_id);
        let driver = Arc::new(Driver {
            state: Mutex::new(State {
                engine,
                links: HashMap::new(),
                sends: HashMap::new(),
                requests: HashMap::new(),
                shutdown_waiters: Vec::new(),
                armed: None,
                done: false,
            }),
            clock,
            runtime: Handle::current(),
            timer: Notify::new(),
            span,
        });
        let d = Arc::clone(&driver);
        let span = driver.span.clone();
        driver.runtime.spawn(d.run_timer().instrument(span));
        driver
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the engine half-updated
        // in a way later calls could not survive: continue with the state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a send; the receiver yields its outcome.
    pub(crate) fn send(
        self: &Arc<Self>,
        request: SendRequest,
    ) -> oneshot::Receiver<Result<SendReceipt, SendError>> {
        let (reply, rx) = oneshot::channel();
        let mut st = self.lock();
        let id = st.engine.send(request, self.clock.now());
        st.sends.insert(id, reply);
        self.drain(&mut st);
        rx
    }

    /// Starts a raw request to `addr` (or the current name server).
    pub(crate) fn request(
        self: &Arc<Self>,
        addr: Option<&str>,
        command: RemotingCommand,
        timeout: Duration,
    ) -> oneshot::Receiver<Result<RemotingCommand, RequestError>> {
        let (reply, rx) = oneshot::channel();
        let mut st = self.lock();
        let now = self.clock.now();
        let id = match addr {
            Some(addr) => st.engine.request(addr, command, timeout, now),
            None => st.engine.request_name_server(command, timeout, now),
        };
        st.requests.insert(id, reply);
        self.drain(&mut st);
        rx
    }

    /// Begins shutdown; the receiver fires when every connection is closed.
    pub(crate) fn shutdown(self: &Arc<Self>) -> oneshot::Receiver<()> {
        let (reply, rx) = oneshot::channel();
        let mut st = self.lock();
        if st.done {
            let _ = reply.send(());
            return rx;
        }
        st.shutdown_waiters.push(reply);
        st.engine.shutdown(self.clock.now());
        self.drain(&mut st);
        rx
    }

    /// Drains the engine's transmits and events, then re-arms the timer.
    fn drain(self: &Arc<Self>, st: &mut State) {
        while let Some(t) = st.engine.poll_transmit() {
            match t {
                Transmit::Connect { conn, addr } => {
                    let span = tracing::debug_span!(parent: &self.span, "rmq.conn", ?conn, %addr);
                    let d = Arc::clone(self);
                    self.runtime.spawn(d.connect(conn, addr).instrument(span));
                }
                Transmit::Write { conn, bytes } => self.write(st, conn, bytes),
                Transmit::Close { conn } => {
                    if let Some(link) = st.links.remove(&conn) {
                        // Dropping the write half shuts the socket for writing.
                        link.reader.abort();
                    }
                }
            }
        }
        while let Some(ev) = st.engine.poll_event() {
            match ev {
                Event::SendDone { id, result } => {
                    if let Err(e) = &result {
                        tracing::debug!(?id, error = %e, "send failed");
                    }
                    if let Some(reply) = st.sends.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Event::RequestDone { id, result } => {
                    if let Some(reply) = st.requests.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Event::BrokerRequest { conn, command } => {
                    tracing::debug!(?conn, code = command.code, "broker request");
                }
                Event::ShutdownComplete => {
                    st.done = true;
                    for (_, link) in st.links.drain() {
                        link.reader.abort();
                    }
                    for w in st.shutdown_waiters.drain(..) {
                        let _ = w.send(());
                    }
                    self.timer.notify_one();
                }
            }
        }
        let next = st.engine.poll_timeout();
        if next.is_some() && (st.armed.is_none() || next < st.armed) {
            st.armed = next;
            self.timer.notify_one();
        }
    }

    /// Writes now if the socket takes it; otherwise queues for the writer
    /// task, up to [`MAX_BACKLOG`] bytes.
    fn write(self: &Arc<Self>, st: &mut State, conn: ConnId, mut bytes: Bytes) {
        let Some(link) = st.links.get_mut(&conn) else {
            return;
        };
        if link.backlog.is_none() {
            while !bytes.is_empty() {
                match link.writer.try_write(&bytes) {
                    Ok(n) => bytes.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        let reason = format!("write: {e}");
                        self.close_link(st, conn, &reason);
                        return;
                    }
                }
            }
            if bytes.is_empty() {
                return;
            }
        }
        let queued = link.backlog_bytes.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len();
        if queued > MAX_BACKLOG {
            let reason = format!("peer is not reading: over {MAX_BACKLOG} bytes queued");
            self.close_link(st, conn, &reason);
            return;
        }
        match &link.backlog {
            Some(backlog) => {
                let _ = backlog.send(bytes);
            }
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(bytes);
                link.backlog = Some(tx);
                let writer = Arc::clone(&link.writer);
                let queued = Arc::clone(&link.backlog_bytes);
                let d = Arc::clone(self);
                self.runtime
                    .spawn(d.flush_backlog(conn, writer, queued, rx));
            }
        }
    }

    /// Writes queued bytes in order until the queue is empty, then hands
    /// writing back to the direct path.
    async fn flush_backlog(
        self: Arc<Self>,
        conn: ConnId,
        writer: Arc<OwnedWriteHalf>,
        queued: Arc<AtomicUsize>,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
    ) {
        loop {
            let Some(mut bytes) = rx.recv().await else {
                return;
            };
            queued.fetch_sub(bytes.len(), Ordering::Relaxed);
            while !bytes.is_empty() {
                if let Err(e) = writer.writable().await {
                    return self.closed(conn, format!("write: {e}"));
                }
                match writer.try_write(&bytes) {
                    Ok(n) => bytes.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return self.closed(conn, format!("write: {e}")),
                }
            }
            // Only under the lock, and only when nothing more is queued, may
            // direct writes resume: they are ordered by the same lock.
            {
                let mut st = self.lock();
                if rx.is_empty() {
                    if let Some(link) = st.links.get_mut(&conn) {
                        link.backlog = None;
                    }
                    return;
                }
            }
        }
    }

    fn close_link(self: &Arc<Self>, st: &mut State, conn: ConnId, reason: &str) {
        if let Some(link) = st.links.remove(&conn) {
            link.reader.abort();
        }
        st.engine.handle_closed(conn, reason, self.clock.now());
    }

    fn closed(self: &Arc<Self>, conn: ConnId, reason: String) {
        tracing::debug!(?conn, %reason, "connection closed");
        let mut st = self.lock();
        if let Some(link) = st.links.remove(&conn) {
            link.reader.abort();
        }
        st.engine.handle_closed(conn, &reason, self.clock.now());
        self.drain(&mut st);
    }

    async fn connect(self: Arc<Self>, conn: ConnId, addr: String) {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.closed(conn, format!("connect to {addr}: {e}")),
            Err(_) => return self.closed(conn, format!("connect to {addr} timed out")),
        };
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let mut st = self.lock();
        if st.done {
            return;
        }
        let d = Arc::clone(&self);
        let reader = self
            .runtime
            .spawn(d.read(conn, rd).instrument(tracing::Span::current()));
        st.links.insert(
            conn,
            Link {
                writer: Arc::new(wr),
                backlog: None,
                backlog_bytes: Arc::new(AtomicUsize::new(0)),
                reader,
            },
        );
        tracing::debug!("connected");
        st.engine.handle_connected(conn, self.clock.now());
        self.drain(&mut st);
    }

    async fn read(self: Arc<Self>, conn: ConnId, mut rd: OwnedReadHalf) {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let reason = loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(READ_CHUNK);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) => break String::from("closed by peer"),
                Ok(_) => {
                    let mut st = self.lock();
                    st.engine.handle_input(conn, &buf, self.clock.now());
                    buf.clear();
                    self.drain(&mut st);
                }
                Err(e) => break format!("read: {e}"),
            }
        };
        self.closed(conn, reason);
    }

    async fn run_timer(self: Arc<Self>) {
        loop {
            let wake = {
                let mut st = self.lock();
                if st.done {
                    return;
                }
                st.armed = st.engine.poll_timeout();
                st.armed.map(|t| self.clock.to_tokio(t))
            };
            tokio::select! {
                _ = self.timer.notified() => {}
                _ = sleep_until(wake) => {
                    let mut st = self.lock();
                    st.engine.handle_timeout(self.clock.now());
                    st.armed = None;
                    self.drain(&mut st);
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
