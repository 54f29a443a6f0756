//! The static-table verdict for one key on one node.

/// Where a write for a key belongs, judged from the static ownership table.
///
/// ```
/// use kevy_scope::Routing;
/// let r = Routing::Misdirected { target: "embed-billing-1" };
/// assert!(r.is_misdirected());
/// assert_eq!(r.misdirected_target(), Some("embed-billing-1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Routing<'a> {
    /// This node is the key's active owner: accept.
    Owned,
    /// Another node owns the key: answer `-MISDIRECTED` naming `target`.
    Misdirected {
        /// The id of the node that accepts writes for this key.
        target: &'a str,
    },
    /// No scope matches the key: scopes are opt-in, so accept.
    Unknown,
}

impl<'a> Routing<'a> {
    /// Judges one node against a key's active owner.
    #[inline]
    pub(crate) fn for_owner(active_owner: &'a str, self_id: &str) -> Self {
        if crate::bytes::same(active_owner.as_bytes(), self_id.as_bytes()) {
            Self::Owned
        } else {
            Self::Misdirected {
                target: active_owner,
            }
        }
    }

    /// [`Self::for_owner`] where keys of this node's scopes and of others'
    /// come in any order. Written as a default and an overwrite, which the
    /// compiler turns into a conditional move, not a branch the processor
    /// would guess wrong for such keys (the `route_hit_mixed` bench
    /// measures it).
    #[inline]
    pub(crate) fn for_owner_of_many(active_owner: &'a str, self_id: &str) -> Self {
        let mut routing = Self::Misdirected {
            target: active_owner,
        };
        if crate::bytes::same(active_owner.as_bytes(), self_id.as_bytes()) {
            routing = Self::Owned;
        }
        routing
    }

    /// Whether this node is the key's active owner.
    ///
    /// ```
    /// # use kevy_scope::Routing;
    /// assert!(Routing::Owned.is_local_writer());
    /// assert!(!Routing::Unknown.is_local_writer());
    /// ```
    #[must_use]
    pub const fn is_local_writer(&self) -> bool {
        matches!(self, Self::Owned)
    }

    /// Whether the write belongs to another node.
    ///
    /// ```
    /// # use kevy_scope::Routing;
    /// assert!(!Routing::Owned.is_misdirected());
    /// ```
    #[must_use]
    pub const fn is_misdirected(&self) -> bool {
        matches!(self, Self::Misdirected { .. })
    }

    /// The node to redirect to, when misdirected.
    ///
    /// ```
    /// # use kevy_scope::Routing;
    /// assert_eq!(Routing::Unknown.misdirected_target(), None);
    /// ```
    #[must_use]
    pub const fn misdirected_target(&self) -> Option<&'a str> {
        match self {
            Self::Misdirected { target } => Some(*target),
            _ => None,
        }
    }
}
