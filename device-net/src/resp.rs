//! A bounded RESP2 request parser: multibulk arrays (`*2\r\n$3\r\nGET\r\n...`,
//! what redis-cli and redis-benchmark send) and inline commands
//! (`PING\r\n`, what a person types into nc or telnet).
//!
//! It never panics and never allocates: every length is checked against
//! the buffer before it is used, a request has at most [`MAX_ARGS`]
//! arguments and at most [`MAX_REQUEST`] bytes, and anything else is
//! [`Parsed::Invalid`] with a message for the `-ERR Protocol error: ...`
//! reply. Inline commands are split on spaces and tabs (no quoting).

/// The longest request accepted, in bytes (the per-connection buffer).
pub const MAX_REQUEST: usize = 1536;
/// The most arguments a request may have (command name included).
pub const MAX_ARGS: usize = 8;
/// The longest `*<n>` or `$<n>` header line, CRLF included: 10 digits, a
/// sign, the type byte and CRLF.
const MAX_HEADER: usize = 14;

/// One request: its arguments, the command name first.
#[derive(Debug)]
pub struct Request<'a> {
    args: [&'a [u8]; MAX_ARGS],
    argc: usize,
}

impl<'a> Request<'a> {
    fn new() -> Self {
        Self {
            args: [&[]; MAX_ARGS],
            argc: 0,
        }
    }

    fn push(&mut self, arg: &'a [u8]) -> Result<(), &'static str> {
        let slot = self.args.get_mut(self.argc).ok_or(TOO_MANY_ARGS)?;
        *slot = arg;
        self.argc += 1;
        Ok(())
    }

    /// The arguments, the command name first (never empty).
    pub fn args(&self) -> &[&'a [u8]] {
        self.args.get(..self.argc).unwrap_or(&[])
    }
}

/// What the start of a buffer holds.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// Not a whole request yet: read more (the caller bounds the buffer).
    Incomplete,
    /// Nothing to answer (`*0`, `*-1`, a blank inline line); drop this
    /// many bytes.
    Empty(usize),
    /// A request, and how many bytes it took.
    Request(Request<'a>, usize),
    /// Not RESP: the reason. The connection cannot be resynchronised.
    Invalid(&'static str),
}

const TOO_MANY_ARGS: &str = "too many arguments";

/// Parses the request at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => multibulk(buf),
        Some(_) => inline(buf),
    }
}

fn multibulk(buf: &[u8]) -> Parsed<'_> {
    let (count, mut at) = match header(buf, 0, b'*') {
        Ok(Some(found)) => found,
        Ok(None) => return Parsed::Incomplete,
        Err(_) => return Parsed::Invalid("invalid multibulk length"),
    };
    if count <= 0 {
        return Parsed::Empty(at);
    }
    if count > MAX_ARGS as i64 {
        return Parsed::Invalid(TOO_MANY_ARGS);
    }
    let mut request = Request::new();
    for _ in 0..count {
        let (len, data) = match header(buf, at, b'$') {
            Ok(Some(found)) => found,
            Ok(None) => return Parsed::Incomplete,
            Err(e) => return Parsed::Invalid(e),
        };
        if len < 0 || len > MAX_REQUEST as i64 {
            return Parsed::Invalid("invalid bulk length");
        }
        // len <= MAX_REQUEST: no overflow.
        let end = data + len as usize;
        let Some(tail) = buf.get(end..end + 2) else {
            return Parsed::Incomplete;
        };
        if tail != b"\r\n" {
            return Parsed::Invalid("bulk string not terminated by CRLF");
        }
        let Some(arg) = buf.get(data..end) else {
            return Parsed::Incomplete;
        };
        if let Err(e) = request.push(arg) {
            return Parsed::Invalid(e);
        }
        at = end + 2;
    }
    Parsed::Request(request, at)
}

