//! The cluster side of the firmware, without sockets or flash: the
//! config block (the users' passwords), the image record's format (two
//! CRC'd slots, the newer valid one wins), and the driver's outgoing
//! requests as bytes (what is sent, how its answer is fed back).

use heapless::Vec;
use kevy_scope::{
    Driver, Epoch, Node,
    driver::{Answer, Effect, Request as DriverRequest},
    moves::MoveRecords,
    table::ScopeTable,
    wire::{MAX_PEER_REQUEST_LEN, NewsList, PeerReply, PeerRequest, PeerWireError},
};

use crate::commands::{MAX_PASSWORD, Users};
use crate::resp::{Parsed, parse};

/// The config block's first bytes: `KEVY1 <cluster password> <admin
/// password>\n` (written by device-net/cluster.sh at offset 0 of the flash).
pub const CONFIG_MAGIC: &[u8] = b"KEVY1 ";

/// The users a config block names; none when it is absent or malformed.
pub fn parse_config(block: &[u8]) -> Users {
    let mut users = Users::default();
    let Some(rest) = block.strip_prefix(CONFIG_MAGIC) else {
        return users;
    };
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return users;
    };
    let line = rest.get(..end).unwrap_or_default();
    let mut words = line
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .map(|w| Vec::<u8, MAX_PASSWORD>::from_slice(w).ok());
    if let (Some(Some(cluster)), Some(Some(admin))) = (words.next(), words.next()) {
        users.cluster = Some(cluster);
        users.admin = Some(admin);
    }
    users
}

/// CRC-32 (IEEE, reflected), bit by bit: no table in flash.
pub fn crc32(bytes: &[u8]) -> u32 {
    Crc::new().update(bytes).finish()
}

/// A CRC-32 computed piece by piece.
#[derive(Debug, Clone, Copy)]
pub struct Crc(u32);

impl Default for Crc {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc {
    /// Nothing read yet.
    pub const fn new() -> Self {
        Self(!0)
    }

