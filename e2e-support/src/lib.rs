//! What the end-to-end tests of real clusters share (compat/kevy-native-e2e,
//! device-net/e2e): RESP on plain sockets (a request encoder, commands on
//! a fresh connection that report a dead node as text, pipelined
//! batches), kevy's cluster client connected with retries (a node may be
//! restarting), the writers that write through it until every write is
//! acknowledged, the probe that finds where a prefix settled, and the
//! final check of every key on every node.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kevy_cluster_rw::ReadWriteClient;
use kevy_resp::Reply;

/// Appends `args` to `request` as a RESP array of bulk strings.
pub fn put(request: &mut Vec<u8>, args: &[&[u8]]) {
    request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
}

/// Commands on a fresh connection to `127.0.0.1:port`, waiting up to
/// `wait` for each reply line; the last reply, or a failure as text
/// ("no connection", "connection lost": the node may be down or killed).
pub fn try_commands(port: u16, commands: &[&[&[u8]]], wait: Duration) -> String {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return "no connection".to_owned();
    };
    stream.set_read_timeout(Some(wait)).ok();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for args in commands {
        let mut request = Vec::new();
        put(&mut request, args);
        if reader.get_mut().write_all(&request).is_err() {
            return "connection lost".to_owned();
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return "connection lost".to_owned(),
        }
    }
    line.trim_end().to_owned()
}

/// One command, as [`try_commands`].
pub fn try_command(port: u16, args: &[&[u8]], wait: Duration) -> String {
    try_commands(port, &[args], wait)
}

/// Sends one command per key (`args` builds it) on one connection, in
/// pipelined batches of `batch`, and returns the reply lines in order (a
/// bulk string's value in place of its header).
pub fn pipeline(
    port: u16,
    keys: &[String],
    batch: usize,
    args: impl Fn(&str) -> Vec<Vec<u8>>,
) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(batch.max(1)) {
        let mut request = Vec::new();
        for k in chunk {
            let args = args(k);
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            put(&mut request, &args);
        }
        reader.get_mut().write_all(&request).expect("write");
        for _ in chunk {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line.starts_with('$') && !line.starts_with("$-1") {
                line.clear();
                reader.read_line(&mut line).expect("read");
            }
            replies.push(line.trim_end().to_owned());
        }
    }
    replies
}

/// kevy's cluster client on `127.0.0.1:port`, retried for up to a minute
/// while the node starts or restarts.
pub fn connect(port: u16) -> ReadWriteClient {
    for _ in 0..3_000 {
        if let Ok(c) = ReadWriteClient::connect(("127.0.0.1", port), &[]) {
            return c;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("no connection to port {port}");
}

/// What a writer saw: the writes acknowledged, in order, and what it
/// met on the way.
#[derive(Default, Debug)]
pub struct WriteReport {
    /// `(key, value)` of every write answered `+OK`, in that order.
    pub acked: Vec<(String, String)>,
    pub attempts: usize,
    /// Writes answered `-QUIESCED` (a move of the key's prefix ran).
    pub quiesced: usize,
    /// A redirect the client followed was answered with another redirect.
    pub double_redirects: usize,
    /// Connections refused or lost (a node down or restarting).
    pub io_errors: usize,
}

impl fmt::Display for WriteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acked in {} attempts; {} QUIESCED, {} redirects answered with a redirect, \
             {} connection errors",
            self.acked.len(),
            self.attempts,
            self.quiesced,
            self.double_redirects,
            self.io_errors
        )
    }
}

/// How a writer paces itself.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The wait before each write while `moving` is set, so that the
    /// writes span the moves.
    pub while_moving: Duration,
    /// The wait after a connection error.
    pub after_error: Duration,
    /// The time all the writes may take.
    pub limit: Duration,
}

/// Writes each `(key, value)` of `writes` with `SET` through the node on
/// `port` with kevy's cluster client (which follows a redirect) until it
/// is acknowledged: a write answered `-QUIESCED`, a redirect again, or
/// with a lost connection goes to the back of the queue, on a fresh
/// client (no cached writer: it may have moved). Any other answer fails
/// the test, and so does running out of `pace.limit`.
pub fn write_until_acked(
    port: u16,
    writes: Vec<(String, String)>,
    moving: &AtomicBool,
    pace: Pace,
) -> WriteReport {
    let mut report = WriteReport::default();
    let mut queue: VecDeque<(String, String)> = writes.into();
    let mut client = connect(port);
    let deadline = Instant::now() + pace.limit;
    while let Some((key, value)) = queue.pop_front() {
        assert!(
            Instant::now() < deadline,
            "the writer through port {port} ran out of time: {report}"
        );
        if moving.load(Ordering::Relaxed) {
            thread::sleep(pace.while_moving);
        }
        let args = [
            b"SET".to_vec(),
            key.clone().into_bytes(),
            value.clone().into_bytes(),
        ];
        report.attempts += 1;
        match client.request_write(&args) {
            Ok(Reply::Simple(ok)) if ok == b"OK" => {
                report.acked.push((key, value));
                continue;
            }
            Ok(Reply::Error(e)) if e.starts_with(b"MISDIRECTED") => report.double_redirects += 1,
            Ok(Reply::Error(e)) if e.starts_with(b"QUIESCED") => report.quiesced += 1,
            Ok(other) => panic!("{key}: unexpected reply {other:?}"),
            Err(_) => {
                report.io_errors += 1;
                thread::sleep(pace.after_error);
            }
        }
        queue.push_back((key, value));
        client = connect(port);
    }
    report
}

