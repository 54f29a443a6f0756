//! The peer list: node ids and the addresses clients reach them at, parsed
//! in place from the `peers` config value. It resolves ids in wire replies.

use core::fmt;
#[cfg(feature = "alloc")]
use core::hash::BuildHasher;

use crate::config::scopes::{
    ConfigError, ConfigErrorKind, Entry, check_id, entries, has_byte, split_at_byte, split_trimmed,
};
use crate::table::write_joined;
use crate::wire::reply::{AddressBook, MAX_HOST_LEN, PeerAddr};

/// One peer: `id@host:elect_port[:client_port]`.
///
/// ```
/// use kevy_scope::config::Peer;
/// let p = Peer::parse("embed-billing-1@10.0.0.1:6004:6379").unwrap();
/// assert_eq!(p.id(), "embed-billing-1");
/// assert_eq!(p.client_addr().to_string(), "10.0.0.1:6379");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Peer<'a> {
    id: &'a str,
    host: &'a str,
    elect_port: u16,
    client_port: Option<u16>,
}

impl<'a> Peer<'a> {
    /// Parses one entry; errors carry entry index 0 and spans within `text`.
    ///
    /// ```
    /// use kevy_scope::{config::{ConfigErrorKind, Peer}};
    /// assert_eq!(Peer::parse("n1@[::1]:6004").unwrap().host(), "::1");
    /// assert_eq!(Peer::parse("n1@::1:6004").unwrap_err().kind, ConfigErrorKind::UnbracketedIpv6);
    /// ```
    pub fn parse(text: &'a str) -> Result<Self, ConfigError<'a>> {
        let entry = Entry {
            index: 0,
            start: 0,
            end: text.len(),
        };
        parse_peer(text).map_err(|kind| ConfigError { entry, text, kind })
    }

    /// The node id.
    ///
    /// ```
    /// # use kevy_scope::config::Peer;
    /// assert_eq!(Peer::parse("n1@h:1").unwrap().id(), "n1");
    /// ```
    #[must_use]
    pub const fn id(&self) -> &'a str {
        self.id
    }

    /// The host, without brackets.
    ///
    /// ```
    /// # use kevy_scope::config::Peer;
    /// assert_eq!(Peer::parse("n1@h:1").unwrap().host(), "h");
    /// ```
    #[must_use]
    pub const fn host(&self) -> &'a str {
        self.host
    }

    /// The quorum (election) port.
    ///
    /// ```
    /// # use kevy_scope::config::Peer;
    /// assert_eq!(Peer::parse("n1@h:6004:6379").unwrap().elect_port(), 6004);
    /// ```
    #[must_use]
    pub const fn elect_port(&self) -> u16 {
        self.elect_port
    }

    /// The client port, when declared.
    ///
    /// ```
    /// # use kevy_scope::config::Peer;
    /// assert_eq!(Peer::parse("n1@h:6004").unwrap().client_port(), None);
    /// ```
    #[must_use]
    pub const fn client_port(&self) -> Option<u16> {
        self.client_port
    }

    /// Where clients are sent: `host:client_port` when given, else
    /// `host:elect_port`.
    ///
    /// ```
    /// # use kevy_scope::config::Peer;
    /// assert_eq!(Peer::parse("n1@h:6004").unwrap().client_addr().to_string(), "h:6004");
    /// ```
    #[must_use]
    pub const fn client_addr(&self) -> PeerAddr<'a> {
        let port = match self.client_port {
            Some(port) => port,
            None => self.elect_port,
        };
        PeerAddr::new(self.host, port)
    }
}

/// Renders the entry shape `id@host:elect[:client]`, IPv6 in brackets.
impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}",
            self.id,
            PeerAddr::new(self.host, self.elect_port)
        )?;
        if let Some(port) = self.client_port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[inline(never)]
