//! Simulation set-ups shared by the tests of `sim/tests/` (each test file
//! is its own crate and uses what it needs of these).
#![allow(dead_code)]

use std::ops::Range;

use rmq_sim::cluster::{run, Bug, Failure, FaultKind, Groups, SimConfig};

/// Queues added to the topic mid-run, and nothing else going wrong.
pub fn queues_added() -> SimConfig {
    SimConfig {
        faults: 2,
        fault_kinds: vec![FaultKind::AddQueues],
        ..SimConfig::small()
    }
}

/// Go client issue #1056 in the simulated host (the consumers keep the
/// first route they saw), with queues added mid-run.
pub fn frozen_routes() -> SimConfig {
    SimConfig {
        bug: Some(Bug::FrozenRoutes),
        ..queues_added()
    }
}

/// A broadcasting group alone, its members crashing and restarting (and
/// the rest of the faults).
pub fn broadcasting_with_crashes() -> SimConfig {
    SimConfig {
        faults: 5,
        fault_kinds: vec![
            FaultKind::CrashConsumer,
            FaultKind::CrashConsumer,
            FaultKind::CrashConsumer,
            FaultKind::CrashBroker,
            FaultKind::DropConnection,
            FaultKind::AddQueues,
            FaultKind::AddBroker,
        ],
        ..SimConfig::small().with_groups(Groups::Broadcasting)
    }
}

/// [`broadcasting_with_crashes`] with `bug` in its hosts.
pub fn broadcasting_with(bug: Bug) -> SimConfig {
    SimConfig {
        bug: Some(bug),
        ..broadcasting_with_crashes()
    }
}

/// The failure of the first seed of `seeds` that fails with `config`.
pub fn first_failure(seeds: Range<u64>, config: &SimConfig) -> Box<Failure> {
    seeds
        .clone()
        .find_map(|seed| run(seed, config).err())
        .unwrap_or_else(|| panic!("no seed of {seeds:?} catches {:?}", config.bug))
}
