//! The node-to-node messages of a move, as bytes: each request a RESP
//! array of bulk strings, each reply one RESP line. Encoded into a
//! caller's buffer and decoded in place, without a heap and without
//! `core::fmt` (only the `Display` impls format).
//!
//! ```text
//! MOVE-SCOPE-INGEST  <prefix> <from> <to> <epoch> <bulk>   -> +OK <n>
//! MOVE-SCOPE-OUTCOME <prefix> <from> <to> <epoch>          -> +COMMITTED | +ABORTED <fence>
//! MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>    -> +OK
//! any refused step                                         -> -<CODE> <reason>
//! ```
//!
//! Numbers are plain decimal: digits only, no sign, no leading zero
//! (`0` itself is a number). The encoders write exactly that, and so did
//! every earlier node, so the decoders refuse the rest (`+7`, `007`, ` 7`)
//! rather than read a number two ways.

use core::fmt;

use crate::bytes::Lossy;
use crate::moves::messages::{Announcement, Epoch, MoveId, MoveStatus, Outcome};
use crate::moves::records::{MAX_PREFIX_LEN, MigrationError};
use crate::node_id::{MAX_NODE_ID_LEN, NodeIdError, validate_node_id};

const INGEST: &[u8] = b"MOVE-SCOPE-INGEST";
const OUTCOME: &[u8] = b"MOVE-SCOPE-OUTCOME";
const NEWS: &[u8] = b"MOVE-SCOPE-NEWS";
const CRLF: &[u8] = b"\r\n";
/// The commands' names, and where two of them stand.
const VERBS: [&[u8]; 3] = [INGEST, OUTCOME, NEWS];
const ASK_OUTCOME: usize = 1;
const NEWS_AT: usize = 2;

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
/// use kevy_scope::{Epoch, MoveId, PeerRequest};
/// let id = MoveId { prefix: b"app:a:", from: "n1", to: "n2", epoch: Epoch::new(7) };
/// let mut buf = [0u8; kevy_scope::MAX_PEER_REQUEST_LEN];
/// let len = PeerRequest::Outcome(id).encode(&mut buf)?;
/// assert_eq!(
///     &buf[..len],
///     b"*5\r\n$18\r\nMOVE-SCOPE-OUTCOME\r\n$6\r\napp:a:\r\n$2\r\nn1\r\n$2\r\nn2\r\n$1\r\n7\r\n"
/// );
/// # Ok::<(), kevy_scope::BufferTooSmall>(())
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
    /// `MOVE-SCOPE-NEWS <status> <prefix> <from> <to> <epoch>`: news of a
    /// move for another node. Answered [`PeerReply::Learned`].
    News(Announcement<'a>),
}

