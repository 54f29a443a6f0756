//! The reference crate's migration table: the same calls through `&self`,
//! backed by this crate's move records behind one read-write lock, and
//! the reference's two-variant error.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::bytes::Lossy;
use crate::moves::records::ReferenceSteps;
use crate::{
    moves::{MoveTableBuf, Phase},
    table::{NodeId, validate_node_id},
};

/// Who a prefix moves from and to, as owned strings: kevy-scope 1.32.0's
/// `MigrationState`.
///
/// ```
/// use kevy_scope::compat::MigrationTable;
/// let t = MigrationTable::new();
/// t.start(b"app:billing:".to_vec(), "A".into(), "B".into()).unwrap();
/// let st = t.lookup_migrating(b"app:billing:").unwrap();
/// assert_eq!((st.from.as_str(), st.to.as_str()), ("A", "B"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MigrationState {
    /// The node giving the prefix away.
    pub from: String,
    /// The node receiving it.
    pub to: String,
}

/// Copies the ids of a native record.
///
/// ```
/// use kevy_scope::compat;
/// let native = kevy_scope::moves::Handover::new("A", "B").unwrap();
/// assert_eq!(compat::MigrationState::from(&native).to, "B");
/// ```
impl From<&crate::moves::Handover> for MigrationState {
    fn from(state: &crate::moves::Handover) -> Self {
        Self {
            from: state.from.as_str().into(),
            to: state.to.as_str().into(),
        }
    }
}

/// Why [`MigrationTable::start`] refused: kevy-scope 1.32.0's
/// `MigrationError`, with its two variants and its text.
///
/// It is exhaustive, as the reference's is (a server's `match` needs no
/// `_` arm). This crate's richer [`crate::moves::MoveError`] is mapped onto
/// it inside this module:
///
/// | native refusal | here |
/// |---|---|
/// | `AlreadyMigrating` | `AlreadyMigrating` |
/// | `AlreadyMigrated` | `AlreadyMigrated` |
/// | `InvalidNodeId` | never raised: the compat table stores any id, as the reference does (see [`MigrationTable::start`]) |
/// | `PrefixTooLong`, `Full` | never raised: the compat table's records are unbounded |
/// | the others (`SameNode`, `NotOwner`, `Stale`, ...) | never raised: they belong to a [`Node`](crate::moves::Node)'s move steps, which this table does not take |
///
/// `TryFrom` does the same mapping for code that mixes the two APIs, and
/// hands back a native refusal that has no reference word.
///
/// ```
/// use kevy_scope::compat::{MigrationError, MigrationTable};
/// let t = MigrationTable::new();
/// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
/// let err = t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap_err();
/// // No `_` arm: the two variants are all there is.
/// let code = match err {
///     MigrationError::AlreadyMigrating => "in flight",
///     MigrationError::AlreadyMigrated => "moved",
/// };
/// assert_eq!(code, "in flight");
/// assert_eq!(err.to_string(), "migration for this prefix is already in flight");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationError {
    /// A move of this exact prefix is already in flight.
    AlreadyMigrating,
    /// This exact prefix has already been moved away from this node.
    AlreadyMigrated,
}

/// The reference's text, which is also the native variants' text.
///
/// ```
/// use kevy_scope::compat::MigrationError;
/// assert_eq!(MigrationError::AlreadyMigrated.to_string(), "prefix has already been migrated");
/// ```
impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::moves::MoveError::from(self.clone()), f)
    }
}

impl core::error::Error for MigrationError {}

/// The same refusal as this crate's type.
///
/// ```
/// use kevy_scope::compat;
/// let native = kevy_scope::moves::MoveError::from(compat::MigrationError::AlreadyMigrated);
/// assert_eq!(native, kevy_scope::moves::MoveError::AlreadyMoved);
/// ```
impl From<MigrationError> for crate::moves::MoveError {
    fn from(error: MigrationError) -> Self {
        match error {
            MigrationError::AlreadyMigrating => Self::AlreadyMoving,
            MigrationError::AlreadyMigrated => Self::AlreadyMoved,
        }
    }
}

