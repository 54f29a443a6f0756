//! An owned, unbounded ownership table for servers that read their config
//! at runtime (`alloc`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::table::{
    Clash, LINEAR_SCAN_MAX, Prefixed, find_prefix_free, first_clash, route_scope, validate_scope,
    write_joined,
};
use crate::table::{OwnershipError, Routing, Scope, ScopeTable};

/// One scope's bytes, owned.
#[derive(Clone, PartialEq, Eq)]
struct ScopeBuf {
    prefix: Box<[u8]>,
    writer: Box<str>,
    fallback: Option<Box<str>>,
}

impl ScopeBuf {
    fn copy_of(scope: &Scope<'_>) -> Self {
        Self {
            prefix: scope.prefix().into(),
            writer: scope.writer().into(),
            fallback: scope.fallback().map(Into::into),
        }
    }

    fn as_scope(&self) -> Scope<'_> {
        let scope = Scope::new(&self.prefix, &self.writer);
        match &self.fallback {
            Some(fallback) => scope.with_fallback(fallback),
            None => scope,
        }
    }
}

impl Prefixed for ScopeBuf {
    #[inline]
    fn prefix_bytes(&self) -> &[u8] {
        &self.prefix
    }
}

/// An [`OwnershipTable`](crate::table::OwnershipTable) that owns its scopes and
/// has no capacity bound: the same validation, routing and verdicts.
///
/// It copies what it is built from, so the config text can be dropped.
///
/// ```
/// use kevy_scope::{Routing, Scope, table::OwnershipTableBuf};
///
/// let config = String::from("app:billing:");
/// let table = OwnershipTableBuf::new([Scope::new(config.as_bytes(), "embed-billing-1")])
///     .expect("one scope is a valid table");
/// drop(config);
/// assert_eq!(
///     table.route(b"app:billing:1", "server-eu-1"),
///     Routing::Misdirected { target: "embed-billing-1" }
/// );
/// ```
#[derive(Clone, Default)]
pub struct OwnershipTableBuf {
    scopes: SortedPrefixes<ScopeBuf>,
}

impl PartialEq for OwnershipTableBuf {
    fn eq(&self, other: &Self) -> bool {
        self.scopes.items() == other.scopes.items()
    }
}

/// Prefix-free entries sorted by prefix, with their hash index: the one
/// search of every owned table (this one, and the `compat` table's
/// positions).
#[derive(Clone)]
pub(crate) struct SortedPrefixes<E> {
    items: Vec<E>,
    index: LengthIndex,
}

impl<E> Default for SortedPrefixes<E> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: LengthIndex::default(),
        }
    }
}

impl<E: Prefixed> SortedPrefixes<E> {
    /// Indexes `items`, which must be sorted by prefix and prefix-free.
    pub(crate) fn new(items: Vec<E>) -> Self {
        // Small tables are scanned (see `find`): no index to build.
        let index = if items.len() > LINEAR_SCAN_MAX {
            LengthIndex::build(&items)
        } else {
            LengthIndex::default()
        };
        Self { items, index }
    }

    /// The entries, sorted by prefix.
    pub(crate) fn items(&self) -> &[E] {
        &self.items
    }

    /// The entry whose prefix `key` starts with, if any: the hash index
    /// when it can answer, else the sorted search.
    #[inline]
    pub(crate) fn find(&self, key: &[u8]) -> Option<&E> {
        let indexed = if self.items.len() > LINEAR_SCAN_MAX {
            self.index.find(&self.items, key)
        } else {
            None
        };
        match indexed {
            Some(found) => found,
            None => find_prefix_free(&self.items, key),
        }
    }
}

impl Eq for OwnershipTableBuf {}

