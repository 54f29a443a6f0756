//! A node that lost its records recovers them from its peers, on its own
//! (the crate's `Driver`: `MOVE-SCOPE-EPOCH` to every peer, then
//! `MOVE-SCOPE-FENCE`), and leaves quarantine only once every peer has
//! answered. Three real node processes on loopback (`support::Cluster`).
//!
//! - `a_damaged_records_file_is_recovered_from_the_peers`: n1 moves
//!   `app:billing:` to n2, stops, its records file gets a flipped byte;
//!   restarted, n1 is quarantined, recovers from n2 and n3, and then
//!   redirects `app:billing:1` to n2, which accepts it: one acceptor.
//!   Before the recovery (the operator lifted the quarantine by hand, and
//!   the static table decided) n1 accepted it too: two acceptors.
//! - `lost_records_with_data_are_recovered_and_the_keys_kept`: n2 adopted
//!   `app:a:` (and wrote its keys) and gave `app:b:` away; its records
//!   file is deleted, its data logs are not. Restarted, it is quarantined
//!   keeping every key, recovers, accepts `app:a:` again with its keys,
//!   and redirects `app:b:` to n1.
//! - `a_recovery_waits_for_every_peer`: with n3 down, the restarted n1
//!   stays quarantined: `SCOPE-LIFT-QUARANTINE` names n3 (and the round),
//!   every scoped write and `MOVE-SCOPE` is refused, a SIGTERM leaves the
//!   damaged records file as it is (no image of a quarantined node); once
//!   n3 is back, the recovery ends and n1 knows what it gave away.
//! - `a_move_to_a_recovering_node_is_asked_again`: n1 moves `app:own:`
//!   to n2 while n2 is down (the move stays in flight); n2 comes back on a
//!   damaged records file and recovers, fencing n1 (the move is in doubt
//!   there); n1 asks again with `MOVE-SCOPE-RECHECK`, n2 answers
//!   `+ABORTED`, and n1 owns the prefix again with its keys.
//!
//! Every process is killed by its PID when its cluster is dropped (a
//! failed test included); every wait is bounded.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::{Cluster, Reply};

/// n1 owns `app:billing:` and `app:own:`, n2 `app:a:`... as the tests
/// need: each test moves what it checks.
const SCOPES: &str = "app:billing:=n1, app:own:=n1, app:a:=n1, app:b:=n2, app:c:=n3";

/// How long a recovery may take once every peer is up (it takes well
/// under a second; the driver resends every second at most).
const RECOVERY: Duration = Duration::from_secs(15);

/// One cluster at a time: they share two cores with the rest.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request's reply as text: `+OK` as `OK`, `-ERR x` as `ERR x`.
fn text(reply: std::io::Result<Reply>) -> String {
    match reply {
        Ok(Reply::Simple(s) | Reply::Error(s) | Reply::Bulk(s)) => {
            String::from_utf8_lossy(&s).into_owned()
        }
        other => format!("{other:?}"),
    }
}

fn set(port: u16, key: &str, value: &str) -> String {
    text(support::request(
        port,
        &[b"SET", key.as_bytes(), value.as_bytes()],
    ))
}

fn get(port: u16, key: &str) -> Option<Vec<u8>> {
    match support::request(port, &[b"GET", key.as_bytes()]) {
        Ok(Reply::Bulk(value)) => Some(value),
        _ => None,
    }
}

fn verdict(port: u16, key: &str) -> String {
    text(support::request(port, &[b"SCOPE-VERDICT", key.as_bytes()]))
}

fn misdirected(port: u16) -> String {
    format!("MISDIRECTED writer is 127.0.0.1:{port}")
}

/// The crate's reply to a scoped write on a quarantined node.
fn unavailable() -> String {
    let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
    let reply = kevy_scope::WriteVerdict::Unavailable
        .encode_reply(&kevy_scope::wire::NoPeers, &mut buf)
        .expect("the reply fits");
    String::from_utf8_lossy(&reply[1..]).trim().to_string()
}

