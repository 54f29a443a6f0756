//! Routing side by side with the reference crate (kevy-scope 1.32.0), on
//! the same tables and keys, in the same run.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kevy_scope::{OwnershipTable, Scope, table::OwnershipTableBuf};

fn ours_scopes<'a>(prefixes: &'a [Vec<u8>], writers: &'a [String]) -> Vec<Scope<'a>> {
    prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect()
}

/// Routes every key once per iteration-batch; reports time per route.
fn bench_keys(
    c: &mut Criterion,
    group: &str,
    prefixes_of: fn(usize) -> Vec<Vec<u8>>,
    keys_of: fn(usize) -> Vec<Vec<u8>>,
) {
    let mut g = c.benchmark_group(group);
    let writers: Vec<String> = (0..16).map(writer).collect();
    for n in SIZES {
        let prefixes = prefixes_of(n);
        let keys = keys_of(n);
        let reference = reference_table(&prefixes);
        let scopes = ours_scopes(&prefixes, &writers);
        let fixed =
            Box::new(OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap());
        let owned = OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter(|| black_box(reference.route(black_box(cycle.key()), "node-3")))
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| {
            b.iter(|| black_box(fixed.route(black_box(cycle.key()), "node-3")))
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-owned", n), &n, |b, _| {
            b.iter(|| black_box(owned.route(black_box(cycle.key()), "node-3")))
        });
    }
    g.finish();
}

fn route_hit(c: &mut Criterion) {
    bench_keys(c, "route_hit", prefixes, hit_keys);
}

fn route_miss(c: &mut Criterion) {
    bench_keys(c, "route_miss", prefixes, miss_keys);
}

/// Hits in a table whose prefixes differ in length and share their first
/// bytes, where one hash of the shortest length cannot tell them apart.
fn route_hit_mixed(c: &mut Criterion) {
    bench_keys(c, "route_hit_mixed", mixed_prefixes, mixed_hit_keys);
}

fn route_with_fallback_state(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_fallback");
    let writers: Vec<String> = (0..16).map(writer).collect();
    for n in SIZES {
        let prefixes = prefixes(n);
        let keys = hit_keys(n);
        let reference = reference_table(&prefixes);
        let scopes = ours_scopes(&prefixes, &writers);
        let owned = OwnershipTableBuf::new(scopes.iter().copied()).unwrap();
        let fixed =
            Box::new(OwnershipTable::<'_, 4096>::try_from_iter(scopes.iter().copied()).unwrap());
        let down = |id: &str| id == "node-2";
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter(|| {
                black_box(reference.route_with_fallback_state(
                    black_box(cycle.key()),
                    "node-3",
                    down,
                ))
            })
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| {
            b.iter(|| {
                black_box(fixed.route_with_fallback_state(black_box(cycle.key()), "node-3", down))
            })
        });
        let mut cycle = Cycle::new(&keys);
        g.bench_with_input(BenchmarkId::new("ours-owned", n), &n, |b, _| {
            b.iter(|| {
                black_box(owned.route_with_fallback_state(black_box(cycle.key()), "node-3", down))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
}

criterion_group! { name = benches; config = config(); targets = route_hit, route_miss, route_hit_mixed, route_with_fallback_state }
criterion_main!(benches);
