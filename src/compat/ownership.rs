//! The reference crate's ownership table: owned scopes, the same
//! refusals and verdicts, routed by this crate's prefix search.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;

use super::{Routing, Scope};
use crate::table::owned::SortedPrefixes;
use crate::table::{Clash, Prefixed, first_clash, route_scope};

/// Why [`OwnershipTable::new`] refused a list of scopes: kevy-scope
/// 1.32.0's `OwnershipError`, with owned prefixes and the same text.
///
/// It stays exhaustive, as the reference's is: it mirrors a published
/// API that will not grow.
///
/// ```
/// use kevy_scope::compat::{OwnershipError, OwnershipTable, Scope};
/// let err = OwnershipTable::new(vec![
///     Scope::new(b"app:".to_vec(), "w-app".into()),
///     Scope::new(b"app:billing:".to_vec(), "w-billing".into()),
/// ])
/// .unwrap_err();
/// assert_eq!(
///     err,
///     OwnershipError::OverlappingPrefix { inner: b"app:billing:".to_vec(), outer: b"app:".to_vec() }
/// );
/// assert_eq!(err.to_string(), r#"overlapping scope prefixes: "app:billing:" is contained by "app:""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnershipError {
    /// Two scopes declare the same prefix.
    DuplicatePrefix {
        /// The repeated prefix.
        prefix: Vec<u8>,
    },
    /// One prefix starts another, so a key could match both.
    OverlappingPrefix {
        /// The longer prefix.
        inner: Vec<u8>,
        /// The shorter prefix that `inner` starts with.
        outer: Vec<u8>,
    },
}

/// The crate's own text for the same refusal.
///
/// ```
/// use kevy_scope::compat::OwnershipError;
/// let e = OwnershipError::DuplicatePrefix { prefix: b"a\xff".to_vec() };
/// assert_eq!(e.to_string(), "duplicate scope prefix \"a\u{fffd}\"");
/// ```
impl fmt::Display for OwnershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let native = match self {
            Self::DuplicatePrefix { prefix } => {
                crate::table::OwnershipError::DuplicatePrefix { prefix }
            }
            Self::OverlappingPrefix { inner, outer } => {
                crate::table::OwnershipError::OverlappingPrefix { inner, outer }
            }
        };
        fmt::Display::fmt(&native, f)
    }
}

impl core::error::Error for OwnershipError {}

/// Where a scope sits in the table, under its prefix: what the prefix
/// search sorts and finds.
#[derive(Clone)]
struct Slot {
    prefix: Box<[u8]>,
    at: usize,
}

impl Prefixed for Slot {
    #[inline]
    fn prefix_bytes(&self) -> &[u8] {
        &self.prefix
    }
}

/// kevy-scope 1.32.0's `OwnershipTable`: owned scopes, validated once,
/// listed longest prefix first (ties in input order) as the reference
/// lists them, and routed by this crate's search (a hash probe or a
/// binary search) instead of a linear scan.
///
/// Node ids are not checked, as the reference does not check them; build
/// a native table from [`Scope::as_scope`] to have them checked.
///
/// ```
/// use kevy_scope::compat::{OwnershipTable, Routing, Scope};
///
/// let table = OwnershipTable::new(vec![
///     Scope::new(b"app:billing:".to_vec(), "embed-billing-1".to_string())
///         .with_fallback("server-eu-1".to_string()),
///     Scope::new(b"app:auth:".to_vec(), "embed-auth-1".to_string()),
/// ])
/// .expect("non-overlapping prefixes");
/// assert!(table.route(b"app:billing:invoice:42", "embed-billing-1").is_local_writer());
/// assert_eq!(
///     table.route(b"app:billing:invoice:42", "server-eu-1"),
///     Routing::Misdirected { target: "embed-billing-1" }
/// );
/// ```
#[derive(Clone)]
pub struct OwnershipTable {
    /// Longest prefix first, ties in input order: the reference's order.
    scopes: Vec<Scope>,
    /// Where each prefix sits in `scopes`, for the search.
    slots: SortedPrefixes<Slot>,
}