/// `MOVE-SCOPE` as admin, which must answer `+OK <n>`.
fn moved(cluster: &Cluster, prefix: &str, from: &str, to: &str) {
    let reply = text(support::move_scope(cluster.port(from), prefix, from, to));
    assert!(
        reply.starts_with("OK"),
        "MOVE-SCOPE {prefix} {from} -> {to}: {reply}\n{}",
        cluster.logs()
    );
}

/// Waits until every node's driver is idle (every announcement
/// acknowledged).
fn settle(cluster: &Cluster) {
    let idle = support::wait_until(Duration::from_secs(10), || {
        let all = cluster.statuses();
        all.len() == support::IDS.len() && all.iter().all(|(_, s)| s.announcing == 0)
    });
    assert!(
        idle.is_some(),
        "the drivers never went idle\n{}",
        cluster.logs()
    );
}

/// Flips one byte in the middle of `id`'s records file.
fn damage(cluster: &Cluster, id: &str) -> Vec<u8> {
    let path = cluster.dir(id).join("records.kvnr");
    let mut bytes = std::fs::read(&path).expect("the node persisted its records");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&path, &bytes).expect("the records file is written");
    bytes
}

/// How many times `id`'s log (all its runs) says `what`.
fn said(cluster: &Cluster, id: &str, what: &str) -> usize {
    cluster.log(id).matches(what).count()
}

/// Waits until `id` has left quarantine and its recovery is over.
fn recovered(cluster: &Cluster, id: &str) {
    let port = cluster.port(id);
    let done = support::wait_until(RECOVERY, || {
        support::status(port).is_some_and(|s| !s.quarantined && s.recovering.is_none())
    });
    assert!(
        done.is_some(),
        "{id} did not recover: {:?}\n{}",
        support::status(port),
        cluster.logs()
    );
}

#[test]
fn a_damaged_records_file_is_recovered_from_the_peers() {
    let _one = serial();
    let mut cluster = Cluster::start("recover-damaged", SCOPES, 0);
    let (p1, p2, p3) = (cluster.port("n1"), cluster.port("n2"), cluster.port("n3"));
    for i in 0..10 {
        assert_eq!(set(p1, &format!("app:billing:{i}"), "v"), "OK");
    }
    moved(&cluster, "app:billing:", "n1", "n2");
    settle(&cluster);
    assert_eq!(set(p1, "app:billing:1", "x"), misdirected(p2));

    cluster.stop("n1");
    damage(&cluster, "n1");
    let quarantines = said(&cluster, "n1", "QUARANTINED");
    cluster.restart("n1");
    assert_eq!(
        said(&cluster, "n1", "QUARANTINED"),
        quarantines + 1,
        "n1 did not come back quarantined\n{}",
        cluster.log("n1")
    );
    recovered(&cluster, "n1");
    let log = cluster.log("n1");
    for peer in ["n2", "n3"] {
        assert!(
            log.contains(&format!("recovery: {peer} fenced at")),
            "n1 did not hear {peer}'s news\n{log}"
        );
    }
    assert!(log.contains("recovered: every peer fenced"), "{log}");

    // One acceptor: n2. Before the recovery n1 answered OK here too.
    assert_eq!(set(p1, "app:billing:1", "y"), misdirected(p2));
    assert_eq!(set(p2, "app:billing:1", "y"), "OK");
    let accepting: Vec<u16> = [p1, p2, p3]
        .into_iter()
        .filter(|&p| verdict(p, "app:billing:1") == "ACCEPT")
        .collect();
    assert_eq!(accepting, [p2], "{}", cluster.logs());
    assert!(
        support::lift_check(p1).starts_with("OK not quarantined"),
        "{}",
        support::lift_check(p1)
    );
    // n1 kept what it owns, and its epochs are above the move it lost:
    // the prefix comes back, and n1 accepts it again.
    assert_eq!(set(p1, "app:own:1", "z"), "OK");
    moved(&cluster, "app:billing:", "n2", "n1");
    assert_eq!(set(p1, "app:billing:1", "w"), "OK");
    assert_eq!(set(p2, "app:billing:1", "w"), misdirected(p1));
    assert_eq!(get(p1, "app:billing:3").as_deref(), Some(&b"v"[..]));
}

