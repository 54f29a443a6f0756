//! A scope: a key prefix, its writer node, and an optional fallback node.

use core::fmt;

use crate::bytes::Lossy;

/// A key prefix owned by one writer node, with an optional fallback node
/// that takes over while the writer is down.
///
/// A `Scope` borrows its prefix and ids, so a table can be built in a
/// `static` from string literals, or from a config string in place.
///
/// ```
/// use kevy_scope::Scope;
/// const BILLING: Scope<'static> =
///     Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1");
/// assert!(BILLING.matches(b"app:billing:invoice:42"));
/// assert_eq!(BILLING.fallback(), Some("server-eu-1"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope<'a> {
    prefix: &'a [u8],
    writer: &'a str,
    fallback: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// A scope for `prefix` written by `writer`, without a fallback.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// let s = Scope::new(b"app:auth:", "embed-auth-1");
    /// assert_eq!(s.writer(), "embed-auth-1");
    /// ```
    #[must_use]
    pub const fn new(prefix: &'a [u8], writer: &'a str) -> Self {
        Self {
            prefix,
            writer,
            fallback: None,
        }
    }

    /// The same scope with `fallback` as the node that accepts writes while
    /// the writer is down.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// let s = Scope::new(b"p:", "w").with_fallback("f");
    /// assert_eq!(s.fallback(), Some("f"));
    /// ```
    #[must_use]
    pub const fn with_fallback(self, fallback: &'a str) -> Self {
        Self {
            fallback: Some(fallback),
            ..self
        }
    }

    /// The key prefix; not necessarily UTF-8.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// assert_eq!(Scope::new(b"\xffbin:", "w").prefix(), b"\xffbin:");
    /// ```
    #[must_use]
    pub const fn prefix(&self) -> &'a [u8] {
        self.prefix
    }

    /// The writer node's id.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// assert_eq!(Scope::new(b"p:", "w-1").writer(), "w-1");
    /// ```
    #[must_use]
    pub const fn writer(&self) -> &'a str {
        self.writer
    }

    /// The fallback node's id, if one is declared.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// assert_eq!(Scope::new(b"p:", "w").fallback(), None);
    /// ```
    #[must_use]
    pub const fn fallback(&self) -> Option<&'a str> {
        self.fallback
    }

    /// Whether `key` falls in this scope: `key` starts with the prefix.
    /// An empty prefix matches every key.
    ///
    /// ```
    /// # use kevy_scope::Scope;
    /// let s = Scope::new(b"app:billing:", "w");
    /// assert!(s.matches(b"app:billing:"));
    /// assert!(!s.matches(b"app:billing"));
    /// assert!(Scope::new(b"", "w").matches(b"anything"));
    /// ```
    #[must_use]
    pub fn matches(&self, key: &[u8]) -> bool {
        key.starts_with(self.prefix)
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("prefix", &Lossy(self.prefix))
            .field("writer", &self.writer)
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// Renders the config token shape: `prefix=writer` or `prefix=writer|fallback`.
/// Non-UTF-8 prefix bytes show as U+FFFD.
///
/// ```
/// # use kevy_scope::Scope;
/// let s = Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1");
/// assert_eq!(s.to_string(), "app:billing:=embed-billing-1|server-eu-1");
/// ```
impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", Lossy(self.prefix), self.writer)?;
        if let Some(fallback) = self.fallback {
            write!(f, "|{fallback}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Scope<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Scope {{ prefix: {=[u8]:a}, writer: {=str}, fallback: {} }}",
            self.prefix,
            self.writer,
            self.fallback
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;
    use std::format;
    use std::prelude::rust_2024::*;

    #[test]
    fn matches_is_starts_with() {
        let s = Scope::new(b"app:billing:", "w1");
        assert!(s.matches(b"app:billing:invoice:42"));
        assert!(s.matches(b"app:billing:"));
        assert!(!s.matches(b"app:auth:user:1"));
        assert!(!s.matches(b"app:billin"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn debug_shows_prefix_as_text() {
        let s = Scope::new(b"a\xff:", "w");
        assert_eq!(
            format!("{s:?}"),
            "Scope { prefix: \"a\u{fffd}:\", writer: \"w\", fallback: None }"
        );
    }
}
