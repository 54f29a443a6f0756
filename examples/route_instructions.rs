//! A small, deterministic routing workload for instruction counting:
//! `valgrind --tool=callgrind` runs it with 0 and with R routes, and the
//! difference divided by R is the instructions per route
//! (`scripts/run.sh bench` does this).
//!
//! Usage: `route_instructions <kind> <N> <routes>`, kind one of
//! `reference`, `ours-fixed`, `ours-owned` (route), or `verdict-reference`,
//! `verdict-fixed`, `verdict-owned` (the write verdict with two move
//! records, against the reference server's decision).

use std::hint::black_box;

use kevy_scope::{
    MigrationTable, MigrationTableBuf, MoveRecords, Node, OwnershipTable, OwnershipTableBuf, Scope,
    ScopeLookup,
};

/// Two records on node-3: a move in flight and a committed one, both inside
/// the scope it owns.
fn with_moves<T: ScopeLookup, R: MoveRecords>(mut node: Node<T, R>) -> Node<T, R> {
    node.start_move(b"app:svc00003:eu:", "node-9").unwrap();
    node.start_move(b"app:svc00003:us:", "node-9").unwrap();
    node.commit_move(b"app:svc00003:us:").unwrap();
    node
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, n, routes) = match &args[..] {
        [_, which, n, routes] => (
            which.as_str(),
            n.parse().unwrap(),
            routes.parse::<usize>().unwrap(),
        ),
        _ => {
            eprintln!("usage: route_instructions <ours-fixed|ours-owned|reference> <N> <routes>");
            std::process::exit(2);
        }
    };
    let prefixes: Vec<Vec<u8>> = (0..n)
        .map(|i: usize| format!("app:svc{i:05}:").into_bytes())
        .collect();
    let writers: Vec<String> = (0..16).map(|i| format!("node-{i}")).collect();
    let keys: Vec<Vec<u8>> = (0..1024)
        .map(|j| format!("app:svc{:05}:user:{j}", (j * 7919) % n).into_bytes())
        .collect();
    let scopes: Vec<Scope<'_>> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect();
    let mut owned_count = 0usize;
    match which {
        "ours-fixed" => {
            let table = Box::new(
                OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap(),
            );
            for r in 0..routes {
                owned_count += usize::from(
                    table
                        .route(black_box(&keys[r & 1023]), "node-3")
                        .is_local_writer(),
                );
            }
        }
        "ours-owned" => {
            let table = OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
            for r in 0..routes {
                owned_count += usize::from(
                    table
                        .route(black_box(&keys[r & 1023]), "node-3")
                        .is_local_writer(),
                );
            }
        }
        "reference" => {
            let table = upstream::OwnershipTable::new(
                scopes
                    .iter()
                    .map(|s| upstream::Scope::new(s.prefix().to_vec(), s.writer().to_owned()))
                    .collect(),
            )
            .unwrap();
            for r in 0..routes {
                owned_count += usize::from(
                    table
                        .route(black_box(&keys[r & 1023]), "node-3")
                        .is_local_writer(),
                );
            }
        }
        "verdict-fixed" => {
            let table = Box::new(
                OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap(),
            );
            let node =
                with_moves(Node::new("node-3", &*table, MigrationTable::<4>::new()).unwrap());
            for r in 0..routes {
                owned_count += usize::from(
                    node.verdict(black_box(&keys[r & 1023]), |id| id == "node-2")
                        .is_accept(),
                );
            }
        }
        "verdict-owned" => {
            let table = OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
            let node = with_moves(Node::new("node-3", &table, MigrationTableBuf::new()).unwrap());
            for r in 0..routes {
                owned_count += usize::from(
                    node.verdict(black_box(&keys[r & 1023]), |id| id == "node-2")
                        .is_accept(),
                );
            }
        }
        "verdict-reference" => {
            let table = upstream::OwnershipTable::new(
                scopes
                    .iter()
                    .map(|s| upstream::Scope::new(s.prefix().to_vec(), s.writer().to_owned()))
                    .collect(),
            )
            .unwrap();
            let moves = upstream::MigrationTable::new();
            moves
                .start(
                    b"app:svc00003:eu:".to_vec(),
                    "node-3".into(),
                    "node-9".into(),
                )
                .unwrap();
            moves
                .start(
                    b"app:svc00003:us:".to_vec(),
                    "node-3".into(),
                    "node-9".into(),
                )
                .unwrap();
            moves.commit(b"app:svc00003:us:").unwrap();
            for r in 0..routes {
                let key = black_box(&keys[r & 1023]);
                let accept = moves.match_migrating(key).is_none()
                    && moves.match_migrated(key).is_none()
                    && !table
                        .route_with_fallback_state(key, "node-3", |id| id == "node-2")
                        .is_misdirected();
                owned_count += usize::from(accept);
            }
        }
        other => panic!("unknown table kind {other}"),
    }
    println!("{owned_count}");
}
