//! Three kevy-node processes on loopback with real clients: `redis-cli`
//! (Debian's redis-tools, installed when missing) and kevy's published
//! cluster client `kevy-cluster-rw`.
//!
//! - `redis_cli_sees_the_exact_refusals`: the exact `-MISDIRECTED` and
//!   `-QUIESCED` text, a move and a move back, MULTI/EXEC refused across
//!   ownership units (a sub-prefix that moved on its own is one), and a
//!   node whose records file is damaged recovering from its peers.
//! - `acknowledged_writes_survive_moves_and_kills`: 20 000 distinct keys
//!   written through one node while prefixes move (a move back, a
//!   sub-prefix, the entry node giving one away) and while the source,
//!   then the target, of a move is killed with `kill -9` at a random point
//!   and restarted from its files. Afterwards every key has exactly one
//!   acceptor, which holds the acknowledged value, and the client met no
//!   redirect it did not follow outside the window between a move's start
//!   and the moment the node it asks knew the move's end.

mod support;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kevy_cluster_rw::ReadWriteClient;
use support::{Cluster, Reply, Rng};

const SCOPES: &str = "app:a:=n1|n3, app:b:=n2, app:c:=n3";

/// The two tests start clusters of their own; one at a time keeps them
/// off each other's CPU.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn misdirected(port: u16) -> String {
    format!("MISDIRECTED writer is 127.0.0.1:{port}")
}

