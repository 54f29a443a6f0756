//! The one client stream UART0 carries: a connection's request buffer
//! and login (device-net's `Conn` and `Session`), and who they belong to.
//!
//! QEMU accepts one TCP client at a time on UART0's port and passes its
//! bytes through; when the client leaves, the next one's bytes follow on
//! the same UART. Before reading a byte it cannot vouch for, the
//! firmware asks the host's socket table which connection QEMU holds
//! ([`crate::sockets`]) and hands the answer to [`Stream::observe`]:
//! another connection than the last one means a new client, and the
//! buffer and the login are forgotten before its first byte is read.
//!
//! Why that is exact for a client that closes normally: the UART's FIFO
//! is off (one byte deep), and QEMU reads its socket only when the FIFO
//! has room, one byte at a time, with no buffer of its own. A client's
//! end of stream therefore reaches QEMU only after the firmware has read
//! every byte it sent, and the next client's first byte can only come
//! after that. So when the table is read with a byte waiting in the
//! FIFO, that byte and the bytes the table shows unread in the host
//! kernel for the connection are all that connection's (less one: the
//! count includes the client's FIN once it came): the firmware reads the
//! table again only once those are used up ([`Stream::vouched`]), or
//! after a SysTick period (10 ms) without a byte. A request that arrives
//! whole costs two reads of the table (its first byte and its last), and
//! a third before its reply ([`Stream::may_reply`]).
//!
//! The exception is a client whose connection is reset (RST: it closed
//! with replies left unread, or was killed so): QEMU drops its unread
//! bytes at once, and as many bytes as were vouched for and never came
//! may be taken from the next client before the table is read again
//! (unless the UART was idle for a SysTick period in between).
//!
//! A UART cannot hang up: where Redis closes the connection (QUIT, a
//! protocol error), the firmware answers and then drops whatever the
//! client still sends until it leaves.

use kevy_net::commands::{After, Reply, Session};
use kevy_net::conn::Conn;
use kevy_net::resp::Request;

use crate::sockets::{ESTABLISHED, Found, Peer};

/// The client's bytes and login.
pub struct Stream {
    conn: Conn,
    session: Session,
    owner: Option<Peer>,
    /// Bytes still known to be the owner's.
    vouched: u32,
    /// Clients seen (new connections observed).
    pub clients: u32,
}

impl Default for Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Stream {
    /// No client yet.
    pub const fn new() -> Self {
        Self {
            conn: Conn::new(),
            session: Session {
                user: kevy_net::commands::User::Default,
                waiting: None,
            },
            owner: None,
            vouched: 0,
            clients: 0,
        }
    }

    /// How many more bytes are known to be the current client's: while
    /// non-zero, the table need not be read before the next byte.
    pub fn vouched(&self) -> u32 {
        self.vouched
    }

    /// The UART was idle for a while: read the table again before the
    /// next byte.
    pub fn idle(&mut self) {
        self.vouched = 0;
    }

    /// What the socket table shows while a byte waits in the FIFO
    /// (`None`: no connection). Another connection than before: a new
    /// client, and nothing of the last one's is kept. Returns whether it
    /// was new.
    pub fn observe(&mut self, found: Option<Found>) -> bool {
        // The waiting byte, and the unread ones but the last: a client's
        // FIN counts as one byte in the table's queue.
        self.vouched = found.map_or(1, |f| f.unread.max(1));
        let peer = found.map(|f| f.peer);
        if peer == self.owner {
            return false;
        }
        self.owner = peer;
        self.conn.reset();
        self.session = Session::default();
        if peer.is_some() {
            self.clients += 1;
        }
        true
    }

    /// Whether a reply may go out now, by what the socket table shows (read
    /// when no byte of the client is vouched for, [`Stream::vouched`]):
    /// the client is still the one QEMU holds and has not closed its
    /// side. QEMU passes the UART's output to whichever client it holds
    /// when the byte is written: once the client's end of stream is
    /// there, QEMU drops the client and takes the next one, which would
    /// get the reply. So a reply to a client that left is not sent.
    pub fn may_reply(&self, found: Option<Found>) -> bool {
        found.is_some_and(|f| Some(f.peer) == self.owner && f.state == ESTABLISHED)
    }

    /// The connection the bytes belong to.
    pub fn owner(&self) -> Option<Peer> {
        self.owner
    }