/// Hash index over prefixes, by length. Since at most one prefix matches a
/// key, hashing the key's first `L` bytes for each prefix length `L` finds
/// it in one probe per distinct length: one, for tables of uniform
/// prefixes such as `app:svc00042:`. The lengths most prefixes have are
/// tried first, so a hit is found in the first probe or two even among
/// several lengths (`tenant-7:` .. `tenant-99991:`). With many distinct
/// lengths, binary search is cheaper, and the index is left empty.
#[derive(Clone, Default)]
struct LengthIndex {
    /// Distinct prefix lengths, the most common first.
    lengths: Vec<usize>,
    /// Positions in `scopes`, by hash of the prefix.
    slots: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

/// Above this many distinct prefix lengths, routing binary-searches: a
/// miss probes every length.
const MAX_HASHED_LENGTHS: usize = 6;

impl LengthIndex {
    fn build<E: Prefixed>(scopes: &[E]) -> Self {
        let mut all: Vec<usize> = scopes.iter().map(|s| s.prefix_bytes().len()).collect();
        all.sort_unstable();
        // (count, length) of each distinct length, the most common first.
        let mut counted: Vec<(usize, usize)> = Vec::new();
        for len in all {
            match counted.last_mut() {
                Some((count, last)) if *last == len => *count += 1,
                _ => counted.push((1, len)),
            }
        }
        counted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let lengths = counted.into_iter().map(|(_, len)| len).collect();
        let mut index = Self {
            lengths,
            ..Self::default()
        };
        if index.lengths.len() > MAX_HASHED_LENGTHS {
            index.lengths.clear();
            return index;
        }
        let hasher = index.hasher.clone();
        let hash_of = |j: usize| {
            scopes
                .get(j)
                .map_or(0, |s| hasher.hash_one(s.prefix_bytes()))
        };
        index.slots = HashTable::with_capacity(scopes.len());
        for i in 0..scopes.len() {
            index.slots.insert_unique(hash_of(i), i, |&j| hash_of(j));
        }
        index
    }

    /// `Some(found)` when the index can answer, `None` to binary-search.
    #[inline]
    fn find<'s, E: Prefixed>(&self, scopes: &'s [E], key: &[u8]) -> Option<Option<&'s E>> {
        if self.lengths.is_empty() {
            return None;
        }
        for &len in &self.lengths {
            // Not in order of length: a key too short for one may still
            // reach the next.
            let Some(head) = key.get(..len) else {
                continue;
            };
            let hash = self.hasher.hash_one(head);
            let hit = self.slots.find(hash, |&i| {
                scopes.get(i).is_some_and(|s| s.prefix_bytes() == head)
            });
            if let Some(&i) = hit {
                return Some(scopes.get(i));
            }
        }
        Some(None)
    }
}

