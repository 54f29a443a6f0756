//! The `[cluster]` config values, parsed in place: `scopes` into an
//! [`OwnershipTable`] borrowing the input, `peers` into a
//! [`PeerTable`](crate::config::PeerTable). No heap; every mistake is an error
//! value naming the entry, its byte span and the reason.
//!
//! ```text
//! scopes = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1"
//! peers  = "embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004"
//! ```
//!
//! A value is a comma-separated list; each entry is trimmed of ASCII
//! whitespace and empty
//! entries are skipped (a trailing comma is fine). In `scopes`, the first
//! `=` splits the prefix from the owners (a prefix may hold `:` but not
//! `=`) and `|` splits the writer from the fallback.

use core::fmt;

use crate::table::Clash;
use crate::table::node_id::{NodeIdError, validate_node_id};
use crate::wire::MAX_HOST_LEN;
use crate::{
    table::{OwnershipTable, Scope, ScopeTable},
    wire::AddressBook,
};

/// Where an entry sits in a config value.
///
/// ```
/// use kevy_scope::{config::{parse_scopes, Entry}};
/// let err = parse_scopes::<4>("a:=w,  b:").unwrap_err();
/// assert_eq!(err.entry, Entry { index: 1, start: 7, end: 9 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Entry {
    /// Its position among the non-empty entries, from 0.
    pub index: usize,
    /// Its first byte in the value, after trimming.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
}

/// Why a config entry was refused.
///
/// ```
/// use kevy_scope::{config::{parse_scopes, ConfigErrorKind}};
/// assert_eq!(parse_scopes::<4>("a:=w|").unwrap_err().kind, ConfigErrorKind::EmptyFallback);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
// A word-sized tag keeps the payload word-aligned: on a Cortex-M0 an
// error then moves in word copies, not byte copies through `memcpy`.
#[repr(u32)]
pub enum ConfigErrorKind<'a> {
    /// A `scopes` entry has no `=` between prefix and owners.
    MissingEquals,
    /// A `scopes` entry has nothing before `=`.
    EmptyPrefix,
    /// Nothing between `=` and `|` (or the end).
    EmptyWriter,
    /// Nothing after `|`.
    EmptyFallback,
    /// A node id breaks the node-id rule.
    InvalidNodeId {
        /// The offending id.
        id: &'a str,
        /// Which rule it breaks.
        reason: NodeIdError,
    },
    /// A scope names its writer as its fallback.
    FallbackIsWriter,
    /// Two entries declare the same prefix, or the same peer id.
    Duplicate {
        /// The earlier entry.
        first: Entry,
    },
    /// This entry's prefix starts with another entry's prefix.
    Overlapping {
        /// The entry with the shorter prefix.
        outer: Entry,
    },
    /// More entries than the table's capacity.
    TooManyEntries {
        /// The table's capacity.
        capacity: usize,
    },
    /// A `peers` entry has no `@` between id and address.
    MissingAt,
    /// A `peers` address has no host.
    EmptyHost,
    /// A `peers` address lacks `:elect_port`.
    MissingPort,
    /// A port is not a number from 1 to 65535.
    BadPort {
        /// The port text.
        text: &'a str,
    },
    /// An IPv6 host must be written in brackets: `[::1]:6004`.
    UnbracketedIpv6,
    /// A `[` without its `]`, or text after `]` that is not `:port`.
    BadBrackets,
    /// A `peers` host is longer than [`MAX_HOST_LEN`](crate::wire::MAX_HOST_LEN).
    HostTooLong {
        /// The host's length in bytes, brackets not counted.
        len: usize,
    },
}

