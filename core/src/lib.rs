//! `rmq-core`: the sans-IO heart of rmq, an Apache RocketMQ client.
//!
//! This crate performs no I/O, reads no clock and spawns no thread. Bytes come
//! in, bytes go out; time is always an argument. Hosts (tokio, WASM) move the
//! bytes and arm the timers.
//!
//! Layers, bottom up:
//! - [`protocol`]: frame codec, [`protocol::RemotingCommand`], codes, typed headers, JSON;
//! - [`message`]: messages, properties, stored-message decoding, compression, IDs;
//! - [`route`]: topic route data and route tables;
//! - [`acl`]: ACL 1.0 request signing;
//! - [`engine`]: the role-agnostic state machine; [`producer`]: the producer role;
//! - [`client`]: the layer every host shares (roles, completions, setup, errors);
//! - [`time`]: the engine's notion of time (supplied by the host);
//! - [`trace`]: message trace records in the Java client's text format;
//! - [`transaction`]: transactional messages (half message, END_TRANSACTION, checks).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod acl;
pub mod client;
pub mod collections;
pub mod consumer;
pub mod engine;
pub mod message;
pub mod namespace;
pub mod producer;
pub mod protocol;
pub mod route;
pub mod time;
pub mod trace;
pub mod transaction;
