//! What nodes tell each other about a move, transport-free: the move's
//! identity (prefix, source, target, epoch), announcements, the target's
//! answer to "what became of this move?", and the persist-before-reply
//! marker every durable step returns.

/// The order of ownership changes. Every move takes an epoch above every
/// epoch its source has used or adopted, and only a prefix's owner starts a move of
/// it, so the changes of any one key carry strictly rising epochs: the
/// record with the highest epoch is the newest news. The static table is
/// epoch 0.
///
/// ```
/// use kevy_scope::Epoch;
/// assert!(Epoch::new(2) > Epoch::new(1));
/// assert_eq!(Epoch::ZERO.get(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Epoch(u32);

impl Epoch {
    /// The static table's epoch.
    pub const ZERO: Self = Self(0);

    /// The epoch numbered `n` (as carried over the wire).
    ///
    /// ```
    /// # use kevy_scope::Epoch;
    /// assert_eq!(Epoch::new(7).get(), 7);
    /// ```
    #[must_use]
    pub const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The epoch's number.
    ///
    /// ```
    /// # use kevy_scope::Epoch;
    /// assert_eq!(Epoch::ZERO.get(), 0);
    /// ```
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

/// One move, as every message about it names it: the prefix, its source
/// (the owner that started the move), its target and its epoch. The
/// server carries these four fields in `MOVE-SCOPE-INGEST`, in the outcome
/// query and in announcements.
///
/// ```
/// use kevy_scope::{Epoch, moves::MoveId};
/// let m = MoveId { prefix: b"app:billing:", from: "A", to: "B", epoch: Epoch::new(1) };
/// assert_eq!(m.to, "B");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MoveId<'a> {
    /// The moving prefix.
    pub prefix: &'a [u8],
    /// The node giving it away.
    pub from: &'a str,
    /// The node receiving it.
    pub to: &'a str,
    /// The move's epoch, chosen by the source.
    pub epoch: Epoch,
}

/// What an announcement says of a move.
///
/// ```
/// use kevy_scope::moves::MoveStatus;
/// assert_ne!(MoveStatus::Committed, MoveStatus::Aborted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MoveStatus {
    /// The move is in flight. The source sends this to its scope's
    /// fallback before it ships a single key, so the fallback stops
    /// standing in for the prefix.
    InFlight,
    /// The target adopted the prefix: it owns it now.
    Committed,
    /// The move was called off: the source still owns the prefix.
    Aborted,
}

/// News of a move for a node that may not have taken part in it.
///
/// ```
/// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}};
/// let m = MoveId { prefix: b"app:", from: "A", to: "B", epoch: Epoch::new(1) };
/// let a = Announcement { id: m, status: MoveStatus::Committed };
/// assert_eq!(a.owner(), Some("B"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Announcement<'a> {
    /// The move.
    pub id: MoveId<'a>,
    /// Where it stands.
    pub status: MoveStatus,
}

impl Announcement<'_> {
    /// Who owns the prefix after this news; `None` while in flight.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
    /// assert_eq!(Announcement { id, status: MoveStatus::Aborted }.owner(), Some("A"));
    /// assert_eq!(Announcement { id, status: MoveStatus::InFlight }.owner(), None);
    /// ```
    #[must_use]
    pub fn owner(&self) -> Option<&str> {
        match self.status {
            MoveStatus::InFlight => None,
            MoveStatus::Committed => Some(self.id.to),
            MoveStatus::Aborted => Some(self.id.from),
        }
    }
}

/// The target's answer to "what became of move `(prefix, epoch)`?"
/// ([`Node::move_outcome`](crate::moves::Node::move_outcome)), the only input on
/// which a source may resolve a move whose ingest it may have shipped.
///
/// ```
/// use kevy_scope::{Epoch, moves::Outcome};
/// let o = Outcome::Aborted { fence: Epoch::new(9) };
/// assert!(!o.is_committed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Outcome {
    /// The target adopted the prefix at that epoch (and may have moved it
    /// on since).
    Committed,
    /// The target did not adopt it and never will: it fenced that epoch
    /// off. `fence` is the epoch every later ingest on the target must
    /// exceed; the source's next move starts above it.
    Aborted {
        /// The target's fence.
        fence: Epoch,
    },
}

impl Outcome {
    /// Whether the target adopted the prefix.
    ///
    /// ```
    /// # use kevy_scope::moves::Outcome;
    /// assert!(Outcome::Committed.is_committed());
    /// ```
    #[must_use]
    pub const fn is_committed(&self) -> bool {
        matches!(self, Self::Committed)
    }
}

/// What the target does with an arriving `MOVE-SCOPE-INGEST`
/// ([`Node::check_ingest`](crate::moves::Node::check_ingest)).
///
/// ```
/// use kevy_scope::moves::Ingest;
/// assert_ne!(Ingest::Apply, Ingest::AlreadyAdopted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Ingest {
    /// New: apply the keys, then call [`Node::adopt`](crate::moves::Node::adopt).
    Apply,
    /// A repeat of a move this node already adopted: apply nothing and
    /// answer `+OK` again.
    AlreadyAdopted,
}

/// A move step's result, and whether the step changed the node's
/// records. When it did, the node's image must reach stable storage
/// before the reply or message that follows the step leaves the node
/// (README, "Surviving faults", names each step).
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
/// let started = a.start_move(b"a:", "B").unwrap();
/// assert!(started.must_persist());
/// let mut image = [0u8; 256];
/// let len = a.encode_image(&mut image).unwrap(); // write image[..len] to flash, then ship
/// let epoch = started.into_inner().epoch;
/// # let _ = (len, epoch);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "persist the node's image before answering when `must_persist()` says so"]
pub struct Durable<T> {
    value: T,
    changed: bool,
}

impl<T> Durable<T> {
    pub(crate) const fn changed(value: T) -> Self {
        Self {
            value,
            changed: true,
        }
    }

    pub(crate) const fn unchanged(value: T) -> Self {
        Self {
            value,
            changed: false,
        }
    }

    /// Whether the step changed the records: persist before answering.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
    /// # let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// # let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// assert!(a.start_move(b"a:", "B").unwrap().must_persist());
    /// ```
    #[must_use]
    pub const fn must_persist(&self) -> bool {
        self.changed
    }

    /// The step's result, once the caller has persisted when it had to.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope};
    /// # let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// # let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let started = a.start_move(b"a:", "B").unwrap().into_inner();
    /// assert_eq!(started.epoch.get(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}
