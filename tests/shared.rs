//! The std shared node: lock-free verdicts from many threads while another
//! thread runs moves; every set of verdicts a reader saw from one snapshot
//! must be exactly the verdicts of some state the node went through.

#![cfg(feature = "std")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kevy_scope::{MigrationTableBuf, Node, OwnershipTableBuf, Scope, SharedNode, WriteVerdict};

const KEYS: [&[u8]; 4] = [b"app:a:1", b"app:b:1", b"app:b:x:1", b"free"];

type Verdicts = Vec<String>;

fn verdicts(node: &Node<Arc<OwnershipTableBuf>, MigrationTableBuf>) -> Verdicts {
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
    let node = Node::new("A", table, MigrationTableBuf::new()).unwrap();
    let shared = Arc::new(SharedNode::new(node.clone()));

    // The states the updater will publish, replayed on a private copy.
    type Step = fn(&mut Node<Arc<OwnershipTableBuf>, MigrationTableBuf>) -> bool;
    let script: [Step; 8] = [
        |n| n.start_move(b"app:b:", "B").is_ok(),
        |n| n.abort_move(b"app:b:").is_some(),
        |n| n.start_move(b"app:b:", "B").is_ok(),
        |n| n.commit_move(b"app:b:").is_some(),
        |n| n.begin_ingest(b"app:b:", "B").is_ok(),
        |n| n.finish_ingest(b"app:b:").is_ok(),
        |n| n.start_move(b"app:a:", "C").is_ok(),
        |n| n.abort_move(b"app:a:").is_some(),
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
    // The script ends where it began (a move back prunes every record), so
    // rounds can repeat it.
    assert!(model.moves().is_empty(), "{:?}", model.moves());

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
