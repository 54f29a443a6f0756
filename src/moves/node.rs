//! One node's write verdict: static table, move records and this node's id,
//! composed in one place.
//!
//! # The move state machine
//!
//! A move of prefix `p` from node A to node B (MOVE-SCOPE) runs on both:
//!
//! ```text
//!  on A (source)                          on B (target)
//!  owned ──start_move──▶ migrating        (static or unscoped)
//!    ▲                    │  │                 │ begin_ingest
//!    └────abort_move──────┘  │                 ▼
//!                            │            ingesting ──abort_ingest──▶ (as before)
//!                            │                 │ finish_ingest (B answers +OK)
//!                            │ commit_move     ▼
//!                            ▼             adopted  (= owned: may move onward)
//!                       migrated
//! ```
//!
//! | state on this node | how it is entered | a write for `p` gets |
//! | --- | --- | --- |
//! | owned (static writer) | config | accepted |
//! | migrating | `start_move` on an owned prefix | `-QUIESCED migrating to <to>` |
//! | migrated | `commit_move` after the target's `+OK` | `-MISDIRECTED writer is <to>` |
//! | ingesting | `begin_ingest` (`MOVE-SCOPE-INGEST` arrives) | accepted |
//! | adopted | `finish_ingest` | accepted |
//! | not owned | config | `-MISDIRECTED` to the static writer (or its fallback) |
//!
//! `abort_move` returns migrating to owned; `abort_ingest` leaves no trace.
//! The source commits only after the target's `+OK`, and once the target
//! may have adopted (its `+OK` sent), the source must not abort: it retries
//! the commit, or both nodes would accept. An ingest window accepts client
//! writes too, as the reference server does, so an ingest that took writes
//! should finish rather than abort.
//!
//! The target adopts the prefix when its ingest finishes, so after A→B
//! commits, A redirects to B and B accepts: no redirect loop. A move back
//! B→A works the same way: A's adoption clears its own record pointing at
//! B, so no record on either node points in a circle. Records that repeat
//! what the static table already says are dropped.
//!
//! A moved prefix has no fallback on its new owner: the static table's
//! fallback applies to the static writer, until new config is pushed.
//!
//! Only an *owner* may start a move: the static writer of the scope holding
//! the prefix, or the node that adopted it, with no part of the prefix
//! already given away. A fallback standing in for a down writer owns
//! nothing it may give away.
//!
//! # Verdict order
//!
//! The most specific record of each kind wins, and kinds are consulted in
//! the reference server's order: (1) ingesting → accept; (2) migrating →
//! QUIESCED; (3) migrated or adopted → MISDIRECTED or accept; (4) the static
//! table with the writer-down state: owned or unscoped → accept, else
//! MISDIRECTED.

use core::fmt;

use crate::moves::records::{
    MigrationError, MigrationState, MoveRecords, Phase, Record, RecordRef, advance, exact,
    longest_match, remove,
};
use crate::node_id::{NodeId, NodeIdError, validate_node_id};
use crate::table::route_scope;
use crate::{OwnershipTable, Routing, Scope};

/// A static ownership table a [`Node`] can route with: an
/// [`OwnershipTable`], an `OwnershipTableBuf`, or a reference or `Arc` to
/// either.
///
/// ```
/// use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
/// let by_ref = Node::new("A", &t, MigrationTable::<1>::new()).unwrap();
/// assert!(by_ref.verdict(b"a:1", |_| false).is_accept());
/// ```
pub trait ScopeLookup {
    /// The scope `key` falls in, if any.
    ///
    /// ```
    /// use kevy_scope::{OwnershipTable, Scope, ScopeLookup};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.scope_for(b"a:1").map(|s| s.writer()), Some("w"));
    /// ```
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>>;
}

impl<const N: usize> ScopeLookup for OwnershipTable<'_, N> {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.lookup(key).copied()
    }
}

#[cfg(feature = "alloc")]
impl ScopeLookup for crate::OwnershipTableBuf {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.lookup(key)
    }
}

impl<T: ScopeLookup + ?Sized> ScopeLookup for &T {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        (**self).scope_for(key)
    }
}