/// A refused config value: which entry, where, and why.
///
/// ```
/// use kevy_scope::{config::{parse_scopes, ConfigErrorKind}};
/// let err = parse_scopes::<4>("app:billing:=w1, app:auth:").unwrap_err();
/// assert_eq!(err.kind, ConfigErrorKind::MissingEquals);
/// assert_eq!((err.entry.index, err.entry.start, err.entry.end), (1, 17, 26));
/// assert_eq!(err.to_string(), r#"entry 1 "app:auth:" (bytes 17..26): no '=' between prefix and writer"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// Fields in declaration order, for the same reason as the kind's tag.
#[repr(C)]
pub struct ConfigError<'a> {
    /// The refused entry.
    pub entry: Entry,
    /// Its text.
    pub text: &'a str,
    /// The reason.
    pub kind: ConfigErrorKind<'a>,
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Entry { index, start, end } = self.entry;
        write!(f, "entry {index} {:?} (bytes {start}..{end}): ", self.text)?;
        match self.kind {
            ConfigErrorKind::MissingEquals => f.write_str("no '=' between prefix and writer"),
            ConfigErrorKind::EmptyPrefix => f.write_str("empty prefix before '='"),
            ConfigErrorKind::EmptyWriter => f.write_str("empty writer id"),
            ConfigErrorKind::EmptyFallback => f.write_str("empty fallback id after '|'"),
            ConfigErrorKind::InvalidNodeId { id, reason } => write!(f, "node id {id:?}: {reason}"),
            ConfigErrorKind::FallbackIsWriter => f.write_str("the fallback is the writer itself"),
            ConfigErrorKind::Duplicate { first } => {
                write!(
                    f,
                    "repeats entry {} (bytes {}..{})",
                    first.index, first.start, first.end
                )
            }
            ConfigErrorKind::Overlapping { outer } => write!(
                f,
                "prefix is contained by entry {} (bytes {}..{})",
                outer.index, outer.start, outer.end
            ),
            ConfigErrorKind::TooManyEntries { capacity } => {
                write!(f, "more than {capacity} entries")
            }
            ConfigErrorKind::MissingAt => f.write_str("no '@' between node id and address"),
            ConfigErrorKind::EmptyHost => f.write_str("empty host"),
            ConfigErrorKind::MissingPort => f.write_str("no ':port' after the host"),
            ConfigErrorKind::BadPort { text } => {
                write!(f, "port {text:?} is not a number from 1 to 65535")
            }
            ConfigErrorKind::UnbracketedIpv6 => {
                f.write_str("an IPv6 host must be in brackets, as in [::1]:6004")
            }
            ConfigErrorKind::BadBrackets => f.write_str("unbalanced '[' ']' in the address"),
            ConfigErrorKind::HostTooLong { len } => {
                write!(f, "host is {len} bytes, at most {MAX_HOST_LEN} allowed")
            }
        }
    }
}

impl core::error::Error for ConfigError<'_> {}

#[cfg(feature = "alloc")]
impl ConfigError<'_> {
    /// Copies the error out of the config text it borrows, so it can
    /// outlive the text, be boxed as `dyn Error` or cross threads.
    ///
    /// ```
    /// use kevy_scope::{config::{parse_scopes, ConfigError, ConfigErrorBuf}};
    /// fn load(value: String) -> Result<usize, Box<dyn std::error::Error>> {
    ///     let table = parse_scopes::<8>(&value).map_err(ConfigError::into_owned)?;
    ///     Ok(table.len())
    /// }
    /// let err = load("a:=w, b:".to_string()).unwrap_err();
    /// assert_eq!(err.to_string(), r#"entry 1 "b:" (bytes 6..8): no '=' between prefix and writer"#);
    /// ```
    #[must_use]
    pub fn into_owned(self) -> ConfigErrorBuf {
        ConfigErrorBuf::from(self)
    }
}

