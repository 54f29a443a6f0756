//! A small, deterministic routing workload for instruction counting:
//! `valgrind --tool=callgrind` runs it with 0 and with R routes, and the
//! difference divided by R is the instructions per route
//! (`scripts/run.sh bench` does this).
//!
//! Usage: `route_instructions <ours-fixed|ours-owned|reference> <N> <routes>`

use std::hint::black_box;

use kevy_scope::{OwnershipTable, OwnershipTableBuf, Scope};

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
        other => panic!("unknown table kind {other}"),
    }
    println!("{owned_count}");
}
