//! The commands this node serves, on a fixed-capacity store: PING, ECHO,
//! SET, GET, DEL, QUIT, and empty answers to COMMAND and CONFIG (which
//! redis-cli and redis-benchmark ask on connect). Every write goes through
//! kevy-scope's `Node::verdict` first: only an `Accept` touches the store,
//! any other verdict is answered with the crate's own reply
//! (`-MISDIRECTED writer is <host:port>`, `-QUIESCED ...`, `-TRYAGAIN ...`).

use heapless::{Vec, index_map::FnvIndexMap};
use kevy_scope::{Node, moves::MoveRecords, table::ScopeTable, wire::AddressBook};

use crate::resp::Request;

/// The longest key stored, in bytes.
pub const MAX_KEY: usize = 64;
/// The longest value stored (and the longest ECHO or PING message).
pub const MAX_VALUE: usize = 128;
/// How many keys the store holds (a power of two, as FnvIndexMap wants).
pub const STORE_CAP: usize = 16;

/// Room for every reply: the crate's longest redirect, a bulk value with
/// its header, an error naming a command.
pub const MAX_REPLY: usize = const_max(kevy_scope::wire::MAX_REPLY_LEN, MAX_VALUE + 16, 128);

const fn const_max(a: usize, b: usize, c: usize) -> usize {
    let ab = if a > b { a } else { b };
    if ab > c { ab } else { c }
}

/// One reply's bytes.
pub type Reply = Vec<u8, MAX_REPLY>;

/// What the connection does after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    Continue,
    /// Send the reply, then close (QUIT, a protocol error).
    Close,
}

/// The key/value store: [`STORE_CAP`] keys of up to [`MAX_KEY`] bytes,
/// values of up to [`MAX_VALUE`] bytes.
pub struct Store {
    map: FnvIndexMap<Vec<u8, MAX_KEY>, Vec<u8, MAX_VALUE>, STORE_CAP>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store (`const`: it can live in a `static`).
    pub const fn new() -> Self {
        Self {
            map: FnvIndexMap::new(),
        }
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// This node: its id, its table and move records, the peers' addresses
/// for redirects, and its store.
pub struct Server<'n, T: ScopeTable, R: MoveRecords, A: AddressBook> {
    /// The node whose verdict decides every write.
    pub node: &'n Node<T, R>,
    /// Where the redirect replies point.
    pub peers: &'n A,
    /// The keys this node accepted.
    pub store: &'n mut Store,
}

impl<T: ScopeTable, R: MoveRecords, A: AddressBook> Server<'_, T, R, A> {
    /// Runs `req` and writes its reply to `out` (cleared first).
    pub fn execute(&mut self, req: &Request<'_>, out: &mut Reply) -> After {
        out.clear();
        let args = req.args();
        let Some((name, rest)) = args.split_first() else {
            return After::Continue;
        };
        let is = |cmd: &str| name.eq_ignore_ascii_case(cmd.as_bytes());
        if is("PING") {
            match rest {
                [] => simple(out, b"+PONG"),
                [msg] => self.bulk_msg(out, msg),
                _ => wrong_args(out, name),
            }
        } else if is("ECHO") {
            match rest {
                [msg] => self.bulk_msg(out, msg),
                _ => wrong_args(out, name),
            }
        } else if is("SET") {
            match rest {
                [key, value] => self.set(out, key, value),
                [_, _, ..] => simple(out, b"-ERR syntax error (SET options are not supported)"),
                _ => wrong_args(out, name),
            }
        } else if is("GET") {
            match rest {
                [key] => match self.store.map.get(*key) {
                    Some(value) => bulk(out, value),
                    None => simple(out, b"$-1"),
                },
                _ => wrong_args(out, name),
            }
        } else if is("DEL") {
            if rest.is_empty() {
                wrong_args(out, name)
            } else {
                self.del(out, rest)
            }
        } else if is("QUIT") {
            simple(out, b"+OK");
            return After::Close;
        } else if is("COMMAND") || is("CONFIG") {
            // Asked by redis-cli (COMMAND DOCS) and redis-benchmark
            // (CONFIG GET save): nothing to tell.
            simple(out, b"*0")
        } else {
            put(
                out,
                &[b"-ERR unknown command '", &printable(name), b"'\r\n"],
            )
        }
        After::Continue
    }

    fn bulk_msg(&self, out: &mut Reply, msg: &[u8]) {
        if msg.len() > MAX_VALUE {
            simple(out, b"-ERR message too long")
        } else {
            bulk(out, msg)
        }
    }

    /// The verdict's reply for a write of `key`, or nothing when this node
    /// accepts it. No quorum service runs here: no writer is flagged down.
    fn refusal(&self, key: &[u8], out: &mut Reply) -> bool {
        let verdict = self.node.verdict(key, |_| false);
        let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
        match verdict.encode_reply(self.peers, &mut buf) {
            Ok([]) => false,
            Ok(reply) => {
                put(out, &[reply]);
                true
            }
            Err(_) => {
                simple(out, b"-ERR redirect address too long");
                true
            }
        }
    }

