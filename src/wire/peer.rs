//! The node-to-node messages of a move, as bytes: each request a RESP
//! array of bulk strings, each reply one RESP line but the answer to a
//! fence, a RESP array of news. Encoded into a caller's buffer and
//! decoded in place, without a heap and without `core::fmt` (only the
//! `Display` impls format).
//!
//! ```text
//! MOVE-SCOPE-INGEST  <prefix> <from> <to> <epoch> <bulk>   -> +OK <n>
//! MOVE-SCOPE-OUTCOME <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-RECHECK <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>    -> +OK
//! MOVE-SCOPE-EPOCH                                         -> +EPOCH <n>
//! MOVE-SCOPE-FENCE <from> <epoch>                          -> *<k> news: *5 <status> <prefix> <from> <to> <epoch>
//! any refused step                                         -> -<CODE> <reason>
//! ```
//!
//! `EPOCH` and `FENCE` are a recovering node's: it asks every peer the
//! highest epoch it knows, then asks every peer to fence off every move
//! at or below an epoch and to tell all it knows; a fence names its
//! sender, the recovering node (`<from>`), as every request naming a move
//! names its source: [`Node::fence`](crate::moves::Node::fence) puts the moves
//! to it in doubt, and the receiver need not know who is on the other end
//! of the connection. `RECHECK` is a source's
//! outcome query for a move whose target recovered since (the move is in
//! doubt: an earlier `+OK` no longer commits it); the target answers it as
//! `OUTCOME`, and the source knows from the name that only this answer
//! settles the doubt. The answer to a fence
//! is a RESP array of `k` news ([`encode_news`], [`NewsList`]), each
//! item an array of the five bulk strings `MOVE-SCOPE-NEWS` carries after
//! its name:
//!
//! ```text
//! *2\r\n
//! *5\r\n$9\r\nCOMMITTED\r\n$2\r\np:\r\n$1\r\nA\r\n$1\r\nB\r\n$1\r\n3\r\n
//! *5\r\n$8\r\nINFLIGHT\r\n$2\r\nq:\r\n$1\r\nB\r\n$1\r\nC\r\n$1\r\n5\r\n
//! ```
//!
//! Numbers are plain decimal: digits only, no sign, no leading zero
//! (`0` itself is a number). The encoders write exactly that, and so did
//! every earlier node, so the decoders refuse the rest (`+7`, `007`, ` 7`)
//! rather than read a number two ways.

use core::fmt;

use crate::bytes::Lossy;
use crate::moves::messages::{Announcement, Epoch, MoveId, MoveStatus, Outcome};
use crate::moves::records::{MAX_PREFIX_LEN, MoveError};
use crate::table::node_id::{MAX_NODE_ID_LEN, NodeIdError, check_node_id_bytes};

const INGEST: &[u8] = b"MOVE-SCOPE-INGEST";
const OUTCOME: &[u8] = b"MOVE-SCOPE-OUTCOME";
const NEWS: &[u8] = b"MOVE-SCOPE-NEWS";
const EPOCH: &[u8] = b"MOVE-SCOPE-EPOCH";
const FENCE: &[u8] = b"MOVE-SCOPE-FENCE";
const RECHECK: &[u8] = b"MOVE-SCOPE-RECHECK";
const CRLF: &[u8] = b"\r\n";
/// The commands' names, and how many arguments each takes after it.
const VERBS: [&[u8]; 6] = [INGEST, OUTCOME, NEWS, EPOCH, FENCE, RECHECK];
const ARITIES: [usize; 6] = [5, 4, 6, 0, 2, 4];
const INGEST_AT: usize = 0;
const NEWS_AT: usize = 2;
const EPOCH_AT: usize = 3;
const FENCE_AT: usize = 4;
const RECHECK_AT: usize = 5;
/// The fields of a move ([`Fields::read`]), by their order in news.
const STATUS: u8 = 0;
const PREFIX: u8 = 1;
const SOURCE: u8 = 2;
const TARGET: u8 = 3;
const MOVE_EPOCH: u8 = 4;
/// The fields each command's arguments name, in order.
const FIELDS: [&[u8]; 6] = [
    &[PREFIX, SOURCE, TARGET, MOVE_EPOCH],
    &[PREFIX, SOURCE, TARGET, MOVE_EPOCH],
    &[STATUS, PREFIX, SOURCE, TARGET, MOVE_EPOCH],
    &[],
    &[SOURCE, MOVE_EPOCH],
    &[PREFIX, SOURCE, TARGET, MOVE_EPOCH],
];

/// The longest prefix a request carries: a node's image records a
/// prefix's length in 16 bits.
const MAX_WIRE_PREFIX_LEN: usize = u16::MAX as usize;