fn parse_port(text: &str) -> Result<u16, ConfigErrorKind<'_>> {
    // Digits only (no sign), 1 to 65535; written out to keep the number
    // parser of core out of small firmware.
    let mut port: u16 = 0;
    for b in text.bytes() {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9);
        port = digit
            .and_then(|d| port.checked_mul(10)?.checked_add(u16::from(d)))
            .ok_or(ConfigErrorKind::BadPort { text })?;
    }
    if port == 0 {
        return Err(ConfigErrorKind::BadPort { text });
    }
    Ok(port)
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Parses one `peers` entry; the caller adds where it sits.
#[inline(never)]
fn parse_peer(text: &str) -> Result<Peer<'_>, ConfigErrorKind<'_>> {
    let (id, addr) = split_trimmed(text, b'@');
    let addr = addr.ok_or(ConfigErrorKind::MissingAt)?;
    check_id(id)?;
    // The host, what follows it, and whether it was in brackets.
    let (host, ports, bracketed) = match addr.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = split_at_byte(rest, b']').ok_or(ConfigErrorKind::BadBrackets)?;
            match split_at_byte(after, b':') {
                Some(("", ports)) => (host, ports, true),
                _ if after.is_empty() => return Err(ConfigErrorKind::MissingPort),
                _ => return Err(ConfigErrorKind::BadBrackets),
            }
        }
        None => match split_at_byte(addr, b':') {
            Some((host, ports)) => (host, ports, false),
            None if addr.is_empty() => return Err(ConfigErrorKind::EmptyHost),
            None => return Err(ConfigErrorKind::MissingPort),
        },
    };
    let (elect, client) = match split_at_byte(ports, b':') {
        Some((elect, client)) => (elect, Some(client)),
        None => (ports, None),
    };
    if !bracketed && client.is_some_and(|c| has_byte(c, b':')) {
        return Err(ConfigErrorKind::UnbracketedIpv6);
    }
    let well_formed = if bracketed {
        has_byte(host, b':') && host.bytes().all(is_ipv6_byte)
    } else {
        host.bytes().all(is_host_byte)
    };
    if !well_formed {
        return Err(ConfigErrorKind::BadBrackets);
    }
    if host.is_empty() {
        return Err(ConfigErrorKind::EmptyHost);
    }
    if host.len() > MAX_HOST_LEN {
        return Err(ConfigErrorKind::HostTooLong { len: host.len() });
    }
    let elect_port = parse_port(elect)?;
    let client_port = match client {
        Some(c) => Some(parse_port(c)?),
        None => None,
    };
    Ok(Peer {
        id,
        host,
        elect_port,
        client_port,
    })
}

/// Parses each entry of a `peers` value and hands the peer to `add`,
/// which may refuse it (a duplicate, a full table); every refusal is
/// dressed in one place with where its entry lies.
#[inline]
fn parse_each<'a>(
    input: &'a str,
    mut add: impl FnMut(Entry, Peer<'a>) -> Result<(), ConfigErrorKind<'a>>,
) -> Result<(), ConfigError<'a>> {
    for (entry, text) in entries(input) {
        parse_peer(text)
            .and_then(|peer| add(entry, peer))
            .map_err(|kind| ConfigError { entry, text, kind })?;
    }
    Ok(())
}

/// The peers of a `peers` value, at most `P`, borrowing from the input.
/// It resolves node ids to client addresses for wire replies.
///
/// ```
/// use kevy_scope::{WriteVerdict, config::PeerTable, wire::AddressBook};
/// let peers = PeerTable::<4>::parse("embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004")?;
/// assert_eq!(peers.resolve("server-eu-1").map(|a| a.to_string()).as_deref(), Some("10.0.0.2:6004"));
/// let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
/// let reply = WriteVerdict::Misdirected { target: "embed-billing-1" }.encode_reply(&peers, &mut buf).unwrap();
/// assert_eq!(reply, b"-MISDIRECTED writer is 10.0.0.1:6379\r\n");
/// # Ok::<(), kevy_scope::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PeerTable<'a, const P: usize> {
    /// Each peer with the entry it came from, for duplicate reports.
    peers: heapless::Vec<(Entry, Peer<'a>), P>,
}

/// Equal when they hold the same peers in the same order, wherever in
/// their inputs they were written.
impl<const P: usize> PartialEq for PeerTable<'_, P> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<const P: usize> Eq for PeerTable<'_, P> {}

