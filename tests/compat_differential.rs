//! The `compat` module against the published kevy-scope 1.32.0, on the
//! same random input: every table, refusal (which pair it names too),
//! listing order, verdict, `Debug` and `Display` must be the reference's,
//! node ids that break this crate's rule included. The migration table
//! replays random operator commands on both, with such ids too, and every
//! answer must be the reference's.

#![cfg(feature = "compat")]

mod common;

use std::sync::Arc;

use common::*;
use kevy_scope::compat::{MigrationError, MigrationTable, OwnershipTable, Routing, Scope};
use kevy_scope::{
    moves::Phase,
    table::{NodeIdError, validate_node_id},
};
use proptest::prelude::*;

/// Valid ids, ids this crate's rule refuses, and repeats.
fn any_id() -> BoxedStrategy<String> {
    prop_oneof![
        8 => node_id(),
        1 => Just(String::new()),
        1 => Just("x".repeat(33)),
        1 => Just("has space".to_owned()),
        1 => Just("caf\u{e9}".to_owned()),
        1 => Just("a|b".to_owned()),
        // The compat migration table's stand-ins are `~<n>`: ids that
        // look like one must not be taken for one.
        1 => prop::sample::select(vec!["~0", "~1", "~x", "~"]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn specs() -> impl Strategy<Value = Vec<ScopeSpec>> {
    prop_oneof![
        4 => prop::collection::vec(scope_spec(any_id()), 0..24),
        // Few scopes, so that clashes are often the only pair or two.
        2 => prop::collection::vec(scope_spec(any_id()), 0..4),
        // Long stems: routed by the hash index.
        2 => stem_family(),
        // Many prefix lengths: routed by the binary search.
        2 => prop::collection::vec(long_spec(), 9..30),
    ]
}

fn long_spec() -> impl Strategy<Value = ScopeSpec> {
    (small_bytes(9), any_id(), prop::option::of(any_id())).prop_map(|(prefix, writer, fallback)| {
        ScopeSpec {
            prefix,
            writer,
            fallback,
        }
    })
}

fn ours_of(specs: &[ScopeSpec]) -> Vec<Scope> {
    specs
        .iter()
        .map(|s| {
            let scope = Scope::new(s.prefix.clone(), s.writer.clone());
            match &s.fallback {
                Some(f) => scope.with_fallback(f.clone()),
                None => scope,
            }
        })
        .collect()
}

fn theirs_of(specs: &[ScopeSpec]) -> Vec<upstream::Scope> {
    specs
        .iter()
        .map(|s| {
            let scope = upstream::Scope::new(s.prefix.clone(), s.writer.clone());
            match &s.fallback {
                Some(f) => scope.with_fallback(f.clone()),
                None => scope,
            }
        })
        .collect()
}

/// The routings are the same value (the types differ; their `Debug` is
/// derived from the same shape, and the variants are compared too, with
/// no `_` arm on either side: both enums are exhaustive).
fn same(ours: Routing<'_>, theirs: upstream::Routing<'_>) -> bool {
    let ours_variant = match ours {
        Routing::Owned => 0,
        Routing::Misdirected { .. } => 1,
        Routing::Unknown => 2,
    };
    let theirs_variant = match theirs {
        upstream::Routing::Owned => 0,
        upstream::Routing::Misdirected { .. } => 1,
        upstream::Routing::Unknown => 2,
    };
    let variant = ours_variant == theirs_variant
        && ours.is_local_writer() == theirs.is_local_writer()
        && ours.is_misdirected() == theirs.is_misdirected()
        && ours.misdirected_target() == theirs.misdirected_target()
        && match (ours, theirs) {
            (Routing::Owned, upstream::Routing::Owned) => true,
            (Routing::Unknown, upstream::Routing::Unknown) => true,
            (Routing::Misdirected { target: a }, upstream::Routing::Misdirected { target: b }) => {
                a == b
            }
            _ => false,
        };
    variant && format!("{ours:?}") == format!("{theirs:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6_000))]

    #[test]
    fn compat_table_is_the_reference_table(
        specs in specs(),
        random_keys in prop::collection::vec(small_bytes(8), 0..12),
        me in any_id(),
        down in prop::collection::vec(any_id(), 0..3),
    ) {
        let ours = OwnershipTable::new(ours_of(&specs));
        let theirs = upstream::OwnershipTable::new(theirs_of(&specs));
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                // Debug holds every scope, in order: the listing is the same.
                prop_assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
                prop_assert_eq!(format!("{:?}", ours.scopes()), format!("{:?}", theirs.scopes()));
                prop_assert_eq!(
                    format!("{:?}", ours.scopes_without_fallback()),
                    format!("{:?}", theirs.scopes_without_fallback())
                );
                prop_assert_eq!((ours.len(), ours.is_empty()), (theirs.len(), theirs.is_empty()));
                let is_down = |id: &str| down.iter().any(|d| d == id);
                for key in probe_keys(&specs, &random_keys) {
                    prop_assert_eq!(
                        format!("{:?}", ours.lookup(&key)),
                        format!("{:?}", theirs.lookup(&key))
                    );
                    let (a, b) = (ours.route(&key, &me), theirs.route(&key, &me));
                    prop_assert!(same(a, b), "route {key:?}: {a:?} vs {b:?}");
                    // The callback is asked the same questions.
                    let (mut asked_ours, mut asked_theirs) = (Vec::new(), Vec::new());
                    let a = ours.route_with_fallback_state(&key, &me, |id| {
                        asked_ours.push(id.to_owned());
                        is_down(id)
                    });
                    let b = theirs.route_with_fallback_state(&key, &me, |id| {
                        asked_theirs.push(id.to_owned());
                        is_down(id)
                    });
                    prop_assert!(same(a, b), "fallback route {key:?}: {a:?} vs {b:?}");
                    prop_assert_eq!(asked_ours, asked_theirs);
                }
            }
            (Err(a), Err(b)) => {
                // The same variant, the same pair, the same text.
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                prop_assert_eq!(a.to_string(), b.to_string());
            }
            _ => prop_assert!(false, "compat {ours:?} vs reference {theirs:?}"),
        }
    }
}

/// One operator command on a node's migration table.
#[derive(Debug, Clone)]
enum Command {
    Start(Vec<u8>, String, String),
    Commit(Vec<u8>),
    Abort(Vec<u8>),
}

fn command() -> impl Strategy<Value = Command> {
    let prefix = || small_bytes(3);
    prop_oneof![
        3 => (prefix(), any_id(), any_id()).prop_map(|(p, f, t)| Command::Start(p, f, t)),
        2 => prefix().prop_map(Command::Commit),
        1 => prefix().prop_map(Command::Abort),
    ]
}

type Answer = Option<(String, String)>;

fn ours_answer(state: Option<kevy_scope::compat::MigrationState>) -> Answer {
    state.map(|s| (s.from, s.to))
}

fn theirs_answer(state: Option<upstream::MigrationState>) -> Answer {
    state.map(|s| (s.from, s.to))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn compat_migrations_are_the_reference_migrations(
        commands in prop::collection::vec(command(), 0..40),
        keys in prop::collection::vec(small_bytes(5), 1..8),
    ) {
        let ours = MigrationTable::new();
        let theirs = upstream::MigrationTable::new();
        for command in &commands {
            match command.clone() {
                Command::Start(p, f, t) => {
                    let a = ours.start(p.clone(), f.clone(), t.clone());
                    let b = theirs.start(p, f, t);
                    let same = matches!(
                        (&a, &b),
                        (Ok(()), Ok(()))
                            | (Err(MigrationError::AlreadyMigrating), Err(upstream::MigrationError::AlreadyMigrating))
                            | (Err(MigrationError::AlreadyMigrated), Err(upstream::MigrationError::AlreadyMigrated))
                    );
                    prop_assert!(same, "{command:?}: {a:?} vs {b:?}");
                    // The same `Debug` and `Display` of the same variant.
                    prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                    if let (Err(a), Err(b)) = (&a, &b) {
                        prop_assert_eq!(a.to_string(), b.to_string());
                    }
                }
                Command::Commit(p) => {
                    prop_assert_eq!(ours_answer(ours.commit(&p)), theirs_answer(theirs.commit(&p)));
                }
                Command::Abort(p) => {
                    prop_assert_eq!(ours_answer(ours.abort(&p)), theirs_answer(theirs.abort(&p)));
                }
            }
            for key in keys.iter().chain(commands.iter().map(|c| match c {
                Command::Start(p, ..) | Command::Commit(p) | Command::Abort(p) => p,
            })) {
                prop_assert_eq!(ours_answer(ours.lookup_migrating(key)), theirs_answer(theirs.lookup_migrating(key)));
                prop_assert_eq!(ours_answer(ours.lookup_migrated(key)), theirs_answer(theirs.lookup_migrated(key)));
                prop_assert_eq!(ours_answer(ours.match_migrating(key)), theirs_answer(theirs.match_migrating(key)));
                prop_assert_eq!(ours_answer(ours.match_migrated(key)), theirs_answer(theirs.match_migrated(key)));
            }
        }
    }

    #[test]
    fn every_id_is_stored_as_the_reference_stores_it(
        prefix in small_bytes(3),
        from in any_id(),
        to in any_id(),
    ) {
        let ours = MigrationTable::new();
        let theirs = upstream::MigrationTable::new();
        prop_assert!(ours.start(prefix.clone(), from.clone(), to.clone()).is_ok());
        prop_assert!(theirs.start(prefix.clone(), from.clone(), to.clone()).is_ok());
        prop_assert_eq!(ours_answer(ours.lookup_migrating(&prefix)), theirs_answer(theirs.lookup_migrating(&prefix)));
        prop_assert_eq!(ours_answer(ours.commit(&prefix)), theirs_answer(theirs.commit(&prefix)));
        prop_assert_eq!(ours_answer(ours.match_migrated(&prefix)), theirs_answer(theirs.match_migrated(&prefix)));
        // Into the native records only through the node-id rule.
        match (validate_node_id(&from), validate_node_id(&to)) {
            (Ok(()), Ok(())) => {
                let native = ours.into_inner().unwrap();
                let (_, phase, state) = native.iter().find(|(p, _, _)| *p == prefix.as_slice()).unwrap();
                prop_assert_eq!(phase, Phase::Moved);
                prop_assert_eq!((state.from.as_str(), state.to.as_str()), (from.as_str(), to.as_str()));
            }
            (Err(reason), _) | (Ok(()), Err(reason)) => {
                prop_assert_eq!(
                    ours.into_inner().unwrap_err(),
                    kevy_scope::moves::MoveError::InvalidNodeId(reason)
                );
            }
        }
    }
}

#[test]
fn ids_the_rule_refuses_are_kept_apart_from_look_alikes() {
    // Stand-ins are `~<n>`; real ids `~0` and `~1` beside ids that get
    // stand-ins, in both orders, each answered as given.
    let t = MigrationTable::new();
    let long = "x".repeat(33);
    let moves: [(&[u8], &str, &str); 5] = [
        (b"a:", "~1", &long),
        (b"b:", "", "~0"),
        (b"c:", "has space", "~"),
        (b"d:", &long, "A"),
        (b"e:", "A", "B"),
    ];
    for (prefix, from, to) in moves {
        t.start(prefix.to_vec(), from.into(), to.into()).unwrap();
    }
    t.commit(b"b:");
    t.abort(b"c:");
    for (prefix, from, to) in moves {
        let seen = t
            .lookup_migrating(prefix)
            .or_else(|| t.lookup_migrated(prefix));
        if prefix == b"c:" {
            assert!(seen.is_none());
            continue;
        }
        let seen = seen.unwrap();
        assert_eq!(
            (seen.from.as_str(), seen.to.as_str()),
            (from, to),
            "{prefix:?}"
        );
    }
    assert_eq!(
        format!("{t:?}"),
        format!(
            r#"MigrationTable {{ records: [("a:", Migrating, MigrationState {{ from: "~1", to: "{long}" }}), ("b:", Migrated, MigrationState {{ from: "", to: "~0" }}), ("d:", Migrating, MigrationState {{ from: "{long}", to: "A" }}), ("e:", Migrating, MigrationState {{ from: "A", to: "B" }})] }}"#
        )
    );
    // The first record with an id the rule refuses stops the way into the
    // native records.
    assert_eq!(
        t.into_inner().unwrap_err(),
        kevy_scope::moves::MoveError::InvalidNodeId(NodeIdError::TooLong { len: 33 })
    );
    // Valid ids that start with `~` come out as they went in, phases too.
    let t = MigrationTable::new();
    t.start(b"a:".to_vec(), "~1".into(), "~0".into()).unwrap();
    t.start(b"b:".to_vec(), "~x".into(), "B".into()).unwrap();
    t.commit(b"b:");
    let native = t.into_inner().unwrap();
    let records: Vec<_> = native
        .iter()
        .map(|(p, phase, s)| {
            (
                p.to_vec(),
                phase,
                s.from.as_str().to_owned(),
                s.to.as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            (
                b"a:".to_vec(),
                Phase::Moving,
                "~1".to_owned(),
                "~0".to_owned()
            ),
            (
                b"b:".to_vec(),
                Phase::Moved,
                "~x".to_owned(),
                "B".to_owned()
            ),
        ]
    );
}

/// The reference's error converts as documented.
#[test]
fn migration_errors_map_onto_the_reference_words() {
    use kevy_scope::moves::MoveError as Native;
    for (ours, theirs) in [
        (
            MigrationError::AlreadyMigrating,
            upstream::MigrationError::AlreadyMigrating,
        ),
        (
            MigrationError::AlreadyMigrated,
            upstream::MigrationError::AlreadyMigrated,
        ),
    ] {
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert_eq!(ours.to_string(), theirs.to_string());
        let native = Native::from(ours.clone());
        assert_eq!(native.to_string(), theirs.to_string());
        assert_eq!(MigrationError::try_from(native), Ok(ours));
    }
    for other in [
        Native::SameNode,
        Native::Full { capacity: 4 },
        Native::InvalidNodeId(NodeIdError::Empty),
    ] {
        assert_eq!(MigrationError::try_from(other), Err(other));
    }
}

#[test]
fn migration_table_serves_many_threads_through_shared_references() {
    const THREADS: usize = 4;
    const PREFIXES: usize = 200;
    let table = Arc::new(MigrationTable::new());
    std::thread::scope(|s| {
        // Writers: each moves its own prefixes, committing even ones and
        // aborting odd ones.
        for t in 0..THREADS {
            let table = &table;
            s.spawn(move || {
                for i in 0..PREFIXES {
                    let prefix = format!("t{t}:p{i}:").into_bytes();
                    table
                        .start(prefix.clone(), format!("n{t}"), "to".into())
                        .unwrap();
                    let done = if i % 2 == 0 {
                        table.commit(&prefix)
                    } else {
                        table.abort(&prefix)
                    };
                    assert_eq!(done.map(|s| s.from), Some(format!("n{t}")));
                }
            });
        }
        // Readers: whatever they see is a whole record of its writer.
        for t in 0..THREADS {
            let table = &table;
            s.spawn(move || {
                for i in 0..PREFIXES {
                    let key = format!("t{t}:p{i}:key").into_bytes();
                    for seen in [table.match_migrating(&key), table.match_migrated(&key)]
                        .into_iter()
                        .flatten()
                    {
                        assert_eq!(
                            (seen.from.as_str(), seen.to.as_str()),
                            (format!("n{t}").as_str(), "to")
                        );
                    }
                }
            });
        }
    });
    for t in 0..THREADS {
        for i in 0..PREFIXES {
            let prefix = format!("t{t}:p{i}:").into_bytes();
            assert!(table.lookup_migrating(&prefix).is_none());
            assert_eq!(table.lookup_migrated(&prefix).is_some(), i % 2 == 0);
        }
    }
    // The same prefix started by every thread at once: exactly one wins.
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let table = &table;
                s.spawn(move || {
                    table
                        .start(b"race:".to_vec(), format!("n{t}"), "to".into())
                        .is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
    let records = Arc::try_unwrap(table).unwrap().into_inner().unwrap();
    assert_eq!(records.len(), THREADS * PREFIXES / 2 + 1);
}

#[test]
fn compat_table_routes_from_many_threads() {
    let table = Arc::new(
        OwnershipTable::new(
            (0..64)
                .map(|i| Scope::new(format!("app:svc{i:03}:").into_bytes(), format!("w{i}")))
                .collect(),
        )
        .unwrap(),
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            let table = &table;
            s.spawn(move || {
                for i in 0..64 {
                    let key = format!("app:svc{i:03}:k").into_bytes();
                    let want = format!("w{i}");
                    assert_eq!(
                        table.route(&key, "other").misdirected_target(),
                        Some(want.as_str())
                    );
                }
            });
        }
    });
}

#[test]
fn several_clashes_name_the_reference_pair() {
    let s = |p: &str| (p.as_bytes().to_vec(), "w".to_owned());
    let cases: [&[(Vec<u8>, String)]; 4] = [
        // Duplicates: the first repeated prefix in input order.
        &[s("b"), s("a"), s("a"), s("b")],
        // Overlaps: the first outer in input order, its first inner.
        &[s("zz"), s("ab"), s("a"), s("abc"), s("z"), s("ac")],
        &[s(""), s("x"), s("y")],
        &[s("app:billing:"), s("app:"), s("app:auth:")],
    ];
    for case in cases {
        let ours = OwnershipTable::new(
            case.iter()
                .map(|(p, w)| Scope::new(p.clone(), w.clone()))
                .collect(),
        )
        .unwrap_err();
        let theirs = upstream::OwnershipTable::new(
            case.iter()
                .map(|(p, w)| upstream::Scope::new(p.clone(), w.clone()))
                .collect(),
        )
        .unwrap_err();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert_eq!(ours.to_string(), theirs.to_string());
    }
}

#[test]
fn large_tables_of_many_prefix_lengths_route_as_the_reference() {
    // Seven prefix lengths: more than the hash index takes, so the
    // binary search routes; then one length, so the hash index does.
    for stretch in [7, 1] {
        let prefixes: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("k{i:03}:{}", "x".repeat(i % stretch)).into_bytes())
            .collect();
        let ours = OwnershipTable::new(
            prefixes
                .iter()
                .enumerate()
                .map(|(i, p)| Scope::new(p.clone(), format!("w{i}")))
                .collect(),
        )
        .unwrap();
        let theirs = upstream::OwnershipTable::new(
            prefixes
                .iter()
                .enumerate()
                .map(|(i, p)| upstream::Scope::new(p.clone(), format!("w{i}")))
                .collect(),
        )
        .unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for p in &prefixes {
            for key in [
                p.clone(),
                [p.as_slice(), b"tail"].concat(),
                p[..p.len() - 1].to_vec(),
            ] {
                assert_eq!(
                    format!("{:?}", ours.lookup(&key)),
                    format!("{:?}", theirs.lookup(&key))
                );
                assert!(same(ours.route(&key, "w7"), theirs.route(&key, "w7")));
            }
        }
    }
}
