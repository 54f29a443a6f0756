//! The wire replies for refused writes, encoded without allocation.
//!
//! `-MISDIRECTED writer is <host:port>\r\n` and
//! `-QUIESCED migrating to <host:port>\r\n`, where the address comes from a
//! [`AddressBook`] (the peer list); an id it cannot resolve is printed as is.

use core::fmt::{self, Write};

use crate::moves::WriteVerdict;
use crate::table::node_id::MAX_NODE_ID_LEN;

/// The longest host a `peers` entry may name, in bytes, brackets not
/// counted: a DNS name's limit (253 characters), which also bounds IPv6
/// text. A longer host is refused with
/// [`HostTooLong`](crate::config::ConfigErrorKind::HostTooLong), so that every reply naming a parsed
/// peer fits [`MAX_REPLY_LEN`](crate::wire::MAX_REPLY_LEN).
///
/// ```
/// use kevy_scope::{config::{ConfigErrorKind, Peer}, wire::MAX_HOST_LEN};
/// let (longest, too_long) = ("h".repeat(MAX_HOST_LEN), "h".repeat(MAX_HOST_LEN + 1));
/// let (ok, refused) = (format!("n@{longest}:6004"), format!("n@{too_long}:6004"));
/// assert!(Peer::parse(&ok).is_ok());
/// let err = Peer::parse(&refused).unwrap_err();
/// assert_eq!(err.kind, ConfigErrorKind::HostTooLong { len: MAX_HOST_LEN + 1 });
/// ```
pub const MAX_HOST_LEN: usize = 253;

/// A peer's client address.
///
/// ```
/// use kevy_scope::wire::PeerAddr;
/// assert_eq!(PeerAddr::new("10.0.0.1", 6379).to_string(), "10.0.0.1:6379");
/// assert_eq!(PeerAddr::new("::1", 6379).to_string(), "[::1]:6379");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerAddr<'a> {
    host: &'a str,
    port: u16,
}

impl<'a> PeerAddr<'a> {
    /// An address; an IPv6 host is given without brackets.
    ///
    /// ```
    /// # use kevy_scope::wire::PeerAddr;
    /// let a = PeerAddr::new("10.0.0.2", 6004);
    /// assert_eq!((a.host(), a.port()), ("10.0.0.2", 6004));
    /// ```
    #[must_use]
    pub const fn new(host: &'a str, port: u16) -> Self {
        Self { host, port }
    }

    /// The host, without brackets.
    ///
    /// ```
    /// # use kevy_scope::wire::PeerAddr;
    /// assert_eq!(PeerAddr::new("h", 1).host(), "h");
    /// ```
    #[must_use]
    pub const fn host(&self) -> &'a str {
        self.host
    }

    /// Whether the host is an IPv6 address, printed in brackets.
    pub(crate) fn is_ipv6(&self) -> bool {
        self.host.bytes().any(|b| b == b':')
    }

    /// The port.
    ///
    /// ```
    /// # use kevy_scope::wire::PeerAddr;
    /// assert_eq!(PeerAddr::new("h", 1).port(), 1);
    /// ```
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for PeerAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ipv6() {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Turns a node id into the address a client can connect to:
/// [`PeerTable`](crate::config::PeerTable), [`NoPeers`], or a slice of
/// `(id, address)` pairs.
///
/// ```
/// use kevy_scope::{wire::{NoPeers, PeerAddr, AddressBook}};
/// let peers: &[(&str, PeerAddr<'_>)] = &[("A", PeerAddr::new("h", 1))];
/// assert!(peers.resolve("A").is_some() && NoPeers.resolve("A").is_none());
/// ```
pub trait AddressBook {
    /// The client address of node `id`, if known.
    ///
    /// ```
    /// use kevy_scope::{wire::{PeerAddr, AddressBook}};
    /// let peers = [("server-eu-1", PeerAddr::new("10.0.0.2", 6379))];
    /// assert_eq!(peers.resolve("server-eu-1"), Some(PeerAddr::new("10.0.0.2", 6379)));
    /// assert_eq!(peers.resolve("nobody"), None);
    /// ```
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>>;

    /// Whether node `id` is in the peer list: the boot report's question,
    /// which a peer list can answer without building the address.
    ///
    /// ```
    /// use kevy_scope::{wire::{NoPeers, PeerAddr, AddressBook}};
    /// let peers = [("server-eu-1", PeerAddr::new("10.0.0.2", 6379))];
    /// assert!(peers.knows("server-eu-1") && !peers.knows("nobody"));
    /// assert!(!NoPeers.knows("server-eu-1"));
    /// ```
    fn knows(&self, id: &str) -> bool {
        self.resolve(id).is_some()
    }
}

/// No peer list: every id is printed as is.
///
/// ```
/// use kevy_scope::{wire::{NoPeers, AddressBook}};
/// assert_eq!(NoPeers.resolve("A"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoPeers;

impl AddressBook for NoPeers {
    fn resolve(&self, _id: &str) -> Option<PeerAddr<'_>> {
        None
    }
}

