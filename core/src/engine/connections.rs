//! The connection table: one connection per remote address, each with its own
//! frame decoder and output buffer. Connection ids are handed out here; the
//! host maps them to sockets.

use alloc::collections::VecDeque;
use alloc::string::String;
use bytes::{Bytes, BytesMut};

use crate::collections::{IdSet, VecMap, VecSet};
use crate::protocol::FrameDecoder;

/// Identifies one connection between the engine and its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// What the engine asks the host to do with the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a TCP (or bridged) connection to `addr` ("host:port") and report
    /// the outcome with `handle_connected` or `handle_closed`.
    Connect {
        /// The id the engine will use for this connection.
        conn: ConnId,
        /// The remote address, `host:port`.
        addr: String,
    },
    /// Write these bytes, in order, to the connection.
    Write {
        /// The connection.
        conn: ConnId,
        /// Bytes to write (one or more whole frames).
        bytes: Bytes,
    },
    /// Close the connection; the engine has forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) addr: String,
    pub(crate) connected: bool,
    pub(crate) out: BytesMut,
    pub(crate) decoder: FrameDecoder,
    /// Opaques of requests in flight on this connection.
    pub(crate) inflight: IdSet<i32>,
    /// The host's socket is full: bytes wait in `out` until it says
    /// [`Connections::writable`].
    blocked: bool,
}

/// All connections, by id and by address.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    next_id: u64,
    by_id: VecMap<ConnId, Connection>,
    by_addr: VecMap<String, ConnId>,
    /// Connect and close requests for the host, in order.
    control: VecDeque<Transmit>,
    /// Connections with bytes waiting in `out`.
    dirty: VecSet<ConnId>,
    /// Set when bytes were queued on a blocked connection since the last
    /// [`Connections::pop_overflowed`] scan.
    any_blocked: bool,
    max_frame_len: usize,
    max_backlog: usize,
}

impl Connections {
    pub(crate) fn new(max_frame_len: usize, max_backlog: usize) -> Self {
        Connections {
            max_frame_len,
            max_backlog,
            ..Default::default()
        }
    }

    /// The connection to `addr`, asking the host to open one if needed.
    pub(crate) fn get_or_open(&mut self, addr: &str) -> ConnId {
        if let Some(id) = self.by_addr.get(addr) {
            return *id;
        }
        self.next_id += 1;
        let id = ConnId(self.next_id);
        self.by_id.insert(
            id,
            Connection {
                addr: String::from(addr),
                connected: false,
                out: BytesMut::new(),
                decoder: FrameDecoder::new(self.max_frame_len),
                inflight: IdSet::new(),
                blocked: false,
            },
        );
        self.by_addr.insert(String::from(addr), id);
        self.control.push_back(Transmit::Connect {
            conn: id,
            addr: String::from(addr),
        });
        id
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Connection> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.by_id.get_mut(&id)
    }

    /// The open (or opening) connection to `addr`, if any.
    pub(crate) fn find(&self, addr: &str) -> Option<ConnId> {
        self.by_addr.get(addr).copied()
    }

    /// The output buffer of a connection, marked for the next transmit.
    pub(crate) fn out(&mut self, id: ConnId) -> Option<&mut BytesMut> {
        let conn = self.by_id.get_mut(&id)?;
        if conn.blocked {
            self.any_blocked = true;
        } else if conn.connected {
            self.dirty.insert(id);
        }
        Some(&mut conn.out)
    }

    /// The host wrote only part of a [`Transmit::Write`]: `unwritten` goes
    /// back in front of whatever was queued since, and nothing more is
    /// handed out for this connection until [`Connections::writable`].
    pub(crate) fn blocked(&mut self, id: ConnId, unwritten: &[u8]) {
        let Some(conn) = self.by_id.get_mut(&id) else {
            return;
        };
        let mut out = BytesMut::with_capacity(unwritten.len() + conn.out.len());
        out.extend_from_slice(unwritten);
        out.extend_from_slice(&conn.out);
        conn.out = out;
        conn.blocked = true;
        self.dirty.remove(&id);
        self.any_blocked = true;
    }

    /// The host's socket takes bytes again.
    pub(crate) fn writable(&mut self, id: ConnId) {
        if let Some(conn) = self.by_id.get_mut(&id) {
            conn.blocked = false;
            if conn.connected && !conn.out.is_empty() {
                self.dirty.insert(id);
            }
        }
    }

    /// A connection whose backlog passed the limit, to be closed.
    pub(crate) fn pop_overflowed(&mut self) -> Option<ConnId> {
        if !self.any_blocked {
            return None;
        }
        let max = self.max_backlog;
        let over = self
            .by_id
            .iter()
            .find(|(_, c)| c.blocked && c.out.len() > max)
            .map(|(id, _)| *id);
        if over.is_none() {
            self.any_blocked = false;
        }
        over
    }

    /// The backlog limit, for error messages.
    pub(crate) fn max_backlog(&self) -> usize {
        self.max_backlog
    }

    pub(crate) fn mark_connected(&mut self, id: ConnId) -> bool {
        match self.by_id.get_mut(&id) {
            Some(conn) => {
                conn.connected = true;
                if !conn.out.is_empty() {
                    self.dirty.insert(id);
                }
                true
            }
            None => false,
        }
    }

    /// Forgets a connection; returns it so the caller can fail its requests.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Connection> {
        let conn = self.by_id.remove(&id)?;
        self.by_addr.remove(&conn.addr);
        self.dirty.remove(&id);
        Some(conn)
    }

    /// Forgets a connection and asks the host to close it.
    pub(crate) fn close(&mut self, id: ConnId) -> Option<Connection> {
        let conn = self.remove(id)?;
        self.control.push_back(Transmit::Close { conn: id });
        Some(conn)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.by_id.keys().copied()
    }

    /// The next thing for the host to do: connects and closes first, then
    /// the coalesced output of one connection.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.control.pop_front() {
            return Some(t);
        }
        while let Some(id) = self.dirty.pop_first() {
            if let Some(conn) = self.by_id.get_mut(&id) {
                if conn.connected && !conn.blocked && !conn.out.is_empty() {
                    let bytes = conn.out.split().freeze();
                    return Some(Transmit::Write { conn: id, bytes });
                }
            }
        }
        None
    }
}