impl<'a, const P: usize> PeerTable<'a, P> {
    /// Parses a `peers` value; ids must be unique.
    ///
    /// ```
    /// use kevy_scope::{config::{ConfigErrorKind, PeerTable}};
    /// let err = PeerTable::<4>::parse("a@h:1, a@h:2").unwrap_err();
    /// assert!(matches!(err.kind, ConfigErrorKind::Duplicate { .. }));
    /// ```
    #[inline(never)]
    pub fn parse(input: &'a str) -> Result<Self, ConfigError<'a>> {
        let mut peers: heapless::Vec<(Entry, Peer<'a>), P> = heapless::Vec::new();
        parse_each(input, |entry, peer| {
            if let Some((first, _)) = peers.iter().find(|(_, p)| p.id == peer.id) {
                return Err(ConfigErrorKind::Duplicate { first: *first });
            }
            peers
                .push((entry, peer))
                .map_err(|_| ConfigErrorKind::TooManyEntries { capacity: P })
        })?;
        Ok(Self { peers })
    }

    /// The peer named `id`.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTable;
    /// let t = PeerTable::<2>::parse("a@h:1").unwrap();
    /// assert_eq!(t.get("a").map(|p| p.elect_port()), Some(1));
    /// ```
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Peer<'a>> {
        self.iter().find(|p| p.id == id)
    }

    /// The peers, in input order.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTable;
    /// let t = PeerTable::<2>::parse("b@h:1, a@h:2").unwrap();
    /// assert_eq!(t.iter().map(|p| p.id()).collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Peer<'a>> + '_ {
        self.peers.iter().map(|(_, p)| p)
    }

    /// The number of peers.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTable;
    /// assert_eq!(PeerTable::<2>::parse("a@h:1,").unwrap().len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTable;
    /// assert!(PeerTable::<2>::parse("").unwrap().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

impl<const P: usize> AddressBook for PeerTable<'_, P> {
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>> {
        self.get(id).map(Peer::client_addr)
    }

    fn knows(&self, id: &str) -> bool {
        self.get(id).is_some()
    }
}

/// Renders the `peers` value: entries joined by `, `.
///
/// ```
/// # use kevy_scope::config::PeerTable;
/// let t = PeerTable::<2>::parse(" a@[::1]:1:2 ,b@h:3").unwrap();
/// assert_eq!(t.to_string(), "a@[::1]:1:2, b@h:3");
/// ```
impl<const P: usize> fmt::Display for PeerTable<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, self.iter())
    }
}

#[cfg(feature = "defmt")]
impl<const P: usize> defmt::Format for PeerTable<'_, P> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[");
        for peer in self.iter() {
            defmt::write!(f, "{} ", peer);
        }
        defmt::write!(f, "]");
    }
}

/// One peer's text, owned.
#[cfg(feature = "alloc")]
#[derive(Clone, PartialEq, Eq, Hash)]
struct PeerBuf {
    /// The entry it came from, for duplicate reports.
    entry: Entry,
    id: alloc::boxed::Box<str>,
    host: alloc::boxed::Box<str>,
    elect_port: u16,
    client_port: Option<u16>,
}

#[cfg(feature = "alloc")]
impl PeerBuf {
    fn as_peer(&self) -> Peer<'_> {
        Peer {
            id: &self.id,
            host: &self.host,
            elect_port: self.elect_port,
            client_port: self.client_port,
        }
    }
}

/// A [`PeerTable`] that owns its peers and has no capacity bound (feature
/// `alloc`): the same entries, checks and errors, with the error copied
/// out of the input. Peers come by value ([`Peer`] is `Copy`); ids are
/// found through a hash index.
///
/// ```
/// use kevy_scope::{WriteVerdict, config::PeerTableBuf};
/// let value = String::from("embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004");
/// let peers = PeerTableBuf::parse(&value)?;
/// drop(value);
/// assert_eq!(peers.get("server-eu-1").map(|p| p.elect_port()), Some(6004));
/// let reply = WriteVerdict::Misdirected { target: "embed-billing-1" }.reply_vec(&peers);
/// assert_eq!(reply, b"-MISDIRECTED writer is 10.0.0.1:6379\r\n");
/// # Ok::<(), kevy_scope::config::ConfigErrorBuf>(())
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Default)]
pub struct PeerTableBuf {
    /// In input order.
    peers: alloc::vec::Vec<PeerBuf>,
    /// Positions in `peers`, by hash of the id.
    index: hashbrown::HashTable<usize>,
    hasher: hashbrown::DefaultHashBuilder,
}

#[cfg(feature = "alloc")]
impl PeerTableBuf {
    /// Parses a `peers` value of any length; ids must be unique.
    ///
    /// ```
    /// use kevy_scope::{config::{ConfigErrorKind, PeerTableBuf}};
    /// let err = PeerTableBuf::parse("a@h:1, a@h:2").unwrap_err();
    /// assert!(matches!(err.kind(), ConfigErrorKind::Duplicate { first } if first.index == 0));
    /// ```
    pub fn parse(input: &str) -> Result<Self, super::scopes::ConfigErrorBuf> {
        let mut table = Self::default();
        parse_each(input, |entry, peer| {
            if let Some(first) = table.position(peer.id).and_then(|i| table.peers.get(i)) {
                return Err(ConfigErrorKind::Duplicate { first: first.entry });
            }
            table.push(entry, peer);
            Ok(())
        })
        .map_err(ConfigError::into_owned)?;
        Ok(table)
    }

