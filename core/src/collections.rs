//! Small ordered collections: a map and a set kept as one sorted `Vec`.
//!
//! Why: every `BTreeMap<K, V>` instantiation brings its own copy of the
//! B-tree's node, search, insertion and rebalancing code (5 to 13 KB of
//! WebAssembly each; about 40 of them made up a third of the WASM client).
//! A sorted `Vec` needs a binary search and a `Vec::insert`/`Vec::remove`
//! per instantiation, a fraction of that.
//!
//! Where: for the many SMALL maps of the core (topics, brokers,
//! subscriptions, owned queues, connections): lookups stay O(log n)
//! (binary search), iteration is in key order as with a `BTreeMap`, and an
//! insertion or removal moves at most the entries after it (cheap for the
//! tens to hundreds of entries these hold).
//!
//! Big, hot maps whose entries come and go all the time (in-flight
//! requests, pending sends, deliveries, buffered messages, deadlines) keep
//! a B-tree, but ONE for all of them: their keys are integers (ids,
//! offsets, opaques, instants), mapped order-preservingly onto `u64` by
//! [`IdKey`]. [`IdMap`] is a `BTreeMap<u64, usize>` index into a slab of
//! values, [`IdSet`] and [`DeadlineSet`] are `BTreeSet<(u64, u64)>`s: the
//! same O(log n) operations as before, with the B-tree code compiled once.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;

use crate::time::Instant;

/// An ordered map kept as a `Vec` of `(key, value)` sorted by key, with
/// the part of `BTreeMap`'s API the core uses. See the module docs for when
/// to prefer it.
#[derive(Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The keys in order, consuming the map.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The values in key order, consuming the map.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The first (smallest) entry.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// The last (largest) entry.
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Keeps only the entries for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Removes and returns the first (smallest) entry.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        if self.entries.is_empty() {
            None
        } else {
            Some(self.entries.remove(0))
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The stored key and value of `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// The value of `key`, mutable.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    /// Whether `key` has an entry.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning the stored key and its value.
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| self.entries.remove(i))
    }

    /// The value of `key`, inserting `make()` first when there is none
    /// (`BTreeMap::entry(key).or_insert_with(make)`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// The value of `key`, inserting the default first when there is none
    /// (`BTreeMap::entry(key).or_default()`).
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// Later entries win over earlier ones with the same key, as in
    /// `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        map.extend(iter);
        map
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = alloc::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter =
        core::iter::Map<core::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter =
        core::iter::Map<core::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }
}

/// An ordered set kept as one sorted `Vec`, with the part of `BTreeSet`'s
/// API the core uses. See the module docs for when to prefer it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VecSet<T> {
    items: Vec<T>,
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T: fmt::Debug> fmt::Debug for VecSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.items.iter()).finish()
    }
}

impl<T> VecSet<T> {
    /// An empty set.
    pub const fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The items in order.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The smallest item.
    pub fn first(&self) -> Option<&T> {
        self.items.first()
    }

    /// The largest item.
    pub fn last(&self) -> Option<&T> {
        self.items.last()
    }

    /// Removes and returns the smallest item.
    pub fn pop_first(&mut self) -> Option<T> {
        if self.items.is_empty() {
            None
        } else {
            Some(self.items.remove(0))
        }
    }

    /// Keeps only the items for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.items.retain(|t| keep(t));
    }
}

impl<T: Ord> VecSet<T> {
    fn find<Q>(&self, item: &Q) -> Result<usize, usize>
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.items.binary_search_by(|t| t.borrow().cmp(item))
    }

    /// Whether `item` is in the set.
    pub fn contains<Q>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(item).is_ok()
    }

    /// Adds `item`; false if it was there already (the set is unchanged).
    pub fn insert(&mut self, item: T) -> bool {
        match self.find(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    /// Removes `item`; false if it was not there.
    pub fn remove<Q>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.find(item) {
            Ok(i) => {
                self.items.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The items of `self` not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a VecSet<T>) -> impl Iterator<Item = &'a T> + 'a {
        self.items.iter().filter(move |t| !other.contains(*t))
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        // One insertion at a time: no sort routine per element type (a
        // few KB of WebAssembly each); these sets are small.
        let mut set = Self::new();
        set.extend(iter);
        set
    }
}

impl<T: Ord> Extend<T> for VecSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for t in iter {
            self.insert(t);
        }
    }
}