/// The reference's word for a native refusal, when it has one; the
/// refusal itself otherwise.
///
/// ```
/// use kevy_scope::compat;
/// use kevy_scope::moves::MoveError as Native;
/// assert_eq!(compat::MigrationError::try_from(Native::AlreadyMoving), Ok(compat::MigrationError::AlreadyMigrating));
/// assert_eq!(compat::MigrationError::try_from(Native::SameNode), Err(Native::SameNode));
/// ```
impl TryFrom<crate::moves::MoveError> for MigrationError {
    type Error = crate::moves::MoveError;

    fn try_from(error: crate::moves::MoveError) -> Result<Self, Self::Error> {
        match error {
            crate::moves::MoveError::AlreadyMoving => Ok(Self::AlreadyMigrating),
            crate::moves::MoveError::AlreadyMoved => Ok(Self::AlreadyMigrated),
            other => Err(other),
        }
    }
}

/// What starts the stand-in for an id the node-id rule refuses. Every
/// id the records hold that starts with it is a stand-in (valid ids that
/// start with it get one too), so none is mistaken for a real id.
const STAND_IN: char = '~';

/// The move records, and the ids they hold by stand-in.
#[derive(Default)]
struct Records {
    /// Ids as this crate's records take them: valid ids as they are,
    /// others as `~<n>`.
    moves: MoveTableBuf,
    /// The ids behind the stand-ins: `~<n>` is `spelled[n]`. One entry
    /// per distinct id, kept for the table's life.
    spelled: Vec<String>,
}

impl Records {
    /// `id` as the records take it: itself when it keeps the node-id
    /// rule and does not start with `~`, else its stand-in (made on first
    /// use). A stand-in is `~` and at most 20 digits: a valid id.
    fn stored<'i>(&mut self, id: &'i str) -> Cow<'i, str> {
        if validate_node_id(id).is_ok() && !id.starts_with(STAND_IN) {
            return Cow::Borrowed(id);
        }
        let n = match self.spelled.iter().position(|s| s == id) {
            Some(n) => n,
            None => {
                self.spelled.push(id.into());
                self.spelled.len() - 1
            }
        };
        Cow::Owned(format!("{STAND_IN}{n}"))
    }

    /// The id a stored id stands for.
    fn spell<'r>(&'r self, id: &'r NodeId) -> &'r str {
        id.as_str()
            .strip_prefix(STAND_IN)
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.spelled.get(n))
            .map_or(id.as_str(), String::as_str)
    }

    /// A stored record's ids, spelled out.
    fn state(&self, state: &crate::moves::Handover) -> MigrationState {
        MigrationState {
            from: self.spell(&state.from).into(),
            to: self.spell(&state.to).into(),
        }
    }
}

/// kevy-scope 1.32.0's `MigrationTable`: moves out of this node, started,
/// committed and aborted through `&self` from any thread. The records
/// are a [`MoveTableBuf`] behind one `RwLock`: lookups share it,
/// commands take it alone, and a command is one step under the lock.
///
/// Node ids are not checked, as the reference does not check them (see
/// [`Self::start`]).
///
/// ```
/// use kevy_scope::compat::{MigrationError, MigrationTable};
/// use std::sync::Arc;
///
/// let table = Arc::new(MigrationTable::new());
/// let worker = Arc::clone(&table);
/// std::thread::spawn(move || worker.start(b"app:".to_vec(), "A".into(), "B".into()))
///     .join()
///     .unwrap()?;
/// assert_eq!(table.match_migrating(b"app:x").map(|s| s.to), Some("B".to_string()));
/// assert_eq!(table.commit(b"app:").map(|s| s.from), Some("A".to_string()));
/// # Ok::<(), MigrationError>(())
/// ```
#[derive(Default)]
pub struct MigrationTable {
    records: RwLock<Records>,
}

