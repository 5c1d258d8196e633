//! Deterministic simulation of whole clusters: producer and consumer
//! clients (the real `rmq-core` [`Client`], bytes in and bytes out)
//! against simulated name servers and brokers that speak the real wire
//! protocol, on one virtual clock, with a seeded scheduler that injects
//! faults — client and broker crashes and restarts, dropped connections,
//! frames delayed and reordered across connections, a paused broker, a lost
//! name server, queues added to a topic, a broker added.
//!
//! The topic has a clustering consumer group, a broadcasting one, or both
//! at once ([`Groups`], chosen per seed): a clustering group shares the
//! queues and its offsets live on the brokers; every broadcasting member
//! reads every queue and keeps its offsets in its host's local store (the
//! simulated host holds the client's last offsets snapshot in memory across
//! a process crash, as Java's `offsets.json` survives one on disk).
//!
//! After every step the invariants are checked (see [`Invariant`]); a
//! violation stops the run with a [`Failure`], and the same seed replays it
//! exactly. [`shrink`] then minimizes it: the faults the violation does not
//! need are skipped ([`FaultMask`]: the scheduler still draws them, so the
//! rest of the schedule stays), and the report shows the few faults left
//! and the minimized run's events about the queue, message or client the
//! violation names, with the command line that replays that run.
//!
//! ```
//! use rmq_sim::cluster::{run, SimConfig};
//!
//! let stats = run(7, &SimConfig::small()).expect("seed 7 holds every invariant");
//! assert!(stats.consumed > 0);
//! ```

mod broker;
mod check;
mod rng;
mod shrink;
mod world;

pub use broker::{Broker, Effect, LinkId, Location, Stored};
pub use check::Checker;
pub use rng::Rng;
pub use shrink::{shrink, Shrunk, SHRINK_RUNS};
pub use world::World;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The invariants the checker holds the run to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// An acknowledged message is not where its receipt says.
    AckedMessageLost,
    /// At the end, an acknowledged message was never consumed by the
    /// clustering group.
    MessageNotConsumed,
    /// At the end, a broadcasting member missed an acknowledged message.
    ///
    /// The rule: a member is one host (one offsets store) across its
    /// process's crashes and restarts. A member up at the end of the run
    /// must have consumed (in any of its processes) every message
    /// acknowledged to a producer at or after the member's first start: a
    /// restarted process resumes from the offsets its host persisted, so
    /// what was acknowledged while it was down, or consumed but not yet
    /// persisted when it died, still reaches it (again, perhaps: at least
    /// once). A member down at the end owes nothing yet (its store would
    /// resume it). Its handler never asks for a retry: a broadcast message
    /// is not redelivered after a failure (Java logs and skips it).
    BroadcastNotConsumed,
    /// Membership was stable for a rebalance interval, yet a queue has no
    /// owner or more than one in the clustering group, or a broadcasting
    /// member does not own every queue of the topic.
    QueueOwnership,
    /// A committed offset passed a message the group had not finished (a
    /// broadcasting member: an offsets snapshot its host persisted passed
    /// a message that member had not finished).
    CommitPassedUnacked,
    /// Orderly: two batches of one queue at the handler at once (except
    /// within the client's lock expiry after the queue's broker restarted:
    /// brokers keep locks in memory only, so a new owner can lock a queue
    /// the old owner still believes locked — a RocketMQ property, Java's
    /// client included).
    OrderlyOverlap,
    /// Orderly: a queue's batches out of order.
    OrderlyOrder,
    /// A send or request did not end (answer or timeout) by its deadline.
    RequestNeverEnded,
    /// A consumer cached more than its flow-control bounds allow.
    MemoryBound,
    /// The run did not make progress (a livelock in the step bound).
    Livelock,
}

impl Invariant {
    /// Checked once, at the end of the run (not after a step): a re-run
    /// can show it only by running to the end.
    pub fn at_end(self) -> bool {
        matches!(
            self,
            Invariant::MessageNotConsumed | Invariant::BroadcastNotConsumed
        )
    }
}

/// A client bug re-introduced on purpose, in the simulated host (never in
/// `rmq-core`), to show the checker catches its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The consumers keep the first route they saw for each topic (Go
    /// client issue #1056: no rebalance after queues are added).
    FrozenRoutes,
    /// The host of the first broadcasting member reports every other
    /// delivery consumed without running the handler on it.
    DropsEveryOtherDelivery,
    /// The broadcasting hosts never persist the offsets snapshots, and a
    /// restarted member starts from the queues' end (Java's default
    /// `CONSUME_FROM_LAST_OFFSET` with no `offsets.json`).
    ForgetsBroadcastOffsets,
}

