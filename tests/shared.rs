//! The std shared node: lock-free verdicts from many threads while another
//! thread runs moves; every set of verdicts a reader saw from one snapshot
//! must be exactly the verdicts of some state the node went through.

#![cfg(feature = "std")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kevy_scope::{
    Epoch, Node, Scope, WriteVerdict,
    moves::{MoveId, MoveTableBuf, Outcome, SharedNode},
    table::OwnershipTableBuf,
};

const KEYS: [&[u8]; 4] = [b"app:a:1", b"app:b:1", b"app:b:x:1", b"free"];

type Verdicts = Vec<String>;

fn verdicts(node: &Node<Arc<OwnershipTableBuf>, MoveTableBuf>) -> Verdicts {
    KEYS.iter()
        .map(|k| match node.verdict(k, |_| false) {
            WriteVerdict::Accept => "accept".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn readers_see_only_whole_states() {
    let table = Arc::new(OwnershipTableBuf::new([Scope::new(b"app:", "A")]).unwrap());
    let node = Node::new("A", table, MoveTableBuf::new()).unwrap();
    let shared = Arc::new(SharedNode::new(node.clone()));

    // The states the updater will publish, replayed on a private copy.
    type Shared = Node<Arc<OwnershipTableBuf>, MoveTableBuf>;
    type Step = fn(&mut Shared) -> bool;
    fn start(n: &mut Shared, prefix: &[u8], to: &str) -> bool {
        n.start_move(prefix, to).is_ok()
    }
    fn resolve(n: &mut Shared, prefix: &[u8], outcome: Outcome) -> bool {
        let epoch = n.epoch();
        n.resolve_move(prefix, epoch, outcome).is_ok()
    }
    fn abort(n: &mut Shared, prefix: &[u8]) -> bool {
        let fence = n.epoch();
        resolve(n, prefix, Outcome::Aborted { fence })
    }
    let script: [Step; 8] = [
        |n| start(n, b"app:b:", "B"),
        |n| abort(n, b"app:b:"),
        |n| start(n, b"app:b:", "B"),
        |n| resolve(n, b"app:b:", Outcome::Committed),
        |n| {
            let epoch = Epoch::new(n.epoch().get() + 1);
            let back = MoveId {
                prefix: b"app:b:",
                from: "B",
                to: "A",
                epoch,
            };
            n.adopt(&back).is_ok()
        },
        |n| start(n, b"app:a:", "C"),
        |n| abort(n, b"app:a:"),
        |n| n.transaction_scope([&b"app:a:1"[..], b"app:a:2"]).is_ok(),
    ];
    let mut valid: HashSet<Verdicts> = HashSet::new();
    let mut model = node;
    valid.insert(verdicts(&model));
    for step in script {
        assert!(step(&mut model));
        valid.insert(verdicts(&model));
    }
    assert!(
        valid.len() >= 4,
        "the script must produce distinct states: {valid:?}"
    );
    // The script ends with the verdicts it began with (at higher epochs),
    // so rounds can repeat it.
    assert_eq!(
        verdicts(&model),
        verdicts(&Node::new("A", Arc::clone(model.table()), MoveTableBuf::new()).unwrap())
    );

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = HashSet::new();
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) || reads < 1_000 {
                    seen.insert(verdicts(&shared.snapshot()));
                    reads += 1;
                }
                (seen, reads)
            })
        })
        .collect();
    for _round in 0..200 {
        for step in script {
            assert!(
                shared
                    .update(|n| if step(n) { Ok(()) } else { Err(()) })
                    .is_ok()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut distinct = HashSet::new();
    for r in readers {
        let (seen, reads) = r.join().unwrap();
        total += reads;
        for s in seen {
            assert!(valid.contains(&s), "torn or invalid state seen: {s:?}");
            distinct.insert(s);
        }
    }
    assert!(total >= 3_000, "readers ran {total} times");
    println!(
        "{total} snapshot reads, {} distinct states seen",
        distinct.len()
    );
}

/// A write accepted from a snapshot taken before a move starts, applied
/// late: it must reach the store before the move ships the prefix's keys.
/// Returns whether the late write made it into the shipped keys.
fn late_write_is_shipped(drain: bool) -> bool {
    use std::sync::{Barrier, Mutex};
    use std::time::Duration;

    let table = Arc::new(OwnershipTableBuf::new([Scope::new(b"app:", "A")]).unwrap());
    let shared = Arc::new(SharedNode::new(
        Node::new("A", table, MoveTableBuf::new()).unwrap(),
    ));
    let store = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let accepted = Arc::new(Barrier::new(2));
    let writer = {
        let (shared, store, accepted) = (
            Arc::clone(&shared),
            Arc::clone(&store),
            Arc::clone(&accepted),
        );
        std::thread::spawn(move || {
            let snap = shared.snapshot();
            assert!(snap.verdict(b"app:1", |_| false).is_accept());
            accepted.wait();
            // A slow connection thread: the write lands a while later.
            std::thread::sleep(Duration::from_millis(100));
            store.lock().unwrap().push("app:1");
            drop(snap);
        })
    };
    accepted.wait();
    let start = |n: &mut Node<_, _>| n.start_move(b"app:", "B");
    let started = if drain {
        shared.update_and_drain(start)
    } else {
        shared.update(start)
    };
    assert!(started.is_ok());
    let shipped = store.lock().unwrap().clone();
    writer.join().unwrap();
    assert_eq!(store.lock().unwrap().len(), 1);
    shipped.contains(&"app:1")
}

#[test]
fn a_write_accepted_before_a_move_is_shipped_with_it() {
    assert!(late_write_is_shipped(true));
}

#[test]
fn without_draining_a_late_write_misses_the_ship() {
    // What `update` alone allows (and what the crate offered before
    // `update_and_drain`): the write lands after the keys were copied.
    assert!(!late_write_is_shipped(false));
}