impl<T> IntoIterator for VecSet<T> {
    type Item = T;
    type IntoIter = alloc::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

// ------------------------------------------------------------ integer keys

/// A key that maps one-to-one, and order-preservingly, onto a `u64`, so
/// maps and sets of it can share one B-tree instantiation.
pub trait IdKey: Copy {
    /// The key as a `u64`; `a < b` exactly when `a.to_id() < b.to_id()`.
    fn to_id(self) -> u64;
    /// The key of an id made by [`IdKey::to_id`].
    fn from_id(id: u64) -> Self;
}

const SIGN: u64 = 1 << 63;

impl IdKey for u64 {
    fn to_id(self) -> u64 {
        self
    }
    fn from_id(id: u64) -> Self {
        id
    }
}

impl IdKey for i64 {
    fn to_id(self) -> u64 {
        (self as u64) ^ SIGN
    }
    fn from_id(id: u64) -> Self {
        (id ^ SIGN) as i64
    }
}

impl IdKey for i32 {
    fn to_id(self) -> u64 {
        i64::from(self).to_id()
    }
    fn from_id(id: u64) -> Self {
        i64::from_id(id) as i32
    }
}

impl IdKey for Instant {
    fn to_id(self) -> u64 {
        self.as_millis()
    }
    fn from_id(id: u64) -> Self {
        Instant::from_millis(id)
    }
}

macro_rules! id_newtype {
    ($($t:ty),*) => {$(
        impl IdKey for $t {
            fn to_id(self) -> u64 {
                self.0
            }
            fn from_id(id: u64) -> Self {
                Self(id)
            }
        }
    )*};
}
id_newtype!(
    crate::consumer::DeliveryId,
    crate::producer::SendId,
    crate::client::RequestId
);

/// A map from integer-like keys ([`IdKey`]) to values, ordered by key:
/// one shared `BTreeMap<u64, usize>` index into a slab of values (freed
/// slots are reused). Every operation is O(log n), as with a `BTreeMap`.
pub struct IdMap<K, V> {
    index: BTreeMap<u64, usize>,
    slots: Vec<Option<V>>,
    free: Vec<usize>,
    _key: PhantomData<fn() -> K>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: IdKey + fmt::Debug, V: fmt::Debug> fmt::Debug for IdMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> IdMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            index: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            _key: PhantomData,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
    }

    fn slot(&self, slot: usize) -> Option<&V> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.index.values().filter_map(|&s| self.slot(s))
    }
}

impl<K: IdKey, V> IdMap<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let &slot = self.index.get(&key.to_id())?;
        self.slot(slot)
    }

    /// The value of `key`, mutable.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let &slot = self.index.get(&key.to_id())?;
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(&key.to_id())
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let id = key.to_id();
        if let Some(&slot) = self.index.get(&id) {
            if let Some(old) = self.slots.get_mut(slot) {
                return old.replace(value);
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(value);
                slot
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        };
        self.index.insert(id, slot);
        None
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.index.remove(&key.to_id())?;
        let value = self.slots.get_mut(slot).and_then(Option::take);
        if self.index.is_empty() {
            // Nothing left: give the slab back.
            self.slots.clear();
            self.free.clear();
        } else {
            self.free.push(slot);
        }
        value
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = K> + '_ {
        self.index.keys().map(|&id| K::from_id(id))
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (K, &V)> + '_ {
        self.index
            .iter()
            .filter_map(|(&id, &s)| self.slot(s).map(|v| (K::from_id(id), v)))
    }

    /// The first (smallest) key.
    pub fn first_key(&self) -> Option<K> {
        self.index.keys().next().map(|&id| K::from_id(id))
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut gone = Vec::new();
        for (&id, &slot) in &self.index {
            if let Some(Some(value)) = self.slots.get_mut(slot) {
                if !keep(&K::from_id(id), value) {
                    gone.push(id);
                }
            }
        }
        for id in gone {
            self.remove(&K::from_id(id));
        }
    }
}

/// A set of integer-like keys ([`IdKey`]), ordered, sharing its B-tree
/// code with [`DeadlineSet`].
pub struct IdSet<K> {
    inner: BTreeSet<(u64, u64)>,
    _key: PhantomData<fn() -> K>,
}

impl<K> Default for IdSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: IdKey + fmt::Debug> fmt::Debug for IdSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<K> IdSet<K> {
    /// An empty set.
    pub const fn new() -> Self {
        Self {
            inner: BTreeSet::new(),
            _key: PhantomData,
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl<K: IdKey> IdSet<K> {
    /// Adds `key`; false if it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        self.inner.insert((key.to_id(), 0))
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.inner.remove(&(key.to_id(), 0))
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.inner.contains(&(key.to_id(), 0))
    }

    /// The keys in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = K> + '_ {
        self.inner.iter().map(|&(id, _)| K::from_id(id))
    }
}

impl<K: IdKey> IntoIterator for IdSet<K> {
    type Item = K;
    type IntoIter =
        core::iter::Map<alloc::collections::btree_set::IntoIter<(u64, u64)>, fn((u64, u64)) -> K>;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter().map(|(id, _)| K::from_id(id))
    }
}

