//! Queue allocation: which of a topic's queues this client consumes.
//!
//! Every client of a consumer group runs the same strategy over the same
//! inputs (all queues, all client ids) and keeps its own share. Mixed groups
//! of rmq and Java clients therefore only split the queues cleanly when rmq's
//! strategies return exactly what the Java client's do; they are checked
//! against vectors produced by `rocketmq-client` 5.5.0 itself
//! (`core/tests/vectors/allocation/`).
//!
//! | [`AllocateStrategy`]  | Java class                              |
//! |-----------------------|-----------------------------------------|
//! | `Averagely`           | `AllocateMessageQueueAveragely`         |
//! | `AveragelyByCircle`   | `AllocateMessageQueueAveragelyByCircle` |
//! | `ConsistentHash`      | `AllocateMessageQueueConsistentHash`    |
//! | `ByConfig`            | `AllocateMessageQueueByConfig`          |
//! | `ByMachineRoom`       | `AllocateMessageQueueByMachineRoom`     |
//! | `MachineRoomNearby`   | `AllocateMachineRoomNearby`             |
//!
//! Strategies take the lists as given and do not sort them: that is the
//! rebalance step's job, see [`rebalance_allocation`]. Where Java throws an
//! `IllegalArgumentException`, [`AllocateStrategy::allocate`] returns an
//! [`AllocateError`] whose message is Java's; Java's rebalance then keeps the
//! current assignment, which is not the same as an empty share.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt::Write as _;

use md5::{Digest as _, Md5};

use crate::acl::java_string_cmp;
use crate::collections::VecMap;
use crate::route::MessageQueue;

/// Java's default number of virtual nodes per client for consistent hashing
/// (`new AllocateMessageQueueConsistentHash()`).
pub const DEFAULT_VIRTUAL_NODES: usize = 10;

/// The most virtual nodes per client consistent hashing places (more are
/// capped: a ring of `usize::MAX` points would never be built).
pub const MAX_VIRTUAL_NODES: usize = 10_000;

/// A queue-allocation strategy, as data (no boxed closures, so any host can
/// build and clone one).
///
/// Not `PartialEq`: [`MachineRoomResolver::Functions`] holds `fn` pointers,
/// whose comparison is not meaningful.
#[derive(Debug, Clone)]
pub enum AllocateStrategy {
    /// `AllocateMessageQueueAveragely` (`AVG`): client `i` of `c` gets one
    /// contiguous block; the first `queues % c` clients get one queue more.
    Averagely,
    /// `AllocateMessageQueueAveragelyByCircle` (`AVG_BY_CIRCLE`): client `i`
    /// gets queues `i`, `i + c`, `i + 2c`, …
    AveragelyByCircle,
    /// `AllocateMessageQueueConsistentHash` (`CONSISTENT_HASH`): a hash ring
    /// of `virtual_nodes` points per client (key `<cid>-<n>`, hash = first
    /// four bytes of the key's MD5, big-endian); each queue goes to the first
    /// point at or after the hash of its Java `toString()`, wrapping around.
    /// Zero virtual nodes assign nothing.
    ConsistentHash {
        /// Points per client on the ring (Java default
        /// [`DEFAULT_VIRTUAL_NODES`], at most [`MAX_VIRTUAL_NODES`]).
        virtual_nodes: usize,
    },
    /// `AllocateMessageQueueByConfig` (`CONFIG`): always exactly these
    /// queues, whatever the inputs (no checks at all, as in Java).
    ByConfig(Vec<MessageQueue>),
    /// `AllocateMessageQueueByMachineRoom` (`MACHINE_ROOM`): only queues of
    /// brokers named `<room>@<broker>` with `<room>` in `consumer_idcs`
    /// (the broker name read as Java's `split("@")` does, so it must have
    /// exactly two parts once trailing empty parts are dropped), spread in
    /// equal blocks with the remainder dealt one each to the first clients.
    ByMachineRoom {
        /// The machine rooms (IDCs) this group consumes from.
        consumer_idcs: Vec<String>,
    },
    /// `AllocateMachineRoomNearby` (`MACHINE_ROOM_NEARBY-<inner>`): queues of
    /// the current client's machine room are shared by the clients of that
    /// room with `inner`; queues of rooms without any client are shared by
    /// all clients with `inner`, room by room in Java `String` order of the
    /// room names.
    MachineRoomNearby {
        /// The strategy applied within each room.
        inner: Box<AllocateStrategy>,
        /// Where brokers and clients are deployed.
        resolver: MachineRoomResolver,
    },
}

