//! Config parsing: rendered tables parse back to themselves, and no input,
//! however malformed, makes a parser panic.

use kevy_scope::{
    OwnershipTable, Scope, WriteVerdict,
    config::{ConfigErrorKind, PeerTable, parse_scopes},
    wire::{MAX_HOST_LEN, MAX_REPLY_LEN},
};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.:-]{0,31}"
}

fn prefix() -> impl Strategy<Value = String> {
    // Printable, no separator or space; '=' cannot appear in a prefix.
    "[a-z0-9:_.#*/-]{1,12}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,20}",
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("::1".to_owned()),
        Just("fe80::1:2".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn rendered_tables_parse_back(entries in prop::collection::vec((prefix(), id(), prop::option::of(id())), 0..12)) {
        let scopes: Vec<Scope<'_>> = entries
            .iter()
            .map(|(p, w, f)| {
                let s = Scope::new(p.as_bytes(), w);
                match f {
                    Some(f) if f != w => s.with_fallback(f),
                    _ => s,
                }
            })
            .collect();
        // Only valid tables can be rendered.
        let Ok(table) = OwnershipTable::<16>::try_from_iter(scopes) else { return Ok(()) };
        let rendered = table.to_string();
        let parsed = parse_scopes::<16>(&rendered).unwrap();
        prop_assert_eq!(parsed.scopes(), table.scopes());
    }

    #[test]
    fn rendered_peers_parse_back(entries in prop::collection::vec(("[a-z][a-z0-9_.:-]{0,29}", host(), 1u16.., prop::option::of(1u16..)), 0..8)) {
        let text: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, (id, host, elect, client))| {
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                let client = client.map(|c| format!(":{c}")).unwrap_or_default();
                // The index keeps ids unique and within 32 bytes.
                format!("{id}{i}@{host}:{elect}{client}")
            })
            .collect();
        let input = text.join(" , ");
        let peers = PeerTable::<8>::parse(&input).unwrap();
        prop_assert_eq!(peers.len(), entries.len());
        let rendered = peers.to_string();
        let again = PeerTable::<8>::parse(&rendered).unwrap();
        prop_assert_eq!(&again, &peers);
        prop_assert_eq!(again.to_string(), rendered.clone());
    }

    #[test]
    fn every_accepted_peer_has_a_reply_that_fits(
        host in prop_oneof![
            "[a-z0-9.-]{1,20}",
            "[a-z0-9.-]{240,260}",
            "[0-9a-f.]{0,10}:[0-9a-f:.]{0,20}".prop_map(|h| format!("[{h}]")),
            "[0-9a-f.]{200,250}:[0-9a-f:.]{0,20}".prop_map(|h| format!("[{h}]")),
        ],
        elect in 1u16..,
        client in prop::option::of(1u16..),
    ) {
        let client = client.map(|c| format!(":{c}")).unwrap_or_default();
        let value = format!("B@{host}:{elect}{client}");
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match PeerTable::<1>::parse(&value) {
            Ok(peers) => {
                prop_assert!(bare.len() <= MAX_HOST_LEN);
                let mut buf = [0u8; MAX_REPLY_LEN];
                let verdict = WriteVerdict::Misdirected { target: "B" };
                let reply = verdict.encode_reply(&peers, &mut buf);
                prop_assert!(reply.is_ok(), "{value}: {reply:?}");
            }
            Err(e) => prop_assert_eq!(e.kind, ConfigErrorKind::HostTooLong { len: bare.len() }),
        }
    }

    #[test]
    fn scopes_parser_never_panics(input in ".{0,80}") {
        let _ = parse_scopes::<4>(&input);
    }

    #[test]
    fn scopes_parser_never_panics_on_near_misses(input in "[a:=|, \u{e9}@]{0,40}") {
        if let Err(e) = parse_scopes::<4>(&input) {
            // The span names the offending text.
            prop_assert_eq!(input.get(e.entry.start..e.entry.end), Some(e.text));
        }
    }

    #[test]
    fn peers_parser_never_panics(input in "[a-z0-9@:\\[\\], .\u{e9}]{0,60}") {
        if let Err(e) = PeerTable::<4>::parse(&input) {
            prop_assert_eq!(input.get(e.entry.start..e.entry.end), Some(e.text));
        }
    }
}

