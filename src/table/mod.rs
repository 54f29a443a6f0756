//! The ownership table: validated, sorted scopes and their searches.
//!
//! A table that exists is valid: every id obeys the node-id rule, no
//! fallback repeats its writer, and the prefixes are *prefix-free* (no
//! prefix starts another), so at most one scope matches a key. The fixed
//! table finds it through its hash index (`index`); sorted prefix-free
//! prefixes also allow a binary search (the greatest prefix not above the
//! key is the sole candidate, checked with one `starts_with`), which the
//! owned tables and the largest fixed ones use.
//!
//! Two indexes, not one: the fixed table's lives in arrays sized by its
//! capacity (no heap, built in `const` context); `owned::SortedPrefixes`
//! (a hash of prefixes by length, on the heap) serves both unbounded
//! tables, `OwnershipTableBuf` and the compat table. Either in the
//! other's place would give the fixed table an allocator or the owned
//! ones a capacity.

pub(crate) mod index;
pub(crate) mod node_id;
#[cfg(feature = "alloc")]
pub(crate) mod owned;
pub(crate) mod routing;
pub(crate) mod scope;
pub(crate) mod transaction;

pub use self::node_id::{MAX_NODE_ID_LEN, NodeId, NodeIdError, validate_node_id};
#[cfg(feature = "alloc")]
pub use self::owned::{OwnershipErrorBuf, OwnershipTableBuf};
pub use self::routing::Routing;
pub use self::scope::Scope;
pub use self::transaction::{
    CrossScopeError, GroupError, ScopeGroups, group_by_scope, transaction_scope,
};

use core::cmp::Ordering;
use core::fmt;
use core::mem::ManuallyDrop;

use crate::bytes::{self, Lossy, equal_bytes};
use index::Index;

/// A validated ownership table, whichever its storage: the one shape both
/// [`OwnershipTable`] and `OwnershipTableBuf` (feature `alloc`) answer in.
/// Scopes come by value ([`Scope`] is `Copy`, three slices), so code
/// written against this trait, or against the inherent
/// [`scope_for`](OwnershipTable::scope_for) and
/// [`iter`](OwnershipTable::iter) both tables also have, runs on either.
///
///
/// ```
/// use kevy_scope::{OwnershipTable, Scope, table::ScopeTable};
///
/// fn writers<T: ScopeTable + ?Sized>(table: &T) -> Vec<&str> {
///     table.iter().map(|s| s.writer()).collect()
/// }
/// fn owner<'t, T: ScopeTable + ?Sized>(table: &'t T, key: &[u8]) -> Option<&'t str> {
///     table.scope_for(key).map(|s| s.writer())
/// }
///
/// let t = OwnershipTable::from_array([Scope::new(b"b:", "w2"), Scope::new(b"a:", "w1")]).unwrap();
/// assert_eq!(writers(&t), ["w1", "w2"]);
/// assert_eq!(owner(&t, b"b:7"), Some("w2"));
/// ```
pub trait ScopeTable {
    /// The scope `key` falls in, if any.
    ///
    /// ```
    /// use kevy_scope::{OwnershipTable, Scope, table::ScopeTable};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(ScopeTable::scope_for(&t, b"a:1").map(|s| s.writer()), Some("w"));
    /// ```
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>>;

    /// The scopes by value, sorted by prefix bytes.
    ///
    /// ```
    /// use kevy_scope::{OwnershipTable, Scope, table::ScopeTable};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(ScopeTable::iter(&t).len(), 1);
    /// ```
    fn iter(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_;
}

impl<const N: usize> ScopeTable for OwnershipTable<'_, N> {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.lookup(key).copied()
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_ {
        OwnershipTable::iter(self)
    }
}

impl<T: ScopeTable + ?Sized> ScopeTable for &T {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        (**self).scope_for(key)
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_ {
        (**self).iter()
    }
}

#[cfg(feature = "alloc")]
impl<T: ScopeTable + ?Sized> ScopeTable for alloc::sync::Arc<T> {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        (**self).scope_for(key)
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_ {
        (**self).iter()
    }
}

/// Why a set of scopes cannot form a table.
///
/// ```
/// use kevy_scope::{OwnershipTable, Scope, table::OwnershipError};
/// let err = OwnershipTable::from_array([
///     Scope::new(b"app:", "w-app"),
///     Scope::new(b"app:billing:", "w-billing"),
/// ])
/// .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"overlapping scope prefixes: "app:billing:" is contained by "app:""#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnershipError<'a> {
    /// Two scopes declare the same prefix.
    DuplicatePrefix {
        /// The repeated prefix.
        prefix: &'a [u8],
    },
    /// One prefix starts another, so a key could match both.
    OverlappingPrefix {
        /// The longer prefix.
        inner: &'a [u8],
        /// The shorter prefix that `inner` starts with.
        outer: &'a [u8],
    },
    /// More scopes than the table's fixed capacity.
    CapacityExceeded {
        /// The table's capacity.
        capacity: usize,
    },
    /// A writer or fallback id breaks the node-id rule.
    InvalidNodeId {
        /// The prefix of the scope naming the id.
        prefix: &'a [u8],
        /// The offending id.
        id: &'a str,
        /// Which rule it breaks.
        reason: NodeIdError,
    },
    /// A scope names its writer as its own fallback: no failover exists.
    FallbackIsWriter {
        /// The prefix of the scope.
        prefix: &'a [u8],
        /// The node named twice.
        node: &'a str,
    },
}

impl OwnershipError<'_> {
    /// A fixed sentence for contexts that cannot format, such as the
    /// compile-time error of a `static` table.
    ///
    /// ```
    /// # use kevy_scope::table::OwnershipError;
    /// let e = OwnershipError::DuplicatePrefix { prefix: b"app:" };
    /// assert_eq!(e.message(), "duplicate scope prefix");
    /// ```
    #[must_use]
    pub const fn message(&self) -> &'static str {
        match self {
            Self::DuplicatePrefix { .. } => "duplicate scope prefix",
            Self::OverlappingPrefix { .. } => "overlapping scope prefixes",
            Self::CapacityExceeded { .. } => "more scopes than the table's capacity",
            Self::InvalidNodeId { reason, .. } => reason.message(),
            Self::FallbackIsWriter { .. } => "a scope's fallback is its own writer",
        }
    }
}