impl AddressBook for [(&str, PeerAddr<'_>)] {
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>> {
        self.iter()
            .find(|(peer, _)| *peer == id)
            .map(|(_, addr)| *addr)
    }
}

impl<const P: usize> AddressBook for [(&str, PeerAddr<'_>); P] {
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>> {
        self.as_slice().resolve(id)
    }
}

impl<T: AddressBook + ?Sized> AddressBook for &T {
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>> {
        (**self).resolve(id)
    }

    fn knows(&self, id: &str) -> bool {
        (**self).knows(id)
    }
}

/// A reply did not fit the caller's buffer; nothing was written.
///
/// ```
/// use kevy_scope::{WriteVerdict, wire::{NoPeers, ReplyError}};
/// let mut buf = [0u8; 8];
/// let err = WriteVerdict::Misdirected { target: "B" }.encode_reply(&NoPeers, &mut buf).unwrap_err();
/// assert_eq!(err, ReplyError::BufferTooSmall { needed: 26, available: 8 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ReplyError {
    /// The buffer is shorter than the reply.
    BufferTooSmall {
        /// The reply's length.
        needed: usize,
        /// The buffer's length.
        available: usize,
    },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "reply needs {needed} bytes, the buffer has {available}")
            }
        }
    }
}

impl core::error::Error for ReplyError {}

/// The longest reply for any peer the `peers` parser accepts: the longer
/// preamble, a bracketed host of [`MAX_HOST_LEN`] bytes, `:` and a
/// five-digit port, CRLF (286 bytes). An unresolved id, at most
/// [`MAX_NODE_ID_LEN`] bytes, is shorter. A buffer this long never gets
/// [`ReplyError::BufferTooSmall`] with a [`PeerTable`](crate::config::PeerTable);
/// only a custom [`AddressBook`] handing out longer hosts can exceed it, and
/// `WriteVerdict::reply_vec` (feature `alloc`) has no limit at all.
///
/// ```
/// use kevy_scope::{WriteVerdict, wire::{MAX_HOST_LEN, MAX_REPLY_LEN}, config::PeerTable};
/// let host = "h".repeat(MAX_HOST_LEN);
/// let value = format!("B@{host}:6004:65535");
/// let peers = PeerTable::<1>::parse(&value).unwrap();
/// let mut buf = [0u8; MAX_REPLY_LEN];
/// assert!(WriteVerdict::Misdirected { target: "B" }.encode_reply(&peers, &mut buf).is_ok());
/// ```
pub const MAX_REPLY_LEN: usize = "-MISDIRECTED writer is ".len()
    + "[".len()
    + MAX_HOST_LEN
    + "]:".len()
    + "65535".len()
    + "\r\n".len();

// The other preamble is no longer, and an unresolved id is no longer than
// a host.
const _: () = assert!("-QUIESCED migrating to ".len() <= "-MISDIRECTED writer is ".len());
const _: () = assert!(MAX_NODE_ID_LEN <= MAX_HOST_LEN);