impl<'a> PeerRequest<'a> {
    /// Reads a request from its arguments, the command's name first, as a
    /// RESP server hands them over. The name and the status word are read
    /// without regard to ASCII case (RESP servers read command names so);
    /// everything else exactly.
    ///
    /// ```
    /// use kevy_scope::{MoveStatus, PeerRequest, PeerWireError};
    /// let args: [&[u8]; 6] = [b"MOVE-SCOPE-NEWS", b"COMMITTED", b"app:a:", b"n1", b"n2", b"7"];
    /// let PeerRequest::News(news) = PeerRequest::decode(&args)? else { unreachable!() };
    /// assert_eq!((news.status, news.id.to, news.id.epoch.get()), (MoveStatus::Committed, "n2", 7));
    ///
    /// let bad: [&[u8]; 6] = [b"MOVE-SCOPE-NEWS", b"COMMITTED", b"app:a:", b"n1", b"n2", b"07"];
    /// assert_eq!(PeerRequest::decode(&bad), Err(PeerWireError::BadEpoch));
    /// # Ok::<(), PeerWireError>(())
    /// ```
    pub fn decode(command: &[&'a [u8]]) -> Result<Self, PeerWireError> {
        let Some((verb, args)) = command.split_first() else {
            return Err(PeerWireError::UnknownVerb);
        };
        let verb = word_index(verb, &VERBS).ok_or(PeerWireError::UnknownVerb)?;
        let expected = if verb == ASK_OUTCOME { 4 } else { 5 };
        let arity = PeerWireError::WrongArity {
            expected,
            got: args.len(),
        };
        if args.len() != expected {
            return Err(arity);
        }
        // News names its status first, then the move as the others do.
        let (status, fields) = match (verb, args) {
            (NEWS_AT, [status, fields @ ..]) => {
                let status = word_index(status, &STATUS_WORDS)
                    .and_then(|s| STATUSES.get(s).copied())
                    .ok_or(PeerWireError::UnknownStatus)?;
                (Some(status), fields)
            }
            _ => (None, args),
        };
        let &[prefix, from, to, epoch, ref bulk @ ..] = fields else {
            return Err(arity);
        };
        let id = move_id(prefix, from, to, epoch)?;
        Ok(match (status, bulk) {
            (Some(status), _) => Self::News(Announcement { id, status }),
            (None, &[bulk]) => Self::Ingest { id, bulk },
            (None, _) => Self::Outcome(id),
        })
    }

    /// The move the request names.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveId, PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// assert_eq!(PeerRequest::Ingest { id, bulk: b"" }.id(), &id);
    /// ```
    #[must_use]
    pub const fn id(&self) -> &MoveId<'a> {
        match self {
            Self::Ingest { id, .. } | Self::Outcome(id) => id,
            Self::News(news) => &news.id,
        }
    }

    /// Calls `put` with each argument in order, the command's name first:
    /// for a RESP client that takes a list of arguments.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveId, PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(12) };
    /// let mut args = Vec::new();
    /// PeerRequest::Outcome(id).args(|a| args.push(a.to_vec()));
    /// assert_eq!(args, [&b"MOVE-SCOPE-OUTCOME"[..], b"p:", b"A", b"B", b"12"]);
    /// ```
    pub fn args(&self, mut put: impl FnMut(&[u8])) {
        let mut digits = [0; DIGITS];
        let (list, count) = self.arg_list(&mut digits);
        list.iter().take(count).for_each(|arg| put(arg));
    }

