//! The cross-scope guard: one MULTI/EXEC may touch keys of one scope only,
//! and a client splits a batch by scope.

use core::fmt;

use crate::bytes::Lossy;
use crate::table::{Scope, ScopeTable};

/// Keys of one transaction fall in two scopes.
///
/// ```
/// use kevy_scope::{OwnershipTable, Scope, table::transaction_scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A"), Scope::new(b"b:", "B")]).unwrap();
/// let err = transaction_scope(&t, [&b"a:1"[..], b"b:1"]).unwrap_err();
/// assert_eq!(err.to_string(), r#"transaction touches scopes "a:" and "b:""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CrossScopeError<'t> {
    /// The scope of the first scoped key.
    pub first: &'t [u8],
    /// The first other scope met.
    pub second: &'t [u8],
}

impl fmt::Display for CrossScopeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transaction touches scopes {:?} and {:?}",
            Lossy(self.first),
            Lossy(self.second)
        )
    }
}

impl core::error::Error for CrossScopeError<'_> {}

/// The one scope all scoped `keys` fall in (`None` when no key is scoped;
/// unscoped keys go along with any scope), or the first two scopes met.
///
/// ```
/// use kevy_scope::{OwnershipTable, Scope, table::transaction_scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
/// let scope = transaction_scope(&t, [&b"a:1"[..], b"a:2", b"free"]).unwrap();
/// assert_eq!(scope.map(|s| s.writer()), Some("A"));
/// ```
pub fn transaction_scope<'t, T, K>(
    table: &'t T,
    keys: impl IntoIterator<Item = K>,
) -> Result<Option<Scope<'t>>, CrossScopeError<'t>>
where
    T: ScopeTable + ?Sized,
    K: AsRef<[u8]>,
{
    let mut found: Option<Scope<'t>> = None;
    for key in keys {
        let Some(scope) = table.scope_for(key.as_ref()) else {
            continue;
        };
        match found {
            None => found = Some(scope),
            Some(first) if first.prefix() != scope.prefix() => {
                return Err(CrossScopeError {
                    first: first.prefix(),
                    second: scope.prefix(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(found)
}

/// `order` is shorter than the batch of keys.
///
/// ```
/// use kevy_scope::{OwnershipTable, table::{group_by_scope, GroupError}};
/// let t = OwnershipTable::<1>::new();
/// let mut order = [0usize; 1];
/// let err = group_by_scope(&t, &[&b"a"[..], b"b"], &mut order).unwrap_err();
/// assert_eq!(err, GroupError { keys: 2, capacity: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupError {
    /// How many keys were given.
    pub keys: usize,
    /// How many indices `order` holds.
    pub capacity: usize,
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys to group, room for {} indices",
            self.keys, self.capacity
        )
    }
}

impl core::error::Error for GroupError {}

/// Groups a batch of keys by scope without allocating: fills `order` with
/// key indices, sorted by scope and, within a scope, by position, and
/// returns the groups as `(scope, indices)`. Unscoped keys form the group
/// whose scope is `None`, first.
///
/// ```
/// use kevy_scope::{OwnershipTable, Scope, table::group_by_scope};
/// let t = OwnershipTable::from_array([Scope::new(b"a:", "A"), Scope::new(b"b:", "B")]).unwrap();
/// let keys: [&[u8]; 4] = [b"b:1", b"a:1", b"x", b"b:2"];
/// let mut order = [0usize; 4];
/// let groups: Vec<_> = group_by_scope(&t, &keys, &mut order)?
///     .map(|(scope, idx)| (scope.map(|s| s.writer()), idx.to_vec()))
///     .collect();
/// assert_eq!(groups, [(None, vec![2]), (Some("A"), vec![1]), (Some("B"), vec![0, 3])]);
/// # Ok::<(), kevy_scope::table::GroupError>(())
/// ```
pub fn group_by_scope<'t, 'k, 'o, T, K>(
    table: &'t T,
    keys: &'k [K],
    order: &'o mut [usize],
) -> Result<ScopeGroups<'t, 'k, 'o, T, K>, GroupError>
where
    T: ScopeTable + ?Sized,
    K: AsRef<[u8]>,
{
    let capacity = order.len();
    let order = order.get_mut(..keys.len()).ok_or(GroupError {
        keys: keys.len(),
        capacity,
    })?;
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    let groups = ScopeGroups {
        table,
        keys,
        rest: &[],
    };
    order.sort_unstable_by(|&a, &b| {
        groups
            .prefix_of(a)
            .cmp(&groups.prefix_of(b))
            .then(a.cmp(&b))
    });
    Ok(ScopeGroups {
        rest: order,
        ..groups
    })
}

impl<T: ?Sized, K> fmt::Debug for ScopeGroups<'_, '_, '_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGroups")
            .field("ungrouped", &self.rest)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl<T: ?Sized, K> defmt::Format for ScopeGroups<'_, '_, '_, T, K> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "ScopeGroups {{ ungrouped: {} }}", self.rest);
    }
}