/// The reply of a node whose records could not be restored.
const UNAVAILABLE: &str = "-TRYAGAIN ownership records lost";

// A MAX_REPLY_LEN buffer holds it too.
const _: () = assert!(UNAVAILABLE.len() + "\r\n".len() <= MAX_REPLY_LEN);

/// Calls `put` with each decimal digit of `port`, without division
/// (Cortex-M0 has none) and without a digit buffer.
fn port_digits(mut port: u16, put: &mut dyn FnMut(u8)) {
    let mut started = false;
    // Iterated by reference: a by-value array is copied with `memcpy`,
    // 600 bytes of flash on a Cortex-M0.
    for &power in &[10_000u16, 1_000, 100, 10, 1] {
        let mut digit = b'0';
        while port >= power {
            port -= power;
            digit += 1;
        }
        // Skip leading zeros, keep the last digit.
        started |= digit != b'0' || power == 1;
        if started {
            put(digit);
        }
    }
}

/// A refused write's reply: text pieces, then a port when the target
/// resolved to an address, then CRLF.
struct Reply<'p> {
    /// Preamble, `[` or nothing, host or id, `]:` or `:` or nothing.
    head: [&'p str; 4],
    port: Option<u16>,
}

impl<'p> Reply<'p> {
    /// The reply to `verdict`; `None` for an accepted write. The one place
    /// that knows the reply's shape.
    fn of(verdict: &WriteVerdict<'p>, peers: &'p (impl AddressBook + ?Sized)) -> Option<Self> {
        let (preamble, id) = match *verdict {
            WriteVerdict::Misdirected { target: to } => ("-MISDIRECTED writer is ", to),
            WriteVerdict::Quiesced { target: to } => ("-QUIESCED migrating to ", to),
            WriteVerdict::Unavailable => {
                return Some(Self {
                    head: [UNAVAILABLE, "", "", ""],
                    port: None,
                });
            }
            _ => return None,
        };
        Some(match peers.resolve(id) {
            Some(addr) => {
                let (open, close) = if addr.is_ipv6() {
                    ("[", "]:")
                } else {
                    ("", ":")
                };
                Self {
                    head: [preamble, open, addr.host(), close],
                    port: Some(addr.port()),
                }
            }
            None => Self {
                head: [preamble, "", id, ""],
                port: None,
            },
        })
    }

    /// Calls `put` with each byte of the reply, in order. Out of line: the
    /// encoder calls it twice, to count and to write.
    #[inline(never)]
    fn bytes(&self, put: &mut dyn FnMut(u8)) {
        for piece in self.head {
            piece.bytes().for_each(&mut *put);
        }
        if let Some(port) = self.port {
            port_digits(port, put);
        }
        b"\r\n".iter().copied().for_each(put);
    }
}