    /// The login of the current client.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Appends one received byte. The buffer always has room: a full
    /// buffer is answered (and emptied) by [`Stream::step`] before the
    /// next byte is read.
    pub fn push(&mut self, byte: u8) {
        self.vouched = self.vouched.saturating_sub(1);
        if let Some(slot) = self.conn.space().first_mut() {
            *slot = byte;
            self.conn.filled(1);
        }
    }

    /// Appends bytes, answering as it goes (host tests; the firmware
    /// reads one byte at a time).
    pub fn push_all(
        &mut self,
        bytes: &[u8],
        out: &mut Reply,
        mut execute: impl FnMut(&Request<'_>, &mut Session, &mut Reply) -> After,
        mut said: impl FnMut(&[u8]),
    ) {
        for &b in bytes {
            self.push(b);
            while let Some(after) = self.step(out, &mut execute) {
                if !matches!(after, After::Wait(_)) {
                    said(out);
                }
            }
        }
    }

    /// The reply to the next whole request (in `out`), or `None`. After
    /// QUIT or a protocol error, the rest of this client's bytes are
    /// dropped.
    pub fn step(
        &mut self,
        out: &mut Reply,
        mut execute: impl FnMut(&Request<'_>, &mut Session, &mut Reply) -> After,
    ) -> Option<After> {
        let session = &mut self.session;
        self.conn
            .step(out, |request, out| execute(request, session, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_net::commands::{Disk, Server, Store, Users};
    use kevy_scope::{
        Driver, MoveTable, Node, OwnershipTable, Scope, moves::MoveRecords, ownership_table,
        table::ScopeTable, wire::PeerAddr,
    };

    static TABLE: OwnershipTable<'static, 2> = ownership_table![
        Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
        Scope::new(b"app:auth:", "embed-auth-1"),
    ];
    static PEERS: [(&str, PeerAddr<'static>); 1] =
        [("embed-auth-1", PeerAddr::new("127.0.0.1", 7002))];

    struct Ram;

    impl Disk for Ram {
        fn save<T: ScopeTable, R: MoveRecords>(&mut self, _: &Node<T, R>) -> bool {
            true
        }
        fn save_store(&mut self, _: &Store) -> bool {
            true
        }
    }

    const A: Peer = Peer {
        inode: 10,
        port: 50000,
    };
    const B: Peer = Peer {
        inode: 11,
        port: 50001,
    };

    /// Runs `script`: each step is the connection the socket table shows
    /// and the bytes that client sends (all of them in the host kernel
    /// when its first is read); returns every reply, in order.
    fn converse(script: &[(Option<Peer>, &[u8])]) -> String {
        converse_with(script, &mut 0)
    }

    fn converse_with(script: &[(Option<Peer>, &[u8])], reads: &mut usize) -> String {
        let mut node = Node::new("embed-billing-1", &TABLE, MoveTable::<4>::new()).unwrap();
        let mut store = Store::new();
        let mut driver = Driver::<2, 4>::new(["embed-billing-1", "embed-auth-1"]).unwrap();
        let users = Users {
            cluster: Some(heapless::Vec::from_slice(b"pw").unwrap()),
            admin: None,
        };
        let mut server = Server {
            node: &mut node,
            peers: &PEERS,
            store: &mut store,
            driver: &mut driver,
            disk: &mut Ram,
            users: &users,
        };
        let mut stream = Stream::new();
        let mut out = Reply::new();
        let mut said = Vec::new();
        for (peer, bytes) in script {
            // As the firmware: the table is read when no byte is vouched for.
            for (i, &b) in bytes.iter().enumerate() {
                if stream.vouched() == 0 {
                    *reads += 1;
                    stream.observe(peer.map(|peer| Found {
                        peer,
                        unread: (bytes.len() - i - 1) as u32,
                        others: 0,
                        state: 1,
                    }));
                }
                stream.push_all(
                    &[b],
                    &mut out,
                    |r, s, o| server.execute(r, s, o),
                    |reply| said.extend_from_slice(reply),
                );
            }
        }
        String::from_utf8(said).unwrap()
    }

    const EPOCH: &[u8] = b"MOVE-SCOPE-EPOCH\r\n";
    const NOPERM: &str = "-NOPERM User default has no permissions to run the 'move-scope-epoch' command (it needs the cluster user)\r\n";

    #[test]
    fn a_new_client_is_not_logged_in() {
        let got = converse(&[
            (Some(A), b"AUTH cluster pw\r\n"),
            (Some(A), EPOCH),
            (Some(B), EPOCH),
        ]);
        assert_eq!(got, format!("+OK\r\n+EPOCH 0\r\n{NOPERM}"));
    }

    /// The table's count of unread bytes includes the client's FIN: the
    /// next client's first byte is never taken as the last one's.
    #[test]
    fn a_fin_in_the_unread_count_vouches_for_no_byte_of_the_next_client() {
        let mut stream = Stream::new();
        let a = |unread| {
            Some(Found {
                peer: A,
                unread,
                others: 0,
                state: 8,
            })
        };
        // "\r\n" left: '\r' in the FIFO, '\n' and the FIN in the kernel.
        stream.observe(a(2));
        stream.push(b'\r');
        stream.push(b'\n');
        assert_eq!(stream.vouched(), 0, "the next byte is looked up");
    }

    #[test]
    fn a_half_request_of_the_last_client_is_dropped() {
        let got = converse(&[
            (Some(A), b"*3\r\n$3\r\nSET\r\n$13\r\napp:bil"),
            (Some(B), b"PING\r\n"),
        ]);
        assert_eq!(got, "+PONG\r\n");
    }

    #[test]
    fn after_an_error_the_client_is_mute_until_it_leaves() {
        let got = converse(&[
            (Some(A), b"*1\r\n$abc\r\nPING\r\n"),
            (Some(A), b"PING\r\n"),
            (None, b""),
            (Some(B), b"PING\r\n"),
        ]);
        assert_eq!(got, "-ERR Protocol error: invalid length\r\n+PONG\r\n");
        let big = [b'a'; 1600];
        let got = converse(&[(Some(A), &big), (Some(B), b"PING\r\n")]);
        assert_eq!(
            got,
            "-ERR Protocol error: request too large (max 1536 bytes)\r\n+PONG\r\n"
        );
    }

    #[test]
    fn a_request_in_one_piece_costs_two_reads_of_the_table() {
        let mut reads = 0;
        let got = converse_with(
            &[
                (Some(A), b"PING\r\n"),
                (Some(A), b"SET app:billing:1 x\r\n"),
                (Some(B), b"GET app:billing:1\r\n"),
            ],
            &mut reads,
        );
        assert_eq!(got, "+PONG\r\n+OK\r\n$1\r\nx\r\n");
        assert_eq!(reads, 6);
    }

    #[test]
    fn an_idle_uart_is_looked_up_again() {
        let mut stream = Stream::new();
        let found = |inode, unread| {
            Some(Found {
                peer: Peer { inode, port: 1 },
                unread,
                others: 0,
                state: 1,
            })
        };
        assert!(stream.observe(found(1, 5)));
        stream.push(b'P');
        assert_eq!(stream.vouched(), 4);
        stream.idle();
        assert_eq!(stream.vouched(), 0);
        assert!(!stream.observe(found(1, 0)));
        assert!(stream.observe(found(2, 0)));
        assert!(stream.observe(None));
        assert_eq!(stream.clients, 2);
    }

    #[test]
    fn no_reply_to_a_client_that_left() {
        let mut stream = Stream::new();
        let seen = |peer, state| {
            Some(Found {
                peer,
                unread: 0,
                others: 0,
                state,
            })
        };
        stream.observe(seen(A, 1));
        assert!(stream.may_reply(seen(A, 1)));
        assert!(!stream.may_reply(seen(A, 8)), "its FIN is in");
        assert!(!stream.may_reply(seen(B, 1)), "another client");
        assert!(!stream.may_reply(None));
    }

    #[test]
    fn one_client_keeps_its_state() {
        let got = converse(&[
            (Some(A), b"AUTH cluster pw\r\nSET app:billing:1 x\r\n"),
            (Some(A), b"GET app:billing:1\r\n"),
            (Some(A), EPOCH),
            (Some(A), b"SET app:auth:1 y\r\n"),
        ]);
        assert_eq!(
            got,
            "+OK\r\n+OK\r\n$1\r\nx\r\n+EPOCH 0\r\n-MISDIRECTED writer is 127.0.0.1:7002\r\n"
        );
    }
}
