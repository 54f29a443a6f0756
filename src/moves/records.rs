//! Move records on one node: the reference's `MoveTable` (moves out of
//! this node) plus what the node adopted and what it learned of other
//! nodes' moves.
//!
//! Each record is a prefix, a [`Phase`], an [`Epoch`] and a
//! [`Handover`] naming the node the prefix moves `from` and the node
//! it moves `to`. A prefix has at most one record: the latest this node
//! knows. Records may nest: operator commands are runtime state, and a
//! sub-prefix can move on its own.
//!
//! This table only stores records and enforces the reference's rules for
//! them; [`Node`](crate::moves::Node) adds the ownership rules of a move and the
//! write verdict.

use core::fmt;

use crate::bytes::{Lossy, starts_with};
use crate::moves::messages::Epoch;
use crate::table::node_id::{NodeId, NodeIdError};

/// The longest prefix a fixed-capacity [`MoveTable`] stores, in bytes.
/// Longer operator input is refused with [`MoveError::PrefixTooLong`].
pub const MAX_PREFIX_LEN: usize = 48;

/// Who a prefix moves from and to.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
/// let t = OwnershipTable::from_array([Scope::new(b"app:billing:", "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<4>::new()).unwrap();
/// let _ = a.start_move(b"app:billing:", "B").unwrap();
/// let (_, _, st) = a.moves().iter().next().unwrap();
/// assert_eq!((st.from.as_str(), st.to.as_str()), ("A", "B"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handover {
    /// The node giving the prefix away.
    pub from: NodeId,
    /// The node receiving it.
    pub to: NodeId,
}

impl Handover {
    /// Validates and copies both ids.
    ///
    /// ```
    /// # use kevy_scope::moves::Handover;
    /// assert!(Handover::new("A", "B").is_ok());
    /// assert!(Handover::new("A", "").is_err());
    /// ```
    pub fn new(from: &str, to: &str) -> Result<Self, MoveError> {
        // Both built, then matched: the ids move once, into the result.
        match (NodeId::new(from), NodeId::new(to)) {
            (Ok(from), Ok(to)) => Ok(Self { from, to }),
            (Err(e), _) | (_, Err(e)) => Err(MoveError::InvalidNodeId(e)),
        }
    }
}

/// Where a record stands.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::Phase};
/// let t = OwnershipTable::from_array([Scope::new(b"p:", "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
/// let _ = a.start_move(b"p:", "B").unwrap();
/// assert_eq!(a.moves().iter().map(|(_, phase, _)| phase).next(), Some(Phase::Moving));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Phase {
    /// Outgoing, in flight: writes answer `-QUIESCED migrating to <to>`.
    Moving,
    /// Settled elsewhere: `to` owns the prefix (this node's committed move,
    /// or one it learned); writes answer `-MISDIRECTED writer is <to>`.
    Moved,
    /// Settled here: this node owns the prefix (it ingested it, or its own
    /// move of it was aborted) and accepts writes.
    Adopted,
    /// A move from `from` to `to` this node heard of and has not seen
    /// resolved. A fallback stands in for nothing under it; writes answer
    /// `-MISDIRECTED writer is <from>`.
    Pending,
}