/// A node-to-node request of a move, borrowing its fields.
///
/// The encoders write what they are given; [`decode`](Self::decode)
/// checks every field (node ids, prefix, epoch, status), so a request
/// that decodes names a well-formed move.
///
/// ```
/// use kevy_scope::{Epoch, moves::MoveId, wire::PeerRequest};
/// let id = MoveId { prefix: b"app:a:", from: "n1", to: "n2", epoch: Epoch::new(7) };
/// let mut buf = [0u8; kevy_scope::wire::MAX_PEER_REQUEST_LEN];
/// let len = PeerRequest::Outcome(id).encode(&mut buf)?;
/// assert_eq!(
///     &buf[..len],
///     b"*5\r\n$18\r\nMOVE-SCOPE-OUTCOME\r\n$6\r\napp:a:\r\n$2\r\nn1\r\n$2\r\nn2\r\n$1\r\n7\r\n"
/// );
/// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PeerRequest<'a> {
    /// `MOVE-SCOPE-INGEST <prefix> <from> <to> <epoch> <bulk>`: the
    /// source ships the prefix's keys to the target. Answered
    /// [`PeerReply::Ingested`].
    Ingest {
        /// The move.
        id: MoveId<'a>,
        /// The keys, opaque here (the example node sends `SET <key>
        /// <value>` RESP commands). A sender that streams them writes
        /// [`PeerRequest::encode_ingest_header`], then the bytes, then
        /// CRLF.
        bulk: &'a [u8],
    },
    /// `MOVE-SCOPE-OUTCOME <prefix> <from> <to> <epoch>`: the source asks
    /// the target what became of the move. Answered
    /// [`PeerReply::Outcome`].
    Outcome(MoveId<'a>),
    /// `MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>
    /// <sender-epoch>`: news of a move for another node, and the epoch its
    /// sender had when it sent it
    /// ([`Node::learn`](crate::moves::Node::learn) takes both). Answered
    /// [`PeerReply::Learned`].
    News {
        /// The news.
        news: Announcement<'a>,
        /// The sender's [`Node::epoch`](crate::moves::Node::epoch) when
        /// it sent the news.
        sender_epoch: Epoch,
    },
    /// `MOVE-SCOPE-EPOCH`: a recovering node asks the highest epoch the
    /// receiver knows. Answered [`PeerReply::Epoch`].
    Epoch,
    /// `MOVE-SCOPE-FENCE <from> <epoch>`: the recovering node `from`
    /// asks the receiver to fence off every move at or below the epoch
    /// and to tell all it knows
    /// ([`Node::fence`](crate::moves::Node::fence) takes both). Answered with a
    /// list of news ([`encode_news`], [`NewsList`]).
    Fence {
        /// The recovering node, which sends the fence.
        from: &'a str,
        /// The fence.
        epoch: Epoch,
    },
    /// `MOVE-SCOPE-RECHECK <prefix> <from> <to> <epoch>`: the source asks
    /// again what became of a move whose target recovered its records
    /// since (the move is in doubt there,
    /// [`Node::fence`](crate::moves::Node::fence)). Served as
    /// [`Outcome`](Self::Outcome) and answered [`PeerReply::Outcome`];
    /// the driver's [`Request::Recheck`](crate::driver::Request::Recheck).
    Recheck(MoveId<'a>),
}

impl<'a> PeerRequest<'a> {
    /// Reads a request from its arguments, the command's name first, as a
    /// RESP server hands them over. The name and the status word are read
    /// without regard to ASCII case (RESP servers read command names so);
    /// everything else exactly.
    ///
    /// ```
    /// use kevy_scope::{moves::MoveStatus, wire::{PeerRequest, PeerWireError}};
    /// let args: [&[u8]; 7] = [b"MOVE-SCOPE-NEWS", b"COMMITTED", b"app:a:", b"n1", b"n2", b"7", b"9"];
    /// let PeerRequest::News { news, sender_epoch } = PeerRequest::decode(&args)? else { unreachable!() };
    /// assert_eq!((news.status, news.id.to, news.id.epoch.get()), (MoveStatus::Committed, "n2", 7));
    /// assert_eq!(sender_epoch.get(), 9);
    ///
    /// let bad: [&[u8]; 7] = [b"MOVE-SCOPE-NEWS", b"COMMITTED", b"app:a:", b"n1", b"n2", b"07", b"9"];
    /// assert_eq!(PeerRequest::decode(&bad), Err(PeerWireError::BadEpoch));
    /// # Ok::<(), PeerWireError>(())
    /// ```
    ///
    /// The recovery's two requests:
    ///
    /// ```
    /// use kevy_scope::{Epoch, wire::{PeerRequest, PeerWireError}};
    /// let ask: [&[u8]; 1] = [b"MOVE-SCOPE-EPOCH"];
    /// assert_eq!(PeerRequest::decode(&ask)?, PeerRequest::Epoch);
    /// let fence: [&[u8]; 3] = [b"move-scope-fence", b"A", b"41"];
    /// assert_eq!(
    ///     PeerRequest::decode(&fence)?,
    ///     PeerRequest::Fence { from: "A", epoch: Epoch::new(41) }
    /// );
    ///
    /// let bare: [&[u8]; 2] = [b"MOVE-SCOPE-FENCE", b"41"];
    /// assert_eq!(
    ///     PeerRequest::decode(&bare),
    ///     Err(PeerWireError::WrongArity { expected: 2, got: 1 })
    /// );
    ///
    /// // The outcome asked again, after the target recovered.
    /// let recheck: [&[u8]; 5] = [b"MOVE-SCOPE-RECHECK", b"p:", b"A", b"B", b"7"];
    /// let PeerRequest::Recheck(id) = PeerRequest::decode(&recheck)? else { unreachable!() };
    /// assert_eq!((id.from, id.to, id.epoch), ("A", "B", Epoch::new(7)));
    /// # Ok::<(), PeerWireError>(())
    /// ```
    pub fn decode(command: &[&'a [u8]]) -> Result<Self, PeerWireError> {
        let Some((verb, args)) = command.split_first() else {
            return Err(PeerWireError::UnknownVerb);
        };
        let verb = word_index(verb, &VERBS).ok_or(PeerWireError::UnknownVerb)?;
        let expected = ARITIES.get(verb).copied().unwrap_or_default();
        let arity = PeerWireError::WrongArity {
            expected,
            got: args.len(),
        };
        if args.len() != expected {
            return Err(arity);
        }
        // The fields each command names, in order; an ingest's keys and
        // the sender's epoch of news come after them.
        let mut fields = Fields::EMPTY;
        let names = FIELDS.get(verb).copied().unwrap_or_default();
        for (&n, arg) in names.iter().zip(args) {
            fields.read(n, arg)?;
        }
        let id = fields.id();
        let last = args.last().copied().unwrap_or_default();
        Ok(match verb {
            INGEST_AT => Self::Ingest { id, bulk: last },
            NEWS_AT => Self::News {
                news: Announcement {
                    id,
                    status: fields.status,
                },
                sender_epoch: Epoch::new(number(last).ok_or(PeerWireError::BadEpoch)?),
            },
            EPOCH_AT => Self::Epoch,
            FENCE_AT => Self::Fence {
                from: id.from,
                epoch: id.epoch,
            },
            RECHECK_AT => Self::Recheck(id),
            _ => Self::Outcome(id),
        })
    }

    /// The move the request names; `None` for [`Epoch`](Self::Epoch) and
    /// [`Fence`](Self::Fence), which name none.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, moves::MoveId, wire::PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// assert_eq!(PeerRequest::Ingest { id, bulk: b"" }.id(), Some(&id));
    /// assert_eq!(PeerRequest::Fence { from: "A", epoch: Epoch::new(1) }.id(), None);
    /// ```
    #[must_use]
    pub const fn id(&self) -> Option<&MoveId<'a>> {
        match self {
            Self::Ingest { id, .. } | Self::Outcome(id) | Self::Recheck(id) => Some(id),
            Self::News { news, .. } => Some(&news.id),
            Self::Epoch | Self::Fence { .. } => None,
        }
    }

    /// Calls `put` with each argument in order, the command's name first:
    /// for a RESP client that takes a list of arguments.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, moves::MoveId, wire::PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(12) };
    /// let mut args = Vec::new();
    /// PeerRequest::Outcome(id).args(|a| args.push(a.to_vec()));
    /// assert_eq!(args, [&b"MOVE-SCOPE-OUTCOME"[..], b"p:", b"A", b"B", b"12"]);
    /// ```
    pub fn args(&self, mut put: impl FnMut(&[u8])) {
        let mut digits = [[0; DIGITS]; 2];
        let (slots, mask) = self.arg_list(&mut digits);
        for (n, arg) in slots.iter().enumerate() {
            if mask >> n & 1 != 0 {
                put(arg);
            }
        }
    }

    /// The encoded request's length in bytes.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, moves::MoveId, wire::PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// assert_eq!(PeerRequest::Outcome(id).encoded_len(), 58);
    /// assert_eq!(PeerRequest::Epoch.encoded_len(), "*1\r\n$16\r\nMOVE-SCOPE-EPOCH\r\n".len());
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut out = Out::count();
        self.frame(None, &mut out);
        out.len
    }

    /// Encodes the request into `buf` as a RESP array of bulk strings and
    /// returns its length. A buffer too small is an error and `buf` is
    /// left untouched. [`MAX_PEER_REQUEST_LEN`] bytes hold every request
    /// but an ingest's keys, for prefixes a
    /// [`MoveTable`](crate::moves::MoveTable) stores.
    ///
    /// ```
    /// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}, wire::PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
    /// let news = Announcement { id, status: MoveStatus::InFlight };
    /// let news = PeerRequest::News { news, sender_epoch: Epoch::new(3) };
    /// let mut buf = [0u8; 80];
    /// let len = news.encode(&mut buf)?;
    /// assert!(buf[..len].starts_with(b"*7\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$8\r\nINFLIGHT\r\n"));
    /// assert!(news.encode(&mut buf[..len - 1]).is_err());
    ///
    /// let len = PeerRequest::Fence { from: "A", epoch: Epoch::new(41) }.encode(&mut buf)?;
    /// assert_eq!(&buf[..len], b"*3\r\n$16\r\nMOVE-SCOPE-FENCE\r\n$1\r\nA\r\n$2\r\n41\r\n");
    /// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
    /// ```
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        encode_with(buf, &|out| self.frame(None, out))
    }

    /// Encodes an ingest up to its keys: the array's header, the name, the
    /// move, and the keys' bulk header `$<bulk_len>\r\n`. The sender then
    /// writes `bulk_len` bytes of keys and CRLF: a driver can stream keys
    /// it never holds in memory at once. Header, keys and CRLF are the
    /// bytes [`encode`](Self::encode) writes for the whole ingest.
    ///
    /// ```
    /// use kevy_scope::{Epoch, moves::MoveId, wire::PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// let keys = b"*3\r\n$3\r\nSET\r\n$3\r\np:1\r\n$1\r\nv\r\n";
    /// let mut buf = [0u8; 128];
    /// let len = PeerRequest::encode_ingest_header(&id, keys.len(), &mut buf)?;
    /// let mut streamed = buf[..len].to_vec();
    /// streamed.extend_from_slice(keys);
    /// streamed.extend_from_slice(b"\r\n");
    ///
    /// let whole = PeerRequest::Ingest { id, bulk: keys };
    /// let len = whole.encode(&mut buf)?;
    /// assert_eq!(streamed, &buf[..len]);
    /// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
    /// ```
    pub fn encode_ingest_header(
        id: &MoveId<'_>,
        bulk_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        let ingest = PeerRequest::Ingest { id: *id, bulk: &[] };
        encode_with(buf, &|out| ingest.frame(Some(bulk_len), out))
    }

    /// The arguments in [`SLOTS`] (the epochs written into `digits`),
    /// and a bit per slot the request takes, in order: one layout for
    /// every request, so that only the bits differ.
    fn arg_list<'s>(&'s self, digits: &'s mut [[u8; DIGITS]; 2]) -> ([&'s [u8]; SLOTS], u8) {
        let [first, second] = digits;
        let (mut status, mut last): (&[u8], &[u8]) = (&[], &[]);
        let (verb, mask, epoch) = match *self {
            Self::Ingest { id, bulk } => {
                last = bulk;
                (INGEST, 0b111_1101, id.epoch)
            }
            Self::Outcome(id) => (OUTCOME, 0b011_1101, id.epoch),
            Self::Recheck(id) => (RECHECK, 0b011_1101, id.epoch),
            Self::News { news, sender_epoch } => {
                status = move_status_word(news.status).as_bytes();
                last = decimal(sender_epoch.get() as usize, second);
                (NEWS, 0b111_1111, news.id.epoch)
            }
            Self::Epoch => (EPOCH, 0b000_0001, Epoch::ZERO),
            Self::Fence { epoch, .. } => (FENCE, 0b010_1001, epoch),
        };
        let (prefix, from, to) = match (self, self.id()) {
            (_, Some(id)) => (id.prefix, id.from.as_bytes(), id.to.as_bytes()),
            (Self::Fence { from, .. }, None) => (&[][..], from.as_bytes(), &[][..]),
            (_, None) => (&[][..], &[][..], &[][..]),
        };
        let epoch = decimal(epoch.get() as usize, first);
        ([verb, status, prefix, from, to, epoch, last], mask)
    }

    /// Puts each piece of the RESP array into `out`; with `header` the
    /// last argument (an ingest's keys) is `header` bytes long and left
    /// out, with its CRLF. Out of line: the encoder calls it twice, to
    /// count and to write.
    #[inline(never)]
    fn frame(&self, header: Option<usize>, out: &mut Out<'_>) {
        let mut digits = [[0; DIGITS]; 2];
        let (slots, mask) = self.arg_list(&mut digits);
        array(&slots, mask, header, out);
    }
}