/// Tells [`AllocateStrategy::MachineRoomNearby`] the machine room of a queue
/// and of a client (Java `AllocateMachineRoomNearby.MachineRoomResolver`).
/// `None` or an empty room is an error, as Java's null or empty string is.
#[derive(Debug, Clone, Copy)]
pub enum MachineRoomResolver {
    /// The room is the broker name up to the first `broker_separator`, and
    /// the client id up to the first `client_separator` (the whole name when
    /// the separator is absent). With `'-'`, broker `hz-broker-a` and client
    /// `hz-10.0.0.1@123` are both in room `hz`.
    Prefix {
        /// Separator in broker names.
        broker_separator: char,
        /// Separator in client ids.
        client_separator: char,
    },
    /// Host-supplied functions (plain `fn` pointers: no captured state).
    /// They may return a slice of their argument or a `&'static str`.
    Functions {
        /// The room a queue's broker is deployed in.
        broker: fn(&MessageQueue) -> Option<&str>,
        /// The room a client id is deployed in.
        client: fn(&str) -> Option<&str>,
    },
}

impl MachineRoomResolver {
    /// The machine room of `mq`'s broker (Java `brokerDeployIn`).
    pub fn broker_room<'a>(&self, mq: &'a MessageQueue) -> Option<&'a str> {
        match *self {
            Self::Prefix {
                broker_separator, ..
            } => mq.broker_name.split(broker_separator).next(),
            Self::Functions { broker, .. } => broker(mq),
        }
    }

    /// The machine room of client `cid` (Java `consumerDeployIn`).
    pub fn client_room<'a>(&self, cid: &'a str) -> Option<&'a str> {
        match *self {
            Self::Prefix {
                client_separator, ..
            } => cid.split(client_separator).next(),
            Self::Functions { client, .. } => client(cid),
        }
    }
}

/// Why a strategy allocated nothing where Java throws (or, in
/// [`rebalance_allocation`], does not allocate at all). The messages are
/// Java's. Java's rebalance keeps the current assignment in all these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocateError {
    /// The current client id is empty.
    #[error("currentCID is empty")]
    EmptyCurrentCid,
    /// There are no queues.
    #[error("mqAll is null or mqAll empty")]
    EmptyQueues,
    /// There are no client ids.
    #[error("cidAll is null or cidAll empty")]
    EmptyClients,
    /// [`MachineRoomResolver::broker_room`] gave no (or an empty) room.
    #[error("Machine room is null for mq {0}")]
    NoBrokerMachineRoom(MessageQueue),
    /// [`MachineRoomResolver::client_room`] gave no (or an empty) room.
    #[error("Machine room is null for consumer id {0}")]
    NoClientMachineRoom(String),
}

impl AllocateStrategy {
    /// Consistent hashing with Java's default [`DEFAULT_VIRTUAL_NODES`].
    pub const fn consistent_hash() -> Self {
        Self::ConsistentHash {
            virtual_nodes: DEFAULT_VIRTUAL_NODES,
        }
    }

