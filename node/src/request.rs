//! A client's command off the wire: a flat RESP array of bulk strings,
//! `*<n>\r\n` then `n` times `$<len>\r\n<bytes>\r\n`, decoded in a loop
//! (no recursion) and without trusting a declared size.
//!
//! Invariants, each one checked by the fuzz target `node/fuzz` (which
//! includes this file by path, so it depends on nothing in the crate):
//!
//! - Nothing is allocated by a declared count or length: an argument's
//!   range is pushed once the argument is complete, so the memory a
//!   command holds follows the bytes that arrived (at least 6 per
//!   argument, `$0\r\n\r\n`).
//! - A count above [`Bounds::max_args`] or a length above
//!   [`Bounds::max_bulk_len`] is refused as soon as its digits show it,
//!   before the bytes it announces arrive. Any other byte that cannot
//!   start or continue a command is refused as soon as it arrives: a
//!   nested array, a negative or non-decimal length, a missing CRLF.
//! - Lengths are canonical decimal (`0`, or digits without a leading
//!   zero), so a decoded command re-encodes to exactly the bytes it took.
//! - Every argument's range lies inside the bytes taken, and the bytes
//!   taken never exceed the input.

use core::fmt;
use core::ops::Range;

/// What one command may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The most arguments (`*<n>`).
    pub max_args: usize,
    /// The longest argument, in bytes (`$<len>`).
    pub max_bulk_len: usize,
}

/// Why the bytes are not a command. The connection answers
/// `-ERR Protocol error: <this>` and closes: what follows cannot be
/// framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A command must start with `*`; this byte came instead.
    ExpectedArray(u8),
    /// An argument must start with `$`; this byte came instead.
    ExpectedBulk(u8),
    /// The argument count is negative, empty or not decimal.
    InvalidMultibulkLength,
    /// The argument count exceeds this limit.
    TooManyArgs(usize),
    /// An argument's length is negative, empty or not decimal.
    InvalidBulkLength,
    /// An argument's length exceeds this limit.
    BulkTooLong(usize),
    /// An argument's bytes are not followed by `\r\n`.
    MissingCrlf,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ExpectedArray(b) => write!(f, "expected '*', got '{}'", b.escape_ascii()),
            Self::ExpectedBulk(b'*') => f.write_str(
                "expected '$', got '*': a command is an array of bulk strings, not of arrays",
            ),
            Self::ExpectedBulk(b) => write!(f, "expected '$', got '{}'", b.escape_ascii()),
            Self::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            Self::TooManyArgs(limit) => {
                write!(f, "invalid multibulk length: more than {limit} arguments")
            }
            Self::InvalidBulkLength => f.write_str("invalid bulk length"),
            Self::BulkTooLong(limit) => {
                write!(f, "invalid bulk length: longer than {limit} bytes")
            }
            Self::MissingCrlf => f.write_str("expected CRLF after a bulk string's bytes"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A decoded command: its arguments as ranges of the input, and the bytes
/// it took from the input's start.
pub type Command = (Vec<Range<usize>>, usize);

/// The first command in `buf`; `Ok(None)` while it is incomplete (and
/// nothing seen so far is wrong).
pub fn decode_command(buf: &[u8], bounds: Bounds) -> Result<Option<Command>, ProtocolError> {
    Decoder::default().decode(buf, bounds)
}

/// One command's decoding, resumed where the last call stopped, so a
/// command arriving in many reads is scanned once, not once per read.
///
/// Every call between two results (a command or an error) must pass the
/// same command's bytes from its start, each time at least as many as
/// before and the earlier ones unchanged; each call then returns what
/// [`decode_command`] returns on that input. After a result the decoder
/// starts afresh. (Passed fewer bytes than it has decoded, it starts
/// afresh too; it never panics.)
#[derive(Debug, Default)]
pub struct Decoder {
    /// The declared argument count, once its header is complete.
    declared: Option<usize>,
    /// The bytes decoded so far: the header and the complete arguments.
    taken: usize,
    /// The complete arguments, as ranges of the input.
    args: Vec<Range<usize>>,
}

impl Decoder {
    /// The command at the start of `buf`, as [`decode_command`].
    pub fn decode(&mut self, buf: &[u8], bounds: Bounds) -> Result<Option<Command>, ProtocolError> {
        if self.taken > buf.len() {
            *self = Self::default();
        }
        let result = self.resume(buf, bounds);
        if !matches!(result, Ok(None)) {
            *self = Self::default();
        }
        result
    }

    /// Decodes from `self.taken` on; `Ok(None)` keeps the progress.
    fn resume(&mut self, buf: &[u8], bounds: Bounds) -> Result<Option<Command>, ProtocolError> {
        let declared = match self.declared {
            Some(n) => n,
            None => match length(buf, b'*', bounds.max_args) {
                Ok(None) => return Ok(None),
                Ok(Some((n, header))) => {
                    self.declared = Some(n);
                    self.taken = header;
                    n
                }
                Err(Bad::Marker(b)) => return Err(ProtocolError::ExpectedArray(b)),
                Err(Bad::Invalid) => return Err(ProtocolError::InvalidMultibulkLength),
                Err(Bad::AboveLimit) => return Err(ProtocolError::TooManyArgs(bounds.max_args)),
            },
        };
        while self.args.len() < declared {
            let rest = buf.get(self.taken..).unwrap_or_default();
            let Some((range, used)) = bulk(rest, bounds.max_bulk_len)? else {
                return Ok(None);
            };
            self.args
                .push(self.taken + range.start..self.taken + range.end);
            self.taken += used;
        }
        Ok(Some((core::mem::take(&mut self.args), self.taken)))
    }
}

/// What is wrong with a `*<n>\r\n` or `$<len>\r\n` line.
enum Bad {
    /// The line does not start with the marker but with this byte.
    Marker(u8),
    /// Not canonical decimal digits then CRLF.
    Invalid,
    /// The digits so far exceed the limit.
    AboveLimit,
}

/// The value and the length of the `<marker><digits>\r\n` line at the
/// start of `buf`, the value at most `max`; `Ok(None)` while the line is
/// incomplete and right so far. At most 22 bytes are looked at (a
/// `usize` has at most 20 digits), whatever follows.
fn length(buf: &[u8], marker: u8, max: usize) -> Result<Option<(usize, usize)>, Bad> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != marker {
        return Err(Bad::Marker(first));
    }
    let mut value: usize = 0;
    for (i, &b) in buf.iter().enumerate().skip(1) {
        match b {
            // A digit after a leading zero: not canonical.
            b'0'..=b'9' if i > 1 && value == 0 => return Err(Bad::Invalid),
            b'0'..=b'9' => {
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(usize::from(b - b'0')))
                    .filter(|&v| v <= max)
                    .ok_or(Bad::AboveLimit)?;
            }
            b'\r' if i > 1 => {
                return match buf.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((value, i + 2))),
                    Some(_) => Err(Bad::Invalid),
                };
            }
            _ => return Err(Bad::Invalid),
        }
    }
    Ok(None)
}