/// The slots of [`PeerRequest::arg_list`]: the command's name, the
/// status, the prefix, the source (a fence's sender), the target, the
/// epoch, and the last (an ingest's keys, or the sender's epoch of news).
const SLOTS: usize = 7;

/// Puts each piece of the RESP array of the `args` whose bit is set in
/// `mask` into `out`; with `header` the last of them is `header` bytes
/// long and left out, with its CRLF. Out of line: flash (requests and
/// news items share it).
#[inline(never)]
fn array(args: &[&[u8]; SLOTS], mask: u8, header: Option<usize>, out: &mut Out<'_>) {
    let mut digits = [0; DIGITS];
    out.put(b"*");
    out.put(decimal(mask.count_ones() as usize, &mut digits));
    out.put(CRLF);
    for (n, arg) in args.iter().enumerate() {
        if mask >> n & 1 == 0 {
            continue;
        }
        let left_out = if mask >> n == 1 { header } else { None };
        out.put(b"$");
        out.put(decimal(left_out.unwrap_or(arg.len()), &mut digits));
        out.put(CRLF);
        if left_out.is_none() {
            out.put(arg);
            out.put(CRLF);
        }
    }
}

/// The status a word names, in any ASCII case. Out of line: flash.
#[inline(never)]
fn status_of(word: &[u8]) -> Result<MoveStatus, PeerWireError> {
    word_index(word, &STATUS_WORDS)
        .and_then(|s| STATUSES.get(s).copied())
        .ok_or(PeerWireError::UnknownStatus)
}

/// The fields of a move as a request or a news item names them, read
/// and checked one at a time: status, prefix, source, target, epoch.
struct Fields<'a> {
    status: MoveStatus,
    prefix: &'a [u8],
    from: &'a str,
    to: &'a str,
    epoch: Epoch,
}

impl<'a> Fields<'a> {
    const EMPTY: Self = Self {
        status: MoveStatus::InFlight,
        prefix: &[],
        from: "",
        to: "",
        epoch: Epoch::ZERO,
    };

    /// Reads field `n` ([`STATUS`], [`PREFIX`], [`SOURCE`], [`TARGET`]
    /// or [`MOVE_EPOCH`]), or names what breaks it. Out of line: flash.
    #[inline(never)]
    fn read(&mut self, n: u8, bytes: &'a [u8]) -> Result<(), PeerWireError> {
        match n {
            STATUS => self.status = status_of(bytes)?,
            PREFIX if bytes.is_empty() => return Err(PeerWireError::EmptyPrefix),
            PREFIX if bytes.len() > MAX_WIRE_PREFIX_LEN => {
                return Err(PeerWireError::PrefixTooLong { len: bytes.len() });
            }
            PREFIX => self.prefix = bytes,
            SOURCE => self.from = node_id(bytes).map_err(PeerWireError::BadSource)?,
            TARGET => self.to = node_id(bytes).map_err(PeerWireError::BadTarget)?,
            _ => self.epoch = Epoch::new(number(bytes).ok_or(PeerWireError::BadEpoch)?),
        }
        Ok(())
    }

    /// The move read.
    const fn id(&self) -> MoveId<'a> {
        MoveId {
            prefix: self.prefix,
            from: self.from,
            to: self.to,
            epoch: self.epoch,
        }
    }
}

/// A node id, by the node-id rule, checked as bytes: the first byte
/// the rule refuses is named, UTF-8 or not.
fn node_id(bytes: &[u8]) -> Result<&str, NodeIdError> {
    check_node_id_bytes(bytes)?;
    // Printable ASCII only, so UTF-8: never the error.
    core::str::from_utf8(bytes).map_err(|_| NodeIdError::Empty)
}

/// The three statuses, and their words in the same order.
const STATUSES: [MoveStatus; 3] = [
    MoveStatus::InFlight,
    MoveStatus::Committed,
    MoveStatus::Aborted,
];
const STATUS_WORDS: [&[u8]; 3] = [
    move_status_word(STATUSES[0]).as_bytes(),
    move_status_word(STATUSES[1]).as_bytes(),
    move_status_word(STATUSES[2]).as_bytes(),
];

/// Which of `words` `word` is, in any ASCII case.
fn word_index(word: &[u8], words: &[&[u8]]) -> Option<usize> {
    words.iter().position(|w| word.eq_ignore_ascii_case(w))
}

/// The word `MOVE-SCOPE-NEWS` carries for `status`: `INFLIGHT`,
/// `COMMITTED` or `ABORTED`.
///
/// ```
/// use kevy_scope::{moves::MoveStatus, wire::move_status_word};
/// assert_eq!(move_status_word(MoveStatus::InFlight), "INFLIGHT");
/// ```
#[must_use]
pub const fn move_status_word(status: MoveStatus) -> &'static str {
    match status {
        MoveStatus::InFlight => "INFLIGHT",
        MoveStatus::Committed => "COMMITTED",
        MoveStatus::Aborted => "ABORTED",
    }
}

/// A reply to a node-to-node request, borrowing its reason.
///
/// ```
/// use kevy_scope::{Epoch, moves::Outcome, wire::PeerReply};
/// let reply = PeerReply::decode(b"+ABORTED 9\r\n")?;
/// assert_eq!(reply, PeerReply::Outcome(Outcome::Aborted { fence: Epoch::new(9) }));
/// # Ok::<(), kevy_scope::wire::PeerWireError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PeerReply<'a> {
    /// `+OK <keys>`, to an ingest: the target applied the keys and adopted
    /// the prefix (or had already adopted it: a repeat).
    Ingested {
        /// The keys the ingest held.
        keys: u32,
    },
    /// `+COMMITTED` or `+ABORTED <fence>`, to an outcome query
    /// ([`PeerRequest::Outcome`] or [`PeerRequest::Recheck`]).
    Outcome(Outcome),
    /// `+OK`, to news: the receiver learned it (or knew it already).
    Learned,
    /// `+EPOCH <n>`, to [`PeerRequest::Epoch`]: the highest epoch the
    /// receiver knows.
    Epoch(Epoch),
    /// `-<CODE> <reason>`, to any of them: the step was refused.
    Refused {
        /// Why, as a code.
        code: Refusal,
        /// Why, in words (the example node sends the refusal's
        /// `Display`). Encoded on one line: CR and LF become spaces.
        reason: &'a str,
    },
}

/// The words a simple-string reply starts with: `OK`, `COMMITTED`,
/// `ABORTED`, `EPOCH`.
const REPLY_WORDS: [&[u8]; 4] = [b"OK", b"COMMITTED", b"ABORTED", b"EPOCH"];