impl Bug {
    /// Every bug, with its command-line name (`--bug NAME`).
    pub const NAMED: [(&'static str, Bug); 3] = [
        ("frozen-routes", Bug::FrozenRoutes),
        ("drops-every-other-delivery", Bug::DropsEveryOtherDelivery),
        ("forgets-broadcast-offsets", Bug::ForgetsBroadcastOffsets),
    ];

    /// The bug named `s` (see [`Bug::NAMED`]).
    pub fn parse(s: &str) -> Option<Self> {
        Bug::NAMED.iter().find(|(n, _)| *n == s).map(|(_, b)| *b)
    }

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        Bug::NAMED
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("?", |(n, _)| n)
    }
}

/// The consumer groups subscribed to the topic in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// One clustering group of 3 members.
    Clustering,
    /// One broadcasting group of 3 members.
    Broadcasting,
    /// A clustering group of 3 and a broadcasting member, at once (many
    /// broadcasting members are [`Groups::Broadcasting`]'s).
    Both,
}

impl Groups {
    /// The groups of `seed`'s run: the three shapes in turn, every fourth
    /// seed apart (so each meets orderly consumption, one seed in four).
    pub fn for_seed(seed: u64) -> Self {
        match (seed / 4) % 3 {
            0 => Groups::Clustering,
            1 => Groups::Broadcasting,
            _ => Groups::Both,
        }
    }

    /// `clustering`, `broadcasting` or `both`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clustering" => Some(Groups::Clustering),
            "broadcasting" => Some(Groups::Broadcasting),
            "both" => Some(Groups::Both),
            _ => None,
        }
    }

    /// (clustering members, broadcasting members).
    pub fn members(self) -> (usize, usize) {
        match self {
            Groups::Clustering => (3, 0),
            Groups::Broadcasting => (0, 3),
            Groups::Both => (3, 1),
        }
    }
}

/// The faults the scheduler can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A consumer process dies and restarts (a new client id).
    CrashConsumer,
    /// A producer process dies and restarts.
    CrashProducer,
    /// A broker dies and restarts (offsets not yet flushed are lost).
    CrashBroker,
    /// A connection is reset.
    DropConnection,
    /// For a while, many frames are delayed (up to ~1 s), reordering
    /// frames across connections.
    DelayStorm,
    /// A broker stops processing for a while.
    PauseBroker,
    /// A name server is unreachable for a while.
    LoseNameServer,
    /// Queues are added to the topic on a broker.
    AddQueues,
    /// A new broker carrying the topic joins.
    AddBroker,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::CrashConsumer,
        FaultKind::CrashProducer,
        FaultKind::CrashBroker,
        FaultKind::DropConnection,
        FaultKind::DelayStorm,
        FaultKind::PauseBroker,
        FaultKind::LoseNameServer,
        FaultKind::AddQueues,
        FaultKind::AddBroker,
    ];
}

/// Which of the faults the scheduler draws a run applies, by index in
/// drawing order (`#0` is the first fault drawn for the seed). A fault left
/// out is still drawn, and its random choices (target, duration) are still
/// made when its time comes, but nothing happens: the other faults keep
/// their kinds and times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultMask(Option<BTreeSet<usize>>);

impl FaultMask {
    /// Every fault drawn is applied (the default).
    pub fn all() -> Self {
        FaultMask(None)
    }

    /// Only the faults with these indices are applied.
    pub fn only(indices: impl IntoIterator<Item = usize>) -> Self {
        FaultMask(Some(indices.into_iter().collect()))
    }

    /// Whether fault `index` is applied.
    pub fn applies(&self, index: usize) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(&index))
    }

    /// True for [`FaultMask::all`].
    pub fn is_all(&self) -> bool {
        self.0.is_none()
    }

    /// The indices kept, `None` for [`FaultMask::all`].
    pub fn indices(&self) -> Option<&BTreeSet<usize>> {
        self.0.as_ref()
    }

    /// `all`, `none`, or indices separated by commas (`0,3,5`), as
    /// [`FaultMask`]'s `Display` writes them.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "all" => Ok(FaultMask::all()),
            "none" | "" => Ok(FaultMask::only([])),
            list => list
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<usize>()
                        .map_err(|e| format!("fault index `{x}`: {e}"))
                })
                .collect::<Result<BTreeSet<_>, _>>()
                .map(|s| FaultMask(Some(s))),
        }
    }
}