    fn position(&self, id: &str) -> Option<usize> {
        let peers = &self.peers;
        self.index
            .find(self.hasher.hash_one(id), |&i| {
                peers.get(i).is_some_and(|p| &*p.id == id)
            })
            .copied()
    }

    fn push(&mut self, entry: Entry, peer: Peer<'_>) {
        let (peers, hasher) = (&self.peers, &self.hasher);
        let hash_of = |&i: &usize| peers.get(i).map_or(0, |p| hasher.hash_one(&*p.id));
        let at = peers.len();
        let hash = hasher.hash_one(peer.id);
        self.index.insert_unique(hash, at, hash_of);
        self.peers.push(PeerBuf {
            entry,
            id: peer.id.into(),
            host: peer.host.into(),
            elect_port: peer.elect_port,
            client_port: peer.client_port,
        });
    }

    /// The peer named `id`, by value.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTableBuf;
    /// let t = PeerTableBuf::parse("a@h:1").unwrap();
    /// assert_eq!(t.get("a").map(|p| p.host()), Some("h"));
    /// assert!(t.get("b").is_none());
    /// ```
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Peer<'_>> {
        let i = self.position(id)?;
        self.peers.get(i).map(PeerBuf::as_peer)
    }

    /// The peers by value, in input order.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTableBuf;
    /// let t = PeerTableBuf::parse("b@h:1, a@h:2").unwrap();
    /// assert_eq!(t.iter().map(|p| p.id()).collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = Peer<'_>> + DoubleEndedIterator + Clone + '_ {
        self.peers.iter().map(PeerBuf::as_peer)
    }

    /// The number of peers.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTableBuf;
    /// assert_eq!(PeerTableBuf::parse("a@h:1,").unwrap().len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    ///
    /// ```
    /// # use kevy_scope::config::PeerTableBuf;
    /// assert!(PeerTableBuf::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// `value.parse::<PeerTableBuf>()`, as [`PeerTableBuf::parse`].
///
/// ```
/// use kevy_scope::config::PeerTableBuf;
/// let peers: PeerTableBuf = "a@[::1]:6004".parse()?;
/// assert_eq!(peers.get("a").map(|p| p.client_addr().to_string()).as_deref(), Some("[::1]:6004"));
/// # Ok::<(), kevy_scope::config::ConfigErrorBuf>(())
/// ```
#[cfg(feature = "alloc")]
impl core::str::FromStr for PeerTableBuf {
    type Err = super::scopes::ConfigErrorBuf;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

/// Equal when they hold the same peers in the same order, as
/// [`PeerTable`]s are.
#[cfg(feature = "alloc")]
impl PartialEq for PeerTableBuf {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

#[cfg(feature = "alloc")]
impl Eq for PeerTableBuf {}

#[cfg(feature = "alloc")]
impl AddressBook for PeerTableBuf {
    fn resolve(&self, id: &str) -> Option<PeerAddr<'_>> {
        self.get(id).map(|p| p.client_addr())
    }

    fn knows(&self, id: &str) -> bool {
        self.position(id).is_some()
    }
}

#[cfg(feature = "alloc")]
impl fmt::Debug for PeerTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Renders the `peers` value, as [`PeerTable`] does.
///
/// ```
/// # use kevy_scope::config::PeerTableBuf;
/// let t = PeerTableBuf::parse(" a@[::1]:1:2 ,b@h:3").unwrap();
/// assert_eq!(t.to_string(), "a@[::1]:1:2, b@h:3");
/// ```
#[cfg(feature = "alloc")]
impl fmt::Display for PeerTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, self.iter())
    }
}