#[cfg(feature = "alloc")]
impl<T: ScopeLookup + ?Sized> ScopeLookup for alloc::sync::Arc<T> {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        (**self).scope_for(key)
    }
}

/// What a node does with a write.
///
/// ```
/// use kevy_scope::WriteVerdict;
/// let v = WriteVerdict::Quiesced { to: "server-eu-1" };
/// assert!(!v.is_accept());
/// assert_eq!(v.target(), Some("server-eu-1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteVerdict<'n> {
    /// Apply the write here.
    Accept,
    /// Answer `-MISDIRECTED writer is <to's address>`.
    Misdirected {
        /// The node that accepts this key.
        to: &'n str,
    },
    /// Answer `-QUIESCED migrating to <to's address>`; the client retries.
    Quiesced {
        /// The node the key's prefix is moving to.
        to: &'n str,
    },
}

impl<'n> WriteVerdict<'n> {
    /// Whether the write is applied here.
    ///
    /// ```
    /// # use kevy_scope::WriteVerdict;
    /// assert!(WriteVerdict::Accept.is_accept());
    /// ```
    #[must_use]
    pub const fn is_accept(&self) -> bool {
        matches!(self, Self::Accept)
    }

    /// The node the client is sent to, unless accepted.
    ///
    /// ```
    /// # use kevy_scope::WriteVerdict;
    /// assert_eq!(WriteVerdict::Misdirected { to: "b" }.target(), Some("b"));
    /// assert_eq!(WriteVerdict::Accept.target(), None);
    /// ```
    #[must_use]
    pub const fn target(&self) -> Option<&'n str> {
        match self {
            Self::Accept => None,
            Self::Misdirected { to } | Self::Quiesced { to } => Some(*to),
        }
    }
}

/// One kevy node: its id, its static ownership table `T` and its move
/// records `R` ([`MigrationTable`](crate::MigrationTable) on a device).
///
/// ```
/// use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope, WriteVerdict};
///
/// let table = OwnershipTable::from_array([Scope::new(b"app:billing:", "A")]).unwrap();
/// let mut a = Node::new("A", &table, MigrationTable::<4>::new()).unwrap();
/// let mut b = Node::new("B", &table, MigrationTable::<4>::new()).unwrap();
/// let key = b"app:billing:invoice:1";
/// let up = |_: &str| false;
///
/// a.start_move(b"app:billing:", "B")?;
/// assert_eq!(a.verdict(key, up), WriteVerdict::Quiesced { to: "B" });
/// b.begin_ingest(b"app:billing:", "A")?;
/// assert!(b.verdict(key, up).is_accept());
/// b.finish_ingest(b"app:billing:")?;
/// a.commit_move(b"app:billing:");
/// assert_eq!(a.verdict(key, up), WriteVerdict::Misdirected { to: "B" });
/// assert!(b.verdict(key, up).is_accept()); // adopted: no loop back to A
/// # Ok::<(), kevy_scope::MigrationError>(())
/// ```
#[derive(Clone)]
pub struct Node<T, R> {
    id: NodeId,
    table: T,
    moves: R,
}

/// The most specific record of each kind matching one key.
#[derive(Default)]
struct Matches<'r> {
    ingesting: Option<RecordRef<'r>>,
    migrating: Option<RecordRef<'r>>,
    settled: Option<RecordRef<'r>>,
}

impl<'r> Matches<'r> {
    /// One pass over the records, keeping the longest match of each kind.
    #[inline]
    fn of<R: MoveRecords>(moves: &'r R, key: &[u8]) -> Self {
        let mut m = Self::default();
        for r in moves.records() {
            if !r.matches(key) {
                continue;
            }
            let slot = match r.record.phase {
                Phase::Ingesting => &mut m.ingesting,
                Phase::Migrating => &mut m.migrating,
                Phase::Migrated | Phase::Adopted => &mut m.settled,
            };
            if slot.is_none_or(|best| best.prefix.len() < r.prefix.len()) {
                *slot = Some(r);
            }
        }
        m
    }
}

/// Who accepts writes for a whole region, judged from settled records and
/// the static table only.
enum Owner<'n> {
    This,
    Other(&'n str),
    Nobody,
}