impl<'a> PeerReply<'a> {
    /// Reads a reply from its line: `+` or `-`, the text, and CRLF, which
    /// may be left off. A line with CR or LF inside, or a reason that is
    /// not UTF-8, is [`PeerWireError::MalformedLine`].
    ///
    /// ```
    /// use kevy_scope::{wire::{PeerReply, Refusal}};
    /// assert_eq!(PeerReply::decode(b"+OK 3")?, PeerReply::Ingested { keys: 3 });
    /// let PeerReply::Refused { code, reason } = PeerReply::decode(b"-STALE old news\r\n")? else {
    ///     unreachable!()
    /// };
    /// assert_eq!((code, reason), (Refusal::Stale, "old news"));
    /// assert!(PeerReply::decode(b"-NOPERM no").is_err());
    ///
    /// use kevy_scope::{Epoch, wire::PeerWireError};
    /// assert_eq!(PeerReply::decode(b"+EPOCH 12\r\n")?, PeerReply::Epoch(Epoch::new(12)));
    /// assert_eq!(PeerReply::decode(b"+EPOCH 012"), Err(PeerWireError::BadEpoch));
    /// # Ok::<(), kevy_scope::wire::PeerWireError>(())
    /// ```
    pub fn decode(line: &'a [u8]) -> Result<Self, PeerWireError> {
        let line = line.strip_suffix(CRLF).unwrap_or(line);
        let Some((&sign, text)) = line.split_first() else {
            return Err(PeerWireError::MalformedLine);
        };
        if text.iter().any(|b| matches!(b, b'\r' | b'\n')) {
            return Err(PeerWireError::MalformedLine);
        }
        // The first word, and what follows its space.
        let (word, rest) = match text.iter().position(|&b| b == b' ') {
            Some(at) => (text.get(..at).unwrap_or_default(), text.get(at + 1..)),
            None => (text, None),
        };
        if sign == b'-' {
            let code = Refusal::from_code(word).ok_or(PeerWireError::UnknownCode)?;
            let reason = core::str::from_utf8(rest.unwrap_or_default())
                .map_err(|_| PeerWireError::MalformedLine)?;
            return Ok(Self::Refused { code, reason });
        }
        if sign != b'+' {
            return Err(PeerWireError::MalformedLine);
        }
        // The word found by one search, not a compare per reply.
        let number_or = |text: &[u8], error| number(text).ok_or(error);
        match (REPLY_WORDS.iter().position(|w| *w == word), rest) {
            (Some(0), None) => Ok(Self::Learned),
            (Some(1), None) => Ok(Self::Outcome(Outcome::Committed)),
            (Some(0), Some(keys)) => Ok(Self::Ingested {
                keys: number_or(keys, PeerWireError::BadCount)?,
            }),
            (Some(2), Some(fence)) => Ok(Self::Outcome(Outcome::Aborted {
                fence: Epoch::new(number_or(fence, PeerWireError::BadEpoch)?),
            })),
            (Some(3), Some(epoch)) => Ok(Self::Epoch(Epoch::new(number_or(
                epoch,
                PeerWireError::BadEpoch,
            )?))),
            _ => Err(PeerWireError::UnknownReply),
        }
    }

    /// Whether the reply is an error line (`-`): a refusal.
    ///
    /// ```
    /// # use kevy_scope::wire::PeerReply;
    /// assert!(!PeerReply::Learned.is_refusal());
    /// ```
    #[must_use]
    pub const fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }

    /// The encoded reply's length in bytes.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, wire::PeerReply};
    /// assert_eq!(PeerReply::Ingested { keys: 12 }.encoded_len(), "+OK 12\r\n".len());
    /// assert_eq!(PeerReply::Epoch(Epoch::new(7)).encoded_len(), "+EPOCH 7\r\n".len());
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut out = Out::count();
        self.line(&mut out);
        out.len
    }

    /// Encodes the reply into `buf` as its RESP line and returns its
    /// length. A buffer too small is an error and `buf` is left
    /// untouched. Every reply but a refusal fits in 21 bytes
    /// (`+ABORTED 4294967295\r\n`); a refusal takes its code and reason
    /// and 4 bytes more. (The answer to a fence is not a reply line:
    /// [`encode_news`].)
    ///
    /// ```
    /// use kevy_scope::{Epoch, moves::MoveError, wire::{PeerReply, Refusal}};
    /// let e = MoveError::WrongTarget;
    /// let reply = PeerReply::Refused { code: Refusal::of(&e), reason: "addressed elsewhere" };
    /// let mut buf = [0u8; 64];
    /// let len = reply.encode(&mut buf)?;
    /// assert_eq!(&buf[..len], b"-WRONGTARGET addressed elsewhere\r\n");
    /// let len = PeerReply::Epoch(Epoch::new(41)).encode(&mut buf)?;
    /// assert_eq!(&buf[..len], b"+EPOCH 41\r\n");
    /// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
    /// ```
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        encode_with(buf, &|out| self.line(out))
    }

    /// Puts each piece of the line into `out`, from its sign to its
    /// CRLF. Out of line: the encoder calls it twice.
    #[inline(never)]
    fn line(&self, out: &mut Out<'_>) {
        out.put(if self.is_refusal() { b"-" } else { b"+" });
        let mut digits = [0; DIGITS];
        let (word, tail) = self.parts(&mut digits);
        out.put(word);
        if !tail.is_empty() {
            out.put(b" ");
            // One line: a reason that spans lines would end the frame
            // early. A byte at a time: reasons are short, and this is
            // the smallest code.
            for byte in tail {
                out.put(if matches!(byte, b'\r' | b'\n') {
                    b" "
                } else {
                    core::slice::from_ref(byte)
                });
            }
        }
        out.put(CRLF);
    }

    /// The text's first word, and what follows its space (the number in
    /// `digits`, or the reason), empty when nothing does.
    fn parts<'s>(&'s self, digits: &'s mut [u8; DIGITS]) -> (&'static [u8], &'s [u8]) {
        let (word, number, reason) = match *self {
            Self::Ingested { keys } => ("OK", Some(keys), ""),
            Self::Learned => ("OK", None, ""),
            Self::Outcome(Outcome::Committed) => ("COMMITTED", None, ""),
            Self::Outcome(Outcome::Aborted { fence }) => ("ABORTED", Some(fence.get()), ""),
            Self::Epoch(epoch) => ("EPOCH", Some(epoch.get()), ""),
            Self::Refused { code, reason } => (code.code(), None, reason),
        };
        let tail = match number {
            Some(n) => decimal(n as usize, digits),
            None => reason.as_bytes(),
        };
        (word.as_bytes(), tail)
    }
}

/// The reply's text, between its sign and CRLF (`OK 3`, `ABORTED 9`,
/// `STALE <reason>`): what a RESP library's simple-string or error writer
/// takes.
///
/// ```
/// use kevy_scope::{Epoch, moves::Outcome, wire::PeerReply};
/// let reply = PeerReply::Outcome(Outcome::Aborted { fence: Epoch::new(9) });
/// assert_eq!(reply.to_string(), "ABORTED 9");
/// ```
impl fmt::Display for PeerReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0; DIGITS];
        let (word, tail) = self.parts(&mut digits);
        write!(f, "{}", Lossy(word))?;
        if !tail.is_empty() {
            write!(f, " {}", Lossy(tail))?;
        }
        Ok(())
    }
}

/// The most news a list carries: a node's image counts its records in 16
/// bits, so no node knows more. [`NewsList::decode`] refuses a longer
/// list from its header, before it reads an item; [`encode_news`] writes
/// what it is given.
///
/// ```
/// use kevy_scope::{wire::{MAX_NEWS, NewsList, PeerWireError}};
/// assert_eq!(MAX_NEWS, 65_535);
/// assert_eq!(
///     NewsList::decode(b"*65536\r\n"),
///     Err(PeerWireError::TooManyNews { count: 65_536 })
/// );
/// ```
pub const MAX_NEWS: usize = u16::MAX as usize;

/// The longest status word, in bytes (`COMMITTED`).
const MAX_STATUS_LEN: usize = {
    let (mut longest, mut i) = (0, 0);
    while i < STATUS_WORDS.len() {
        // Evaluated at build time: an index out of range fails the build.
        #[allow(clippy::indexing_slicing)]
        let len = STATUS_WORDS[i].len();
        if len > longest {
            longest = len;
        }
        i += 1;
    }
    longest
};

/// The digits of `u32::MAX`: the longest epoch and the longest length or
/// count a list states.
const U32_DIGITS: usize = 10;

/// The longest news item, for prefixes a
/// [`MoveTable`](crate::moves::MoveTable) stores and ids at most
/// [`MAX_NODE_ID_LEN`] bytes.
const MAX_NEWS_ITEM_LEN: usize = {
    const fn string(len: usize, len_digits: usize) -> usize {
        1 + len_digits + 2 + len + 2
    }
    "*5\r\n".len()
        + string(MAX_STATUS_LEN, 1)
        + string(MAX_PREFIX_LEN, 2)
        + 2 * string(MAX_NODE_ID_LEN, 2)
        + string(U32_DIGITS, 2)
};
const _: () = assert!(MAX_STATUS_LEN < 10 && U32_DIGITS >= 10 && U32_DIGITS < 100);

