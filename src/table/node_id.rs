//! The rule every node id obeys, and the fixed-capacity owned form.

use core::fmt;

use crate::bytes::{le32, le64};

/// The longest node id kevy accepts, in bytes.
pub const MAX_NODE_ID_LEN: usize = 32;

/// Why a string is not a valid node id.
///
/// A node id is 1 to [`MAX_NODE_ID_LEN`] bytes of printable ASCII
/// (`!` to `~`), without the config separators `,`, `|`, `=` and `@`,
/// so that every valid id survives a wire reply and a config round trip.
///
/// ```
/// use kevy_scope::{table::{validate_node_id, NodeIdError}};
/// assert_eq!(validate_node_id("a@b"), Err(NodeIdError::InvalidByte { byte: b'@', at: 1 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NodeIdError {
    /// The id is the empty string.
    Empty,
    /// The id is longer than [`MAX_NODE_ID_LEN`] bytes.
    TooLong {
        /// The id's length in bytes.
        len: usize,
    },
    /// The id holds a byte outside printable ASCII, or a config separator.
    InvalidByte {
        /// The first offending byte.
        byte: u8,
        /// Its offset in the id.
        at: usize,
    },
}

impl NodeIdError {
    /// A fixed sentence for contexts that cannot format (const panics).
    ///
    /// ```
    /// # use kevy_scope::table::NodeIdError;
    /// assert_eq!(NodeIdError::Empty.message(), "node id is empty");
    /// ```
    #[must_use]
    pub const fn message(&self) -> &'static str {
        match self {
            Self::Empty => "node id is empty",
            Self::TooLong { .. } => "node id is longer than 32 bytes",
            Self::InvalidByte { .. } => {
                "node id holds a byte outside printable ASCII or one of , | = @"
            }
        }
    }
}

impl fmt::Display for NodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("node id is empty"),
            Self::TooLong { len } => {
                write!(
                    f,
                    "node id is {len} bytes, at most {MAX_NODE_ID_LEN} allowed"
                )
            }
            Self::InvalidByte { byte, at } => write!(
                f,
                "node id byte {at} is {:?}: only printable ASCII without , | = @ is allowed",
                char::from(*byte)
            ),
        }
    }
}

impl core::error::Error for NodeIdError {}

/// Checks `id` against the node-id rule. Usable in `const` context.
///
/// ```
/// use kevy_scope::{table::{validate_node_id, NodeIdError}};
/// assert_eq!(validate_node_id("embed-billing-1"), Ok(()));
/// assert_eq!(validate_node_id(""), Err(NodeIdError::Empty));
/// assert!(validate_node_id("a b").is_err());
/// ```
#[cfg_attr(not(any(target_os = "none", kevy_device)), inline(always))]
pub const fn validate_node_id(id: &str) -> Result<(), NodeIdError> {
    let bytes = id.as_bytes();
    // Hosts check eight bytes at once, in line; the rest, and any id
    // refused, go to the byte loop, which names the bad byte.
    if !cfg!(any(target_os = "none", kevy_device))
        && bytes.len() <= MAX_NODE_ID_LEN
        && all_allowed(bytes)
    {
        return Ok(());
    }
    check_node_id_bytes(bytes)
}

/// [`validate_node_id`] a byte at a time, of bytes that need not be
/// UTF-8 (the node-to-node wire's).
#[cfg_attr(not(any(target_os = "none", kevy_device)), inline(never))]
pub(crate) const fn check_node_id_bytes(bytes: &[u8]) -> Result<(), NodeIdError> {
    if bytes.is_empty() {
        return Err(NodeIdError::Empty);
    }
    if bytes.len() > MAX_NODE_ID_LEN {
        return Err(NodeIdError::TooLong { len: bytes.len() });
    }
    let mut rest = bytes;
    let mut at = 0;
    while let [byte, tail @ ..] = rest {
        let printable = *byte >= b'!' && *byte <= b'~';
        let separator = matches!(*byte, b',' | b'|' | b'=' | b'@');
        if !printable || separator {
            return Err(NodeIdError::InvalidByte { byte: *byte, at });
        }
        rest = tail;
        at += 1;
    }
    Ok(())
}

