//! Drives one [`Client`]: it lives behind a mutex that user calls, socket
//! readers and one timer task take in turn, each feeding an input and then
//! draining transmits and re-arming the timer (the engine's drain rule).
//! Writes go straight to the socket; what a full socket does not take goes
//! back to the core ([`Client::handle_write_blocked`]), which holds and
//! bounds it until a task sees the socket writable again. Callers are woken
//! by the client itself, through their oneshot [`Reply`]. Nothing here
//! decides protocol.

use std::collections::HashMap;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use rmq_core::client::{Caller, Client, ConsumerId, HostPolicy, Outcome};
use rmq_core::consumer::Delivery;
use rmq_core::engine::{ConnId, Transmit};
use rmq_core::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::{AbortHandle, JoinHandle};
use tracing::Instrument;

use crate::clock::MonotonicClock;
use crate::tls::TlsConnector;

/// Bytes a TLS connection's writer task may hold before writes count as
/// blocked (the plaintext socket's send buffer plays this part there).
const TLS_WRITE_BUFFER: usize = 1024 * 1024;
/// How long a closing TLS connection may take to send its close_notify.
const TLS_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A caller waiting on a oneshot channel.
pub(crate) struct Reply(oneshot::Sender<Outcome>);

impl Caller for Reply {
    fn complete(self, outcome: Outcome) {
        let _ = self.0.send(outcome);
    }
}

/// The socket side of one open connection.
struct Link {
    writer: Arc<Writer>,
    reader: JoinHandle<()>,
    /// Tasks waiting for the socket to take bytes again. They end with the
    /// link: a peer that never reads would otherwise keep them, the socket
    /// and the whole client alive for ever.
    waiters: Vec<AbortHandle>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
        for waiter in &self.waiters {
            waiter.abort();
        }
    }
}

/// Where a connection's bytes go: the socket, or the task that writes a
/// TLS session.
enum Writer {
    Plain(OwnedWriteHalf),
    Tls(TlsWriter),
}

impl Writer {
    /// Takes what it can of `bytes` now ([`io::ErrorKind::WouldBlock`]:
    /// nothing).
    fn try_write(&self, bytes: &Bytes) -> io::Result<usize> {
        match self {
            Writer::Plain(w) => w.try_write(bytes),
            Writer::Tls(w) => w.try_write(bytes),
        }
    }

    /// Waits until a write may take bytes again.
    async fn writable(&self) -> io::Result<()> {
        match self {
            Writer::Plain(w) => w.writable().await,
            Writer::Tls(w) => w.writable().await,
        }
    }
}

/// The writing side of a TLS connection: a task writes the session, fed
/// through a channel that holds at most about [`TLS_WRITE_BUFFER`] bytes.
struct TlsWriter {
    tx: mpsc::UnboundedSender<Bytes>,
    shared: Arc<TlsWriteState>,
}

#[derive(Default)]
struct TlsWriteState {
    queued: AtomicUsize,
    failed: AtomicBool,
    drained: Notify,
    /// The link is gone: the writer task has [`TLS_CLOSE_WAIT`] left.
    gone: Notify,
}

impl TlsWriter {
    /// Starts the writer task of `wr` on `runtime`.
    fn start(runtime: &Handle, wr: WriteHalf<TlsStream>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(TlsWriteState::default());
        let write = tls_write_task(wr, rx, Arc::clone(&shared));
        let st = Arc::clone(&shared);
        // Once the link is gone the task may finish what is queued and say
        // close_notify, for a while: a peer that never reads would keep it
        // (blocked in a write), the socket and the client alive for ever.
        let gone = async move {
            st.gone.notified().await;
            tokio::time::sleep(TLS_CLOSE_WAIT).await;
        };
        runtime.spawn(async move {
            tokio::select! {
                () = write => {}
                () = gone => tracing::debug!("TLS writer given up: the peer stopped reading"),
            }
        });
        TlsWriter { tx, shared }
    }

