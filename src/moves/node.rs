//! One node's write verdict and both sides of a move, epoch-stamped and
//! safe under crashes, lost or repeated messages and stray commands.
//!
//! # What a node knows
//!
//! Its static table (epoch 0) and its records: one per prefix, each with
//! the [`Epoch`] of the change it tells of. For a key, the matching record
//! with the highest epoch is the newest news and decides. Only a prefix's
//! owner starts a move of it, with an epoch above every epoch it has used or adopted,
//! so the changes of one key carry rising epochs and no election is
//! needed. A redirect always points at a node whose news of the key is at
//! least as new, so redirects cannot go in a circle.
//!
//! # A move of prefix `p` from A to B
//!
//! ```text
//!  A (source)                      F (A's fallback)          B (target)
//!  start_move ──▶ migrating
//!   persist
//!   InFlight ──────────────────▶ learn: pending
//!                                 persist, ack
//!   MOVE-SCOPE-INGEST ─────────────────────────────────────▶ check_ingest, apply keys,
//!                                                             adopt, persist, +OK
//!   commit_move ◀─────────────────────────────────────────── +OK
//!   persist; Committed ────────▶ learn (and every peer)
//!
//!  no +OK? A asks B: move_outcome ──▶ B: adopted → Committed;
//!          otherwise B fences the epoch off, persists → Aborted
//!  A: resolve_move with the answer (the only way to abort)
//! ```
//!
//! | state on this node | how it is entered | a write for `p` gets |
//! | --- | --- | --- |
//! | owned (static writer) | config | accepted |
//! | migrating | `start_move` on an owned prefix | `-QUIESCED migrating to <to>` |
//! | migrated | `commit_move`/`resolve_move`, or learned news | `-MISDIRECTED writer is <owner>` |
//! | adopted | `adopt`, or a move of its own aborted | accepted |
//! | pending | learned `InFlight` news | `-MISDIRECTED writer is <from>` (`-QUIESCED migrating to <to>` while `from` is down); no stand-in |
//! | not owned | config | `-MISDIRECTED` to the static writer (or its fallback) |
//!
//! The target never accepts a client write for `p` before it adopts: the
//! server applies the shipped keys between [`Node::check_ingest`] and
//! [`Node::adopt`], and client writes meanwhile are redirected to A, which
//! answers QUIESCED.
//!
//! # Fallbacks
//!
//! A fallback stands in for a down writer only where its newest news
//! names that writer as the owner and no move is pending. The source of a
//! move tells its scope's fallback (`Started::prepare`) before it ships a
//! key, so a fallback never accepts what its writer gave away.
//!
//! # Refusals
//!
//! A step older than what the node knows ([`MoveError::Stale`]), an
//! ingest from a node that is not the owner as far as it knows, or news
//! of another node moving a prefix it owns
//! ([`MoveError::SenderNotOwner`]), and a step addressed to another
//! node ([`MoveError::WrongTarget`]) change nothing. A repeated step
//! gives the same answer again and changes nothing. Newer news is taken
//! from whoever brings it: it is a fact its source vouched for, and it
//! can only send clients to a newer owner.

use core::fmt;

use crate::moves::messages::{Announcement, Durable, Epoch, Ingest, MoveId, MoveStatus, Outcome};
use crate::moves::records::{
    Handover, MoveError, MoveRecords, Phase, Record, RecordRef, check_prefix,
};
use crate::table::ScopeTable;
use crate::table::node_id::{NodeId, NodeIdError, validate_node_id};
use crate::table::route_scope;
use crate::table::transaction::CrossScopeError;
use crate::table::{Routing, Scope};

/// What a node does with a write.
///
/// ```
/// use kevy_scope::WriteVerdict;
/// let v = WriteVerdict::Quiesced { target: "server-eu-1" };
/// assert!(!v.is_accept());
/// assert_eq!(v.target(), Some("server-eu-1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteVerdict<'n> {
    /// Apply the write here.
    Accept,
    /// Answer `-MISDIRECTED writer is <target's address>`. The field is
    /// named as in [`Routing::Misdirected`] (earlier versions of this crate
    /// named it `to`).
    Misdirected {
        /// The node that accepts this key.
        target: &'n str,
    },
    /// Answer `-QUIESCED migrating to <target's address>`; the client
    /// retries.
    Quiesced {
        /// The node the key's prefix is moving to.
        target: &'n str,
    },
    /// This node's ownership records could not be restored: it accepts no
    /// scoped write until it has recovered them from its peers, and names
    /// no other node (a guess could send the client in a circle). Answer
    /// `-TRYAGAIN`.
    Unavailable,
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
    /// assert_eq!(WriteVerdict::Misdirected { target: "b" }.target(), Some("b"));
    /// assert_eq!(WriteVerdict::Accept.target(), None);
    /// ```
    #[must_use]
    pub const fn target(&self) -> Option<&'n str> {
        match self {
            Self::Accept | Self::Unavailable => None,
            Self::Misdirected { target: to } | Self::Quiesced { target: to } => Some(*to),
        }
    }
}