    /// The encoded request's length in bytes.
    ///
    /// ```
    /// # use kevy_scope::{Epoch, MoveId, PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
    /// assert_eq!(PeerRequest::Outcome(id).encoded_len(), 58);
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        self.frame(None, &mut |piece| len += piece.len());
        len
    }

    /// Encodes the request into `buf` as a RESP array of bulk strings and
    /// returns its length. A buffer too small is an error and `buf` is
    /// left untouched. [`MAX_PEER_REQUEST_LEN`] bytes hold every request
    /// but an ingest's keys, for prefixes a
    /// [`MigrationTable`](crate::MigrationTable) stores.
    ///
    /// ```
    /// use kevy_scope::{Announcement, Epoch, MoveId, MoveStatus, PeerRequest};
    /// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(3) };
    /// let news = PeerRequest::News(Announcement { id, status: MoveStatus::InFlight });
    /// let mut buf = [0u8; 80];
    /// let len = news.encode(&mut buf)?;
    /// assert!(buf[..len].starts_with(b"*6\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$8\r\nINFLIGHT\r\n"));
    /// assert!(news.encode(&mut buf[..len - 1]).is_err());
    /// # Ok::<(), kevy_scope::BufferTooSmall>(())
    /// ```
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        encode_with(buf, &|put| self.frame(None, put))
    }

    /// Encodes an ingest up to its keys: the array's header, the name, the
    /// move, and the keys' bulk header `$<bulk_len>\r\n`. The sender then
    /// writes `bulk_len` bytes of keys and CRLF: a driver can stream keys
    /// it never holds in memory at once. Header, keys and CRLF are the
    /// bytes [`encode`](Self::encode) writes for the whole ingest.
    ///
    /// ```
    /// use kevy_scope::{Epoch, MoveId, PeerRequest};
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
    /// # Ok::<(), kevy_scope::BufferTooSmall>(())
    /// ```
    pub fn encode_ingest_header(
        id: &MoveId<'_>,
        bulk_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        let ingest = PeerRequest::Ingest { id: *id, bulk: &[] };
        encode_with(buf, &|put| ingest.frame(Some(bulk_len), put))
    }

    /// The arguments in order (the epoch written into `digits`), and
    /// how many there are.
    fn arg_list<'s>(&'s self, digits: &'s mut [u8; DIGITS]) -> ([&'s [u8]; 6], usize) {
        let id = self.id();
        let epoch = decimal(id.epoch.get() as usize, digits);
        let (prefix, from, to) = (id.prefix, id.from.as_bytes(), id.to.as_bytes());
        match self {
            Self::Ingest { bulk, .. } => ([INGEST, prefix, from, to, epoch, bulk], 6),
            Self::Outcome(_) => ([OUTCOME, prefix, from, to, epoch, &[]], 5),
            Self::News(news) => {
                let status = move_status_word(news.status).as_bytes();
                ([NEWS, status, prefix, from, to, epoch], 6)
            }
        }
    }

    /// Calls `put` with each piece of the RESP array; with `header` the
    /// last argument (an ingest's keys) is `header` bytes long and left
    /// out, with its CRLF. Out of line: the encoder calls it twice, to
    /// count and to write.
    #[inline(never)]
    fn frame(&self, header: Option<usize>, put: &mut Put<'_>) {
        let mut epoch = [0; DIGITS];
        let (list, count) = self.arg_list(&mut epoch);
        let mut digits = [0; DIGITS];
        put(b"*");
        put(decimal(count, &mut digits));
        put(CRLF);
        for (n, arg) in list.iter().take(count).enumerate() {
            let left_out = if n + 1 == count { header } else { None };
            put(b"$");
            put(decimal(left_out.unwrap_or(arg.len()), &mut digits));
            put(CRLF);
            if left_out.is_none() {
                put(arg);
                put(CRLF);
            }
        }
    }
}

/// Reads the four fields that name a move.
fn move_id<'a>(
    prefix: &'a [u8],
    from: &'a [u8],
    to: &'a [u8],
    epoch: &[u8],
) -> Result<MoveId<'a>, PeerWireError> {
    if prefix.is_empty() {
        return Err(PeerWireError::EmptyPrefix);
    }
    if prefix.len() > MAX_WIRE_PREFIX_LEN {
        return Err(PeerWireError::PrefixTooLong { len: prefix.len() });
    }
    Ok(MoveId {
        prefix,
        from: node_id(from).map_err(PeerWireError::BadSource)?,
        to: node_id(to).map_err(PeerWireError::BadTarget)?,
        epoch: Epoch::new(number(epoch).ok_or(PeerWireError::BadEpoch)?),
    })
}

/// A node id, by the node-id rule; bytes that are not UTF-8 break it at
/// their first byte outside ASCII.
fn node_id(bytes: &[u8]) -> Result<&str, NodeIdError> {
    match core::str::from_utf8(bytes) {
        Ok(id) => validate_node_id(id).map(|()| id),
        Err(e) => {
            let at = bytes
                .iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(e.valid_up_to());
            let byte = bytes.get(at).copied().unwrap_or(0);
            Err(NodeIdError::InvalidByte { byte, at })
        }
    }
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
/// use kevy_scope::{MoveStatus, move_status_word};
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
/// use kevy_scope::{Epoch, Outcome, PeerReply};
/// let reply = PeerReply::decode(b"+ABORTED 9\r\n")?;
/// assert_eq!(reply, PeerReply::Outcome(Outcome::Aborted { fence: Epoch::new(9) }));
/// # Ok::<(), kevy_scope::PeerWireError>(())
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
    /// `+COMMITTED` or `+ABORTED <fence>`, to an outcome query.
    Outcome(Outcome),
    /// `+OK`, to news: the receiver learned it (or knew it already).
    Learned,
    /// `-<CODE> <reason>`, to any of them: the step was refused.
    Refused {
        /// Why, as a code.
        code: Refusal,
        /// Why, in words (the example node sends the refusal's
        /// `Display`). Encoded on one line: CR and LF become spaces.
        reason: &'a str,
    },
}