impl fmt::Display for OwnershipError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::DuplicatePrefix { prefix } => {
                write!(f, "duplicate scope prefix {:?}", Lossy(prefix))
            }
            Self::OverlappingPrefix { inner, outer } => write!(
                f,
                "overlapping scope prefixes: {:?} is contained by {:?}",
                Lossy(inner),
                Lossy(outer)
            ),
            Self::CapacityExceeded { capacity } => {
                write!(
                    f,
                    "more than {capacity} scopes for a table of capacity {capacity}"
                )
            }
            Self::InvalidNodeId { prefix, id, reason } => {
                write!(
                    f,
                    "scope {:?} names node id {id:?}: {reason}",
                    Lossy(prefix)
                )
            }
            Self::FallbackIsWriter { prefix, node } => write!(
                f,
                "scope {:?} names {node:?} as both writer and fallback",
                Lossy(prefix)
            ),
        }
    }
}

impl core::error::Error for OwnershipError<'_> {}

#[cfg(feature = "defmt")]
impl defmt::Format for OwnershipError<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match *self {
            Self::DuplicatePrefix { prefix } => {
                defmt::write!(f, "duplicate scope prefix {=[u8]:a}", prefix)
            }
            Self::OverlappingPrefix { inner, outer } => defmt::write!(
                f,
                "overlapping scope prefixes: {=[u8]:a} is contained by {=[u8]:a}",
                inner,
                outer
            ),
            Self::CapacityExceeded { capacity } => {
                defmt::write!(
                    f,
                    "more scopes than the table's capacity {=usize}",
                    capacity
                )
            }
            Self::InvalidNodeId { prefix, id, reason } => defmt::write!(
                f,
                "scope {=[u8]:a} names node id {=str}: {}",
                prefix,
                id,
                reason
            ),
            Self::FallbackIsWriter { prefix, node } => defmt::write!(
                f,
                "scope {=[u8]:a} names {=str} as both writer and fallback",
                prefix,
                node
            ),
        }
    }
}

/// `key.starts_with(prefix)`, usable in `const` context.
const fn starts_with(key: &[u8], prefix: &[u8]) -> bool {
    match key.split_at_checked(prefix.len()) {
        Some((head, _)) => equal_bytes(head, prefix),
        None => false,
    }
}

/// The checks that look at one scope alone. In line on hosts, where a
/// table's loop then sets up the id check's constants once.
#[cfg_attr(not(any(target_os = "none", kevy_device)), inline(always))]
pub(crate) const fn validate_scope<'a>(scope: &Scope<'a>) -> Result<(), OwnershipError<'a>> {
    let prefix = scope.prefix();
    if let Err(reason) = validate_node_id(scope.writer()) {
        return Err(OwnershipError::InvalidNodeId {
            prefix,
            id: scope.writer(),
            reason,
        });
    }
    if let Some(fallback) = scope.fallback() {
        if let Err(reason) = validate_node_id(fallback) {
            return Err(OwnershipError::InvalidNodeId {
                prefix,
                id: fallback,
                reason,
            });
        }
        if equal_bytes(fallback.as_bytes(), scope.writer().as_bytes()) {
            return Err(OwnershipError::FallbackIsWriter {
                prefix,
                node: fallback,
            });
        }
    }
    Ok(())
}

/// The checks between scopes, on scopes sorted by prefix. Duplicates are
/// reported before overlaps, as the reference crate does. In sorted order a
/// prefix that starts any other prefix also starts its successor, so
/// neighbours are all that need comparing.
pub(crate) const fn validate_sorted<'a>(sorted: &[Scope<'a>]) -> Result<(), OwnershipError<'a>> {
    match first_clash(sorted) {
        None => Ok(()),
        Some(clash) => Err(clash.error()),
    }
}

/// Two neighbouring prefixes of a sorted table that cannot both stay.
#[derive(Clone, Copy)]
pub(crate) struct Clash<'a> {
    /// The smaller prefix (the outer one of an overlap).
    pub(crate) first: &'a [u8],
    /// The prefix after it, equal to it or starting with it.
    pub(crate) second: &'a [u8],
    /// Whether the two are equal.
    pub(crate) duplicate: bool,
}

impl<'a> Clash<'a> {
    /// The table error naming this pair.
    pub(crate) const fn error(self) -> OwnershipError<'a> {
        if self.duplicate {
            OwnershipError::DuplicatePrefix { prefix: self.first }
        } else {
            OwnershipError::OverlappingPrefix {
                inner: self.second,
                outer: self.first,
            }
        }
    }
}

/// The first duplicate pair, else the first overlapping pair, of a sorted
/// slice: sorted, a prefix sits right before the prefixes it starts.
pub(crate) const fn first_clash<'a>(sorted: &[Scope<'a>]) -> Option<Clash<'a>> {
    let mut overlap = None;
    let mut rest = sorted;
    while let [a, tail @ ..] = rest {
        if let [b, ..] = tail
            && starts_with(b.prefix(), a.prefix())
        {
            let clash = Clash {
                first: a.prefix(),
                second: b.prefix(),
                // Sorted, `b` starts with `a`: equal when as long.
                duplicate: a.prefix().len() == b.prefix().len(),
            };
            if clash.duplicate {
                return Some(clash);
            }
            if overlap.is_none() {
                overlap = Some(clash);
            }
        }
        rest = tail;
    }
    overlap
}

/// Something stored in a prefix-free table.
#[cfg_attr(any(target_os = "none", kevy_device), allow(dead_code))]
pub(crate) trait Prefixed {
    fn prefix_bytes(&self) -> &[u8];
}

impl Prefixed for Scope<'_> {
    #[inline]
    fn prefix_bytes(&self) -> &[u8] {
        self.prefix()
    }
}

