//! Three kevy 1.32.0 processes built with compat/kevy-native.patch (the
//! binary in `KEVY_BIN`), one shard each, AOF fsynced on every write.
//! Three writers (one entering through each node, with kevy's cluster
//! client) write 20 000 keys under `app:`, `app:sub:` and `other:` while
//! the operator moves `app:` A→B, back B→A, and the sub-prefix `app:sub:`
//! A→C. Then every key is written to every node:
//!
//! - one acceptor per key: exactly one node answers `+OK`;
//! - no redirect loop: every other node answers `-MISDIRECTED` naming the
//!   acceptor (one hop);
//! - no acknowledged write lost: the acceptor holds the value the writer
//!   had acknowledged.
//!
//! No process is killed here: kevy 1.32.0's AOF does not log the keys an
//! ingest applies (see compat/README.md), so a kill -9 is not part of this
//! test.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kevy_cluster_rw::ReadWriteClient;
use kevy_resp::Reply;

const KEYS: usize = 20_000;
const PREFIXES: [&str; 3] = ["app:", "app:sub:", "other:"];
const NODES: [&str; 3] = ["A", "B", "C"];

struct Node {
    port: u16,
    child: Child,
}

struct Cluster {
    nodes: Vec<Node>,
    _dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Cluster {
    let bin = std::env::var("KEVY_BIN")
        .expect("KEVY_BIN: the kevy binary built with compat/kevy-native.patch");
    let dir = std::env::temp_dir().join(format!("kevy-native-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports: Vec<u16> = NODES.iter().map(|_| free_port()).collect();
    let peers: Vec<String> = NODES
        .iter()
        .zip(&ports)
        .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
        .collect();
    let mut nodes = Vec::new();
    for (id, port) in NODES.iter().zip(&ports) {
        let data = dir.join(id);
        std::fs::create_dir_all(&data).expect("data dir");
        let config = data.join("kevy.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1\"\nport = {port}\nthreads = 1\ndata_dir = \"{}\"\n\
                 [persistence]\naof = true\nappendfsync = \"always\"\n\
                 [cluster]\nnode_id = \"{id}\"\nelect_port_base = {}\npeers = \"{}\"\n\
                 scopes = \"app:=A,other:=C\"\n",
                data.display(),
                free_port(),
                peers.join(","),
            ),
        )
        .expect("config");
        let log = std::fs::File::create(data.join("log")).expect("log");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kevy starts");
        nodes.push(Node { port: *port, child });
    }
    for node in &nodes {
        let end = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(
                Instant::now() < end,
                "kevy on port {} did not start",
                node.port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    Cluster { nodes, _dir: dir }
}

/// One connection to a node.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
        Self {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one command and returns its reply line (a bulk's value).
    fn command(&mut self, args: &[&[u8]]) -> String {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read");
        if line.starts_with('$') && !line.starts_with("$-1") {
            let mut value = String::new();
            self.reader.read_line(&mut value).expect("read");
            return value.trim_end().to_owned();
        }
        line.trim_end().to_owned()
    }
}

/// Sends one command on a fresh connection.
fn command(port: u16, args: &[&[u8]]) -> String {
    Conn::open(port).command(args)
}

fn key(i: usize) -> String {
    format!("{}{i}", PREFIXES[i % PREFIXES.len()])
}

#[derive(Default, Debug)]
struct Writer {
    acked: Vec<usize>,
    attempts: usize,
    quiesced: usize,
    /// A redirect the client followed was answered with another redirect.
    double_redirects: usize,
    io_errors: usize,
}

fn connect(port: u16) -> ReadWriteClient {
    for _ in 0..100 {
        if let Ok(c) = ReadWriteClient::connect(("127.0.0.1", port), &[]) {
            return c;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("no connection to port {port}");
}

/// Writes keys `i` with `i % 3 == lane` through the node on `port` until
/// each is acknowledged.
fn write(port: u16, lane: usize, moving: &AtomicBool) -> Writer {
    let mut report = Writer::default();
    let mut queue: std::collections::VecDeque<usize> =
        (0..KEYS).filter(|i| i % 3 == lane).collect();
    let mut client = connect(port);
    let deadline = Instant::now() + Duration::from_secs(240);
    while let Some(i) = queue.pop_front() {
        assert!(
            Instant::now() < deadline,
            "the writer ran out of time: {report:?}"
        );
        if moving.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_micros(200));
        }
        let args = [
            b"SET".to_vec(),
            key(i).into_bytes(),
            format!("v{i}").into_bytes(),
        ];
        report.attempts += 1;
        match client.request_write(&args) {
            Ok(Reply::Simple(ok)) if ok == b"OK" => {
                report.acked.push(i);
                continue;
            }
            Ok(Reply::Error(e)) if e.starts_with(b"MISDIRECTED") => report.double_redirects += 1,
            Ok(Reply::Error(e)) if e.starts_with(b"QUIESCED") => report.quiesced += 1,
            Ok(other) => panic!("key {i}: unexpected reply {other:?}"),
            Err(_) => {
                report.io_errors += 1;
                thread::sleep(Duration::from_millis(20));
            }
        }
        queue.push_back(i);
        client = connect(port);
    }
    report
}

/// Moves `prefix` from `from` to `to`, retrying a refused or unresolved
/// move; returns the reply.
fn move_scope(cluster: &Cluster, prefix: &str, from: usize, to: usize) -> String {
    let port = cluster.nodes[from].port;
    for _ in 0..20 {
        let reply = command(
            port,
            &[
                b"MOVE-SCOPE",
                prefix.as_bytes(),
                b"FROM",
                NODES[from].as_bytes(),
                b"TO",
                NODES[to].as_bytes(),
            ],
        );
        eprintln!(
            "MOVE-SCOPE {prefix} {} -> {}: {reply}",
            NODES[from], NODES[to]
        );
        if reply.starts_with("+OK") {
            return reply;
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "MOVE-SCOPE {prefix} from {} to {} never succeeded",
        NODES[from], NODES[to]
    );
}

#[test]
fn prefixes_move_between_three_kevy_processes_without_loops_or_lost_writes() {
    let cluster = start();
    let moving = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|lane| {
            let port = cluster.nodes[lane].port;
            let moving = Arc::clone(&moving);
            thread::spawn(move || write(port, lane, &moving))
        })
        .collect();
    let moves = Mutex::new(Vec::new());
    for (prefix, from, to) in [("app:", 0, 1), ("app:", 1, 0), ("app:sub:", 0, 2)] {
        thread::sleep(Duration::from_millis(300));
        moving.store(true, Ordering::Relaxed);
        let reply = move_scope(&cluster, prefix, from, to);
        moving.store(false, Ordering::Relaxed);
        moves
            .lock()
            .unwrap()
            .push(format!("{prefix} {}->{}: {reply}", NODES[from], NODES[to]));
    }
    let reports: Vec<Writer> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let acked: usize = reports.iter().map(|r| r.acked.len()).sum();
    assert_eq!(acked, KEYS, "every key acknowledged once");

    // Let the announcements reach every node.
    thread::sleep(Duration::from_millis(500));
    let addr = |n: usize| format!("127.0.0.1:{}", cluster.nodes[n].port);
    let (mut loops, mut lost, mut two_acceptors) = (0, 0, 0);
    let mut per_owner = [0usize; 3];
    let mut conns: Vec<Conn> = cluster.nodes.iter().map(|n| Conn::open(n.port)).collect();
    for i in 0..KEYS {
        let k = key(i);
        let v = format!("v{i}");
        let before: Vec<String> = conns
            .iter_mut()
            .map(|c| c.command(&[b"GET", k.as_bytes()]))
            .collect();
        let replies: Vec<String> = conns
            .iter_mut()
            .map(|c| c.command(&[b"SET", k.as_bytes(), v.as_bytes()]))
            .collect();
        let owners: Vec<usize> = (0..3).filter(|&n| replies[n] == "+OK").collect();
        match owners.as_slice() {
            [owner] => {
                per_owner[*owner] += 1;
                if before[*owner] != v {
                    lost += 1;
                    if lost <= 5 {
                        eprintln!(
                            "lost {k}: acceptor {} held {:?}",
                            NODES[*owner], before[*owner]
                        );
                    }
                }
                for n in (0..3).filter(|n| n != owner) {
                    if replies[n] != format!("-MISDIRECTED writer is {}", addr(*owner)) {
                        loops += 1;
                        if loops <= 5 {
                            eprintln!(
                                "{k} on {}: {:?} (acceptor {})",
                                NODES[n], replies[n], NODES[*owner]
                            );
                        }
                    }
                }
            }
            _ => {
                two_acceptors += 1;
                eprintln!("{k}: {replies:?}");
            }
        }
    }
    eprintln!("moves: {:?}", moves.lock().unwrap());
    for (lane, r) in reports.iter().enumerate() {
        eprintln!(
            "writer through {}: {} acked in {} attempts; {} QUIESCED, {} redirects answered with a redirect, {} connection errors",
            NODES[lane],
            r.acked.len(),
            r.attempts,
            r.quiesced,
            r.double_redirects,
            r.io_errors
        );
    }
    eprintln!(
        "keys per acceptor (A, B, C): {per_owner:?}; not one hop: {loops}; lost: {lost}; not one acceptor: {two_acceptors}"
    );
    assert_eq!(two_acceptors, 0, "one acceptor per key");
    assert_eq!(
        loops, 0,
        "every other node redirects to the acceptor in one hop"
    );
    assert_eq!(lost, 0, "no acknowledged write lost");
    // Where the moves left each prefix: app: on A, app:sub: on C, other: on C.
    assert_eq!(
        per_owner,
        [KEYS / 3 + 1, 0, KEYS - KEYS / 3 - 1],
        "app: on A; app:sub: and other: on C"
    );
}
