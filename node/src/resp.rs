//! RESP2: client commands decoded by [`request`] (flat, bounded, no
//! recursion), frames encoded through the `redis-protocol` codec or
//! directly, and the replies of peers decoded for the node's own peer
//! client by a loop with a bounded stack of open arrays (no recursion);
//! a peer's answer to `MOVE-SCOPE-FENCE`, a list of news, is measured by
//! the crate's own reader ([`news_reply_extent`]).

#[path = "request.rs"]
pub mod request;

pub use request::Command;

use kevy_scope::wire::{NewsList, PeerWireError};
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::BorrowedFrame;

/// The longest line that is not a RESP array the node waits for (Redis's
/// `PROTO_INLINE_MAX_SIZE`): past it, `Line::TooLong`.
pub const MAX_INLINE: usize = 64 * 1024;

/// The first command in `buf`, which the node wrote itself (a data log's
/// record, an ingest's entry): [`request::decode_command`] bounded only
/// by the bytes present; `None` while incomplete.
pub fn decode_command(buf: &[u8]) -> Result<Option<Command>, String> {
    let unbounded = request::Bounds {
        max_args: usize::MAX,
        max_bulk_len: usize::MAX,
    };
    request::decode_command(buf, unbounded).map_err(|e| e.to_string())
}

/// What stands before the next command when it is not a RESP array.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Empty lines (`redis-cli --pipe` sends one before its last
    /// command), this many bytes.
    Blank(usize),
    /// An inline command (`PING\r\n`), this many bytes; refused.
    Inline(usize),
    /// The start of a line not yet complete.
    Incomplete,
    /// More than [`MAX_INLINE`] bytes and no line end: refused.
    TooLong,
}

/// The blank or inline line at the start of `buf`; `None` when `buf` is
/// empty or starts with a RESP array.
pub fn line_before_command(buf: &[u8]) -> Option<Line> {
    let first = *buf.first()?;
    if first == b'*' {
        return None;
    }
    if first == b'\r' || first == b'\n' {
        let n = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        return Some(Line::Blank(n));
    }
    Some(
        match buf.iter().take(MAX_INLINE).position(|&b| b == b'\n') {
            Some(end) => Line::Inline(end + 1),
            None if buf.len() >= MAX_INLINE => Line::TooLong,
            None => Line::Incomplete,
        },
    )
}

/// Appends `frame`, encoded, to `out`.
pub fn put(out: &mut Vec<u8>, frame: &BorrowedFrame<'_>) {
    let start = out.len();
    out.resize(start + frame.encode_len(false), 0);
    // Sized by `encode_len` above, so the encoder has the room it needs.
    let written = encode_borrowed(&mut out[start..], frame, false).unwrap_or(0);
    out.truncate(start + written);
}

/// Appends a command (an array of bulk strings) to `out`.
pub fn put_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let frames: Vec<BorrowedFrame<'_>> =
        args.iter().map(|a| BorrowedFrame::BulkString(a)).collect();
    put(out, &BorrowedFrame::Array(&frames));
}

/// Appends an array of bulk strings. Written directly: the hot path of
/// every logged change, where the codec's encoder (lengths through `f64`
/// logarithms, a zero-filled buffer) costs a tenth of a SET.
pub fn put_strings(out: &mut Vec<u8>, items: &[&[u8]]) {
    let mut digits = [0; 20];
    out.push(b'*');
    out.extend_from_slice(decimal(items.len() as u64, &mut digits));
    out.extend_from_slice(b"\r\n");
    for item in items {
        out.push(b'$');
        out.extend_from_slice(decimal(item.len() as u64, &mut digits));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(item);
        out.extend_from_slice(b"\r\n");
    }
}

/// `n` in decimal, in `buf`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// `+<text>`.
pub fn put_simple(out: &mut Vec<u8>, text: &str) {
    put(out, &BorrowedFrame::SimpleString(text.as_bytes()));
}

/// `-<text>`: `text` starts with the error code (`ERR`, `STALE`, ...).
pub fn put_error(out: &mut Vec<u8>, text: &str) {
    // One line: a reason that spans lines would break the frame.
    let line = text.replace(['\r', '\n'], " ");
    put(out, &BorrowedFrame::Error(&line));
}