impl<'a> PeerReply<'a> {
    /// Reads a reply from its line: `+` or `-`, the text, and CRLF, which
    /// may be left off. A line with CR or LF inside, or a reason that is
    /// not UTF-8, is [`PeerWireError::MalformedLine`].
    ///
    /// ```
    /// use kevy_scope::{PeerReply, Refusal};
    /// assert_eq!(PeerReply::decode(b"+OK 3")?, PeerReply::Ingested { keys: 3 });
    /// let PeerReply::Refused { code, reason } = PeerReply::decode(b"-STALE old news\r\n")? else {
    ///     unreachable!()
    /// };
    /// assert_eq!((code, reason), (Refusal::Stale, "old news"));
    /// assert!(PeerReply::decode(b"-NOPERM no").is_err());
    /// # Ok::<(), kevy_scope::PeerWireError>(())
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
        match (sign, word, rest) {
            (b'-', code, reason) => {
                let code = Refusal::from_code(code).ok_or(PeerWireError::UnknownCode)?;
                let reason = core::str::from_utf8(reason.unwrap_or_default())
                    .map_err(|_| PeerWireError::MalformedLine)?;
                Ok(Self::Refused { code, reason })
            }
            (b'+', b"OK", None) => Ok(Self::Learned),
            (b'+', b"COMMITTED", None) => Ok(Self::Outcome(Outcome::Committed)),
            (b'+', b"OK", Some(keys)) => Ok(Self::Ingested {
                keys: number(keys).ok_or(PeerWireError::BadCount)?,
            }),
            (b'+', b"ABORTED", Some(fence)) => Ok(Self::Outcome(Outcome::Aborted {
                fence: Epoch::new(number(fence).ok_or(PeerWireError::BadEpoch)?),
            })),
            (b'+', ..) => Err(PeerWireError::UnknownReply),
            _ => Err(PeerWireError::MalformedLine),
        }
    }

    /// Whether the reply is an error line (`-`): a refusal.
    ///
    /// ```
    /// # use kevy_scope::PeerReply;
    /// assert!(!PeerReply::Learned.is_refusal());
    /// ```
    #[must_use]
    pub const fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }

    /// The encoded reply's length in bytes.
    ///
    /// ```
    /// # use kevy_scope::PeerReply;
    /// assert_eq!(PeerReply::Ingested { keys: 12 }.encoded_len(), "+OK 12\r\n".len());
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        self.line(&mut |piece| len += piece.len());
        len
    }

    /// Encodes the reply into `buf` as its RESP line and returns its
    /// length. A buffer too small is an error and `buf` is left
    /// untouched. Every reply but a refusal fits in 21 bytes
    /// (`+ABORTED 4294967295\r\n`); a refusal takes its code and reason
    /// and 4 bytes more.
    ///
    /// ```
    /// use kevy_scope::{MigrationError, PeerReply, Refusal};
    /// let e = MigrationError::WrongTarget;
    /// let reply = PeerReply::Refused { code: Refusal::of(&e), reason: "addressed elsewhere" };
    /// let mut buf = [0u8; 64];
    /// let len = reply.encode(&mut buf)?;
    /// assert_eq!(&buf[..len], b"-WRONGTARGET addressed elsewhere\r\n");
    /// # Ok::<(), kevy_scope::BufferTooSmall>(())
    /// ```
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        encode_with(buf, &|put| self.line(put))
    }

    /// Calls `put` with each piece of the line, from its sign to its
    /// CRLF. Out of line: the encoder calls it twice.
    #[inline(never)]
    fn line(&self, put: &mut Put<'_>) {
        put(if self.is_refusal() { b"-" } else { b"+" });
        self.text(&mut |piece| {
            // One line: a reason that spans lines would end the frame
            // early. A byte at a time: reasons are short, and this is
            // the smallest code.
            for byte in piece {
                put(if matches!(byte, b'\r' | b'\n') {
                    b" "
                } else {
                    core::slice::from_ref(byte)
                });
            }
        });
        put(CRLF);
    }

    /// Calls `put` with each piece of the text between the sign and CRLF.
    fn text(&self, put: &mut Put<'_>) {
        let (word, number, reason) = match *self {
            Self::Ingested { keys } => ("OK", Some(keys), ""),
            Self::Learned => ("OK", None, ""),
            Self::Outcome(Outcome::Committed) => ("COMMITTED", None, ""),
            Self::Outcome(Outcome::Aborted { fence }) => ("ABORTED", Some(fence.get()), ""),
            Self::Refused { code, reason } => (code.code(), None, reason),
        };
        put(word.as_bytes());
        let mut digits = [0; DIGITS];
        let tail = match number {
            Some(n) => decimal(n as usize, &mut digits),
            None => reason.as_bytes(),
        };
        if !tail.is_empty() {
            put(b" ");
            put(tail);
        }
    }
}