    /// Reads `bytes` on.
    #[must_use]
    pub fn update(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u32::from(b);
            for _ in 0..8 {
                let mask = (self.0 & 1).wrapping_neg();
                self.0 = (self.0 >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        self
    }

    /// The CRC of everything read.
    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// An image slot's header: magic, sequence number, image length, CRC of
/// the image and of the three words before it. The image follows it.
pub const SLOT_MAGIC: u32 = 0x4B56_494D; // "KVIM"
/// The header's length in bytes.
pub const HEADER: usize = 16;

/// The header of an image of `image` with sequence number `seq`.
pub fn header(seq: u32, image: &[u8]) -> [u32; 4] {
    header_of(seq, image.len(), crc32(image))
}

/// The header of a payload of `len` bytes whose CRC-32 is `payload_crc`.
pub fn header_of(seq: u32, len: usize, payload_crc: u32) -> [u32; 4] {
    let len = len as u32;
    let mut crc_in: Vec<u8, 8> = Vec::new();
    let _ = crc_in.extend_from_slice(&seq.to_le_bytes());
    let _ = crc_in.extend_from_slice(&len.to_le_bytes());
    [SLOT_MAGIC, seq, len, payload_crc ^ crc32(&crc_in)]
}

/// A header's words read back: magic, sequence number, length, CRC.
pub fn header_words(head: &[u8]) -> Option<[u32; 4]> {
    let mut words = [0u32; 4];
    for (i, w) in words.iter_mut().enumerate() {
        let mut b = [0u8; 4];
        b.copy_from_slice(head.get(i * 4..i * 4 + 4)?);
        *w = u32::from_le_bytes(b);
    }
    Some(words)
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Never written (all `0xFF`, or all zero: a new backing file).
    Blank,
    /// A valid image: its sequence number and length.
    Image { seq: u32, len: usize },
    /// No magic word (written last) but not blank: a persist cut short,
    /// never acknowledged.
    Torn,
    /// A whole record (its magic word is there) that fails its check:
    /// rot, or an erase cut short. Never guessed around.
    Damaged,
}

/// Reads a slot: `bytes` from its header on (at least [`HEADER`] bytes,
/// plus the image).
pub fn read_slot(bytes: &[u8]) -> Slot {
    let Some(head) = bytes.get(..HEADER) else {
        return Slot::Damaged;
    };
    if head.iter().all(|&b| b == 0xFF) || head.iter().all(|&b| b == 0) {
        return Slot::Blank;
    }
    let word = |i: usize| {
        let mut w = [0u8; 4];
        if let Some(src) = head.get(i * 4..i * 4 + 4) {
            w.copy_from_slice(src);
        }
        u32::from_le_bytes(w)
    };
    let (magic, seq, len, crc) = (word(0), word(1), word(2) as usize, word(3));
    if magic != SLOT_MAGIC {
        return Slot::Torn;
    }
    let Some(image) = bytes.get(HEADER..HEADER + len) else {
        return Slot::Damaged;
    };
    if header(seq, image)[3] != crc {
        return Slot::Damaged;
    }
    Slot::Image { seq, len }
}

/// Which of two slots to restore from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Nothing was ever persisted: a first boot.
    Fresh,
    /// Slot 0 or 1, its sequence number and image length.
    Slot { index: usize, seq: u32, len: usize },
    /// No valid image and something written: quarantine.
    Damaged,
}

/// The newer valid slot; a torn write of one leaves the other. A damaged
/// slot quarantines, whatever the other holds (it may have been the newer
/// image, acknowledged); so does a torn slot with no valid image beside
/// it (a lost magic word and a first persist cut short look alike).
pub fn pick(a: Slot, b: Slot) -> Pick {
    match (a, b) {
        (Slot::Damaged, _) | (_, Slot::Damaged) => Pick::Damaged,
        (Slot::Image { seq: sa, len: la }, Slot::Image { seq: sb, len: lb }) => {
            if sb > sa {
                Pick::Slot {
                    index: 1,
                    seq: sb,
                    len: lb,
                }
            } else {
                Pick::Slot {
                    index: 0,
                    seq: sa,
                    len: la,
                }
            }
        }
        (Slot::Image { seq, len }, _) => Pick::Slot { index: 0, seq, len },
        (_, Slot::Image { seq, len }) => Pick::Slot { index: 1, seq, len },
        (Slot::Blank, Slot::Blank) => Pick::Fresh,
        _ => Pick::Damaged,
    }
}

/// What an outgoing call is, for feeding its answer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// News, outcome, recheck: the answer is a line.
    Plain,
    /// `MOVE-SCOPE-EPOCH`, with the recovery's start (not on the wire).
    Epoch { began: u64 },
    /// `MOVE-SCOPE-INGEST`: the keys are read from the store when sent.
    Ship,
    /// `MOVE-SCOPE-FENCE`: the answer is a news list.
    Fence,
}

/// One request the driver handed out, encoded (an ingest without its
/// keys), to the peer at index `peer` of the peer list.
#[derive(Debug, Clone)]
pub struct Call {
    /// The peer's index in the peer list.
    pub peer: usize,
    /// What it is.
    pub kind: Kind,
    /// The request's RESP bytes.
    pub bytes: Vec<u8, MAX_PEER_REQUEST_LEN>,
}

impl Call {
    /// The call for a `Send` or `Ship` effect; `None` for other effects,
    /// a peer not in `peers`, or a request this firmware does not send.
    pub fn of(effect: &Effect<'_>, me: &str, peers: &[&str]) -> Option<Self> {
        let (to, request, kind) = match *effect {
            Effect::Ship { to, id } => (to, PeerRequest::Ingest { id, bulk: b"" }, Kind::Ship),
            Effect::Send { to, request } => match request {
                DriverRequest::News { news, sender_epoch } => {
                    (to, PeerRequest::News { news, sender_epoch }, Kind::Plain)
                }
                DriverRequest::Outcome(id) => (to, PeerRequest::Outcome(id), Kind::Plain),
                DriverRequest::Recheck(id) => (to, PeerRequest::Recheck(id), Kind::Plain),
                DriverRequest::Ingest(id) => {
                    (to, PeerRequest::Ingest { id, bulk: b"" }, Kind::Ship)
                }
                DriverRequest::Epoch { began } => (to, PeerRequest::Epoch, Kind::Epoch { began }),
                DriverRequest::Fence(epoch) => {
                    (to, PeerRequest::Fence { from: me, epoch }, Kind::Fence)
                }
                _ => return None,
            },
            _ => return None,
        };
        let peer = peers.iter().position(|p| *p == to)?;
        let mut bytes = Vec::new();
        bytes.resize(MAX_PEER_REQUEST_LEN, 0).ok()?;
        let n = request.encode(&mut bytes).ok()?;
        bytes.truncate(n);
        Some(Self { peer, kind, bytes })
    }

