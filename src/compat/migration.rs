//! The reference crate's migration table: the same calls through `&self`,
//! backed by this crate's move records behind one read-write lock.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{MigrationError, MigrationTableBuf};

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
/// let native = kevy_scope::MigrationState::new("A", "B").unwrap();
/// assert_eq!(compat::MigrationState::from(&native).to, "B");
/// ```
impl From<&crate::MigrationState> for MigrationState {
    fn from(state: &crate::MigrationState) -> Self {
        Self {
            from: state.from.as_str().into(),
            to: state.to.as_str().into(),
        }
    }
}

/// kevy-scope 1.32.0's `MigrationTable`: moves out of this node, started,
/// committed and aborted through `&self` from any thread. The records
/// are a [`MigrationTableBuf`] behind one `RwLock`: lookups share it,
/// commands take it alone, and a command is one step under the lock.
///
/// ```
/// use kevy_scope::compat::MigrationTable;
/// use kevy_scope::MigrationError;
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
    records: RwLock<MigrationTableBuf>,
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
    fn read(&self) -> RwLockReadGuard<'_, MigrationTableBuf> {
        self.records.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, MigrationTableBuf> {
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `prefix` as moving from `from` to `to`. Refused when that
    /// exact prefix is in flight ([`MigrationError::AlreadyMigrating`]) or
    /// was moved ([`MigrationError::AlreadyMigrated`]), and, unlike the
    /// reference, when an id breaks the node-id rule
    /// ([`MigrationError::InvalidNodeId`]).
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// # use kevy_scope::MigrationError;
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into())?;
    /// assert_eq!(t.start(b"p:".to_vec(), "A".into(), "B".into()), Err(MigrationError::AlreadyMigrating));
    /// assert!(matches!(t.start(b"q:".to_vec(), "A".into(), "".into()), Err(MigrationError::InvalidNodeId(_))));
    /// # Ok::<(), MigrationError>(())
    /// ```
    pub fn start(&self, prefix: Vec<u8>, from: String, to: String) -> Result<(), MigrationError> {
        self.write().start(&prefix, &from, &to)
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
        self.write()
            .commit(prefix)
            .as_ref()
            .map(MigrationState::from)
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
        self.write()
            .abort(prefix)
            .as_ref()
            .map(MigrationState::from)
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
        self.read()
            .lookup_migrating(prefix)
            .map(MigrationState::from)
    }

    /// The committed move of exactly `prefix`.
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// assert!(MigrationTable::new().lookup_migrated(b"p:").is_none());
    /// ```
    #[must_use]
    pub fn lookup_migrated(&self, prefix: &[u8]) -> Option<MigrationState> {
        self.read()
            .lookup_migrated(prefix)
            .map(MigrationState::from)
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
        self.read().match_migrating(key).map(MigrationState::from)
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
        self.read().match_migrated(key).map(MigrationState::from)
    }

    /// The records, for the native API (a [`Node`](crate::Node) keeps its
    /// moves in a [`MigrationTableBuf`]).
    ///
    /// ```
    /// # use kevy_scope::compat::MigrationTable;
    /// let t = MigrationTable::new();
    /// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
    /// assert_eq!(t.into_inner().len(), 1);
    /// ```
    #[must_use]
    pub fn into_inner(self) -> MigrationTableBuf {
        self.records
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The records as the native table prints them.
///
/// ```
/// # use kevy_scope::compat::MigrationTable;
/// let t = MigrationTable::new();
/// t.start(b"p:".to_vec(), "A".into(), "B".into()).unwrap();
/// let shown = format!("{t:?}");
/// assert!(shown.starts_with(r#"MigrationTable { records: [("p:", Migrating, "#), "{shown}");
/// assert!(shown.ends_with(r#"MigrationState { from: "A", to: "B" })] }"#), "{shown}");
/// ```
impl fmt::Debug for MigrationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationTable")
            .field("records", &*self.read())
            .finish()
    }
}