#[test]
fn operator_sees_the_offending_text() {
    let input = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1|";
    let e = parse_scopes::<4>(input).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::EmptyFallback);
    assert_eq!(
        &input[e.entry.start..e.entry.end],
        "app:auth:=embed-auth-1|"
    );
    assert_eq!(
        e.to_string(),
        "entry 1 \"app:auth:=embed-auth-1|\" (bytes 42..65): empty fallback id after '|'"
    );
}

/// The owned parsers (feature `alloc`): the same answers as the borrowed
/// ones, errors that outlive the input, and one boot report for both.
#[cfg(feature = "alloc")]
mod owned {
    use super::{host, id, prefix};
    use kevy_scope::{
        Scope,
        config::{
            BootWarning, ConfigError, ConfigErrorBuf, ConfigErrorKind, Entry, PeerTable,
            PeerTableBuf, boot_report, parse_scopes,
        },
        table::{NodeIdError, OwnershipError, OwnershipErrorBuf, OwnershipTableBuf},
    };
    use proptest::prelude::*;
    use std::error::Error;

    /// A `scopes` value from parts that often collide and nest.
    fn scopes_value() -> impl Strategy<Value = String> {
        let entry = (
            prop::sample::select(vec!["a:", "a:b:", "b:", "ab", "a", "app:billing:", ""]),
            prop::sample::select(vec!["w1", "w2", "", "w 3", "w1|w1", "w1|f1", "w2|", "|f"]),
            prop::sample::select(vec!["=", "", "=="]),
        )
            .prop_map(|(p, o, eq)| format!("{p}{eq}{o}"));
        prop_oneof![
            prop::collection::vec(entry, 0..10).prop_map(|e| e.join(", ")),
            "[a:=|, \u{e9}@]{0,40}",
        ]
    }

    /// A `peers` value from parts that often collide or break a rule.
    fn peers_value() -> impl Strategy<Value = String> {
        let entry = (
            prop::sample::select(vec!["n1", "n2", "n3", "", "n 4"]),
            prop::sample::select(vec!["@", "", "@@"]),
            prop::sample::select(vec!["10.0.0.1", "[::1]", "::1", "[h]", "", "kevy.example"]),
            prop::sample::select(vec![":6004", ":6004:6379", "", ":0", ":x", ":1:2:3"]),
        )
            .prop_map(|(i, at, h, p)| format!("{i}{at}{h}{p}"));
        prop_oneof![
            prop::collection::vec(entry, 0..8).prop_map(|e| e.join(", ")),
            "[a-z0-9@:\\[\\], .\u{e9}]{0,60}",
        ]
    }