    /// The request read back from its bytes (borrowing them), as the
    /// wire's and as the driver's (`None` for a fence, fed back with
    /// `Driver::recovered` instead).
    pub fn with_request<O>(
        &self,
        f: impl FnOnce(PeerRequest<'_>, Option<DriverRequest<'_>>) -> O,
    ) -> Option<O> {
        let Parsed::Request(req, _) = parse(&self.bytes) else {
            return None;
        };
        let wire = PeerRequest::decode(req.args()).ok()?;
        let driver = match wire {
            PeerRequest::News { news, sender_epoch } => {
                Some(DriverRequest::News { news, sender_epoch })
            }
            PeerRequest::Outcome(id) => Some(DriverRequest::Outcome(id)),
            PeerRequest::Recheck(id) => Some(DriverRequest::Recheck(id)),
            PeerRequest::Ingest { id, .. } => Some(DriverRequest::Ingest(id)),
            PeerRequest::Epoch => match self.kind {
                Kind::Epoch { began } => Some(DriverRequest::Epoch { began }),
                _ => None,
            },
            _ => None,
        };
        Some(f(wire, driver))
    }
}

/// What a peer's bytes so far say of a call ([`Hearing::hear`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard<'a> {
    /// Not whole yet: read more.
    Waiting,
    /// The peer refused the cluster login.
    LoginRefused,
    /// The answer does not fit the caller's buffer.
    TooLong,
    /// A one-line answer (without its CRLF), for the driver.
    Line(&'a [u8]),
    /// A fence's news list.
    News(NewsList<'a>),
    /// A fence answered with a list that does not decode.
    BadList(PeerWireError),
}

/// Reads a call's answer as its bytes arrive: the `+OK` of the cluster
/// login first, then one line, or a fence's news list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hearing {
    /// Where the answer starts, once the login's `+OK` came.
    answer_at: Option<usize>,
}

impl Hearing {
    /// A call's start: the login's reply comes first.
    pub const fn new() -> Self {
        Self { answer_at: None }
    }

    /// What `got`, every byte received for a call of kind `kind` so far,
    /// says; `full`: the buffer that holds them has no room left.
    pub fn hear<'a>(&mut self, kind: Kind, got: &'a [u8], full: bool) -> Heard<'a> {
        let more = if full { Heard::TooLong } else { Heard::Waiting };
        let at = match self.answer_at {
            Some(at) => at,
            None => {
                let Some(end) = line_end(got) else {
                    return more;
                };
                if got.get(..end) != Some(b"+OK") {
                    return Heard::LoginRefused;
                }
                self.answer_at = Some(end + 2);
                end + 2
            }
        };
        let rest = got.get(at..).unwrap_or_default();
        if kind == Kind::Fence && rest.first() == Some(&b'*') {
            return match NewsList::decode(rest) {
                Ok((list, _)) => Heard::News(list),
                Err(PeerWireError::Incomplete) => more,
                Err(e) => Heard::BadList(e),
            };
        }
        match line_end(rest) {
            Some(end) => Heard::Line(rest.get(..end).unwrap_or_default()),
            None => more,
        }
    }
}

/// What feeding a peer's answer to the driver did ([`feed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// A line fed with `Driver::answer`; `accepted`: the driver took it.
    Answered { accepted: bool },
    /// A fence's news fed with `Driver::recovered`.
    Recovered {
        fence: Epoch,
        news: usize,
        accepted: bool,
    },
    /// Nothing to feed (waiting, a refusal, a list that does not decode).
    Nothing,
}

/// Feeds what peer `to` answered `call` to the driver: a line as the
/// request's answer (one that does not decode as a refusal), a news list
/// as the fence's.
pub fn feed<T: ScopeTable, R: MoveRecords, const P: usize, const M: usize>(
    call: &Call,
    heard: &Heard<'_>,
    driver: &mut Driver<P, M>,
    node: &mut Node<T, R>,
    to: &str,
) -> Fed {
    match *heard {
        Heard::Line(line) => {
            let answer = PeerReply::decode(line).map_or(Answer::Refused, Answer::from);
            let fed = call.with_request(|_, request| match request {
                Some(request) => driver.answer(node, to, request, answer).is_ok(),
                None => true,
            });
            Fed::Answered {
                accepted: fed == Some(true),
            }
        }
        Heard::News(list) => {
            let fence = call.with_request(|wire, _| match wire {
                PeerRequest::Fence { epoch, .. } => Some(epoch),
                _ => None,
            });
            match fence {
                Some(Some(fence)) => Fed::Recovered {
                    fence,
                    news: list.len(),
                    accepted: driver.recovered(node, to, fence, list.iter()).is_ok(),
                },
                _ => Fed::Nothing,
            }
        }
        _ => Fed::Nothing,
    }
}