/// Reads `<kind><integer>\r\n` at `at`: the integer and where the line
/// ends; `Ok(None)` when the line is not complete yet.
fn header(buf: &[u8], at: usize, kind: u8) -> Result<Option<(i64, usize)>, &'static str> {
    let rest = buf.get(at..).unwrap_or(&[]);
    match rest.first() {
        None => return Ok(None),
        Some(&b) if b != kind => {
            return Err(if kind == b'$' {
                "expected '$'"
            } else {
                "expected '*'"
            });
        }
        Some(_) => {}
    }
    let window = rest.get(..MAX_HEADER).unwrap_or(rest);
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        return if window.len() == MAX_HEADER || window.contains(&b'\n') {
            Err("invalid length")
        } else {
            Ok(None)
        };
    };
    let digits = window.get(1..cr).unwrap_or(&[]);
    let n = integer(digits).ok_or("invalid length")?;
    Ok(Some((n, at + cr + 2)))
}

/// A decimal integer with an optional minus sign, at most 10 digits.
fn integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if negative { -n } else { n })
}

fn inline(buf: &[u8]) -> Parsed<'_> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return Parsed::Incomplete;
    };
    let line = buf.get(..nl).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut request = Request::new();
    for word in line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
    {
        if let Err(e) = request.push(word) {
            return Parsed::Invalid(e);
        }
    }
    if request.argc == 0 {
        Parsed::Empty(nl + 1)
    } else {
        Parsed::Request(request, nl + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
        match parse(buf) {
            Parsed::Request(r, n) => (r.args().iter().map(|a| a.to_vec()).collect(), n),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let set = b"*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$1\r\nx\r\n";
        let (a, n) = args(set);
        assert_eq!(a, [&b"SET"[..], b"app:billing:1", b"x"]);
        assert_eq!(n, set.len());
        let (a, n) = args(b"PING\r\nrest");
        assert_eq!((a, n), (vec![b"PING".to_vec()], 6));
        let (a, _) = args(b"  SET\tk  v\n");
        assert_eq!(a, [&b"SET"[..], b"k", b"v"]);
        assert!(matches!(parse(b"*0\r\n"), Parsed::Empty(4)));
        assert!(matches!(parse(b"*-1\r\n"), Parsed::Empty(5)));
        assert!(matches!(parse(b"\r\n"), Parsed::Empty(2)));
        // An empty bulk string is an argument.
        let (a, _) = args(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
        assert_eq!(a, [&b"ECHO"[..], b""]);
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let set = b"*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$1\r\nx\r\n";
        for end in 0..set.len() {
            assert!(matches!(parse(&set[..end]), Parsed::Incomplete), "{end}");
        }
    }

    #[test]
    fn malformed_input_is_invalid() {
        for bad in [
            &b"*1\r\n$abc\r\n"[..],
            b"*x\r\n",
            b"*1\r\n+PING\r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$99999999999\r\n",
            b"*1\r\n$1537\r\n",
            b"*9\r\n",
            b"*12345678901234567890\r\n",
            b"*1\n",
            b"a b c d e f g h i\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
    }

    /// Random bytes and random mutations of valid requests never panic,
    /// and whatever is consumed lies within the buffer.
    #[test]
    fn no_input_panics() {
        let seeds: [&[u8]; 3] = [
            b"*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$1\r\nx\r\n",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"PING hello\r\n",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200_000 {
            let mut buf: Vec<u8> = if round % 2 == 0 {
                seeds[(next() % 3) as usize].to_vec()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            for _ in 0..next() % 4 {
                if buf.is_empty() {
                    break;
                }
                let at = (next() as usize) % buf.len();
                let pick = b"*$\r\n-0123456789 x";
                buf[at] = pick[(next() as usize) % pick.len()];
            }
            buf.truncate((next() as usize) % (buf.len() + 1));
            match parse(&buf) {
                Parsed::Request(r, n) => {
                    assert!(n <= buf.len() && !r.args().is_empty());
                }
                Parsed::Empty(n) => assert!(n > 0 && n <= buf.len()),
                Parsed::Incomplete | Parsed::Invalid(_) => {}
            }
        }
    }
}