impl WriteVerdict<'_> {
    /// Writes the RESP error reply for this verdict to `out`; an accepted
    /// write has no reply and writes nothing.
    ///
    /// ```
    /// use kevy_scope::{WriteVerdict, wire::PeerAddr};
    /// let peers = [("B", PeerAddr::new("10.0.0.2", 6379))];
    /// let mut out = String::new();
    /// WriteVerdict::Quiesced { target: "B" }.write_reply(&peers, &mut out).unwrap();
    /// assert_eq!(out, "-QUIESCED migrating to 10.0.0.2:6379\r\n");
    /// ```
    pub fn write_reply<W: Write + ?Sized>(
        &self,
        peers: &impl AddressBook,
        out: &mut W,
    ) -> fmt::Result {
        let Some(reply) = Reply::of(self, peers) else {
            return Ok(());
        };
        for piece in reply.head {
            out.write_str(piece)?;
        }
        if let Some(port) = reply.port {
            write!(out, "{port}")?;
        }
        out.write_str("\r\n")
    }

    /// Encodes the reply into `buf` and returns the bytes written (empty
    /// for an accepted write). A buffer too small is an error and `buf` is
    /// left untouched: never a truncated reply. Uses no `core::fmt`, which
    /// keeps small firmware small.
    ///
    /// ```
    /// use kevy_scope::{WriteVerdict, wire::NoPeers};
    /// let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
    /// let reply = WriteVerdict::Misdirected { target: "embed-billing-1" }.encode_reply(&NoPeers, &mut buf)?;
    /// assert_eq!(reply, b"-MISDIRECTED writer is embed-billing-1\r\n");
    /// # Ok::<(), kevy_scope::wire::ReplyError>(())
    /// ```
    pub fn encode_reply<'b>(
        &self,
        peers: &impl AddressBook,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], ReplyError> {
        let mut needed = 0;
        let reply = Reply::of(self, peers);
        if let Some(reply) = &reply {
            reply.bytes(&mut |_| needed += 1);
        }
        let available = buf.len();
        let (out, _) = buf
            .split_at_mut_checked(needed)
            .ok_or(ReplyError::BufferTooSmall { needed, available })?;
        if let Some(reply) = &reply {
            let mut slots = out.iter_mut();
            reply.bytes(&mut |byte| {
                if let Some(slot) = slots.next() {
                    *slot = byte;
                }
            });
        }
        Ok(out)
    }
}