/// A bulk string, or the null bulk for `None` (written directly, as
/// [`put_strings`]: the reply of every GET).
pub fn put_bulk(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => {
            let mut digits = [0; 20];
            out.push(b'$');
            out.extend_from_slice(decimal(v.len() as u64, &mut digits));
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        None => out.extend_from_slice(b"$-1\r\n"),
    }
}

/// `:<n>`.
pub fn put_int(out: &mut Vec<u8>, n: i64) {
    put(out, &BorrowedFrame::Integer(n));
}

/// The header of an array whose `len` elements the caller appends.
pub fn put_array_header(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(format!("*{len}\r\n").as_bytes());
}

/// A reply as the node's peer client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$...`, `None` for the null bulk.
    Bulk(Option<Vec<u8>>),
    /// `*...`
    Array(Vec<Reply>),
}

/// The deepest nesting of arrays a peer's reply may have (the node's own
/// replies nest two deep at most).
pub const MAX_REPLY_DEPTH: usize = 32;

/// The longest bulk string a peer's reply may carry (Redis's
/// `proto-max-bulk-len`).
pub const MAX_REPLY_BULK: usize = 512 * 1024 * 1024;

/// The first reply in `buf` and the bytes it takes; `None` while
/// incomplete. Built by a loop over the frames [`reply_extent`] found
/// complete, with a stack of the arrays still open (at most
/// [`MAX_REPLY_DEPTH`]): no recursion, and no array reserves more than
/// the elements its bytes hold.
pub fn decode_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(extent) = reply_extent(buf)? else {
        return Ok(None);
    };
    let complete = buf.get(..extent).ok_or("a reply longer than its bytes")?;
    let mut open: Vec<(Vec<Reply>, usize)> = Vec::new();
    let mut pos = 0;
    loop {
        let rest = complete.get(pos..).unwrap_or_default();
        let frame = reply_frame(rest)?.ok_or("a malformed reply")?;
        let bytes = rest.get(..frame.used).ok_or("a malformed reply")?;
        pos += frame.used;
        if frame.elements > 0 {
            open.push((Vec::with_capacity(frame.elements.min(64)), frame.elements));
            continue;
        }
        let mut value = leaf_value(bytes)?;
        // A complete value: it fills its array, which may complete its
        // own, and so on up.
        loop {
            let Some((items, left)) = open.last_mut() else {
                return Ok(Some((value, pos)));
            };
            items.push(value);
            *left -= 1;
            if *left > 0 {
                break;
            }
            let (items, _) = open.pop().ok_or("a malformed reply")?;
            value = Reply::Array(items);
        }
    }
}

/// The value of a frame [`reply_frame`] measured with no elements to
/// follow (an empty or null array at most).
fn leaf_value(bytes: &[u8]) -> Result<Reply, String> {
    let line_end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("a malformed reply")?;
    let line = bytes.get(1..line_end).unwrap_or_default();
    let text = || String::from_utf8_lossy(line).into_owned();
    Ok(match bytes.first() {
        Some(b'+') => Reply::Simple(text()),
        Some(b'-') => Reply::Error(text()),
        Some(b':') => Reply::Int(
            std::str::from_utf8(line)
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("a reply with a bad integer '{}'", line.escape_ascii()))?,
        ),
        Some(b'$') if line == b"-1" => Reply::Bulk(None),
        Some(b'$') => {
            let end = bytes.len().saturating_sub(2);
            Reply::Bulk(Some(
                bytes.get(line_end + 2..end).unwrap_or_default().to_vec(),
            ))
        }
        Some(b'*') if line == b"-1" => Reply::Bulk(None),
        Some(b'*') => Reply::Array(Vec::new()),
        _ => return Err("a malformed reply".into()),
    })
}

