//! The MCU (embed-billing-1, the firmware under QEMU), server-eu-1 and
//! embed-auth-1 as `cluster.sh` starts them, driven by kevy's cluster
//! client (`kevy-cluster-rw` 1.32.0) while prefixes move. Three writers,
//! one entering through each node, write [`KEYS`] keys while the
//! operator (logged in as `admin`, password from `KEVY_ADMIN_PASS_FILE`)
//! moves `app:billing:` MCU → server-eu-1, back server-eu-1 → MCU, then
//! the sub-prefix `app:billing:sub:` MCU → embed-auth-1. The two moves
//! off the MCU each kill it mid-move: the target stopped with `SIGSTOP`,
//! the MCU answering `QUIESCED`, `kill -9` of QEMU, the target resumed,
//! QEMU booted again on the same flash (its driver resolves the move in
//! flight), then the move again until it lands. (server-eu-1 is also
//! `app:billing:`'s fallback, which the MCU tells before it ships: that
//! kill lands before the ship and the move aborts; embed-auth-1 is not,
//! so the sub-prefix's keys are shipped into its socket before the kill.)
//! Then every key is written to every node:
//!
//! - one acceptor per key: exactly one node answers `+OK`;
//! - no redirect loop: every other node answers `-MISDIRECTED` naming the
//!   acceptor (one hop);
//! - no acknowledged write lost: the acceptor holds the value the writer
//!   had last acknowledged.
//!
//! The store limit: the MCU's store holds 16 keys (`STORE_CAP` in
//! src/commands.rs; an ingest that would overflow it is refused, and an
//! ingest is at most 1536 bytes). So only [`MCU_KEYS`] = 14 distinct keys
//! are of the MCU's scope: `app:billing:0..9` and `app:billing:sub:0..3`,
//! each overwritten again and again (one writer per key, so its last
//! acknowledged value is the one to find); the other keys of the 5 000
//! are `app:auth:N` (embed-auth-1's, a std node). (A source keeps its
//! copies of the keys it shipped: after `app:billing:sub:` leaves, the
//! MCU's store still counts its 4 keys, so 14 is the most that fits with
//! room to spare.) The probes that find a
//! prefix's owner are `DEL`s, which take no room in the store.
//!
//! Environment: `KEVY_MCU_PORT`, `KEVY_EU_PORT`, `KEVY_AUTH_PORT` (the
//! three ports), `KEVY_ADMIN_PASS_FILE`, `KEVY_MCU_BOOT` (the script
//! that boots QEMU on the MCU's flash and writes its pid) and
//! `KEVY_MCU_PID_FILE` (that pid), `KEVY_EU_PID` and `KEVY_AUTH_PID`
//! (the std nodes' pids);
//! `KEVY_E2E_KILL_MS` (default 1 500) how long into the move the MCU is
//! killed.

use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kevy_e2e_support::{
    Pace, WriteReport, check_every_key, try_command, try_commands, write_until_acked,
};

/// Keys written (distinct, counting the MCU's 14 once each).
const KEYS: usize = 5_000;
/// The MCU's store holds 16 keys: 14 of its scope, room for 2 more.
const MCU_KEYS: usize = 14;
const NODES: [&str; 3] = ["embed-billing-1", "server-eu-1", "embed-auth-1"];
const MCU: usize = 0;
const EU: usize = 1;
const AUTH: usize = 2;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (cluster.sh sets it)"))
}

struct Cluster {
    ports: [u16; 3],
    admin_pass: String,
    boot: String,
    pid_file: String,
    /// The std nodes' pids (`None` for the MCU): a move's target is
    /// stopped while the MCU is killed mid-move.
    pids: [Option<String>; 3],
    restarts: std::sync::atomic::AtomicUsize,
    /// The QEMUs this test booted: reaped once killed; the last one is
    /// left running (cluster.sh stops it through the pid file).
    booted: std::sync::Mutex<Vec<std::process::Child>>,
}

impl Cluster {
    fn from_env() -> Self {
        let port = |n: &str| env(n).parse::<u16>().expect("a port");
        let admin_pass = std::fs::read_to_string(env("KEVY_ADMIN_PASS_FILE"))
            .expect("the admin password file")
            .trim()
            .to_owned();
        Self {
            ports: [
                port("KEVY_MCU_PORT"),
                port("KEVY_EU_PORT"),
                port("KEVY_AUTH_PORT"),
            ],
            admin_pass,
            boot: env("KEVY_MCU_BOOT"),
            pid_file: env("KEVY_MCU_PID_FILE"),
            pids: [None, Some(env("KEVY_EU_PID")), Some(env("KEVY_AUTH_PID"))],
            restarts: Default::default(),
            booted: Default::default(),
        }
    }

