//! A blocking RESP client for node-to-node commands: one connection per
//! call (moves are rare), every wait bounded by a timeout and every reply
//! by the node's query buffer limit. Each call logs in as the `cluster`
//! user first, when this node has its password.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use kevy_scope::wire::PeerAddr;

use crate::auth::Secret;
use crate::resp::{self, Reply};

/// The `cluster` user's password this node logs in to its peers with.
static CLUSTER_PASSWORD: OnceLock<Secret> = OnceLock::new();

/// Sets the password every later call logs in with (once, at start;
/// later calls change nothing).
pub fn log_in_with(password: Secret) {
    let _ = CLUSTER_PASSWORD.set(password);
}

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The least a read asks for; a read asks for as much as the reply holds
/// so far (the buffer doubles), so a long reply is measured again only
/// as often as its length doubles.
const MIN_READ: usize = 4096;

/// The bounds of one call.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The longest wait of each read and write.
    pub timeout: Duration,
    /// The most bytes a reply may take (the node's
    /// `query_buffer_limit`); a longer one is refused.
    pub max_reply: usize,
}

/// A peer's answer to `MOVE-SCOPE-FENCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced {
    /// The list of news, its bytes as they came (the crate checked them
    /// whole: `NewsList::decode` reads them again in place).
    News(Vec<u8>),
    /// A one-line reply instead: a refusal.
    Line(Reply),
}

/// Sends `args` to the peer at `addr` and reads one reply.
pub fn call(addr: PeerAddr<'_>, args: &[&[u8]], bounds: Bounds) -> io::Result<Reply> {
    let bytes = exchange(addr, args, bounds, resp::reply_extent)?;
    match resp::decode_reply(&bytes) {
        Ok(Some((reply, _))) => Ok(reply),
        Ok(None) => Err(invalid("a reply shorter than measured".into())),
        Err(e) => Err(invalid(e)),
    }
}

/// Sends `MOVE-SCOPE-FENCE` (`args`) to the peer at `addr` and reads its
/// answer: a list of news ([`resp::news_reply_extent`]), or a line.
pub fn call_fence(addr: PeerAddr<'_>, args: &[&[u8]], bounds: Bounds) -> io::Result<Fenced> {
    let bytes = exchange(addr, args, bounds, resp::news_reply_extent)?;
    if bytes.first() == Some(&b'*') {
        return Ok(Fenced::News(bytes));
    }
    match resp::decode_reply(&bytes) {
        Ok(Some((reply, _))) => Ok(Fenced::Line(reply)),
        Ok(None) => Err(invalid("a reply shorter than measured".into())),
        Err(e) => Err(invalid(e)),
    }
}

fn invalid(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Connects, logs in, sends `args`, and returns the bytes of the one
/// reply `extent` measures (`None` while incomplete).
fn exchange(
    addr: PeerAddr<'_>,
    args: &[&[u8]],
    bounds: Bounds,
    extent: fn(&[u8]) -> Result<Option<usize>, String>,
) -> io::Result<Vec<u8>> {
    let target = (addr.host(), addr.port())
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{addr} resolves to nothing"),
            )
        })?;
    let mut stream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(bounds.timeout))?;
    stream.set_write_timeout(Some(bounds.timeout))?;
    let mut request = Vec::new();
    let password = CLUSTER_PASSWORD.get();
    if let Some(password) = password {
        resp::put_command(&mut request, &[b"AUTH", b"cluster", password.as_bytes()]);
    }
    resp::put_command(&mut request, args);
    stream.write_all(&request)?;
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut logged_in = password.is_none();
    loop {
        if !logged_in {
            if let Some((reply, used)) = resp::decode_reply(&buf).map_err(invalid)? {
                if reply != Reply::Simple("OK".into()) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("{addr} refused this node's cluster password: {reply:?}"),
                    ));
                }
                logged_in = true;
                buf.drain(..used);
                continue;
            }
        } else if let Some(used) = extent(&buf).map_err(invalid)? {
            buf.truncate(used);
            return Ok(buf);
        }
        if buf.len() >= bounds.max_reply {
            return Err(invalid(format!(
                "{addr} sent a reply of more than {} bytes (the query buffer limit)",
                bounds.max_reply
            )));
        }
        let want = buf.len().max(MIN_READ).min(bounds.max_reply - buf.len());
        let start = buf.len();
        buf.resize(start + want, 0);
        let n = stream.read(&mut buf[start..])?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ));
        }
    }
}