/// The groups [`group_by_scope`] found: `(scope, key indices)`.
///
/// ```
/// use kevy_scope::{OwnershipTable, table::group_by_scope};
/// let t = OwnershipTable::<1>::new();
/// let keys: [&[u8]; 2] = [b"x", b"y"];
/// let mut order = [0usize; 2];
/// let mut groups = group_by_scope(&t, &keys, &mut order).unwrap();
/// assert_eq!(groups.next().map(|(scope, idx)| (scope.is_none(), idx.len())), Some((true, 2)));
/// assert!(groups.next().is_none());
/// ```
pub struct ScopeGroups<'t, 'k, 'o, T: ?Sized, K> {
    table: &'t T,
    keys: &'k [K],
    rest: &'o [usize],
}

impl<'t, T: ScopeTable + ?Sized, K: AsRef<[u8]>> ScopeGroups<'t, '_, '_, T, K> {
    fn scope_of(&self, index: usize) -> Option<Scope<'t>> {
        let table: &'t T = self.table;
        self.keys
            .get(index)
            .and_then(|k| table.scope_for(k.as_ref()))
    }

    fn prefix_of(&self, index: usize) -> Option<&'t [u8]> {
        self.scope_of(index).map(|s| s.prefix())
    }
}

impl<'t, 'o, T: ScopeTable + ?Sized, K: AsRef<[u8]>> Iterator for ScopeGroups<'t, '_, 'o, T, K> {
    type Item = (Option<Scope<'t>>, &'o [usize]);

    fn next(&mut self) -> Option<Self::Item> {
        let first = *self.rest.first()?;
        let scope = self.scope_of(first);
        let prefix = scope.map(|s| s.prefix());
        let run = self
            .rest
            .iter()
            .take_while(|&&i| self.prefix_of(i) == prefix)
            .count();
        let (group, rest) = self.rest.split_at_checked(run)?;
        self.rest = rest;
        Some((scope, group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::OwnershipTable;
    use std::vec::Vec;

    #[test]
    fn single_scope_with_unscoped_keys_is_fine() {
        let t =
            OwnershipTable::from_array([Scope::new(b"a:", "A"), Scope::new(b"b:", "B")]).unwrap();
        assert_eq!(transaction_scope(&t, [b"x", b"y"]).unwrap(), None);
        let keys: [&[u8]; 3] = [b"x", b"b:1", b"b:2"];
        assert_eq!(
            transaction_scope(&t, keys).unwrap().map(|s| s.writer()),
            Some("B")
        );
        let keys: [&[u8]; 3] = [b"b:1", b"x", b"a:9"];
        assert_eq!(
            transaction_scope(&t, keys),
            Err(CrossScopeError {
                first: b"b:",
                second: b"a:"
            })
        );
    }

    #[test]
    fn groups_cover_every_key_once() {
        let t =
            OwnershipTable::from_array([Scope::new(b"a:", "A"), Scope::new(b"b:", "B")]).unwrap();
        let keys: [&[u8]; 6] = [b"a:1", b"b:1", b"a:2", b"zz", b"b:2", b"a:3"];
        let mut order = [99usize; 8];
        let groups: Vec<_> = group_by_scope(&t, &keys, &mut order).unwrap().collect();
        assert_eq!(groups.len(), 3);
        let mut seen: Vec<usize> = groups.iter().flat_map(|(_, g)| g.iter().copied()).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        for (scope, group) in &groups {
            for &i in *group {
                assert_eq!(
                    t.lookup(keys[i]).map(|s| s.prefix()),
                    scope.map(|s| s.prefix())
                );
            }
        }
        let empty: [&[u8]; 0] = [];
        assert_eq!(group_by_scope(&t, &empty, &mut order).unwrap().count(), 0);
    }
}
