//! Consumer roles: rebalance, allocation, …
//!
//! For now only [`allocate`]: the Java client's queue-allocation strategies
//! (`AllocateMessageQueueStrategy` implementations), giving the same queues
//! to the same client for the same inputs, and [`rebalance_allocation`], the
//! sorting step of Java's `RebalanceImpl` in front of them.

pub mod allocate;

pub use allocate::{
    rebalance_allocation, AllocateError, AllocateStrategy, MachineRoomResolver,
    DEFAULT_VIRTUAL_NODES,
};