#[test]
fn lost_records_with_data_are_recovered_and_the_keys_kept() {
    let _one = serial();
    let mut cluster = Cluster::start("recover-missing", SCOPES, 0);
    let (p1, p2) = (cluster.port("n1"), cluster.port("n2"));
    // n2 adopts app:a: and writes under it, and gives app:b: away.
    moved(&cluster, "app:a:", "n1", "n2");
    for i in 0..20 {
        assert_eq!(set(p2, &format!("app:a:{i}"), "a"), "OK");
    }
    moved(&cluster, "app:b:", "n2", "n1");
    settle(&cluster);

    // Its records file is lost; its data logs are not.
    cluster.stop("n2");
    std::fs::remove_file(cluster.dir("n2").join("records.kvnr")).expect("n2 had a records file");
    let quarantines = said(&cluster, "n2", "QUARANTINED");
    cluster.restart("n2");
    assert_eq!(
        said(&cluster, "n2", "QUARANTINED"),
        quarantines + 1,
        "n2 did not come back quarantined\n{}",
        cluster.log("n2")
    );
    assert!(cluster.log("n2").contains("this is not a first boot"));
    recovered(&cluster, "n2");

    // The adopted prefix is n2's again, with every key; the one it gave
    // away is n1's.
    let kept = (0..20)
        .filter(|i| get(p2, &format!("app:a:{i}")).as_deref() == Some(&b"a"[..]))
        .count();
    assert_eq!(
        kept,
        20,
        "the adopted keys were dropped\n{}",
        cluster.logs()
    );
    assert_eq!(set(p2, "app:a:1", "b"), "OK", "{}", cluster.logs());
    assert_eq!(get(p2, "app:a:1").as_deref(), Some(&b"b"[..]));
    assert_eq!(set(p1, "app:a:1", "c"), misdirected(p2));
    assert_eq!(set(p2, "app:b:1", "x"), misdirected(p1));
    assert_eq!(set(p1, "app:b:1", "x"), "OK");
    // It writes its records again: a restart restores them.
    cluster.stop("n2");
    cluster.restart("n2");
    let status = support::status(p2).expect("n2 answers SCOPE-STATUS");
    assert!(!status.quarantined, "{}", cluster.log("n2"));
    assert_eq!(set(p2, "app:a:2", "d"), "OK");
}