/// The most bytes a list of `count` news takes ([`encode_news`]) when
/// every prefix is at most [`MAX_PREFIX_LEN`] bytes (as a
/// [`MoveTable`](crate::moves::MoveTable) stores them) and every node
/// id at most [`MAX_NODE_ID_LEN`]: a buffer for a node's answer to a
/// fence, sized at build time from its record capacity. Saturates at
/// `usize::MAX`.
///
/// ```
/// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}, wire::{encode_news, max_news_len}};
/// const RECORDS: usize = 4;
/// let mut buf = [0u8; max_news_len(RECORDS)];
/// let prefix = [b'p'; kevy_scope::moves::MAX_PREFIX_LEN];
/// let id = "n".repeat(kevy_scope::table::MAX_NODE_ID_LEN);
/// let id = MoveId { prefix: &prefix, from: &id, to: &id, epoch: Epoch::new(u32::MAX) };
/// let news = [Announcement { id, status: MoveStatus::Committed }; RECORDS];
/// assert_eq!(encode_news(news, &mut buf)?, buf.len());
/// assert_eq!(max_news_len(0), "*0\r\n".len());
/// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
/// ```
#[must_use]
pub const fn max_news_len(count: usize) -> usize {
    // The count's digits, without division (Cortex-M0 has none).
    let mut digits = 1;
    while digits < DIGITS {
        // Evaluated with `digits < DIGITS`: in range.
        #[allow(clippy::indexing_slicing)]
        let power = POWERS[DIGITS - 1 - digits];
        if count < power {
            break;
        }
        digits += 1;
    }
    let head = 1 + digits + 2;
    count.saturating_mul(MAX_NEWS_ITEM_LEN).saturating_add(head)
}

/// Puts each piece of one news item into `out`: the RESP array of the
/// five arguments `MOVE-SCOPE-NEWS` carries after its name and before
/// the sender's epoch.
fn news_item(news: Announcement<'_>, out: &mut Out<'_>) {
    let request = PeerRequest::News {
        news,
        sender_epoch: Epoch::ZERO,
    };
    let mut digits = [[0; DIGITS]; 2];
    let (slots, _) = request.arg_list(&mut digits);
    // The list's items are the news alone: no name, no sender's epoch.
    array(&slots, 0b011_1110, None, out);
}

/// The encoded length of the list of `news` ([`encode_news`]): to size
/// its buffer.
///
/// ```
/// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}, wire::news_len};
/// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
/// let news = Announcement { id, status: MoveStatus::Committed };
/// assert_eq!(news_len([]), "*0\r\n".len());
/// assert_eq!(news_len([news]), 52);
/// ```
#[must_use]
pub fn news_len<'n, I>(news: I) -> usize
where
    I: IntoIterator<Item = Announcement<'n>>,
    I::IntoIter: Clone,
{
    let mut out = Out::count();
    news_list(news.into_iter(), &mut out);
    out.len
}

/// Encodes `news` into `buf` as the answer to a fence and returns its
/// length: a RESP array with one item per news, each the array of the
/// five bulk strings `MOVE-SCOPE-NEWS` carries after its name (`<status>
/// <prefix> <from> <to> <epoch>`, the status word as
/// [`move_status_word`] spells it).
///
/// The news are read three times (counted, measured, written), as a
/// node's [`news`](crate::moves::Node::news) can be. A buffer too small
/// is an error naming the length needed, and `buf` is left untouched;
/// [`news_len`] or [`max_news_len`] sizes it first. Like the
/// other encoders, it writes what it is given: news that breaks the
/// node-id rule, or more than [`MAX_NEWS`] of them, is refused by the
/// receiver.
///
/// ```
/// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}, wire::encode_news};
/// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
/// let news = [Announcement { id, status: MoveStatus::Committed }];
/// let mut buf = [0u8; 64];
/// let len = encode_news(news, &mut buf)?;
/// assert_eq!(
///     &buf[..len],
///     b"*1\r\n*5\r\n$9\r\nCOMMITTED\r\n$2\r\np:\r\n$1\r\nA\r\n$1\r\nB\r\n$1\r\n3\r\n"
/// );
/// let err = encode_news(news, &mut buf[..51]).unwrap_err();
/// assert_eq!((err.needed, err.available), (52, 51));
/// assert_eq!(encode_news([], &mut buf)?, 4); // *0\r\n
/// # Ok::<(), kevy_scope::wire::BufferTooSmall>(())
/// ```
pub fn encode_news<'n, I>(news: I, buf: &mut [u8]) -> Result<usize, BufferTooSmall>
where
    I: IntoIterator<Item = Announcement<'n>>,
    I::IntoIter: Clone,
{
    let news = news.into_iter();
    encode_with(buf, &|out| news_list(news.clone(), out))
}

/// Puts each piece of the list of `news` into `out`: the array's
/// header (the news counted first), then every item.
fn news_list<'n>(news: impl Iterator<Item = Announcement<'n>> + Clone, out: &mut Out<'_>) {
    let mut digits = [0; DIGITS];
    out.put(b"*");
    out.put(decimal(news.clone().count(), &mut digits));
    out.put(CRLF);
    for item in news {
        news_item(item, out);
    }
}

/// A list of news as a peer answers a fence, read in place: the bytes
/// were checked whole when decoded, so [`iter`](Self::iter) yields only
/// well-formed [`Announcement`]s, each borrowing the bytes. Equal when
/// their bytes are.
///
/// ```
/// use kevy_scope::{Epoch, moves::{Announcement, MoveId, MoveStatus}, wire::{NewsList, encode_news}};
/// let a = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
/// let b = MoveId { prefix: b"q:", from: "B", to: "C", epoch: Epoch::new(5) };
/// let news = [
///     Announcement { id: a, status: MoveStatus::Committed },
///     Announcement { id: b, status: MoveStatus::InFlight },
/// ];
/// let mut buf = [0u8; 128];
/// let len = encode_news(news, &mut buf)?;
///
/// let (list, used) = NewsList::decode(&buf[..len])?;
/// assert_eq!((list.len(), used), (2, len));
/// assert!(list.iter().eq(news));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NewsList<'a> {
    /// The whole list, its header first.
    bytes: &'a [u8],
    /// Where its first item starts.
    items: usize,
    /// How many news it holds.
    len: usize,
}

impl<'a> NewsList<'a> {
    /// Reads a list from the start of `bytes` and returns it with the
    /// number of bytes it took; bytes after it (the next reply on the
    /// connection) are left alone.
    ///
    /// Every item is checked before the list is returned, field by field
    /// in order, as [`PeerRequest::decode`] checks `MOVE-SCOPE-NEWS` (the
    /// status in any ASCII case), with the same errors; a declared
    /// length over its field's bound is refused from the length alone
    /// (a status over 9 bytes, a prefix over 65 535, an id over
    /// [`MAX_NODE_ID_LEN`], an epoch over 10 digits). A count over
    /// [`MAX_NEWS`] is [`PeerWireError::TooManyNews`], before any item is
    /// read. Any other shape (another RESP type, a nested array where a
    /// string belongs, a negative or null length, a length or count that
    /// is not plain decimal or over 10 digits, a missing CRLF) is
    /// [`PeerWireError::MalformedList`] at the byte where it breaks. No
    /// recursion, no heap: the work is linear in the bytes read.
    ///
    /// Bytes that end before the list does are
    /// [`PeerWireError::Incomplete`]: a stream reader reads more and
    /// decodes again. It is never returned for bytes that no more bytes
    /// can mend, but for a length or count whose digits are not yet
    /// ended (at most 10 of them). A peer that refuses the fence answers
    /// an error line (`-`) instead: [`PeerReply::decode`] reads it.
    ///
    /// ```
    /// use kevy_scope::{wire::{NewsList, PeerWireError}, table::NodeIdError};
    /// let bytes = b"*1\r\n*5\r\n$8\r\ninflight\r\n$2\r\np:\r\n$1\r\nA\r\n$1\r\nB\r\n$1\r\n3\r\n+OK\r\n";
    /// let (list, used) = NewsList::decode(bytes)?;
    /// assert_eq!((list.len(), &bytes[used..]), (1, &b"+OK\r\n"[..]));
    ///
    /// // Cut short anywhere: read more.
    /// assert_eq!(NewsList::decode(&bytes[..used - 1]), Err(PeerWireError::Incomplete));
    /// // Wrong however it goes on.
    /// assert_eq!(NewsList::decode(b"*-1\r\n"), Err(PeerWireError::MalformedList { at: 1 }));
    /// assert_eq!(
    ///     NewsList::decode(b"*1\r\n*5\r\n$8\r\ninflight\r\n$2\r\np:\r\n$40\r\n"),
    ///     Err(PeerWireError::BadSource(NodeIdError::TooLong { len: 40 }))
    /// );
    /// # Ok::<(), PeerWireError>(())
    /// ```
    pub fn decode(bytes: &'a [u8]) -> Result<(Self, usize), PeerWireError> {
        let mut reader = Reader { bytes, at: 0 };
        let len = reader.header(b'*')?;
        if len > MAX_NEWS {
            return Err(PeerWireError::TooManyNews { count: len });
        }
        let items = reader.at;
        for _ in 0..len {
            reader.news()?;
        }
        let used = reader.at;
        let bytes = bytes.get(..used).unwrap_or_default();
        Ok((Self { bytes, items, len }, used))
    }

