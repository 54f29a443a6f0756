//! Differential test against the published reference crate (1.32.0).
//!
//! Identical accept/reject of tables and identical routing and fallback
//! verdicts, except where this crate is deliberately stricter (README,
//! "Stricter than the reference"): invalid node ids and a fallback equal
//! to its writer. Exactly those cases are set aside, and for them this
//! crate must refuse with that rule's error.

mod common;

use common::*;
use kevy_scope::{
    OwnershipTable, Routing, Scope,
    table::{NodeIdError, OwnershipError, validate_node_id},
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static COMPARED: AtomicUsize = AtomicUsize::new(0);
static EXCLUDED: AtomicUsize = AtomicUsize::new(0);

/// Mostly valid ids, sometimes one that breaks this crate's stricter rule.
fn any_id() -> BoxedStrategy<String> {
    prop_oneof![
        12 => node_id(),
        1 => Just(String::new()),
        1 => Just("x".repeat(33)),
        1 => Just("has space".to_owned()),
        1 => Just("caf\u{e9}".to_owned()),
        1 => Just("a|b".to_owned()),
    ]
    .boxed()
}

fn stricter_rule_applies(specs: &[ScopeSpec]) -> bool {
    specs.iter().any(|s| {
        validate_node_id(&s.writer).is_err()
            || s.fallback
                .as_deref()
                .is_some_and(|f| validate_node_id(f).is_err() || f == s.writer)
    })
}

fn to_upstream(specs: &[ScopeSpec]) -> Vec<upstream::Scope> {
    specs
        .iter()
        .map(|s| {
            let u = upstream::Scope::new(s.prefix.clone(), s.writer.clone());
            match &s.fallback {
                Some(f) => u.with_fallback(f.clone()),
                None => u,
            }
        })
        .collect()
}

fn same_routing(ours: Routing<'_>, theirs: upstream::Routing<'_>) -> bool {
    match (ours, theirs) {
        (Routing::Owned, upstream::Routing::Owned) => true,
        (Routing::Unknown, upstream::Routing::Unknown) => true,
        (Routing::Misdirected { target: a }, upstream::Routing::Misdirected { target: b }) => {
            a == b
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12_000))]

    // Run once, by `at_least_ten_thousand_cases_are_compared`, which counts.
    fn same_verdicts_as_reference(
        specs in prop_oneof![
            6 => prop::collection::vec(scope_spec(node_id()), 0..20).prop_map(without_self_fallback),
            2 => stem_family(),
            1 => prop::collection::vec(scope_spec(any_id()), 0..10),
        ],
        random_keys in prop::collection::vec(small_bytes(8), 0..12),
        me in node_id(),
        down in prop::collection::vec(node_id(), 0..3),
    ) {
        let scopes: Vec<Scope<'_>> = specs.iter().map(ScopeSpec::as_scope).collect();
        let ours = OwnershipTable::<32>::try_from_iter(scopes.iter().copied());
        let theirs = upstream::OwnershipTable::new(to_upstream(&specs));

        if stricter_rule_applies(&specs) {
            let refused_by_stricter_rule = matches!(
                ours,
                Err(OwnershipError::InvalidNodeId { .. } | OwnershipError::FallbackIsWriter { .. })
            );
            prop_assert!(refused_by_stricter_rule, "ours: {ours:?}");
            EXCLUDED.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }

        COMPARED.fetch_add(1, Ordering::Relaxed);
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                prop_assert_eq!(ours.len(), theirs.len());
                prop_assert_eq!(ours.scopes_without_fallback().count(), theirs.scopes_without_fallback().len());
                let is_down = |id: &str| down.iter().any(|d| d == id);
                for key in probe_keys(&specs, &random_keys) {
                    let (a, b) = (ours.route(&key, &me), theirs.route(&key, &me));
                    prop_assert!(same_routing(a, b), "route {key:?}: {a:?} vs {b:?}");
                    let a = ours.route_with_fallback_state(&key, &me, is_down);
                    let b = theirs.route_with_fallback_state(&key, &me, is_down);
                    prop_assert!(same_routing(a, b), "fallback route {key:?}: {a:?} vs {b:?}");
                    prop_assert_eq!(
                        ours.lookup(&key).map(|s| (s.prefix(), s.writer(), s.fallback())),
                        theirs.lookup(&key).map(|s| (s.prefix(), s.writer(), s.fallback()))
                    );
                }
            }
            (Err(a), Err(b)) => {
                // Same kind of refusal; with one offending pair, the same text.
                match (a, b) {
                    (OwnershipError::DuplicatePrefix { .. }, upstream::OwnershipError::DuplicatePrefix { .. }) => {}
                    (OwnershipError::OverlappingPrefix { .. }, upstream::OwnershipError::OverlappingPrefix { .. }) => {}
                    _ => prop_assert!(false, "ours {a:?} vs reference {b:?}"),
                }
                if specs.len() == 2 {
                    prop_assert_eq!(a.to_string(), b.to_string());
                }
            }
            _ => prop_assert!(false, "ours {ours:?} vs reference {theirs:?}"),
        }
    }
}

#[test]
fn display_text_matches_reference_for_non_utf8_prefixes() {
    let pairs: [(&[u8], &[u8]); 3] = [
        (b"app:", b"app:billing:"),
        (b"\xff", b"\xff\xfe"),
        (b"q\"", b"q\"\n"),
    ];
    for (outer, inner) in pairs {
        let ours = OwnershipTable::from_array([Scope::new(outer, "w"), Scope::new(inner, "w")])
            .unwrap_err();
        let theirs = upstream::OwnershipTable::new(vec![
            upstream::Scope::new(outer.to_vec(), "w".into()),
            upstream::Scope::new(inner.to_vec(), "w".into()),
        ])
        .unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
        let ours = OwnershipTable::from_array([Scope::new(inner, "w"), Scope::new(inner, "v")])
            .unwrap_err();
        let theirs = upstream::OwnershipTable::new(vec![
            upstream::Scope::new(inner.to_vec(), "w".into()),
            upstream::Scope::new(inner.to_vec(), "v".into()),
        ])
        .unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
    }
}

#[test]
fn stricter_rules_are_the_listed_ones() {
    assert!(matches!(
        OwnershipTable::from_array([Scope::new(b"a", &"x".repeat(33))]),
        Err(OwnershipError::InvalidNodeId {
            reason: NodeIdError::TooLong { len: 33 },
            ..
        })
    ));
    assert!(
        upstream::OwnershipTable::new(vec![upstream::Scope::new(b"a".to_vec(), "x".repeat(33))])
            .is_ok()
    );
}

#[test]
fn at_least_ten_thousand_cases_are_compared() {
    same_verdicts_as_reference();
    let compared = COMPARED.load(Ordering::Relaxed);
    let excluded = EXCLUDED.load(Ordering::Relaxed);
    println!("compared {compared} cases with the reference, set aside {excluded}");
    assert!(compared >= 10_000, "only {compared} cases compared");
}