impl OwnershipTable {
    /// Validates `scopes`: no prefix may repeat or start another. When
    /// several pairs clash, the error names the pair the reference names
    /// (the first duplicate in input order, else the first shorter
    /// prefix in input order with the first prefix it starts).
    ///
    /// ```
    /// use kevy_scope::compat::{OwnershipError, OwnershipTable, Scope};
    /// let s = |p: &str, w: &str| Scope::new(p.as_bytes().to_vec(), w.to_string());
    /// assert_eq!(OwnershipTable::new(Vec::new()).unwrap().len(), 0);
    /// let err = OwnershipTable::new(vec![s("b", "w"), s("a", "w"), s("a", "v"), s("b", "v")]).unwrap_err();
    /// assert_eq!(err, OwnershipError::DuplicatePrefix { prefix: b"b".to_vec() });
    /// ```
    pub fn new(mut scopes: Vec<Scope>) -> Result<Self, OwnershipError> {
        // Input positions sorted by prefix; a stable sort keeps equal
        // prefixes in input order.
        let mut by_prefix: Vec<usize> = (0..scopes.len()).collect();
        by_prefix.sort_by(|&a, &b| prefix_at(&scopes, a).cmp(prefix_at(&scopes, b)));
        let sorted: Vec<crate::table::Scope<'_>> = by_prefix
            .iter()
            .filter_map(|&i| scopes.get(i))
            .map(Scope::as_scope)
            .collect();
        if let Some(clash) = first_clash(&sorted) {
            return Err(reference_error(&scopes, &by_prefix).unwrap_or_else(|| owned(clash)));
        }
        drop(sorted);
        scopes.sort_by_key(|s| Reverse(s.prefix().len()));
        let mut slots: Vec<Slot> = scopes
            .iter()
            .enumerate()
            .map(|(at, s)| Slot {
                prefix: s.prefix().into(),
                at,
            })
            .collect();
        slots.sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix));
        Ok(Self {
            scopes,
            slots: SortedPrefixes::new(slots),
        })
    }

    /// The scopes, longest prefix first, ties in input order.
    ///
    /// ```
    /// # use kevy_scope::compat::{OwnershipTable, Scope};
    /// let s = |p: &str| Scope::new(p.as_bytes().to_vec(), "w".to_string());
    /// let t = OwnershipTable::new(vec![s("b:"), s("abc:"), s("a:")]).unwrap();
    /// let prefixes: Vec<&[u8]> = t.scopes().iter().map(Scope::prefix).collect();
    /// assert_eq!(prefixes, [&b"abc:"[..], b"b:", b"a:"]);
    /// ```
    #[must_use]
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The scopes that declare no fallback (the boot-time lint), in the
    /// order of [`Self::scopes`].
    ///
    /// ```
    /// # use kevy_scope::compat::{OwnershipTable, Scope};
    /// let t = OwnershipTable::new(vec![
    ///     Scope::new(b"a:".to_vec(), "w".into()).with_fallback("f".into()),
    ///     Scope::new(b"b:".to_vec(), "w".into()),
    /// ]).unwrap();
    /// assert_eq!(t.scopes_without_fallback().len(), 1);
    /// ```
    #[must_use]
    pub fn scopes_without_fallback(&self) -> Vec<&Scope> {
        self.scopes
            .iter()
            .filter(|s| s.fallback().is_none())
            .collect()
    }

    /// The number of scopes.
    ///
    /// ```
    /// # use kevy_scope::compat::OwnershipTable;
    /// assert_eq!(OwnershipTable::new(Vec::new()).unwrap().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether the table has no scopes.
    ///
    /// ```
    /// # use kevy_scope::compat::OwnershipTable;
    /// assert!(OwnershipTable::new(Vec::new()).unwrap().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The scope `key` falls in, if any (at most one can match).
    ///
    /// ```
    /// # use kevy_scope::compat::{OwnershipTable, Scope};
    /// let t = OwnershipTable::new(vec![Scope::new(b"a:".to_vec(), "wa".into())]).unwrap();
    /// assert_eq!(t.lookup(b"a:1").map(Scope::writer), Some("wa"));
    /// assert!(t.lookup(b"b:1").is_none());
    /// ```
    #[must_use]
    pub fn lookup(&self, key: &[u8]) -> Option<&Scope> {
        self.slots
            .find(key)
            .and_then(|slot| self.scopes.get(slot.at))
    }

    /// The verdict for a write of `key` on node `self_node_id`, treating
    /// the writer as the active owner.
    ///
    /// ```
    /// # use kevy_scope::compat::{OwnershipTable, Routing, Scope};
    /// let t = OwnershipTable::new(vec![Scope::new(b"app:".to_vec(), "w".into())]).unwrap();
    /// assert_eq!(t.route(b"app:x", "w"), Routing::Owned);
    /// assert_eq!(t.route(b"x", "w"), Routing::Unknown);
    /// ```
    #[must_use]
    pub fn route<'a>(&'a self, key: &[u8], self_node_id: &str) -> Routing<'a> {
        route_scope(self.scope_for(key), self_node_id, |_| false).into()
    }

    /// The verdict when `is_writer_down(writer)` tells which writers are
    /// down: a down writer's fallback, when declared, is the active owner.
    /// The callback is asked once per routed key, as by the reference.
    ///
    /// ```
    /// # use kevy_scope::compat::{OwnershipTable, Scope};
    /// let t = OwnershipTable::new(vec![
    ///     Scope::new(b"app:".to_vec(), "w".into()).with_fallback("fb".into()),
    /// ]).unwrap();
    /// assert!(t.route_with_fallback_state(b"app:x", "fb", |id| id == "w").is_local_writer());
    /// ```
    pub fn route_with_fallback_state<'a, F>(
        &'a self,
        key: &[u8],
        self_node_id: &str,
        is_writer_down: F,
    ) -> Routing<'a>
    where
        F: FnMut(&str) -> bool,
    {
        route_scope(self.scope_for(key), self_node_id, is_writer_down).into()
    }

    /// The scope `key` falls in, borrowed in the crate's form.
    fn scope_for(&self, key: &[u8]) -> Option<crate::table::Scope<'_>> {
        self.lookup(key).map(Scope::as_scope)
    }
}

