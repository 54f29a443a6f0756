//! Building tables, and parsing `scopes` values of 1, 8 and 64 scopes,
//! against the reference crate and the standard-library splitting its
//! server does.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{BatchSize, Bencher, BenchmarkId, Criterion, criterion_group, criterion_main};
use kevy_scope::{
    OwnershipTable, Scope,
    config::{parse_scope_entries, parse_scopes},
    table::OwnershipTableBuf,
};

/// The same scopes for the reference and for us (ours listed in reverse,
/// as a config file need not be sorted).
fn inputs<'a>(
    prefixes: &'a [Vec<u8>],
    writers: &'a [String],
) -> (Vec<upstream::Scope>, Vec<Scope<'a>>) {
    let reference = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| upstream::Scope::new(p.clone(), writer(i)).with_fallback(writer(i + 1)))
        .collect();
    let mut ours: Vec<Scope<'_>> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect();
    ours.reverse();
    (reference, ours)
}

fn construction(c: &mut Criterion) {
    let mut g = c.benchmark_group("construct");
    let writers: Vec<String> = (0..16).map(writer).collect();
    for n in SIZES {
        let prefixes = prefixes(n);
        let (reference_scopes, ours) = inputs(&prefixes, &writers);
        if n >= 512 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter_batched(
                || reference_scopes.clone(),
                |scopes| black_box(upstream::OwnershipTable::new(scopes).unwrap()),
                BatchSize::LargeInput,
            )
        });
        // A table whose capacity is the scope count, as firmware declares it.
        let fixed_len: fn(&[Scope<'_>]) -> usize = match n {
            1 => fixed_len::<1>,
            8 => fixed_len::<8>,
            64 => fixed_len::<64>,
            512 => fixed_len::<512>,
            _ => fixed_len::<4096>,
        };
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| {
            b.iter(|| black_box(fixed_len(black_box(&ours))))
        });
        g.bench_with_input(BenchmarkId::new("ours-owned", n), &n, |b, _| {
            b.iter(|| black_box(OwnershipTableBuf::new(black_box(&ours).iter().copied()).unwrap()))
        });
    }
    g.finish();
}

/// `from_array` at run time (firmware builds its tables in `const`, where
/// nothing is left to time), beside the reference's `new` on the same
/// scopes.
fn from_array(c: &mut Criterion) {
    let mut g = c.benchmark_group("construct_array");
    let writers: Vec<String> = (0..16).map(writer).collect();
    for n in [1, 8] {
        let prefixes = prefixes(n);
        let (reference_scopes, ours) = inputs(&prefixes, &writers);
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter_batched(
                || reference_scopes.clone(),
                |scopes| black_box(upstream::OwnershipTable::new(scopes).unwrap()),
                BatchSize::LargeInput,
            )
        });
        // The array is made outside the timing, as the reference's vector is.
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| match n {
            1 => array_bench::<1>(b, &ours),
            _ => array_bench::<8>(b, &ours),
        });
    }
    g.finish();
}

fn array_bench<const N: usize>(b: &mut Bencher<'_>, scopes: &[Scope<'_>]) {
    b.iter_batched(
        || <[Scope<'_>; N]>::try_from(scopes).unwrap(),
        |array| {
            let table = OwnershipTable::from_array(array).unwrap();
            black_box(&table).len()
        },
        BatchSize::SmallInput,
    )
}

fn fixed_len<const N: usize>(scopes: &[Scope<'_>]) -> usize {
    let table = OwnershipTable::<'_, N>::try_from_iter(scopes.iter().copied()).unwrap();
    black_box(&table).len()
}

/// The reference server's reading of `scopes`: split, trim, copy into
/// owned `Scope`s, build the table.
fn std_split(config: &str) -> upstream::OwnershipTable {
    let scopes = config
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|token| {
            let (prefix, owners) = token.split_once('=').unwrap();
            let (writer, fallback) = match owners.split_once('|') {
                Some((w, f)) => (w.trim(), Some(f.trim())),
                None => (owners.trim(), None),
            };
            let scope = upstream::Scope::new(prefix.trim().as_bytes().to_vec(), writer.to_string());
            match fallback {
                Some(f) => scope.with_fallback(f.to_string()),
                None => scope,
            }
        })
        .collect();
    upstream::OwnershipTable::new(scopes).unwrap()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for n in [1, 8, 64] {
        let config = scopes_config(n);
        // A table whose capacity is the scope count, as firmware declares it.
        let fixed: fn(&str) -> usize = match n {
            1 => parse_len::<1>,
            8 => parse_len::<8>,
            _ => parse_len::<64>,
        };
        g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            b.iter(|| black_box(std_split(black_box(&config))).len())
        });
        g.bench_with_input(BenchmarkId::new("ours-fixed", n), &n, |b, _| {
            b.iter(|| black_box(fixed(black_box(&config))))
        });
        g.bench_with_input(BenchmarkId::new("ours-owned", n), &n, |b, _| {
            b.iter(|| {
                let scopes = parse_scope_entries(black_box(&config)).map(Result::unwrap);
                black_box(OwnershipTableBuf::new(scopes).unwrap().len())
            })
        });
    }
    g.finish();
}

fn parse_len<const N: usize>(config: &str) -> usize {
    let table = parse_scopes::<N>(config).unwrap();
    black_box(&table).len()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
}

criterion_group! { name = benches; config = config(); targets = construction, from_array, parse }
criterion_main!(benches);