/// The argument `$<len>\r\n<bytes>\r\n` at the start of `buf`: the range
/// of its bytes and the length of the whole; `Ok(None)` while incomplete.
fn bulk(buf: &[u8], max: usize) -> Result<Option<(Range<usize>, usize)>, ProtocolError> {
    let (len, header) = match length(buf, b'$', max) {
        Ok(None) => return Ok(None),
        Ok(Some(line)) => line,
        Err(Bad::Marker(b)) => return Err(ProtocolError::ExpectedBulk(b)),
        Err(Bad::Invalid) => return Err(ProtocolError::InvalidBulkLength),
        Err(Bad::AboveLimit) => return Err(ProtocolError::BulkTooLong(max)),
    };
    // `len + header + 2` overflows only for a limit near `usize::MAX`.
    let end = header
        .checked_add(len)
        .filter(|end| end.checked_add(2).is_some())
        .ok_or(ProtocolError::BulkTooLong(max))?;
    match (buf.get(end), buf.get(end + 1)) {
        (Some(b'\r'), Some(b'\n')) => Ok(Some((header..end, end + 2))),
        (None, _) | (Some(b'\r'), None) => Ok(None),
        _ => Err(ProtocolError::MissingCrlf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        max_args: 1024 * 1024,
        max_bulk_len: 512 * 1024 * 1024,
    };

    /// `args` as a command, written here as the RESP spec puts it.
    fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn args<'a>(buf: &'a [u8], command: &Command) -> Vec<&'a [u8]> {
        command.0.iter().map(|r| &buf[r.clone()]).collect()
    }

    #[test]
    fn a_command_decodes_and_re_encodes() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[b"SET", b"k", b"v\r\n", b""]);
        buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let command = decode_command(&buf, BOUNDS).unwrap().unwrap();
        assert_eq!(args(&buf, &command), [&b"SET"[..], b"k", b"v\r\n", b""]);
        let mut again = Vec::new();
        encode_command(&mut again, &args(&buf, &command));
        assert_eq!(again, buf[..command.1]);
        assert_eq!(decode_command(b"*0\r\n", BOUNDS), Ok(Some((vec![], 4))));
    }

    #[test]
    fn nesting_ten_thousand_deep_is_refused_at_the_second_array() {
        let mut buf = b"*1\r\n".repeat(10_000);
        buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let refused = decode_command(&buf, BOUNDS).unwrap_err();
        assert_eq!(refused, ProtocolError::ExpectedBulk(b'*'));
        assert!(refused.to_string().contains("not of arrays"), "{refused}");
        // As soon as the nested array's marker arrives.
        assert_eq!(
            decode_command(b"*1\r\n*", BOUNDS),
            Err(ProtocolError::ExpectedBulk(b'*'))
        );
    }

    #[test]
    fn a_huge_bulk_header_is_refused_before_its_bytes() {
        let refused = decode_command(b"*1\r\n$1073741824\r\n", BOUNDS);
        assert_eq!(
            refused,
            Err(ProtocolError::BulkTooLong(BOUNDS.max_bulk_len))
        );
        // Even before its CRLF: the digits already exceed the limit.
        assert_eq!(
            decode_command(b"*1\r\n$5368709120", BOUNDS),
            Err(ProtocolError::BulkTooLong(BOUNDS.max_bulk_len))
        );
        let small = Bounds {
            max_bulk_len: 10,
            ..BOUNDS
        };
        assert_eq!(decode_command(b"*1\r\n$10\r\n", small), Ok(None));
        assert_eq!(
            decode_command(b"*1\r\n$11", small),
            Err(ProtocolError::BulkTooLong(10))
        );
        assert_eq!(
            decode_command(b"*1\r\n$99999999999999999999999", BOUNDS),
            Err(ProtocolError::BulkTooLong(BOUNDS.max_bulk_len))
        );
    }

    #[test]
    fn too_many_args_are_refused_at_the_header() {
        let small = Bounds {
            max_args: 3,
            ..BOUNDS
        };
        assert_eq!(decode_command(b"*3\r\n", small), Ok(None));
        assert_eq!(
            decode_command(b"*4", small),
            Err(ProtocolError::TooManyArgs(3))
        );
        assert_eq!(
            decode_command(b"*1048577\r\n", BOUNDS),
            Err(ProtocolError::TooManyArgs(BOUNDS.max_args))
        );
        assert!(
            ProtocolError::TooManyArgs(3)
                .to_string()
                .contains("more than 3 arguments")
        );
    }

    #[test]
    fn malformed_lengths_and_frames_are_refused_at_once() {
        let refusals: [(&[u8], ProtocolError); 12] = [
            (b"*-1\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*01\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*+1\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*1x", ProtocolError::InvalidMultibulkLength),
            (b"*1\rx", ProtocolError::InvalidMultibulkLength),
            (b"*1\r\n$-1\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$ 3\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n:3\r\n", ProtocolError::ExpectedBulk(b':')),
            (b"*1\r\n$3\r\nabcd", ProtocolError::MissingCrlf),
            (b"*1\r\n$3\r\nabc\rX", ProtocolError::MissingCrlf),
            (b"PING\r\n", ProtocolError::ExpectedArray(b'P')),
        ];
        for (input, error) in refusals {
            assert_eq!(decode_command(input, BOUNDS), Err(error), "{input:?}");
        }
        assert_eq!(
            ProtocolError::ExpectedArray(0xff).to_string(),
            "expected '*', got '\\xff'"
        );
    }

    #[test]
    fn a_partial_command_is_none() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[b"SET", b"key", b"value"]);
        for end in 0..buf.len() {
            assert_eq!(decode_command(&buf[..end], BOUNDS), Ok(None), "{end}");
        }
        assert!(decode_command(&buf, BOUNDS).unwrap().is_some());
    }

    #[test]
    fn fragments_at_every_split_point_decode_as_the_whole() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[b"MSET", b"a", b"1\r\n", b"", b"0123456789"]);
        let whole = decode_command(&buf, BOUNDS).unwrap().unwrap();
        for first in 0..buf.len() {
            for second in first..buf.len() {
                let mut decoder = Decoder::default();
                for end in [first, second] {
                    assert_eq!(decoder.decode(&buf[..end], BOUNDS), Ok(None));
                }
                let command = decoder.decode(&buf, BOUNDS).unwrap().unwrap();
                assert_eq!(command, whole, "split at {first}, {second}");
            }
        }
    }

    #[test]
    fn memory_follows_the_bytes_not_the_declared_sizes() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(b"*1048576\r\n$0\r\n\r\n", BOUNDS), Ok(None));
        assert_eq!(decoder.args.len(), 1);
        assert!(decoder.args.capacity() < 1024);
    }

    #[test]
    fn the_decoder_starts_afresh_after_a_result_or_a_shorter_input() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(b"*2\r\n$1\r\na\r\n", BOUNDS), Ok(None));
        assert_eq!(decoder.decode(b"*1\r\n", BOUNDS), Ok(None));
        let done = decoder
            .decode(b"*1\r\n$1\r\nb\r\n", BOUNDS)
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.0.as_slice(), done.1),
            (&[Range { start: 8, end: 9 }][..], 11)
        );
        assert_eq!(
            decoder.decode(b"$", BOUNDS),
            Err(ProtocolError::ExpectedArray(b'$'))
        );
        assert_eq!(decoder.decode(b"*0\r\n", BOUNDS), Ok(Some((vec![], 4))));
    }
}
