//! Which TCP connection QEMU holds on UART0's port, from the host's
//! socket table (`/proc/self/net/tcp`, read through semihosting).
//!
//! QEMU's `-serial tcp:...,server=on` accepts one client at a time and
//! tells the UART model nothing when it comes or goes: the PL011 sees
//! bytes only. The socket QEMU accepted is in the host kernel's table,
//! though: its local port is UART0's, it is not the listening socket
//! (state `0A`), and it has an inode (a connection still in the listen
//! backlog, not yet accepted, and one in TIME_WAIT have none). Its inode
//! names the client: a new inode is a new client. This is the firmware's
//! stand-in for a TCP-offload chip's socket status register.
//!
//! A line of the table (fields split by spaces; the header line has no
//! hex local address and is passed over):
//!
//! ```text
//!    1: 0100007F:3FEC 0100007F:D2F4 01 00000000:00000000 00:00000000 00000000  0  0 123456 1 ...
//!   sl  local:port    remote:port   st tx:rx             tr:when     retrnsmt uid to inode
//! ```

/// The client QEMU holds: its socket's inode and the client's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The inode of QEMU's end of the connection (unique while it lives).
    pub inode: u64,
    /// The client's TCP port.
    pub port: u16,
}

/// The longest line kept (the table's lines are 150 bytes; the fields
/// read are in their first 100).
const LINE: usize = 192;
const LISTEN: u8 = 0x0A;
/// The TCP state of a connection both ends still send on.
pub const ESTABLISHED: u8 = 0x01;

/// What a read of the table found: the connection QEMU holds, the bytes
/// the client sent that QEMU has not read yet, and how many other
/// accepted sockets were on the port (none, unless QEMU has yet to close
/// the last client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The client.
    pub peer: Peer,
    /// Its bytes still in the host kernel (the table's `rx_queue`).
    pub unread: u32,
    /// Other accepted sockets on the port.
    pub others: u8,
    /// Its TCP state (`01` ESTABLISHED, `08` CLOSE_WAIT: the client has
    /// closed its side, ...).
    pub state: u8,
}

/// Reads the table piece by piece (it may be longer than any buffer the
/// firmware has), looking for the connection on one local port.
pub struct Scan {
    port: u16,
    line: [u8; LINE],
    len: usize,
    found: Option<Found>,
}

impl Scan {
    /// A scan for the connection on local port `port`.
    pub const fn new(port: u16) -> Self {
        Self {
            port,
            line: [0; LINE],
            len: 0,
            found: None,
        }
    }

    /// Reads the next bytes of the table.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.end_line();
            } else if let Some(slot) = self.line.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// The connection found, once the whole table was read.
    pub fn finish(mut self) -> Option<Found> {
        self.end_line();
        self.found
    }

    fn end_line(&mut self) {
        let line = self.line.get(..self.len).unwrap_or_default();
        if let Some(seen) = accepted(line, self.port) {
            self.found = Some(match self.found {
                None => seen,
                // Two: the client QEMU is done with is no longer
                // ESTABLISHED (the client closed it first); keep the other.
                Some(first) => {
                    let keep = if first.state == ESTABLISHED {
                        first
                    } else {
                        seen
                    };
                    Found {
                        others: first.others.saturating_add(1),
                        ..keep
                    }
                }
            });
        }
        self.len = 0;
    }
}

/// The line's connection when it is an accepted one on local port `port`.
fn accepted(line: &[u8], port: u16) -> Option<Found> {
    let mut fields = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty());
    let _slot = fields.next()?;
    let local = fields.next()?;
    let remote = fields.next()?;
    let state = hex(fields.next()?)?;
    let queues = fields.next()?;
    let colon = queues.iter().position(|&b| b == b':')?;
    let unread = hex(queues.get(colon + 1..)?)?;
    let inode = decimal(fields.nth(4)?)?;
    if port_of(local)? != port || state == u64::from(LISTEN) || inode == 0 {
        return None;
    }
    let port = port_of(remote)?;
    Some(Found {
        peer: Peer { inode, port },
        unread: u32::try_from(unread).unwrap_or(u32::MAX),
        others: 0,
        state: u8::try_from(state).unwrap_or(0),
    })
}

/// The port of `ADDR:PORT` (both hex).
fn port_of(field: &[u8]) -> Option<u16> {
    let colon = field.iter().rposition(|&b| b == b':')?;
    let port = hex(field.get(colon + 1..)?)?;
    u16::try_from(port).ok()
}

fn hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | u64::from(v);
    }
    Some(n)
}

fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in text {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Port 16380 = 0x3FFC. The listening socket, a backlog entry (no
    // inode yet), a TIME_WAIT (06, no inode), the client's own socket
    // (remote port 3FFC), then QEMU's accepted socket in CLOSE_WAIT (08:
    // the client sent FIN, QEMU has not read it yet).
    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3FFC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3FFC 0100007F:B000 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:3FFC 0100007F:A000 06 00000000:00000000 03:00000B8D 00000000     0        0 0 3 0000000000000000
   3: 0100007F:C350 0100007F:3FFC 01 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:3FFC 0100007F:C350 08 00000000:0000002A 00:00000000 00000000     0        0 3003 1 0000000000000000 20 4 30 10 -1
";

    fn scan(table: &str, port: u16, chunk: usize) -> Option<Found> {
        let mut s = Scan::new(port);
        for piece in table.as_bytes().chunks(chunk) {
            s.feed(piece);
        }
        s.finish()
    }

    #[test]
    fn finds_the_accepted_socket_in_any_chunks() {
        for chunk in 1..64 {
            assert_eq!(
                scan(TABLE, 16380, chunk),
                Some(Found {
                    peer: Peer {
                        inode: 3003,
                        port: 0xC350
                    },
                    unread: 0x2A,
                    others: 0,
                    state: 8,
                }),
                "chunk {chunk}"
            );
        }
        // Only the listener, the backlog and TIME_WAIT: no client.
        let idle: String = TABLE.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(scan(&idle, 16380, 7), None);
        // The last client's socket, not closed yet by QEMU (CLOSE_WAIT),
        // and the next one's (ESTABLISHED), in either order.
        let next = "   5: 0100007F:3FFC 0100007F:C351 01 00000000:00000007 00:00000000 00000000     0        0 3004 1 0 20 4 30 10 -1\n";
        for table in [format!("{TABLE}{next}"), format!("{next}{TABLE}")] {
            let found = scan(&table, 16380, 9).unwrap();
            assert_eq!((found.peer.inode, found.unread, found.others), (3004, 7, 1));
        }
        // A port with no socket on it.
        assert_eq!(scan(TABLE, 1234, 7), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut state: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = TABLE.as_bytes().to_vec();
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 32) as u8;
            bytes.truncate((state >> 40) as usize % (bytes.len() + 1));
            let mut s = Scan::new(16380);
            s.feed(&bytes);
            let _ = s.finish();
        }
        let mut s = Scan::new(1);
        s.feed(&[b'x'; 1000]);
        assert_eq!(s.finish(), None);
    }
}