/// A [`ConfigError`] that owns its text (feature `alloc`): what the owned
/// parsers ([`OwnershipTableBuf::parse`](crate::table::OwnershipTableBuf::parse),
/// [`PeerTableBuf::parse`](crate::config::PeerTableBuf::parse)) return, and what
/// [`ConfigError::into_owned`] makes. It is `'static`, so `?` turns it
/// into a `Box<dyn Error>`; [`Self::error`] gives the borrowed form back.
///
/// ```
/// use kevy_scope::{config::ConfigErrorKind, table::OwnershipTableBuf};
/// fn load(value: String) -> Result<OwnershipTableBuf, Box<dyn std::error::Error>> {
///     Ok(OwnershipTableBuf::parse(&value)?)
/// }
/// let err = load("a:=w|".to_string()).unwrap_err();
/// assert_eq!(err.to_string(), r#"entry 0 "a:=w|" (bytes 0..5): empty fallback id after '|'"#);
/// let err = err.downcast::<kevy_scope::config::ConfigErrorBuf>().unwrap();
/// assert_eq!(err.kind(), ConfigErrorKind::EmptyFallback);
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigErrorBuf {
    entry: Entry,
    text: alloc::boxed::Box<str>,
    /// The kind with its borrowed text (an id or a port) emptied;
    /// `detail` holds that text.
    kind: ConfigErrorKind<'static>,
    detail: alloc::boxed::Box<str>,
}

#[cfg(feature = "alloc")]
impl ConfigErrorBuf {
    /// The borrowed form, for matching on the kind with its text.
    ///
    /// ```
    /// # use kevy_scope::{config::{ConfigErrorKind, PeerTableBuf}};
    /// let err = PeerTableBuf::parse("n@h:99999").unwrap_err();
    /// assert!(matches!(err.error().kind, ConfigErrorKind::BadPort { text: "99999" }));
    /// ```
    #[must_use]
    pub fn error(&self) -> ConfigError<'_> {
        ConfigError {
            entry: self.entry,
            text: &self.text,
            kind: self.kind(),
        }
    }

    /// Where the refused entry lies in the value.
    ///
    /// ```
    /// # use kevy_scope::table::OwnershipTableBuf;
    /// let err = OwnershipTableBuf::parse("a:=w, b:").unwrap_err();
    /// assert_eq!((err.entry().index, err.entry().start, err.entry().end), (1, 6, 8));
    /// ```
    #[must_use]
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// The refused entry's text.
    ///
    /// ```
    /// # use kevy_scope::table::OwnershipTableBuf;
    /// assert_eq!(OwnershipTableBuf::parse("a:=w, b:").unwrap_err().text(), "b:");
    /// ```
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Why it was refused.
    ///
    /// ```
    /// # use kevy_scope::{config::ConfigErrorKind, table::OwnershipTableBuf};
    /// let err = OwnershipTableBuf::parse("a:=w, a:=v").unwrap_err();
    /// assert!(matches!(err.kind(), ConfigErrorKind::Duplicate { first } if first.index == 0));
    /// ```
    #[must_use]
    pub fn kind(&self) -> ConfigErrorKind<'_> {
        match self.kind {
            ConfigErrorKind::InvalidNodeId { reason, .. } => ConfigErrorKind::InvalidNodeId {
                id: &self.detail,
                reason,
            },
            ConfigErrorKind::BadPort { .. } => ConfigErrorKind::BadPort { text: &self.detail },
            kind => kind,
        }
    }
}

/// ```
/// use kevy_scope::{config::{parse_scopes, ConfigErrorBuf}};
/// let value = String::from("a:=w é");
/// let err: ConfigErrorBuf = parse_scopes::<2>(&value).unwrap_err().into();
/// drop(value);
/// assert!(err.to_string().starts_with(r#"entry 0 "a:=w é" (bytes 0..7): node id "w é""#));
/// ```
#[cfg(feature = "alloc")]
impl From<ConfigError<'_>> for ConfigErrorBuf {
    fn from(error: ConfigError<'_>) -> Self {
        use ConfigErrorKind as K;
        // Every kind is listed: a new kind that borrows text must be
        // split here, or it would not compile.
        let (kind, detail) = match error.kind {
            K::InvalidNodeId { id, reason } => (K::InvalidNodeId { id: "", reason }, id),
            K::BadPort { text } => (K::BadPort { text: "" }, text),
            K::MissingEquals => (K::MissingEquals, ""),
            K::EmptyPrefix => (K::EmptyPrefix, ""),
            K::EmptyWriter => (K::EmptyWriter, ""),
            K::EmptyFallback => (K::EmptyFallback, ""),
            K::FallbackIsWriter => (K::FallbackIsWriter, ""),
            K::Duplicate { first } => (K::Duplicate { first }, ""),
            K::Overlapping { outer } => (K::Overlapping { outer }, ""),
            K::TooManyEntries { capacity } => (K::TooManyEntries { capacity }, ""),
            K::MissingAt => (K::MissingAt, ""),
            K::EmptyHost => (K::EmptyHost, ""),
            K::MissingPort => (K::MissingPort, ""),
            K::UnbracketedIpv6 => (K::UnbracketedIpv6, ""),
            K::BadBrackets => (K::BadBrackets, ""),
            K::HostTooLong { len } => (K::HostTooLong { len }, ""),
        };
        Self {
            entry: error.entry,
            text: error.text.into(),
            kind,
            detail: detail.into(),
        }
    }
}