    /// `kill -9` of QEMU; returns once its host port refuses connections.
    fn kill_mcu(&self) {
        let pid = std::fs::read_to_string(&self.pid_file).expect("QEMU's pid file");
        let pid = pid.trim();
        signal("-9", pid);
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.ports[MCU])).is_ok() && Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!("kill -9 QEMU (pid {pid})");
        for child in self.booted.lock().expect("booted").iter_mut() {
            let _ = child.try_wait();
        }
    }

    /// Boots QEMU again on the same flash; returns once it answers PING.
    fn boot_mcu(&self) {
        let n = self.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!("booting the MCU again");
        let child = Command::new("bash")
            .arg(&self.boot)
            .arg(format!("e2e-restart-{n}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("QEMU boots");
        self.booted.lock().expect("booted").push(child);
        let end = Instant::now() + Duration::from_secs(30);
        while try_command(self.ports[MCU], &[b"PING"], Duration::from_secs(2)) != "+PONG" {
            assert!(Instant::now() < end, "the MCU did not come back");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `kill SIG PID`.
fn signal(sig: &str, pid: &str) {
    let sent = Command::new("kill").args([sig, pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill {sig} {pid}");
}

/// A stopped process (`SIGSTOP`), resumed (`SIGCONT`) when dropped.
struct Stopped(String);

impl Stopped {
    fn new(pid: &str) -> Self {
        signal("-STOP", pid);
        Self(pid.to_owned())
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

/// Key `i`'s name, and the writer lane that owns it. Every 8th key is
/// one of the MCU's 14 (slot `(i / 8) % 14`, so each is written many
/// times), written always by the lane `slot % 3`; the rest `app:auth:i`,
/// by the lane `i % 3`.
fn key(i: usize) -> (String, usize) {
    if i.is_multiple_of(8) {
        let slot = (i / 8) % MCU_KEYS;
        let name = if slot < 10 {
            format!("app:billing:{slot}")
        } else {
            format!("app:billing:sub:{}", slot - 10)
        };
        (name, slot % 3)
    } else {
        (format!("app:auth:{i}"), i % 3)
    }
}

/// The writes through lane `lane`'s node, in order: write `i` sets key
/// `key(i)` to `v<i>`.
fn writes(lane: usize) -> Vec<(String, String)> {
    (0..KEYS_WRITES)
        .filter_map(|i| {
            let (k, l) = key(i);
            (l == lane).then(|| (k, format!("v{i}")))
        })
        .collect()
}

/// How the writers pace themselves: paced while a move runs so that the
/// writes span the moves.
const PACE: Pace = Pace {
    while_moving: Duration::from_millis(4),
    after_error: Duration::from_millis(50),
    limit: Duration::from_secs(300),
};

/// The writes: [`KEYS`] - [`MCU_KEYS`] `app:auth:` keys and the MCU's
/// 14 keys written over and over (every 8th write).
const KEYS_WRITES: usize = (KEYS - MCU_KEYS) * 8 / 7 + 1;

/// `MOVE-SCOPE` as `admin` on a thread of its own: the node may be
/// killed while it runs.
fn send_move(
    cluster: &Cluster,
    prefix: &str,
    from: usize,
    to: usize,
) -> thread::JoinHandle<String> {
    let (port, pass) = (cluster.ports[from], cluster.admin_pass.clone());
    let (prefix, from, to) = (prefix.to_owned(), NODES[from], NODES[to]);
    thread::spawn(move || {
        let auth: [&[u8]; 3] = [b"AUTH", b"admin", pass.as_bytes()];
        let mv: [&[u8]; 6] = [
            b"MOVE-SCOPE",
            prefix.as_bytes(),
            b"FROM",
            from.as_bytes(),
            b"TO",
            to.as_bytes(),
        ];
        try_commands(port, &[&auth, &mv], Duration::from_secs(60))
    })
}

/// The node that accepts `prefix` once it has settled: a `DEL` of a probe
/// key (it takes no room in the MCU's store) accepted (an integer reply)
/// by exactly one node, every other redirecting to it.
fn settle(cluster: &Cluster, prefix: &str) -> usize {
    let probe = |key: &str| vec![b"DEL".to_vec(), key.into()];
    kevy_e2e_support::settle(
        &cluster.ports,
        prefix,
        probe,
        |reply| reply.starts_with(':'),
        Duration::from_millis(200),
    )
}

/// Moves `prefix` from `from` to `to` (with the MCU killed mid-move in
/// the first attempt when `kill_mid_move`), then again, without a
/// fault, until it lands; returns what each attempt answered.
///
/// The kill mid-move, as cluster.sh's: the target (a std node) is
/// stopped (`SIGSTOP`), so the MCU's driver cannot finish; `kill_after`
/// into the move the MCU answers a write of the prefix (`QUIESCED`),
/// QEMU is killed, the target resumed (it reads what is still in its
/// sockets) and QEMU booted again on the same flash: its driver resumes
/// the move in flight from its image and asks its outcome.
fn move_until_moved(
    cluster: &Cluster,
    prefix: &str,
    from: usize,
    to: usize,
    kill_mid_move: bool,
    kill_after: Duration,
) -> Vec<String> {
    let mut log = Vec::new();
    let mut kill = kill_mid_move;
    for _ in 0..5 {
        let stopped =
            kill.then(|| Stopped::new(cluster.pids[to].as_deref().expect("a move to a std node")));
        let sent = send_move(cluster, prefix, from, to);
        let mut fault = String::new();
        if let Some(stopped) = stopped {
            thread::sleep(kill_after);
            let probe = format!("{prefix}probe");
            let during = try_command(
                cluster.ports[MCU],
                &[b"DEL", probe.as_bytes()],
                Duration::from_secs(2),
            );
            cluster.kill_mcu();
            drop(stopped);
            thread::sleep(Duration::from_millis(500));
            cluster.boot_mcu();
            fault = format!(
                " ({} stopped, the MCU answering {during:?} at {kill_after:?}, then killed)",
                NODES[to]
            );
        }
        kill = false;
        let reply = sent.join().expect("mover");
        let owner = settle(cluster, prefix);
        log.push(format!(
            "{prefix} {}->{}{fault}: {reply:?}; settled on {}",
            NODES[from], NODES[to], NODES[owner]
        ));
        eprintln!("{}", log.last().unwrap());
        if owner == to {
            return log;
        }
        assert_eq!(owner, from, "{prefix} settled on a third node");
    }
    panic!(
        "{prefix} never moved from {} to {}: {log:?}",
        NODES[from], NODES[to]
    );
}

#[test]
fn billing_moves_off_the_mcu_and_back_with_a_kill_without_loops_or_lost_writes() {
    let t0 = Instant::now();
    let cluster = Cluster::from_env();
    assert_eq!(
        settle(&cluster, "app:billing:"),
        MCU,
        "app:billing: starts on the MCU"
    );
    assert_eq!(
        settle(&cluster, "app:auth:"),
        AUTH,
        "app:auth: on embed-auth-1"
    );
    let kill_ms: u64 = std::env::var("KEVY_E2E_KILL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let moving = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..3)
        .map(|lane| {
            let port = cluster.ports[lane];
            let moving = Arc::clone(&moving);
            thread::spawn(move || write_until_acked(port, writes(lane), &moving, PACE))
        })
        .collect();
    let mut moves = Vec::new();
    for (prefix, from, to, kill) in [
        ("app:billing:", MCU, EU, true),
        ("app:billing:", EU, MCU, false),
        ("app:billing:sub:", MCU, AUTH, true),
    ] {
        thread::sleep(Duration::from_millis(1_000));
        let after = Duration::from_millis(kill_ms);
        moves.extend(move_until_moved(&cluster, prefix, from, to, kill, after));
    }
    moving.store(false, Ordering::Relaxed);
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
    assert_eq!(acked, KEYS_WRITES, "every write acknowledged once");
    let lines: Vec<String> = reports.iter().map(ToString::to_string).collect();
    // Each key's last acknowledged value (one writer per key: its acks
    // are in order).
    let mut last: HashMap<String, (usize, String)> = HashMap::new();
    for (lane, r) in reports.into_iter().enumerate() {
        for (k, v) in r.acked {
            let (writer, _) = last
                .entry(k.clone())
                .or_insert((lane, String::new()))
                .clone();
            assert_eq!(writer, lane, "{k}: one writer");
            last.insert(k, (lane, v));
        }
    }
    assert_eq!(last.len(), KEYS, "distinct keys written");
    let mut last: Vec<(String, String)> = last.into_iter().map(|(k, (_, v))| (k, v)).collect();
    last.sort();

    // Let the announcements reach every node.
    thread::sleep(Duration::from_millis(1_000));
    // What each node holds, then what each answers to a write of every
    // key (the acknowledged value again: the acceptor's store is
    // unchanged, and the MCU's grows by no key).
    let check = check_every_key(&cluster.ports, &NODES, last.clone(), 16);
    let mut per_prefix: HashMap<(&str, usize), usize> = HashMap::new();
    for ((k, _), owner) in last.iter().zip(&check.owners) {
        let prefix = ["app:billing:sub:", "app:billing:", "app:auth:"]
            .into_iter()
            .find(|p| k.starts_with(p))
            .unwrap_or("?");
        if let Some(owner) = owner {
            *per_prefix.entry((prefix, *owner)).or_default() += 1;
        }
    }
    eprintln!(
        "moves: {moves:#?}\nchecked at {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for (lane, r) in lines.iter().enumerate() {
        eprintln!("writer through {}: {r}", NODES[lane]);
    }
    eprintln!(
        "keys per acceptor (MCU, eu-1, auth-1): {:?}; per prefix: {per_prefix:?}; \
         not one hop: {}; lost: {}; not one acceptor: {}",
        check.per_owner, check.not_one_hop, check.lost, check.not_one_acceptor
    );
    check.assert_held();
    // Where the moves left each prefix: app:billing: on the MCU,
    // app:billing:sub: and app:auth: on embed-auth-1.
    assert_eq!(
        check.per_owner,
        [10, 0, KEYS - 10],
        "app:billing: on the MCU; app:billing:sub: and app:auth: on embed-auth-1"
    );
}