/// One kevy node: its id, its static ownership table `T`, its move
/// records `R` ([`MoveTable`](crate::moves::MoveTable) on a device) and
/// the highest epoch it has used, adopted or fenced off.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, WriteVerdict};
///
/// let table = OwnershipTable::from_array([Scope::new(b"app:billing:", "A")]).unwrap();
/// let mut a = Node::new("A", &table, MoveTable::<4>::new()).unwrap();
/// let mut b = Node::new("B", &table, MoveTable::<4>::new()).unwrap();
/// let key = b"app:billing:invoice:1";
/// let up = |_: &str| false;
///
/// let epoch = a.start_move(b"app:billing:", "B")?.into_inner().epoch; // persist A, then ship
/// assert_eq!(a.verdict(key, up), WriteVerdict::Quiesced { target: "B" });
/// let id = kevy_scope::moves::MoveId { prefix: b"app:billing:", from: "A", to: "B", epoch };
/// b.check_ingest(&id)?; // then apply the shipped keys
/// let _ = b.adopt(&id)?; // persist B, then answer +OK
/// let _ = a.commit_move(b"app:billing:", epoch)?; // persist A, then announce
/// assert_eq!(a.verdict(key, up), WriteVerdict::Misdirected { target: "B" });
/// assert!(b.verdict(key, up).is_accept()); // adopted: no loop back to A
/// # Ok::<(), kevy_scope::moves::MoveError>(())
/// ```
#[derive(Clone)]
pub struct Node<T, R> {
    pub(crate) id: NodeId,
    pub(crate) table: T,
    pub(crate) moves: R,
    /// The highest epoch this node has used, adopted or fenced off. Every
    /// ingest must exceed it (and the node's newest news of its prefix).
    pub(crate) seen: Epoch,
    /// Set when the records could not be restored.
    pub(crate) quarantined: bool,
    /// The last peer that recovered ([`Node::fence`]), by [`peer_tag`],
    /// and the fence it asked (`Epoch::ZERO`: none yet). News that peer
    /// sends of a move below its fence, which this node does not hold,
    /// is from before it lost its records, and refused.
    pub(crate) fenced_by: u32,
    pub(crate) fenced_at: Epoch,
}

/// A node id in 4 bytes (FNV-1a), to remember which peer recovered
/// without a 33-byte id in RAM. Two ids of one tag would only make a
/// node refuse old news it does not hold from the other one too, which
/// never makes a second acceptor (news only redirects).
pub(crate) fn peer_tag(id: &str) -> u32 {
    id.bytes().fold(0x811C_9DC5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A move this node started: its epoch, and the fallback that must learn
/// of it (an [`Announcement`] with [`MoveStatus::InFlight`], persisted and
/// acknowledged there) before any key is shipped.
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A").with_fallback("F")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
/// let started = a.start_move(b"a:x:", "B").unwrap().into_inner();
/// assert_eq!(started.prepare.as_ref().map(|f| f.as_str()), Some("F"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Started {
    /// The move's epoch.
    pub epoch: Epoch,
    /// The scope's fallback, to be told before shipping.
    pub prepare: Option<NodeId>,
}

/// What a node knows of a whole prefix: the newest record covering it, or
/// the static table.
struct Region<'n> {
    owner: Option<&'n str>,
    epoch: Epoch,
    record: Option<RecordRef<'n>>,
}

/// A copy of `id`. One copy of the code, out of line: each clone of a
/// node id in line copied its bytes in and out again (flash).
#[inline(never)]
fn copy_id(id: &NodeId) -> NodeId {
    id.clone()
}

/// Whether `news` is the abort of the move `r` tells the commit of: the
/// source's word, which beats a commit only a target that lost its
/// records since can have told (it answers the source's outcome query
/// with the abort once it recovers).
/// An adoption counts only while recovering: a healthy node never gives
/// up what it adopted on news.
fn aborts(r: RecordRef<'_>, news: &Announcement<'_>, adopted_too: bool) -> bool {
    let state = &r.record.state;
    let took = r.record.phase == Phase::Moved || (adopted_too && r.record.phase == Phase::Adopted);
    let committed = took && state.from != state.to;
    committed && news.status == MoveStatus::Aborted && state.from.as_str() == news.id.from
}

/// The newer of two records by epoch, then by prefix length.
fn newer<'r>(best: Option<RecordRef<'r>>, r: RecordRef<'r>) -> Option<RecordRef<'r>> {
    match best {
        Some(b) if (b.record.epoch, b.prefix.len()) >= (r.record.epoch, r.prefix.len()) => Some(b),
        _ => Some(r),
    }
}

impl<T: ScopeTable, R: MoveRecords> Node<T, R> {
    /// A node named `id` routing with `table` and keeping its move records
    /// in `moves` (a first boot; after a restart use
    /// [`Node::restore`](Node::restore)).
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// assert!(Node::new("", OwnershipTable::<1>::new(), MoveTable::<1>::new()).is_err());
    /// ```
    pub fn new(id: &str, table: T, moves: R) -> Result<Self, NodeIdError> {
        Ok(Self {
            id: NodeId::new(id)?,
            table,
            moves,
            seen: Epoch::ZERO,
            quarantined: false,
            fenced_by: 0,
            fenced_at: Epoch::ZERO,
        })
    }

