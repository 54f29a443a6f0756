//! A client connection's bytes: what arrived and is not yet decoded, and
//! the replies not yet sent.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a connection may send before a command is complete (an
/// ingest bulk is the largest).
const MAX_PENDING_INPUT: usize = 1 << 30;

/// One client connection.
pub struct Connection {
    stream: TcpStream,
    /// Bytes received and not yet consumed.
    pub input: Vec<u8>,
    /// Replies not yet sent.
    pub output: Vec<u8>,
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            input: Vec::with_capacity(16 * 1024),
            output: Vec::with_capacity(16 * 1024),
        }
    }

    /// Waits for more bytes; `0` when the client closed.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        if self.input.len() > MAX_PENDING_INPUT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "command too large",
            ));
        }
        if self.input.capacity() - self.input.len() < 4096 {
            self.input.reserve(16 * 1024);
        }
        self.stream.read_buf(&mut self.input).await
    }

    /// Drops the first `n` input bytes (consumed commands).
    pub fn consume(&mut self, n: usize) {
        self.input.drain(..n);
    }

    /// Sends the replies so far.
    pub async fn send(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        Ok(())
    }
}