/// The reply's text, between its sign and CRLF (`OK 3`, `ABORTED 9`,
/// `STALE <reason>`): what a RESP library's simple-string or error writer
/// takes.
///
/// ```
/// use kevy_scope::{Epoch, Outcome, PeerReply};
/// let reply = PeerReply::Outcome(Outcome::Aborted { fence: Epoch::new(9) });
/// assert_eq!(reply.to_string(), "ABORTED 9");
/// ```
impl fmt::Display for PeerReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        self.text(&mut |piece| {
            if result.is_ok() {
                result = write!(f, "{}", Lossy(piece));
            }
        });
        result
    }
}

/// A refusal's code: the first word of a refused step's error line,
/// naming the [`MigrationError`] (`ERR` for the rest).
///
/// ```
/// use kevy_scope::{Epoch, MigrationError, Refusal};
/// let stale = Refusal::of(&MigrationError::Stale { known: Epoch::new(3) });
/// assert_eq!((stale, stale.code()), (Refusal::Stale, "STALE"));
/// assert_eq!(Refusal::from_code(b"NOTOWNER"), Some(Refusal::NotOwner));
/// assert_eq!(Refusal::NotOwner.error(), Some(MigrationError::NotOwner));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refusal {
    /// `STALE`: [`MigrationError::Stale`].
    Stale,
    /// `SENDERNOTOWNER`: [`MigrationError::SenderNotOwner`].
    SenderNotOwner,
    /// `WRONGTARGET`: [`MigrationError::WrongTarget`].
    WrongTarget,
    /// `NOTINFLIGHT`: [`MigrationError::NotInFlight`].
    NotInFlight,
    /// `QUARANTINED`: [`MigrationError::Quarantined`].
    Quarantined,
    /// `FULL`: [`MigrationError::Full`].
    Full,
    /// `NOTOWNER`: [`MigrationError::NotOwner`].
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
    /// # use kevy_scope::{MigrationError, Refusal};
    /// assert_eq!(Refusal::of(&MigrationError::SameNode), Refusal::Other);
    /// ```
    #[must_use]
    pub const fn of(error: &MigrationError) -> Self {
        match error {
            MigrationError::Stale { .. } => Self::Stale,
            MigrationError::SenderNotOwner => Self::SenderNotOwner,
            MigrationError::WrongTarget => Self::WrongTarget,
            MigrationError::NotInFlight => Self::NotInFlight,
            MigrationError::Quarantined => Self::Quarantined,
            MigrationError::Full { .. } => Self::Full,
            MigrationError::NotOwner => Self::NotOwner,
            _ => Self::Other,
        }
    }

    /// The code as the error line spells it.
    ///
    /// ```
    /// # use kevy_scope::Refusal;
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
    /// # use kevy_scope::Refusal;
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

    /// The [`MigrationError`] the code names, for the codes that carry all
    /// of it; `None` for `STALE` and `FULL` (whose epoch and capacity are
    /// only in the reason's words) and `ERR`.
    ///
    /// ```
    /// # use kevy_scope::{MigrationError, Refusal};
    /// assert_eq!(Refusal::Quarantined.error(), Some(MigrationError::Quarantined));
    /// assert_eq!(Refusal::Stale.error(), None);
    /// ```
    #[must_use]
    pub const fn error(self) -> Option<MigrationError> {
        match self {
            Self::SenderNotOwner => Some(MigrationError::SenderNotOwner),
            Self::WrongTarget => Some(MigrationError::WrongTarget),
            Self::NotInFlight => Some(MigrationError::NotInFlight),
            Self::Quarantined => Some(MigrationError::Quarantined),
            Self::NotOwner => Some(MigrationError::NotOwner),
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
/// use kevy_scope::{NodeIdError, PeerRequest, PeerWireError};
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
    /// The command has the wrong number of arguments.
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
    /// `ABORTED <fence>`.
    UnknownReply,
    /// The key count of `+OK <keys>` is not a plain decimal `u32`.
    BadCount,
    /// The error reply's code names no [`Refusal`].
    UnknownCode,
}

impl fmt::Display for PeerWireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownVerb => {
                f.write_str("not MOVE-SCOPE-INGEST, MOVE-SCOPE-OUTCOME or MOVE-SCOPE-NEWS")
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
            Self::UnknownReply => f.write_str("not OK, OK <keys>, COMMITTED or ABORTED <fence>"),
            Self::BadCount => f.write_str(
                "the key count is not a decimal u32 (digits only, no sign, no leading zero)",
            ),
            Self::UnknownCode => f.write_str("the error's code names no move refusal"),
        }
    }
}