#[test]
fn a_recovery_waits_for_every_peer() {
    let _one = serial();
    support::ensure_redis_cli();
    let mut cluster = Cluster::start("recover-waits", SCOPES, 0);
    let (p1, p2, p3) = (cluster.port("n1"), cluster.port("n2"), cluster.port("n3"));
    assert_eq!(set(p1, "app:own:1", "v"), "OK");
    moved(&cluster, "app:billing:", "n1", "n2");
    settle(&cluster);

    cluster.stop("n3");
    cluster.stop("n1");
    let damaged = damage(&cluster, "n1");
    cluster.restart("n1");

    // n2 answers at once; n3 is down: the first round waits for it.
    let waiting = support::wait_until(Duration::from_secs(10), || {
        support::status(p1).is_some_and(|s| {
            s.quarantined && s.recovering == Some(("epochs".into(), vec!["n3".into()]))
        })
    });
    assert!(
        waiting.is_some(),
        "n1 does not wait for n3 alone: {:?}\n{}",
        support::status(p1),
        cluster.logs()
    );
    let lift = support::lift_check(p1);
    assert!(
        lift.starts_with("ERR") && lift.contains("n3") && lift.contains("epochs"),
        "{lift}"
    );
    assert!(!lift.contains("n2"), "n2 answered already: {lift}");
    // No scoped write, no move: the crate's exact refusal, as redis-cli
    // prints it.
    for key in ["app:own:1", "app:billing:1"] {
        assert_eq!(support::redis_cli(p1, &["SET", key, "x"]), unavailable());
    }
    assert_eq!(
        support::redis_cli(p1, &["SET", "free:1", "x"]),
        "OK",
        "unscoped keys are not held back"
    );
    assert_eq!(
        support::redis_cli_admin(p1, &["MOVE-SCOPE", "app:own:", "FROM", "n1", "TO", "n2"]),
        format!(
            "ERR MOVE-SCOPE: {}",
            kevy_scope::moves::MoveError::Quarantined
        )
    );
    // A quarantined node asked its epoch refuses: it has none of its own.
    let asked = support::request_as(
        "cluster",
        support::CLUSTER_PASSWORD,
        p1,
        &[b"MOVE-SCOPE-EPOCH"],
    );
    assert!(text(asked).starts_with("QUARANTINED"));

    // A clean stop writes no records file while quarantined, and says so.
    cluster.stop("n1");
    assert!(
        cluster
            .log("n1")
            .contains("the records are not persisted: the node is quarantined"),
        "{}",
        cluster.log("n1")
    );
    let records = std::fs::read(cluster.dir("n1").join("records.kvnr")).expect("a records file");
    assert_eq!(records, damaged, "the records file was rewritten");
    cluster.restart("n1");
    let again = support::wait_until(Duration::from_secs(10), || {
        support::status(p1).is_some_and(|s| s.quarantined && s.recovering.is_some())
    });
    assert!(again.is_some(), "{:?}", support::status(p1));
    assert_eq!(set(p1, "app:own:1", "x"), unavailable());

    // n3 is back: the recovery ends, and n1 knows what it gave away.
    cluster.restart("n3");
    recovered(&cluster, "n1");
    assert!(support::lift_check(p1).starts_with("OK not quarantined"));
    assert_eq!(set(p1, "app:own:1", "y"), "OK");
    assert_eq!(set(p1, "app:billing:1", "y"), misdirected(p2));
    assert_eq!(set(p2, "app:billing:1", "y"), "OK");
    assert_eq!(verdict(p3, "app:billing:1"), misdirected(p2));
}

#[test]
fn a_move_to_a_recovering_node_is_asked_again() {
    let _one = serial();
    let mut cluster = Cluster::start("recover-recheck", SCOPES, 0);
    let (p1, p2) = (cluster.port("n1"), cluster.port("n2"));
    assert_eq!(set(p1, "app:own:1", "v"), "OK");
    cluster.stop("n2");
    // The target is down: no +OK, no outcome; the move stays in flight.
    let reply = text(support::move_scope(p1, "app:own:", "n1", "n2"));
    assert!(reply.starts_with("TRYAGAIN"), "{reply}\n{}", cluster.logs());
    assert!(set(p1, "app:own:1", "x").starts_with("QUIESCED"));

    damage(&cluster, "n2");
    cluster.restart("n2");
    recovered(&cluster, "n2");
    // n2 never adopted it: asked again, it fences the move off, and n1
    // owns the prefix again.
    let back = support::wait_until(RECOVERY, || set(p1, "app:own:1", "w") == "OK");
    assert!(
        back.is_some(),
        "n1 never got app:own: back\n{}",
        cluster.logs()
    );
    assert!(
        cluster
            .log("n1")
            .contains("asking the target again for the outcome"),
        "{}",
        cluster.log("n1")
    );
    assert!(
        cluster.log("n2").contains("outcome asked again"),
        "{}",
        cluster.log("n2")
    );
    assert_eq!(set(p2, "app:own:1", "y"), misdirected(p1));
    assert_eq!(get(p1, "app:own:1").as_deref(), Some(&b"w"[..]));
    let status = support::status(p1).expect("n1 answers");
    assert_eq!(
        status.record("app:own:").map(|r| r.to.as_str()),
        Some("n1"),
        "{status:?}"
    );
}
