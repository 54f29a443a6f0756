//! A blocking RESP client for node-to-node commands: one connection per
//! call (moves are rare), every wait bounded by a timeout.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use kevy_scope::PeerAddr;

use crate::resp::{self, Reply};

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
    resp::put_command(&mut request, args);
    stream.write_all(&request)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((reply, _)) =
            resp::decode_reply(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            return Ok(reply);
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