/// The one search over a sorted, prefix-free slice: the greatest prefix not
/// above `key` is the only one that can match it. On hosts short slices are
/// scanned: a few predictable `starts_with` beat the unpredictable branches
/// of a binary search.
#[inline]
// The scan bound is 0 on bare metal, where nothing calls this.
#[cfg_attr(
    any(target_os = "none", kevy_device),
    allow(dead_code, clippy::absurd_extreme_comparisons)
)]
pub(crate) fn find_prefix_free<'s, E: Prefixed>(sorted: &'s [E], key: &[u8]) -> Option<&'s E> {
    if sorted.len() <= LINEAR_SCAN_MAX {
        return sorted
            .iter()
            .find(|e| bytes::starts_with(key, e.prefix_bytes()));
    }
    let after = sorted.partition_point(|e| e.prefix_bytes() <= key);
    let candidate = sorted.get(after.checked_sub(1)?)?;
    key.starts_with(candidate.prefix_bytes())
        .then_some(candidate)
}

/// Up to this many scopes, a table is scanned rather than searched. Bare
/// metal searches always: one search loop instead of two, in scarce flash.
#[cfg_attr(any(target_os = "none", kevy_device), allow(dead_code))]
pub(crate) const LINEAR_SCAN_MAX: usize = if cfg!(any(target_os = "none", kevy_device)) {
    0
} else {
    8
};

/// The static-table verdict for a scope a key fell in (or none).
#[inline]
pub(crate) fn route_scope<'a>(
    scope: Option<Scope<'a>>,
    self_id: &str,
    mut is_writer_down: impl FnMut(&str) -> bool,
) -> Routing<'a> {
    let Some(scope) = scope else {
        return Routing::Unknown;
    };
    let writer = scope.writer();
    let active_owner = match scope.fallback() {
        Some(fallback) if is_writer_down(writer) => fallback,
        // The reference consults the callback even without a fallback.
        None => {
            let _ = is_writer_down(writer);
            writer
        }
        Some(_) => writer,
    };
    Routing::for_owner(active_owner, self_id)
}

/// A validated ownership table of at most `N` scopes, borrowing its
/// prefixes and ids.
///
/// Build it in a `static` from literals (a bad table fails the build), at
/// runtime from an iterator (a bad table is an error value), or from a
/// config string with the config parser.
///
/// ```
/// use kevy_scope::{OwnershipTable, Routing, Scope};
///
/// static TABLE: OwnershipTable<'static, 2> = match OwnershipTable::from_array([
///     Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
///     Scope::new(b"app:auth:", "embed-auth-1"),
/// ]) {
///     Ok(table) => table,
///     Err(e) => panic!("{}", e.message()),
/// };
///
/// assert!(TABLE.route(b"app:billing:invoice:42", "embed-billing-1").is_local_writer());
/// assert_eq!(
///     TABLE.route(b"app:billing:invoice:42", "server-eu-1"),
///     Routing::Misdirected { target: "embed-billing-1" }
/// );
/// assert_eq!(TABLE.route(b"session:9", "server-eu-1"), Routing::Unknown);
/// ```
///
/// A duplicate or overlapping prefix in a `static` table is a build error:
///
/// ```compile_fail
/// use kevy_scope::{OwnershipTable, Scope};
/// static BAD: OwnershipTable<'static, 2> = match OwnershipTable::from_array([
///     Scope::new(b"app:", "w-app"),
///     Scope::new(b"app:billing:", "w-billing"),
/// ]) {
///     Ok(table) => table,
///     Err(e) => panic!("{}", e.message()),
/// };
/// ```
///
/// ```compile_fail
/// use kevy_scope::{OwnershipTable, Scope};
/// static BAD: OwnershipTable<'static, 2> = match OwnershipTable::from_array([
///     Scope::new(b"app:", "w-1"),
///     Scope::new(b"app:", "w-2"),
/// ]) {
///     Ok(table) => table,
///     Err(e) => panic!("{}", e.message()),
/// };
/// ```
#[derive(Clone)]
// The index before the scopes: its fields then sit at short offsets
// from the table's address, which a Cortex-M0 forms in fewer
// instructions than the offsets past all the scopes.
#[repr(C)]
pub struct OwnershipTable<'a, const N: usize> {
    /// Where each key's scope sits, built with the table.
    index: Index<N>,
    /// Sorted by prefix bytes; prefix-free. `Scope` is `Copy`, so there is
    /// nothing to drop; `ManuallyDrop` keeps the table free of drop glue,
    /// which lets `const` code match on a `Result` holding one.
    scopes: ManuallyDrop<heapless::Vec<Scope<'a>, N>>,
}

