//! Generators shared by the host property and differential suites.
#![allow(dead_code)]

use proptest::prelude::*;

/// Bytes drawn from a tiny alphabet so that random prefixes collide,
/// nest and share stems often; includes non-UTF-8 bytes.
pub fn small_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b':', 0xff, 0x00]),
        0..=max_len,
    )
}

/// Valid node ids from a small set, so writers and fallbacks repeat.
pub fn node_id() -> BoxedStrategy<String> {
    prop::sample::select(vec!["w1", "w2", "w3", "embed-billing-1", "server-eu-1"])
        .prop_map(str::to_owned)
        .boxed()
}

/// A scope description: prefix, writer, optional fallback (owned, so a
/// table can borrow from it).
#[derive(Debug, Clone)]
pub struct ScopeSpec {
    pub prefix: Vec<u8>,
    pub writer: String,
    pub fallback: Option<String>,
}

impl ScopeSpec {
    pub fn as_scope(&self) -> kevy_scope::Scope<'_> {
        let s = kevy_scope::Scope::new(&self.prefix, &self.writer);
        match &self.fallback {
            Some(f) => s.with_fallback(f),
            None => s,
        }
    }
}

pub fn scope_spec(id: BoxedStrategy<String>) -> impl Strategy<Value = ScopeSpec> {
    (small_bytes(4), id.clone(), prop::option::of(id)).prop_map(|(prefix, writer, fallback)| {
        ScopeSpec {
            prefix,
            writer,
            fallback,
        }
    })
}

/// Drops fallbacks that repeat their writer (a rule of this crate alone).
pub fn without_self_fallback(specs: Vec<ScopeSpec>) -> Vec<ScopeSpec> {
    specs
        .into_iter()
        .map(|mut s| {
            if s.fallback.as_deref() == Some(s.writer.as_str()) {
                s.fallback = None;
            }
            s
        })
        .collect()
}

/// Families of prefixes sharing a long stem, like real `app:svcNNN:` scopes.
pub fn stem_family() -> impl Strategy<Value = Vec<ScopeSpec>> {
    (
        small_bytes(12),
        prop::collection::vec((small_bytes(3), node_id()), 0..24),
    )
        .prop_map(|(stem, tails)| {
            tails
                .into_iter()
                .map(|(tail, writer)| ScopeSpec {
                    prefix: [stem.as_slice(), tail.as_slice()].concat(),
                    writer,
                    fallback: None,
                })
                .collect()
        })
}

/// Keys worth asking about: random ones, every prefix itself, every prefix
/// one byte short and one byte longer.
pub fn probe_keys(specs: &[ScopeSpec], random: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = random.to_vec();
    keys.push(Vec::new());
    for s in specs {
        keys.push(s.prefix.clone());
        if let Some((_, short)) = s.prefix.split_last() {
            keys.push(short.to_vec());
        }
        for extra in [0x00, b'a', 0xff] {
            let mut k = s.prefix.clone();
            k.push(extra);
            keys.push(k);
        }
    }
    keys
}

/// The plain model: a linear scan for the longest matching prefix.
pub fn model_lookup<'s>(specs: &'s [ScopeSpec], key: &[u8]) -> Option<&'s ScopeSpec> {
    specs
        .iter()
        .filter(|s| key.starts_with(&s.prefix))
        .max_by_key(|s| s.prefix.len())
}

/// What the model says about a table: `Ok`, or the kind of refusal.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ModelVerdict {
    Ok,
    Duplicate,
    Overlap,
}

pub fn model_validate(specs: &[ScopeSpec]) -> ModelVerdict {
    for (i, a) in specs.iter().enumerate() {
        for b in &specs[i + 1..] {
            if a.prefix == b.prefix {
                return ModelVerdict::Duplicate;
            }
        }
    }
    for a in specs {
        for b in specs {
            if a.prefix.len() < b.prefix.len() && b.prefix.starts_with(&a.prefix) {
                return ModelVerdict::Overlap;
            }
        }
    }
    ModelVerdict::Ok
}