    /// How many news the list holds.
    ///
    /// ```
    /// # use kevy_scope::wire::NewsList;
    /// assert_eq!(NewsList::decode(b"*0\r\n")?.0.len(), 0);
    /// # Ok::<(), kevy_scope::wire::PeerWireError>(())
    /// ```
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no news.
    ///
    /// ```
    /// # use kevy_scope::wire::NewsList;
    /// assert!(NewsList::decode(b"*0\r\n")?.0.is_empty());
    /// # Ok::<(), kevy_scope::wire::PeerWireError>(())
    /// ```
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The list's bytes as they came, its header first: to pass it on.
    ///
    /// ```
    /// # use kevy_scope::wire::NewsList;
    /// let (list, _) = NewsList::decode(b"*0\r\n*0\r\n")?;
    /// assert_eq!(list.as_bytes(), b"*0\r\n");
    /// # Ok::<(), kevy_scope::wire::PeerWireError>(())
    /// ```
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The news in the order the peer sent them, each borrowing the
    /// list's bytes: what
    /// [`Driver::recovered`](crate::driver::Driver::recovered) takes.
    ///
    /// ```
    /// use kevy_scope::{moves::MoveStatus, wire::NewsList};
    /// let bytes = b"*1\r\n*5\r\n$7\r\nABORTED\r\n$2\r\np:\r\n$1\r\nA\r\n$1\r\nB\r\n$2\r\n12\r\n";
    /// let (list, _) = NewsList::decode(bytes)?;
    /// let news = list.iter().next().unwrap();
    /// assert_eq!((news.status, news.id.prefix, news.id.epoch.get()), (MoveStatus::Aborted, &b"p:"[..], 12));
    /// assert_eq!(news.owner(), Some("A"));
    /// # Ok::<(), kevy_scope::wire::PeerWireError>(())
    /// ```
    #[must_use]
    pub fn iter(&self) -> NewsIter<'a> {
        NewsIter {
            reader: Reader {
                bytes: self.bytes,
                at: self.items,
            },
            left: self.len,
        }
    }
}

impl<'a> IntoIterator for NewsList<'a> {
    type Item = Announcement<'a>;
    type IntoIter = NewsIter<'a>;

    fn into_iter(self) -> NewsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &NewsList<'a> {
    type Item = Announcement<'a>;
    type IntoIter = NewsIter<'a>;

    fn into_iter(self) -> NewsIter<'a> {
        self.iter()
    }
}

/// The news, as a list.
impl fmt::Debug for NewsList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The news of a [`NewsList`], in order ([`NewsList::iter`]).
///
/// ```
/// # use kevy_scope::wire::NewsList;
/// let (list, _) = NewsList::decode(b"*0\r\n")?;
/// assert_eq!(list.iter().len(), 0);
/// # Ok::<(), kevy_scope::wire::PeerWireError>(())
/// ```
#[derive(Clone)]
pub struct NewsIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for NewsIter<'a> {
    type Item = Announcement<'a>;

    fn next(&mut self) -> Option<Announcement<'a>> {
        self.left = self.left.checked_sub(1)?;
        // Checked when the list was decoded: it reads again.
        let news = self.reader.news().ok();
        if news.is_none() {
            self.left = 0;
        }
        news
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for NewsIter<'_> {}

impl core::iter::FusedIterator for NewsIter<'_> {}

impl fmt::Debug for NewsIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewsIter")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

/// A cursor over a news list's bytes. Each step reads what it needs or
/// stops: at the bytes' end [`PeerWireError::Incomplete`], at a byte that
/// breaks the shape [`PeerWireError::MalformedList`] there.
#[derive(Clone)]
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next byte, not taken.
    fn peek(&self) -> Result<u8, PeerWireError> {
        self.bytes
            .get(self.at)
            .copied()
            .ok_or(PeerWireError::Incomplete)
    }

    /// The shape breaks here.
    const fn broken(&self) -> PeerWireError {
        PeerWireError::MalformedList { at: self.at }
    }

    /// Takes `byte`. Out of line: flash.
    #[inline(never)]
    fn expect(&mut self, byte: u8) -> Result<(), PeerWireError> {
        if self.peek()? != byte {
            return Err(self.broken());
        }
        self.at += 1;
        Ok(())
    }

    /// `<kind><n>\r\n`, `n` a plain decimal `u32`: an array's count or a
    /// bulk string's length. A second digit after a `0`, or an eleventh
    /// digit, breaks it as soon as it comes.
    fn header(&mut self, kind: u8) -> Result<usize, PeerWireError> {
        self.expect(kind)?;
        let start = self.at;
        while self.peek()?.is_ascii_digit() {
            let taken = self.at - start;
            if taken == U32_DIGITS || (taken > 0 && self.bytes.get(start) == Some(&b'0')) {
                return Err(self.broken());
            }
            self.at += 1;
        }
        let broken = PeerWireError::MalformedList { at: start };
        let n = self
            .bytes
            .get(start..self.at)
            .and_then(number)
            .ok_or(broken)?;
        self.crlf()?;
        usize::try_from(n).map_err(|_| broken)
    }

    fn crlf(&mut self) -> Result<(), PeerWireError> {
        self.expect(b'\r')?;
        self.expect(b'\n')
    }

    /// One news item, every field checked as it is read: a declared
    /// length over the field's bound from the length alone, the bytes
    /// before their CRLF.
    fn news(&mut self) -> Result<Announcement<'a>, PeerWireError> {
        let got = self.header(b'*')?;
        if got != 5 {
            return Err(PeerWireError::WrongArity { expected: 5, got });
        }
        let mut fields = Fields::EMPTY;
        for n in STATUS..MOVE_EPOCH + 1 {
            let len = self.header(b'$')?;
            let bound = NEWS_FIELD_BOUNDS.get(usize::from(n)).copied();
            if len > bound.unwrap_or_default() {
                return Err(field_too_long(n, len));
            }
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            let field = rest.get(..len).ok_or(PeerWireError::Incomplete)?;
            self.at += len;
            fields.read(n, field)?;
            self.crlf()?;
        }
        Ok(Announcement {
            id: fields.id(),
            status: fields.status,
        })
    }
}

/// The longest each field of a news item may be: status, prefix,
/// source, target, epoch.
const NEWS_FIELD_BOUNDS: [usize; 5] = [
    MAX_STATUS_LEN,
    MAX_WIRE_PREFIX_LEN,
    MAX_NODE_ID_LEN,
    MAX_NODE_ID_LEN,
    U32_DIGITS,
];

/// The error of field `n` of a news item declared `len` bytes long, over
/// its bound: the error its check gives once read.
fn field_too_long(n: u8, len: usize) -> PeerWireError {
    match n {
        STATUS => PeerWireError::UnknownStatus,
        PREFIX => PeerWireError::PrefixTooLong { len },
        SOURCE => PeerWireError::BadSource(NodeIdError::TooLong { len }),
        TARGET => PeerWireError::BadTarget(NodeIdError::TooLong { len }),
        _ => PeerWireError::BadEpoch,
    }
}

/// A refusal's code: the first word of a refused step's error line,
/// naming the [`MoveError`] (`ERR` for the rest).
///
/// ```
/// use kevy_scope::{Epoch, moves::MoveError, wire::Refusal};
/// let stale = Refusal::of(&MoveError::Stale { known: Epoch::new(3) });
/// assert_eq!((stale, stale.code()), (Refusal::Stale, "STALE"));
/// assert_eq!(Refusal::from_code(b"NOTOWNER"), Some(Refusal::NotOwner));
/// assert_eq!(Refusal::NotOwner.error(), Some(MoveError::NotOwner));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refusal {
    /// `STALE`: [`MoveError::Stale`].
    Stale,
    /// `SENDERNOTOWNER`: [`MoveError::SenderNotOwner`].
    SenderNotOwner,
    /// `WRONGTARGET`: [`MoveError::WrongTarget`].
    WrongTarget,
    /// `NOTINFLIGHT`: [`MoveError::NotInFlight`].
    NotInFlight,
    /// `QUARANTINED`: [`MoveError::Quarantined`].
    Quarantined,
    /// `FULL`: [`MoveError::Full`].
    Full,
    /// `NOTOWNER`: [`MoveError::NotOwner`].
    NotOwner,
    /// `ERR`: any other refusal, or a request the receiver could not
    /// read.
    Other,
}

