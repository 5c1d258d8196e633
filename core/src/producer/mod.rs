//! Producer logic: validation, message preparation, queue selection, fault
//! avoidance, retries. It runs inside the [`crate::engine::Engine`].

mod config;
mod fault;
mod prepare;
mod select;
mod send;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

pub use config::ProducerConfig;
pub use fault::FaultTracker;
pub use prepare::{Payload, WallClock};
pub use select::{hash_queue_index, QueueSelector, QueueTarget, RoundRobin};
pub use send::SendRequest;

use crate::engine::SendId;
use crate::message::id::UniqueIdGenerator;
use crate::time::Instant;

/// The producer role's state inside the engine.
#[derive(Debug)]
pub(crate) struct ProducerState {
    pub(crate) config: ProducerConfig,
    pub(crate) sends: BTreeMap<SendId, send::PendingSend>,
    /// Send deadlines, for expiry and `poll_timeout`.
    pub(crate) deadlines: BTreeSet<(Instant, SendId)>,
    /// Sends waiting for a topic's route.
    pub(crate) waiting: BTreeMap<alloc::string::String, Vec<SendId>>,
    pub(crate) round_robin: RoundRobin,
    pub(crate) faults: FaultTracker,
    pub(crate) ids: UniqueIdGenerator,
    pub(crate) next_send_id: u64,
}