    fn set(&mut self, out: &mut Reply, key: &[u8], value: &[u8]) {
        if self.refusal(key, out) {
            return;
        }
        let (Ok(k), Ok(v)) = (Vec::from_slice(key), Vec::from_slice(value)) else {
            return put(
                out,
                &[
                    b"-ERR key or value too long (max ",
                    &digits(MAX_KEY),
                    b" and ",
                    &digits(MAX_VALUE),
                    b" bytes)\r\n",
                ],
            );
        };
        match self.store.map.insert(k, v) {
            Ok(_) => simple(out, b"+OK"),
            Err(_) => put(
                out,
                &[b"-OOM store full (", &digits(STORE_CAP), b" keys)\r\n"],
            ),
        }
    }

    fn del(&mut self, out: &mut Reply, keys: &[&[u8]]) {
        // Every key must be this node's before any is removed.
        for key in keys {
            if self.refusal(key, out) {
                return;
            }
        }
        let removed = keys
            .iter()
            .filter(|k| self.store.map.swap_remove(**k).is_some())
            .count();
        put(out, &[b":", &digits(removed), b"\r\n"])
    }
}

/// Writes `parts` as one reply, or a short error when they do not fit
/// (they always do: [`MAX_REPLY`] bounds every reply built here).
fn put(out: &mut Reply, parts: &[&[u8]]) {
    out.clear();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > out.capacity() {
        let _ = out.extend_from_slice(b"-ERR reply too long\r\n");
        return;
    }
    for part in parts {
        let _ = out.extend_from_slice(part);
    }
}

fn simple(out: &mut Reply, line: &[u8]) {
    put(out, &[line, b"\r\n"])
}

fn bulk(out: &mut Reply, value: &[u8]) {
    put(out, &[b"$", &digits(value.len()), b"\r\n", value, b"\r\n"])
}

fn wrong_args(out: &mut Reply, name: &[u8]) {
    put(
        out,
        &[
            b"-ERR wrong number of arguments for '",
            &printable(name),
            b"' command\r\n",
        ],
    )
}

/// A command name fit for an error line: at most 32 bytes, anything but
/// printable ASCII shown as `?`.
fn printable(name: &[u8]) -> Vec<u8, 32> {
    name.iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() && b != b'\'' {
                b
            } else {
                b'?'
            }
        })
        .collect()
}

/// The decimal digits of `n`.
fn digits(mut n: usize) -> Vec<u8, 20> {
    let mut rev: Vec<u8, 20> = Vec::new();
    loop {
        let _ = rev.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    rev.iter().rev().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Parsed, parse};
    use kevy_scope::{MoveTable, OwnershipTable, Scope, ownership_table, wire::PeerAddr};

    static TABLE: OwnershipTable<'static, 2> = ownership_table![
        Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
        Scope::new(b"app:auth:", "embed-auth-1"),
    ];
    static PEERS: [(&str, PeerAddr<'static>); 1] =
        [("embed-auth-1", PeerAddr::new("127.0.0.1", 7002))];

    fn run(
        server: &mut Server<
            '_,
            &OwnershipTable<'static, 2>,
            MoveTable<4>,
            [(&str, PeerAddr<'static>); 1],
        >,
        line: &str,
    ) -> std::string::String {
        let Parsed::Request(req, _) = parse(line.as_bytes()) else {
            panic!("{line}")
        };
        let mut out = Reply::new();
        server.execute(&req, &mut out);
        std::string::String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn verdicts_and_store() {
        let node = Node::new("embed-billing-1", &TABLE, MoveTable::<4>::new()).unwrap();
        let mut store = Store::new();
        let mut s = Server {
            node: &node,
            peers: &PEERS,
            store: &mut store,
        };
        assert_eq!(run(&mut s, "PING\r\n"), "+PONG\r\n");
        assert_eq!(run(&mut s, "SET app:billing:1 x\r\n"), "+OK\r\n");
        assert_eq!(run(&mut s, "GET app:billing:1\r\n"), "$1\r\nx\r\n");
        assert_eq!(
            run(&mut s, "SET app:auth:1 y\r\n"),
            "-MISDIRECTED writer is 127.0.0.1:7002\r\n"
        );
        assert_eq!(run(&mut s, "GET app:auth:1\r\n"), "$-1\r\n");
        assert_eq!(
            run(&mut s, "DEL app:auth:1\r\n"),
            "-MISDIRECTED writer is 127.0.0.1:7002\r\n"
        );
        assert_eq!(run(&mut s, "DEL app:billing:1 other\r\n"), ":1\r\n");
        assert_eq!(run(&mut s, "set other v\r\n"), "+OK\r\n");
        assert_eq!(
            run(&mut s, "FLUSHALL\r\n"),
            "-ERR unknown command 'FLUSHALL'\r\n"
        );
        assert_eq!(
            run(&mut s, "GET\r\n"),
            "-ERR wrong number of arguments for 'GET' command\r\n"
        );
        assert_eq!(run(&mut s, "ECHO hi\r\n"), "$2\r\nhi\r\n");
        for i in 0..STORE_CAP - 1 {
            assert_eq!(run(&mut s, &format!("SET k{i} v\r\n")), "+OK\r\n");
        }
        assert_eq!(
            run(&mut s, "SET one-more v\r\n"),
            "-OOM store full (16 keys)\r\n"
        );
        let long = "v".repeat(MAX_VALUE + 1);
        assert_eq!(
            run(&mut s, &format!("SET k0 {long}\r\n")),
            "-ERR key or value too long (max 64 and 128 bytes)\r\n"
        );
        assert_eq!(s.store.len(), STORE_CAP);
    }
}