#[test]
fn redis_cli_sees_the_exact_refusals() {
    let _one_at_a_time = serial();
    support::ensure_redis_cli();
    let cluster = Cluster::start("cli", SCOPES, 400);
    let (p1, p2, p3) = (cluster.port("n1"), cluster.port("n2"), cluster.port("n3"));
    let cli = support::redis_cli;
    let admin = support::redis_cli_admin;

    // A write on a node that does not own the key: the exact reply, as
    // redis-cli prints it and byte for byte on the wire.
    assert_eq!(cli(p3, &["SET", "app:a:1", "x"]), misdirected(p1));
    let wire = support::pipeline(
        p3,
        &[vec![b"SET".to_vec(), b"app:a:1".to_vec(), b"x".to_vec()]],
    )
    .unwrap();
    assert_eq!(wire, [Reply::Error(misdirected(p1).into_bytes())]);
    assert_eq!(cli(p1, &["SET", "app:a:1", "x"]), "OK");
    assert_eq!(
        cli(p3, &["GET", "app:a:1"]),
        "",
        "n3 holds no copy of n1's keys"
    );

    // While app:a: moves n1 -> n2, its writes on n1 are quiesced.
    // Only the admin user moves scopes.
    let refused = cli(p1, &["MOVE-SCOPE", "app:a:", "FROM", "n1", "TO", "n2"]);
    assert!(refused.starts_with("NOPERM "), "{refused}");
    let mover = thread::spawn(move || {
        support::redis_cli_admin(p1, &["MOVE-SCOPE", "app:a:", "FROM", "n1", "TO", "n2"])
    });
    let quiesced = format!("QUIESCED migrating to 127.0.0.1:{p2}");
    let mut last = String::new();
    let seen = support::wait_until(Duration::from_secs(5), || {
        last = cli(p1, &["SET", "app:a:2", "y"]);
        last == quiesced
    });
    assert!(
        seen.is_some(),
        "no QUIESCED during the move; last reply {last:?}\n{}",
        cluster.logs()
    );
    let moved = mover.join().unwrap();
    assert!(
        moved.starts_with("OK "),
        "MOVE-SCOPE answered {moved:?}\n{}",
        cluster.logs()
    );

    // After: the source redirects, the target accepts, and the bystander
    // redirects straight to the target once the announcement reached it.
    assert_eq!(cli(p1, &["SET", "app:a:1", "z"]), misdirected(p2));
    assert_eq!(cli(p2, &["SET", "app:a:1", "z"]), "OK");
    let announced = support::wait_until(Duration::from_secs(5), || {
        cli(p3, &["SET", "app:a:1", "z"]) == misdirected(p2)
    });
    assert!(
        announced.is_some(),
        "n3 never learned the move\n{}",
        cluster.logs()
    );
    assert_eq!(cli(p2, &["GET", "app:a:1"]), "z");

    // A move back leaves no loop: n1 accepts again, n2 redirects to it.
    assert!(admin(p2, &["MOVE-SCOPE", "app:a:", "FROM", "n2", "TO", "n1"]).starts_with("OK "));
    assert_eq!(cli(p1, &["GET", "app:a:1"]), "z");
    assert_eq!(cli(p1, &["SET", "app:a:1", "w"]), "OK");
    assert_eq!(cli(p2, &["SET", "app:a:1", "w"]), misdirected(p1));

    // MULTI/EXEC across scopes is refused, and nothing of it applied.
    let refused = support::redis_cli_script(
        p1,
        "MULTI\nSET app:a:1 q\nSET app:b:1 r\nEXEC\nGET app:a:1\n",
    );
    assert_eq!(
        refused,
        [
            "OK",
            "QUEUED",
            "QUEUED",
            r#"CROSSSCOPE transaction touches scopes "app:a:" and "app:b:""#,
            "w"
        ]
    );
    let applied = support::redis_cli_script(p1, "MULTI\nSET app:a:1 q\nSET app:a:2 r\nEXEC\n");
    assert_eq!(applied, ["OK", "QUEUED", "QUEUED", "OK", "OK"]);
    // A transaction for keys this node does not own gets the refusal.
    let elsewhere = support::redis_cli_script(p3, "MULTI\nSET app:b:1 q\nEXEC\n");
    assert_eq!(
        elsewhere.last().map(String::as_str),
        Some(misdirected(p2).as_str())
    );

    // Effective ownership: a sub-prefix that moved on its own is a unit
    // of its own, even on the node that gave it away.
    assert!(admin(p2, &["MOVE-SCOPE", "app:b:x:", "FROM", "n2", "TO", "n1"]).starts_with("OK "));
    let split = support::redis_cli_script(p2, "MULTI\nSET app:b:1 q\nGET app:b:x:1\nEXEC\n");
    assert_eq!(
        split.last().map(String::as_str),
        Some(r#"CROSSSCOPE transaction touches scopes "app:b:" and "app:b:x:""#)
    );
    assert_eq!(cli(p2, &["SET", "app:b:x:1", "q"]), misdirected(p1));
    assert_eq!(cli(p2, &["SET", "app:b:1", "q"]), "OK");

    // A damaged records file quarantines its node: it says so, and
    // recovers its records from its peers on its own (no lift by hand;
    // tests/recovery.rs holds it there with a peer down).
    let mut cluster = cluster;
    cluster.kill9("n3");
    let records = cluster.dir("n3").join("records.kvnr");
    let mut bytes = std::fs::read(&records).expect("n3 persisted its records");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&records, bytes).unwrap();
    cluster.restart("n3");
    assert!(
        cluster.log("n3").contains("QUARANTINED"),
        "{}",
        cluster.log("n3")
    );
    let back = support::wait_until(Duration::from_secs(15), || {
        support::lift_check(p3).starts_with("OK not quarantined")
    });
    assert!(back.is_some(), "n3 did not recover\n{}", cluster.logs());
    assert_eq!(cli(p3, &["SET", "app:c:1", "x"]), "OK");
    assert_eq!(cli(p3, &["SET", "app:a:1", "x"]), misdirected(p1));
    assert_eq!(cli(p3, &["SET", "app:b:x:1", "x"]), misdirected(p1));
}

