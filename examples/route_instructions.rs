//! A small, deterministic routing workload for instruction counting:
//! `valgrind --tool=callgrind` runs it with 0 and with R routes, and the
//! difference divided by R is the instructions per route
//! (`scripts/run.sh bench` does this).
//!
//! Usage: `route_instructions <kind> <N> <routes> [uniform|mixed]`, kind one of
//! `reference`, `ours-fixed`, `ours-owned` (route), or `verdict-reference`,
//! `verdict-fixed`, `verdict-owned` (the write verdict with two move
//! records, against the reference server's decision).

use std::hint::black_box;

use kevy_scope::{
    MoveTable, Node, OwnershipTable, Scope,
    moves::{MoveRecords, MoveTableBuf},
    table::{OwnershipTableBuf, ScopeTable},
};

/// Two records on node-3: a move in flight and a committed one, both inside
/// the scope it owns.
fn with_moves<T: ScopeTable, R: MoveRecords>(mut node: Node<T, R>) -> Node<T, R> {
    let _ = node.start_move(b"app:svc00003:eu:", "node-9").unwrap();
    let us = node.start_move(b"app:svc00003:us:", "node-9").unwrap();
    let _ = node
        .commit_move(b"app:svc00003:us:", us.into_inner().epoch)
        .unwrap();
    node
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, n, routes, mixed) = match &args[..] {
        [_, which, n, routes, rest @ ..] if rest.len() <= 1 => (
            which.as_str(),
            n.parse().unwrap(),
            routes.parse::<usize>().unwrap(),
            rest.first().is_some_and(|shape| shape == "mixed"),
        ),
        _ => {
            eprintln!(
                "usage: route_instructions <ours-fixed|ours-owned|reference> <N> <routes> [uniform|mixed]"
            );
            std::process::exit(2);
        }
    };
    // `uniform`: `app:svc00042:`, every prefix as long. `mixed`: tenant
    // numbers of one to five digits (`tenant-7:` .. `tenant-99991:`),
    // scattered, so prefixes of five lengths share their first bytes.
    let prefix = |i: usize| {
        if mixed {
            format!("tenant-{}:", i * 7919 % 100_000)
        } else {
            format!("app:svc{i:05}:")
        }
    };
    let prefixes: Vec<Vec<u8>> = (0..n).map(|i| prefix(i).into_bytes()).collect();
    let writers: Vec<String> = (0..16).map(|i| format!("node-{i}")).collect();
    let keys: Vec<Vec<u8>> = (0..1024)
        .map(|j| format!("{}user:{j}", prefix((j * 7919) % n)).into_bytes())
        .collect();
    let scopes: Vec<Scope<'_>> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect();
    let reference_table = || {
        upstream::OwnershipTable::new(
            scopes
                .iter()
                .map(|s| upstream::Scope::new(s.prefix().to_vec(), s.writer().to_owned()))
                .collect(),
        )
        .unwrap()
    };
    let fixed_table =
        || Box::new(OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap());
    let owned_table = || OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
    let down = |id: &str| id == "node-2";
    let run = |decide: &dyn Fn(&[u8]) -> bool| -> usize {
        (0..routes)
            .filter(|r| decide(black_box(&keys[r & 1023])))
            .count()
    };
    let accepted = match which {
        "ours-fixed" => {
            let table = fixed_table();
            run(&|key| table.route(key, "node-3").is_local_writer())
        }
        "ours-owned" => {
            let table = owned_table();
            run(&|key| table.route(key, "node-3").is_local_writer())
        }
        "reference" => {
            let table = reference_table();
            run(&|key| table.route(key, "node-3").is_local_writer())
        }
        "verdict-fixed" => {
            let table = fixed_table();
            let node = with_moves(Node::new("node-3", &*table, MoveTable::<4>::new()).unwrap());
            run(&|key| node.verdict(key, down).is_accept())
        }
        "verdict-owned" => {
            let table = owned_table();
            let node = with_moves(Node::new("node-3", &table, MoveTableBuf::new()).unwrap());
            run(&|key| node.verdict(key, down).is_accept())
        }
        "verdict-reference" => {
            let table = reference_table();
            let moves = upstream::MigrationTable::new();
            for prefix in [&b"app:svc00003:eu:"[..], b"app:svc00003:us:"] {
                moves
                    .start(prefix.to_vec(), "node-3".into(), "node-9".into())
                    .unwrap();
            }
            moves.commit(b"app:svc00003:us:").unwrap();
            run(&|key| {
                moves.match_migrating(key).is_none()
                    && moves.match_migrated(key).is_none()
                    && !table
                        .route_with_fallback_state(key, "node-3", down)
                        .is_misdirected()
            })
        }
        other => panic!("unknown table kind {other}"),
    };
    println!("{accepted}");
}