/// Every code, for the decoder's search.
const REFUSALS: [Refusal; 8] = [
    Refusal::Stale,
    Refusal::SenderNotOwner,
    Refusal::WrongTarget,
    Refusal::NotInFlight,
    Refusal::Quarantined,
    Refusal::Full,
    Refusal::NotOwner,
    Refusal::Other,
];

impl Refusal {
    /// The code of `error`.
    ///
    /// ```
    /// # use kevy_scope::{moves::MoveError, wire::Refusal};
    /// assert_eq!(Refusal::of(&MoveError::SameNode), Refusal::Other);
    /// ```
    #[must_use]
    pub const fn of(error: &MoveError) -> Self {
        match error {
            MoveError::Stale { .. } => Self::Stale,
            MoveError::SenderNotOwner => Self::SenderNotOwner,
            MoveError::WrongTarget => Self::WrongTarget,
            MoveError::NotInFlight => Self::NotInFlight,
            MoveError::Quarantined => Self::Quarantined,
            MoveError::Full { .. } => Self::Full,
            MoveError::NotOwner => Self::NotOwner,
            _ => Self::Other,
        }
    }

    /// The code as the error line spells it.
    ///
    /// ```
    /// # use kevy_scope::wire::Refusal;
    /// assert_eq!(Refusal::Other.code(), "ERR");
    /// ```
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Stale => "STALE",
            Self::SenderNotOwner => "SENDERNOTOWNER",
            Self::WrongTarget => "WRONGTARGET",
            Self::NotInFlight => "NOTINFLIGHT",
            Self::Quarantined => "QUARANTINED",
            Self::Full => "FULL",
            Self::NotOwner => "NOTOWNER",
            Self::Other => "ERR",
        }
    }

    /// The refusal `code` names, exactly (codes are upper case); `None`
    /// for any other word (`NOPERM`, say).
    ///
    /// ```
    /// # use kevy_scope::wire::Refusal;
    /// assert_eq!(Refusal::from_code(b"ERR"), Some(Refusal::Other));
    /// assert_eq!(Refusal::from_code(b"stale"), None);
    /// ```
    #[must_use]
    pub fn from_code(code: &[u8]) -> Option<Self> {
        REFUSALS
            .iter()
            .find(|r| r.code().as_bytes() == code)
            .copied()
    }

    /// The [`MoveError`] the code names, for the codes that carry all
    /// of it; `None` for `STALE` and `FULL` (whose epoch and capacity are
    /// only in the reason's words) and `ERR`.
    ///
    /// ```
    /// # use kevy_scope::{moves::MoveError, wire::Refusal};
    /// assert_eq!(Refusal::Quarantined.error(), Some(MoveError::Quarantined));
    /// assert_eq!(Refusal::Stale.error(), None);
    /// ```
    #[must_use]
    pub const fn error(self) -> Option<MoveError> {
        match self {
            Self::SenderNotOwner => Some(MoveError::SenderNotOwner),
            Self::WrongTarget => Some(MoveError::WrongTarget),
            Self::NotInFlight => Some(MoveError::NotInFlight),
            Self::Quarantined => Some(MoveError::Quarantined),
            Self::NotOwner => Some(MoveError::NotOwner),
            Self::Stale | Self::Full | Self::Other => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why bytes are not a node-to-node message.
///
/// ```
/// use kevy_scope::{table::NodeIdError, wire::{PeerRequest, PeerWireError}};
/// let args: [&[u8]; 5] = [b"MOVE-SCOPE-OUTCOME", b"p:", b"n 1", b"n2", b"1"];
/// let err = PeerRequest::decode(&args).unwrap_err();
/// assert_eq!(err, PeerWireError::BadSource(NodeIdError::InvalidByte { byte: b' ', at: 1 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PeerWireError {
    /// The command is empty or names no node-to-node command.
    UnknownVerb,
    /// The command has the wrong number of arguments, or an item of a
    /// news list is not an array of 5.
    WrongArity {
        /// How many it takes after its name.
        expected: usize,
        /// How many it has after its name.
        got: usize,
    },
    /// The prefix is empty: no move names every key.
    EmptyPrefix,
    /// The prefix is longer than 65 535 bytes, the longest a node's image
    /// records.
    PrefixTooLong {
        /// Its length.
        len: usize,
    },
    /// The source's id breaks the node-id rule.
    BadSource(NodeIdError),
    /// The target's id breaks the node-id rule.
    BadTarget(NodeIdError),
    /// An epoch (or fence) is not a plain decimal `u32`: digits only, no
    /// sign, no leading zero.
    BadEpoch,
    /// The status is not `INFLIGHT`, `COMMITTED` or `ABORTED`.
    UnknownStatus,
    /// The reply line does not start with `+` or `-`, holds CR or LF
    /// before its end, or its reason is not UTF-8.
    MalformedLine,
    /// The simple-string reply is none of `OK`, `OK <keys>`, `COMMITTED`,
    /// `ABORTED <fence>`, `EPOCH <n>`.
    UnknownReply,
    /// The key count of `+OK <keys>` is not a plain decimal `u32`.
    BadCount,
    /// The error reply's code names no [`Refusal`].
    UnknownCode,
    /// The bytes end before the news list does: read more, then decode
    /// again ([`NewsList::decode`]).
    Incomplete,
    /// The bytes are not the RESP shape of a news list from byte `at`
    /// on: another type than an array or bulk string where one belongs,
    /// a length or count that is negative, null, not plain decimal or
    /// over 10 digits, or a missing CRLF.
    MalformedList {
        /// The offset of the first byte that breaks the shape.
        at: usize,
    },
    /// The news list holds more than [`MAX_NEWS`] news.
    TooManyNews {
        /// The count its header states.
        count: usize,
    },
}

impl fmt::Display for PeerWireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownVerb => {
                f.write_str("not MOVE-SCOPE-INGEST, -OUTCOME, -NEWS, -EPOCH, -FENCE or -RECHECK")
            }
            Self::WrongArity { expected, got } => write!(
                f,
                "the command takes {expected} arguments after its name, not {got}"
            ),
            Self::EmptyPrefix => f.write_str("the prefix is empty"),
            Self::PrefixTooLong { len } => write!(
                f,
                "the prefix is {len} bytes, at most {MAX_WIRE_PREFIX_LEN} allowed"
            ),
            Self::BadSource(e) => write!(f, "bad source: {e}"),
            Self::BadTarget(e) => write!(f, "bad target: {e}"),
            Self::BadEpoch => f.write_str(
                "the epoch is not a decimal u32 (digits only, no sign, no leading zero)",
            ),
            Self::UnknownStatus => f.write_str("the status is not INFLIGHT, COMMITTED or ABORTED"),
            Self::MalformedLine => {
                f.write_str("a reply is one line of UTF-8 text starting with + or -")
            }
            Self::UnknownReply => {
                f.write_str("not OK, OK <keys>, COMMITTED, ABORTED <fence> or EPOCH <n>")
            }
            Self::BadCount => f.write_str(
                "the key count is not a decimal u32 (digits only, no sign, no leading zero)",
            ),
            Self::UnknownCode => f.write_str("the error's code names no move refusal"),
            Self::Incomplete => f.write_str("the bytes end before the list of news does"),
            Self::MalformedList { at } => {
                write!(f, "not a RESP array of news from byte {at} on")
            }
            Self::TooManyNews { count } => {
                write!(f, "the list holds {count} news, at most {MAX_NEWS} allowed")
            }
        }
    }
}

impl core::error::Error for PeerWireError {}

/// A message did not fit the caller's buffer; nothing was written.
///
/// ```
/// use kevy_scope::{wire::{BufferTooSmall, PeerReply}};
/// let mut buf = [0u8; 2];
/// let err = PeerReply::Learned.encode(&mut buf).unwrap_err();
/// assert_eq!(err, BufferTooSmall { needed: 5, available: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall {
    /// The message's length.
    pub needed: usize,
    /// The buffer's length.
    pub available: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { needed, available } = self;
        write!(
            f,
            "message needs {needed} bytes, the buffer has {available}"
        )
    }
}

impl core::error::Error for BufferTooSmall {}

