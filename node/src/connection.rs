//! A client connection's bytes: what arrived and is not yet decoded, and
//! the replies not yet sent.
//!
//! The input never holds more than the query buffer limit, and grows by
//! doubling as bytes arrive, never by a length a client declared; a
//! buffer grown by a large command is given back once it is consumed.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A buffer's size when the connection opens, and after a large command.
const INITIAL: usize = 16 * 1024;

/// Free space under which a read first grows the input.
const MIN_READ: usize = 4 * 1024;

/// A buffer larger than this is shrunk back to [`INITIAL`] once (nearly)
/// empty.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// What a read brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// More bytes, now at the end of `input`.
    Arrived,
    /// The client closed its side.
    Closed,
    /// `input` holds the query buffer limit and no complete command: the
    /// connection must be refused.
    Full,
}

/// One client connection.
pub struct Connection {
    stream: TcpStream,
    /// Bytes received and not yet consumed; never more than `limit`.
    pub input: Vec<u8>,
    /// Replies not yet sent.
    pub output: Vec<u8>,
    /// The query buffer limit.
    limit: usize,
}

impl Connection {
    /// Wraps an accepted stream whose unconsumed input may reach
    /// `query_buffer_limit` bytes.
    pub fn new(stream: TcpStream, query_buffer_limit: usize) -> Self {
        Self {
            stream,
            input: Vec::with_capacity(INITIAL),
            output: Vec::with_capacity(INITIAL),
            limit: query_buffer_limit,
        }
    }

    /// The query buffer limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Waits for more bytes, reading no more than the limit leaves room
    /// for; [`Input::Full`] at once when there is none.
    pub async fn read_more(&mut self) -> io::Result<Input> {
        let room = self.limit.saturating_sub(self.input.len());
        if room == 0 {
            return Ok(Input::Full);
        }
        self.make_room(room);
        let limited = &mut (&mut self.stream).take(room as u64);
        Ok(match limited.read_buf(&mut self.input).await? {
            0 => Input::Closed,
            _ => Input::Arrived,
        })
    }

    /// Grows the input for a read of up to `room` bytes (`room >= 1`):
    /// doubling, from [`INITIAL`], never past the limit, and always to at
    /// least one free byte (a read into no space would look like a close).
    fn make_room(&mut self, room: usize) {
        let (len, capacity) = (self.input.len(), self.input.capacity());
        if capacity - len >= MIN_READ.min(room) {
            return;
        }
        let target = capacity
            .saturating_mul(2)
            .max(INITIAL)
            .min(self.limit)
            .max(len + 1);
        self.input.reserve_exact(target - len);
    }

    /// Drops the first `n` input bytes (consumed commands); gives back
    /// the memory of a large command once it is consumed.
    pub fn consume(&mut self, n: usize) {
        self.input.drain(..n.min(self.input.len()));
        shrink(&mut self.input);
    }

    /// Sends the replies so far.
    pub async fn send(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
            shrink(&mut self.output);
        }
        Ok(())
    }
}

/// Shrinks a buffer grown past [`SHRINK_ABOVE`] once it holds less than
/// [`INITIAL`] bytes.
fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > SHRINK_ABOVE && buf.len() < INITIAL {
        buf.shrink_to(INITIAL);
    }
}