/// The prefixes the keys are spread over (`app:b:x:` lies inside
/// `app:b:`; the schedule also moves `app:b:1`, a ninth of `app:b:`).
const PREFIXES: [&str; 4] = ["app:a:", "app:b:", "app:b:x:", "app:c:"];
const KEYS: usize = 20_000;
/// The pause between the steps of a move on every node (ms): it widens
/// the windows a kill can land in.
const STEP_PAUSE_MS: u64 = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kill {
    None,
    Source,
    Target,
}

/// One move of the schedule.
struct Move {
    prefix: &'static str,
    from: &'static str,
    to: &'static str,
    kill: Kill,
}

/// While a move runs and until the node the client asks knows how it
/// ended, a second redirect for its keys is allowed.
#[derive(Debug)]
struct Window {
    prefix: &'static str,
    start: Instant,
    end: Instant,
}

/// A `-MISDIRECTED` the client handed back instead of following.
#[derive(Debug)]
struct Unfollowed {
    key: String,
    start: Instant,
    end: Instant,
    #[allow(dead_code)] // shown when the check fails
    reply: String,
}

#[derive(Default, Debug)]
struct WriterReport {
    acked: Vec<usize>,
    /// When each acknowledged write started.
    acked_at: Vec<Instant>,
    unfollowed: Vec<Unfollowed>,
    quiesced: usize,
    io_errors: usize,
    other: Vec<String>,
    attempts: usize,
}

/// A reply as text, for the log.
fn show(reply: &std::io::Result<Reply>) -> String {
    match reply {
        Ok(Reply::Simple(s)) => format!("+{}", String::from_utf8_lossy(s)),
        Ok(Reply::Error(e)) => format!("-{}", String::from_utf8_lossy(e)),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("connection lost: {e}"),
    }
}

fn key(i: usize) -> String {
    format!("{}{i}", PREFIXES[i % PREFIXES.len()])
}

fn value(i: usize) -> String {
    format!("v{i}")
}

