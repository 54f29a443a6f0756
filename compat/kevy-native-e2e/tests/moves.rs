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
//! Mid-move, the source of one move and the target of another are killed
//! (`kill -9`) and restarted from their data dirs (AOF and records file):
//! a pause (`KEVY_SCOPE_STEP_PAUSE_MS`) before each ship and between an
//! ingest's keys and its adoption gives the test its moment.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kevy_e2e_support::{connect, pipeline, try_command};
use kevy_resp::Reply;

const KEYS: usize = 20_000;
const PREFIXES: [&str; 3] = ["app:", "app:sub:", "other:"];
const NODES: [&str; 3] = ["A", "B", "C"];

/// Each ship waits this long, and each ingest between its keys and its
/// adoption: the window a kill lands in.
const PAUSE_MS: u64 = 400;

struct Node {
    config: PathBuf,
    child: Child,
}

struct Cluster {
    nodes: Mutex<Vec<Node>>,
    ports: Vec<u16>,
    _dir: PathBuf,
}

fn spawn(config: &PathBuf) -> Child {
    let bin = std::env::var("KEVY_BIN")
        .expect("KEVY_BIN: the kevy binary built with compat/kevy-native.patch");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("log"))
        .expect("log");
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .env("KEVY_SCOPE_STEP_PAUSE_MS", PAUSE_MS.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kevy starts")
}

fn wait_up(port: u16) {
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "kevy on port {port} did not start");
        thread::sleep(Duration::from_millis(20));
    }
}