impl<'a, const N: usize> OwnershipTable<'a, N> {
    /// An empty table: every key routes [`Routing::Unknown`].
    ///
    /// ```
    /// # use kevy_scope::OwnershipTable;
    /// let t = OwnershipTable::<4>::new();
    /// assert!(t.is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            scopes: ManuallyDrop::new(heapless::Vec::new()),
            index: Index::EMPTY,
        }
    }

    /// Validates `scopes` and builds a table holding exactly them; the
    /// capacity is the array's length. Usable in `const` context.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope, table::OwnershipError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "w"), Scope::new(b"b:", "w")])?;
    /// assert_eq!(t.len(), 2);
    /// # Ok::<(), OwnershipError>(())
    /// ```
    #[inline]
    pub const fn from_array(mut scopes: [Scope<'a>; N]) -> Result<Self, OwnershipError<'a>> {
        let index = if N < 2 {
            // One scope is sorted and has no neighbours to clash. Checked
            // in line, with nothing taking the array's address, the table
            // is built where the caller keeps it rather than on the stack
            // and copied (the `construct_array` bench, one scope).
            match validate_each(&scopes) {
                Ok(()) => Index::build(&scopes),
                Err(e) => return Err(e),
            }
        } else {
            // The checks and the sort run out of line on the caller's
            // array; the table is then built where the caller keeps it,
            // not built here and copied out.
            match checked_index(&mut scopes) {
                Ok(index) => index,
                Err(e) => return Err(e),
            }
        };
        Ok(Self {
            index,
            scopes: ManuallyDrop::new(heapless::Vec::from_array(scopes)),
        })
    }

    /// Validates the scopes `iter` yields and builds a table of capacity
    /// `N`; more than `N` scopes is [`OwnershipError::CapacityExceeded`].
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope, table::OwnershipError};
    /// let scopes = [Scope::new(b"a:", "w"), Scope::new(b"b:", "w")];
    /// let t = OwnershipTable::<8>::try_from_iter(scopes)?;
    /// assert_eq!(t.len(), 2);
    /// let err = OwnershipTable::<1>::try_from_iter(scopes).unwrap_err();
    /// assert_eq!(err, OwnershipError::CapacityExceeded { capacity: 1 });
    /// # Ok::<(), OwnershipError>(())
    /// ```
    #[inline]
    pub fn try_from_iter<I>(iter: I) -> Result<Self, OwnershipError<'a>>
    where
        I: IntoIterator<Item = Scope<'a>>,
    {
        // Built where it is returned: the scopes are not copied again.
        let mut table = Self::new();
        for scope in iter {
            validate_scope(&scope)?;
            table
                .scopes
                .push(scope)
                .map_err(|_| OwnershipError::CapacityExceeded { capacity: N })?;
        }
        // A table of one scope is sorted and has no neighbours to clash.
        // Skipping the sort's call (out of line) then leaves nothing that
        // takes the table's address: the compiler keeps it in registers
        // and stores it once, in the result, instead of building it on
        // the stack and copying it there (the `construct` bench, one scope).
        if N >= 2 && !sort_scopes(&mut table.scopes) {
            validate_sorted(&table.scopes)?;
        }
        table.index = Index::build(&table.scopes);
        Ok(table)
    }

    /// Appends a scope the config parser has already validated; `Err`
    /// when the table is full. The table is unsorted until [`Self::seal`].
    pub(crate) fn push_unsorted(&mut self, scope: Scope<'a>) -> Result<(), Scope<'a>> {
        self.scopes.push(scope)
    }

    /// Sorts the scopes pushed with [`Self::push_unsorted`] and checks them
    /// against each other, in place.
    #[inline(never)]
    pub(crate) fn seal(&mut self) -> Result<(), Clash<'a>> {
        let clash = if sort_scopes(&mut self.scopes) {
            None
        } else {
            first_clash(&self.scopes)
        };
        match clash {
            Some(clash) => Err(clash),
            None => {
                self.index = Index::build(&self.scopes);
                Ok(())
            }
        }
    }

    /// The number of scopes.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// assert_eq!(OwnershipTable::from_array([Scope::new(b"a:", "w")]).unwrap().len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether the table has no scopes.
    ///
    /// ```
    /// # use kevy_scope::OwnershipTable;
    /// assert!(OwnershipTable::<0>::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The scopes, sorted by prefix bytes.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"b:", "w"), Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.scopes()[0].prefix(), b"a:");
    /// ```
    #[must_use]
    pub fn scopes(&self) -> &[Scope<'a>] {
        &self.scopes
    }

    /// The scopes by value, sorted by prefix bytes: the shape
    /// `OwnershipTableBuf::iter` has too (see [`ScopeTable`]).
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"b:", "w"), Scope::new(b"a:", "w")]).unwrap();
    /// let prefixes: Vec<&[u8]> = t.iter().map(|s| s.prefix()).collect();
    /// assert_eq!(prefixes, [b"a:", b"b:"]);
    /// ```
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = Scope<'a>> + DoubleEndedIterator + Clone + '_ {
        self.scopes.iter().copied()
    }

    /// The scope `key` falls in, if any (at most one can match).
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "wa"), Scope::new(b"abc:", "wabc")]).unwrap();
    /// assert_eq!(t.lookup(b"abc:1").map(|s| s.writer()), Some("wabc"));
    /// assert!(t.lookup(b"ab").is_none());
    /// ```
    #[must_use]
    #[cfg_attr(not(any(target_os = "none", kevy_device)), inline(always))]
    #[cfg_attr(any(target_os = "none", kevy_device), inline)]
    pub fn lookup(&self, key: &[u8]) -> Option<&Scope<'a>> {
        self.index.find(&self.scopes, key)
    }

    /// The scope `key` falls in, by value: the shape
    /// `OwnershipTableBuf::scope_for` has too (see [`ScopeTable`]);
    /// [`Self::lookup`] returns a reference into the table instead.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.scope_for(b"a:1"), Some(Scope::new(b"a:", "w")));
    /// assert_eq!(t.scope_for(b"b:1"), None);
    /// ```
    #[must_use]
    #[inline]
    pub fn scope_for(&self, key: &[u8]) -> Option<Scope<'a>> {
        self.lookup(key).copied()
    }

    /// The verdict for a write of `key` on node `self_id`, ignoring
    /// fallbacks.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Routing, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"app:", "w-app")]).unwrap();
    /// assert_eq!(t.route(b"app:x", "w-app"), Routing::Owned);
    /// assert_eq!(t.route(b"app:x", "other"), Routing::Misdirected { target: "w-app" });
    /// assert_eq!(t.route(b"x", "other"), Routing::Unknown);
    /// ```
    #[must_use]
    #[inline]
    pub fn route(&self, key: &[u8], self_id: &str) -> Routing<'a> {
        if cfg!(any(target_os = "none", kevy_device)) {
            return route_scope(self.lookup(key).copied(), self_id, |_| false);
        }
        // Hosts: one scope answers every hit alike, so the owner check is
        // a branch the processor always guesses right; a table of several
        // answers this node's keys and others' in any order, so it is a
        // select (see `Routing::for_owner_of_many`).
        if let [only] = self.scopes.as_slice() {
            if !bytes::starts_with(key, only.prefix()) {
                return Routing::Unknown;
            }
            return Routing::for_owner(only.writer(), self_id);
        }
        match self.lookup(key) {
            Some(scope) => Routing::for_owner_of_many(scope.writer(), self_id),
            None => Routing::Unknown,
        }
    }

    /// The verdict for a write of `key` on node `self_id` when
    /// `is_writer_down(writer)` tells which writers are down: a down
    /// writer's fallback, when declared, is the active owner.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"app:", "w").with_fallback("fb")]).unwrap();
    /// assert!(t.route_with_fallback_state(b"app:x", "fb", |id| id == "w").is_local_writer());
    /// assert_eq!(t.route_with_fallback_state(b"app:x", "fb", |_| false).misdirected_target(), Some("w"));
    /// ```
    #[inline]
    pub fn route_with_fallback_state<F>(
        &self,
        key: &[u8],
        self_id: &str,
        is_writer_down: F,
    ) -> Routing<'a>
    where
        F: FnMut(&str) -> bool,
    {
        route_scope(self.lookup(key).copied(), self_id, is_writer_down)
    }

    /// The scopes that declare no fallback: a boot-time lint, since their
    /// keys are unwritable while the writer is down.
    ///
    /// ```
    /// # use kevy_scope::{OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([
    ///     Scope::new(b"a:", "w").with_fallback("f"),
    ///     Scope::new(b"b:", "w"),
    /// ]).unwrap();
    /// let lonely: Vec<_> = t.scopes_without_fallback().map(|s| s.prefix()).collect();
    /// assert_eq!(lonely, [b"b:"]);
    /// ```
    pub fn scopes_without_fallback(&self) -> impl Iterator<Item = &Scope<'a>> + '_ {
        self.scopes.iter().filter(|s| s.fallback().is_none())
    }
}