#[cfg(feature = "defmt")]
#[cfg(feature = "alloc")]
impl defmt::Format for PeerTableBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "PeerTableBuf {{ len: {=usize} }}", self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn kind(text: &str) -> ConfigErrorKind<'_> {
        Peer::parse(text).unwrap_err().kind
    }

    #[test]
    fn addresses_and_ports() {
        let p = Peer::parse("n@10.0.0.2:6004").unwrap();
        assert_eq!(
            (p.host(), p.elect_port(), p.client_port()),
            ("10.0.0.2", 6004, None)
        );
        let p = Peer::parse("n@[fe80::1]:6004:6379").unwrap();
        assert_eq!((p.host(), p.client_addr().port()), ("fe80::1", 6379));
        assert_eq!(p.to_string(), "n@[fe80::1]:6004:6379");
        let p = Peer::parse("n@kevy-eu.example:1").unwrap();
        assert_eq!(p.host(), "kevy-eu.example");
    }

    #[test]
    fn every_peer_error() {
        assert_eq!(kind("n 10.0.0.1:1"), ConfigErrorKind::MissingAt);
        assert!(matches!(
            kind("@h:1"),
            ConfigErrorKind::InvalidNodeId { .. }
        ));
        assert_eq!(kind("n@:1"), ConfigErrorKind::EmptyHost);
        assert_eq!(kind("n@h"), ConfigErrorKind::MissingPort);
        assert_eq!(kind("n@[::1]"), ConfigErrorKind::MissingPort);
        assert_eq!(kind("n@h:"), ConfigErrorKind::BadPort { text: "" });
        assert_eq!(kind("n@h:0"), ConfigErrorKind::BadPort { text: "0" });
        assert_eq!(
            kind("n@h:65536"),
            ConfigErrorKind::BadPort { text: "65536" }
        );
        assert_eq!(kind("n@h:+1"), ConfigErrorKind::BadPort { text: "+1" });
        assert_eq!(kind("n@h:1:x"), ConfigErrorKind::BadPort { text: "x" });
        assert_eq!(kind("n@::1:6004"), ConfigErrorKind::UnbracketedIpv6);
        assert_eq!(kind("n@[::1:6004"), ConfigErrorKind::BadBrackets);
        assert_eq!(kind("n@[::1]6004"), ConfigErrorKind::BadBrackets);
        assert_eq!(kind("n@[host]:1"), ConfigErrorKind::BadBrackets);
        assert_eq!(kind("n@h st:1"), ConfigErrorKind::BadBrackets);
    }

    #[test]
    fn host_length_is_bounded() {
        // A 63-byte label, the longest DNS label, in a 63-byte FQDN.
        let fqdn = std::format!("{}.example.com", "a".repeat(51));
        assert_eq!(fqdn.len(), 63);
        let text = std::format!("n@{fqdn}:6004");
        assert_eq!(Peer::parse(&text).unwrap().host(), fqdn);
        // Exactly the limit passes, one more byte is refused, with or
        // without brackets (which do not count).
        let longest = "h".repeat(MAX_HOST_LEN);
        let text = std::format!("n@{longest}:1");
        assert_eq!(Peer::parse(&text).unwrap().host().len(), MAX_HOST_LEN);
        let text = std::format!("n@{longest}h:1");
        assert_eq!(
            kind(&text),
            ConfigErrorKind::HostTooLong {
                len: MAX_HOST_LEN + 1
            }
        );
        let v6 = std::format!("{}1", "f:".repeat(MAX_HOST_LEN / 2));
        assert_eq!(v6.len(), MAX_HOST_LEN);
        let text = std::format!("n@[{v6}]:1");
        assert_eq!(Peer::parse(&text).unwrap().host(), v6);
        let text = std::format!("n@[{v6}f]:1");
        assert_eq!(
            kind(&text),
            ConfigErrorKind::HostTooLong {
                len: MAX_HOST_LEN + 1
            }
        );
        let e = Peer::parse(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            std::format!(
                "entry 0 {text:?} (bytes 0..{}): host is 254 bytes, at most 253 allowed",
                text.len()
            )
        );
    }

    #[test]
    fn knows_agrees_with_resolve() {
        let value = "a@h:1, b@[::1]:2:3";
        let fixed = PeerTable::<2>::parse(value).unwrap();
        #[cfg(feature = "alloc")]
        let owned = PeerTableBuf::parse(value).unwrap();
        for id in ["a", "b", "c", "", "a "] {
            assert_eq!(fixed.knows(id), fixed.resolve(id).is_some(), "{id:?}");
            assert_eq!(AddressBook::knows(&&fixed, id), fixed.knows(id), "{id:?}");
            #[cfg(feature = "alloc")]
            assert_eq!(owned.knows(id), fixed.knows(id), "{id:?}");
        }
        assert!(fixed.knows("b") && !fixed.knows("c"));
    }

    #[test]
    fn table_limits() {
        let e = PeerTable::<1>::parse("a@h:1, b@h:2").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::TooManyEntries { capacity: 1 });
        assert_eq!(e.entry.index, 1);
        let e = PeerTable::<4>::parse("a@h:1, b@h:2, a@h:3").unwrap_err();
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
    }
}