#[cfg(feature = "alloc")]
impl WriteVerdict<'_> {
    /// The reply for this verdict in a new vector (empty for an accepted
    /// write). It cannot fail: the vector grows to any host length.
    ///
    /// ```
    /// use kevy_scope::{WriteVerdict, wire::PeerAddr};
    /// let peers = [("B", PeerAddr::new("10.0.0.2", 6379))];
    /// let reply = WriteVerdict::Misdirected { target: "B" }.reply_vec(&peers);
    /// assert_eq!(reply, b"-MISDIRECTED writer is 10.0.0.2:6379\r\n");
    /// assert!(WriteVerdict::Accept.reply_vec(&peers).is_empty());
    /// ```
    #[must_use]
    pub fn reply_vec(&self, peers: &impl AddressBook) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::new();
        if let Some(reply) = Reply::of(self, peers) {
            reply.bytes(&mut |byte| out.push(byte));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn exact_fit_and_one_byte_short() {
        let v = WriteVerdict::Misdirected { target: "B" };
        let want = b"-MISDIRECTED writer is B\r\n";
        let mut buf = [0xAAu8; 26];
        assert_eq!(v.encode_reply(&NoPeers, &mut buf).unwrap(), want);
        let mut short = [0xAAu8; 25];
        assert_eq!(
            v.encode_reply(&NoPeers, &mut short),
            Err(ReplyError::BufferTooSmall {
                needed: 26,
                available: 25
            })
        );
        assert!(
            short.iter().all(|b| *b == 0xAA),
            "a refused buffer stays untouched"
        );
    }

    #[test]
    fn accept_has_no_reply() {
        let mut buf = [0u8; 4];
        assert_eq!(
            WriteVerdict::Accept
                .encode_reply(&NoPeers, &mut buf)
                .unwrap(),
            b""
        );
        let mut s = String::new();
        WriteVerdict::Accept.write_reply(&NoPeers, &mut s).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn port_digits_without_division() {
        for port in [0u16, 1, 9, 10, 99, 100, 6004, 6379, 10_000, 65_535] {
            let mut digits = String::new();
            port_digits(port, &mut |d| digits.push(char::from(d)));
            assert_eq!(digits, std::format!("{port}"));
        }
    }

    #[test]
    fn both_encoders_agree() {
        let peers = [
            ("B", PeerAddr::new("10.0.0.2", 6379)),
            ("C", PeerAddr::new("fd00::3", 1)),
        ];
        for v in [
            WriteVerdict::Misdirected { target: "B" },
            WriteVerdict::Quiesced { target: "C" },
            WriteVerdict::Misdirected { target: "unknown" },
            WriteVerdict::Accept,
        ] {
            let mut s = String::new();
            v.write_reply(&peers, &mut s).unwrap();
            let mut buf = [0u8; MAX_REPLY_LEN];
            assert_eq!(v.encode_reply(&peers, &mut buf).unwrap(), s.as_bytes());
        }
    }

    /// Encodes the reply naming the one peer of `value` into a buffer of
    /// exactly `MAX_REPLY_LEN` bytes, checks it against the formatting
    /// encoder, and returns its length.
    fn reply_len_for_peer(value: &str) -> usize {
        let peers = crate::config::PeerTable::<1>::parse(value).unwrap();
        let verdict = WriteVerdict::Misdirected { target: "B" };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let reply = verdict.encode_reply(&peers, &mut buf).unwrap();
        let mut text = String::new();
        verdict.write_reply(&peers, &mut text).unwrap();
        assert_eq!(reply, text.as_bytes());
        reply.len()
    }

    #[test]
    fn fqdn_of_63_bytes_fits() {
        // Too long for the first MAX_REPLY_LEN, which only counted IP hosts.
        let fqdn = std::format!("{}.eu-west-1.kevy.example.com", "node-7".repeat(6));
        assert_eq!(fqdn.len(), 63);
        let len = reply_len_for_peer(&std::format!("B@{fqdn}:6004:6379"));
        assert_eq!(
            len,
            "-MISDIRECTED writer is ".len() + 63 + ":6379\r\n".len()
        );
    }

    #[test]
    fn longest_accepted_host_fits_max_reply_len() {
        // A bracketed host of MAX_HOST_LEN bytes and a five-digit port:
        // the longest reply the parser admits, exactly MAX_REPLY_LEN.
        let v6 = std::format!("{}1", "f:".repeat(MAX_HOST_LEN / 2));
        assert_eq!(v6.len(), MAX_HOST_LEN);
        let len = reply_len_for_peer(&std::format!("B@[{v6}]:6004:65535"));
        assert_eq!(len, MAX_REPLY_LEN);
        // Without brackets, two bytes shorter.
        let name = "h".repeat(MAX_HOST_LEN);
        let len = reply_len_for_peer(&std::format!("B@{name}:65535"));
        assert_eq!(len, MAX_REPLY_LEN - 2);
        // The longest id, unresolved.
        let id = "i".repeat(MAX_NODE_ID_LEN);
        let mut buf = [0u8; MAX_REPLY_LEN];
        let reply = WriteVerdict::Misdirected { target: &id }
            .encode_reply(&NoPeers, &mut buf)
            .unwrap();
        assert!(reply.len() < MAX_REPLY_LEN);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn reply_vec_matches_the_other_encoders_and_has_no_limit() {
        // Longer than any parsed host: only a custom resolver hands it out.
        let huge = "h".repeat(4 * MAX_REPLY_LEN);
        let peers = [
            ("B", PeerAddr::new("10.0.0.2", 6379)),
            ("C", PeerAddr::new("fd00::3", 1)),
            ("H", PeerAddr::new(&huge, 65535)),
        ];
        for v in [
            WriteVerdict::Misdirected { target: "B" },
            WriteVerdict::Quiesced { target: "C" },
            WriteVerdict::Misdirected { target: "unknown" },
            WriteVerdict::Quiesced { target: "H" },
            WriteVerdict::Unavailable,
            WriteVerdict::Accept,
        ] {
            let mut text = String::new();
            v.write_reply(&peers, &mut text).unwrap();
            assert_eq!(v.reply_vec(&peers), text.as_bytes(), "{v:?}");
        }
        let mut buf = [0u8; MAX_REPLY_LEN];
        let huge_reply = WriteVerdict::Quiesced { target: "H" };
        assert!(matches!(
            huge_reply.encode_reply(&peers, &mut buf),
            Err(ReplyError::BufferTooSmall { .. })
        ));
        assert_eq!(huge_reply.reply_vec(&peers).len(), 23 + huge.len() + 8);
    }
}
