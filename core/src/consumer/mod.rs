//! Consumer roles: rebalance, allocation, process queues, pulling, offsets.
//!
//! - [`PushConsumer`]: the push-consumer role (rebalance, long-poll pulls,
//!   deliveries, acknowledgements, send-back, offsets, broker requests);
//! - [`allocate`]: the Java client's queue-allocation strategies, giving
//!   the same queues to the same client for the same inputs, and
//!   [`rebalance_allocation`], the sorting step of Java's `RebalanceImpl`
//!   in front of them;
//! - [`ProcessQueue`]: what an owned queue has in flight;
//! - [`pop`]: POP consumption (5.x) for simple consumers.

pub mod allocate;
mod config;
pub mod pop;
mod process_queue;
mod push;

pub use config::{ConsumeFrom, ConsumeType, ConsumerConfig, MessageModel};
pub use process_queue::ProcessQueue;
pub use push::{retry_topic, ConsumeResult, Delivery, DeliveryId, PushConsumer};

pub use allocate::{
    rebalance_allocation, AllocateError, AllocateStrategy, MachineRoomResolver,
    DEFAULT_VIRTUAL_NODES,
};