#[cfg(feature = "alloc")]
impl fmt::Debug for ConfigErrorBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigErrorBuf")
            .field("entry", &self.entry)
            .field("text", &self.text())
            .field("kind", &self.kind())
            .finish()
    }
}

/// The same text as the borrowed error's.
///
/// ```
/// # use kevy_scope::{config::{parse_scopes, ConfigError}};
/// let err = parse_scopes::<2>("a:=w|w").unwrap_err();
/// assert_eq!(err.into_owned().to_string(), err.to_string());
/// ```
#[cfg(feature = "alloc")]
impl fmt::Display for ConfigErrorBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error(), f)
    }
}

#[cfg(feature = "alloc")]
impl core::error::Error for ConfigErrorBuf {}

#[cfg(feature = "defmt")]
#[cfg(feature = "alloc")]
impl defmt::Format for ConfigErrorBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self.error());
    }
}

/// Splits `text` at the first `byte` (an ASCII separator). A byte scan:
/// `str`'s pattern machinery costs kilobytes of flash on a Cortex-M0.
#[inline(never)]
pub(crate) fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    let (head, tail) = text.split_at_checked(at)?;
    Some((head, tail.get(1..)?))
}

/// [`split_at_byte`] with both sides trimmed; the whole text, trimmed, and
/// no tail when `byte` is absent.
#[inline(never)]
pub(crate) fn split_trimmed(text: &str, byte: u8) -> (&str, Option<&str>) {
    match split_at_byte(text, byte) {
        Some((head, tail)) => (trim(head), Some(trim(tail))),
        None => (trim(text), None),
    }
}

/// `text` without leading and trailing ASCII whitespace; out of line, as
/// each inlined copy costs flash.
#[inline(never)]
pub(crate) fn trim(text: &str) -> &str {
    text.trim_ascii()
}

/// Whether `text` holds `byte`.
pub(crate) fn has_byte(text: &str, byte: u8) -> bool {
    text.bytes().any(|b| b == byte)
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &str, part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

/// The non-empty, trimmed entries of a comma-separated value, with spans.
pub(crate) fn entries(input: &str) -> Entries<'_> {
    Entries {
        input,
        rest: Some(input),
        index: 0,
    }
}

/// The iterator of [`entries`].
pub(crate) struct Entries<'a> {
    input: &'a str,
    /// What follows the last comma read; `None` after the last entry.
    rest: Option<&'a str>,
    index: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Entry, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (text, rest) = split_trimmed(self.rest?, b',');
            self.rest = rest;
            if !text.is_empty() {
                let start = offset_in(self.input, text.as_bytes());
                let entry = Entry {
                    index: self.index,
                    start,
                    end: start + text.len(),
                };
                self.index += 1;
                return Some((entry, text));
            }
        }
    }
}