/// Why a move command was refused.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::MoveError};
/// let t = OwnershipTable::from_array([Scope::new(b"p:", "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<4>::new()).unwrap();
/// let _ = a.start_move(b"p:", "B").unwrap();
/// let err = a.start_move(b"p:", "B").unwrap_err();
/// assert_eq!(err, MoveError::AlreadyMoving);
/// assert_eq!(err.to_string(), "migration for this prefix is already in flight");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MoveError {
    /// The move's target lost its records after the move started
    /// (`Node::fence`): a `Committed` that may be from before the loss is
    /// refused; the driver asks again (`Request::Recheck`).
    TargetRecovered,
    /// A move of this exact prefix is already in flight.
    AlreadyMoving,
    /// This exact prefix has already been moved away from this node.
    AlreadyMoved,
    /// The prefix is longer than the table stores.
    PrefixTooLong {
        /// The prefix's length.
        len: usize,
        /// The longest prefix the table stores.
        max: usize,
    },
    /// A node id breaks the node-id rule.
    InvalidNodeId(NodeIdError),
    /// Every record slot is taken.
    Full {
        /// The table's capacity.
        capacity: usize,
    },
    /// The source and target of the move are the same node.
    SameNode,
    /// This node does not accept writes for the whole prefix as its owner
    /// (its static writer or an adopter), so it cannot give it away.
    NotOwner,
    /// This node already owns the prefix it is asked to ingest, or holds
    /// an adoption of that very prefix.
    AlreadyOwner,
    /// A move of an enclosing or enclosed prefix is in flight on this node.
    OverlapsMoveInFlight,
    /// The step is older than what this node knows of the prefix (an
    /// older epoch, or one this node has fenced off).
    Stale {
        /// The newest epoch this node knows for the prefix (or, for an
        /// ingest, the fence every new ingest must exceed).
        known: Epoch,
    },
    /// The step comes from a node that is not the prefix's owner as far as
    /// this node knows.
    SenderNotOwner,
    /// The step names another node as the move's target.
    WrongTarget,
    /// No move of this prefix at this epoch is in flight on this node.
    NotInFlight,
    /// Epochs are exhausted (every `u32` used).
    EpochExhausted,
    /// The node's records could not be restored; it refuses every move
    /// step until it has recovered them from its peers (`Driver`,
    /// "Recovery").
    Quarantined,
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyMoving => f.write_str("migration for this prefix is already in flight"),
            Self::AlreadyMoved => f.write_str("prefix has already been migrated"),
            Self::PrefixTooLong { len, max } => {
                write!(f, "prefix is {len} bytes, at most {max} can be stored")
            }
            Self::InvalidNodeId(e) => write!(f, "invalid node id: {e}"),
            Self::Full { capacity } => write!(f, "all {capacity} migration record slots are taken"),
            Self::SameNode => f.write_str("a prefix cannot move to the node it is on"),
            Self::NotOwner => f.write_str("this node does not own the whole prefix"),
            Self::AlreadyOwner => f.write_str("this node already owns the prefix"),
            Self::OverlapsMoveInFlight => {
                f.write_str("a move of an overlapping prefix is in flight on this node")
            }
            Self::Stale { known } => {
                write!(f, "stale move step: this node knows epoch {}", known.get())
            }
            Self::SenderNotOwner => {
                f.write_str("the sender is not the prefix's owner as far as this node knows")
            }
            Self::WrongTarget => f.write_str("the move is addressed to another node"),
            Self::NotInFlight => f.write_str("no move of this prefix at this epoch is in flight"),
            Self::EpochExhausted => f.write_str("move epochs are exhausted"),
            Self::Quarantined => f.write_str(
                "ownership records could not be restored: recovering them from the peers",
            ),
            Self::TargetRecovered => {
                f.write_str("the move's target lost its records since: its outcome is asked again")
            }
        }
    }
}

impl core::error::Error for MoveError {}

/// One record's data beside its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub(crate) phase: Phase,
    /// A move out of this node (`Moving`) whose target lost its
    /// records after it started: it ends only on the target's `Aborted`.
    pub(crate) doubt: bool,
    pub(crate) epoch: Epoch,
    pub(crate) state: Handover,
}

impl Record {
    pub(crate) fn new(phase: Phase, epoch: Epoch, state: Handover) -> Self {
        Self {
            phase,
            doubt: false,
            epoch,
            state,
        }
    }

    /// The node that accepts the prefix's writes as far as this record
    /// says (for a move in flight, its source).
    pub(crate) fn owner(&self) -> &str {
        match self.phase {
            Phase::Moved | Phase::Adopted => self.state.to.as_str(),
            Phase::Moving | Phase::Pending => self.state.from.as_str(),
        }
    }
}