impl<const N: usize> Default for OwnershipTable<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for OwnershipTable<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.scopes.iter()).finish()
    }
}

/// Renders the `scopes` config value: tokens joined by `, `.
///
/// ```
/// # use kevy_scope::{OwnershipTable, Scope};
/// let t = OwnershipTable::from_array([Scope::new(b"b:", "w2"), Scope::new(b"a:", "w1").with_fallback("f")]).unwrap();
/// assert_eq!(t.to_string(), "a:=w1|f, b:=w2");
/// ```
impl<const N: usize> fmt::Display for OwnershipTable<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, self.scopes.iter())
    }
}

pub(crate) fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for OwnershipTable<'_, N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self.scopes.as_slice());
    }
}

/// Sorts by prefix; `true` when it also found no prefix starting its
/// neighbour (no clash for [`first_clash`] to report), `false` when it
/// did not look or found one. Small tables on bare metal use an insertion
/// sort: a few dozen bytes of code instead of the general sort's
/// kilobytes. On hosts one pass finds a table listed in order or in
/// reverse, and whether its neighbours clash; any other order takes the
/// general sort. `N` is a constant, so only one branch is compiled in.
fn sort_scopes<const N: usize>(scopes: &mut heapless::Vec<Scope<'_>, N>) -> bool {
    if !cfg!(any(target_os = "none", kevy_device)) && scopes.len() < 2 {
        // Sorted, and no neighbours to clash.
        return true;
    }
    if N <= SMALL_TABLE && cfg!(any(target_os = "none", kevy_device)) {
        for i in 1..scopes.len() {
            // Sink scope `i` to its place, one neighbour swap at a time
            // (no indexing: no panic branch).
            for j in (1..=i).rev() {
                let Some([a, b]) = scopes.get_mut(j - 1..=j) else {
                    break;
                };
                if a.prefix() <= b.prefix() {
                    break;
                }
                core::mem::swap(a, b);
            }
        }
        return false;
    }
    match put_in_order(scopes) {
        Some(clash_free) => clash_free,
        None => {
            scopes.sort_unstable_by(|a, b| prefix_order(a.prefix(), b.prefix()).0);
            false
        }
    }
}

/// One pass over `scopes`: a table listed in order is left so, one listed
/// in reverse is reversed, and either way `Some(true)` when no prefix
/// starts its neighbour's (nothing for [`first_clash`] to report).
/// `None`, untouched, for any other order.
const fn put_in_order(scopes: &mut [Scope<'_>]) -> Option<bool> {
    let (mut ascending, mut descending, mut clash) = (true, true, false);
    let mut rest: &[Scope<'_>] = scopes;
    while let [a, tail @ ..] = rest {
        if let [b, ..] = tail {
            let (order, starts) = prefix_order(a.prefix(), b.prefix());
            ascending &= !matches!(order, Ordering::Greater);
            descending &= matches!(order, Ordering::Greater);
            // Both orders keep these two side by side.
            clash |= starts;
            if !ascending && !descending {
                return None;
            }
        }
        rest = tail;
    }
    if descending {
        reverse(scopes);
    }
    Some(!clash)
}

/// Reverses `scopes` with plain copies (`Scope` is `Copy`).
const fn reverse(scopes: &mut [Scope<'_>]) {
    let mut rest = scopes;
    while let [a, middle @ .., b] = rest {
        (*a, *b) = (*b, *a);
        rest = middle;
    }
}

/// `a.cmp(b)` eight bytes at a step, without a call (the prefixes of a
/// table share their first bytes and are short), and whether one starts
/// with the other.
const fn prefix_order(mut a: &[u8], mut b: &[u8]) -> (Ordering, bool) {
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return (order_of(x < y), false);
        }
        a = ra;
        b = rb;
    }
    if let (Some((x, ra)), Some((y, rb))) = (a.split_first_chunk::<4>(), b.split_first_chunk::<4>())
    {
        let (x, y) = (u32::from_be_bytes(*x), u32::from_be_bytes(*y));
        if x != y {
            return (order_of(x < y), false);
        }
        a = ra;
        b = rb;
    }
    while let ([x, ra @ ..], [y, rb @ ..]) = (a, b) {
        if *x != *y {
            return (order_of(*x < *y), false);
        }
        a = ra;
        b = rb;
    }
    let order = if a.len() == b.len() {
        Ordering::Equal
    } else {
        order_of(a.is_empty())
    };
    (order, true)
}

/// `Less` when `less`, else `Greater`.
const fn order_of(less: bool) -> Ordering {
    if less {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// [`put_in_order`] on hosts; bare metal, where the flash for the pass
/// would be spent on a table that is usually built in `const`, sorts.
const fn put_in_order_const(scopes: &mut [Scope<'_>]) -> Option<bool> {
    if cfg!(any(target_os = "none", kevy_device)) {
        None
    } else {
        put_in_order(scopes)
    }
}

/// Validates `scopes`, sorts them in place and indexes them: the work of
/// [`OwnershipTable::from_array`] for two scopes or more, apart from the
/// moves. Out of line on hosts, so that the wrapper around it stays small
/// enough to inline.
#[cfg_attr(not(any(target_os = "none", kevy_device)), inline(never))]
const fn checked_index<'a, const N: usize>(
    scopes: &mut [Scope<'a>; N],
) -> Result<Index<N>, OwnershipError<'a>> {
    if let Err(e) = validate_each(scopes) {
        return Err(e);
    }
    // A table listed in order or in reverse takes one pass on hosts; one
    // of fewer than two scopes is sorted and has no neighbours to clash.
    let clash_free = N < 2
        || match put_in_order_const(scopes) {
            Some(clash_free) => clash_free,
            None => {
                sort_const(scopes);
                false
            }
        };
    if !clash_free && let Err(e) = validate_sorted(scopes) {
        return Err(e);
    }
    Ok(Index::build(scopes))
}

/// [`validate_scope`] on each scope, in order.
#[inline]
const fn validate_each<'a>(scopes: &[Scope<'a>]) -> Result<(), OwnershipError<'a>> {
    let mut rest = scopes;
    while let [scope, tail @ ..] = rest {
        if let Err(e) = validate_scope(scope) {
            return Err(e);
        }
        rest = tail;
    }
    Ok(())
}

