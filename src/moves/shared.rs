//! A node shared by a multi-threaded server (`std`): write verdicts read an
//! immutable snapshot without taking a lock; the rare move commands build
//! the next snapshot and swap it in.
//!
//! `arc-swap` does the swapping: readers pay an atomic load and a reference
//! count on a per-thread debt slot, never a lock, and a writer never blocks
//! them.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};

use crate::{MoveRecords, Node, ScopeLookup, WriteVerdict};

/// A [`Node`] many threads route with while an operator moves prefixes.
///
/// ```
/// use std::sync::Arc;
/// use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, Scope, SharedNode, WriteVerdict};
///
/// let table = Arc::new(OwnershipTableBuf::new([Scope::new(b"app:", "A")]).unwrap());
/// let shared = SharedNode::new(Node::new("A", table, MigrationTableBuf::new()).unwrap());
/// assert!(shared.snapshot().verdict(b"app:1", |_| false).is_accept());
/// let started = shared.update(|node| node.start_move(b"app:", "B")).unwrap();
/// assert!(started.must_persist());
/// assert_eq!(shared.snapshot().verdict(b"app:1", |_| false), WriteVerdict::Quiesced { to: "B" });
/// ```
pub struct SharedNode<T, R> {
    current: ArcSwap<Node<T, R>>,
    /// Serialises updates so none is lost; readers never touch it.
    updating: Mutex<()>,
}

/// One consistent state of a [`SharedNode`]; dereferences to the [`Node`].
///
/// ```
/// # use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, SharedNode};
/// let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MigrationTableBuf::new()).unwrap());
/// let snap = shared.snapshot();
/// assert_eq!(snap.id(), "A");
/// ```
pub struct Snapshot<T, R>(Guard<Arc<Node<T, R>>>);

impl<T, R> core::ops::Deref for Snapshot<T, R> {
    type Target = Node<T, R>;
    fn deref(&self) -> &Node<T, R> {
        &self.0
    }
}

impl<T, R> SharedNode<T, R>
where
    T: ScopeLookup + Clone,
    R: MoveRecords + Clone,
{
    /// Shares `node`.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, SharedNode};
    /// let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MigrationTableBuf::new()).unwrap());
    /// assert_eq!(shared.snapshot().id(), "A");
    /// ```
    pub fn new(node: Node<T, R>) -> Self {
        Self {
            current: ArcSwap::from_pointee(node),
            updating: Mutex::new(()),
        }
    }

    /// The current state, without a lock. Route many keys with one snapshot
    /// to see one consistent state.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, SharedNode};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MigrationTableBuf::new()).unwrap());
    /// let snap = shared.snapshot();
    /// assert!(snap.verdict(b"k", |_| false).is_accept());
    /// ```
    pub fn snapshot(&self) -> Snapshot<T, R> {
        Snapshot(self.current.load())
    }

    /// The verdict for one key, without a lock; `then` sees it while the
    /// snapshot it borrows from is held.
    ///
    /// ```
    /// # use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, SharedNode};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MigrationTableBuf::new()).unwrap());
    /// assert!(shared.with_verdict(b"k", |_| false, |v| v.is_accept()));
    /// ```
    pub fn with_verdict<O>(
        &self,
        key: &[u8],
        is_writer_down: impl FnMut(&str) -> bool,
        then: impl FnOnce(WriteVerdict<'_>) -> O,
    ) -> O {
        let snap = self.current.load();
        then(snap.verdict(key, is_writer_down))
    }

    /// Applies a move command to a copy of the node and publishes the copy.
    /// Readers see the old state or the new one, never a mix; a command
    /// that fails publishes nothing.
    ///
    /// ```
    /// # use kevy_scope::{MigrationError, MigrationTableBuf, Node, OwnershipTableBuf, SharedNode};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MigrationTableBuf::new()).unwrap());
    /// let r = shared.update(|node| node.start_move(b"free:", "B"));
    /// assert_eq!(r.unwrap_err(), MigrationError::NotOwner);
    /// ```
    pub fn update<O, E>(
        &self,
        change: impl FnOnce(&mut Node<T, R>) -> Result<O, E>,
    ) -> Result<O, E> {
        let _serial = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Node::clone(&self.current.load());
        let out = change(&mut next)?;
        self.current.store(Arc::new(next));
        Ok(out)
    }
}

impl<T, R: core::fmt::Debug> core::fmt::Debug for SharedNode<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("SharedNode")
            .field(&**self.current.load())
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl<T, R: defmt::Format> defmt::Format for SharedNode<T, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "SharedNode({})", &**self.current.load());
    }
}

#[cfg(feature = "defmt")]
impl<T, R: defmt::Format> defmt::Format for Snapshot<T, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Snapshot({})", &**self.0);
    }
}