    /// The owned form of a borrowed error, and back.
    fn round_trip(e: ConfigError<'_>) -> Result<(), TestCaseError> {
        let owned = e.into_owned();
        prop_assert_eq!(owned.error(), e);
        prop_assert_eq!(owned.kind(), e.kind);
        prop_assert_eq!((owned.entry(), owned.text()), (e.entry, e.text));
        prop_assert_eq!(owned.to_string(), e.to_string());
        prop_assert_eq!(ConfigErrorBuf::from(e), owned);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn owned_scopes_parser_agrees_with_the_borrowed_one(input in scopes_value()) {
            match (parse_scopes::<64>(&input), OwnershipTableBuf::parse(&input)) {
                (Ok(fixed), Ok(owned)) => {
                    prop_assert!(fixed.iter().eq(owned.iter()));
                    prop_assert_eq!(fixed.to_string(), owned.to_string());
                    let again: OwnershipTableBuf = input.parse().unwrap();
                    prop_assert_eq!(again, owned);
                }
                (Err(fixed), Err(owned)) => {
                    prop_assert_eq!(owned.error(), fixed);
                    prop_assert_eq!(owned.to_string(), fixed.to_string());
                    round_trip(fixed)?;
                }
                (fixed, owned) => prop_assert!(false, "{fixed:?} vs {owned:?}"),
            }
        }

        #[test]
        fn owned_peers_parser_agrees_with_the_borrowed_one(input in peers_value()) {
            match (PeerTable::<16>::parse(&input), PeerTableBuf::parse(&input)) {
                (Ok(fixed), Ok(owned)) => {
                    prop_assert!(fixed.iter().copied().eq(owned.iter()));
                    prop_assert_eq!(fixed.len(), owned.len());
                    prop_assert_eq!(fixed.to_string(), owned.to_string());
                    for id in ["n1", "n2", "n3", "n", ""] {
                        prop_assert_eq!(fixed.get(id).copied(), owned.get(id));
                    }
                    let again: PeerTableBuf = input.parse().unwrap();
                    prop_assert_eq!(again, owned);
                }
                (Err(fixed), Err(owned)) => {
                    prop_assert_eq!(owned.error(), fixed);
                    round_trip(fixed)?;
                }
                (fixed, owned) => prop_assert!(false, "{fixed:?} vs {owned:?}"),
            }
        }

        #[test]
        fn one_boot_report_for_both_table_types(
            scopes in prop::collection::vec((prefix(), id(), prop::option::of(id())), 0..8),
            peers in prop::collection::vec((id(), host()), 0..8),
        ) {
            let scopes: Vec<String> = scopes
                .iter()
                .map(|(p, w, f)| match f {
                    Some(f) => format!("{p}={w}|{f}"),
                    None => format!("{p}={w}"),
                })
                .collect();
            let peers: Vec<String> = peers
                .iter()
                .map(|(i, h)| if h.contains(':') { format!("{i}@[{h}]:1") } else { format!("{i}@{h}:1") })
                .collect();
            let (scopes, peers) = (scopes.join(","), peers.join(","));
            let (Ok(fixed), Ok(fixed_peers)) = (parse_scopes::<8>(&scopes), PeerTable::<8>::parse(&peers)) else {
                return Ok(());
            };
            let owned = OwnershipTableBuf::parse(&scopes).unwrap();
            let owned_peers = PeerTableBuf::parse(&peers).unwrap();
            let want: Vec<BootWarning<'_>> = boot_report(&fixed, &fixed_peers).collect();
            let got: Vec<BootWarning<'_>> = boot_report(&owned, &owned_peers).collect();
            prop_assert_eq!(&got, &want);
            // The warnings follow from the scopes and the ids the peers know.
            let known = |id: &str| fixed_peers.get(id).is_some();
            let expected = fixed.iter().map(|s| {
                usize::from(!known(s.writer())) + usize::from(s.fallback().is_none_or(|f| !known(f)))
            });
            prop_assert_eq!(want.len(), expected.sum::<usize>());
            // Mixed pairs work too.
            prop_assert_eq!(boot_report(&owned, &fixed_peers).count(), want.len());
            prop_assert_eq!(boot_report(&fixed, &owned_peers).count(), want.len());
        }
    }

    /// Loads both values the way a server does, `?` boxing every error.
    fn load(
        scopes: String,
        peers: String,
    ) -> Result<(OwnershipTableBuf, PeerTableBuf), Box<dyn Error>> {
        let table = OwnershipTableBuf::parse(&scopes)?;
        let peers: PeerTableBuf = peers.parse()?;
        // The borrowed parsers, their errors made owned.
        parse_scopes::<16>(&scopes).map_err(ConfigError::into_owned)?;
        let views: Vec<Scope<'_>> = table.iter().collect();
        OwnershipTableBuf::new(views).map_err(OwnershipError::into_owned)?;
        Ok((table, peers))
    }