/// Parses one `scopes` entry; the caller adds where it sits.
#[inline(never)]
fn parse_scope(text: &str) -> Result<Scope<'_>, ConfigErrorKind<'_>> {
    let (prefix, owners) = split_trimmed(text, b'=');
    let owners = owners.ok_or(ConfigErrorKind::MissingEquals)?;
    if prefix.is_empty() {
        return Err(ConfigErrorKind::EmptyPrefix);
    }
    let (writer, fallback) = split_trimmed(owners, b'|');
    if writer.is_empty() {
        return Err(ConfigErrorKind::EmptyWriter);
    }
    check_id(writer)?;
    let scope = Scope::new(prefix.as_bytes(), writer);
    let Some(fallback) = fallback else {
        return Ok(scope);
    };
    if fallback.is_empty() {
        return Err(ConfigErrorKind::EmptyFallback);
    }
    if fallback == writer {
        return Err(ConfigErrorKind::FallbackIsWriter);
    }
    check_id(fallback)?;
    Ok(scope.with_fallback(fallback))
}

pub(crate) fn check_id(id: &str) -> Result<(), ConfigErrorKind<'_>> {
    validate_node_id(id).map_err(|reason| ConfigErrorKind::InvalidNodeId { id, reason })
}

/// The scopes of a `scopes` value, one per entry, in input order, each
/// borrowing from `input`.
///
/// ```
/// use kevy_scope::config::parse_scope_entries;
/// let scopes: Result<Vec<_>, _> = parse_scope_entries("a:=w1|f1, b:=w2,").collect();
/// let scopes = scopes.unwrap();
/// assert_eq!(scopes[0].fallback(), Some("f1"));
/// assert_eq!(scopes[1].prefix(), b"b:");
/// ```
pub fn parse_scope_entries(
    input: &str,
) -> impl Iterator<Item = Result<Scope<'_>, ConfigError<'_>>> + '_ {
    entries(input)
        .map(|(entry, text)| parse_scope(text).map_err(|kind| ConfigError { entry, text, kind }))
}

/// Parses a `scopes` value into a validated table of capacity `N`,
/// borrowing prefixes and ids from `input`.
///
/// ```
/// use kevy_scope::{Routing, config::parse_scopes};
/// let table = parse_scopes::<8>("app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1")?;
/// assert_eq!(table.route(b"app:auth:7", "x"), Routing::Misdirected { target: "embed-auth-1" });
/// # Ok::<(), kevy_scope::config::ConfigError>(())
/// ```
pub fn parse_scopes<const N: usize>(input: &str) -> Result<OwnershipTable<'_, N>, ConfigError<'_>> {
    // Filled where it is returned, which saves a copy of the table.
    let mut parsed = Ok(OwnershipTable::new());
    if let Ok(table) = &mut parsed
        && let Err(e) = fill_table(table, input)
    {
        parsed = Err(e);
    }
    parsed
}

#[cfg(feature = "alloc")]
impl crate::table::OwnershipTableBuf {
    /// Parses a `scopes` value into an owned table of any size: the same
    /// entries, checks and errors as [`parse_scopes`], with the error
    /// copied out of `input` so `?` can box it.
    ///
    /// ```
    /// use kevy_scope::{Routing, table::OwnershipTableBuf};
    /// let value = String::from("app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1");
    /// let table = OwnershipTableBuf::parse(&value)?;
    /// drop(value);
    /// assert_eq!(table.route(b"app:auth:7", "x"), Routing::Misdirected { target: "embed-auth-1" });
    /// # Ok::<(), kevy_scope::config::ConfigErrorBuf>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, ConfigErrorBuf> {
        let scopes = parse_scope_entries(input).collect::<Result<alloc::vec::Vec<_>, _>>()?;
        Self::from_valid_scopes(scopes).map_err(|clash| locate(input, clash).into_owned())
    }
}

