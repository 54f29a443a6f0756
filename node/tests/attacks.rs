//! Only the cluster moves scopes: the node-to-node commands need the
//! `cluster` user and the operator's the `admin` user. Each attack below
//! worked, unauthenticated, before they did (two acceptors for `app:a:`,
//! a permanent n1 <-> n2 loop on `app:c:`, the move epochs exhausted and
//! persisted; the recovery's fence would do the same); now each is
//! refused and nothing changes: not a verdict, not a record, not an
//! epoch, not a byte of a records file.

mod support;

use support::{Cluster, Reply};

const SCOPES: &str = "app:a:=n1|n3, app:b:=n2, app:c:=n3";

/// The three attacks, each `(node, command)`.
fn attacks() -> Vec<(&'static str, Vec<&'static [u8]>)> {
    vec![
        // n2 would adopt app:a: from n3, which never owned it.
        (
            "n2",
            vec![b"MOVE-SCOPE-INGEST", b"app:a:", b"n3", b"n2", b"999", b""],
        ),
        // n1 and n2 would each send app:c:'s writers to the other.
        (
            "n1",
            vec![
                b"MOVE-SCOPE-NEWS",
                b"COMMITTED",
                b"app:c:",
                b"n3",
                b"n2",
                b"999",
            ],
        ),
        (
            "n2",
            vec![
                b"MOVE-SCOPE-NEWS",
                b"COMMITTED",
                b"app:c:",
                b"n3",
                b"n1",
                b"1000",
            ],
        ),
        // n2 would fence the last epoch there is: no move could follow.
        (
            "n2",
            vec![
                b"MOVE-SCOPE-OUTCOME",
                b"app:b:q:",
                b"n2",
                b"n1",
                b"4294967295",
            ],
        ),
        // The same, asked again, and as a recovering node's fence (which
        // would also put n2's moves to n1 in doubt and hand out all n2
        // knows); and its epoch, which tells what n2 has seen.
        (
            "n2",
            vec![
                b"MOVE-SCOPE-RECHECK",
                b"app:b:q:",
                b"n2",
                b"n1",
                b"4294967295",
            ],
        ),
        ("n2", vec![b"MOVE-SCOPE-FENCE", b"n1", b"4294967295"]),
        ("n2", vec![b"MOVE-SCOPE-EPOCH"]),
    ]
}

/// Everything an attack could change: each node's `SCOPE-STATUS` (epoch,
/// quarantine, records, announcements owed), its verdict on a key of
/// each scope, and its records file.
fn state(cluster: &Cluster) -> Vec<String> {
    let mut seen = Vec::new();
    for id in support::IDS {
        let port = cluster.port(id);
        seen.push(format!(
            "{id} {:?}",
            support::request(port, &[b"SCOPE-STATUS"])
        ));
        for key in ["app:a:1", "app:b:q:1", "app:b:1", "app:c:1"] {
            let verdict = support::request(port, &[b"SCOPE-VERDICT", key.as_bytes()]);
            seen.push(format!("{id} {key} {verdict:?}"));
        }
        let records = std::fs::read(cluster.dir(id).join("records.kvnr")).ok();
        seen.push(format!("{id} records file {records:?}"));
    }
    seen
}

/// A command as text, for a failed check's message.
fn show(command: &[&[u8]]) -> String {
    command
        .iter()
        .map(|a| String::from_utf8_lossy(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_refusal(reply: &std::io::Result<Reply>, code: &str) -> bool {
    matches!(reply, Ok(Reply::Error(e)) if e.starts_with(code.as_bytes()))
}

#[test]
fn unauthenticated_cluster_commands_are_refused_and_change_nothing() {
    let cluster = Cluster::start("attacks", SCOPES, 0);
    let before = state(&cluster);
    for (id, command) in attacks() {
        let port = cluster.port(id);
        // As the default user, as a client that offers the wrong cluster
        // password, and as a client that guesses a user's name.
        let plain = support::request(port, &command);
        assert!(
            is_refusal(&plain, "NOPERM"),
            "{id} {}: {plain:?}",
            show(&command)
        );
        let wrong = support::request_as("cluster", "guess", port, &command);
        assert!(
            wrong
                .as_ref()
                .is_err_and(|e| e.to_string().contains("WRONGPASS")),
            "{id}: {wrong:?}"
        );
        let wrong_user = support::request_as("admin", support::CLUSTER_PASSWORD, port, &command);
        assert!(wrong_user.is_err(), "{id}: {wrong_user:?}");
        // And on one connection: a refused login, then the command.
        let replies = support::pipeline(
            port,
            &[
                vec![b"AUTH".to_vec(), b"cluster".to_vec(), b"guess".to_vec()],
                command.iter().map(|a| a.to_vec()).collect(),
            ],
        )
        .unwrap();
        assert!(
            matches!(&replies[1], Reply::Error(e) if e.starts_with(b"NOPERM")),
            "{replies:?}"
        );
    }
    assert_eq!(state(&cluster), before, "{}", cluster.logs());

    // The operator's commands need the admin user, even from a peer.
    let move_b = [
        &b"MOVE-SCOPE"[..],
        b"app:b:q:",
        b"FROM",
        b"n2",
        b"TO",
        b"n1",
    ];
    let p2 = cluster.port("n2");
    assert!(is_refusal(&support::request(p2, &move_b), "NOPERM"));
    let as_peer = support::request_as("cluster", support::CLUSTER_PASSWORD, p2, &move_b);
    assert!(is_refusal(&as_peer, "NOPERM"), "{as_peer:?}");
    let lift = [&b"SCOPE-LIFT-QUARANTINE"[..]];
    assert!(is_refusal(&support::request(p2, &lift), "NOPERM"));
    let as_peer = support::request_as("cluster", support::CLUSTER_PASSWORD, p2, &lift);
    assert!(is_refusal(&as_peer, "NOPERM"), "{as_peer:?}");
    assert_eq!(state(&cluster), before, "{}", cluster.logs());

    // The epochs are whole: the admin's real move of app:b:q: lands, and
    // both nodes agree on its one writer.
    let moved = support::admin_request(p2, &move_b);
    assert!(
        matches!(&moved, Ok(Reply::Simple(ok)) if ok.starts_with(b"OK ")),
        "{moved:?}\n{}",
        cluster.logs()
    );
    let p1 = cluster.port("n1");
    let set = |port| support::request(port, &[b"SET", b"app:b:q:1", b"x"]);
    assert!(matches!(set(p1), Ok(Reply::Simple(ok)) if ok == b"OK"));
    assert!(is_refusal(&set(p2), "MISDIRECTED"));
}
