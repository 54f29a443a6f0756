//! The reference crate's verdict: exhaustive, as published, so that a
//! server's `match` without a `_` arm compiles unchanged.

/// Where a write for a key belongs: kevy-scope 1.32.0's `Routing`, with
/// its three variants and no more, and its derives (`Debug`, `Clone`,
/// `Copy`, `PartialEq`, `Eq`; no `Display`, as the reference has none).
///
/// Unlike this crate's [`crate::table::Routing`] it is not `#[non_exhaustive]`:
/// it mirrors a published API that will not grow, and servers match it
/// exhaustively (kevy 1.32.0 does). The two convert into each other with
/// `From`.
///
/// ```
/// use kevy_scope::compat::{OwnershipTable, Routing, Scope};
/// let t = OwnershipTable::new(vec![Scope::new(b"app:".to_vec(), "w".into())]).unwrap();
/// // No `_` arm: the three variants are all there is.
/// let redirect = match t.route(b"app:1", "other") {
///     Routing::Owned | Routing::Unknown => None,
///     Routing::Misdirected { target } => Some(target),
/// };
/// assert_eq!(redirect, Some("w"));
/// assert_eq!(format!("{:?}", t.route(b"app:1", "other")), r#"Misdirected { target: "w" }"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing<'a> {
    /// This node is the key's active owner (its writer, or its fallback
    /// while the writer is down): accept.
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
    /// Whether this node is the key's active owner.
    ///
    /// ```
    /// # use kevy_scope::compat::Routing;
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
    /// # use kevy_scope::compat::Routing;
    /// assert!(Routing::Misdirected { target: "w" }.is_misdirected());
    /// assert!(!Routing::Owned.is_misdirected());
    /// ```
    #[must_use]
    pub const fn is_misdirected(&self) -> bool {
        matches!(self, Self::Misdirected { .. })
    }

    /// The node to redirect to, when misdirected. The id is borrowed from
    /// the table, so it outlives this value (the reference lends it for
    /// as long as the `Routing`; every use of that compiles here too).
    ///
    /// ```
    /// # use kevy_scope::compat::Routing;
    /// assert_eq!(Routing::Misdirected { target: "w" }.misdirected_target(), Some("w"));
    /// assert_eq!(Routing::Unknown.misdirected_target(), None);
    /// ```
    #[must_use]
    pub const fn misdirected_target(&self) -> Option<&'a str> {
        match self {
            Self::Misdirected { target } => Some(*target),
            Self::Owned | Self::Unknown => None,
        }
    }
}

/// The same verdict, from this crate's type.
///
/// ```
/// use kevy_scope::compat;
/// let native = kevy_scope::Routing::Misdirected { target: "w" };
/// assert_eq!(compat::Routing::from(native), compat::Routing::Misdirected { target: "w" });
/// ```
impl<'a> From<crate::table::Routing<'a>> for Routing<'a> {
    #[inline]
    fn from(routing: crate::table::Routing<'a>) -> Self {
        match routing {
            crate::table::Routing::Owned => Self::Owned,
            crate::table::Routing::Misdirected { target } => Self::Misdirected { target },
            crate::table::Routing::Unknown => Self::Unknown,
        }
    }
}

/// The same verdict, as this crate's type.
///
/// ```
/// use kevy_scope::compat;
/// assert_eq!(kevy_scope::Routing::from(compat::Routing::Owned), kevy_scope::Routing::Owned);
/// ```
impl<'a> From<Routing<'a>> for crate::table::Routing<'a> {
    #[inline]
    fn from(routing: Routing<'a>) -> Self {
        match routing {
            Routing::Owned => Self::Owned,
            Routing::Misdirected { target } => Self::Misdirected { target },
            Routing::Unknown => Self::Unknown,
        }
    }
}