impl MigrationTable {
    /// An empty table.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// assert!(MigrationTable::new().lookup_migrating(b"p:").is_none());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Readers never see a half-made change (a command is one step), so
    /// a lock poisoned by a panicking thread still holds a whole table.
    fn read(&self) -> RwLockReadGuard<'_, Records> {
        self.records.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Records> {
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `prefix` as moving from `from` to `to`. Refused when that
    /// exact prefix is in flight ([`MigrationError::AlreadyMigrating`]) or
    /// was moved ([`MigrationError::AlreadyMigrated`]), as by the
    /// reference, and for nothing else.
    ///
    /// Any strings are taken as ids, as the reference takes them: an id
    /// the node-id rule ([`validate_node_id`]) refuses (empty, over 32
    /// bytes, a space, ...) is stored under a stand-in and answered
    /// spelled as it was given.
    ///
    /// ```
    /// # use kevy_scope::compat::{MigrationError, MigrationTable};
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into())?;
    /// assert_eq!(t.start(b"p:".to_vec(), "A".into(), "B".into()), Err(MigrationError::AlreadyMigrating));
    /// let long = "n".repeat(33);
    /// t.start(b"q:".to_vec(), "A".into(), long.clone())?;
    /// assert_eq!(t.lookup_migrating(b"q:").map(|s| s.to), Some(long));
    /// # Ok::<(), MigrationError>(())
    /// ```
    pub fn start(&self, prefix: Vec<u8>, from: String, to: String) -> Result<(), MigrationError> {
        let mut records = self.write();
        if records.moves.lookup_migrating(&prefix).is_some() {
            return Err(MigrationError::AlreadyMigrating);
        }
        if records.moves.lookup_migrated(&prefix).is_some() {
            return Err(MigrationError::AlreadyMigrated);
        }
        let from = records.stored(&from);
        let to = records.stored(&to);
        // The records refuse nothing more: the prefix is free (checked
        // above, under the same lock), both ids keep the rule, and the
        // unbounded table has no length or count limit. Should a refusal
        // ever come, the table is unchanged, and the reference's word
        // for that is its first.
        records
            .moves
            .start(&prefix, &from, &to)
            .map_err(|e| MigrationError::try_from(e).unwrap_or(MigrationError::AlreadyMigrating))
    }

    /// Commits the in-flight move of `prefix`, returning its state, or
    /// `None` when nothing was in flight.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// assert!(t.commit(b"p:").is_none());
    /// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
    /// assert_eq!(t.commit(b"p:").map(|s| s.to), Some("B".to_string()));
    /// assert!(t.lookup_migrated(b"p:").is_some());
    /// ```
    pub fn commit(&self, prefix: &[u8]) -> Option<MigrationState> {
        let mut records = self.write();
        let state = records.moves.commit(prefix)?;
        Some(records.state(&state))
    }

    /// Drops the in-flight move of `prefix` (committed moves stay),
    /// returning it, or `None` when nothing was in flight.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
    /// assert!(t.abort(b"p:").is_some());
    /// assert!(t.abort(b"p:").is_none());
    /// ```
    pub fn abort(&self, prefix: &[u8]) -> Option<MigrationState> {
        let mut records = self.write();
        let state = records.moves.abort(prefix)?;
        Some(records.state(&state))
    }

    /// The in-flight move of exactly `prefix`, copied out of the lock.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
    /// assert!(t.lookup_migrating(b"p:").is_some() && t.lookup_migrating(b"p").is_none());
    /// ```
    #[must_use]
    pub fn lookup_migrating(&self, prefix: &[u8]) -> Option<MigrationState> {
        let records = self.read();
        records
            .moves
            .lookup_migrating(prefix)
            .map(|s| records.state(s))
    }

    /// The committed move of exactly `prefix`.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// assert!(MigrationTable::new().lookup_migrated(b"p:").is_none());
    /// ```
    #[must_use]
    pub fn lookup_migrated(&self, prefix: &[u8]) -> Option<MigrationState> {
        let records = self.read();
        records
            .moves
            .lookup_migrated(prefix)
            .map(|s| records.state(s))
    }

