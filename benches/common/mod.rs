//! Tables and keys shared by the benches: `N` scopes of realistic shape
//! (`app:svc00042:`), keys spread over all of them.

#![allow(dead_code, missing_docs)]

pub const SIZES: [usize; 5] = [1, 8, 64, 512, 4096];

pub fn prefixes(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("app:svc{i:05}:").into_bytes())
        .collect()
}

/// Prefixes of five lengths sharing their first bytes: tenant numbers of
/// one to five digits, scattered (`tenant-7919:`, `tenant-15838:`, ..).
pub fn mixed_prefixes(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| mixed_prefix(i).into_bytes()).collect()
}

fn mixed_prefix(i: usize) -> String {
    format!("tenant-{}:", i * 7919 % 100_000)
}

/// [`hit_keys`] for [`mixed_prefixes`].
pub fn mixed_hit_keys(n: usize) -> Vec<Vec<u8>> {
    let count = key_count(n);
    (0..count)
        .map(|j| format!("{}user:{j}", mixed_prefix((j * 7919) % n)).into_bytes())
        .collect()
}

pub fn writer(i: usize) -> String {
    format!("node-{}", i % 16)
}

/// How many keys a bench cycles through: a power of two, so the next key
/// is a mask away (a division would cost as much as a small route).
fn key_count(n: usize) -> usize {
    n.max(64).next_power_of_two()
}

/// One key per scope, in a scrambled order so lookups do not walk the
/// table in sequence.
pub fn hit_keys(n: usize) -> Vec<Vec<u8>> {
    let count = key_count(n);
    (0..count)
        .map(|j| {
            let i = (j * 7919) % n;
            format!("app:svc{i:05}:user:{j}").into_bytes()
        })
        .collect()
}

/// Keys that match no scope: one byte short of a prefix, or another stem.
pub fn miss_keys(n: usize) -> Vec<Vec<u8>> {
    let count = key_count(n);
    (0..count)
        .map(|j| {
            let i = (j * 7919) % n;
            if j % 2 == 0 {
                format!("app:svc{i:05}").into_bytes()
            } else {
                format!("session:{j}").into_bytes()
            }
        })
        .collect()
}

pub fn reference_table(prefixes: &[Vec<u8>]) -> upstream::OwnershipTable {
    upstream::OwnershipTable::new(
        prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| upstream::Scope::new(p.clone(), writer(i)).with_fallback(writer(i + 1)))
            .collect(),
    )
    .expect("distinct prefixes")
}

/// A `scopes` config value of `n` entries.
pub fn scopes_config(n: usize) -> String {
    (0..n)
        .map(|i| format!("app:svc{i:05}:={}|{}", writer(i), writer(i + 1)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cycles through keys without dividing.
pub struct Cycle<'k> {
    keys: &'k [Vec<u8>],
    at: usize,
}

impl<'k> Cycle<'k> {
    pub fn new(keys: &'k [Vec<u8>]) -> Self {
        assert!(keys.len().is_power_of_two());
        Self { keys, at: 0 }
    }

    #[inline(always)]
    pub fn key(&mut self) -> &'k [u8] {
        self.at = (self.at + 1) & (self.keys.len() - 1);
        &self.keys[self.at]
    }
}