    #[test]
    fn errors_box_with_question_mark_and_outlive_their_input() {
        let (table, peers) = load("a:=n1|n2".into(), "n1@h:1, n2@h:2".into()).unwrap();
        assert_eq!((table.len(), peers.len()), (1, 2));
        assert!(boot_report(&table, &peers).next().is_none());

        let err = load("a:=n1, a:b:=n2".into(), String::new()).unwrap_err();
        let err = *err.downcast::<ConfigErrorBuf>().unwrap();
        assert_eq!(
            err.entry(),
            Entry {
                index: 1,
                start: 7,
                end: 14
            }
        );
        assert_eq!(
            err.kind(),
            ConfigErrorKind::Overlapping {
                outer: Entry {
                    index: 0,
                    start: 0,
                    end: 5
                }
            }
        );

        let err = load("a:=n1".into(), "n1@h:1, n1@h:2".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"entry 1 "n1@h:2" (bytes 8..14): repeats entry 0 (bytes 0..6)"#
        );

        // 'static, Send and Sync: it crosses a thread.
        let err = OwnershipTableBuf::parse(&String::from("a:=bad id")).unwrap_err();
        let text = std::thread::spawn(move || err.to_string()).join().unwrap();
        assert_eq!(
            text,
            r#"entry 0 "a:=bad id" (bytes 0..9): node id "bad id": node id byte 3 is ' ': only printable ASCII without , | = @ is allowed"#
        );
    }

    #[test]
    fn owned_config_error_keeps_borrowed_text_of_every_kind() {
        let id_err = PeerTableBuf::parse("n\té@h:1").unwrap_err();
        assert!(
            matches!(
                id_err.kind(),
                ConfigErrorKind::InvalidNodeId {
                    id: "n\té",
                    reason: NodeIdError::InvalidByte { byte: b'\t', at: 1 }
                }
            ),
            "{id_err:?}"
        );
        let port_err = PeerTableBuf::parse("n@h:65536").unwrap_err();
        assert_eq!(port_err.kind(), ConfigErrorKind::BadPort { text: "65536" });
        assert_eq!(
            format!("{port_err:?}"),
            r#"ConfigErrorBuf { entry: Entry { index: 0, start: 0, end: 9 }, text: "n@h:65536", kind: BadPort { text: "65536" } }"#
        );
        let long = format!("n@{}:1", "h".repeat(254));
        assert_eq!(
            PeerTableBuf::parse(&long).unwrap_err().kind(),
            ConfigErrorKind::HostTooLong { len: 254 }
        );
    }

    #[test]
    fn owned_ownership_error_round_trips_every_variant() {
        let cases = [
            OwnershipError::DuplicatePrefix { prefix: b"a:" },
            OwnershipError::OverlappingPrefix {
                inner: b"a:b",
                outer: b"a:",
            },
            OwnershipError::CapacityExceeded { capacity: 3 },
            OwnershipError::InvalidNodeId {
                prefix: b"p\xff",
                id: "",
                reason: NodeIdError::Empty,
            },
            OwnershipError::FallbackIsWriter {
                prefix: b"p",
                node: "w",
            },
        ];
        for e in cases {
            let owned = e.into_owned();
            assert_eq!(owned.error(), e);
            assert_eq!(owned.to_string(), e.to_string());
            assert_eq!(owned, OwnershipErrorBuf::from(e));
            assert_eq!(format!("{owned:?}"), format!("OwnershipErrorBuf({e:?})"));
            let boxed: Box<dyn Error + Send + Sync> = Box::new(owned);
            assert_eq!(boxed.to_string(), e.to_string());
        }
    }

    #[test]
    fn large_owned_peer_list_finds_ids_and_duplicates() {
        let value: Vec<String> = (0..2_000)
            .map(|i| format!("node-{i}@10.0.{}.{}:6004", i / 256, i % 256))
            .collect();
        let mut value = value.join(",");
        let peers = PeerTableBuf::parse(&value).unwrap();
        assert_eq!(peers.len(), 2_000);
        for i in [0, 1, 255, 1_999] {
            let addr = peers.get(&format!("node-{i}")).unwrap().client_addr();
            assert_eq!(
                addr.to_string(),
                format!("10.0.{}.{}:6004", i / 256, i % 256)
            );
        }
        assert!(peers.get("node-2000").is_none());
        value.push_str(", node-1999@h:1");
        let err = PeerTableBuf::parse(&value).unwrap_err();
        assert_eq!(err.entry().index, 2_000);
        assert!(matches!(err.kind(), ConfigErrorKind::Duplicate { first } if first.index == 1_999));
    }
}