/// Deadlines: a set of `(Instant, key)` ordered by instant, then key, for
/// expiring whatever `key` names earliest first.
pub struct DeadlineSet<K> {
    inner: BTreeSet<(u64, u64)>,
    _key: PhantomData<fn() -> K>,
}

impl<K> Default for DeadlineSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: IdKey + fmt::Debug> fmt::Debug for DeadlineSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                self.inner
                    .iter()
                    .map(|&(t, id)| (Instant::from_id(t), K::from_id(id))),
            )
            .finish()
    }
}

impl<K> DeadlineSet<K> {
    /// An empty set.
    pub const fn new() -> Self {
        Self {
            inner: BTreeSet::new(),
            _key: PhantomData,
        }
    }

    /// The number of deadlines.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Removes every deadline.
    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

impl<K: IdKey> DeadlineSet<K> {
    /// Adds `(at, key)`; false if it was there already.
    pub fn insert(&mut self, (at, key): (Instant, K)) -> bool {
        self.inner.insert((at.to_id(), key.to_id()))
    }

    /// Removes `(at, key)`; false if it was not there.
    pub fn remove(&mut self, &(at, key): &(Instant, K)) -> bool {
        self.inner.remove(&(at.to_id(), key.to_id()))
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<(Instant, K)> {
        self.inner
            .first()
            .map(|&(t, id)| (Instant::from_id(t), K::from_id(id)))
    }

    /// Removes and returns the earliest deadline.
    pub fn pop_first(&mut self) -> Option<(Instant, K)> {
        self.inner
            .pop_first()
            .map(|(t, id)| (Instant::from_id(t), K::from_id(id)))
    }
}

// ------------------------------------------------------------------ sorting

/// Sorts `items` stably by `cmp`, like `<[T]>::sort_by`, with a fraction of
/// the code: the standard sort is compiled anew for each element type and
/// comparator (3-4 KB of WebAssembly each); here one merge sort of indices
/// (not generic, the comparator behind `dyn`) does the work and only the
/// final permutation is per type. O(n log n) comparisons plus two `usize`
/// buffers: meant for the core's few, short, cold sorts (route queues,
/// client ids, signed fields), not for hot paths.
pub fn sort_by<T>(items: &mut [T], mut cmp: impl FnMut(&T, &T) -> core::cmp::Ordering) {
    if items.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    {
        let view: &[T] = items;
        merge_sort_indices(&mut order, &mut |a, b| cmp(&view[a], &view[b]));
    }
    // Position i takes the item at order[i]: follow each cycle once.
    for start in 0..items.len() {
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            items.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

/// Sorts `items` stably by their `Ord` (see [`sort_by`]).
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// Bottom-up, stable merge sort of `order` by `cmp` on its values.
fn merge_sort_indices(
    order: &mut Vec<usize>,
    cmp: &mut dyn FnMut(usize, usize) -> core::cmp::Ordering,
) {
    let n = order.len();
    let mut from = core::mem::take(order);
    let mut to = alloc::vec![0usize; n];
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                // Equal keys take the left run first: stable.
                if cmp(from[j], from[i]) == core::cmp::Ordering::Less {
                    to[k] = from[j];
                    j += 1;
                } else {
                    to[k] = from[i];
                    i += 1;
                }
                k += 1;
            }
            to[k..k + (mid - i)].copy_from_slice(&from[i..mid]);
            k += mid - i;
            to[k..k + (hi - j)].copy_from_slice(&from[j..hi]);
            lo = hi;
        }
        core::mem::swap(&mut from, &mut to);
        width *= 2;
    }
    *order = from;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::{BTreeMap, BTreeSet};
    use alloc::string::{String, ToString};

    #[test]
    fn map_behaves_like_a_btreemap_over_a_mixed_sequence() {
        let mut ours = VecMap::new();
        let mut theirs = BTreeMap::new();
        // A deterministic pseudo-random walk of inserts and removes.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let key = (x >> 16) % 64;
            if x & 1 == 0 {
                assert_eq!(ours.insert(key, x), theirs.insert(key, x));
            } else {
                assert_eq!(ours.remove(&key), theirs.remove(&key));
            }
            assert_eq!(ours.len(), theirs.len());
        }
        assert!(ours.iter().eq(theirs.iter()));
        assert_eq!(ours.first_key_value(), theirs.first_key_value());
        assert_eq!(ours.last_key_value(), theirs.last_key_value());
    }