    /// Java's `getName()`: `AVG`, `AVG_BY_CIRCLE`, `CONSISTENT_HASH`,
    /// `CONFIG`, `MACHINE_ROOM`, `MACHINE_ROOM_NEARBY-<inner name>`.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            Self::Averagely => Cow::Borrowed("AVG"),
            Self::AveragelyByCircle => Cow::Borrowed("AVG_BY_CIRCLE"),
            Self::ConsistentHash { .. } => Cow::Borrowed("CONSISTENT_HASH"),
            Self::ByConfig(_) => Cow::Borrowed("CONFIG"),
            Self::ByMachineRoom { .. } => Cow::Borrowed("MACHINE_ROOM"),
            Self::MachineRoomNearby { inner, .. } => {
                Cow::Owned(format!("MACHINE_ROOM_NEARBY-{}", inner.name()))
            }
        }
    }

    /// The queues of `mq_all` that client `current_cid` consumes, given all
    /// clients `cid_all`, in the order the Java strategy returns them. The
    /// lists are used as given (not sorted; see [`rebalance_allocation`]).
    ///
    /// `consumer_group` is only logged by Java; it is accepted for parity.
    ///
    /// # Errors
    /// Where Java throws, in Java's order: an empty `current_cid`, an empty
    /// `mq_all`, an empty `cid_all`, then (machine-room nearby) the first
    /// queue and then the first client without a machine room.
    /// [`AllocateStrategy::ByConfig`] never fails. A `current_cid` missing
    /// from `cid_all` is not an error: it gets nothing. A client id listed
    /// twice counts twice, at the position of its first listing (Java's
    /// `List.indexOf`).
    pub fn allocate<S: AsRef<str>>(
        &self,
        consumer_group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[S],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if let Self::ByConfig(queues) = self {
            return Ok(queues.clone());
        }
        let Some(index) = check(current_cid, mq_all, cid_all)? else {
            return Ok(Vec::new());
        };
        let clients = cid_all.len();
        Ok(match self {
            Self::Averagely => averagely(mq_all, clients, index).to_vec(),
            Self::AveragelyByCircle => mq_all
                .iter()
                .skip(index)
                .step_by(clients)
                .cloned()
                .collect(),
            Self::ConsistentHash { virtual_nodes } => {
                consistent_hash(*virtual_nodes, current_cid, mq_all, cid_all)
            }
            Self::ByMachineRoom { consumer_idcs } => {
                by_machine_room(consumer_idcs, mq_all, clients, index)
            }
            Self::MachineRoomNearby { inner, resolver } => machine_room_nearby(
                inner,
                resolver,
                consumer_group,
                current_cid,
                mq_all,
                cid_all,
            )?,
            // Returned above, before the checks (Java's `ByConfig` has none).
            Self::ByConfig(queues) => queues.clone(),
        })
    }
}

/// The rebalance step of Java's `RebalanceImpl.rebalanceByTopic` (clustering
/// mode) in front of `strategy`: no allocation when `queues` or `cids` is
/// empty; else the queues deduplicated (Java holds them in a `Set`) and
/// sorted like `MessageQueue.compareTo` (topic, broker name, queue id), the
/// client ids sorted in Java `String` order (UTF-16 code units) but **not**
/// deduplicated, then [`AllocateStrategy::allocate`].
///
/// The result is in the strategy's order; Java puts it into a `HashSet`
/// (only [`AllocateStrategy::ByConfig`] can repeat a queue).
///
/// # Errors
/// [`AllocateError::EmptyQueues`] / [`AllocateError::EmptyClients`] when
/// Java skips the allocation, else the strategy's errors (Java catches those
/// and gives up this rebalance). Either way Java keeps the assignment it has.
pub fn rebalance_allocation<S: AsRef<str>>(
    strategy: &AllocateStrategy,
    consumer_group: &str,
    current_cid: &str,
    queues: &[MessageQueue],
    cids: &[S],
) -> Result<Vec<MessageQueue>, AllocateError> {
    if queues.is_empty() {
        return Err(AllocateError::EmptyQueues);
    }
    if cids.is_empty() {
        return Err(AllocateError::EmptyClients);
    }
    let mut mq_all = queues.to_vec();
    crate::collections::sort(&mut mq_all);
    mq_all.dedup();
    let mut cid_all: Vec<&str> = cids.iter().map(AsRef::as_ref).collect();
    crate::collections::sort_by(&mut cid_all, |a, b| java_string_cmp(a, b));
    strategy.allocate(consumer_group, current_cid, &mq_all, &cid_all)
}