    /// The in-flight move with the longest prefix of `key`.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// t.start(b"app:".to_vec(), "A".into(), "B".into()).unwrap();
    /// t.start(b"app:billing:".to_vec(), "B".into(), "C".into()).unwrap();
    /// assert_eq!(t.match_migrating(b"app:billing:x").map(|s| s.from), Some("B".to_string()));
    /// ```
    #[must_use]
    pub fn match_migrating(&self, key: &[u8]) -> Option<MigrationState> {
        let records = self.read();
        records.moves.match_migrating(key).map(|s| records.state(s))
    }

    /// The committed move with the longest prefix of `key`.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// t.start(b"app:".to_vec(), "A".into(), "B".into()).unwrap();
    /// t.commit(b"app:");
    /// assert_eq!(t.match_migrated(b"app:x").map(|s| s.to), Some("B".to_string()));
    /// ```
    #[must_use]
    pub fn match_migrated(&self, key: &[u8]) -> Option<MigrationState> {
        let records = self.read();
        records.moves.match_migrated(key).map(|s| records.state(s))
    }

    /// The records, for the native API (a [`Node`](crate::moves::Node) keeps its
    /// moves in a [`MoveTableBuf`]), with every id as it was given.
    ///
    /// The native records hold only ids that keep the node-id rule (ids
    /// other nodes parse from replies and configs), so a record with any
    /// other id is refused here, with the first such id's
    /// [`crate::moves::MoveError::InvalidNodeId`]: this is the one door from
    /// the compat table into the bounded records, and it checks.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// # use kevy_scope::{moves::{MoveError, Phase}, table::NodeIdError};
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
    /// t.commit(b"p:");
    /// let native = t.into_inner().unwrap();
    /// let (_, phase, state) = native.iter().next().unwrap();
    /// assert_eq!((phase, state.to.as_str()), (Phase::Moved, "B"));
    ///
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "has space".into()).unwrap();
    /// assert_eq!(
    ///     t.into_inner().unwrap_err(),
    ///     MoveError::InvalidNodeId(NodeIdError::InvalidByte { byte: b' ', at: 3 })
    /// );
    /// ```
    pub fn into_inner(self) -> Result<MoveTableBuf, crate::moves::MoveError> {
        let records = self
            .records
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if records.spelled.is_empty() {
            return Ok(records.moves);
        }
        // Rebuilt in the same order with the ids spelled out: each
        // record is a start (epoch 0, as the compat table's all are),
        // then a commit when it was committed.
        let mut native = MoveTableBuf::new();
        for (prefix, phase, state) in records.moves.iter() {
            let state = records.state(state);
            native.start(prefix, &state.from, &state.to)?;
            if phase == Phase::Moved {
                native.commit(prefix);
            }
        }
        Ok(native)
    }
}

/// The records, in the order they were started, with their phases and
/// ids.
///
/// ```
/// # use kevy_scope::compat::MigrationTable;
/// let t = MigrationTable::new();
/// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
/// t.start(b"q:".to_vec(), "A".into(), "".into()).unwrap();
/// t.commit(b"q:");
/// assert_eq!(
///     format!("{t:?}"),
///     r#"MigrationTable { records: [("p:", Migrating, MigrationState { from: "A", to: "B" }), ("q:", Migrated, MigrationState { from: "A", to: "" })] }"#
/// );
/// ```
impl fmt::Debug for MigrationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let records = self.read();
        let list: Vec<_> = records
            .moves
            .iter()
            .map(|(prefix, phase, state)| (Lossy(prefix), Word(phase), records.state(state)))
            .collect();
        f.debug_struct("MigrationTable")
            .field("records", &list)
            .finish()
    }
}

/// A phase under the reference's name for it.
struct Word(Phase);

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Phase::Moving => "Migrating",
            Phase::Moved => "Migrated",
            other => return fmt::Debug::fmt(&other, f),
        })
    }
}