/// Bare-metal tables up to this capacity sort by insertion at run time
/// ([`sort_scopes`]).
const SMALL_TABLE: usize = 32;

/// Sorts by prefix, usable in `const` context: one pass when the scopes
/// are in order already, else a heapsort. `O(n log n)` compares in any
/// order: the compiler stops a constant whose evaluation runs long, and
/// a quadratic sort of a few hundred shuffled scopes already did.
const fn sort_const(scopes: &mut [Scope<'_>]) {
    let n = scopes.len();
    let mut sorted = true;
    let mut rest: &[Scope<'_>] = scopes;
    while let [a, tail @ ..] = rest {
        if let [b, ..] = tail
            && greater(a, b)
        {
            sorted = false;
            break;
        }
        rest = tail;
    }
    if sorted {
        return;
    }
    // A max-heap over the whole slice, then the largest moved to the end,
    // one at a time.
    let mut root = n / 2;
    while root > 0 {
        root -= 1;
        sift_down(scopes, root, n);
    }
    let mut end = n;
    while end > 1 {
        end -= 1;
        scopes.swap(0, end);
        sift_down(scopes, 0, end);
    }
}

/// Moves `scopes[root]` down the heap held in `scopes[..end]` until no
/// child's prefix is greater.
const fn sift_down(scopes: &mut [Scope<'_>], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        // `child + 1 < end <= len` and `root < child`: all in bounds.
        #[allow(clippy::indexing_slicing)]
        {
            if child + 1 < end && greater(&scopes[child + 1], &scopes[child]) {
                child += 1;
            }
            if !greater(&scopes[child], &scopes[root]) {
                return;
            }
        }
        scopes.swap(root, child);
        root = child;
    }
}

/// Whether `a`'s prefix sorts after `b`'s.
const fn greater(a: &Scope<'_>, b: &Scope<'_>) -> bool {
    matches!(prefix_order(a.prefix(), b.prefix()).0, Ordering::Greater)
}

/// Builds an [`OwnershipTable`] at compile time; a table that would be
/// refused at runtime (duplicate or overlapping prefixes, a bad node id)
/// fails the build with the error's message.
///
/// ```
/// use kevy_scope::{ownership_table, OwnershipTable, Scope};
/// static TABLE: OwnershipTable<'static, 2> = ownership_table![
///     Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
///     Scope::new(b"app:auth:", "embed-auth-1"),
/// ];
/// assert!(TABLE.route(b"app:auth:7", "embed-auth-1").is_local_writer());
/// ```
///
/// ```compile_fail
/// use kevy_scope::{ownership_table, OwnershipTable, Scope};
/// static BAD: OwnershipTable<'static, 2> = ownership_table![
///     Scope::new(b"app:", "w-app"),
///     Scope::new(b"app:billing:", "w-billing"),
/// ];
/// ```
///
/// ```compile_fail
/// use kevy_scope::{ownership_table, OwnershipTable, Scope};
/// static BAD: OwnershipTable<'static, 2> = ownership_table![
///     Scope::new(b"app:", "w-1"),
///     Scope::new(b"app:", "w-2"),
/// ];
/// ```
#[macro_export]
macro_rules! ownership_table {
    ($($scope:expr),* $(,)?) => {
        const {
            match $crate::OwnershipTable::from_array([$($scope),*]) {
                ::core::result::Result::Ok(table) => table,
                ::core::result::Result::Err(error) => ::core::panic!("{}", error.message()),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::prelude::rust_2024::*;

    use super::*;

    #[test]
    fn prefix_order_is_slice_order() {
        let words: [&[u8]; 12] = [
            b"",
            b"a",
            b"ab",
            b"app:svc0",
            b"app:svc00000:",
            b"app:svc00001:",
            b"app:svc00010:",
            b"app:svc0000",
            b"app:svc00000:eu:",
            b"app:svc0\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x00",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        for a in words {
            for b in words {
                let starts = a.starts_with(b) || b.starts_with(a);
                assert_eq!(prefix_order(a, b), (a.cmp(b), starts), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn sorts_any_order() {
        let prefixes: Vec<Vec<u8>> = (0..40)
            .map(|i| std::format!("p{i:03}:").into_bytes())
            .collect();
        let sorted: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
        let mut shuffled = sorted.clone();
        shuffled.swap(3, 30);
        shuffled.swap(7, 8);
        let mut reversed = sorted.clone();
        reversed.reverse();
        // Reversed but for one pair: neither pass applies.
        let mut almost = reversed.clone();
        almost.swap(0, 1);
        for input in [sorted.clone(), reversed.clone(), shuffled, almost] {
            let mut v = heapless::Vec::<Scope<'_>, 64>::from_slice(&input).unwrap();
            let checked = sort_scopes(&mut v);
            assert_eq!(v.as_slice(), sorted.as_slice());
            // In order or reversed, the one pass vouches for the neighbours.
            assert_eq!(checked, input == sorted || input == reversed);
        }
        // Odd and even lengths reverse in full.
        for n in 0..6 {
            let mut v = heapless::Vec::<Scope<'_>, 64>::from_slice(&reversed[40 - n..]).unwrap();
            assert!(sort_scopes(&mut v));
            assert_eq!(v.as_slice(), &sorted[..n]);
        }
    }

    #[test]
    fn from_array_refuses_clashes_in_any_order() {
        let ok = [s(b"a:", "w"), s(b"b:", "w"), s(b"c:", "w"), s(b"d:", "w")];
        let overlap = [s(b"a:", "w"), s(b"b:", "w"), s(b"b:x", "w"), s(b"d:", "w")];
        let duplicate = [s(b"a:", "w"), s(b"b:", "w"), s(b"b:", "w"), s(b"d:", "w")];
        for table in [ok, overlap, duplicate] {
            let mut reversed = table;
            reversed.reverse();
            let mut shuffled = table;
            shuffled.swap(0, 3);
            let want = OwnershipTable::<4>::try_from_iter(table).map(|t| t.scopes().to_vec());
            for input in [table, reversed, shuffled] {
                let got = OwnershipTable::from_array(input).map(|t| t.scopes().to_vec());
                assert_eq!(got, want, "{input:?}");
            }
        }
        assert!(OwnershipTable::from_array(overlap).is_err());
        assert!(OwnershipTable::from_array(duplicate).is_err());
    }

    /// `t:0000:` .. in the order `i * step % N` (a permutation for odd
    /// `step`), as `const` data.
    const fn numbered<const N: usize>(step: usize) -> [[u8; 7]; N] {
        let mut all = [*b"t:0000:"; N];
        let mut i = 0;
        while i < N {
            let n = i * step % N;
            all[i][2] = b'0' + (n / 1000) as u8;
            all[i][3] = b'0' + (n / 100 % 10) as u8;
            all[i][4] = b'0' + (n / 10 % 10) as u8;
            all[i][5] = b'0' + (n % 10) as u8;
            i += 1;
        }
        all
    }

    /// The table of `prefixes`, built at compile time.
    const fn table_of<const N: usize>(
        prefixes: &'static [[u8; 7]; N],
    ) -> OwnershipTable<'static, N> {
        let mut scopes = [Scope::new(b"", "w"); N];
        let mut i = 0;
        while i < N {
            scopes[i] = Scope::new(&prefixes[i], "w");
            i += 1;
        }
        match OwnershipTable::from_array(scopes) {
            Ok(table) => table,
            Err(_) => core::panic!("refused"),
        }
    }

    // The sort of a `const` table must stay within the compiler's budget
    // for a constant: a quadratic sort ran out of it at a few hundred
    // scrambled scopes. 1 024 scrambled and 4 096 in order fit.
    static SCRAMBLED_PREFIXES: [[u8; 7]; 1024] = numbered(7919);
    static SCRAMBLED: OwnershipTable<'static, 1024> = table_of(&SCRAMBLED_PREFIXES);
    static IN_ORDER_PREFIXES: [[u8; 7]; 4096] = numbered(1);
    static IN_ORDER: OwnershipTable<'static, 4096> = table_of(&IN_ORDER_PREFIXES);

    #[test]
    fn a_const_table_in_any_order_is_sorted_and_routes() {
        fn check<const N: usize>(table: &OwnershipTable<'_, N>, prefixes: &[[u8; 7]; N]) {
            let sorted: Vec<&[u8]> = table.scopes().iter().map(|s| s.prefix()).collect();
            assert_eq!(sorted.len(), N);
            assert!(sorted.windows(2).all(|w| w[0] < w[1]));
            for p in prefixes {
                let key = [&p[..], b"k"].concat();
                assert_eq!(table.scope_for(&key).map(|s| s.prefix()), Some(&p[..]));
            }
        }
        check(&SCRAMBLED, &SCRAMBLED_PREFIXES);
        check(&IN_ORDER, &IN_ORDER_PREFIXES);
    }

    #[test]
    fn the_const_sort_sorts_any_order() {
        // Every order of five prefixes, and larger scrambled inputs, against
        // the library's sort (`from_array` also runs it at run time).
        let names: Vec<Vec<u8>> = (0..40)
            .map(|i| std::format!("p{i:02}:").into_bytes())
            .collect();
        let mut orders: Vec<Vec<usize>> = Vec::new();
        let mut perm = [0usize, 1, 2, 3, 4];
        loop {
            orders.push(perm.to_vec());
            // Next permutation, lexicographic.
            let Some(i) = (0..4).rev().find(|&i| perm[i] < perm[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| perm[j] > perm[i]).unwrap();
            perm.swap(i, j);
            perm[i + 1..].reverse();
        }
        for n in [0, 1, 2, 7, 16, 33, 40] {
            // 13 is prime to every length here: a permutation.
            orders.push((0..n).map(|i| i * 13 % n.max(1)).collect());
            orders.push((0..n).rev().collect());
        }
        for order in orders {
            let mut scopes: Vec<Scope<'_>> =
                order.iter().map(|&i| Scope::new(&names[i], "w")).collect();
            let mut want = scopes.clone();
            want.sort_by(|a, b| a.prefix().cmp(b.prefix()));
            sort_const(&mut scopes);
            assert_eq!(scopes, want, "{order:?}");
        }
    }

    #[test]
    fn the_order_pass_finds_every_clash() {
        // A duplicate or an overlap, in order or reversed, anywhere in the
        // table: the pass must not vouch for it.
        let prefixes: Vec<Vec<u8>> = (0..12)
            .map(|i| std::format!("p{i:03}:").into_bytes())
            .collect();
        for at in 0..12 {
            for extra in [prefixes[at].clone(), [&prefixes[at][..], b"x"].concat()] {
                let mut all: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
                all.push(Scope::new(&extra, "w"));
                all.sort_by(|a, b| a.prefix().cmp(b.prefix()));
                for reversed in [false, true] {
                    let mut input = all.clone();
                    if reversed {
                        input.reverse();
                    }
                    let mut v = heapless::Vec::<Scope<'_>, 16>::from_slice(&input).unwrap();
                    let checked = sort_scopes(&mut v);
                    assert!(first_clash(&v).is_some());
                    // The pass flags the clash or, for equal prefixes
                    // listed in reverse, gives way to the sort: either way
                    // it does not vouch.
                    assert!(!checked, "{at} {extra:?} {reversed}");
                }
            }
        }
    }

    fn s<'a>(prefix: &'a [u8], writer: &'a str) -> Scope<'a> {
        Scope::new(prefix, writer)
    }

    #[test]
    fn empty_table_routes_unknown() {
        let t = OwnershipTable::<0>::from_array([]).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.route(b"any-key", "node-1"), Routing::Unknown);
    }

    #[test]
    fn sorted_regardless_of_input_order() {
        let t = OwnershipTable::from_array([s(b"c:", "w"), s(b"a:", "w"), s(b"b:", "w")]).unwrap();
        let prefixes: Vec<_> = t.scopes().iter().map(|s| s.prefix()).collect();
        assert_eq!(prefixes, [b"a:", b"b:", b"c:"]);
    }

    #[test]
    fn overlap_found_across_non_neighbours_in_input() {
        let err =
            OwnershipTable::from_array([s(b"app:", "w"), s(b"zzz", "w"), s(b"app:billing:", "w")])
                .unwrap_err();
        assert_eq!(
            err,
            OwnershipError::OverlappingPrefix {
                inner: b"app:billing:",
                outer: b"app:"
            }
        );
    }

    #[test]
    fn overlap_with_sibling_between() {
        // "a" < "a:" < "a:b"... the checker must still see "a" start "ab".
        let err = OwnershipTable::from_array([s(b"a", "w"), s(b"ab", "w"), s(b"a\x00", "w")])
            .unwrap_err();
        assert!(
            matches!(err, OwnershipError::OverlappingPrefix { outer: b"a", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn duplicate_reported_before_overlap() {
        let err =
            OwnershipTable::from_array([s(b"a", "w"), s(b"ab", "w"), s(b"x", "w"), s(b"x", "v")])
                .unwrap_err();
        assert_eq!(err, OwnershipError::DuplicatePrefix { prefix: b"x" });
        assert_eq!(err.to_string(), "duplicate scope prefix \"x\"");
    }

    #[test]
    fn empty_prefix_alone_owns_everything() {
        let t = OwnershipTable::from_array([s(b"", "w")]).unwrap();
        assert_eq!(t.route(b"", "w"), Routing::Owned);
        assert_eq!(
            t.route(b"anything", "v"),
            Routing::Misdirected { target: "w" }
        );
        let err = OwnershipTable::from_array([s(b"", "w"), s(b"k", "w")]).unwrap_err();
        assert_eq!(
            err,
            OwnershipError::OverlappingPrefix {
                inner: b"k",
                outer: b""
            }
        );
    }

    #[test]
    fn id_rules_are_enforced() {
        let long = "x".repeat(33);
        let err = OwnershipTable::from_array([s(b"a", &long)]).unwrap_err();
        assert!(matches!(
            err,
            OwnershipError::InvalidNodeId {
                reason: NodeIdError::TooLong { len: 33 },
                ..
            }
        ));
        let err = OwnershipTable::from_array([s(b"a", "w").with_fallback("")]).unwrap_err();
        assert!(matches!(
            err,
            OwnershipError::InvalidNodeId {
                reason: NodeIdError::Empty,
                ..
            }
        ));
        let err = OwnershipTable::from_array([s(b"a", "w").with_fallback("w")]).unwrap_err();
        assert_eq!(
            err,
            OwnershipError::FallbackIsWriter {
                prefix: b"a",
                node: "w"
            }
        );
        assert_eq!(
            err.to_string(),
            "scope \"a\" names \"w\" as both writer and fallback"
        );
    }

    /// Tables of capacity 1 skip the sort and build in place; they must
    /// accept and refuse exactly what a larger capacity does, and route the
    /// same.
    #[test]
    fn one_scope_tables_check_and_route_as_larger_ones() {
        let long = "x".repeat(33);
        let cases = [
            s(b"app:", "w"),
            s(b"app:", "w").with_fallback("f"),
            s(b"", "w"),
            s(b"app:", ""),
            s(b"app:", &long),
            s(b"app:", "a,b"),
            s(b"app:", "w").with_fallback(""),
            s(b"app:", "w").with_fallback("f@1"),
            s(b"app:", "w").with_fallback("w"),
        ];
        for scope in cases {
            let wide = OwnershipTable::<4>::try_from_iter([scope]);
            let one = OwnershipTable::<1>::try_from_iter([scope]);
            let array = OwnershipTable::from_array([scope]);
            assert_eq!(one.as_ref().err(), wide.as_ref().err(), "{scope:?}");
            assert_eq!(array.as_ref().err(), wide.as_ref().err(), "{scope:?}");
            let (Ok(wide), Ok(one), Ok(array)) = (wide, one, array) else {
                continue;
            };
            assert_eq!(one.len(), 1);
            assert_eq!(array.len(), 1);
            for key in [&b"app:1"[..], b"app", b"ap", b"", b"other", b"app:"] {
                let routed = wide.route(key, "f");
                assert_eq!(one.route(key, "f"), routed, "{scope:?} {key:?}");
                assert_eq!(array.route(key, "f"), routed, "{scope:?} {key:?}");
            }
        }
    }

    #[test]
    fn capacity_overflow_is_an_error() {
        let scopes = [s(b"a", "w"), s(b"b", "w"), s(b"c", "w")];
        assert_eq!(
            OwnershipTable::<2>::try_from_iter(scopes).unwrap_err(),
            OwnershipError::CapacityExceeded { capacity: 2 }
        );
        assert_eq!(OwnershipTable::<3>::try_from_iter(scopes).unwrap().len(), 3);
    }

    #[test]
    fn key_one_byte_short_of_prefix_misses() {
        let t = OwnershipTable::from_array([s(b"app:billing:", "w")]).unwrap();
        assert_eq!(t.route(b"app:billing", "v"), Routing::Unknown);
        assert_eq!(
            t.route(b"app:billing:", "v"),
            Routing::Misdirected { target: "w" }
        );
    }

    #[test]
    fn fallback_absent_still_names_writer() {
        let t = OwnershipTable::from_array([s(b"k:", "w-1")]).unwrap();
        let mut asked = 0;
        let r = t.route_with_fallback_state(b"k:abc", "other", |id| {
            asked += 1;
            id == "w-1"
        });
        assert_eq!(r.misdirected_target(), Some("w-1"));
        assert_eq!(asked, 1);
    }

    #[test]
    fn const_table_builds_at_compile_time() {
        const T: OwnershipTable<'static, 3> = crate::ownership_table![
            Scope::new(b"z:", "w"),
            Scope::new(b"m:", "w"),
            Scope::new(b"a:", "w"),
        ];
        assert_eq!(T.len(), 3);
        assert_eq!(T.scopes()[0].prefix(), b"a:");
    }
}