    #[test]
    fn map_looks_up_string_keys_by_str() {
        let mut map: VecMap<String, u32> = VecMap::new();
        map.insert("b".to_string(), 2);
        map.insert("a".to_string(), 1);
        *map.get_or_default("c".to_string()) += 3;
        *map.get_or_insert_with("a".to_string(), || 9) += 10;
        assert_eq!(map.get("a"), Some(&11));
        assert!(map.contains_key("c"));
        assert_eq!(map.remove("b"), Some(2));
        assert_eq!(
            map.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "c"]
        );
        map.retain(|_, v| *v > 5);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn map_from_iter_keeps_the_last_value_of_a_key() {
        let map: VecMap<u8, u8> = [(2, 1), (1, 1), (2, 3)].into_iter().collect();
        assert_eq!(map.into_iter().collect::<Vec<_>>(), [(1, 1), (2, 3)]);
    }

    #[test]
    fn set_behaves_like_a_btreeset() {
        let mut ours: VecSet<u8> = [5, 3, 5, 1].into_iter().collect();
        let mut theirs: BTreeSet<u8> = [5, 3, 5, 1].into_iter().collect();
        assert!(ours.iter().eq(theirs.iter()));
        assert_eq!(ours.insert(4), theirs.insert(4));
        assert_eq!(ours.insert(4), theirs.insert(4));
        assert_eq!(ours.remove(&3), theirs.remove(&3));
        assert_eq!(ours.remove(&3), theirs.remove(&3));
        assert_eq!(ours.pop_first(), theirs.pop_first());
        assert!(ours.iter().eq(theirs.iter()));
        let other: VecSet<u8> = [4].into_iter().collect();
        assert_eq!(ours.difference(&other).copied().collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn id_keys_keep_their_order_as_u64() {
        let i64s = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in i64s.windows(2) {
            assert!(w[0].to_id() < w[1].to_id());
            assert_eq!(i64::from_id(w[0].to_id()), w[0]);
        }
        let i32s = [i32::MIN, -1, 0, 1, i32::MAX];
        for w in i32s.windows(2) {
            assert!(w[0].to_id() < w[1].to_id());
            assert_eq!(i32::from_id(w[1].to_id()), w[1]);
        }
    }

    #[test]
    fn id_map_behaves_like_a_btreemap_over_a_mixed_sequence() {
        let mut ours: IdMap<i32, u32> = IdMap::new();
        let mut theirs = BTreeMap::new();
        let mut x: u32 = 777;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let key = ((x >> 16) % 200) as i32 - 100;
            match x % 3 {
                0 | 1 => assert_eq!(ours.insert(key, x), theirs.insert(key, x)),
                _ => assert_eq!(ours.remove(&key), theirs.remove(&key)),
            }
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.get(&key), theirs.get(&key));
        }
        assert!(ours.iter().eq(theirs.iter().map(|(k, v)| (*k, v))));
        assert!(ours.keys().rev().eq(theirs.keys().rev().copied()));
        assert_eq!(ours.first_key(), theirs.keys().next().copied());
        ours.retain(|k, _| k % 2 == 0);
        theirs.retain(|k, _| k % 2 == 0);
        assert!(ours.values().eq(theirs.values()));
        while let Some(k) = ours.first_key() {
            assert_eq!(ours.remove(&k), theirs.remove(&k));
        }
        assert!(theirs.is_empty());
        assert!(ours.slots.is_empty(), "an empty map gives its slab back");
    }

    #[test]
    fn deadline_set_pops_earliest_then_lowest_key() {
        let mut d: DeadlineSet<i32> = DeadlineSet::new();
        let t = Instant::from_millis;
        assert!(d.insert((t(20), 1)));
        assert!(d.insert((t(10), 5)));
        assert!(d.insert((t(10), -3)));
        assert!(!d.insert((t(10), -3)));
        assert!(d.remove(&(t(20), 1)));
        assert_eq!(d.first(), Some((t(10), -3)));
        assert_eq!(d.pop_first(), Some((t(10), -3)));
        assert_eq!(d.pop_first(), Some((t(10), 5)));
        assert_eq!(d.pop_first(), None);
    }

    #[test]
    fn id_set_iterates_in_key_order() {
        let mut s: IdSet<i32> = IdSet::new();
        for k in [3, -7, 0, 3] {
            s.insert(k);
        }
        assert!(s.contains(&-7));
        assert!(s.remove(&0));
        assert_eq!(s.iter().collect::<Vec<_>>(), [-7, 3]);
        assert_eq!(s.into_iter().collect::<Vec<_>>(), [-7, 3]);
    }

    #[test]
    fn sort_by_is_stable_and_agrees_with_the_standard_sort() {
        let mut x: u32 = 99;
        for len in [0usize, 1, 2, 3, 7, 16, 33, 100, 257] {
            let mut ours: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ((x >> 16) % 10, i)
                })
                .collect();
            let mut theirs = ours.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            theirs.sort_by_key(|a| a.0);
            assert_eq!(ours, theirs, "len {len}");
        }
        let mut words = ["b", "a", "c", "a"].map(String::from);
        sort(&mut words);
        assert_eq!(words, ["a", "a", "b", "c"]);
    }
}