/// `value.parse::<OwnershipTableBuf>()`, as [`OwnershipTableBuf::parse`](crate::table::OwnershipTableBuf::parse).
///
/// ```
/// use kevy_scope::table::OwnershipTableBuf;
/// let table: OwnershipTableBuf = "a:=w1, b:=w2|f".parse()?;
/// assert_eq!(table.len(), 2);
/// # Ok::<(), kevy_scope::config::ConfigErrorBuf>(())
/// ```
#[cfg(feature = "alloc")]
impl core::str::FromStr for crate::table::OwnershipTableBuf {
    type Err = ConfigErrorBuf;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

/// Parses the entries of `input` into `table`, then sorts and checks it.
#[inline(never)]
fn fill_table<'a, const N: usize>(
    table: &mut OwnershipTable<'a, N>,
    input: &'a str,
) -> Result<(), ConfigError<'a>> {
    for (entry, text) in entries(input) {
        let mut add = || {
            // The entry parser checks ids as the table would.
            let scope = parse_scope(text)?;
            table
                .push_unsorted(scope)
                .map_err(|_| ConfigErrorKind::TooManyEntries { capacity: N })
        };
        // One place dresses every refusal with where the entry lies.
        add().map_err(|kind| ConfigError { entry, text, kind })?;
    }
    table.seal().map_err(|clash| locate(input, clash))
}

/// Points a clash between two prefixes at the entries declaring them:
/// blamed is the inner prefix of an overlap, or the later of two equal
/// ones (the table's order among equals is not the input's).
#[cold]
#[inline(never)]
fn locate<'a>(input: &'a str, clash: Clash<'a>) -> ConfigError<'a> {
    let (mut other, mut blamed) = (clash.first, clash.second);
    if clash.duplicate && offset_in(input, blamed) < offset_in(input, other) {
        (other, blamed) = (blamed, other);
    }
    let (entry, text) = entry_at(input, blamed);
    let (other, _) = entry_at(input, other);
    let kind = if clash.duplicate {
        ConfigErrorKind::Duplicate { first: other }
    } else {
        ConfigErrorKind::Overlapping { outer: other }
    };
    ConfigError { entry, text, kind }
}

/// The entry holding `part`, a slice of `input`.
pub(crate) fn entry_at<'a>(input: &'a str, part: &[u8]) -> (Entry, &'a str) {
    let at = offset_in(input, part);
    entries(input)
        .find(|(entry, _)| entry.start <= at && at <= entry.end)
        .unwrap_or((NOWHERE, ""))
}