impl fmt::Display for FaultMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("all"),
            Some(s) if s.is_empty() => f.write_str("none"),
            Some(s) => {
                let list: Vec<String> = s.iter().map(usize::to_string).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

/// The shape of one simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Brokers up at the start.
    pub brokers: usize,
    /// Brokers that may join later ([`FaultKind::AddBroker`]).
    pub spare_brokers: usize,
    /// Name servers.
    pub name_servers: usize,
    /// Queues of the topic on each broker.
    pub queues: i32,
    /// Producer clients.
    pub producers: usize,
    /// Consumer clients of the clustering group (0: no such group).
    pub consumers: usize,
    /// Consumer clients of the broadcasting group (0: no such group). Its
    /// members consume orderly when [`SimConfig::orderly`] is set (no
    /// locks: each member has every queue to itself).
    pub broadcasters: usize,
    /// Messages sent in all.
    pub messages: usize,
    /// Orderly consumption (locks, one batch per queue at a time).
    pub orderly: bool,
    /// Faults injected.
    pub faults: usize,
    /// Which kinds may be injected.
    pub fault_kinds: Vec<FaultKind>,
    /// Faults happen in `[0, fault_window)`.
    pub fault_window: Duration,
    /// Messages are sent in `[0, produce_window)`.
    pub produce_window: Duration,
    /// Virtual time the run lasts.
    pub run_for: Duration,
    /// Chance (per mille) that a handler asks for a retry on a message's
    /// first delivery.
    pub retry_per_mille: u64,
    /// A client bug to re-introduce.
    pub bug: Option<Bug>,
    /// Events the failure report shows: the last ones about the queue,
    /// message or client the violation names (else the last ones).
    pub trace_len: usize,
    /// Events remembered for the failure report (the most recent ones):
    /// [`REPLAY_HISTORY`] looks back over a whole run.
    pub history: usize,
    /// Which of the faults drawn are applied.
    pub fault_mask: FaultMask,
    /// Stop at this virtual time, as if every invariant held (no
    /// end-of-run checks unless it is past [`SimConfig::run_for`]):
    /// [`shrink`]'s re-runs stop where the failure they look for happened.
    pub stop_at: Option<Duration>,
}

/// [`SimConfig::history`] of a replayed seed: longer than any run.
pub const REPLAY_HISTORY: usize = 1 << 20;

impl SimConfig {
    /// The CI-sized run: 2 brokers (1 spare), 2 name servers, 4 queues,
    /// 2 producers, 3 consumers of one clustering group, 60 messages,
    /// 4 faults in the first 60 s, 6 virtual minutes.
    pub fn small() -> Self {
        SimConfig {
            brokers: 2,
            spare_brokers: 1,
            name_servers: 2,
            queues: 4,
            producers: 2,
            consumers: 3,
            broadcasters: 0,
            messages: 60,
            orderly: false,
            faults: 4,
            fault_kinds: FaultKind::ALL.to_vec(),
            fault_window: Duration::from_secs(60),
            produce_window: Duration::from_secs(50),
            run_for: Duration::from_secs(360),
            retry_per_mille: 50,
            bug: None,
            trace_len: 40,
            history: 2048,
            fault_mask: FaultMask::all(),
            stop_at: None,
        }
    }

    /// The run for `seed`: [`SimConfig::small`], orderly for one seed in
    /// four, with the groups of [`Groups::for_seed`].
    pub fn for_seed(seed: u64) -> Self {
        SimConfig {
            orderly: seed % 4 == 3,
            ..SimConfig::small()
        }
        .with_groups(Groups::for_seed(seed))
    }

    /// This run with `groups` subscribed to the topic.
    pub fn with_groups(self, groups: Groups) -> Self {
        let (consumers, broadcasters) = groups.members();
        SimConfig {
            consumers,
            broadcasters,
            ..self
        }
    }

    /// This run, applying only the faults of `mask`.
    pub fn with_faults(self, mask: FaultMask) -> Self {
        SimConfig {
            fault_mask: mask,
            ..self
        }
    }

    /// This run as a replay: [`REPLAY_HISTORY`] events remembered, no stop.
    pub fn replay(self) -> Self {
        SimConfig {
            history: REPLAY_HISTORY,
            stop_at: None,
            ..self
        }
    }

    /// The `cargo xtask sim` arguments after `--seed S` that give this run
    /// (`--groups`, `--bug`, `--faults`), or `None` when no command line
    /// does (a shape other than [`SimConfig::for_seed`]'s).
    pub fn xtask_args(&self, seed: u64) -> Option<String> {
        let plain = SimConfig {
            trace_len: self.trace_len,
            history: self.history,
            fault_mask: self.fault_mask.clone(),
            stop_at: self.stop_at,
            bug: self.bug,
            ..SimConfig::for_seed(seed)
        };
        let mut args = String::new();
        if *self != plain {
            let groups = [
                ("clustering", Groups::Clustering),
                ("broadcasting", Groups::Broadcasting),
                ("both", Groups::Both),
            ];
            let (name, _) = groups
                .into_iter()
                .find(|(_, g)| *self == plain.clone().with_groups(*g))?;
            args.push_str(&format!(" --groups {name}"));
        }
        if let Some(bug) = self.bug {
            args.push_str(&format!(" --bug {}", bug.name()));
        }
        if !self.fault_mask.is_all() {
            args.push_str(&format!(" --faults {}", self.fault_mask));
        }
        Some(args)
    }