impl<T: ScopeLookup, R: MoveRecords> Node<T, R> {
    /// A node named `id` routing with `table` and keeping its move records
    /// in `moves`.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable};
    /// assert!(Node::new("", OwnershipTable::<1>::new(), MigrationTable::<1>::new()).is_err());
    /// ```
    pub fn new(id: &str, table: T, moves: R) -> Result<Self, NodeIdError> {
        Ok(Self {
            id: NodeId::new(id)?,
            table,
            moves,
        })
    }

    /// This node's id.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MigrationTable::<1>::new()).unwrap();
    /// assert_eq!(n.id(), "A");
    /// ```
    #[must_use]
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The static table.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MigrationTable::<1>::new()).unwrap();
    /// assert!(n.table().is_empty());
    /// ```
    #[must_use]
    pub fn table(&self) -> &T {
        &self.table
    }

    /// The move records.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MigrationTable::<1>::new()).unwrap();
    /// assert!(n.moves().is_empty());
    /// ```
    #[must_use]
    pub fn moves(&self) -> &R {
        &self.moves
    }

    /// The verdict for a write of `key` on this node; `is_writer_down`
    /// tells which static writers the quorum service flags down.
    /// No allocation; one pass over the move records and one binary search
    /// of the static table.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope, WriteVerdict};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A").with_fallback("F")]).unwrap();
    /// let f = Node::new("F", &t, MigrationTable::<1>::new()).unwrap();
    /// assert_eq!(f.verdict(b"a:1", |_| false), WriteVerdict::Misdirected { to: "A" });
    /// assert_eq!(f.verdict(b"a:1", |id| id == "A"), WriteVerdict::Accept);
    /// assert_eq!(f.verdict(b"other", |_| false), WriteVerdict::Accept);
    /// ```
    pub fn verdict(
        &self,
        key: &[u8],
        is_writer_down: impl FnMut(&str) -> bool,
    ) -> WriteVerdict<'_> {
        let m = Matches::of(&self.moves, key);
        if m.ingesting.is_some() {
            return WriteVerdict::Accept;
        }
        if let Some(r) = m.migrating {
            return WriteVerdict::Quiesced {
                to: r.record.state.to.as_str(),
            };
        }
        if let Some(r) = m.settled {
            return match r.record.phase {
                Phase::Migrated => WriteVerdict::Misdirected {
                    to: r.record.state.to.as_str(),
                },
                _ => WriteVerdict::Accept,
            };
        }
        match route_scope(self.table.scope_for(key), self.id(), is_writer_down) {
            Routing::Misdirected { target } => WriteVerdict::Misdirected { to: target },
            _ => WriteVerdict::Accept,
        }
    }

    /// Starts moving `prefix` from this node to `to` (the source side of
    /// MOVE-SCOPE): writes for it answer `-QUIESCED` until commit or abort.
    ///
    /// Refused unless this node owns the whole prefix (see the module
    /// docs), and on bad input or a full record table.
    ///
    /// ```
    /// # use kevy_scope::{MigrationError, MigrationTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MigrationTable::<2>::new()).unwrap();
    /// assert_eq!(b.start_move(b"a:", "C"), Err(MigrationError::NotOwner));
    /// let mut a = Node::new("A", &t, MigrationTable::<2>::new()).unwrap();
    /// assert_eq!(a.start_move(b"a:", "A"), Err(MigrationError::SameNode));
    /// assert_eq!(a.start_move(b"a:x:", "B"), Ok(())); // a sub-prefix
    /// ```
    pub fn start_move(&mut self, prefix: &[u8], to: &str) -> Result<(), MigrationError> {
        validate_node_id(to).map_err(MigrationError::InvalidNodeId)?;
        if to == self.id() {
            return Err(MigrationError::SameNode);
        }
        self.refuse_overlap_in_flight(prefix, true)?;
        if let Some(r) = self.settled_for_region(prefix, None)
            && r.prefix == prefix
            && r.record.phase == Phase::Migrated
        {
            return Err(MigrationError::AlreadyMigrated);
        }
        if !self.owns_whole(prefix) {
            return Err(MigrationError::NotOwner);
        }
        let state = MigrationState::new(self.id(), to)?;
        self.moves
            .insert(prefix, Record::new(Phase::Migrating, state))
    }

    /// Commits the in-flight move of `prefix` once the target answered
    /// `+OK`: writes for it now answer `-MISDIRECTED` to the target.
    /// Returns the move, or `None` when none was in flight.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MigrationTable::<2>::new()).unwrap();
    /// assert!(a.commit_move(b"a:").is_none());
    /// a.start_move(b"a:", "B").unwrap();
    /// assert_eq!(a.commit_move(b"a:").map(|m| m.to), Some("B".parse().unwrap()));
    /// ```
    pub fn commit_move(&mut self, prefix: &[u8]) -> Option<MigrationState> {
        let state = advance(&mut self.moves, prefix, Phase::Migrating, Phase::Migrated)?;
        // Adoptions inside the prefix went with it.
        self.moves
            .retain(|r| !(r.record.phase == Phase::Adopted && r.prefix.starts_with(prefix)));
        self.prune();
        Some(state)
    }

    /// Abandons the in-flight move of `prefix`: this node accepts writes
    /// for it again. Returns the move, or `None` when none was in flight.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MigrationTable::<2>::new()).unwrap();
    /// a.start_move(b"a:", "B").unwrap();
    /// assert!(a.abort_move(b"a:").is_some());
    /// assert!(a.verdict(b"a:1", |_| false).is_accept());
    /// ```
    pub fn abort_move(&mut self, prefix: &[u8]) -> Option<MigrationState> {
        remove(&mut self.moves, prefix, Phase::Migrating)
    }

    /// Opens the ingest window for `prefix` arriving from `from` (the
    /// target side of MOVE-SCOPE): writes for it are accepted although the
    /// static table names another writer.
    ///
    /// ```
    /// # use kevy_scope::{MigrationError, MigrationTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MigrationTable::<2>::new()).unwrap();
    /// b.begin_ingest(b"a:", "A")?;
    /// assert!(b.verdict(b"a:1", |_| false).is_accept());
    /// assert_eq!(b.begin_ingest(b"a:", "A"), Err(MigrationError::AlreadyIngesting));
    /// # Ok::<(), MigrationError>(())
    /// ```
    pub fn begin_ingest(&mut self, prefix: &[u8], from: &str) -> Result<(), MigrationError> {
        validate_node_id(from).map_err(MigrationError::InvalidNodeId)?;
        if from == self.id() {
            return Err(MigrationError::SameNode);
        }
        self.refuse_overlap_in_flight(prefix, false)?;
        // An adoption of this very prefix stays until it moves on whole:
        // replacing it here would lose it if the ingest were aborted.
        let adopted = exact(&self.moves, prefix, Phase::Adopted).is_some();
        if adopted || self.owns_whole(prefix) {
            return Err(MigrationError::AlreadyOwner);
        }
        let state = MigrationState::new(from, self.id())?;
        self.moves
            .insert(prefix, Record::new(Phase::Ingesting, state))
    }

    /// Closes the ingest window of `prefix`: this node adopts it and
    /// accepts its writes from now on. Records inside the prefix that it
    /// supersedes are dropped.
    ///
    /// ```
    /// # use kevy_scope::{MigrationError, MigrationTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MigrationTable::<2>::new()).unwrap();
    /// assert_eq!(b.finish_ingest(b"a:"), Err(MigrationError::NotIngesting));
    /// b.begin_ingest(b"a:", "A")?;
    /// b.finish_ingest(b"a:")?;
    /// assert!(b.verdict(b"a:1", |_| false).is_accept());
    /// # Ok::<(), MigrationError>(())
    /// ```
    pub fn finish_ingest(&mut self, prefix: &[u8]) -> Result<MigrationState, MigrationError> {
        let state = advance(&mut self.moves, prefix, Phase::Ingesting, Phase::Adopted)
            .ok_or(MigrationError::NotIngesting)?;
        self.moves.retain(|r| {
            let inside = r.prefix.starts_with(prefix);
            let superseded = match r.record.phase {
                Phase::Migrated => inside,
                Phase::Adopted => inside && r.prefix.len() > prefix.len(),
                _ => false,
            };
            !superseded
        });
        self.prune();
        Ok(state)
    }

    /// Abandons the ingest window of `prefix`, leaving no trace. Returns
    /// the ingest, or `None` when none was under way.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTable, Node, OwnershipTable, Scope, WriteVerdict};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MigrationTable::<2>::new()).unwrap();
    /// b.begin_ingest(b"a:", "A").unwrap();
    /// assert!(b.abort_ingest(b"a:").is_some());
    /// assert_eq!(b.verdict(b"a:1", |_| false), WriteVerdict::Misdirected { to: "A" });
    /// assert!(b.moves().is_empty());
    /// ```
    pub fn abort_ingest(&mut self, prefix: &[u8]) -> Option<MigrationState> {
        remove(&mut self.moves, prefix, Phase::Ingesting)
    }

    /// Refuses a prefix that nests with (or equals) a move in flight here.
    fn refuse_overlap_in_flight(
        &self,
        prefix: &[u8],
        outgoing: bool,
    ) -> Result<(), MigrationError> {
        for r in self.moves.records() {
            let phase = r.record.phase;
            if !matches!(phase, Phase::Migrating | Phase::Ingesting) {
                continue;
            }
            let nests = prefix.starts_with(r.prefix) || r.prefix.starts_with(prefix);
            if !nests {
                continue;
            }
            return Err(match (r.prefix == prefix, phase, outgoing) {
                (true, Phase::Migrating, true) => MigrationError::AlreadyMigrating,
                (true, Phase::Ingesting, false) => MigrationError::AlreadyIngesting,
                _ => MigrationError::OverlapsMoveInFlight,
            });
        }
        Ok(())
    }

    /// The most specific migrated or adopted record covering all of
    /// `prefix`, passing over `skip` (a record being judged for redundancy).
    fn settled_for_region(
        &self,
        prefix: &[u8],
        skip: Option<(&[u8], Phase)>,
    ) -> Option<RecordRef<'_>> {
        longest_match(&self.moves, prefix, |r| {
            matches!(r.record.phase, Phase::Migrated | Phase::Adopted)
                && skip != Some((r.prefix, r.record.phase))
        })
    }

    /// Who accepts all of `prefix`, ignoring in-flight windows, fallbacks,
    /// and `skip` (a record being judged for redundancy).
    fn owner_of_region(&self, prefix: &[u8], skip: Option<(&[u8], Phase)>) -> Owner<'_> {
        match self.settled_for_region(prefix, skip) {
            Some(r) if r.record.phase == Phase::Adopted => Owner::This,
            Some(r) => Owner::Other(r.record.state.to.as_str()),
            None => match self.table.scope_for(prefix) {
                Some(scope) if scope.writer() == self.id() => Owner::This,
                Some(scope) => Owner::Other(scope.writer()),
                None => Owner::Nobody,
            },
        }
    }

    /// Whether this node owns every key under `prefix`.
    fn owns_whole(&self, prefix: &[u8]) -> bool {
        let given_away_inside = self.moves.records().any(|r| {
            r.record.phase == Phase::Migrated
                && r.prefix.len() > prefix.len()
                && r.prefix.starts_with(prefix)
        });
        !given_away_inside && matches!(self.owner_of_region(prefix, None), Owner::This)
    }

    /// Drops settled records that say what the records around them, or the
    /// static table, already say; bounded memory stays free for new moves.
    fn prune(&mut self) {
        loop {
            let redundant = self.moves.records().find_map(|r| {
                let without = self.owner_of_region(r.prefix, Some((r.prefix, r.record.phase)));
                let same = match (r.record.phase, without) {
                    (Phase::Adopted, Owner::This) => true,
                    (Phase::Migrated, Owner::Other(to)) => to == r.record.state.to.as_str(),
                    _ => false,
                };
                if !same {
                    return None;
                }
                R::owned_prefix(r.prefix).map(|prefix| (prefix, r.record.phase))
            });
            let Some((prefix, phase)) = redundant else {
                return;
            };
            remove(&mut self.moves, prefix.as_ref(), phase);
        }
    }
}

impl<T, R: fmt::Debug> fmt::Debug for Node<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("moves", &self.moves)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl<T, R: defmt::Format> defmt::Format for Node<T, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Node {{ id: {}, moves: {} }}", self.id, self.moves);
    }
}