fn connect(port: u16) -> ReadWriteClient {
    for _ in 0..100 {
        if let Ok(c) = ReadWriteClient::connect(("127.0.0.1", port), &[]) {
            return c;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the entry node on port {port} does not accept connections");
}

/// Writes every key once through the node on `port`, retrying a key
/// (later, on a fresh client, so no cached redirect is reused) when its
/// write was not acknowledged. Paced while `moving` holds, so writes
/// overlap the moves.
fn write_all_keys(port: u16, moving: Arc<Mutex<bool>>) -> WriterReport {
    let mut report = WriterReport::default();
    let mut queue: std::collections::VecDeque<(usize, u32)> = (0..KEYS).map(|i| (i, 0)).collect();
    let mut client = connect(port);
    let deadline = Instant::now() + Duration::from_secs(90);
    while let Some((i, tries)) = queue.pop_front() {
        assert!(
            Instant::now() < deadline,
            "the writer ran out of time: {report:?}"
        );
        if *moving.lock().unwrap() {
            thread::sleep(Duration::from_millis(1));
        }
        let (k, v) = (key(i), value(i));
        let args = [b"SET".to_vec(), k.clone().into_bytes(), v.into_bytes()];
        let start = Instant::now();
        let reply = client.request_write(&args);
        let end = Instant::now();
        report.attempts += 1;
        let fresh_client = match reply {
            Ok(kevy_resp::Reply::Simple(ok)) if ok == b"OK" => {
                report.acked.push(i);
                report.acked_at.push(start);
                continue;
            }
            Ok(kevy_resp::Reply::Error(e)) => {
                let text = String::from_utf8_lossy(&e).into_owned();
                if text.starts_with("MISDIRECTED") {
                    report.unfollowed.push(Unfollowed {
                        key: k,
                        start,
                        end,
                        reply: text,
                    });
                } else if text.starts_with("QUIESCED") {
                    report.quiesced += 1;
                } else {
                    report.other.push(text);
                }
                true
            }
            Ok(other) => {
                report.other.push(format!("{other:?}"));
                true
            }
            Err(_) => {
                report.io_errors += 1;
                thread::sleep(Duration::from_millis(20));
                true
            }
        };
        assert!(tries < 100, "key {i} was never acknowledged: {report:?}");
        queue.push_back((i, tries + 1));
        if fresh_client {
            client = connect(port);
        }
    }
    report
}

/// Waits until `prefix` has settled: every node answers, none is moving
/// it or owes an announcement, and all hold the same record of it.
/// Returns when the entry node first showed that final record.
fn settle(cluster: &Cluster, prefix: &str, entry: &str) -> Instant {
    let mut seen_by_entry: Vec<(Instant, Option<u32>)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let now = Instant::now();
        let statuses = cluster.statuses();
        if let Some((_, s)) = statuses.iter().find(|(id, _)| *id == entry) {
            let settled_record = s
                .record(prefix)
                .filter(|r| r.phase != "Pending")
                .map(|r| r.epoch);
            seen_by_entry.push((now, settled_record));
        }
        let records: Vec<Option<&support::Record>> =
            statuses.iter().map(|(_, s)| s.record(prefix)).collect();
        let settled = statuses.len() == support::IDS.len()
            && statuses
                .iter()
                .all(|(_, s)| s.announcing == 0 && !s.quarantined)
            && records
                .iter()
                .all(|r| r.is_none_or(|r| r.phase != "Moving" && r.phase != "Pending"))
            && records
                .windows(2)
                .all(|w| w[0].map(|r| r.epoch) == w[1].map(|r| r.epoch));
        if settled {
            let last = records[0].map(|r| r.epoch);
            return seen_by_entry
                .iter()
                .find(|(_, epoch)| *epoch == last)
                .map_or(now, |(t, _)| *t);
        }
        assert!(
            now < end,
            "{prefix} did not settle: {statuses:#?}\n{}",
            cluster.logs()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn acknowledged_writes_survive_moves_and_kills() {
    let _one_at_a_time = serial();
    let mut rng = Rng::from_env();
    let mut cluster = Cluster::start("moves", SCOPES, STEP_PAUSE_MS);
    let entry = "n3";
    let entry_port = cluster.port(entry);
    let schedule = [
        Move {
            prefix: "app:a:",
            from: "n1",
            to: "n2",
            kill: Kill::None,
        },
        Move {
            prefix: "app:b:x:",
            from: "n2",
            to: "n1",
            kill: Kill::None,
        },
        Move {
            prefix: "app:a:",
            from: "n2",
            to: "n1",
            kill: Kill::None,
        },
        Move {
            prefix: "app:c:",
            from: "n3",
            to: "n2",
            kill: Kill::None,
        },
        Move {
            prefix: "app:a:",
            from: "n1",
            to: "n2",
            kill: Kill::Source,
        },
        Move {
            prefix: "app:b:x:",
            from: "n1",
            to: "n2",
            kill: Kill::Target,
        },
        Move {
            prefix: "app:c:",
            from: "n2",
            to: "n1",
            kill: Kill::Source,
        },
        Move {
            prefix: "app:b:1",
            from: "n2",
            to: "n1",
            kill: Kill::Target,
        },
    ];

    let moving = Arc::new(Mutex::new(true));
    let writer = {
        let moving = Arc::clone(&moving);
        thread::spawn(move || write_all_keys(entry_port, moving))
    };

    let mut windows = Vec::new();
    let mut kills = Vec::new();
    thread::sleep(Duration::from_millis(800));
    for m in &schedule {
        let start = Instant::now();
        let source_port = cluster.port(m.from);
        let (prefix, from, to) = (m.prefix, m.from, m.to);
        let operator = thread::spawn(move || support::move_scope(source_port, prefix, from, to));
        if m.kill != Kill::None {
            let victim = if m.kill == Kill::Source { m.from } else { m.to };
            let at = rng.below(5 * STEP_PAUSE_MS);
            thread::sleep(Duration::from_millis(at));
            cluster.kill9(victim);
            thread::sleep(Duration::from_millis(200 + rng.below(300)));
            cluster.restart(victim);
            kills.push(format!(
                "{victim} ({:?} of {prefix} {from}->{to}) at {at} ms",
                m.kill
            ));
        }
        let answer = operator.join().unwrap();
        eprintln!(
            "MOVE-SCOPE {prefix} {from}->{to} ({:?}): {}",
            m.kill,
            show(&answer)
        );
        if m.kill == Kill::None {
            assert!(
                matches!(&answer, Ok(Reply::Simple(ok)) if ok.starts_with(b"OK ")),
                "MOVE-SCOPE {prefix} {from}->{to}: {answer:?}\n{}",
                cluster.logs()
            );
        }
        let end = settle(&cluster, prefix, entry);
        windows.push(Window { prefix, start, end });
        thread::sleep(Duration::from_millis(1000));
    }
    *moving.lock().unwrap() = false;
    let report = writer.join().unwrap();

    // Every key was acknowledged in the end (unacknowledged tries were retried).
    assert_eq!(report.acked.len(), KEYS, "{report:?}");
    assert!(
        report.other.is_empty(),
        "unexpected replies: {:?}",
        report.other
    );

    // One acceptor per key, and it holds the acknowledged value.
    let ports: Vec<(&str, u16)> = support::IDS
        .iter()
        .map(|&id| (id, cluster.port(id)))
        .collect();
    let verdicts: Vec<Vec<Reply>> = ports
        .iter()
        .map(|&(_, p)| {
            let cmds: Vec<Vec<Vec<u8>>> = report
                .acked
                .iter()
                .map(|&i| vec![b"SCOPE-VERDICT".to_vec(), key(i).into_bytes()])
                .collect();
            support::pipeline(p, &cmds).unwrap()
        })
        .collect();
    let values: Vec<Vec<Reply>> = ports
        .iter()
        .map(|&(_, p)| {
            let cmds: Vec<Vec<Vec<u8>>> = report
                .acked
                .iter()
                .map(|&i| vec![b"GET".to_vec(), key(i).into_bytes()])
                .collect();
            support::pipeline(p, &cmds).unwrap()
        })
        .collect();
    let mut lost = Vec::new();
    for (n, &i) in report.acked.iter().enumerate() {
        let acceptors: Vec<usize> = (0..ports.len())
            .filter(|&p| verdicts[p][n] == Reply::Simple(b"ACCEPT".to_vec()))
            .collect();
        assert_eq!(
            acceptors.len(),
            1,
            "key {} has acceptors {acceptors:?}",
            key(i)
        );
        let held = &values[acceptors[0]][n];
        if *held != Reply::Bulk(value(i).into_bytes()) {
            lost.push(format!("{} on {}: {held:?}", key(i), ports[acceptors[0]].0));
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        cluster.logs()
    );

    // No redirect left unfollowed outside a move's window.
    let outside: Vec<&Unfollowed> = report
        .unfollowed
        .iter()
        .filter(|u| {
            !windows
                .iter()
                .any(|w| u.key.starts_with(w.prefix) && u.start <= w.end && u.end >= w.start)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "second redirects after the entry node knew: {outside:?}\nwindows {windows:?}"
    );

    let during = report
        .acked_at
        .iter()
        .filter(|t| windows.iter().any(|w| w.start <= **t && **t <= w.end))
        .count();
    eprintln!(
        "{KEYS} keys acknowledged in {} writes ({during} acknowledged inside a move's window); {} moves; kills: {kills:?}; {} redirects handed back (all inside a move's window), {} QUIESCED after the client's retries, {} connection errors",
        report.attempts,
        schedule.len(),
        report.unfollowed.len(),
        report.quiesced,
        report.io_errors
    );
}