/// Stands for an entry that cannot be found; unreachable for tables built
/// from the parser's own entries.
const NOWHERE: Entry = Entry {
    index: 0,
    start: 0,
    end: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn kind(input: &str) -> ConfigErrorKind<'_> {
        parse_scopes::<8>(input).unwrap_err().kind
    }

    #[test]
    fn seed_example_parses() {
        let t =
            parse_scopes::<4>("app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1")
                .unwrap();
        assert_eq!(t.len(), 2);
        let billing = t.lookup(b"app:billing:1").unwrap();
        assert_eq!(
            (billing.writer(), billing.fallback()),
            ("embed-billing-1", Some("server-eu-1"))
        );
    }

    #[test]
    fn trims_and_skips_empty_entries() {
        let t = parse_scopes::<4>(" ,a: = w1 | f1 ,, b:=w2 ,").unwrap();
        let got: Vec<_> = t
            .scopes()
            .iter()
            .map(|s| (s.prefix(), s.writer(), s.fallback()))
            .collect();
        assert_eq!(
            got,
            [(&b"a:"[..], "w1", Some("f1")), (&b"b:"[..], "w2", None)]
        );
        assert!(parse_scopes::<4>("").unwrap().is_empty());
        assert!(parse_scopes::<4>(" , ,").unwrap().is_empty());
    }

    #[test]
    fn first_equals_splits() {
        // A prefix cannot hold '='; the owners part then holds it, and no id may.
        assert!(matches!(
            kind("a=b=c"),
            ConfigErrorKind::InvalidNodeId { id: "b=c", .. }
        ));
    }

    #[test]
    fn each_entry_error() {
        assert_eq!(kind("app:"), ConfigErrorKind::MissingEquals);
        assert_eq!(kind("=w"), ConfigErrorKind::EmptyPrefix);
        assert_eq!(kind(" =w"), ConfigErrorKind::EmptyPrefix);
        assert_eq!(kind("a:="), ConfigErrorKind::EmptyWriter);
        assert_eq!(kind("a:=|f"), ConfigErrorKind::EmptyWriter);
        assert_eq!(kind("a:=w|"), ConfigErrorKind::EmptyFallback);
        assert_eq!(kind("a:=w| "), ConfigErrorKind::EmptyFallback);
        assert_eq!(kind("a:=w|w"), ConfigErrorKind::FallbackIsWriter);
        assert!(matches!(
            kind("a:=w|f|g"),
            ConfigErrorKind::InvalidNodeId { id: "f|g", .. }
        ));
        let long = "a:=".to_string() + &"x".repeat(33);
        assert!(matches!(
            parse_scopes::<4>(&long).unwrap_err().kind,
            ConfigErrorKind::InvalidNodeId {
                reason: NodeIdError::TooLong { len: 33 },
                ..
            }
        ));
        assert!(matches!(
            kind("a:=w é"),
            ConfigErrorKind::InvalidNodeId { .. }
        ));
    }

    #[test]
    fn table_errors_point_at_both_entries() {
        let input = "a:=w1, b:=w2, a:=w3";
        let e = parse_scopes::<4>(input).unwrap_err();
        assert_eq!(
            e.entry,
            Entry {
                index: 2,
                start: 14,
                end: 19
            }
        );
        assert_eq!(
            e.kind,
            ConfigErrorKind::Duplicate {
                first: Entry {
                    index: 0,
                    start: 0,
                    end: 5
                }
            }
        );
        assert_eq!(
            e.to_string(),
            "entry 2 \"a:=w3\" (bytes 14..19): repeats entry 0 (bytes 0..5)"
        );
        let e = parse_scopes::<4>("app:=w1, app:billing:=w2").unwrap_err();
        assert_eq!(e.text, "app:billing:=w2");
        assert_eq!(
            e.kind,
            ConfigErrorKind::Overlapping {
                outer: Entry {
                    index: 0,
                    start: 0,
                    end: 7
                }
            }
        );
        let e = parse_scopes::<2>("a=w, b=w, c=w").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::TooManyEntries { capacity: 2 });
        assert_eq!(e.text, "c=w");
    }

    #[test]
    fn duplicates_blame_the_later_entry_on_both_sort_paths() {
        // Capacity 8 sorts by insertion (stable), 64 with the unstable
        // sort, which may swap equal prefixes: the later entry is blamed
        // either way, found by where its prefix lies in the input.
        let input = "b:=w1, a:=w2, c:=w3, b:=w4, d:=w5";
        let at = |i: usize| {
            let (entry, _) = entries(input).nth(i).unwrap();
            entry
        };
        let small = parse_scopes::<8>(input).unwrap_err();
        let large = parse_scopes::<64>(input).unwrap_err();
        for e in [small, large] {
            assert_eq!(e.entry, at(3));
            assert_eq!(e.text, "b:=w4");
            assert_eq!(e.kind, ConfigErrorKind::Duplicate { first: at(0) });
        }
        // Whatever order the sort left two equal prefixes in.
        let prefix = |i: usize| {
            entries(input)
                .nth(i)
                .unwrap()
                .1
                .get(..2)
                .unwrap()
                .as_bytes()
        };
        let swapped = Clash {
            first: prefix(3),
            second: prefix(0),
            duplicate: true,
        };
        let e = locate(input, swapped);
        assert_eq!(e.entry, at(3));
        assert_eq!(e.kind, ConfigErrorKind::Duplicate { first: at(0) });
        // The inner prefix is blamed for an overlap, whichever comes first.
        let e = parse_scopes::<64>("app:billing:=w1, app:=w2").unwrap_err();
        assert_eq!((e.entry.index, e.text), (0, "app:billing:=w1"));
        assert!(matches!(e.kind, ConfigErrorKind::Overlapping { outer } if outer.index == 1));
    }

    #[test]
    fn entries_trim_and_keep_byte_offsets() {
        let input = " a , \tb\u{e9}c ,, d";
        let got: Vec<_> = entries(input).collect();
        let texts: Vec<_> = got.iter().map(|(_, t)| *t).collect();
        assert_eq!(texts, ["a", "b\u{e9}c", "d"]);
        for (index, (entry, text)) in got.iter().enumerate() {
            assert_eq!(entry.index, index);
            assert_eq!(&input[entry.start..entry.end], *text);
        }
    }

    #[test]
    fn errors_come_in_input_order() {
        // The table is full before the bad entry is read.
        let e = parse_scopes::<1>("a=w, b=w, c").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::TooManyEntries { capacity: 1 });
        let e = parse_scopes::<1>("c, a=w, b=w").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::MissingEquals);
    }
}

