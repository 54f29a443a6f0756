//! A blocking RESP client for node-to-node commands: one connection per
//! call (moves are rare), every wait bounded by a timeout. Each call logs
//! in as the `cluster` user first, when this node has its password.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use kevy_scope::PeerAddr;

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

/// Sends `args` to the peer at `addr` and reads one reply, waiting at
/// most `timeout` for each read and write.
pub fn call(addr: PeerAddr<'_>, args: &[&[u8]], timeout: Duration) -> io::Result<Reply> {
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
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = Vec::new();
    let password = CLUSTER_PASSWORD.get();
    if let Some(password) = password {
        resp::put_command(&mut request, &[b"AUTH", b"cluster", password.as_bytes()]);
    }
    resp::put_command(&mut request, args);
    stream.write_all(&request)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    let mut logged_in = password.is_none();
    loop {
        let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
        if let Some((reply, used)) = resp::decode_reply(&buf).map_err(invalid)? {
            if logged_in {
                return Ok(reply);
            }
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
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