/// Whether every byte of `bytes` (at least 4 long) is allowed in a node
/// id, a word of eight bytes at a time (the last word overlapping the
/// others; ids of 4 to 7 bytes read as two overlapping halves). `false`
/// for shorter ids, which the byte loop checks.
#[inline(always)]
const fn all_allowed(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if !word_allowed(le64(bytes, at)) {
                return false;
            }
            at += 8;
        }
        word_allowed(le64(bytes, n - 8))
    } else if n >= 4 {
        word_allowed(le32(bytes, 0) as u64 | (le32(bytes, n - 4) as u64) << 32)
    } else {
        false
    }
}

/// Whether all eight bytes of `word` are printable ASCII (`!`..=`~`) and
/// none is `,` `|` `=` or `@`. Each test is exact for the word as a whole
/// (the borrow tricks may flag bytes after a bad one, never a clean word).
#[inline(always)]
const fn word_allowed(word: u64) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGHS: u64 = ONES << 7;
    // A byte below `!`: subtracting 0x21 borrows into its high bit.
    let below = word.wrapping_sub(ONES * 0x21) & !word & HIGHS;
    // A byte above `~`: adding 1 reaches 0x80, or it is there already.
    let above = (word.wrapping_add(ONES) | word) & HIGHS;
    below
        | above
        | zero_byte(word ^ (ONES * b',' as u64))
        | zero_byte(word ^ (ONES * b'|' as u64))
        | zero_byte(word ^ (ONES * b'=' as u64))
        | zero_byte(word ^ (ONES * b'@' as u64))
        == 0
}

/// Non-zero when some byte of `v` is zero.
#[inline(always)]
const fn zero_byte(v: u64) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    v.wrapping_sub(ONES) & !v & (ONES << 7)
}

/// A validated node id copied into fixed-capacity storage.
///
/// Runtime input (operator commands, peer lists) is copied here so it can
/// outlive the buffer it arrived in, without a heap.
///
/// ```
/// use kevy_scope::NodeId;
/// let id = NodeId::new("server-eu-1").unwrap();
/// assert_eq!(id.as_str(), "server-eu-1");
/// assert!(NodeId::new("x".repeat(33).as_str()).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(heapless::String<MAX_NODE_ID_LEN, u8>);

impl NodeId {
    /// Validates and copies `id`.
    ///
    /// ```
    /// # use kevy_scope::NodeId;
    /// assert!(NodeId::new("").is_err());
    /// ```
    pub fn new(id: &str) -> Result<Self, NodeIdError> {
        validate_node_id(id)?;
        let mut s = heapless::String::new();
        // Cannot fail: the length was checked above.
        s.push_str(id)
            .map_err(|_| NodeIdError::TooLong { len: id.len() })?;
        Ok(Self(s))
    }

    /// An id from ASCII bytes (a stored image), built in place without
    /// UTF-8 validation; `None` for a byte that is not ASCII or an id that
    /// breaks the rule.
    pub(crate) fn from_ascii(bytes: &[u8]) -> Option<Self> {
        let mut s = heapless::String::new();
        for &b in bytes {
            if !b.is_ascii() {
                return None;
            }
            s.push(char::from(b)).ok()?;
        }
        validate_node_id(&s).ok()?;
        Some(Self(s))
    }

    /// The id as a string slice.
    ///
    /// ```
    /// # use kevy_scope::NodeId;
    /// assert_eq!(NodeId::new("n1").unwrap().as_str(), "n1");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// ```
/// use kevy_scope::NodeId;
/// let id: NodeId = "server-eu-1".parse().unwrap();
/// assert_eq!(id.as_str(), "server-eu-1");
/// ```
impl core::str::FromStr for NodeId {
    type Err = NodeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A node id equals the string it was made from, on either side of `==`.
///
/// ```
/// use kevy_scope::NodeId;
/// let id = NodeId::new("server-eu-1").unwrap();
/// assert!(id == *"server-eu-1" && *"server-eu-1" == id);
/// assert!(id == "server-eu-1" && "server-eu-1" == id);
/// assert!(id != "server-eu-2");
/// ```
impl PartialEq<str> for NodeId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// As `NodeId == str`, for string slices.
///
/// ```
/// # use kevy_scope::NodeId;
/// assert_eq!(NodeId::new("A").unwrap(), "A");
/// ```
impl PartialEq<&str> for NodeId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// ```
/// # use kevy_scope::NodeId;
/// assert!(*"A" == NodeId::new("A").unwrap());
/// ```
impl PartialEq<NodeId> for str {
    fn eq(&self, other: &NodeId) -> bool {
        self == other.as_str()
    }
}

/// ```
/// # use kevy_scope::NodeId;
/// assert_eq!("A", NodeId::new("A").unwrap());
/// ```
impl PartialEq<NodeId> for &str {
    fn eq(&self, other: &NodeId) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NodeId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::prelude::rust_2024::*;

