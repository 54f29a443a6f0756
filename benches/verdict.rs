//! The full write verdict with two move records present, against the
//! reference server's decision (`match_migrating`, `match_migrated`, then
//! `route_with_fallback_state`), single-threaded and shared across threads.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kevy_scope::{
    MoveTable, Node, OwnershipTable, Scope, WriteVerdict,
    moves::{MoveTableBuf, SharedNode},
    table::OwnershipTableBuf,
};

const SELF: &str = "node-3";

/// The reference server's write decision.
fn reference_decision(
    table: &upstream::OwnershipTable,
    moves: &upstream::MigrationTable,
    key: &[u8],
) -> bool {
    if moves.match_migrating(key).is_some() {
        return false;
    }
    if moves.match_migrated(key).is_some() {
        return false;
    }
    !table
        .route_with_fallback_state(key, SELF, |id| id == "node-2")
        .is_misdirected()
}

/// Two records on this node: one move in flight, one committed, both of
/// sub-prefixes of the scope it owns (scope 3).
fn move_prefixes(prefixes: &[Vec<u8>]) -> [Vec<u8>; 2] {
    let own = prefixes.get(3).unwrap_or(&prefixes[0]);
    [
        [own.as_slice(), b"eu:"].concat(),
        [own.as_slice(), b"us:"].concat(),
    ]
}

fn reference_moves(prefixes: &[Vec<u8>]) -> upstream::MigrationTable {
    let [inflight, done] = move_prefixes(prefixes);
    let moves = upstream::MigrationTable::new();
    moves.start(inflight, SELF.into(), "node-9".into()).unwrap();
    moves
        .start(done.clone(), SELF.into(), "node-9".into())
        .unwrap();
    moves.commit(&done).unwrap();
    moves
}

fn with_moves<T: kevy_scope::table::ScopeTable, R: kevy_scope::moves::MoveRecords>(
    node: &mut Node<T, R>,
    prefixes: &[Vec<u8>],
) {
    let [inflight, done] = move_prefixes(prefixes);
    // Scope 3 is node-3's only when the table has four scopes or more.
    if node.start_move(&inflight, "node-9").is_ok() {
        let epoch = node.start_move(&done, "node-9").unwrap().into_inner().epoch;
        let _ = node.commit_move(&done, epoch).unwrap();
    }
}

fn scopes<'a>(prefixes: &'a [Vec<u8>], writers: &'a [String]) -> Vec<Scope<'a>> {
    prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect()
}

fn write_verdict(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_verdict");
    let writers: Vec<String> = (0..16).map(writer).collect();
    let down = |id: &str| id == "node-2";
    for n in SIZES {
        let prefixes = prefixes(n);
        let keys = hit_keys(n);
        let table = reference_table(&prefixes);
        let moves = reference_moves(&prefixes);
        let scopes = scopes(&prefixes, &writers);
        let fixed_table =
            Box::new(OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap());
        let mut fixed = Node::new(SELF, &*fixed_table, MoveTable::<4>::new()).unwrap();
        with_moves(&mut fixed, &prefixes);
        let owned_table = OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
        let mut owned = Node::new(SELF, &owned_table, MoveTable::<4>::new()).unwrap();
        with_moves(&mut owned, &prefixes);

        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter(|| black_box(reference_decision(&table, &moves, black_box(cycle.key()))))
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| {
            b.iter(|| black_box(fixed.verdict(black_box(cycle.key()), down).is_accept()))
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-owned", n), &n, |b, _| {
            b.iter(|| black_box(owned.verdict(black_box(cycle.key()), down).is_accept()))
        });
    }
    g.finish();
}

/// Verdicts from `threads` threads at once; the time reported is per
/// verdict, so throughput(2) / throughput(1) = time(1) / time(2).
fn threaded(c: &mut Criterion) {
    let mut g = c.benchmark_group("threads_verdict");
    // A small table, where the reference's time goes to its two mutexes
    // rather than its linear scan.
    let n = 8;
    let writers: Vec<String> = (0..16).map(writer).collect();
    let prefixes = prefixes(n);
    let keys = hit_keys(n);
    let table = Arc::new(reference_table(&prefixes));
    let moves = Arc::new(reference_moves(&prefixes));
    let owned_table = Arc::new(OwnershipTableBuf::new(scopes(&prefixes, &writers)).unwrap());
    let mut node = Node::new(SELF, owned_table, MoveTableBuf::new()).unwrap();
    with_moves(&mut node, &prefixes);
    let shared = SharedNode::new(node);

    for threads in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("reference", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(
                    t,
                    iters,
                    |key| reference_decision(&table, &moves, key),
                    &keys,
                )
            })
        });
        g.bench_with_input(
            BenchmarkId::new("ours-shared", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| {
                    run_threads(
                        t,
                        iters,
                        |key| {
                            shared.with_verdict(
                                key,
                                |id| id == "node-2",
                                |v| v == WriteVerdict::Accept,
                            )
                        },
                        &keys,
                    )
                })
            },
        );
    }
    g.finish();
}

/// Splits `iters` verdicts over `threads` threads; returns the wall time.
fn run_threads(
    threads: usize,
    iters: u64,
    decide: impl Fn(&[u8]) -> bool + Sync,
    keys: &[Vec<u8>],
) -> Duration {
    let per_thread = iters / threads as u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let decide = &decide;
            s.spawn(move || {
                let mut cycle = Cycle::new(keys);
                for _ in 0..t {
                    cycle.key();
                }
                let mut accepted = 0u64;
                for _ in 0..per_thread {
                    accepted += u64::from(decide(black_box(cycle.key())));
                }
                black_box(accepted)
            });
        }
    });
    start.elapsed()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
}

criterion_group! { name = benches; config = config(); targets = write_verdict, threaded }
criterion_main!(benches);
