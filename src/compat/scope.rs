//! The reference crate's owned scope: a prefix, a writer and an optional
//! fallback, each on the heap.

use alloc::string::String;
use alloc::vec::Vec;

/// One scope declaration, owning its prefix and ids: kevy-scope 1.32.0's
/// `Scope`, field for field (its `Debug` output is the same).
///
/// [`Self::as_scope`] lends it as this crate's borrowed
/// [`crate::table::Scope`], the form the rest of the crate routes with.
///
/// ```
/// use kevy_scope::compat::Scope;
/// let s = Scope::new(b"app:billing:".to_vec(), "embed-billing-1".to_string())
///     .with_fallback("server-eu-1".to_string());
/// assert!(s.matches(b"app:billing:invoice:42"));
/// assert_eq!(s.fallback(), Some("server-eu-1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    prefix: Vec<u8>,
    writer: String,
    fallback: Option<String>,
}

impl Scope {
    /// A scope for `prefix` written by `writer`, without a fallback. Any
    /// strings are taken, as the reference takes them.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// let s = Scope::new(b"app:auth:".to_vec(), "embed-auth-1".to_string());
    /// assert_eq!((s.writer(), s.fallback()), ("embed-auth-1", None));
    /// ```
    #[must_use]
    pub fn new(prefix: Vec<u8>, writer: String) -> Self {
        Self {
            prefix,
            writer,
            fallback: None,
        }
    }

    /// The same scope with `fallback` as the node that accepts writes
    /// while the writer is down.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// let s = Scope::new(b"p:".to_vec(), "w".to_string()).with_fallback("f".to_string());
    /// assert_eq!(s.fallback(), Some("f"));
    /// ```
    #[must_use]
    pub fn with_fallback(mut self, fallback: String) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// The key prefix; not necessarily UTF-8.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// assert_eq!(Scope::new(b"\xffbin:".to_vec(), "w".into()).prefix(), b"\xffbin:");
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The writer node's id.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// assert_eq!(Scope::new(b"p:".to_vec(), "w-1".into()).writer(), "w-1");
    /// ```
    #[must_use]
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// The fallback node's id, if one is declared.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// assert_eq!(Scope::new(b"p:".to_vec(), "w".into()).fallback(), None);
    /// ```
    #[must_use]
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Whether `key` starts with the prefix; an empty prefix matches
    /// every key.
    ///
    /// ```
    /// # use kevy_scope::compat::Scope;
    /// let s = Scope::new(b"app:".to_vec(), "w".into());
    /// assert!(s.matches(b"app:1") && !s.matches(b"ap"));
    /// ```
    #[must_use]
    pub fn matches(&self, key: &[u8]) -> bool {
        self.as_scope().matches(key)
    }

    /// This scope as the crate's borrowed [`crate::table::Scope`], for the
    /// native API (node-id rules are checked where a native table is
    /// built, not here).
    ///
    /// ```
    /// use kevy_scope::{compat, table::OwnershipTableBuf};
    /// let scopes = [compat::Scope::new(b"a:".to_vec(), "w".into())];
    /// let native = OwnershipTableBuf::new(scopes.iter().map(compat::Scope::as_scope)).unwrap();
    /// assert!(native.route(b"a:1", "w").is_local_writer());
    /// ```
    #[must_use]
    pub fn as_scope(&self) -> crate::table::Scope<'_> {
        let scope = crate::table::Scope::new(&self.prefix, &self.writer);
        match &self.fallback {
            Some(fallback) => scope.with_fallback(fallback),
            None => scope,
        }
    }
}

/// Copies a borrowed scope.
///
/// ```
/// use kevy_scope::compat;
/// let s = compat::Scope::from(kevy_scope::Scope::new(b"a:", "w").with_fallback("f"));
/// assert_eq!(s, compat::Scope::new(b"a:".to_vec(), "w".into()).with_fallback("f".into()));
/// ```
impl From<crate::table::Scope<'_>> for Scope {
    fn from(scope: crate::table::Scope<'_>) -> Self {
        Self {
            prefix: scope.prefix().to_vec(),
            writer: scope.writer().into(),
            fallback: scope.fallback().map(Into::into),
        }
    }
}