    /// The line that replays `seed` with this run's shape and faults:
    /// `cargo xtask sim --seed S ...`, or (no command line gives this
    /// shape) the library call.
    pub fn replay_command(&self, seed: u64) -> String {
        match self.xtask_args(seed) {
            Some(args) => format!("cargo xtask sim --seed {seed}{args}"),
            None if self.fault_mask.is_all() => {
                format!("rmq_sim::cluster::run({seed}, &config) with this run's SimConfig")
            }
            None => format!(
                "rmq_sim::cluster::run({seed}, &config.with_faults(FaultMask::parse(\"{}\")?)) with this run's SimConfig",
                self.fault_mask
            ),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Steps (events, timer firings, housekeeping rounds) simulated.
    pub steps: u64,
    /// Messages acknowledged to producers.
    pub acked: usize,
    /// Distinct messages consumed (by either group).
    pub consumed: usize,
    /// Messages the broadcasting members consumed: distinct per member,
    /// summed over the members.
    pub broadcast_consumed: usize,
    /// Deliveries handed to handlers (with duplicates and retries).
    pub deliveries: u64,
    /// Faults injected.
    pub faults: usize,
    /// Ownership checks that ran with membership stable.
    pub ownership_checks: u64,
    /// Memory probes answered.
    pub probes: u64,
}

/// What became of one fault the scheduler drew, in a run that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// Its index in drawing order (what [`FaultMask`] names).
    pub index: usize,
    /// Its kind.
    pub kind: FaultKind,
    /// Its virtual time, in ms.
    pub at_ms: u64,
    /// Left out by the run's [`FaultMask`].
    pub skipped: bool,
    /// What it did, with virtual times (its crash and the restart it led
    /// to, say); empty when it found nothing to do (a storm already on).
    pub notes: Vec<String>,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {:?} at {} ms", self.index, self.kind, self.at_ms)?;
        if self.skipped {
            f.write_str(": skipped")
        } else if self.notes.is_empty() {
            f.write_str(": nothing to do")
        } else {
            write!(f, ": {}", self.notes.join("; "))
        }
    }
}

/// An invariant violated: what, when, and how the run got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The seed that reproduces it.
    pub seed: u64,
    /// Which invariant.
    pub invariant: Invariant,
    /// Details.
    pub detail: String,
    /// Virtual time of the violation, in ms.
    pub at_ms: u64,
    /// Steps simulated, the violating one included.
    pub steps: u64,
    /// Every fault whose time came before the violation: applied, found
    /// nothing to do, or skipped.
    pub faults: Vec<InjectedFault>,
    /// What the trace is about: the queues, messages and clients the
    /// violation names (empty: the trace is the run's last events).
    pub about: String,
    /// The trace is about them (else nothing in the run's history was:
    /// the trace is the run's last events).
    pub focused: bool,
    /// The run's last [`SimConfig::trace_len`] events about them (else its
    /// last events but timer firings and housekeeping rounds).
    pub trace: Vec<String>,
    /// The line that replays this run.
    pub command: String,
}

impl Failure {
    /// Indices of the faults the run applied (not skipped) before the
    /// violation.
    pub fn applied(&self) -> Vec<usize> {
        self.faults
            .iter()
            .filter(|f| !f.skipped)
            .map(|f| f.index)
            .collect()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {:?} at {} ms (step {}): {}",
            self.seed, self.invariant, self.at_ms, self.steps, self.detail
        )?;
        let applied = self.faults.iter().filter(|x| !x.skipped).count();
        writeln!(f, "faults ({applied}):")?;
        for x in self.faults.iter().filter(|x| !x.skipped) {
            writeln!(f, "  {x}")?;
        }
        let skipped: Vec<String> = self
            .faults
            .iter()
            .filter(|x| x.skipped)
            .map(|x| format!("#{}", x.index))
            .collect();
        if !skipped.is_empty() {
            writeln!(f, "skipped: {}", skipped.join(" "))?;
        }
        let n = self.trace.len();
        match (self.about.as_str(), self.focused) {
            ("", _) => writeln!(f, "last {n} events:")?,
            (about, true) => writeln!(f, "last {n} events about {about} (and faults):")?,
            (about, false) => writeln!(f, "no event about {about}; last {n} events:")?,
        }
        for x in &self.trace {
            writeln!(f, "  {x}")?;
        }
        write!(f, "reproduce: {}", self.command)
    }
}

/// Runs one seed to the end, or to the first violated invariant.
pub fn run(seed: u64, config: &SimConfig) -> Result<Stats, Box<Failure>> {
    World::new(seed, config.clone()).run()
}
