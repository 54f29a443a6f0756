//! RESP2 through the `redis-protocol` codec: commands decoded in place
//! from a read buffer, frames encoded into a byte vector, replies decoded
//! for the node's own peer client.

use std::ops::Range;

use redis_protocol::resp2::decode::{decode, decode_range};
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame, RangeFrame};

/// A decoded command: its arguments as ranges of the buffer, and the
/// bytes it took.
pub type Command = (Vec<Range<usize>>, usize);

/// The first command in `buf`; `None` while it is incomplete.
pub fn decode_command(buf: &[u8]) -> Result<Option<Command>, String> {
    let Some((frame, used)) = decode_range(buf).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let RangeFrame::Array(items) = frame else {
        return Err("expected an array of bulk strings".into());
    };
    let mut args = Vec::with_capacity(items.len());
    for item in items {
        match item {
            RangeFrame::BulkString((start, end)) => args.push(start..end),
            _ => return Err("expected an array of bulk strings".into()),
        }
    }
    Ok(Some((args, used)))
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
    Some(match buf.iter().position(|&b| b == b'\n') {
        Some(end) => Line::Inline(end + 1),
        None => Line::Incomplete,
    })
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

impl From<OwnedFrame> for Reply {
    fn from(frame: OwnedFrame) -> Self {
        match frame {
            OwnedFrame::SimpleString(s) => Reply::Simple(String::from_utf8_lossy(&s).into_owned()),
            OwnedFrame::Error(e) => Reply::Error(e),
            OwnedFrame::Integer(n) => Reply::Int(n),
            OwnedFrame::BulkString(b) => Reply::Bulk(Some(b)),
            OwnedFrame::Array(items) => Reply::Array(items.into_iter().map(Reply::from).collect()),
            OwnedFrame::Null => Reply::Bulk(None),
        }
    }
}

/// The first reply in `buf` and the bytes it takes; `None` while incomplete.
pub fn decode_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    Ok(decode(buf)
        .map_err(|e| e.to_string())?
        .map(|(frame, used)| (Reply::from(frame), used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_round_trips() {
        let mut buf = Vec::new();
        put_command(&mut buf, &[b"SET", b"k", b"v\r\n"]);
        let (args, used) = decode_command(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        let args: Vec<&[u8]> = args.into_iter().map(|r| &buf[r]).collect();
        assert_eq!(args, [&b"SET"[..], b"k", b"v\r\n"]);
        assert_eq!(decode_command(&buf[..buf.len() - 1]).unwrap(), None);
    }

    #[test]
    fn blank_and_inline_lines_are_told_apart() {
        assert_eq!(line_before_command(b"\r\n*1\r\n"), Some(Line::Blank(2)));
        assert_eq!(line_before_command(b"PING\r\n*1"), Some(Line::Inline(6)));
        assert_eq!(line_before_command(b"PIN"), Some(Line::Incomplete));
        assert_eq!(line_before_command(b"*1\r\n"), None);
        assert_eq!(line_before_command(b""), None);
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
}