/// The node (an index into `ports`) that accepts `prefix` once it has
/// settled: `probe` (the command it builds for the key `<prefix>probe`)
/// sent to every node is accepted (`accepted` holds for its reply line)
/// by exactly one, and every other redirects to it in one hop. Asks
/// again `every` while it has not; fails the test after 90 s.
pub fn settle(
    ports: &[u16],
    prefix: &str,
    probe: fn(&str) -> Vec<Vec<u8>>,
    accepted: fn(&str) -> bool,
    every: Duration,
) -> usize {
    let command = probe(&format!("{prefix}probe"));
    let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        let replies: Vec<String> = ports
            .iter()
            .map(|&p| try_command(p, &args, Duration::from_secs(10)))
            .collect();
        let owners: Vec<usize> = (0..ports.len())
            .filter(|&n| accepted(&replies[n]))
            .collect();
        if let [owner] = owners.as_slice() {
            let addr = format!("-MISDIRECTED writer is 127.0.0.1:{}", ports[*owner]);
            if (0..ports.len())
                .filter(|n| n != owner)
                .all(|n| replies[n] == addr)
            {
                return *owner;
            }
        }
        assert!(Instant::now() < end, "{prefix} never settled: {replies:?}");
        thread::sleep(every);
    }
}

/// What every node answered for every key, once the writers and the
/// moves are done ([`check_every_key`]).
#[derive(Debug)]
pub struct KeyCheck {
    /// Each key's acceptor (an index into the ports), if exactly one
    /// node accepted it.
    pub owners: Vec<Option<usize>>,
    /// Keys per acceptor.
    pub per_owner: Vec<usize>,
    /// Keys more than one node or none accepted.
    pub not_one_acceptor: usize,
    /// Answers of the other nodes that were not a redirect to the
    /// acceptor (a loop, or a second hop).
    pub not_one_hop: usize,
    /// Keys whose acceptor did not hold the value last acknowledged.
    pub lost: usize,
}

impl KeyCheck {
    /// Fails the test unless every key has one acceptor, every other node
    /// redirects to it in one hop, and no acknowledged write is lost.
    pub fn assert_held(&self) {
        assert_eq!(self.not_one_acceptor, 0, "one acceptor per key");
        assert_eq!(
            self.not_one_hop, 0,
            "every other node redirects to the acceptor in one hop"
        );
        assert_eq!(self.lost, 0, "no acknowledged write lost");
    }
}