/// Where the first line of `bytes` ends (its CR), if it is whole.
pub fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// The `AUTH cluster <password>` command's bytes.
pub fn auth_command(password: &[u8], out: &mut Vec<u8, 128>) -> bool {
    out.clear();
    let mut len: Vec<u8, 4> = Vec::new();
    let mut n = password.len();
    loop {
        let _ = len.insert(0, b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    [
        &b"*3\r\n$4\r\nAUTH\r\n$7\r\ncluster\r\n$"[..],
        &len,
        b"\r\n",
        password,
        b"\r\n",
    ]
    .iter()
    .all(|p| out.extend_from_slice(p).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_scope::{Epoch, moves::MoveId};

    #[test]
    fn a_calls_answer_is_heard_as_it_arrives() {
        let mut h = Hearing::new();
        assert_eq!(h.hear(Kind::Plain, b"", false), Heard::Waiting);
        assert_eq!(h.hear(Kind::Plain, b"+O", false), Heard::Waiting);
        assert_eq!(h.hear(Kind::Plain, b"+O", true), Heard::TooLong);
        assert_eq!(h.hear(Kind::Plain, b"+OK\r\n+COMM", false), Heard::Waiting);
        assert_eq!(
            h.hear(Kind::Plain, b"+OK\r\n+COMMITTED\r\n", false),
            Heard::Line(b"+COMMITTED")
        );
        let mut h = Hearing::new();
        assert_eq!(
            h.hear(Kind::Plain, b"-WRONGPASS no\r\n", false),
            Heard::LoginRefused
        );
        // A fence's answer is a news list; an empty one decodes, a broken
        // one is told apart from one still arriving.
        let mut h = Hearing::new();
        assert_eq!(h.hear(Kind::Fence, b"+OK\r\n*", false), Heard::Waiting);
        assert!(matches!(
            h.hear(Kind::Fence, b"+OK\r\n*0\r\n", false),
            Heard::News(list) if list.is_empty()
        ));
        let mut h = Hearing::new();
        assert!(matches!(
            h.hear(Kind::Fence, b"+OK\r\n*x\r\n", false),
            Heard::BadList(_)
        ));
        // A fence refused with a line is a line.
        let mut h = Hearing::new();
        assert_eq!(
            h.hear(Kind::Fence, b"+OK\r\n-ERR no\r\n", false),
            Heard::Line(b"-ERR no")
        );
    }

    #[test]
    fn config_and_slots() {
        let users = parse_config(b"KEVY1 abc def\n\xff\xff");
        assert_eq!(users.cluster.as_deref(), Some(&b"abc"[..]));
        assert_eq!(users.admin.as_deref(), Some(&b"def"[..]));
        assert!(parse_config(&[0xFF; 64]).cluster.is_none());
        assert!(parse_config(b"KEVY1 abc").cluster.is_none());

        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let mut slot = [0xFFu8; 64];
        assert_eq!(read_slot(&slot), Slot::Blank);
        let image = b"an image";
        let h = header(7, image);
        for (i, w) in h.iter().enumerate() {
            slot[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        slot[HEADER..HEADER + image.len()].copy_from_slice(image);
        assert_eq!(read_slot(&slot), Slot::Image { seq: 7, len: 8 });
        slot[HEADER] ^= 1;
        assert_eq!(read_slot(&slot), Slot::Damaged);
        assert_eq!(read_slot(&slot[..10]), Slot::Damaged);
        assert_eq!(pick(Slot::Blank, Slot::Blank), Pick::Fresh);
        assert_eq!(pick(Slot::Damaged, Slot::Blank), Pick::Damaged);
        assert_eq!(pick(Slot::Torn, Slot::Blank), Pick::Damaged);
        assert_eq!(
            pick(Slot::Image { seq: 3, len: 1 }, Slot::Damaged),
            Pick::Damaged
        );
        assert_eq!(
            pick(Slot::Torn, Slot::Image { seq: 3, len: 1 }),
            Pick::Slot {
                index: 1,
                seq: 3,
                len: 1
            }
        );
        slot[0] = 0;
        assert_eq!(read_slot(&slot), Slot::Torn);
        assert_eq!(
            pick(
                Slot::Image { seq: 3, len: 1 },
                Slot::Image { seq: 4, len: 2 }
            ),
            Pick::Slot {
                index: 1,
                seq: 4,
                len: 2
            }
        );
        let mut auth = Vec::new();
        assert!(auth_command(b"pw", &mut auth));
        assert_eq!(
            &auth[..],
            b"*3\r\n$4\r\nAUTH\r\n$7\r\ncluster\r\n$2\r\npw\r\n"
        );
    }

    #[test]
    fn calls_round_trip() {
        let id = MoveId {
            prefix: b"app:billing:",
            from: "a",
            to: "b",
            epoch: Epoch::new(3),
        };
        let peers = ["a", "b"];
        let call = Call::of(&Effect::Ship { to: "b", id }, "a", &peers).unwrap();
        assert_eq!((call.peer, call.kind), (1, Kind::Ship));
        let got = call
            .with_request(|_, d| d == Some(DriverRequest::Ingest(id)))
            .unwrap();
        assert!(got);
        let fence = Call::of(
            &Effect::Send {
                to: "b",
                request: DriverRequest::Fence(Epoch::new(9)),
            },
            "a",
            &peers,
        )
        .unwrap();
        assert_eq!(fence.kind, Kind::Fence);
        assert!(Call::of(&Effect::Ship { to: "c", id }, "a", &peers).is_none());
    }
}