impl OwnershipTableBuf {
    /// Validates `scopes` and copies them into a new table. Errors borrow
    /// from the caller's scopes, which outlive the call.
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::{OwnershipTableBuf, OwnershipError}};
    /// let err = OwnershipTableBuf::new([Scope::new(b"a:", "w"), Scope::new(b"a:", "v")]).unwrap_err();
    /// assert_eq!(err, OwnershipError::DuplicatePrefix { prefix: b"a:" });
    /// ```
    pub fn new<'a, I>(scopes: I) -> Result<Self, OwnershipError<'a>>
    where
        I: IntoIterator<Item = Scope<'a>>,
    {
        let scopes = scopes.into_iter();
        let mut borrowed: Vec<Scope<'a>> = Vec::with_capacity(scopes.size_hint().0);
        for scope in scopes {
            validate_scope(&scope)?;
            borrowed.push(scope);
        }
        Self::from_valid_scopes(borrowed).map_err(Clash::error)
    }

    /// Sorts scopes that each passed the single-scope checks, checks them
    /// against each other and copies them; a clash is handed back for the
    /// caller to report (the config parser points it at its entries).
    pub(crate) fn from_valid_scopes(mut scopes: Vec<Scope<'_>>) -> Result<Self, Clash<'_>> {
        scopes.sort_unstable_by(|a, b| a.prefix().cmp(b.prefix()));
        if let Some(clash) = first_clash(&scopes) {
            return Err(clash);
        }
        let scopes = scopes.iter().map(ScopeBuf::copy_of).collect();
        Ok(Self {
            scopes: SortedPrefixes::new(scopes),
        })
    }

    /// The number of scopes.
    ///
    /// ```
    /// # use kevy_scope::table::OwnershipTableBuf;
    /// assert_eq!(OwnershipTableBuf::default().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.scopes.items().len()
    }

    /// Whether the table has no scopes.
    ///
    /// ```
    /// # use kevy_scope::table::OwnershipTableBuf;
    /// assert!(OwnershipTableBuf::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.scopes.items().is_empty()
    }

    /// The scopes by value, sorted by prefix bytes: the shape
    /// [`OwnershipTable::iter`](crate::table::OwnershipTable::iter) has too (see [`ScopeTable`]).
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"b:", "w"), Scope::new(b"a:", "w")]).unwrap();
    /// let prefixes: Vec<&[u8]> = t.iter().map(|s| s.prefix()).collect();
    /// assert_eq!(prefixes, [b"a:", b"b:"]);
    /// ```
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = Scope<'_>> + DoubleEndedIterator + Clone + '_ {
        self.scopes.items().iter().map(ScopeBuf::as_scope)
    }

    /// The scopes, sorted by prefix bytes. The same as [`Self::iter`],
    /// whose name does not suggest the slice [`OwnershipTable::scopes`](crate::table::OwnershipTable::scopes)
    /// returns.
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"b:", "w"), Scope::new(b"a:", "w")]).unwrap();
    /// # #[allow(deprecated)]
    /// assert_eq!(t.scopes().next().map(|s| s.prefix()), Some(&b"a:"[..]));
    /// ```
    #[deprecated(
        since = "0.1.0",
        note = "use `iter()`, which both table types have with the same shape"
    )]
    pub fn scopes(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_ {
        self.iter()
    }

    /// The scope `key` falls in, by value: the shape
    /// [`OwnershipTable::scope_for`](crate::table::OwnershipTable::scope_for) has too (see [`ScopeTable`]).
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.scope_for(b"a:1"), Some(Scope::new(b"a:", "w")));
    /// ```
    #[must_use]
    #[inline]
    pub fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.lookup(key)
    }

    /// The scope `key` falls in, if any; the same as [`Self::scope_for`].
    /// (On [`OwnershipTable`](crate::table::OwnershipTable), `lookup` returns a reference instead.)
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.lookup(b"a:1").map(|s| s.writer()), Some("w"));
    /// ```
    #[must_use]
    #[inline]
    pub fn lookup(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.scopes.find(key).map(ScopeBuf::as_scope)
    }

    /// The verdict for a write of `key` on node `self_id`, ignoring fallbacks.
    ///
    /// ```
    /// # use kevy_scope::{Routing, Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.route(b"a:1", "w"), Routing::Owned);
    /// ```
    #[must_use]
    #[inline]
    pub fn route(&self, key: &[u8], self_id: &str) -> Routing<'_> {
        route_scope(self.lookup(key), self_id, |_| false)
    }

    /// The verdict with the writer-down state; see
    /// [`OwnershipTable::route_with_fallback_state`](crate::table::OwnershipTable::route_with_fallback_state).
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"a:", "w").with_fallback("f")]).unwrap();
    /// assert!(t.route_with_fallback_state(b"a:1", "f", |_| true).is_local_writer());
    /// ```
    pub fn route_with_fallback_state<F>(
        &self,
        key: &[u8],
        self_id: &str,
        is_writer_down: F,
    ) -> Routing<'_>
    where
        F: FnMut(&str) -> bool,
    {
        route_scope(self.lookup(key), self_id, is_writer_down)
    }

    /// The scopes that declare no fallback (the boot-time lint).
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipTableBuf};
    /// let t = OwnershipTableBuf::new([Scope::new(b"a:", "w")]).unwrap();
    /// assert_eq!(t.scopes_without_fallback().count(), 1);
    /// ```
    pub fn scopes_without_fallback(&self) -> impl Iterator<Item = Scope<'_>> + '_ {
        self.iter().filter(|s| s.fallback().is_none())
    }
}

impl ScopeTable for OwnershipTableBuf {
    #[inline]
    fn scope_for(&self, key: &[u8]) -> Option<Scope<'_>> {
        self.lookup(key)
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = Scope<'_>> + '_ {
        OwnershipTableBuf::iter(self)
    }
}

impl OwnershipError<'_> {
    /// Copies the error out of the scopes it borrows, so it can outlive
    /// them, be boxed as `dyn Error` or cross threads (feature `alloc`).
    ///
    /// ```
    /// use kevy_scope::{Scope, table::{OwnershipError, OwnershipTableBuf}};
    /// fn build(prefixes: Vec<String>) -> Result<OwnershipTableBuf, Box<dyn std::error::Error>> {
    ///     let scopes = prefixes.iter().map(|p| Scope::new(p.as_bytes(), "w"));
    ///     Ok(OwnershipTableBuf::new(scopes).map_err(OwnershipError::into_owned)?)
    /// }
    /// let err = build(vec!["a:".into(), "a:b:".into()]).unwrap_err();
    /// assert_eq!(err.to_string(), r#"overlapping scope prefixes: "a:b:" is contained by "a:""#);
    /// ```
    #[must_use]
    pub fn into_owned(self) -> OwnershipErrorBuf {
        OwnershipErrorBuf::from(self)
    }
}

