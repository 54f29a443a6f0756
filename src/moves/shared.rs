//! A node shared by a multi-threaded server (`std`): write verdicts read an
//! immutable snapshot without taking a lock; the rare move commands build
//! the next snapshot and swap it in.
//!
//! `arc-swap` does the swapping: readers pay an atomic load and a reference
//! count on a per-thread debt slot, never a lock, and a writer never blocks
//! them.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use std::vec::Vec;

use arc_swap::{ArcSwap, Guard};

use crate::{
    moves::{MoveRecords, Node, WriteVerdict},
    table::ScopeTable,
};

/// A [`Node`] many threads route with while an operator moves prefixes.
///
/// ```
/// use std::sync::Arc;
/// use kevy_scope::{Node, Scope, WriteVerdict, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
///
/// let table = Arc::new(OwnershipTableBuf::new([Scope::new(b"app:", "A")]).unwrap());
/// let shared = SharedNode::new(Node::new("A", table, MoveTableBuf::new()).unwrap());
/// assert!(shared.snapshot().verdict(b"app:1", |_| false).is_accept());
/// let started = shared.update(|node| node.start_move(b"app:", "B")).unwrap();
/// assert!(started.must_persist());
/// assert_eq!(shared.snapshot().verdict(b"app:1", |_| false), WriteVerdict::Quiesced { target: "B" });
/// ```
pub struct SharedNode<T, R> {
    current: ArcSwap<Node<T, R>>,
    /// Serialises updates so none is lost, and keeps the states they
    /// replaced until no reader holds them; readers never touch it.
    updating: Mutex<Vec<Weak<Node<T, R>>>>,
}

/// One consistent state of a [`SharedNode`]; dereferences to the [`Node`].
///
/// It is also the guard of the writes accepted from it: hold it until the
/// write is applied to the store, so that
/// [`SharedNode::update_and_drain`] can wait for those writes before a move
/// ships the prefix's keys.
///
/// ```
/// # use kevy_scope::{Node, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
/// let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MoveTableBuf::new()).unwrap());
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
    T: ScopeTable + Clone,
    R: MoveRecords + Clone,
{
    /// Shares `node`.
    ///
    /// ```
    /// # use kevy_scope::{Node, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
    /// let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MoveTableBuf::new()).unwrap());
    /// assert_eq!(shared.snapshot().id(), "A");
    /// ```
    pub fn new(node: Node<T, R>) -> Self {
        Self {
            current: ArcSwap::from_pointee(node),
            updating: Mutex::new(Vec::new()),
        }
    }

    /// The current state, without a lock. Route many keys with one snapshot
    /// to see one consistent state.
    ///
    /// ```
    /// # use kevy_scope::{Node, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MoveTableBuf::new()).unwrap());
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
    /// # use kevy_scope::{Node, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MoveTableBuf::new()).unwrap());
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
    /// # use kevy_scope::{Node, moves::{MoveError, MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
    /// # let shared = SharedNode::new(Node::new("A", OwnershipTableBuf::default(), MoveTableBuf::new()).unwrap());
    /// let r = shared.update(|node| node.start_move(b"free:", "B"));
    /// assert_eq!(r.unwrap_err(), MoveError::NotOwner);
    /// ```
    pub fn update<O, E>(
        &self,
        change: impl FnOnce(&mut Node<T, R>) -> Result<O, E>,
    ) -> Result<O, E> {
        self.publish(change, false)
    }

    /// As [`update`](SharedNode::update), then waits until every snapshot
    /// taken before it has been dropped: every write accepted under an
    /// older state has been applied (when the server holds each
    /// [`Snapshot`] until its write is applied). Call it for `start_move`,
    /// then ship: no write accepted before the quiesce lands after the
    /// ship. Verdicts still take no lock; only this call waits.
    ///
    /// ```
    /// # use kevy_scope::{Node, Scope, moves::{MoveTableBuf, SharedNode}, table::OwnershipTableBuf};
    /// # use std::sync::Arc;
    /// let table = Arc::new(OwnershipTableBuf::new([Scope::new(b"app:", "A")]).unwrap());
    /// let shared = SharedNode::new(Node::new("A", table, MoveTableBuf::new()).unwrap());
    /// let started = shared.update_and_drain(|n| n.start_move(b"app:", "B")).unwrap();
    /// // No snapshot from before the move is left: ship the keys now.
    /// # let _ = started;
    /// ```
    pub fn update_and_drain<O, E>(
        &self,
        change: impl FnOnce(&mut Node<T, R>) -> Result<O, E>,
    ) -> Result<O, E> {
        self.publish(change, true)
    }

    fn publish<O, E>(
        &self,
        change: impl FnOnce(&mut Node<T, R>) -> Result<O, E>,
        drain: bool,
    ) -> Result<O, E> {
        let mut retired = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Node::clone(&self.current.load());
        let out = change(&mut next)?;
        // Swapping pays the readers' debts on the old state, so its strong
        // count counts the snapshots still held.
        let old = self.current.swap(Arc::new(next));
        retired.push(Arc::downgrade(&old));
        drop(old);
        retired.retain(|w| w.strong_count() > 0);
        if drain {
            let mut pause = Duration::from_micros(1);
            while retired.iter().any(|w| w.strong_count() > 0) {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(1));
            }
            retired.clear();
        }
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