impl Cluster {
    /// `kill -9` of node `n`, then a restart from its data dir.
    fn kill_and_restart(&self, n: usize) {
        let mut nodes = self.nodes.lock().unwrap();
        let node = &mut nodes[n];
        node.child.kill().expect("kill -9");
        let _ = node.child.wait();
        eprintln!("kill -9 {}; restarting it", NODES[n]);
        node.child = spawn(&node.config);
        drop(nodes);
        wait_up(self.ports[n]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.get_mut().unwrap() {
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
        let child = spawn(&config);
        nodes.push(Node { config, child });
    }
    for port in &ports {
        wait_up(*port);
    }
    Cluster {
        nodes: Mutex::new(nodes),
        ports,
        _dir: dir,
    }
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

/// Sends `MOVE-SCOPE` on a thread of its own: the node may be killed
/// while it runs.
fn send_move(port: u16, prefix: &str, from: usize, to: usize) -> thread::JoinHandle<String> {
    let (prefix, from, to) = (prefix.to_owned(), NODES[from], NODES[to]);
    thread::spawn(move || {
        let args: [&[u8]; 6] = [
            b"MOVE-SCOPE",
            prefix.as_bytes(),
            b"FROM",
            from.as_bytes(),
            b"TO",
            to.as_bytes(),
        ];
        try_command(port, &args, Duration::from_secs(60))
    })
}

/// The node that accepts `prefix` once it has settled: a probe key
/// written to every node is accepted by exactly one, and every other
/// redirects to it in one hop.
fn settle(cluster: &Cluster, prefix: &str) -> usize {
    let key = format!("{prefix}probe");
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        let replies: Vec<String> = cluster
            .ports
            .iter()
            .map(|&p| try_command(p, &[b"SET", key.as_bytes(), b"p"], Duration::from_secs(10)))
            .collect();
        let owners: Vec<usize> = (0..3).filter(|&n| replies[n] == "+OK").collect();
        if let [owner] = owners.as_slice() {
            let addr = format!("-MISDIRECTED writer is 127.0.0.1:{}", cluster.ports[*owner]);
            if (0..3).filter(|n| n != owner).all(|n| replies[n] == addr) {
                return *owner;
            }
        }
        assert!(Instant::now() < end, "{prefix} never settled: {replies:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// What happens to a move's nodes while it runs.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// `kill -9` of the source before it ships.
    KillSource,
    /// `kill -9` of the target between the keys and the adoption.
    KillTarget,
}

/// Moves `prefix` from `from` to `to` with `fault`, then again (without
/// one) until it lands; returns what each attempt answered.
fn move_until_moved(
    cluster: &Cluster,
    prefix: &str,
    from: usize,
    to: usize,
    fault: Fault,
) -> Vec<String> {
    let mut log = Vec::new();
    let mut fault = fault;
    for _ in 0..5 {
        let sent = send_move(cluster.ports[from], prefix, from, to);
        match fault {
            Fault::None => {}
            Fault::KillSource => {
                thread::sleep(Duration::from_millis(PAUSE_MS / 2));
                cluster.kill_and_restart(from);
            }
            Fault::KillTarget => {
                thread::sleep(Duration::from_millis(PAUSE_MS + PAUSE_MS / 2));
                cluster.kill_and_restart(to);
            }
        }
        let reply = sent.join().expect("mover");
        let owner = settle(cluster, prefix);
        log.push(format!(
            "{prefix} {}->{} ({fault:?}): {reply}; settled on {}",
            NODES[from], NODES[to], NODES[owner]
        ));
        eprintln!("{}", log.last().unwrap());
        if owner == to {
            return log;
        }
        assert_eq!(owner, from, "{prefix} settled on a third node");
        fault = Fault::None;
    }
    panic!(
        "{prefix} never moved from {} to {}: {log:?}",
        NODES[from], NODES[to]
    );
}

#[test]
fn prefixes_move_between_three_kevy_processes_without_loops_or_lost_writes() {
    let t0 = Instant::now();
    let cluster = start();
    let moving = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|lane| {
            let port = cluster.ports[lane];
            let moving = Arc::clone(&moving);
            thread::spawn(move || write(port, lane, &moving))
        })
        .collect();
    let mut moves = Vec::new();
    for (prefix, from, to, fault) in [
        ("app:", 0, 1, Fault::None),
        ("app:", 1, 0, Fault::KillSource),
        ("app:sub:", 0, 2, Fault::KillTarget),
    ] {
        thread::sleep(Duration::from_millis(300));
        moving.store(true, Ordering::Relaxed);
        moves.extend(move_until_moved(&cluster, prefix, from, to, fault));
        moving.store(false, Ordering::Relaxed);
    }
    let moved_at = t0.elapsed();
    let reports: Vec<Writer> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    eprintln!(
        "moves done at {:.1} s; writers done at {:.1} s",
        moved_at.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    let acked: usize = reports.iter().map(|r| r.acked.len()).sum();
    assert_eq!(acked, KEYS, "every key acknowledged once");

    // Let the announcements reach every node.
    thread::sleep(Duration::from_millis(500));
    let addr = |n: usize| format!("127.0.0.1:{}", cluster.ports[n]);
    let (mut loops, mut lost, mut two_acceptors) = (0, 0, 0);
    let mut per_owner = [0usize; 3];
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let keys = Arc::new(keys);
    // What each node holds, then what each answers to a write of every key.
    let read_and_write = |n: usize| {
        let (port, keys) = (cluster.ports[n], Arc::clone(&keys));
        thread::spawn(move || {
            let held = pipeline(port, &keys, 1_000, |k| {
                vec![b"GET".to_vec(), k.as_bytes().to_vec()]
            });
            (held, keys)
        })
    };
    let held: Vec<Vec<String>> = (0..3)
        .map(read_and_write)
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("reader").0)
        .collect();
    let answers: Vec<Vec<String>> = (0..3)
        .map(|n| {
            let (port, keys) = (cluster.ports[n], Arc::clone(&keys));
            thread::spawn(move || {
                pipeline(port, &keys, 1_000, |k| {
                    let i = k.trim_start_matches(|c: char| !c.is_ascii_digit());
                    vec![
                        b"SET".to_vec(),
                        k.as_bytes().to_vec(),
                        format!("v{i}").into_bytes(),
                    ]
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("writer"))
        .collect();
    for i in 0..KEYS {
        let k = key(i);
        let v = format!("v{i}");
        let before: Vec<&String> = (0..3).map(|n| &held[n][i]).collect();
        let replies: Vec<&String> = (0..3).map(|n| &answers[n][i]).collect();
        let owners: Vec<usize> = (0..3).filter(|&n| replies[n] == "+OK").collect();
        match owners.as_slice() {
            [owner] => {
                per_owner[*owner] += 1;
                if *before[*owner] != v {
                    lost += 1;
                    if lost <= 5 {
                        eprintln!(
                            "lost {k}: acceptor {} held {:?}",
                            NODES[*owner], before[*owner]
                        );
                    }
                }
                for n in (0..3).filter(|n| n != owner) {
                    if *replies[n] != format!("-MISDIRECTED writer is {}", addr(*owner)) {
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
    eprintln!(
        "moves: {moves:?}; checked at {:.1} s",
        t0.elapsed().as_secs_f64()
    );
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