impl RecordRef<'_> {
    /// Whether `key` starts with this record's prefix.
    #[inline]
    pub(crate) fn matches(&self, key: &[u8]) -> bool {
        // No in-line check first: the sieve has already turned away most
        // keys that match no record, and the compare finds a difference
        // at the end at once (bare metal compares from the end; hosts
        // compare the first and last words together).
        starts_with(key, self.prefix)
    }
}

/// A record as the search and the node logic see it.
#[derive(Clone, Copy)]
pub struct RecordRef<'r> {
    pub(crate) prefix: &'r [u8],
    pub(crate) record: &'r Record,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Storage for move records: [`MoveTable`] (fixed capacity, no heap)
/// or `MoveTableBuf` (feature `alloc`). Sealed: the node logic relies
/// on its invariants.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, moves::MoveRecords};
/// fn node_with<R: MoveRecords>(moves: R) -> Node<OwnershipTable<'static, 1>, R> {
///     Node::new("A", OwnershipTable::new(), moves).unwrap()
/// }
/// assert!(node_with(MoveTable::<2>::new()).moves().is_empty());
/// ```
pub trait MoveRecords: sealed::Sealed {
    /// The longest prefix the store keeps.
    #[doc(hidden)]
    const MAX_PREFIX: usize;
    /// The most moves out of the node in flight at once. Bounds how far
    /// its epochs can run ahead of what its peers know, which recovery
    /// relies on (`Node::fence`).
    #[doc(hidden)]
    const MAX_IN_FLIGHT: u32;
    #[doc(hidden)]
    fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + Clone;
    /// Stores `record` for `prefix`, replacing the prefix's record if
    /// there is one.
    #[doc(hidden)]
    fn insert(&mut self, prefix: &[u8], record: Record) -> Result<(), MoveError>;
    /// Whether `insert(prefix, _)` would succeed.
    #[doc(hidden)]
    fn room_for(&self, prefix: &[u8]) -> Result<(), MoveError>;
    #[doc(hidden)]
    fn get_mut(&mut self, prefix: &[u8]) -> Option<&mut Record>;
    #[doc(hidden)]
    fn retain(&mut self, keep: impl FnMut(RecordRef<'_>) -> bool);
    /// Changes records in place (not their prefixes).
    #[doc(hidden)]
    fn update(&mut self, change: impl FnMut(&mut Record));
    /// `false` only where no record's prefix can start `key`: a test of
    /// one or two bytes that lets most keys skip the scan of the records.
    #[doc(hidden)]
    #[inline]
    fn may_match(&self, key: &[u8]) -> bool {
        let _ = key;
        true
    }
}

/// Refuses a prefix longer than `S` keeps, before any other check.
pub(crate) fn check_prefix<S: MoveRecords>(prefix: &[u8]) -> Result<(), MoveError> {
    if prefix.len() > S::MAX_PREFIX {
        return Err(MoveError::PrefixTooLong {
            len: prefix.len(),
            max: S::MAX_PREFIX,
        });
    }
    Ok(())
}

/// kevy-scope 1.32.0's steps on a record store, outside the epoch rules:
/// for `compat`'s table (and the unit tests) only. Every other record
/// change goes through [`Node`](crate::Node)'s move steps.
#[cfg(any(test, feature = "compat"))]
pub(crate) trait ReferenceSteps: MoveRecords {
    /// The record of exactly `prefix` in `phase`.
    fn exact_in(&self, prefix: &[u8], phase: Phase) -> Option<&Handover> {
        self.records()
            .find(|r| r.record.phase == phase && r.prefix == prefix)
            .map(|r| &r.record.state)
    }

    /// The record in `phase` with the longest prefix of `key`.
    fn longest_in(&self, key: &[u8], phase: Phase) -> Option<&Handover> {
        self.records()
            .filter(|r| r.record.phase == phase && r.matches(key))
            .max_by_key(|r| r.prefix.len())
            .map(|r| &r.record.state)
    }

    /// Marks `prefix` as moving from `from` to `to`: writes for it now
    /// answer `-QUIESCED`. Fails if that exact prefix is in flight
    /// (`AlreadyMoving`) or already moved (`AlreadyMoved`), and on bad
    /// input or a full table.
    fn start(&mut self, prefix: &[u8], from: &str, to: &str) -> Result<(), MoveError> {
        if self.exact_in(prefix, Phase::Moving).is_some() {
            return Err(MoveError::AlreadyMoving);
        }
        if self.exact_in(prefix, Phase::Moved).is_some() {
            return Err(MoveError::AlreadyMoved);
        }
        let state = Handover::new(from, to)?;
        self.insert(prefix, Record::new(Phase::Moving, Epoch::ZERO, state))
    }

    /// Commits the in-flight move of `prefix`, returning its state, or
    /// `None` when nothing was in flight.
    fn commit(&mut self, prefix: &[u8]) -> Option<Handover> {
        let record = self.get_mut(prefix)?;
        if record.phase != Phase::Moving {
            return None;
        }
        record.phase = Phase::Moved;
        Some(record.state.clone())
    }

    /// Drops the in-flight move of `prefix` (committed records stay),
    /// returning it, or `None` when nothing was in flight.
    fn abort(&mut self, prefix: &[u8]) -> Option<Handover> {
        let state = self.exact_in(prefix, Phase::Moving)?.clone();
        self.retain(|r| !(r.record.phase == Phase::Moving && r.prefix == prefix));
        Some(state)
    }

    /// The in-flight move of exactly `prefix`.
    fn lookup_migrating(&self, prefix: &[u8]) -> Option<&Handover> {
        self.exact_in(prefix, Phase::Moving)
    }

    /// The committed move of exactly `prefix`.
    fn lookup_migrated(&self, prefix: &[u8]) -> Option<&Handover> {
        self.exact_in(prefix, Phase::Moved)
    }

    /// The in-flight move with the longest prefix of `key`.
    fn match_migrating(&self, key: &[u8]) -> Option<&Handover> {
        self.longest_in(key, Phase::Moving)
    }

    /// The committed move with the longest prefix of `key`.
    fn match_migrated(&self, key: &[u8]) -> Option<&Handover> {
        self.longest_in(key, Phase::Moved)
    }
}

#[cfg(any(test, feature = "compat"))]
impl<S: MoveRecords> ReferenceSteps for S {}

/// A prefix copied into fixed-capacity storage. (A one-byte length would
/// save nothing: the record beside it is word-aligned.)
type PrefixBuf = heapless::Vec<u8, MAX_PREFIX_LEN>;

/// Move records of one node in fixed capacity: at most `M` records, each
/// prefix at most [`MAX_PREFIX_LEN`] bytes, no heap. Beside them, 8 bytes
/// of sieve let a node's write verdict turn away most keys that fall
/// under no record with a byte or two read, before it scans the records.
///
/// A [`Node`](crate::moves::Node) owns its table and changes it only through
/// its move steps, under the epoch rules; from outside it is read-only.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::MoveError};
/// let t = OwnershipTable::from_array([Scope::new(b"app:", "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<4>::new()).unwrap();
/// let _ = a.start_move(b"app:billing:", "C")?;
/// assert_eq!(a.start_move(b"app:billing:", "C").unwrap_err(), MoveError::AlreadyMoving);
/// assert_eq!(a.moves().len(), 1);
/// # Ok::<(), MoveError>(())
/// ```
#[derive(Clone, Default)]
pub struct MoveTable<const M: usize> {
    /// Each record before its prefix: the verdict's scan then walks a
    /// pointer to the prefix bytes, in fewer instructions on a Cortex-M0
    /// (measured when the scan also read each prefix's last byte in line).
    records: heapless::Vec<(Record, PrefixBuf), M>,
    /// Kept in step with `records` by every change to their prefixes.
    sieve: Sieve,
}

/// What every record's prefix holds at two offsets, for turning away keys
/// no record can match with a byte or two read: the last byte of the
/// shortest prefix, which every prefix reaches, and the byte before it
/// (prefixes often end in a separator that keys beside them share, as
/// `app:svc00002:us:1` does with `app:svc00002:eu:`).
#[derive(Clone, Copy)]
struct Sieve {
    /// Bit `b % 32` for each prefix's byte `b` at `shortest - 1`; all set
    /// for an empty prefix, none with no records (every key turned away).
    last: u32,
    /// Bit `b % 16` for each prefix's byte `b` at `shortest - 2` (not read
    /// where the shortest prefix is shorter than 2 bytes).
    before: u16,
    /// The shortest prefix's length: 0 with a record of the empty prefix
    /// (which every key matches); 255 with no records.
    shortest: u8,
}

impl Default for Sieve {
    fn default() -> Self {
        Self::NONE
    }
}

// A prefix's length fits the sieve's byte.
const _: () = assert!(MAX_PREFIX_LEN < 256);

impl Sieve {
    /// No records.
    const NONE: Self = Self {
        last: 0,
        before: 0,
        shortest: u8::MAX,
    };

    /// The sieve of `records`.
    fn of(records: &[(Record, PrefixBuf)]) -> Self {
        let mut shortest = u8::MAX;
        for (_, prefix) in records {
            // At most `MAX_PREFIX_LEN` bytes (asserted above).
            shortest = shortest.min(prefix.len() as u8);
        }
        let at = usize::from(shortest).wrapping_sub(1);
        let mut sieve = Self {
            last: 0,
            before: 0,
            shortest,
        };
        for (_, prefix) in records {
            sieve.last |= match prefix.get(at) {
                Some(&b) => 1 << (b % 32),
                // The empty prefix: every key matches it.
                None => u32::MAX,
            };
            if let Some(&b) = prefix.get(at.wrapping_sub(1)) {
                sieve.before |= 1 << (b % 16);
            }
        }
        sieve
    }

    #[inline]
    fn may_match(&self, key: &[u8]) -> bool {
        let at = usize::from(self.shortest).wrapping_sub(1);
        // Past the key's end (or before its start: an empty prefix) the
        // read fails; an empty prefix holds every key.
        let Some(&b) = key.get(at) else {
            return self.shortest == 0;
        };
        if self.last >> (b % 32) & 1 == 0 {
            return false;
        }
        // A key reaching `at` holds a byte before it, unless `at` is 0.
        match key.get(at.wrapping_sub(1)) {
            Some(&a) => self.before >> (a % 16) & 1 != 0,
            None => true,
        }
    }
}

impl<const M: usize> MoveTable<M> {
    /// After any change to the prefixes. One copy, out of line: flash.
    #[inline(never)]
    fn resieve(&mut self) {
        self.sieve = Sieve::of(&self.records);
    }
}

impl<const M: usize> sealed::Sealed for MoveTable<M> {}

impl<const M: usize> MoveRecords for MoveTable<M> {
    const MAX_PREFIX: usize = MAX_PREFIX_LEN;
    // A move in flight holds a record.
    const MAX_IN_FLIGHT: u32 = if M < u32::MAX as usize {
        M as u32
    } else {
        u32::MAX
    };

    fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + Clone {
        self.records
            .iter()
            .map(|(record, prefix)| RecordRef { prefix, record })
    }

    fn insert(&mut self, prefix: &[u8], record: Record) -> Result<(), MoveError> {
        // One record per prefix, as in the unbounded table.
        if let Some(slot) = self.get_mut(prefix) {
            *slot = record;
            return Ok(());
        }
        let prefix = PrefixBuf::from_slice(prefix).map_err(|_| MoveError::PrefixTooLong {
            len: prefix.len(),
            max: MAX_PREFIX_LEN,
        })?;
        self.records
            .push((record, prefix))
            .map_err(|_| MoveError::Full { capacity: M })?;
        self.resieve();
        Ok(())
    }

    fn room_for(&self, prefix: &[u8]) -> Result<(), MoveError> {
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(MoveError::PrefixTooLong {
                len: prefix.len(),
                max: MAX_PREFIX_LEN,
            });
        }
        let present = self.records.iter().any(|(_, p)| p.as_slice() == prefix);
        if present || self.records.len() < M {
            Ok(())
        } else {
            Err(MoveError::Full { capacity: M })
        }
    }

    fn get_mut(&mut self, prefix: &[u8]) -> Option<&mut Record> {
        self.records
            .iter_mut()
            .find(|(_, p)| p.as_slice() == prefix)
            .map(|(r, _)| r)
    }

    fn retain(&mut self, mut keep: impl FnMut(RecordRef<'_>) -> bool) {
        self.records
            .retain(|(record, prefix)| keep(RecordRef { prefix, record }));
        self.resieve();
    }

    fn update(&mut self, mut change: impl FnMut(&mut Record)) {
        self.records
            .iter_mut()
            .for_each(|(record, _)| change(record));
    }

    #[inline]
    fn may_match(&self, key: &[u8]) -> bool {
        self.sieve.may_match(key)
    }
}

/// The methods every record store offers, written once.
macro_rules! record_api {
    () => {
        /// Every record: prefix, phase and state.
        ///
        /// ```
        /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::Phase};
        /// let t = OwnershipTable::from_array([Scope::new(b"p:", "A")]).unwrap();
        /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
        /// let _ = a.start_move(b"p:", "B").unwrap();
        /// let phases: Vec<Phase> = a.moves().iter().map(|(_, phase, _)| phase).collect();
        /// assert_eq!(phases, [Phase::Moving]);
        /// ```
        pub fn iter(&self) -> impl Iterator<Item = (&[u8], Phase, &Handover)> + '_ {
            self.records()
                .map(|r| (r.prefix, r.record.phase, &r.record.state))
        }

        /// The number of records in every phase.
        ///
        /// ```
        /// # use kevy_scope::MoveTable;
        /// assert_eq!(MoveTable::<2>::new().len(), 0);
        /// ```
        #[must_use]
        pub fn len(&self) -> usize {
            self.records().count()
        }

        /// Whether there are no records.
        ///
        /// ```
        /// # use kevy_scope::MoveTable;
        /// assert!(MoveTable::<2>::new().is_empty());
        /// ```
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.records().next().is_none()
        }
    };
}
#[cfg(feature = "alloc")]
pub(crate) use record_api;