/// The same shape as the reference's derived `Debug`.
impl fmt::Debug for OwnershipTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnershipTable")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The compat table routes a [`Node`](crate::moves::Node), answers the
/// transaction guard like a native table, and lists its scopes sorted by
/// prefix bytes, as every [`ScopeTable`](crate::table::ScopeTable) does
/// (for [`boot_report`](crate::config::boot_report));
/// [`OwnershipTable::scopes`] keeps the reference's order.
///
/// ```
/// use kevy_scope::compat::{OwnershipTable, Scope};
/// use kevy_scope::{Node, config::boot_report, moves::MoveTableBuf, wire::NoPeers};
/// let t = OwnershipTable::new(vec![Scope::new(b"a:".to_vec(), "A".into())]).unwrap();
/// let node = Node::new("A", &t, MoveTableBuf::new()).unwrap();
/// assert!(node.verdict(b"a:1", |_| false).is_accept());
/// assert_eq!(boot_report(&t, &NoPeers).count(), 2); // unknown writer, no fallback
/// ```
impl crate::table::ScopeTable for OwnershipTable {
    fn scope_for(&self, key: &[u8]) -> Option<crate::table::Scope<'_>> {
        OwnershipTable::scope_for(self, key)
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = crate::table::Scope<'_>> + '_ {
        // Every slot's position is in range: `new` made one per scope.
        self.slots.items().iter().map(|slot| {
            self.scopes
                .get(slot.at)
                .map_or(crate::table::Scope::new(b"", ""), Scope::as_scope)
        })
    }
}

fn prefix_at(scopes: &[Scope], i: usize) -> &[u8] {
    scopes.get(i).map_or(&[], Scope::prefix)
}

/// The pair the reference names when scopes clash: the first prefix in
/// input order that a later one repeats; else the first prefix in input
/// order that starts another, with the first (in input order) it starts.
/// `by_prefix` lists input positions sorted by prefix, equal prefixes in
/// input order.
fn reference_error(scopes: &[Scope], by_prefix: &[usize]) -> Option<OwnershipError> {
    let prefix = |i: usize| prefix_at(scopes, i);
    // Sorted, equal prefixes are neighbours: every one but the last of a
    // run is repeated later.
    let repeated = by_prefix
        .windows(2)
        .filter_map(|pair| match *pair {
            [a, b] if prefix(a) == prefix(b) => Some(a),
            _ => None,
        })
        .min();
    if let Some(i) = repeated {
        return Some(OwnershipError::DuplicatePrefix {
            prefix: prefix(i).to_vec(),
        });
    }
    // Sorted, the prefixes one starts follow it at once: it starts some
    // other exactly when it starts its successor.
    let outer = by_prefix
        .windows(2)
        .filter_map(|pair| match *pair {
            [a, b] if prefix(b).starts_with(prefix(a)) => Some(a),
            _ => None,
        })
        .min()?;
    let after = by_prefix.iter().position(|&i| i == outer)? + 1;
    let inner = by_prefix
        .get(after..)?
        .iter()
        .copied()
        .take_while(|&j| prefix(j).starts_with(prefix(outer)))
        .min()?;
    Some(OwnershipError::OverlappingPrefix {
        inner: prefix(inner).to_vec(),
        outer: prefix(outer).to_vec(),
    })
}

/// The crate's own choice of pair, owned; stands in should the
/// reference's choice not be found (it always is for a clash).
fn owned(clash: Clash<'_>) -> OwnershipError {
    match clash.error() {
        crate::table::OwnershipError::OverlappingPrefix { inner, outer } => {
            OwnershipError::OverlappingPrefix {
                inner: inner.to_vec(),
                outer: outer.to_vec(),
            }
        }
        _ => OwnershipError::DuplicatePrefix {
            prefix: clash.first.to_vec(),
        },
    }
}