    /// A node whose records could not be restored: it accepts no scoped
    /// write and refuses every move step until it has recovered what it
    /// knew from its peers ([`Driver`](crate::driver::Driver), "Recovery").
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, WriteVerdict};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let a = Node::quarantined("A", &t, MoveTable::<1>::new()).unwrap();
    /// assert_eq!(a.verdict(b"a:1", |_| false), WriteVerdict::Unavailable);
    /// assert!(a.verdict(b"free", |_| false).is_accept());
    /// ```
    pub fn quarantined(id: &str, table: T, moves: R) -> Result<Self, NodeIdError> {
        let mut node = Self::new(id, table, moves)?;
        node.quarantined = true;
        Ok(node)
    }

    /// Leaves quarantine at the end of recovery: epochs from now on are
    /// above `fence` and above everything the node knows. The driver
    /// calls it once every peer has fenced and told what it knows
    /// ([`Driver`](crate::driver::Driver), "Recovery"); persist before the node
    /// answers a peer (a write it accepts meanwhile is safe: a crash
    /// before the image is on storage only recovers again).
    pub(crate) fn end_recovery(&mut self, fence: Epoch) -> Durable<()> {
        while let Some((from, epoch)) = self.adopted_in_doubt() {
            let me = &self.id;
            self.moves.update(|r| {
                let this = r.phase == Phase::Pending && r.epoch == epoch;
                if this && r.state.to == *me && r.state.from == from {
                    r.phase = Phase::Adopted;
                }
            });
        }
        let seen = self.known_epoch().max(fence);
        let changed = self.quarantined || seen > self.seen;
        self.quarantined = false;
        self.seen = seen;
        if changed {
            Durable::changed(())
        } else {
            Durable::unchanged(())
        }
    }

    /// A move to this node that no peer reported ended (the newest news of
    /// its prefix), with newer news of this node moving a part of the
    /// prefix: it could move a part only by owning it, and had it the part
    /// from its source after an abort, the source would have reported the
    /// abort. So this node adopted the move before it lost its records.
    fn adopted_in_doubt(&self) -> Option<(NodeId, Epoch)> {
        let me = self.id();
        let pending = self.moves.records().find(|p| {
            p.record.phase == Phase::Pending
                && p.record.state.to.as_str() == me
                && self.moves.records().any(|r| {
                    r.prefix.len() > p.prefix.len()
                        && r.prefix.starts_with(p.prefix)
                        && r.record.epoch > p.record.epoch
                        && r.record.state.from.as_str() == me
                })
        })?;
        Some((copy_id(&pending.record.state.from), pending.record.epoch))
    }

    /// The fence a recovering node asks its peers for, once `heard` is the
    /// highest epoch any of them knows ([`Node::known_epoch`]): above
    /// every epoch this node can have used before it lost its records.
    /// Its moves ended or known to a peer are at or below `heard`; those
    /// in flight that no peer heard of were started one after another
    /// above it, at most `MAX_IN_FLIGHT` of them.
    pub(crate) fn recovery_fence(&self, heard: Epoch) -> Result<Epoch, MoveError> {
        heard
            .max(self.known_epoch())
            .get()
            .checked_add(R::MAX_IN_FLIGHT)
            .and_then(|e| e.checked_add(1))
            .map(Epoch::new)
            .ok_or(MoveError::EpochExhausted)
    }

    /// Learns, while quarantined, one item of a peer's [`Node::news`]:
    /// the newest news of each prefix wins, and news of this node's own
    /// moves and of what it adopted is taken too (which [`Node::learn`]
    /// refuses: outside recovery, a node knows those first-hand). A move
    /// of its own reported in flight is in flight again, and is resolved
    /// through its target once recovery ends.
    // Out of line: flash (measured on a Cortex-M0).
    #[inline(never)]
    pub(crate) fn recover(&mut self, news: &Announcement<'_>) -> Result<Durable<()>, MoveError> {
        let id = news.id;
        check_prefix::<R>(id.prefix)?;
        let mut state = Handover::new(id.from, id.to)?;
        if !self.quarantined || id.epoch == Epoch::ZERO {
            return Ok(Durable::unchanged(()));
        }
        let me = self.id();
        // The phase alone per status: the ids are copied once.
        let phase = match news.status {
            MoveStatus::InFlight if id.from == me => Phase::Moving,
            MoveStatus::InFlight => Phase::Pending,
            MoveStatus::Committed if id.to == me => Phase::Adopted,
            MoveStatus::Committed => Phase::Moved,
            MoveStatus::Aborted if id.from == me => Phase::Adopted,
            MoveStatus::Aborted => Phase::Moved,
        };
        if news.status == MoveStatus::Aborted {
            // Back to its source (this node, when `from` is it).
            state.to = copy_id(&state.from);
        }
        let region = self.region(id.prefix);
        if region.epoch > id.epoch {
            return Ok(Durable::unchanged(()));
        }
        if region.epoch == id.epoch {
            let open = |p: Phase| matches!(p, Phase::Moving | Phase::Pending);
            match region.record.filter(|r| r.prefix == id.prefix) {
                // Its end, told by another peer, replaces a move in flight.
                Some(r) if open(r.record.phase) && !open(phase) => {}
                Some(r) if aborts(r, news, true) => {}
                _ => return Ok(Durable::unchanged(())),
            }
        }
        self.settle(id.prefix, Record::new(phase, id.epoch, state))?;
        Ok(Durable::changed(()))
    }

    /// Peer `from` lost its records and recovers above `epoch`: from now
    /// on this node refuses every ingest, and every news of a move to it,
    /// at or below `epoch`, so no move `from` started before it lost its
    /// records can land here. And this node's moves to `from` in flight
    /// below `epoch` are in doubt: `from` may have adopted one and answered
    /// `+OK` before it lost its records, but it cannot adopt one any more,
    /// so a `Committed` for such a move counts only as the answer to a
    /// question asked after this fence (`Request::Recheck`, which the
    /// driver sends for it); an earlier `+OK` or `Committed` may be from
    /// before the loss, and [`Node::resolve_move`] refuses it as
    /// [`MoveError::TargetRecovered`]. The node also remembers `from` and
    /// its fence (for the last peer that recovered, in 8 bytes of RAM and
    /// image): [`Node::learn`] refuses news `from` sent before it lost its
    /// records of the abort of a move this node does not hold. Persist (when asked to) before answering with
    /// [`Node::news`].
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope, moves::{MoveError, MoveId, Outcome}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A"), Scope::new(b"c:", "C")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let epoch = a.start_move(b"a:", "B")?.into_inner().epoch;
    /// // B lost its records; its recovery fences A.
    /// assert!(a.fence("B", Epoch::new(9))?.must_persist());
    /// // Nothing at or below the fence lands here any more.
    /// let late = MoveId { prefix: b"c:", from: "C", to: "A", epoch: Epoch::new(9) };
    /// assert!(matches!(a.check_ingest(&late), Err(MoveError::Stale { .. })));
    /// // B's +OK from before it lost its records no longer commits A's move.
    /// assert_eq!(a.commit_move(b"a:", epoch), Err(MoveError::TargetRecovered));
    /// let _ = a.resolve_move(b"a:", epoch, Outcome::Aborted { fence: Epoch::new(9) })?;
    /// # Ok::<(), MoveError>(())
    /// ```
    pub fn fence(&mut self, from: &str, epoch: Epoch) -> Result<Durable<()>, MoveError> {
        self.refuse_quarantine()?;
        validate_node_id(from).map_err(MoveError::InvalidNodeId)?;
        let mut changed = epoch > self.seen;
        self.seen = self.seen.max(epoch);
        let tag = peer_tag(from);
        if epoch > self.fenced_at || (epoch == self.fenced_at && tag != self.fenced_by) {
            // A later recovery's fence is above an earlier one's (it is
            // above everything this node knew when it answered).
            self.fenced_by = tag;
            self.fenced_at = epoch;
            changed = true;
        }
        self.moves.update(|r| {
            if r.phase == Phase::Moving && !r.doubt && r.epoch < epoch && r.state.to == *from {
                r.doubt = true;
                changed = true;
            }
        });
        Ok(if changed {
            Durable::changed(())
        } else {
            Durable::unchanged(())
        })
    }

    /// The highest epoch this node knows of: [`Node::epoch`] and the
    /// newest news it holds. A recovering peer asks every node for it.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// assert_eq!(a.known_epoch(), Epoch::new(1));
    /// ```
    #[must_use]
    pub fn known_epoch(&self) -> Epoch {
        let newest = self.moves.records().map(|r| r.record.epoch).max();
        self.seen.max(newest.unwrap_or(Epoch::ZERO))
    }

    /// Every record as news, this node's moves in flight included: what a
    /// recovering peer learns from it after the fence.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::MoveStatus};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// assert_eq!(a.news().map(|n| n.status).collect::<Vec<_>>(), [MoveStatus::InFlight]);
    /// ```
    pub fn news(&self) -> impl Iterator<Item = Announcement<'_>> + Clone + '_ {
        self.records().map(|(phase, id)| {
            let status = match phase {
                Phase::Moving | Phase::Pending => MoveStatus::InFlight,
                Phase::Moved | Phase::Adopted if id.from == id.to => MoveStatus::Aborted,
                Phase::Moved | Phase::Adopted => MoveStatus::Committed,
            };
            Announcement { id, status }
        })
    }

    /// Whether the node's records are lost and not yet recovered.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert!(!n.is_quarantined());
    /// ```
    #[must_use]
    pub fn is_quarantined(&self) -> bool {
        self.quarantined
    }

    /// This node's id.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert_eq!(n.id(), "A");
    /// ```
    #[must_use]
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The highest epoch this node has used, adopted or fenced off: its next
    /// move takes the one after.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert_eq!(n.epoch(), Epoch::ZERO);
    /// ```
    #[must_use]
    pub fn epoch(&self) -> Epoch {
        self.seen
    }

    /// The static table.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert!(n.table().is_empty());
    /// ```
    #[must_use]
    pub fn table(&self) -> &T {
        &self.table
    }

    /// The move records.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert!(n.moves().is_empty());
    /// ```
    #[must_use]
    pub fn moves(&self) -> &R {
        &self.moves
    }

    /// The moves out of this node still in flight: after a restart, ask
    /// each target for its outcome ([`Node::move_outcome`] there) and
    /// resolve them ([`Node::resolve_move`]).
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// let open: Vec<_> = a.in_flight().map(|m| (m.prefix, m.to)).collect();
    /// assert_eq!(open, [(&b"a:"[..], "B")]);
    /// ```
    pub fn in_flight(&self) -> impl Iterator<Item = MoveId<'_>> + '_ {
        self.records()
            .filter(|(phase, _)| *phase == Phase::Moving)
            .map(|(_, id)| id)
    }

    /// Every record as the news it holds: prefix, phase, epoch, and the
    /// move's source and target (for a settled record, `to` is the owner).
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::Phase};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// assert_eq!(a.records().next().map(|(phase, m)| (phase, m.epoch.get())), Some((Phase::Moving, 1)));
    /// ```
    // Out of line: flash (measured on a Cortex-M0).
    #[inline(never)]
    pub fn records(&self) -> impl Iterator<Item = (Phase, MoveId<'_>)> + Clone + '_ {
        self.moves.records().map(|r| {
            (
                r.record.phase,
                MoveId {
                    prefix: r.prefix,
                    from: r.record.state.from.as_str(),
                    to: r.record.state.to.as_str(),
                    epoch: r.record.epoch,
                },
            )
        })
    }

    /// The news this node can vouch for, from its records alone: its own
    /// moves' ends and the moves that gave it what it adopted. After a
    /// restart (or now and then), announce them to every peer: a node that
    /// missed one learns it, and learns later news in order.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::{Announcement, MoveStatus}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let epoch = a.start_move(b"a:", "B").unwrap().into_inner().epoch;
    /// let _ = a.commit_move(b"a:", epoch).unwrap();
    /// let news: Vec<Announcement> = a.announcements().collect();
    /// assert_eq!(news.len(), 1);
    /// assert_eq!((news[0].status, news[0].id.to), (MoveStatus::Committed, "B"));
    /// ```
    pub fn announcements(&self) -> impl Iterator<Item = Announcement<'_>> + '_ {
        let me = self.id();
        self.records().filter_map(move |(phase, id)| {
            let status = match phase {
                // Its own committed move.
                Phase::Moved if id.from == me => MoveStatus::Committed,
                // Its own aborted move.
                Phase::Adopted if id.from == me => MoveStatus::Aborted,
                // The move that gave it the prefix.
                Phase::Adopted => MoveStatus::Committed,
                _ => return None,
            };
            Some(Announcement { id, status })
        })
    }

    /// The newest record matching `key`.
    #[inline]
    fn newest(&self, key: &[u8]) -> Option<RecordRef<'_>> {
        let mut best = None;
        for r in self.moves.records() {
            if r.matches(key) {
                best = newer(best, r);
            }
        }
        best
    }

    /// The verdict for a write of `key` on this node; `is_writer_down`
    /// tells which static writers the quorum service flags down.
    /// No allocation; one lookup in the static table (a hash probe for
    /// `OwnershipTable`) and, for a key the records' sieve lets through
    /// (a byte or two read; see `MoveTable`), one pass over the records.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, WriteVerdict};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A").with_fallback("F")]).unwrap();
    /// let f = Node::new("F", &t, MoveTable::<1>::new()).unwrap();
    /// assert_eq!(f.verdict(b"a:1", |_| false), WriteVerdict::Misdirected { target: "A" });
    /// assert_eq!(f.verdict(b"a:1", |id| id == "A"), WriteVerdict::Accept);
    /// assert_eq!(f.verdict(b"other", |_| false), WriteVerdict::Accept);
    /// ```
    #[inline]
    pub fn verdict(
        &self,
        key: &[u8],
        mut is_writer_down: impl FnMut(&str) -> bool,
    ) -> WriteVerdict<'_> {
        // The sieve turns most keys away before the scan (a byte or two).
        let newest = if self.moves.may_match(key) {
            self.newest(key)
        } else {
            None
        };
        let Some(r) = newest else {
            let scope = self.scope_of(key);
            if self.quarantined && scope.is_some() {
                return WriteVerdict::Unavailable;
            }
            return match route_scope(scope, self.id(), is_writer_down) {
                Routing::Misdirected { target } => WriteVerdict::Misdirected { target },
                _ => WriteVerdict::Accept,
            };
        };
        if self.quarantined {
            // Recovering: what it learned so far is not all it knew.
            return WriteVerdict::Unavailable;
        }
        let state = &r.record.state;
        match r.record.phase {
            Phase::Moving => WriteVerdict::Quiesced {
                target: state.to.as_str(),
            },
            Phase::Adopted => WriteVerdict::Accept,
            // The move's source, unless it is down: then the write waits
            // for the move as it would there.
            Phase::Pending if is_writer_down(state.from.as_str()) => WriteVerdict::Quiesced {
                target: state.to.as_str(),
            },
            Phase::Pending => WriteVerdict::Misdirected {
                target: state.from.as_str(),
            },
            Phase::Moved => {
                let owner = state.to.as_str();
                // Stand in for the static writer where the newest news
                // names it the owner again.
                let stand_in = is_writer_down(owner)
                    && self
                        .scope_of(key)
                        .is_some_and(|s| s.writer() == owner && s.fallback() == Some(self.id()));
                if stand_in {
                    WriteVerdict::Accept
                } else {
                    WriteVerdict::Misdirected { target: owner }
                }
            }
        }
    }

    /// The static scope of `key`. One copy on a device, where flash is
    /// dear; inlined on hosts.
    #[cfg_attr(any(target_os = "none", kevy_device), inline(never))]
    #[cfg_attr(not(any(target_os = "none", kevy_device)), inline)]
    fn scope_of(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.table.scope_for(key)
    }

    /// What this node knows of all of `prefix`.
    fn region(&self, prefix: &[u8]) -> Region<'_> {
        // The newest record covering the prefix is the newest matching it
        // as a key.
        match self.newest(prefix) {
            Some(r) => Region {
                owner: Some(r.record.owner()),
                epoch: r.record.epoch,
                record: Some(r),
            },
            None => Region {
                owner: self.scope_of(prefix).map(|s| s.writer()),
                epoch: Epoch::ZERO,
                record: None,
            },
        }
    }

    /// The record of exactly `prefix`.
    fn exact(&self, prefix: &[u8]) -> Option<RecordRef<'_>> {
        self.moves.records().find(|r| r.prefix == prefix)
    }

    fn refuse_quarantine(&self) -> Result<(), MoveError> {
        if self.quarantined {
            Err(MoveError::Quarantined)
        } else {
            Ok(())
        }
    }

    /// Refuses a prefix that nests with (or equals) a move out of this
    /// node in flight.
    fn refuse_overlap_in_flight(&self, prefix: &[u8]) -> Result<(), MoveError> {
        for r in self.moves.records() {
            if r.record.phase != Phase::Moving {
                continue;
            }
            if r.prefix == prefix {
                return Err(MoveError::AlreadyMoving);
            }
            if prefix.starts_with(r.prefix) || r.prefix.starts_with(prefix) {
                return Err(MoveError::OverlapsMoveInFlight);
            }
        }
        Ok(())
    }

    /// Stores `record` for `prefix` and drops the older records inside it,
    /// which it supersedes.
    fn settle(&mut self, prefix: &[u8], record: Record) -> Result<(), MoveError> {
        let epoch = record.epoch;
        self.moves.insert(prefix, record)?;
        self.moves.retain(|r| {
            !(r.prefix.len() > prefix.len()
                && r.prefix.starts_with(prefix)
                && r.record.epoch < epoch)
        });
        Ok(())
    }

    /// Starts moving `prefix` from this node to `to` (the source side of
    /// MOVE-SCOPE): writes for it answer `-QUIESCED` until the move
    /// resolves. Persist, tell `prepare` (if any) and wait for its
    /// acknowledgement, then ship the keys with the returned epoch.
    ///
    /// Refused unless this node owns all of `prefix` (its static writer or
    /// an adopter, nothing under it given away or pending), on bad input
    /// and on a full record table.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::MoveError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// assert_eq!(b.start_move(b"a:", "C").unwrap_err(), MoveError::NotOwner);
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// assert_eq!(a.start_move(b"a:", "A").unwrap_err(), MoveError::SameNode);
    /// assert!(a.start_move(b"a:x:", "B").is_ok()); // a sub-prefix
    /// ```
    pub fn start_move(&mut self, prefix: &[u8], to: &str) -> Result<Durable<Started>, MoveError> {
        self.refuse_quarantine()?;
        validate_node_id(to).map_err(MoveError::InvalidNodeId)?;
        if to == self.id() {
            return Err(MoveError::SameNode);
        }
        self.refuse_overlap_in_flight(prefix)?;
        // Recovery counts on it (`Node::recovery_fence`).
        if self.in_flight().count() >= R::MAX_IN_FLIGHT as usize {
            return Err(MoveError::Full {
                capacity: R::MAX_IN_FLIGHT as usize,
            });
        }
        let region = self.region(prefix);
        if region.owner != Some(self.id()) {
            let moved = region
                .record
                .is_some_and(|r| r.prefix == prefix && r.record.phase == Phase::Moved);
            return Err(if moved {
                MoveError::AlreadyMoved
            } else {
                MoveError::NotOwner
            });
        }
        let given_away_inside = self.moves.records().any(|r| {
            r.prefix.len() > prefix.len()
                && r.prefix.starts_with(prefix)
                && r.record.epoch > region.epoch
                && r.record.owner() != self.id()
        });
        if given_away_inside {
            return Err(MoveError::NotOwner);
        }
        // Above every epoch it knows of, news included: a target's fence
        // is more often below it than above.
        let epoch = self.known_epoch().next().ok_or(MoveError::EpochExhausted)?;
        let state = Handover::new(self.id(), to)?;
        let prepare = self
            .scope_of(prefix)
            .filter(|s| s.writer() == self.id())
            .and_then(|s| s.fallback())
            .and_then(|f| NodeId::new(f).ok());
        self.moves
            .insert(prefix, Record::new(Phase::Moving, epoch, state))?;
        self.seen = epoch;
        Ok(Durable::changed(Started { epoch, prepare }))
    }

    /// Commits the move of `prefix` at `epoch` on the target's `+OK`:
    /// writes for it now answer `-MISDIRECTED` to the target. The same as
    /// [`resolve_move`](Node::resolve_move) with [`Outcome::Committed`].
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope, moves::MoveError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// assert_eq!(a.commit_move(b"a:", Epoch::new(1)).unwrap_err(), MoveError::NotInFlight);
    /// let epoch = a.start_move(b"a:", "B").unwrap().into_inner().epoch;
    /// assert!(a.commit_move(b"a:", epoch).unwrap().must_persist());
    /// assert!(!a.commit_move(b"a:", epoch).unwrap().must_persist()); // a repeat
    /// ```
    pub fn commit_move(&mut self, prefix: &[u8], epoch: Epoch) -> Result<Durable<()>, MoveError> {
        self.resolve_move(prefix, epoch, Outcome::Committed)
    }

    /// Resolves the move of `prefix` at `epoch` with the target's answer
    /// to [`move_outcome`](Node::move_outcome) (or its `+OK`, which is
    /// [`Outcome::Committed`]). This is the only way a move ends: a source
    /// cannot abort on its own, since the target may have adopted.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::MoveId};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// let epoch = a.start_move(b"a:", "B").unwrap().into_inner().epoch;
    /// // The ingest was lost; A asks B what became of the move.
    /// let id = MoveId { prefix: b"a:", from: "A", to: "B", epoch };
    /// let outcome = b.move_outcome(&id).unwrap().into_inner();
    /// let _ = a.resolve_move(b"a:", epoch, outcome).unwrap();
    /// assert!(a.verdict(b"a:1", |_| false).is_accept());
    /// assert!(b.check_ingest(&id).is_err()); // the late ingest is fenced off
    /// ```
    pub fn resolve_move(
        &mut self,
        prefix: &[u8],
        epoch: Epoch,
        outcome: Outcome,
    ) -> Result<Durable<()>, MoveError> {
        self.resolve(prefix, epoch, outcome, false)
    }

    /// Whether this node's move at `epoch` is in doubt ([`Node::fence`]):
    /// its outcome is asked again, of the target as it is since it
    /// recovered (`Request::Recheck`).
    pub(crate) fn in_doubt(&self, epoch: Epoch) -> bool {
        self.moves
            .records()
            .any(|r| r.record.doubt && r.record.epoch == epoch && r.record.phase == Phase::Moving)
    }

    /// [`Node::resolve_move`]; `rechecked`: the outcome answers a question
    /// asked after the target recovered, so it holds even for a move in
    /// doubt.
    pub(crate) fn resolve(
        &mut self,
        prefix: &[u8],
        epoch: Epoch,
        outcome: Outcome,
        rechecked: bool,
    ) -> Result<Durable<()>, MoveError> {
        self.refuse_quarantine()?;
        let (phase, to, doubt) = match self.exact(prefix) {
            Some(r) if r.record.epoch == epoch => {
                (r.record.phase, copy_id(&r.record.state.to), r.record.doubt)
            }
            _ => return Err(MoveError::NotInFlight),
        };
        if doubt && outcome == Outcome::Committed && !rechecked {
            return Err(MoveError::TargetRecovered);
        }
        let (phase, to) = match (phase, outcome) {
            (Phase::Moving, Outcome::Committed) => (Phase::Moved, to),
            // From itself to itself: an abort, not an adoption.
            (Phase::Moving, Outcome::Aborted { .. }) => (Phase::Adopted, copy_id(&self.id)),
            // A repeat of the step that resolved it.
            (Phase::Moved, Outcome::Committed) | (Phase::Adopted, Outcome::Aborted { .. }) => {
                return Ok(Durable::unchanged(()));
            }
            _ => return Err(MoveError::NotInFlight),
        };
        let state = Handover {
            from: copy_id(&self.id),
            to,
        };
        self.settle(prefix, Record::new(phase, epoch, state))?;
        if let Outcome::Aborted { fence } = outcome {
            self.seen = self.seen.max(fence);
        }
        Ok(Durable::changed(()))
    }

    /// Checks an arriving `MOVE-SCOPE-INGEST` on its target, changing
    /// nothing: apply the shipped keys only on [`Ingest::Apply`], then
    /// call [`adopt`](Node::adopt). Until then client writes for the
    /// prefix are redirected as before, so none lands in the window.
    ///
    /// Refused when addressed to another node, when `from` is not the
    /// owner this node knows, when the epoch is not above every epoch this
    /// node has used, adopted or fenced (or its newest news of the prefix), and when the records are full.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope, moves::{Ingest, MoveError, MoveId}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// let stray = MoveId { prefix: b"a:", from: "C", to: "B", epoch: Epoch::new(5) };
    /// assert_eq!(b.check_ingest(&stray), Err(MoveError::SenderNotOwner));
    /// let id = MoveId { from: "A", ..stray };
    /// assert_eq!(b.check_ingest(&id), Ok(Ingest::Apply));
    /// let _ = b.adopt(&id)?;
    /// assert_eq!(b.check_ingest(&id), Ok(Ingest::AlreadyAdopted));
    /// # Ok::<(), MoveError>(())
    /// ```
    pub fn check_ingest(&self, id: &MoveId<'_>) -> Result<Ingest, MoveError> {
        self.refuse_quarantine()?;
        check_prefix::<R>(id.prefix)?;
        validate_node_id(id.from).map_err(MoveError::InvalidNodeId)?;
        if id.to != self.id() {
            return Err(MoveError::WrongTarget);
        }
        if id.from == self.id() {
            return Err(MoveError::SameNode);
        }
        let exact = self.exact(id.prefix);
        let this_move = |phase: Phase| {
            exact.is_some_and(|r| {
                r.record.phase == phase
                    && r.record.epoch == id.epoch
                    && r.record.state.from.as_str() == id.from
            })
        };
        if this_move(Phase::Adopted) {
            return Ok(Ingest::AlreadyAdopted);
        }
        self.refuse_overlap_in_flight(id.prefix)
            .map_err(|_| MoveError::OverlapsMoveInFlight)?;
        // A fallback that is also the target heard of this very move.
        let heard = this_move(Phase::Pending);
        // Above every epoch this node has fenced or used, and above its
        // newest news of the prefix.
        let region = self.region(id.prefix);
        let known = self.seen.max(region.epoch);
        let fenced = id.epoch < known || (id.epoch == known && !heard);
        if fenced && !crate::mutants::epochs_ignored() {
            return Err(MoveError::Stale { known });
        }
        match region.owner {
            Some(owner) if owner == self.id() => return Err(MoveError::AlreadyOwner),
            Some(owner) if owner == id.from => {}
            _ => return Err(MoveError::SenderNotOwner),
        }
        self.moves.room_for(id.prefix)?;
        Ok(Ingest::Apply)
    }

    /// Adopts the prefix of an ingest [`check_ingest`](Node::check_ingest)
    /// let through, once its keys are applied: this node owns it from now
    /// on. Persist, then answer `+OK`. A repeat changes nothing.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope, moves::{MoveError, MoveId}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// let id = MoveId { prefix: b"a:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// assert!(b.adopt(&id)?.must_persist());
    /// assert!(b.verdict(b"a:1", |_| false).is_accept());
    /// assert!(!b.adopt(&id)?.must_persist());
    /// # Ok::<(), MoveError>(())
    /// ```
    pub fn adopt(&mut self, id: &MoveId<'_>) -> Result<Durable<()>, MoveError> {
        if self.check_ingest(id)? == Ingest::AlreadyAdopted {
            return Ok(Durable::unchanged(()));
        }
        let state = Handover::new(id.from, self.id())?;
        self.settle(id.prefix, Record::new(Phase::Adopted, id.epoch, state))?;
        self.seen = self.seen.max(id.epoch);
        Ok(Durable::changed(()))
    }

    /// The target's answer to its source's "what became of move `id`?":
    /// [`Outcome::Committed`] if this node adopted it, else it fences the
    /// epoch off for good (a late ingest of it is refused) and answers
    /// [`Outcome::Aborted`]. Persist before answering when asked to.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveTable, Node, OwnershipTable, Scope, moves::{MoveId, Outcome}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// let id = MoveId { prefix: b"a:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// let _ = b.adopt(&id).unwrap();
    /// assert_eq!(b.move_outcome(&id).unwrap().into_inner(), Outcome::Committed);
    /// ```
    pub fn move_outcome(&mut self, id: &MoveId<'_>) -> Result<Durable<Outcome>, MoveError> {
        self.refuse_quarantine()?;
        check_prefix::<R>(id.prefix)?;
        if id.to != self.id() {
            return Err(MoveError::WrongTarget);
        }
        let region = self.region(id.prefix);
        let mut pending = false;
        if let Some(r) = region.record {
            // Only the source could change the prefix while the move was
            // in flight, and only an adoption ends it on this side: newer
            // news of the prefix means the move committed.
            let at_epoch = r.record.epoch == id.epoch;
            pending = at_epoch && r.record.phase == Phase::Pending;
            if r.record.epoch > id.epoch || (at_epoch && !pending && r.record.owner() != id.from) {
                return Ok(Durable::unchanged(Outcome::Committed));
            }
        }
        let mut changed = id.epoch > self.seen;
        if pending {
            // The exemption `check_ingest` gives a heard-of move ends here.
            let state = Handover::new(id.from, id.from)?;
            self.settle(id.prefix, Record::new(Phase::Moved, id.epoch, state))?;
            changed = true;
        }
        self.seen = self.seen.max(id.epoch);
        let outcome = Outcome::Aborted { fence: self.seen };
        Ok(if changed {
            Durable::changed(outcome)
        } else {
            Durable::unchanged(outcome)
        })
    }

    /// Learns news of a move this node did not run: a fallback hears of a
    /// move in flight and stops standing in for its prefix; any node hears
    /// of a move's end and redirects straight to the owner. News is a fact
    /// its source vouched for, so newer news is taken from whoever brings
    /// it, even when the node missed the moves before it (it can only send
    /// clients to a newer owner). Older news ([`MoveError::Stale`]),
    /// and news of someone else moving a prefix this node owns
    /// ([`MoveError::SenderNotOwner`]), change nothing; a repeat
    /// changes nothing. A node learns it owns a prefix only by ingesting
    /// it.
    ///
    /// `sender_epoch` is the sender's [`Node::epoch`] when it sent the
    /// news (`MOVE-SCOPE-NEWS` carries it; the driver's
    /// [`Request::News`](crate::driver::Request::News) holds it). News of
    /// the abort of a move the peer that recovered last started below its
    /// fence ([`Node::fence`]), sent by it before it lost its records
    /// (`sender_epoch` below the fence), of a move this node does not
    /// hold, is refused as [`MoveError::Stale`]: that peer's recovery may
    /// not have learned it. What the peer sends after its recovery is
    /// learned.
    ///
    /// ```
    /// # use kevy_scope::{*, moves::*};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut c = Node::new("C", &t, MoveTable::<2>::new()).unwrap();
    /// let id = MoveId { prefix: b"a:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// let _ = c.learn(&Announcement { id, status: MoveStatus::Committed }, Epoch::new(1))?;
    /// assert_eq!(c.verdict(b"a:1", |_| false), WriteVerdict::Misdirected { target: "B" });
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let stray = MoveId { from: "X", epoch: Epoch::new(2), ..id };
    /// let err = a.learn(&Announcement { id: stray, status: MoveStatus::Committed }, Epoch::new(2));
    /// assert_eq!(err.unwrap_err(), MoveError::SenderNotOwner); // A owns a:
    ///
    /// // B lost its records and recovered above epoch 9. News of the
    /// // abort of a move it started before, which C does not hold: sent
    /// // before the loss (at B's epoch 3) it is refused, sent again since
    /// // it is learned.
    /// let _ = c.fence("B", Epoch::new(9))?;
    /// let old = MoveId { prefix: b"b:", from: "B", to: "D", epoch: Epoch::new(3) };
    /// let news = Announcement { id: old, status: MoveStatus::Aborted };
    /// assert!(matches!(c.learn(&news, Epoch::new(3)), Err(MoveError::Stale { .. })));
    /// assert!(c.learn(&news, Epoch::new(9))?.must_persist());
    /// # Ok::<(), MoveError>(())
    /// ```
    pub fn learn(
        &mut self,
        news: &Announcement<'_>,
        sender_epoch: Epoch,
    ) -> Result<Durable<()>, MoveError> {
        self.refuse_quarantine()?;
        let id = news.id;
        check_prefix::<R>(id.prefix)?;
        let mut state = Handover::new(id.from, id.to)?;
        if id.from == self.id() || news.owner() == Some(self.id()) {
            // Its own move, or ownership it would hold only by ingesting.
            return Ok(Durable::unchanged(()));
        }
        if news.status == MoveStatus::Aborted
            && !crate::mutants::late_news_learned()
            && self.fenced_at != Epoch::ZERO
            && id.epoch < self.fenced_at
            && sender_epoch < self.fenced_at
            && peer_tag(id.from) == self.fenced_by
            && self
                .exact(id.prefix)
                .is_none_or(|r| r.record.epoch != id.epoch)
        {
            // The abort of a move the peer that recovered last started
            // before it lost its records (it starts every later one above
            // its fence), sent before then (its epoch has been at or
            // above the fence since), and of a move this node does not
            // hold. Only that peer sends the news of its aborts, and only
            // it decided this one (the target fenced the move off and kept
            // no record): if no peer held the news at the fence, the
            // recovery did not learn it, and it names that peer as the
            // owner of a prefix it may no longer own. (A commit is safe:
            // its target adopted before the fence and told the recovery.)
            return Err(MoveError::Stale {
                known: self.fenced_at,
            });
        }
        if news.status == MoveStatus::InFlight && id.to == self.id() && id.epoch <= self.seen {
            // News of a move to this node at an epoch it has fenced off
            // (or used): taking it as heard-of would let `check_ingest`'s
            // exemption through the fence. The fence holds whatever news
            // arrives after it; the source retries above it.
            return Err(MoveError::Stale { known: self.seen });
        }
        let region = self.region(id.prefix);
        if region.epoch > id.epoch {
            return Err(MoveError::Stale {
                known: region.epoch,
            });
        }
        if region.epoch == id.epoch {
            let exact = region.record.filter(|r| r.prefix == id.prefix);
            match exact {
                // A move heard of in flight, now ended.
                Some(r)
                    if r.record.phase == Phase::Pending && news.status != MoveStatus::InFlight => {}
                // Its source's abort beats news of its commit, which can
                // only be from a target that lost its records since.
                Some(r) if aborts(r, news, false) => {}
                Some(_) => return Ok(Durable::unchanged(())),
                None => {
                    return Err(MoveError::Stale {
                        known: region.epoch,
                    });
                }
            }
        } else if region.owner == Some(self.id()) {
            // It owns the prefix (or is moving it) and gave nothing away:
            // news of someone else moving it contradicts what it knows
            // first-hand.
            return Err(MoveError::SenderNotOwner);
        }
        let phase = match news.status {
            MoveStatus::InFlight => Phase::Pending,
            MoveStatus::Committed | MoveStatus::Aborted => Phase::Moved,
        };
        if news.status == MoveStatus::Aborted {
            // Back to its source.
            state.to = copy_id(&state.from);
        }
        self.settle(id.prefix, Record::new(phase, id.epoch, state))?;
        Ok(Durable::changed(()))
    }

    /// The MULTI/EXEC guard against effective ownership: the one
    /// ownership unit (a record's prefix, or a static scope's) all scoped
    /// `keys` fall in, or the first two met. Keys of a sub-prefix that
    /// moved on its own are a unit of their own.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// assert!(a.transaction_scope([&b"a:x:1"[..], b"a:2"]).is_ok());
    /// let _ = a.start_move(b"a:x:", "B").unwrap();
    /// assert!(a.transaction_scope([&b"a:x:1"[..], b"a:2"]).is_err());
    /// ```
    pub fn transaction_scope<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Option<&[u8]>, CrossScopeError<'_>> {
        let mut found: Option<&[u8]> = None;
        for key in keys {
            let key = key.as_ref();
            let unit = match self.newest(key) {
                Some(r) => r.prefix,
                None => match self.scope_of(key) {
                    Some(scope) => scope.prefix(),
                    None => continue,
                },
            };
            match found {
                None => found = Some(unit),
                Some(first) if first != unit => {
                    return Err(CrossScopeError {
                        first,
                        second: unit,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(found)
    }
}

impl<T, R: fmt::Debug> fmt::Debug for Node<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("epoch", &self.seen.get())
            .field("quarantined", &self.quarantined)
            .field("moves", &self.moves)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl<T, R: defmt::Format> defmt::Format for Node<T, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Node {{ id: {}, epoch: {=u32}, quarantined: {=bool}, moves: {} }}",
            self.id,
            self.seen.get(),
            self.quarantined,
            self.moves
        );
    }
}