    /// The byte rule, one byte at a time.
    fn allowed(b: u8) -> bool {
        (b'!'..=b'~').contains(&b) && !matches!(b, b',' | b'|' | b'=' | b'@')
    }

    #[test]
    fn word_check_is_the_byte_rule() {
        // Every byte value at every position of every length the word
        // check reads, in a valid id.
        for len in 4..=MAX_NODE_ID_LEN {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(all_allowed(&base), "{len}");
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut id = base.clone();
                    id[at] = byte;
                    assert_eq!(all_allowed(&id), allowed(byte), "{len} {at} {byte}");
                }
            }
        }
        // Two bad bytes side by side (a borrow from one must not hide the
        // other) and bytes next to the bounds.
        for x in 0..=255u8 {
            for y in [0u8, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff, b',', b'@'] {
                let id = [b'a', x, y, b'b', b'c', b'd', b'e', b'f', b'g'];
                assert_eq!(all_allowed(&id), allowed(x) && allowed(y), "{x} {y}");
            }
        }
        assert!(!all_allowed(b"abc"), "short ids go to the byte loop");
    }

    #[test]
    fn accepts_typical_ids() {
        for id in ["embed-billing-1", "server-eu-1", "a", "n_1.x:2"] {
            assert_eq!(validate_node_id(id), Ok(()), "{id}");
        }
        assert_eq!(validate_node_id(&"x".repeat(32)), Ok(()));
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(validate_node_id(""), Err(NodeIdError::Empty));
        assert_eq!(
            validate_node_id(&"x".repeat(33)),
            Err(NodeIdError::TooLong { len: 33 })
        );
        assert_eq!(
            validate_node_id("ab c"),
            Err(NodeIdError::InvalidByte { byte: b' ', at: 2 })
        );
        for sep in [",", "|", "=", "@", "\r", "é"] {
            let id = format!("a{sep}");
            assert!(
                matches!(
                    validate_node_id(&id),
                    Err(NodeIdError::InvalidByte { at: 1, .. })
                ),
                "{id:?}"
            );
        }
    }

    #[test]
    fn compares_with_str_both_ways() {
        let id = NodeId::new("w-1").unwrap();
        let same: &str = "w-1";
        let other: &str = "w-2";
        // NodeId == str, NodeId == &str, and the reverse of each.
        assert!(id == *same && id == same);
        assert!(*same == id && same == id);
        assert!(id != *other && id != other);
        assert!(*other != id && other != id);
        // Not a prefix match, not case-insensitive.
        assert!(id != "w-" && id != "w-10" && id != "W-1");
        assert!("" != id);
        // The comparison is the string's: as_str() agrees for both.
        for s in ["w-1", "w-2", "w-1 ", ""] {
            assert_eq!(id == s, id.as_str() == s, "{s:?}");
            assert_eq!(s == id, s == id.as_str(), "{s:?}");
        }
    }

    #[test]
    fn owned_id_round_trips() {
        let id = NodeId::new("w-1").unwrap();
        assert_eq!(id.as_str(), "w-1");
        assert_eq!(format!("{id}"), "w-1");
        assert_eq!(format!("{id:?}"), "\"w-1\"");
        assert_eq!(
            NodeId::new("a|b"),
            Err(NodeIdError::InvalidByte { byte: b'|', at: 1 })
        );
    }
}