/// An [`OwnershipError`] that owns its prefixes and ids (feature `alloc`),
/// made by [`OwnershipError::into_owned`]. It is `'static`, so `?` turns
/// it into a `Box<dyn Error>`; [`Self::error`] gives the borrowed form
/// back.
///
/// ```
/// use kevy_scope::{Scope, table::{OwnershipErrorBuf, OwnershipError, OwnershipTableBuf}};
/// let prefix = String::from("a:");
/// let err: OwnershipErrorBuf =
///     OwnershipTableBuf::new([Scope::new(prefix.as_bytes(), "w"), Scope::new(b"a:", "v")])
///         .unwrap_err()
///         .into();
/// drop(prefix);
/// assert_eq!(err.error(), OwnershipError::DuplicatePrefix { prefix: b"a:" });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OwnershipErrorBuf {
    /// The error with its borrowed fields emptied; the fields below hold
    /// their bytes, in the order the variant declares them.
    shape: OwnershipError<'static>,
    first: Box<[u8]>,
    second: Box<[u8]>,
    id: Box<str>,
}

impl OwnershipErrorBuf {
    /// The borrowed form, for matching on the variant with its fields.
    ///
    /// ```
    /// # use kevy_scope::{Scope, table::OwnershipError};
    /// let err = OwnershipError::FallbackIsWriter { prefix: b"a:", node: "w" }.into_owned();
    /// assert!(matches!(err.error(), OwnershipError::FallbackIsWriter { node: "w", .. }));
    /// ```
    #[must_use]
    pub fn error(&self) -> OwnershipError<'_> {
        use OwnershipError as E;
        match self.shape {
            E::DuplicatePrefix { .. } => E::DuplicatePrefix {
                prefix: &self.first,
            },
            E::OverlappingPrefix { .. } => E::OverlappingPrefix {
                inner: &self.first,
                outer: &self.second,
            },
            E::InvalidNodeId { reason, .. } => E::InvalidNodeId {
                prefix: &self.first,
                id: &self.id,
                reason,
            },
            E::FallbackIsWriter { .. } => E::FallbackIsWriter {
                prefix: &self.first,
                node: &self.id,
            },
            E::CapacityExceeded { capacity } => E::CapacityExceeded { capacity },
        }
    }
}

/// ```
/// use kevy_scope::{table::{OwnershipErrorBuf, OwnershipError}};
/// let owned = OwnershipErrorBuf::from(OwnershipError::OverlappingPrefix { inner: b"ab", outer: b"a" });
/// assert_eq!(owned.to_string(), r#"overlapping scope prefixes: "ab" is contained by "a""#);
/// ```
impl From<OwnershipError<'_>> for OwnershipErrorBuf {
    fn from(error: OwnershipError<'_>) -> Self {
        use OwnershipError as E;
        let (shape, first, second, id): (_, &[u8], &[u8], &str) = match error {
            E::DuplicatePrefix { prefix } => (E::DuplicatePrefix { prefix: b"" }, prefix, b"", ""),
            E::OverlappingPrefix { inner, outer } => (
                E::OverlappingPrefix {
                    inner: b"",
                    outer: b"",
                },
                inner,
                outer,
                "",
            ),
            E::InvalidNodeId { prefix, id, reason } => (
                E::InvalidNodeId {
                    prefix: b"",
                    id: "",
                    reason,
                },
                prefix,
                b"",
                id,
            ),
            E::FallbackIsWriter { prefix, node } => (
                E::FallbackIsWriter {
                    prefix: b"",
                    node: "",
                },
                prefix,
                b"",
                node,
            ),
            E::CapacityExceeded { capacity } => (E::CapacityExceeded { capacity }, b"", b"", ""),
        };
        Self {
            shape,
            first: first.into(),
            second: second.into(),
            id: id.into(),
        }
    }
}

impl fmt::Debug for OwnershipErrorBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnershipErrorBuf")
            .field(&self.error())
            .finish()
    }
}

/// The same text as the borrowed error's.
///
/// ```
/// # use kevy_scope::table::OwnershipError;
/// let err = OwnershipError::DuplicatePrefix { prefix: b"app:" };
/// assert_eq!(err.into_owned().to_string(), err.to_string());
/// ```
impl fmt::Display for OwnershipErrorBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error(), f)
    }
}

impl core::error::Error for OwnershipErrorBuf {}

#[cfg(feature = "defmt")]
impl defmt::Format for OwnershipErrorBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self.error());
    }
}

impl fmt::Debug for OwnershipTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for OwnershipTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, self.iter())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for OwnershipTableBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "OwnershipTableBuf {{ len: {=usize} }}", self.len());
    }
}