/// A boot-time warning about a table read with its peer list.
///
/// ```
/// use kevy_scope::{config::{boot_report, parse_scopes, BootWarning, PeerTable}};
/// let table = parse_scopes::<2>("a:=n1")?;
/// let peers = PeerTable::<2>::parse("")?;
/// let first = boot_report(&table, &peers).next();
/// assert!(matches!(first, Some(BootWarning::UnknownWriter(s)) if s.writer() == "n1"));
/// # Ok::<(), kevy_scope::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BootWarning<'t> {
    /// The scope declares no fallback: its keys are unwritable while the
    /// writer is down.
    NoFallback(Scope<'t>),
    /// The scope's writer is not in the peer list: redirects to it print
    /// the bare id.
    UnknownWriter(Scope<'t>),
    /// The scope's fallback is not in the peer list.
    UnknownFallback(Scope<'t>),
}

impl fmt::Display for BootWarning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFallback(s) => write!(
                f,
                "scope {s}: no fallback, unwritable while the writer is down"
            ),
            Self::UnknownWriter(s) => {
                write!(
                    f,
                    "scope {s}: writer {:?} is not in the peer list",
                    s.writer()
                )
            }
            Self::UnknownFallback(s) => write!(
                f,
                "scope {s}: fallback {:?} is not in the peer list",
                s.fallback().unwrap_or_default()
            ),
        }
    }
}

/// What a node warns about once at boot: scopes without a fallback, and
/// scopes whose writer or fallback the peer list does not know.
///
/// ```
/// use kevy_scope::{config::{boot_report, parse_scopes, BootWarning, PeerTable}};
/// let table = parse_scopes::<4>("a:=n1|n2, b:=n3")?;
/// let peers = PeerTable::<4>::parse("n1@h:1, n3@h:3")?;
/// let report: Vec<_> = boot_report(&table, &peers).map(|w| w.to_string()).collect();
/// assert_eq!(report, [
///     r#"scope a:=n1|n2: fallback "n2" is not in the peer list"#,
///     "scope b:=n3: no fallback, unwritable while the writer is down",
/// ]);
/// # Ok::<(), kevy_scope::config::ConfigError>(())
/// ```
///
/// It takes either table type (any [`ScopeTable`]) and any peer list (any
/// [`AddressBook`]): `OwnershipTableBuf` with `PeerTableBuf` (feature
/// `alloc`) gives the same report as the borrowed pair.
pub fn boot_report<'t, T, R>(
    table: &'t T,
    peers: &'t R,
) -> impl Iterator<Item = BootWarning<'t>> + 't
where
    T: ScopeTable + ?Sized,
    R: AddressBook + ?Sized,
{
    table.iter().flat_map(move |scope| {
        let known = |id: &str| peers.knows(id);
        let writer = (!known(scope.writer())).then_some(BootWarning::UnknownWriter(scope));
        let fallback = match scope.fallback() {
            None => Some(BootWarning::NoFallback(scope)),
            Some(f) if !known(f) => Some(BootWarning::UnknownFallback(scope)),
            Some(_) => None,
        };
        writer.into_iter().chain(fallback)
    })
}