/// Every key of `last` (`(key, value last acknowledged)`) read on every
/// node (`GET`: what each holds), then written to every node with that
/// value again (`SET`: who accepts, who redirects where), in pipelined
/// batches of `batch`, a thread per node. `names` name the nodes in the
/// first five findings of each kind, printed.
pub fn check_every_key(
    ports: &[u16],
    names: &[&str],
    last: Vec<(String, String)>,
    batch: usize,
) -> KeyCheck {
    let keys: Arc<Vec<String>> = Arc::new(last.iter().map(|(k, _)| k.clone()).collect());
    let values: Arc<HashMap<String, String>> = Arc::new(last.iter().cloned().collect());
    assert_eq!(values.len(), keys.len(), "distinct keys");
    let on_every_node = |command: fn(&str, &str) -> Vec<Vec<u8>>| -> Vec<Vec<String>> {
        let threads: Vec<_> = ports
            .iter()
            .map(|&port| {
                let (keys, values) = (Arc::clone(&keys), Arc::clone(&values));
                thread::spawn(move || pipeline(port, &keys, batch, |k| command(k, &values[k])))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a node's pipeline"))
            .collect()
    };
    let held = on_every_node(|k, _| vec![b"GET".to_vec(), k.as_bytes().to_vec()]);
    let answers = on_every_node(|k, v| {
        vec![
            b"SET".to_vec(),
            k.as_bytes().to_vec(),
            v.as_bytes().to_vec(),
        ]
    });
    let mut check = KeyCheck {
        owners: Vec::with_capacity(last.len()),
        per_owner: vec![0; ports.len()],
        not_one_acceptor: 0,
        not_one_hop: 0,
        lost: 0,
    };
    let nodes = 0..ports.len();
    for (i, (k, v)) in last.iter().enumerate() {
        let replies: Vec<&String> = nodes.clone().map(|n| &answers[n][i]).collect();
        let owners: Vec<usize> = nodes.clone().filter(|&n| replies[n] == "+OK").collect();
        let &[owner] = owners.as_slice() else {
            check.not_one_acceptor += 1;
            if check.not_one_acceptor <= 5 {
                eprintln!("{k}: {replies:?}");
            }
            check.owners.push(None);
            continue;
        };
        check.owners.push(Some(owner));
        check.per_owner[owner] += 1;
        if held[owner][i] != *v {
            check.lost += 1;
            if check.lost <= 5 {
                eprintln!(
                    "lost {k}={v}: acceptor {} held {:?}",
                    names[owner], held[owner][i]
                );
            }
        }
        let redirect = format!("-MISDIRECTED writer is 127.0.0.1:{}", ports[owner]);
        for n in nodes.clone().filter(|&n| n != owner) {
            if *replies[n] != redirect {
                check.not_one_hop += 1;
                if check.not_one_hop <= 5 {
                    eprintln!(
                        "{k} on {}: {:?} (acceptor {})",
                        names[n], replies[n], names[owner]
                    );
                }
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_writes_a_resp_array() {
        let mut request = Vec::new();
        put(&mut request, &[b"SET", b"k", b""]);
        assert_eq!(request, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    /// A node on a free port that answers each RESP array it reads with
    /// `answer(args)`, a thread per connection; returns the port.
    fn fake_node(answer: fn(&[Vec<u8>]) -> String) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    while let Some(args) = read_array(&mut reader) {
                        let reply = answer(&args);
                        if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn read_array(reader: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
            let mut arg = vec![0; len + 2];
            std::io::Read::read_exact(reader, &mut arg).ok()?;
            arg.truncate(len);
            args.push(arg);
        }
        Some(args)
    }

    /// The port of the fake cluster's acceptor, shared by its other nodes'
    /// redirects.
    static OWNER: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

    fn owner(args: &[Vec<u8>]) -> String {
        match args.first().map(Vec::as_slice) {
            Some(b"GET") if args[1] == b"k:lost" => "$3\r\nold\r\n".to_owned(),
            Some(b"GET") => "$2\r\nv1\r\n".to_owned(),
            _ => "+OK\r\n".to_owned(),
        }
    }

    fn redirect(args: &[Vec<u8>]) -> String {
        match args.first().map(Vec::as_slice) {
            Some(b"GET") => "$-1\r\n".to_owned(),
            // A loop: this node redirects to itself for one key.
            Some(_) if args[1] == b"k:loop" => "-MISDIRECTED writer is 127.0.0.1:1\r\n".to_owned(),
            _ => format!(
                "-MISDIRECTED writer is 127.0.0.1:{}\r\n",
                OWNER.get().unwrap()
            ),
        }
    }

    #[test]
    fn the_final_check_finds_a_loop_and_a_lost_write() {
        let a = *OWNER.get_or_init(|| fake_node(owner));
        let ports = [fake_node(redirect), a, fake_node(redirect)];
        let probe = |key: &str| vec![b"SET".to_vec(), key.into(), b"p".to_vec()];
        let settled = settle(
            &ports,
            "k:",
            probe,
            |r| r == "+OK",
            Duration::from_millis(10),
        );
        assert_eq!(settled, 1);

        let kv = |k: &str| (k.to_owned(), "v1".to_owned());
        let check = check_every_key(&ports, &["x", "a", "y"], vec![kv("k:1"), kv("k:2")], 1);
        assert_eq!(
            (check.not_one_hop, check.lost, check.not_one_acceptor),
            (0, 0, 0)
        );
        assert_eq!(check.per_owner, [0, 2, 0]);
        check.assert_held();

        let keys = vec![kv("k:1"), kv("k:loop"), kv("k:lost")];
        let check = check_every_key(&ports, &["x", "a", "y"], keys, 2);
        assert_eq!(check.owners, [Some(1); 3]);
        assert_eq!((check.not_one_hop, check.lost), (2, 1));
        assert!(std::panic::catch_unwind(|| check.assert_held()).is_err());
    }

    #[test]
    fn a_dead_port_is_reported_as_text() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        assert_eq!(
            try_command(port, &[b"PING"], Duration::from_secs(1)),
            "no connection"
        );
    }
}
