//! rmq: a fast Apache RocketMQ client for Rust.
//!
//! This crate is the tokio host over [`rmq_core`], the sans-IO protocol
//! engine: it owns sockets, timers and tasks, and decides nothing the core
//! can. Start with [`Producer::builder`] or [`PushConsumer::builder`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
pub mod bridge;
mod client;
mod clock;
mod consumer;
mod driver;
mod error;
mod lite_pull;
mod producer;
mod request;
mod settings;
mod simple_consumer;
mod tls;
pub mod trace;
mod transaction;

pub use admin::{Admin, PullResult, PullStatus, TopicConfig, QUERY_MAX};
pub use consumer::{ConsumeFrom, MessageModel, PushConsumer, PushConsumerBuilder, Selector};
pub use error::Error;
pub use lite_pull::{LitePullConsumer, LitePullConsumerBuilder};
pub use producer::{Producer, ProducerBuilder};
pub use rmq_core;
pub use rmq_core::acl::AclCredentials;
pub use rmq_core::consumer::{AllocateStrategy, ConsumeResult, ConsumerConfig};
pub use rmq_core::engine::ClientConfig;
pub use rmq_core::message::{Message, MessageExt};
pub use rmq_core::producer::{SendResult, SendStatus};
pub use rmq_core::protocol::SerializeType;
pub use rmq_core::route::{MessageQueue, RouteTable, TopicRouteData};
pub use simple_consumer::{ReceivedMessage, SimpleConsumer, SimpleConsumerBuilder};
pub use tls::TlsConfig;
pub use trace::TraceConfig;
pub use transaction::{
    TransactionListener, TransactionProducer, TransactionSendResult, TransactionState,
};

/// The README's Rust examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