impl core::error::Error for PeerWireError {}

/// A message did not fit the caller's buffer; nothing was written.
///
/// ```
/// use kevy_scope::{BufferTooSmall, PeerReply};
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

/// Where pieces of a message go: counted, or written.
type Put<'p> = dyn FnMut(&[u8]) + 'p;

/// Writes what `pieces` puts into `buf` if it all fits (counted first),
/// else leaves `buf` untouched.
fn encode_with(buf: &mut [u8], pieces: &dyn Fn(&mut Put<'_>)) -> Result<usize, BufferTooSmall> {
    let mut needed = 0;
    pieces(&mut |piece| needed += piece.len());
    let available = buf.len();
    let out = buf
        .get_mut(..needed)
        .ok_or(BufferTooSmall { needed, available })?;
    let mut slots = out.iter_mut();
    pieces(&mut |piece| {
        // The piece first: `zip` asks its first iterator first, so a
        // piece's end takes no slot.
        for (byte, slot) in piece.iter().zip(&mut slots) {
            *slot = *byte;
        }
    });
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

/// The longest `OUTCOME` or `NEWS` request, or `INGEST` up to its keys
/// ([`PeerRequest::encode_ingest_header`]), whose prefix is at most
/// [`MAX_PREFIX_LEN`] bytes: a [`MigrationTable`](crate::MigrationTable)'s
/// moves, their ids at most [`MAX_NODE_ID_LEN`] bytes.
///
/// ```
/// use kevy_scope::{Epoch, MAX_PEER_REQUEST_LEN, MoveId, PeerRequest};
/// let prefix = [b'p'; kevy_scope::MAX_PREFIX_LEN];
/// let id = "n".repeat(kevy_scope::MAX_NODE_ID_LEN);
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
    let news = "*6\r\n".len() + string(NEWS.len(), 2) + string("COMMITTED".len(), 1) + id;
    if ingest > news { ingest } else { news }
};

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
        let news = PeerRequest::News(Announcement {
            id,
            status: MoveStatus::Committed,
        })
        .encode(&mut buf)
        .unwrap();
        assert_eq!(header.max(news), MAX_PEER_REQUEST_LEN);
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