/// Where the pieces of a message go: into `buf` from its start while
/// they fit, and counted (with no buffer, only counted).
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Out<'_> {
    /// Counts, writes nothing.
    fn count() -> Out<'static> {
        Out {
            buf: &mut [],
            len: 0,
        }
    }

    /// Takes the next piece. Out of line: flash.
    #[inline(never)]
    fn put(&mut self, piece: &[u8]) {
        let end = self.len.saturating_add(piece.len());
        // A byte at a time: `copy_from_slice` links its panic.
        if let Some(slots) = self.buf.get_mut(self.len..end) {
            for (slot, byte) in slots.iter_mut().zip(piece) {
                *slot = *byte;
            }
        }
        self.len = end;
    }
}

/// Writes what `pieces` puts into `buf` if it all fits (counted first),
/// else leaves `buf` untouched.
fn encode_with(buf: &mut [u8], pieces: &dyn Fn(&mut Out<'_>)) -> Result<usize, BufferTooSmall> {
    let mut count = Out::count();
    pieces(&mut count);
    let (needed, available) = (count.len, buf.len());
    if needed > available {
        return Err(BufferTooSmall { needed, available });
    }
    pieces(&mut Out { buf, len: 0 });
    Ok(needed)
}

/// The decimal digits of `usize::MAX`.
const DIGITS: usize = {
    let (mut n, mut digits) = (usize::MAX, 1);
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
};

/// The powers of ten a `usize` holds, largest first.
const POWERS: [usize; DIGITS] = {
    let mut powers = [1; DIGITS];
    let mut i = DIGITS - 1;
    while i > 0 {
        // Evaluated at build time: an index out of range fails the build.
        #[allow(clippy::indexing_slicing)]
        {
            powers[i - 1] = powers[i] * 10;
        }
        i -= 1;
    }
    powers
};

/// `n` in decimal, in `digits`. Without division: Cortex-M0 has none.
fn decimal(mut n: usize, digits: &mut [u8; DIGITS]) -> &[u8] {
    let mut len = 0;
    // Iterated by reference: a by-value array is copied with `memcpy`.
    for &power in &POWERS {
        let mut digit = b'0';
        while n >= power {
            n -= power;
            digit += 1;
        }
        // Skip leading zeros, keep the last digit.
        if (len > 0 || digit != b'0' || power == 1)
            && let Some(slot) = digits.get_mut(len)
        {
            *slot = digit;
            len += 1;
        }
    }
    digits.get(..len).unwrap_or_default()
}

/// A plain decimal `u32`: 1 to 10 digits, no sign, no leading zero.
fn number(text: &[u8]) -> Option<u32> {
    if text.is_empty() || (text.len() > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    // Division by constants, at build time: Cortex-M0 has no divider.
    const TENTH: u32 = u32::MAX / 10;
    const LAST: u32 = u32::MAX % 10;
    let mut n: u32 = 0;
    for &byte in text {
        let digit = u32::from(byte.wrapping_sub(b'0'));
        if digit > 9 || n > TENTH || (n == TENTH && digit > LAST) {
            return None;
        }
        n = n * 10 + digit;
    }
    Some(n)
}

/// The longest `OUTCOME`, `RECHECK` or `NEWS` request, or `INGEST` up to its keys
/// ([`PeerRequest::encode_ingest_header`]; `EPOCH` and `FENCE` are
/// shorter), whose prefix is at most
/// [`MAX_PREFIX_LEN`] bytes: a [`MoveTable`](crate::moves::MoveTable)'s
/// moves, their ids at most [`MAX_NODE_ID_LEN`] bytes.
///
/// ```
/// use kevy_scope::{Epoch, wire::{MAX_PEER_REQUEST_LEN, PeerRequest}, moves::MoveId};
/// let prefix = [b'p'; kevy_scope::moves::MAX_PREFIX_LEN];
/// let id = "n".repeat(kevy_scope::table::MAX_NODE_ID_LEN);
/// let id = MoveId { prefix: &prefix, from: &id, to: &id, epoch: Epoch::new(u32::MAX) };
/// let mut buf = [0u8; MAX_PEER_REQUEST_LEN];
/// assert!(PeerRequest::encode_ingest_header(&id, usize::MAX, &mut buf).is_ok());
/// assert!(PeerRequest::Outcome(id).encode(&mut buf).is_ok());
/// ```
pub const MAX_PEER_REQUEST_LEN: usize = {
    const fn string(len: usize, len_digits: usize) -> usize {
        1 + len_digits + 2 + len + 2
    }
    // Epoch, prefix and ids: the move's fields (the prefix length 2
    // digits, the ids' 2, the epoch's 1).
    let id = string(10, 2) + string(MAX_PREFIX_LEN, 2) + 2 * string(MAX_NODE_ID_LEN, 2);
    let ingest = "*6\r\n".len() + string(INGEST.len(), 2) + id + 1 + DIGITS + 2;
    // News: its status first, the sender's epoch last.
    let news =
        "*7\r\n".len() + string(NEWS.len(), 2) + string("COMMITTED".len(), 1) + id + string(10, 2);
    if ingest > news { ingest } else { news }
};

// `RECHECK` is as long as `OUTCOME`; `FENCE` is shorter than them
// (`EPOCH` shorter still).
const _: () = assert!(RECHECK.len() == OUTCOME.len());
const _: () =
    // `*3`, then the name, the longest id and the longest epoch as bulks
    // (`$<len>\r\n<bytes>\r\n`, two-digit lengths).
    assert!(
        "*3\r\n".len() + (FENCE.len() + 7) + (MAX_NODE_ID_LEN + 7) + (10 + 7)
            < MAX_PEER_REQUEST_LEN
    );

// The digit counts above: two-digit prefix and id lengths.
const _: () = assert!(MAX_PREFIX_LEN >= 10 && MAX_PREFIX_LEN < 100);
const _: () = assert!(MAX_NODE_ID_LEN >= 10 && MAX_NODE_ID_LEN < 100);

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn decimal_matches_format() {
        for n in [
            0usize,
            1,
            9,
            10,
            99,
            100,
            6004,
            u32::MAX as usize,
            usize::MAX,
        ] {
            let mut digits = [0; DIGITS];
            assert_eq!(decimal(n, &mut digits), format!("{n}").as_bytes());
        }
    }

    #[test]
    fn numbers_are_plain_decimal() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"7"), Some(7));
        assert_eq!(number(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"4294967296",
            b"99999999999",
            b"07",
            b"00",
            b"+7",
            b"-7",
            b" 7",
            b"7 ",
            b"7a",
            b"\xff",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_request_bound_is_tight() {
        let prefix = [b'p'; MAX_PREFIX_LEN];
        let long = "n".repeat(MAX_NODE_ID_LEN);
        let id = MoveId {
            prefix: &prefix,
            from: &long,
            to: &long,
            epoch: Epoch::new(u32::MAX),
        };
        let mut buf = [0u8; MAX_PEER_REQUEST_LEN + 1];
        let header = PeerRequest::encode_ingest_header(&id, usize::MAX, &mut buf).unwrap();
        let news = PeerRequest::News {
            news: Announcement {
                id,
                status: MoveStatus::Committed,
            },
            sender_epoch: Epoch::new(u32::MAX),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(header.max(news), MAX_PEER_REQUEST_LEN);
    }

    #[test]
    fn the_news_bounds_count_the_longest_item() {
        assert_eq!(MAX_STATUS_LEN, "COMMITTED".len());
        assert_eq!(max_news_len(0), "*0\r\n".len());
        assert_eq!(max_news_len(9), "*9\r\n".len() + 9 * MAX_NEWS_ITEM_LEN);
        assert_eq!(max_news_len(10), "*10\r\n".len() + 10 * MAX_NEWS_ITEM_LEN);
        assert_eq!(
            max_news_len(MAX_NEWS),
            "*65535\r\n".len() + MAX_NEWS * MAX_NEWS_ITEM_LEN
        );
    }

    #[test]
    fn display_is_the_line_without_sign_and_crlf() {
        let replies = [
            PeerReply::Learned,
            PeerReply::Ingested { keys: 0 },
            PeerReply::Outcome(Outcome::Committed),
            PeerReply::Refused {
                code: Refusal::Full,
                reason: "all 4 slots",
            },
            PeerReply::Refused {
                code: Refusal::Other,
                reason: "",
            },
        ];
        for reply in replies {
            let mut buf = [0u8; 64];
            let len = reply.encode(&mut buf).unwrap();
            let line = buf.get(1..len - 2).unwrap();
            assert_eq!(reply.to_string().as_bytes(), line);
        }
        let mut args = Vec::new();
        PeerRequest::Outcome(MoveId {
            prefix: b"p",
            from: "a",
            to: "b",
            epoch: Epoch::ZERO,
        })
        .args(|a| args.push(a.to_vec()));
        assert_eq!(args.len(), 5);
    }
}