    fn try_write(&self, bytes: &Bytes) -> io::Result<usize> {
        let st = &self.shared;
        if st.failed.load(Ordering::Acquire) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if st.queued.load(Ordering::Acquire) >= TLS_WRITE_BUFFER {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        st.queued.fetch_add(bytes.len(), Ordering::AcqRel);
        self.tx
            .send(bytes.clone())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(bytes.len())
    }

    async fn writable(&self) -> io::Result<()> {
        let st = &self.shared;
        loop {
            let drained = st.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if st.failed.load(Ordering::Acquire) {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if st.queued.load(Ordering::Acquire) < TLS_WRITE_BUFFER {
                return Ok(());
            }
            drained.await;
        }
    }
}

impl Drop for TlsWriter {
    fn drop(&mut self) {
        // A permit: the task sees it even if it is not waiting yet.
        self.shared.gone.notify_one();
    }
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Writes what the channel brings to the TLS session, flushing when the
/// channel is empty; ends (with a close_notify) when the link is dropped
/// (given up [`TLS_CLOSE_WAIT`] after that, see [`TlsWriter::start`]).
async fn tls_write_task(
    mut wr: WriteHalf<TlsStream>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    st: Arc<TlsWriteState>,
) {
    while let Some(first) = rx.recv().await {
        let mut written = first.len();
        let mut result = wr.write_all(&first).await;
        while result.is_ok() {
            match rx.try_recv() {
                Ok(more) => {
                    written += more.len();
                    result = wr.write_all(&more).await;
                }
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = wr.flush().await;
        }
        st.queued.fetch_sub(written, Ordering::AcqRel);
        if let Err(e) = result {
            tracing::debug!(error = %e, "TLS write failed");
            st.failed.store(true, Ordering::Release);
            st.drained.notify_waiters();
            return;
        }
        st.drained.notify_waiters();
    }
    let _ = wr.shutdown().await;
}

/// What the consumer task gets: deliveries for its handlers, and offset
/// snapshots to store (broadcasting).
pub(crate) enum ConsumerEvent {
    /// Run the handler.
    Deliver(ConsumerId, Delivery),
    /// Store these bytes as the group's local offsets.
    StoreOffsets(Vec<u8>),
}

/// Where consumer events go: the task that runs the handlers.
pub(crate) type DeliverySink = mpsc::UnboundedSender<ConsumerEvent>;

/// Everything behind the mutex.
struct State {
    client: Client<Reply>,
    deliveries: Option<DeliverySink>,
    links: HashMap<ConnId, Link>,
    /// The deadline the timer task sleeps towards.
    armed: Option<Instant>,
}

/// The client and what the host keeps beside it.
pub(crate) struct Driver {
    state: Mutex<State>,
    clock: MonotonicClock,
    policy: HostPolicy,
    /// TLS for every connection, when set.
    tls: Option<Arc<TlsConnector>>,
    runtime: Handle,
    timer: Notify,
    span: tracing::Span,
}

impl Driver {
    /// Takes over `client` and starts its timer task on the current runtime.
    pub(crate) fn start(
        client: Client<Reply>,
        deliveries: Option<DeliverySink>,
        clock: MonotonicClock,
        policy: HostPolicy,
        tls: Option<Arc<TlsConnector>>,
    ) -> Arc<Self> {
        let span = tracing::debug_span!("rmq.client", client_id = %client.config().client_id);
        let state = State {
            client,
            deliveries,
            links: HashMap::new(),
            armed: None,
        };
        let driver = Arc::new(Driver {
            state: Mutex::new(state),
            clock,
            policy,
            tls,
            runtime: Handle::current(),
            timer: Notify::new(),
            span,
        });
        let d = Arc::clone(&driver);
        driver
            .runtime
            .spawn(d.run_timer().instrument(driver.span.clone()));
        driver
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the client half-updated
        // in a way later calls could not survive: continue with the state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one command on the client with a fresh caller, then drains; the
    /// receiver yields the caller's outcome.
    pub(crate) fn call(
        self: &Arc<Self>,
        command: impl FnOnce(&mut Client<Reply>, Instant, Reply),
    ) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        command(&mut st.client, self.clock.now(), Reply(tx));
        self.drain(&mut st);
        rx
    }

    /// Runs one command on the client, then drains.
    pub(crate) fn run(self: &Arc<Self>, command: impl FnOnce(&mut Client<Reply>, Instant)) {
        let mut st = self.lock();
        command(&mut st.client, self.clock.now());
        self.drain(&mut st);
    }

    /// Carries out the client's transmits, hands deliveries to the handler
    /// task, then re-arms the timer.
    fn drain(self: &Arc<Self>, st: &mut State) {
        if let Some(sink) = &st.deliveries {
            while let Some((c, d)) = st.client.poll_delivery() {
                let _ = sink.send(ConsumerEvent::Deliver(c, d));
            }
            while let Some((_, bytes)) = st.client.poll_offset_snapshot() {
                let _ = sink.send(ConsumerEvent::StoreOffsets(bytes));
            }
        }
        while let Some(t) = st.client.poll_transmit() {
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
        if st.client.is_closed() {
            for (_, link) in st.links.drain() {
                link.reader.abort();
            }
            self.timer.notify_one(); // the timer task ends
            return;
        }
        // Wake the timer task only for an earlier deadline; a later one is
        // found when the armed one fires early, which costs nothing.
        let next = st.client.poll_timeout();
        if next.is_some() && (st.armed.is_none() || next < st.armed) {
            st.armed = next;
            self.timer.notify_one();
        }
    }

    /// Writes what the socket takes now; hands the rest back to the core
    /// and waits, in a task, for the socket to drain.
    fn write(self: &Arc<Self>, st: &mut State, conn: ConnId, mut bytes: Bytes) {
        let Some(link) = st.links.get(&conn) else {
            return;
        };
        while !bytes.is_empty() {
            match link.writer.try_write(&bytes) {
                Ok(n) => bytes.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return self.close_link(st, conn, &format!("write: {e}")),
            }
        }
        if bytes.is_empty() {
            return;
        }
        let writer = Arc::clone(&link.writer);
        st.client
            .handle_write_blocked(conn, &bytes, self.clock.now());
        let d = Arc::clone(self);
        let waiter = self.runtime.spawn(async move {
            let ready = writer.writable().await;
            let mut st = d.lock();
            match ready {
                Ok(()) => st.client.handle_writable(conn, d.clock.now()),
                Err(e) => d.close_link(&mut st, conn, &format!("write: {e}")),
            }
            d.drain(&mut st);
        });
        match st.links.get_mut(&conn) {
            Some(link) => {
                link.waiters.retain(|w| !w.is_finished());
                link.waiters.push(waiter.abort_handle());
            }
            None => waiter.abort(),
        }
    }

    fn close_link(self: &Arc<Self>, st: &mut State, conn: ConnId, reason: &str) {
        if let Some(link) = st.links.remove(&conn) {
            link.reader.abort();
        }
        st.client.handle_closed(conn, reason, self.clock.now());
    }

    fn closed(self: &Arc<Self>, conn: ConnId, reason: String) {
        tracing::debug!(?conn, %reason, "connection closed");
        let mut st = self.lock();
        self.close_link(&mut st, conn, &reason);
        self.drain(&mut st);
    }

    async fn connect(self: Arc<Self>, conn: ConnId, addr: String) {
        // One deadline for the TCP connect and the TLS handshake.
        let deadline = tokio::time::Instant::now() + self.policy.connect_timeout;
        let connect = TcpStream::connect(&addr);
        let stream = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.closed(conn, format!("connect to {addr}: {e}")),
            Err(_) => return self.closed(conn, format!("connect to {addr} timed out")),
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::Span::current();
        let (writer, reader) = match &self.tls {
            None => {
                let (rd, wr) = stream.into_split();
                let d = Arc::clone(&self);
                let read = d.read(conn, rd).instrument(span);
                (Writer::Plain(wr), read.boxed())
            }
            Some(tls) => {
                let session =
                    match tokio::time::timeout_at(deadline, tls.handshake(&addr, stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(reason)) => {
                            return self.closed(conn, format!("connect to {addr}: {reason}"))
                        }
                        Err(_) => {
                            let reason = format!("connect to {addr}: TLS handshake timed out");
                            return self.closed(conn, reason);
                        }
                    };
                let (rd, wr) = tokio::io::split(session);
                let d = Arc::clone(&self);
                let read = d.read(conn, rd).instrument(span);
                (
                    Writer::Tls(TlsWriter::start(&self.runtime, wr)),
                    read.boxed(),
                )
            }
        };
        let mut st = self.lock();
        if st.client.is_closed() {
            return;
        }
        let reader = self.runtime.spawn(reader);
        let link = Link {
            writer: Arc::new(writer),
            reader,
            waiters: Vec::new(),
        };
        st.links.insert(conn, link);
        tracing::debug!("connected");
        st.client.handle_connected(conn, self.clock.now());
        self.drain(&mut st);
    }

    async fn read(self: Arc<Self>, conn: ConnId, mut rd: impl AsyncRead + Unpin) {
        let chunk = self.policy.read_chunk;
        let mut buf = BytesMut::with_capacity(chunk);
        let reason = loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(chunk);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) => break String::from("closed by peer"),
                Ok(_) => {
                    let mut st = self.lock();
                    let now = self.clock.now();
                    // The core may run a user callback here (a queue
                    // selector once a route arrives): its panic must not end
                    // this reader silently, leaving the connection unread.
                    let fed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        st.client.handle_input(conn, &buf, now);
                    }));
                    buf.clear();
                    if fed.is_err() {
                        tracing::error!(?conn, "a callback panicked on this connection's input");
                        break String::from("a callback panicked on this connection's input");
                    }
                    self.drain(&mut st);
                }
                Err(e) => match &self.tls {
                    Some(tls) => break tls.read_error(&e),
                    None => break format!("read: {e}"),
                },
            }
        };
        self.closed(conn, reason);
    }

    async fn run_timer(self: Arc<Self>) {
        loop {
            let wake = {
                let mut st = self.lock();
                if st.client.is_closed() {
                    return;
                }
                st.armed = st.client.poll_timeout();
                st.armed.map(|t| self.clock.to_tokio(t))
            };
            tokio::select! {
                _ = self.timer.notified() => {}
                _ = sleep_until(wake) => {
                    let mut st = self.lock();
                    let now = self.clock.now();
                    // As in `read`: a callback's panic must not end the
                    // timer task, on which every deadline depends.
                    let fired = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        st.client.handle_timeout(now);
                    }));
                    if fired.is_err() {
                        tracing::error!("a callback panicked on a timeout");
                    }
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
