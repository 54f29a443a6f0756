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

use kevy_e2e_support::{Pace, WriteReport, check_every_key, try_command, write_until_acked};

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

/// The writes through lane `lane`'s node: keys `i` with `i % 3 == lane`,
/// value `v<i>`.
fn writes(lane: usize) -> Vec<(String, String)> {
    (0..KEYS)
        .filter(|i| i % 3 == lane)
        .map(|i| (key(i), format!("v{i}")))
        .collect()
}

/// How the writers pace themselves.
const PACE: Pace = Pace {
    while_moving: Duration::from_micros(200),
    after_error: Duration::from_millis(20),
    limit: Duration::from_secs(240),
};

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

/// The node that accepts `prefix` once it has settled: a `SET` of a probe
/// key accepted by exactly one node, every other redirecting to it.
fn settle(cluster: &Cluster, prefix: &str) -> usize {
    let probe = |key: &str| vec![b"SET".to_vec(), key.into(), b"p".to_vec()];
    kevy_e2e_support::settle(
        &cluster.ports,
        prefix,
        probe,
        |reply| reply == "+OK",
        Duration::from_millis(100),
    )
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
            thread::spawn(move || write_until_acked(port, writes(lane), &moving, PACE))
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
    let reports: Vec<WriteReport> = writers
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
    let lines: Vec<String> = reports.iter().map(ToString::to_string).collect();

    // Let the announcements reach every node.
    thread::sleep(Duration::from_millis(500));
    // Each key's acknowledged value.
    let last: Vec<(String, String)> = reports.into_iter().flat_map(|r| r.acked).collect();
    let check = check_every_key(&cluster.ports, &NODES, last, 1_000);
    eprintln!(
        "moves: {moves:?}; checked at {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for (lane, r) in lines.iter().enumerate() {
        eprintln!("writer through {}: {r}", NODES[lane]);
    }
    eprintln!(
        "keys per acceptor (A, B, C): {:?}; not one hop: {}; lost: {}; not one acceptor: {}",
        check.per_owner, check.not_one_hop, check.lost, check.not_one_acceptor
    );
    check.assert_held();
    // Where the moves left each prefix: app: on A, app:sub: on C, other: on C.
    assert_eq!(
        check.per_owner,
        [KEYS / 3 + 1, 0, KEYS - KEYS / 3 - 1],
        "app: on A; app:sub: and other: on C"
    );
}