/// The length of the complete reply at the start of `buf`, found by a
/// loop over its frames with a count of the elements each open array
/// still needs (no recursion, nothing allocated); `None` while
/// incomplete. Refuses an unknown frame type, a malformed length, a bulk
/// longer than [`MAX_REPLY_BULK`], arrays nested deeper than
/// [`MAX_REPLY_DEPTH`].
pub fn reply_extent(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut open = [0usize; MAX_REPLY_DEPTH];
    let mut depth = 0;
    let mut pos = 0;
    loop {
        let Some(frame) = reply_frame(buf.get(pos..).unwrap_or_default())? else {
            return Ok(None);
        };
        pos += frame.used;
        if frame.array && depth >= MAX_REPLY_DEPTH {
            // An empty array counts as a level too.
            return Err(format!(
                "a reply nested deeper than {MAX_REPLY_DEPTH} arrays"
            ));
        }
        if frame.elements > 0 {
            let Some(slot) = open.get_mut(depth) else {
                return Err(format!(
                    "a reply nested deeper than {MAX_REPLY_DEPTH} arrays"
                ));
            };
            *slot = frame.elements;
            depth += 1;
            continue;
        }
        // A complete frame: it completes its array, which may complete
        // its own, and so on up.
        loop {
            if depth == 0 {
                return Ok(Some(pos));
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

/// The length of a peer's answer to `MOVE-SCOPE-FENCE` at the start of
/// `buf`: a list of news, checked whole and item by item by the crate
/// (`NewsList::decode`, at most `MAX_NEWS` items, no recursion), or a
/// one-line reply (a refusal, `-QUARANTINED ...`); `None` while
/// incomplete. The crate tells bytes that end early (read more) from
/// bytes no more bytes can mend (refused here, at once). Any other
/// reply is refused.
pub fn news_reply_extent(buf: &[u8]) -> Result<Option<usize>, String> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => match NewsList::decode(buf) {
            Ok((_, used)) => Ok(Some(used)),
            Err(PeerWireError::Incomplete) => Ok(None),
            Err(e) => Err(format!("a malformed list of news: {e}")),
        },
        Some(b'+' | b'-') => reply_extent(buf),
        Some(&kind) => Err(format!(
            "a reply of type '{}' where a list of news or a line belongs",
            kind.escape_ascii()
        )),
    }
}

/// One frame's header, as [`reply_extent`] walks them.
struct ReplyFrame {
    /// Bytes of the frame, but an array's elements.
    used: usize,
    /// Elements that follow (0 for all but a non-empty array).
    elements: usize,
    /// An array, empty or not (not the null array `*-1`).
    array: bool,
}

/// The frame at the start of `buf`; `None` while incomplete.
fn reply_frame(buf: &[u8]) -> Result<Option<ReplyFrame>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(format!("a reply of unknown type '{}'", kind.escape_ascii()));
    }
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return match buf.iter().position(|&b| b == b'\n') {
            Some(_) => Err("a reply line broken by a bare LF".into()),
            None => Ok(None),
        };
    };
    if buf
        .get(..line_end)
        .unwrap_or_default()
        .iter()
        .any(|&b| b == b'\r' || b == b'\n')
    {
        return Err("a reply line broken by a bare CR or LF".into());
    }
    let header = line_end + 2;
    let leaf = |used| {
        Ok(Some(ReplyFrame {
            used,
            elements: 0,
            array: false,
        }))
    };
    if matches!(kind, b'+' | b'-' | b':') {
        return leaf(header);
    }
    let digits = buf.get(1..line_end).unwrap_or_default();
    if digits == b"-1" {
        return leaf(header);
    }
    let n: usize = std::str::from_utf8(digits)
        .ok()
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("a reply with a bad length '{}'", digits.escape_ascii()))?;
    if kind == b'*' {
        return Ok(Some(ReplyFrame {
            used: header,
            elements: n,
            array: true,
        }));
    }
    if n > MAX_REPLY_BULK {
        return Err(format!("a reply's bulk of {n} bytes"));
    }
    let used = header + n + 2;
    if buf.len() < used {
        return Ok(None);
    }
    if buf.get(used - 2..used) != Some(b"\r\n".as_slice()) {
        return Err("a reply's bulk not ended by CRLF".into());
    }
    leaf(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_the_fuzzer_found_decode_as_deep_as_they_were_checked() {
        // A simple string broken by a bare LF let the codec see other
        // frames than the depth check had; `*00` was an empty array to
        // the check and an array header to the builder.
        let broken = b"*2\r\n*2\r\n+\x01+\n*2\r\n+\x01\r\n";
        assert!(decode_reply(broken).is_err());
        assert_eq!(
            decode_reply(b"*2\r\n*00\r\n+x\r\n"),
            Ok(Some((
                Reply::Array(vec![Reply::Array(Vec::new()), Reply::Simple("x".into())]),
                13
            )))
        );
        assert!(decode_reply(b"$2\r\nabXY").is_err());
        // Empty arrays count as a level: 32 open arrays and an empty one
        // are 33 deep.
        let mut deep = b"*1\r\n".repeat(MAX_REPLY_DEPTH);
        deep.extend_from_slice(b"*0\r\n");
        assert!(decode_reply(&deep).is_err());
        let mut at_limit = b"*1\r\n".repeat(MAX_REPLY_DEPTH - 1);
        at_limit.extend_from_slice(b"*0\r\n");
        assert!(matches!(decode_reply(&at_limit), Ok(Some(_))));
    }

    #[test]
    fn a_list_of_news_is_read_whole_or_refused_at_once() {
        use kevy_scope::{
            Epoch,
            moves::{Announcement, MoveId, MoveStatus},
            wire::{encode_news, news_len},
        };
        let id = MoveId {
            prefix: b"p:\r\n",
            from: "n1",
            to: "n2",
            epoch: Epoch::new(7),
        };
        let news = [
            Announcement {
                id,
                status: MoveStatus::Committed,
            },
            Announcement {
                id: MoveId {
                    epoch: Epoch::new(9),
                    ..id
                },
                status: MoveStatus::InFlight,
            },
        ];
        let mut list = vec![0; news_len(news)];
        encode_news(news, &mut list).unwrap();
        for cut in 0..list.len() {
            assert_eq!(news_reply_extent(&list[..cut]), Ok(None), "{cut}");
        }
        let mut more = list.clone();
        more.extend_from_slice(b"+OK\r\n");
        assert_eq!(news_reply_extent(&more), Ok(Some(list.len())));
        // The same extent as the generic reader's.
        assert_eq!(reply_extent(&more), Ok(Some(list.len())));
        assert_eq!(news_reply_extent(b"*0\r\n"), Ok(Some(4)));
        // A refusal is a line.
        let refusal = b"-QUARANTINED this node lost its records\r\n";
        assert_eq!(news_reply_extent(refusal), Ok(Some(refusal.len())));
        assert_eq!(news_reply_extent(&refusal[..9]), Ok(None));
        // Broken: refused at once, whatever follows.
        for bad in [
            &b"*1\r\n*4\r\n"[..],
            b"*1\r\n+OK\r\n",
            b"*65536\r\n",
            b"*01\r\n",
            b"*1\r\n*5\r\n$8\r\nINFLIGHX\r\n",
            b"$3\r\nabc\r\n",
            b":1\r\n",
        ] {
            assert!(news_reply_extent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_command_round_trips() {
        let bounds = request::Bounds {
            max_args: 8,
            max_bulk_len: 8,
        };
        let mut buf = Vec::new();
        put_command(&mut buf, &[b"SET", b"k", b"v\r\n"]);
        let (args, used) = request::decode_command(&buf, bounds).unwrap().unwrap();
        assert_eq!(used, buf.len());
        let args: Vec<&[u8]> = args.into_iter().map(|r| &buf[r]).collect();
        assert_eq!(args, [&b"SET"[..], b"k", b"v\r\n"]);
        assert_eq!(
            request::decode_command(&buf[..buf.len() - 1], bounds).unwrap(),
            None
        );
        let mut ours = Vec::new();
        put_strings(&mut ours, &args);
        assert_eq!(ours, buf);
    }

    #[test]
    fn blank_and_inline_lines_are_told_apart() {
        assert_eq!(line_before_command(b"\r\n*1\r\n"), Some(Line::Blank(2)));
        assert_eq!(line_before_command(b"PING\r\n*1"), Some(Line::Inline(6)));
        assert_eq!(line_before_command(b"PIN"), Some(Line::Incomplete));
        assert_eq!(line_before_command(b"*1\r\n"), None);
        assert_eq!(line_before_command(b""), None);
        let long = vec![b'A'; MAX_INLINE];
        assert_eq!(
            line_before_command(&long[..MAX_INLINE - 1]),
            Some(Line::Incomplete)
        );
        assert_eq!(line_before_command(&long), Some(Line::TooLong));
    }

    #[test]
    fn strings_encode_as_the_codec_does() {
        let items: [&[u8]; 3] = [b"SET", b"", &[b'x'; 300]];
        let (mut ours, mut codecs) = (Vec::new(), Vec::new());
        put_strings(&mut ours, &items);
        put_command(&mut codecs, &items);
        assert_eq!(ours, codecs);
        let mut buf = [0; 20];
        for n in [0, 7, 10, 1234, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn replies_round_trip() {
        let mut buf = Vec::new();
        put_simple(&mut buf, "OK 3");
        put_error(&mut buf, "STALE two\r\nlines");
        put_bulk(&mut buf, None);
        let (a, n) = decode_reply(&buf).unwrap().unwrap();
        assert_eq!(a, Reply::Simple("OK 3".into()));
        let (b, m) = decode_reply(&buf[n..]).unwrap().unwrap();
        assert_eq!(b, Reply::Error("STALE two  lines".into()));
        assert_eq!(
            decode_reply(&buf[n + m..]).unwrap().unwrap().0,
            Reply::Bulk(None)
        );
    }

    #[test]
    fn a_reply_ten_thousand_arrays_deep_is_refused_not_a_crash() {
        let mut buf = b"*1\r\n".repeat(10_000);
        buf.extend_from_slice(b"+OK\r\n");
        let refused = decode_reply(&buf).unwrap_err();
        assert!(refused.contains("deeper than 32"), "{refused}");
        // Refused as soon as the 33rd level opens.
        assert!(decode_reply(&b"*1\r\n".repeat(MAX_REPLY_DEPTH + 1)).is_err());
        assert_eq!(decode_reply(&b"*1\r\n".repeat(MAX_REPLY_DEPTH)), Ok(None));
    }

    #[test]
    fn a_reply_as_deep_as_allowed_decodes() {
        let mut buf = b"*2\r\n".repeat(MAX_REPLY_DEPTH);
        buf.extend_from_slice(b"+a\r\n");
        buf.extend_from_slice(&b":1\r\n".repeat(MAX_REPLY_DEPTH));
        buf.extend_from_slice(b"$-1\r\n*0\r\n");
        let (mut reply, used) = decode_reply(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len() - b"$-1\r\n*0\r\n".len());
        for _ in 1..MAX_REPLY_DEPTH {
            let Reply::Array(mut items) = reply else {
                panic!("an array")
            };
            assert_eq!(items.pop(), Some(Reply::Int(1)));
            reply = items.remove(0);
        }
        assert_eq!(
            reply,
            Reply::Array(vec![Reply::Simple("a".into()), Reply::Int(1)])
        );
    }

    #[test]
    fn a_reply_is_none_until_complete_and_its_counts_reserve_nothing() {
        let mut buf = Vec::new();
        put_array_header(&mut buf, 3);
        put_bulk(&mut buf, Some(b"x\r\ny"));
        put_int(&mut buf, -7);
        put_array_header(&mut buf, 1);
        put_error(&mut buf, "ERR e");
        for end in 0..buf.len() {
            assert_eq!(decode_reply(&buf[..end]), Ok(None), "{end}");
        }
        assert_eq!(decode_reply(&buf).unwrap().unwrap().1, buf.len());
        assert_eq!(decode_reply(b"*9223372036854775807\r\n:1\r\n"), Ok(None));
        assert_eq!(decode_reply(b"$536870912\r\nabc"), Ok(None));
        assert!(decode_reply(b"!").is_err(), "refused before its line ends");
        for bad in [
            &b"$536870913\r\n"[..],
            b"*-2\r\n",
            b"$x\r\n",
            b"!1\r\n",
            b":x\r\n",
        ] {
            assert!(decode_reply(bad).is_err(), "{bad:?}");
        }
    }
}
