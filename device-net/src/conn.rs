//! One client connection's request buffer: bytes in, one reply out at a
//! time, with no socket in sight (the firmware moves the bytes between
//! this and its smoltcp socket; the host tests drive it directly).

use crate::commands::{After, Reply};
use crate::meter;
use crate::resp::{MAX_REQUEST, Parsed, Request, parse};

/// The bytes received and not yet answered, at most [`MAX_REQUEST`].
pub struct Conn {
    buf: [u8; MAX_REQUEST],
    len: usize,
    closing: bool,
}

impl Default for Conn {
    fn default() -> Self {
        Self::new()
    }
}

impl Conn {
    /// An idle connection (`const`: it can live in a `static`).
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_REQUEST],
            len: 0,
            closing: false,
        }
    }

    /// Forgets everything: a new client.
    pub fn reset(&mut self) {
        self.len = 0;
        self.closing = false;
    }

    /// Whether the last reply ended the conversation: whatever the client
    /// still sends is dropped.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Where the next bytes go (empty when the buffer is full).
    pub fn space(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or(&mut [])
    }

    /// `n` bytes were written to [`Conn::space`].
    pub fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(MAX_REQUEST);
    }

    /// The reply to the next whole request, written to `out`, with what
    /// to do after it; `None` when no whole request is buffered. A
    /// protocol error or a request over [`MAX_REQUEST`] bytes is answered
    /// `-ERR Protocol error: ...` and closes the connection.
    pub fn step(
        &mut self,
        out: &mut Reply,
        mut execute: impl FnMut(&Request<'_>, &mut Reply) -> After,
    ) -> Option<After> {
        if self.closing {
            self.len = 0;
            return None;
        }
        loop {
            let buffered = self.buf.get(..self.len).unwrap_or(&[]);
            let parsing = meter::now();
            let parsed = parse(buffered);
            meter::since(meter::Phase::Parse, parsing);
            let (after, used) = match parsed {
                Parsed::Incomplete if self.len < MAX_REQUEST => return None,
                Parsed::Incomplete => {
                    error(out, "request too large (max 1536 bytes)");
                    (After::Close, self.len)
                }
                Parsed::Invalid(why) => {
                    error(out, why);
                    (After::Close, self.len)
                }
                Parsed::Empty(used) => {
                    self.consume(used);
                    continue;
                }
                Parsed::Request(request, used) => (execute(&request, out), used),
            };
            self.consume(used);
            if after == After::Close {
                self.closing = true;
                self.len = 0;
            }
            return Some(after);
        }
    }

    fn consume(&mut self, used: usize) {
        let used = used.min(self.len);
        self.buf.copy_within(used..self.len, 0);
        self.len -= used;
    }
}

fn error(out: &mut Reply, why: &str) {
    out.clear();
    for part in [&b"-ERR Protocol error: "[..], why.as_bytes(), b"\r\n"] {
        let _ = out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{MAX_REPLY, NoDisk, Server, Session, Store, Users};
    use kevy_scope::{
        Driver, MoveTable, Node, OwnershipTable, Scope, ownership_table, wire::NoPeers,
    };

    static TABLE: OwnershipTable<'static, 1> =
        ownership_table![Scope::new(b"app:auth:", "embed-auth-1")];

    /// Feeds `input` in chunks of `chunk` bytes; returns every reply.
    fn converse(input: &[u8], chunk: usize) -> std::string::String {
        let mut node = Node::new("embed-billing-1", &TABLE, MoveTable::<1>::new()).unwrap();
        let mut store = Store::new();
        let mut driver = Driver::<2, 1>::new(["embed-billing-1", "embed-auth-1"]).unwrap();
        let users = Users::default();
        let mut disk = NoDisk(0, 0);
        let mut server = Server {
            node: &mut node,
            peers: &NoPeers,
            store: &mut store,
            driver: &mut driver,
            disk: &mut disk,
            users: &users,
        };
        let mut session = Session::default();
        let mut conn = Conn::new();
        let mut said = std::vec::Vec::new();
        let mut out = Reply::new();
        for piece in input.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let space = conn.space();
                let n = space.len().min(piece.len());
                space[..n].copy_from_slice(&piece[..n]);
                conn.filled(n);
                piece = &piece[n..];
                while let Some(after) =
                    conn.step(&mut out, |r, o| server.execute(r, &mut session, o))
                {
                    assert!(out.len() <= MAX_REPLY);
                    said.extend_from_slice(&out);
                    if after == After::Close {
                        return std::string::String::from_utf8(said).unwrap();
                    }
                }
            }
        }
        std::string::String::from_utf8(said).unwrap()
    }

    #[test]
    fn pipelined_requests_in_any_chunks() {
        let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n\r\n*0\r\nSET app:auth:1 y\r\nQUIT\r\nPING\r\n";
        let want = "+PONG\r\n+OK\r\n$1\r\nv\r\n-MISDIRECTED writer is embed-auth-1\r\n+OK\r\n";
        for chunk in 1..input.len() {
            assert_eq!(converse(input, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn malformed_and_oversized_requests_close() {
        assert_eq!(
            converse(b"PING\r\n*1\r\n$abc\r\nPING\r\n", 7),
            "+PONG\r\n-ERR Protocol error: invalid length\r\n"
        );
        let big = [b'a'; 1600];
        assert_eq!(
            converse(&big, 64),
            "-ERR Protocol error: request too large (max 1536 bytes)\r\n"
        );
    }
}