impl<const M: usize> MoveTable<M> {
    /// An empty table.
    ///
    /// ```
    /// # use kevy_scope::MoveTable;
    /// static EMPTY: MoveTable<4> = MoveTable::new();
    /// assert!(EMPTY.is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            records: heapless::Vec::new(),
            sieve: Sieve::NONE,
        }
    }

    record_api!();
}

impl<const M: usize> fmt::Debug for MoveTable<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_records(self, f)
    }
}

pub(crate) fn debug_records<S: MoveRecords>(store: &S, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut list = f.debug_list();
    for r in store.records() {
        list.entry(&(
            Lossy(r.prefix),
            r.record.phase,
            r.record.epoch.get(),
            &r.record.state,
        ));
    }
    list.finish()
}

#[cfg(feature = "defmt")]
impl<const M: usize> defmt::Format for MoveTable<M> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[");
        for r in self.records() {
            defmt::write!(
                f,
                "({=[u8]:a}, {}, epoch {=u32}, {} -> {}) ",
                r.prefix,
                r.record.phase,
                r.record.epoch.get(),
                r.record.state.from,
                r.record.state.to
            );
        }
        defmt::write!(f, "]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record::new(
            Phase::Moving,
            Epoch::new(1),
            Handover::new("A", "B").unwrap(),
        )
    }

    /// Every string of up to `max` bytes over `a`, `b`, `"` and `:` (`b`
    /// and `"` share their low five bits, so the sieve's bits collide too).
    fn strings(max: usize) -> std::vec::Vec<std::vec::Vec<u8>> {
        let mut all = std::vec![std::vec::Vec::new()];
        let mut from = 0;
        for _ in 0..max {
            let to = all.len();
            for i in from..to {
                for b in [b'a', b'b', b'"', b':'] {
                    let mut s = all[i].clone();
                    s.push(b);
                    all.push(s);
                }
            }
            from = to;
        }
        all
    }

    /// Every key a record matches passes the sieve, for every set of up to
    /// three prefixes of up to two bytes (the empty one too), built by
    /// inserts and then thinned by `retain`; and the sieve turns away some
    /// keys whenever no record is empty.
    #[test]
    fn the_sieve_passes_every_key_a_record_matches() {
        let prefixes = strings(2);
        let keys = strings(3);
        let mut turned_away = 0;
        for (i, a) in prefixes.iter().enumerate() {
            for (j, b) in prefixes.iter().enumerate().skip(i) {
                for c in prefixes.iter().skip(j) {
                    let mut table = MoveTable::<3>::new();
                    for p in [a, b, c] {
                        table.insert(p, record()).unwrap();
                    }
                    for drop in [None, Some(a), Some(c)] {
                        let mut t = table.clone();
                        if let Some(gone) = drop {
                            t.retain(|r| r.prefix != gone.as_slice());
                        }
                        for key in &keys {
                            let matched = t.records().any(|r| r.matches(key));
                            let passed = t.may_match(key);
                            assert!(!matched || passed, "{:?} {key:?}", t);
                            turned_away += usize::from(!passed);
                        }
                        // Where the records' bytes at the sieve's offset
                        // leave one of the 3 bit classes (`a`; `b` and `"`;
                        // `:`) free, a key as long as the shortest prefix
                        // is turned away by its bits, not its length.
                        let shortest = t.records().map(|r| r.prefix.len()).min();
                        if let Some(at) = shortest.and_then(|n| n.checked_sub(1)) {
                            let mut classes = 0u32;
                            for r in t.records() {
                                classes |= 1 << (r.prefix[at] % 32);
                            }
                            if classes.count_ones() < 3 {
                                let bits_turn_away =
                                    keys.iter().any(|k| k.len() > at && !t.may_match(k));
                                assert!(bits_turn_away, "{t:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(turned_away > 0);
    }

    #[test]
    fn the_sieve_turns_away_keys_elsewhere_and_none_with_no_records() {
        let mut t = MoveTable::<4>::new();
        assert!(!t.may_match(b"app:svc00002:eu:1"));
        assert!(!t.may_match(b""));
        for p in [b"app:svc00002:eu:", b"app:svc00004:eu:"] {
            t.insert(p, record()).unwrap();
        }
        // Byte 15 of each: `:` in both records, not in these keys.
        for key in [
            &b"app:svc00003:user:1"[..],
            b"app:svc00006:user:2",
            b"app:svc",
            b"",
        ] {
            assert!(!t.may_match(key), "{key:?}");
        }
        for key in [
            &b"app:svc00002:eu:1"[..],
            b"app:svc00004:eu:2",
            b"app:svc00009:eu:3",
        ] {
            assert!(t.may_match(key), "{key:?}");
        }
        // Byte 14 of each record is `u`: a key beside them (`us:` where
        // they hold `eu:`) is turned away there.
        for key in [&b"app:svc00002:us:1"[..], b"app:svc00004:fr:2"] {
            assert!(!t.may_match(key), "{key:?}");
        }
        // A shorter record moves the byte read to its last one.
        t.insert(b"app:", record()).unwrap();
        assert!(t.may_match(b"app:svc00003:user:1"));
        assert!(!t.may_match(b"session:1"));
        // Removing it moves it back.
        t.retain(|r| r.prefix != b"app:");
        assert!(!t.may_match(b"app:svc00003:user:1"));
        // The empty prefix holds every key.
        t.insert(b"", record()).unwrap();
        assert!(t.may_match(b"") && t.may_match(b"session:1"));
        t.retain(|_| false);
        assert!(!t.may_match(b"") && !t.may_match(b"session:1"));
        // Emptied, its offset is past any usual key; a longer key still
        // finds no bit set.
        assert!(!t.may_match(&[b':'; 300]));
        // A key exactly as long as the shortest prefix, a long prefix.
        let long = [b'x'; MAX_PREFIX_LEN];
        t.insert(&long, record()).unwrap();
        assert!(t.may_match(&long));
        assert!(!t.may_match(&long[..MAX_PREFIX_LEN - 1]));
        let mut other = long;
        other[MAX_PREFIX_LEN - 1] = b'y';
        assert!(!t.may_match(&other));
        // A full table refuses an insert and keeps its sieve.
        let mut full = MoveTable::<1>::new();
        full.insert(b"a:", record()).unwrap();
        assert!(full.insert(b"b", record()).is_err());
        assert!(full.may_match(b"a:1") && !full.may_match(b"b1"));
        // No room at all, and the derived default: nothing passes.
        assert!(!MoveTable::<0>::new().may_match(b"a:1"));
        assert!(!MoveTable::<2>::default().may_match(b"a:1"));
    }

    #[test]
    fn matches_is_starts_with() {
        let record = record();
        let prefixes: [&[u8]; 5] = [b"", b":", b"a:", b"app:svc00002:eu:", b"app:svc00004:eu:"];
        let keys: [&[u8]; 9] = [
            b"",
            b":",
            b"a",
            b"a:",
            b"a:1",
            b"b:",
            b"app:svc00002:eu:1",
            b"app:svc00004:eu:",
            b"app:svc00003:user:1",
        ];
        for prefix in prefixes {
            let r = RecordRef {
                prefix,
                record: &record,
            };
            for key in keys {
                assert_eq!(
                    r.matches(key),
                    key.starts_with(prefix),
                    "{key:?} {prefix:?}"
                );
            }
        }
    }

    #[test]
    fn reference_lifecycle() {
        let mut t = MoveTable::<4>::new();
        t.start(b"p:", "A", "B").unwrap();
        assert_eq!(t.start(b"p:", "A", "B"), Err(MoveError::AlreadyMoving));
        let st = t.commit(b"p:").unwrap();
        assert_eq!(st.to.as_str(), "B");
        assert!(t.lookup_migrating(b"p:").is_none());
        assert_eq!(t.lookup_migrated(b"p:").map(|s| s.to.as_str()), Some("B"));
        assert_eq!(t.start(b"p:", "A", "C"), Err(MoveError::AlreadyMoved));
        assert!(t.commit(b"p:").is_none());
        assert!(
            t.abort(b"p:").is_none(),
            "abort leaves committed records alone"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn longest_match_among_nested_records() {
        let mut t = MoveTable::<4>::new();
        t.start(b"app:", "A", "B").unwrap();
        t.start(b"app:billing:", "B", "C").unwrap();
        assert_eq!(
            t.match_migrating(b"app:billing:x").unwrap().from.as_str(),
            "B"
        );
        assert_eq!(t.match_migrating(b"app:auth:x").unwrap().from.as_str(), "A");
        assert!(t.match_migrating(b"ap").is_none());
        assert!(t.match_migrated(b"app:billing:x").is_none());
    }

    #[test]
    fn bad_input_is_refused_whole() {
        let mut t = MoveTable::<1>::new();
        let long = [b'x'; MAX_PREFIX_LEN + 1];
        assert_eq!(
            t.start(&long, "A", "B"),
            Err(MoveError::PrefixTooLong { len: 49, max: 48 })
        );
        assert_eq!(
            t.start(b"p", "A", ""),
            Err(MoveError::InvalidNodeId(NodeIdError::Empty))
        );
        assert!(t.start(&long[..MAX_PREFIX_LEN], "A", "B").is_ok());
        assert_eq!(
            t.start(b"q", "A", "B"),
            Err(MoveError::Full { capacity: 1 })
        );
        assert_eq!(t.len(), 1);
    }
}