/// Java `AbstractAllocateMessageQueueStrategy.check`: errors for empty
/// inputs, `None` when `current_cid` is not a client, else its (first)
/// index, as `List.indexOf`.
fn check<S: AsRef<str>>(
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[S],
) -> Result<Option<usize>, AllocateError> {
    if current_cid.is_empty() {
        return Err(AllocateError::EmptyCurrentCid);
    }
    if mq_all.is_empty() {
        return Err(AllocateError::EmptyQueues);
    }
    if cid_all.is_empty() {
        return Err(AllocateError::EmptyClients);
    }
    Ok(cid_all.iter().position(|c| c.as_ref() == current_cid))
}

/// Client `index` of `clients` gets one contiguous block; the first
/// `len % clients` blocks are one queue longer. With more clients than
/// queues that is one queue each for the first `len` clients.
fn averagely(mq_all: &[MessageQueue], clients: usize, index: usize) -> &[MessageQueue] {
    let base = mq_all.len() / clients;
    let longer = mq_all.len() % clients;
    let (start, len) = if index < longer {
        (index * (base + 1), base + 1)
    } else {
        (index * base + longer, base)
    };
    mq_all.get(start..start + len).unwrap_or_default()
}

fn by_machine_room(
    consumer_idcs: &[String],
    mq_all: &[MessageQueue],
    clients: usize,
    index: usize,
) -> Vec<MessageQueue> {
    let eligible: Vec<&MessageQueue> = mq_all
        .iter()
        .filter(|mq| {
            split_in_two(&mq.broker_name, '@')
                .is_some_and(|room| consumer_idcs.iter().any(|idc| idc == room))
        })
        .collect();
    let base = eligible.len() / clients;
    let remainder = eligible.len() % clients;
    let mut result: Vec<MessageQueue> = eligible
        .iter()
        .skip(index * base)
        .take(base)
        .map(|mq| (*mq).clone())
        .collect();
    if index < remainder {
        if let Some(mq) = eligible.get(base * clients + index) {
            result.push((*mq).clone());
        }
    }
    result
}

/// The first part of `s` when Java's `s.split(sep)` has exactly two parts.
/// Java drops trailing empty parts, so `a@b@` and `a@b@@` count as two
/// parts (`a`, `b`), `a@` as one; a leading empty part is kept (`@b`).
fn split_in_two(s: &str, sep: char) -> Option<&str> {
    let mut parts = s.split(sep);
    let first = parts.next()?;
    let second = parts.next()?;
    (!second.is_empty() && parts.all(str::is_empty)).then_some(first)
}

/// Java `ConsistentHashRouter`'s MD5 hash: the first four digest bytes,
/// big-endian, unsigned.
fn ring_hash(key: &str) -> u32 {
    let digest = Md5::digest(key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn consistent_hash<S: AsRef<str>>(
    virtual_nodes: usize,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[S],
) -> Vec<MessageQueue> {
    // Java's ring is a TreeMap<Long, VirtualNode>: a colliding point
    // replaces the earlier one. A client listed twice adds its second set of
    // points after the ones it already has on the ring (`getExistingReplicas`).
    let mut ring: BTreeMap<u32, &str> = BTreeMap::new();
    let mut on_ring: VecMap<&str, usize> = VecMap::new();
    let mut key = String::new();
    let virtual_nodes = virtual_nodes.min(MAX_VIRTUAL_NODES);
    for cid in cid_all {
        let cid = cid.as_ref();
        let existing = on_ring.get(cid).copied().unwrap_or(0);
        for replica in existing..existing + virtual_nodes {
            key.clear();
            // Writing into a String cannot fail.
            let _ = write!(key, "{cid}-{replica}");
            if let Some(replaced) = ring.insert(ring_hash(&key), cid) {
                if let Some(count) = on_ring.get_mut(replaced) {
                    *count = count.saturating_sub(1);
                }
            }
            *on_ring.get_or_default(cid) += 1;
        }
    }
    let mut result = Vec::new();
    for mq in mq_all {
        key.clear();
        let _ = write!(key, "{mq}");
        let hash = ring_hash(&key);
        let owner = ring
            .range(hash..)
            .next()
            .or_else(|| ring.iter().next())
            .map(|(_, cid)| *cid);
        if owner == Some(current_cid) {
            result.push(mq.clone());
        }
    }
    result
}

/// A map key ordered like Java's `String.compareTo` (Java's `TreeMap<String, _>`).
#[derive(PartialEq, Eq)]
struct JavaOrdered<'a>(&'a str);

impl Ord for JavaOrdered<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        java_string_cmp(self.0, other.0)
    }
}

