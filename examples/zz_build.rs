//! scratch
use kevy_scope::{OwnershipTable, Scope};
use std::hint::black_box;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let reps: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let prefixes: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("app:svc{i:05}:").into_bytes())
        .collect();
    let writers: Vec<String> = (0..16).map(|i| format!("node-{i}")).collect();
    let mut ours: Vec<Scope<'_>> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| Scope::new(p, &writers[i % 16]).with_fallback(&writers[(i + 1) % 16]))
        .collect();
    ours.reverse();
    let mut t = 0;
    for _ in 0..reps {
        t += if n == 1 {
            f::<1>(black_box(&ours))
        } else {
            f::<8>(black_box(&ours))
        };
    }
    println!("{t}");
}
#[inline(never)]
fn f<const N: usize>(scopes: &[Scope<'_>]) -> usize {
    let table = OwnershipTable::<'_, N>::try_from_iter(scopes.iter().copied()).unwrap();
    black_box(&table).len()
}
