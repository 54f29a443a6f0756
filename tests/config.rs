//! Config parsing: rendered tables parse back to themselves, and no input,
//! however malformed, makes a parser panic.

use kevy_scope::{
    ConfigErrorKind, MAX_HOST_LEN, MAX_REPLY_LEN, OwnershipTable, PeerTable, Scope, WriteVerdict,
    parse_scopes,
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
                let verdict = WriteVerdict::Misdirected { to: "B" };
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