impl PartialOrd for JavaOrdered<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn machine_room_nearby<S: AsRef<str>>(
    inner: &AllocateStrategy,
    resolver: &MachineRoomResolver,
    consumer_group: &str,
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[S],
) -> Result<Vec<MessageQueue>, AllocateError> {
    let mut queues_by_room: VecMap<JavaOrdered<'_>, Vec<MessageQueue>> = VecMap::new();
    for mq in mq_all {
        match resolver.broker_room(mq) {
            Some(room) if !room.is_empty() => queues_by_room
                .get_or_default(JavaOrdered(room))
                .push(mq.clone()),
            _ => return Err(AllocateError::NoBrokerMachineRoom(mq.clone())),
        }
    }
    let mut clients_by_room: VecMap<JavaOrdered<'_>, Vec<&str>> = VecMap::new();
    for cid in cid_all {
        let cid = cid.as_ref();
        match resolver.client_room(cid) {
            Some(room) if !room.is_empty() => {
                clients_by_room.get_or_default(JavaOrdered(room)).push(cid);
            }
            _ => return Err(AllocateError::NoClientMachineRoom(cid.into())),
        }
    }
    let mut result = Vec::new();
    let current_room = JavaOrdered(resolver.client_room(current_cid).unwrap_or_default());
    if let Some(queues) = queues_by_room.remove(&current_room) {
        let clients = clients_by_room
            .get(&current_room)
            .map_or(&[][..], Vec::as_slice);
        result.extend(inner.allocate(consumer_group, current_cid, &queues, clients)?);
    }
    for (room, queues) in &queues_by_room {
        if !clients_by_room.contains_key(room) {
            result.extend(inner.allocate(consumer_group, current_cid, queues, cid_all)?);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn queues(broker: &str, n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", broker, i)).collect()
    }

    fn ids(mqs: &[MessageQueue]) -> Vec<(String, i32)> {
        mqs.iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect()
    }

    fn qids(mqs: &[MessageQueue]) -> Vec<i32> {
        mqs.iter().map(|q| q.queue_id).collect()
    }

    fn share(
        strategy: &AllocateStrategy,
        cid: &str,
        mqs: &[MessageQueue],
        cids: &[&str],
    ) -> Vec<i32> {
        qids(&strategy.allocate("G", cid, mqs, cids).unwrap())
    }

    const THREE: [&str; 3] = ["c0", "c1", "c2"];

    #[test]
    fn averagely_gives_the_first_clients_one_queue_more() {
        let mqs = queues("b", 8);
        let s = AllocateStrategy::Averagely;
        assert_eq!(share(&s, "c0", &mqs, &THREE), [0, 1, 2]);
        assert_eq!(share(&s, "c1", &mqs, &THREE), [3, 4, 5]);
        assert_eq!(share(&s, "c2", &mqs, &THREE), [6, 7]);
    }

    #[test]
    fn averagely_leaves_surplus_clients_without_queues() {
        let mqs = queues("b", 2);
        let s = AllocateStrategy::Averagely;
        assert_eq!(share(&s, "c1", &mqs, &THREE), [1]);
        assert!(share(&s, "c2", &mqs, &THREE).is_empty());
    }

    #[test]
    fn by_circle_deals_queues_round_robin() {
        let mqs = queues("b", 8);
        let s = AllocateStrategy::AveragelyByCircle;
        assert_eq!(share(&s, "c1", &mqs, &THREE), [1, 4, 7]);
    }

    #[test]
    fn strategies_do_not_sort_their_inputs() {
        let mqs = [
            MessageQueue::new("T", "b", 5),
            MessageQueue::new("T", "b", 1),
        ];
        assert_eq!(
            share(&AllocateStrategy::Averagely, "z", &mqs, &["z", "a"]),
            [5]
        );
    }

    #[test]
    fn absent_current_cid_gets_nothing() {
        let mqs = queues("b", 4);
        for s in [
            AllocateStrategy::Averagely,
            AllocateStrategy::AveragelyByCircle,
            AllocateStrategy::consistent_hash(),
        ] {
            assert!(share(&s, "other", &mqs, &THREE).is_empty(), "{s:?}");
        }
    }

    #[test]
    fn empty_inputs_are_errors_in_java_order() {
        let s = AllocateStrategy::Averagely;
        let none: [&str; 0] = [];
        assert_eq!(
            s.allocate("G", "", &[], &none),
            Err(AllocateError::EmptyCurrentCid)
        );
        assert_eq!(
            s.allocate("G", "c0", &[], &none),
            Err(AllocateError::EmptyQueues)
        );
        assert_eq!(
            s.allocate("G", "c0", &queues("b", 1), &none),
            Err(AllocateError::EmptyClients)
        );
    }

    #[test]
    fn error_messages_are_javas() {
        assert_eq!(
            AllocateError::EmptyQueues.to_string(),
            "mqAll is null or mqAll empty"
        );
        assert_eq!(
            AllocateError::NoBrokerMachineRoom(MessageQueue::new("T", "b", 1)).to_string(),
            "Machine room is null for mq MessageQueue [topic=T, brokerName=b, queueId=1]"
        );
    }

    #[test]
    fn by_config_returns_its_queues_whatever_the_inputs() {
        let mine = vec![MessageQueue::new("X", "y", 9)];
        let s = AllocateStrategy::ByConfig(mine.clone());
        let none: [&str; 0] = [];
        assert_eq!(s.allocate("G", "", &[], &none), Ok(mine));
    }

    #[test]
    fn by_machine_room_takes_only_listed_rooms() {
        let mut mqs = queues("hz@b1", 2);
        mqs.extend(queues("sh@b2", 2));
        mqs.extend(queues("plain", 2));
        let s = AllocateStrategy::ByMachineRoom {
            consumer_idcs: vec!["hz".into()],
        };
        let got = s.allocate("G", "c0", &mqs, &["c0"]).unwrap();
        assert_eq!(ids(&got), [("hz@b1".into(), 0), ("hz@b1".into(), 1)]);
    }

    #[test]
    fn by_machine_room_deals_the_remainder_after_the_blocks() {
        let mqs = queues("hz@b", 5);
        let s = AllocateStrategy::ByMachineRoom {
            consumer_idcs: vec!["hz".into()],
        };
        assert_eq!(share(&s, "c0", &mqs, &["c0", "c1"]), [0, 1, 4]);
        assert_eq!(share(&s, "c1", &mqs, &["c0", "c1"]), [2, 3]);
    }

    #[test]
    fn broker_names_split_like_java_dropping_trailing_empty_parts() {
        assert_eq!(split_in_two("hz@b", '@'), Some("hz"));
        assert_eq!(split_in_two("hz@b@", '@'), Some("hz"));
        assert_eq!(split_in_two("@b", '@'), Some(""));
        assert_eq!(split_in_two("hz@", '@'), None);
        assert_eq!(split_in_two("hz@b@c", '@'), None);
        assert_eq!(split_in_two("hz", '@'), None);
    }

    #[test]
    fn ring_hash_is_the_big_endian_md5_prefix() {
        // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(ring_hash("abc"), 0x9001_5098);
    }

    #[test]
    fn consistent_hash_gives_every_queue_to_exactly_one_client() {
        let mqs = queues("b", 16);
        let s = AllocateStrategy::consistent_hash();
        let mut all: Vec<i32> = THREE
            .iter()
            .flat_map(|c| share(&s, c, &mqs, &THREE))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn consistent_hash_without_virtual_nodes_assigns_nothing() {
        let s = AllocateStrategy::ConsistentHash { virtual_nodes: 0 };
        assert!(share(&s, "c0", &queues("b", 4), &THREE).is_empty());
    }

    #[test]
    fn consistent_hash_caps_its_virtual_nodes() {
        let mqs = queues("b", 8);
        let capped = AllocateStrategy::ConsistentHash {
            virtual_nodes: MAX_VIRTUAL_NODES,
        };
        let huge = AllocateStrategy::ConsistentHash {
            virtual_nodes: usize::MAX,
        };
        // A client listed twice adds its points after its first set.
        let twice = ["c0", "c1", "c0"];
        for c in ["c0", "c1"] {
            assert_eq!(
                share(&huge, c, &mqs, &twice),
                share(&capped, c, &mqs, &twice)
            );
        }
    }

    const BY_DASH: MachineRoomResolver = MachineRoomResolver::Prefix {
        broker_separator: '-',
        client_separator: '-',
    };

    fn nearby() -> AllocateStrategy {
        AllocateStrategy::MachineRoomNearby {
            inner: Box::new(AllocateStrategy::Averagely),
            resolver: BY_DASH,
        }
    }

    #[test]
    fn nearby_keeps_queues_within_their_room() {
        let mut mqs = queues("hz-a", 2);
        mqs.extend(queues("sh-a", 2));
        let got = nearby()
            .allocate("G", "sh-1", &mqs, &["hz-1", "sh-1"])
            .unwrap();
        assert_eq!(ids(&got), [("sh-a".into(), 0), ("sh-a".into(), 1)]);
    }

    #[test]
    fn nearby_shares_rooms_without_clients_among_all() {
        let mut mqs = queues("hz-a", 2);
        mqs.extend(queues("bj-a", 2));
        let got = nearby()
            .allocate("G", "sh-1", &mqs, &["hz-1", "sh-1"])
            .unwrap();
        assert_eq!(ids(&got), [("bj-a".into(), 1)]);
    }

    #[test]
    fn nearby_rejects_a_client_without_room() {
        let got = nearby().allocate("G", "hz-1", &queues("hz-a", 1), &["hz-1", "-x"]);
        assert_eq!(got, Err(AllocateError::NoClientMachineRoom("-x".into())));
    }

    #[test]
    fn resolver_functions_may_return_static_rooms() {
        fn everywhere(_: &MessageQueue) -> Option<&str> {
            Some("room")
        }
        fn client(cid: &str) -> Option<&str> {
            cid.split(':').next()
        }
        let r = MachineRoomResolver::Functions {
            broker: everywhere,
            client,
        };
        assert_eq!(r.broker_room(&MessageQueue::new("T", "b", 0)), Some("room"));
        assert_eq!(r.client_room("room:1"), Some("room"));
    }

    #[test]
    fn names_are_javas() {
        assert_eq!(
            AllocateStrategy::consistent_hash().name(),
            "CONSISTENT_HASH"
        );
        assert_eq!(nearby().name(), "MACHINE_ROOM_NEARBY-AVG");
    }

    #[test]
    fn rebalance_sorts_queues_then_client_ids_in_utf16_order() {
        let mqs = [
            MessageQueue::new("T", "b", 10),
            MessageQueue::new("T", "a", 1),
            MessageQueue::new("T", "b", 2),
        ];
        // U+1F600 (surrogates D83D DE00) sorts before U+FFFF in Java.
        let cids = ["\u{ffff}", "\u{1f600}"];
        let s = AllocateStrategy::Averagely;
        let first = rebalance_allocation(&s, "G", "\u{1f600}", &mqs, &cids).unwrap();
        assert_eq!(ids(&first), [("a".into(), 1), ("b".into(), 2)]);
    }

    #[test]
    fn rebalance_dedups_queues_but_not_client_ids() {
        let q = |id| MessageQueue::new("T", "b", id);
        let mqs = [q(0), q(0), q(1), q(0)];
        let s = AllocateStrategy::Averagely;
        // Two queues, three client slots: c1 (third) gets nothing. Four
        // queues, or two clients, would give it queue 1.
        assert!(
            rebalance_allocation(&s, "G", "c1", &mqs, &["c0", "c0", "c1"])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rebalance_skips_empty_inputs_even_for_by_config() {
        let s = AllocateStrategy::ByConfig(queues("b", 1));
        let none: [&str; 0] = [];
        assert_eq!(
            rebalance_allocation(&s, "G", "c0", &[], &["c0"]),
            Err(AllocateError::EmptyQueues)
        );
        assert_eq!(
            rebalance_allocation(&s, "G", "c0", &queues("b", 1), &none),
            Err(AllocateError::EmptyClients)
        );
    }
}
