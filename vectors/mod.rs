//! Test vectors shared by the host suite (`tests/vectors.rs`) and the
//! Cortex-M suites under QEMU (`device/src/bin/suite.rs`): the same cases,
//! run by the same code, on both. No heap, no std.

use kevy_scope::{
    ConfigErrorKind, MigrationError, MigrationTable, Node, NodeIdError, OwnershipError,
    OwnershipTable, PeerTable, Routing, Scope, WriteVerdict, ownership_table, parse_scopes,
    transaction_scope,
};

/// The first check that failed: suite, case number, what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub struct Failure {
    pub suite: &'static str,
    pub case: usize,
    pub what: &'static str,
}

type Outcome = Result<usize, Failure>;
type Suite = (&'static str, fn() -> Outcome);

/// Counts checks and stops at the first failure.
struct Checks {
    suite: &'static str,
    passed: usize,
}

impl Checks {
    fn new(suite: &'static str) -> Self {
        Self { suite, passed: 0 }
    }
    fn check(&mut self, case: usize, ok: bool, what: &'static str) -> Result<(), Failure> {
        if ok {
            self.passed += 1;
            Ok(())
        } else {
            Err(Failure {
                suite: self.suite,
                case,
                what,
            })
        }
    }
}

/// Runs every suite; `on_suite` hears each suite's name and check count.
pub fn run_all(mut on_suite: impl FnMut(&'static str, usize)) -> Outcome {
    let suites: [Suite; 6] = [
        ("tables", tables),
        ("routing", routing),
        ("moves", moves),
        ("config", config),
        ("replies", replies),
        ("transactions", transactions),
    ];
    let mut total = 0;
    for (name, suite) in suites {
        let passed = suite()?;
        on_suite(name, passed);
        total += passed;
    }
    Ok(total)
}

/// A table's scopes as data: prefix, writer, fallback.
type Spec = (&'static [u8], &'static str, Option<&'static str>);

#[derive(Clone, Copy, PartialEq, Eq)]
enum TableExpect {
    Len(usize),
    Duplicate(&'static [u8]),
    Overlap {
        inner: &'static [u8],
        outer: &'static [u8],
    },
    Capacity,
    BadId(NodeIdError),
    FallbackIsWriter,
}

const LONG_ID: &str = "abcdefghijklmnopqrstuvwxyz0123456"; // 33 bytes

const TABLE_CASES: &[(&[Spec], TableExpect)] = &[
    (&[], TableExpect::Len(0)),
    (
        &[
            (b"app:billing:", "embed-billing-1", Some("server-eu-1")),
            (b"app:auth:", "embed-auth-1", None),
        ],
        TableExpect::Len(2),
    ),
    (&[(b"", "w", None)], TableExpect::Len(1)),
    (
        &[(b"\xff\x00bin:", "w", None), (b"\xff\x01", "w", None)],
        TableExpect::Len(2),
    ),
    (
        &[(b"a:", "w", None), (b"b:", "w", None), (b"a:", "v", None)],
        TableExpect::Duplicate(b"a:"),
    ),
    (
        &[
            (b"app:", "w", None),
            (b"zz", "w", None),
            (b"app:billing:", "v", None),
        ],
        TableExpect::Overlap {
            inner: b"app:billing:",
            outer: b"app:",
        },
    ),
    (
        &[(b"", "w", None), (b"k", "w", None)],
        TableExpect::Overlap {
            inner: b"k",
            outer: b"",
        },
    ),
    (
        &[
            (b"a", "w", None),
            (b"ab", "w", None),
            (b"x", "w", None),
            (b"x", "v", None),
        ],
        TableExpect::Duplicate(b"x"),
    ),
    (
        &[
            (b"1", "w", None),
            (b"2", "w", None),
            (b"3", "w", None),
            (b"4", "w", None),
            (b"5", "w", None),
        ],
        TableExpect::Capacity,
    ),
    (&[(b"a", "", None)], TableExpect::BadId(NodeIdError::Empty)),
    (
        &[(b"a", LONG_ID, None)],
        TableExpect::BadId(NodeIdError::TooLong { len: 33 }),
    ),
    (
        &[(b"a", "w", Some("f b"))],
        TableExpect::BadId(NodeIdError::InvalidByte { byte: b' ', at: 1 }),
    ),
    (
        &[(b"a", "w|x", None)],
        TableExpect::BadId(NodeIdError::InvalidByte { byte: b'|', at: 1 }),
    ),
    (&[(b"a", "w", Some("w"))], TableExpect::FallbackIsWriter),
];

fn tables() -> Outcome {
    let mut c = Checks::new("tables");
    for (case, (specs, expect)) in TABLE_CASES.iter().enumerate() {
        let scopes = specs.iter().map(|(p, w, f)| {
            let s = Scope::new(p, w);
            match f {
                Some(f) => s.with_fallback(f),
                None => s,
            }
        });
        let got = OwnershipTable::<4>::try_from_iter(scopes);
        let ok = match (*expect, &got) {
            (TableExpect::Len(n), Ok(t)) => t.len() == n,
            (TableExpect::Duplicate(p), Err(OwnershipError::DuplicatePrefix { prefix })) => {
                *prefix == p
            }
            (
                TableExpect::Overlap { inner, outer },
                Err(OwnershipError::OverlappingPrefix { inner: i, outer: o }),
            ) => *i == inner && *o == outer,
            (TableExpect::Capacity, Err(OwnershipError::CapacityExceeded { capacity: 4 })) => true,
            (TableExpect::BadId(r), Err(OwnershipError::InvalidNodeId { reason, .. })) => {
                *reason == r
            }
            (TableExpect::FallbackIsWriter, Err(OwnershipError::FallbackIsWriter { .. })) => true,
            _ => false,
        };
        c.check(case, ok, "table accepted or refused as expected")?;
        if let Ok(t) = got {
            let sorted = t.scopes().windows(2).all(|w| w[0].prefix() < w[1].prefix());
            c.check(case, sorted, "scopes kept sorted")?;
        }
    }
    Ok(c.passed)
}

/// Built at compile time: a bad entry here would fail the build.
static TABLE: OwnershipTable<'static, 4> = ownership_table![
    Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
    Scope::new(b"app:audit:", "embed-audit-1").with_fallback("server-eu-1"),
    Scope::new(b"\xffbin:", "server-eu-1"),
];

/// key, node, down node (if any), expected verdict.
const ROUTE_CASES: &[(&[u8], &str, Option<&str>, Routing<'static>)] = &[
    (
        b"app:billing:invoice:42",
        "embed-billing-1",
        None,
        Routing::Owned,
    ),
    (
        b"app:billing:invoice:42",
        "server-eu-1",
        None,
        Routing::Misdirected {
            target: "embed-billing-1",
        },
    ),
    (
        b"app:billing:invoice:42",
        "server-eu-1",
        Some("embed-billing-1"),
        Routing::Owned,
    ),
    (
        b"app:billing:invoice:42",
        "embed-auth-1",
        Some("embed-billing-1"),
        Routing::Misdirected {
            target: "server-eu-1",
        },
    ),
    (
        b"app:billing:",
        "x",
        None,
        Routing::Misdirected {
            target: "embed-billing-1",
        },
    ),
    (b"app:billing", "x", None, Routing::Unknown),
    (
        b"app:auth:u",
        "embed-auth-1",
        Some("embed-auth-1"),
        Routing::Owned,
    ),
    (
        b"app:auth:u",
        "x",
        Some("embed-auth-1"),
        Routing::Misdirected {
            target: "embed-auth-1",
        },
    ),
    (b"app:audit:1", "embed-audit-1", None, Routing::Owned),
    (b"app:", "x", None, Routing::Unknown),
    (b"", "x", None, Routing::Unknown),
    (b"\xffbin:\x00", "server-eu-1", None, Routing::Owned),
    (b"\xffbi", "server-eu-1", None, Routing::Unknown),
    (b"zzz", "x", None, Routing::Unknown),
];

fn routing() -> Outcome {
    let mut c = Checks::new("routing");
    c.check(0, TABLE.len() == 4, "static table holds four scopes")?;
    c.check(
        0,
        TABLE.scopes_without_fallback().count() == 2,
        "two scopes lack a fallback",
    )?;
    for (case, (key, node, down, want)) in ROUTE_CASES.iter().enumerate() {
        let is_down = |id: &str| Some(id) == *down;
        c.check(
            case,
            TABLE.route_with_fallback_state(key, node, is_down) == *want,
            "fallback-aware route",
        )?;
        if down.is_none() {
            c.check(case, TABLE.route(key, node) == *want, "plain route")?;
        }
    }
    Ok(c.passed)
}

type DeviceNode = Node<&'static OwnershipTable<'static, 4>, MigrationTable<4>>;

fn node(id: &str) -> DeviceNode {
    // Valid ids only: the vectors never build a node that can fail.
    match Node::new(id, &TABLE, MigrationTable::new()) {
        Ok(n) => n,
        Err(_) => {
            Node::new("invalid", &TABLE, MigrationTable::new()).unwrap_or_else(|_| unreachable!())
        }
    }
}

fn moves() -> Outcome {
    let mut c = Checks::new("moves");
    let up = |_: &str| false;
    let key: &[u8] = b"app:billing:invoice:42";
    let p: &[u8] = b"app:billing:";
    let mut a = node("embed-billing-1");
    let mut b = node("server-eu-2");
    let other = node("embed-auth-1");

    c.check(
        0,
        a.start_move(p, "server-eu-2").is_ok(),
        "owner starts a move",
    )?;
    c.check(
        1,
        a.verdict(key, up) == WriteVerdict::Quiesced { to: "server-eu-2" },
        "source quiesces",
    )?;
    c.check(
        2,
        a.start_move(p, "server-eu-2") == Err(MigrationError::AlreadyMigrating),
        "one move at a time",
    )?;
    c.check(
        3,
        b.begin_ingest(p, "embed-billing-1").is_ok(),
        "target opens its ingest window",
    )?;
    c.check(
        4,
        b.verdict(key, up).is_accept(),
        "target accepts while ingesting",
    )?;
    c.check(5, b.finish_ingest(p).is_ok(), "target adopts")?;
    c.check(6, a.commit_move(p).is_some(), "source commits")?;
    c.check(
        7,
        a.verdict(key, up) == WriteVerdict::Misdirected { to: "server-eu-2" },
        "source redirects to target",
    )?;
    c.check(8, b.verdict(key, up).is_accept(), "target accepts: no loop")?;
    c.check(
        9,
        other.verdict(key, up)
            == WriteVerdict::Misdirected {
                to: "embed-billing-1",
            },
        "others follow static config",
    )?;
    // Move back.
    c.check(
        10,
        b.start_move(p, "embed-billing-1").is_ok(),
        "adopter moves it back",
    )?;
    c.check(
        11,
        a.begin_ingest(p, "server-eu-2").is_ok(),
        "former owner ingests",
    )?;
    c.check(12, a.finish_ingest(p).is_ok(), "former owner adopts")?;
    c.check(13, b.commit_move(p).is_some(), "adopter commits")?;
    c.check(14, a.verdict(key, up).is_accept(), "back home: accepted")?;
    c.check(
        15,
        b.verdict(key, up)
            == WriteVerdict::Misdirected {
                to: "embed-billing-1",
            },
        "no circle",
    )?;
    c.check(
        16,
        a.moves().is_empty() && b.moves().is_empty(),
        "no records left",
    )?;
    // Refusals.
    let mut f = node("server-eu-1");
    c.check(
        17,
        f.start_move(p, "x") == Err(MigrationError::NotOwner),
        "a fallback cannot give away",
    )?;
    c.check(
        18,
        a.start_move(b"session:", "x") == Err(MigrationError::NotOwner),
        "unscoped belongs to nobody",
    )?;
    c.check(
        19,
        a.start_move(p, "embed-billing-1") == Err(MigrationError::SameNode),
        "no move to self",
    )?;
    let long = [b'x'; 49];
    let mut wide = node("embed-billing-1");
    c.check(
        20,
        wide.begin_ingest(&long, "y") == Err(MigrationError::PrefixTooLong { len: 49, max: 48 }),
        "long prefix refused",
    )?;
    // Abort leaves no trace.
    c.check(
        21,
        a.start_move(b"app:billing:eu:", "server-eu-2").is_ok(),
        "sub-prefix move",
    )?;
    c.check(
        22,
        a.verdict(b"app:billing:us:1", up).is_accept(),
        "rest of scope still accepted",
    )?;
    c.check(23, a.abort_move(b"app:billing:eu:").is_some(), "abort")?;
    c.check(
        24,
        a.verdict(b"app:billing:eu:1", up).is_accept() && a.moves().is_empty(),
        "abort leaves no trace",
    )?;
    Ok(c.passed)
}

/// Expected table length, or error kind with entry index.
type ConfigExpect = Result<usize, (ConfigErrorKind<'static>, usize)>;

const SCOPE_CONFIGS: &[(&str, ConfigExpect)] = &[
    (
        "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1",
        Ok(2),
    ),
    (" a:=w , , b:=w|f ,", Ok(2)),
    ("", Ok(0)),
    ("a:=w, app", Err((ConfigErrorKind::MissingEquals, 1))),
    ("=w", Err((ConfigErrorKind::EmptyPrefix, 0))),
    ("a:=", Err((ConfigErrorKind::EmptyWriter, 0))),
    ("a:=|f", Err((ConfigErrorKind::EmptyWriter, 0))),
    ("a:=w|", Err((ConfigErrorKind::EmptyFallback, 0))),
    ("a:=w|w", Err((ConfigErrorKind::FallbackIsWriter, 0))),
    (
        "a=1, b=2, c=3, d=4, e=5",
        Err((ConfigErrorKind::TooManyEntries { capacity: 4 }, 4)),
    ),
];

fn config() -> Outcome {
    let mut c = Checks::new("config");
    for (case, (input, want)) in SCOPE_CONFIGS.iter().enumerate() {
        let ok = match (parse_scopes::<4>(input), want) {
            (Ok(t), Ok(n)) => t.len() == *n,
            (Err(e), Err((kind, index))) => e.kind == *kind && e.entry.index == *index,
            _ => false,
        };
        c.check(case, ok, "scopes value parsed as expected")?;
    }
    let dup = parse_scopes::<4>("a:=w, b:=w, a:=v");
    let ok = matches!(dup, Err(e) if e.entry.index == 2 && matches!(e.kind, ConfigErrorKind::Duplicate { first } if first.index == 0));
    c.check(100, ok, "duplicate points at both entries")?;
    let overlap = parse_scopes::<4>("app:=w, app:x:=v");
    let ok = matches!(overlap, Err(e) if e.entry.index == 1 && matches!(e.kind, ConfigErrorKind::Overlapping { outer } if outer.index == 0));
    c.check(101, ok, "overlap points at both entries")?;
    let peers =
        PeerTable::<4>::parse("embed-billing-1@10.0.0.1:6004:6379, server-eu-1@[fd00::2]:6004");
    let ok = matches!(&peers, Ok(p) if p.len() == 2
        && p.get("embed-billing-1").map(|p| p.client_addr().port()) == Some(6379)
        && p.get("server-eu-1").map(|p| p.client_addr().port()) == Some(6004));
    c.check(102, ok, "peers parsed, client port preferred")?;
    let bad: [(&str, ConfigErrorKind<'static>); 5] = [
        ("n 10.0.0.1:1", ConfigErrorKind::MissingAt),
        ("n@h", ConfigErrorKind::MissingPort),
        ("n@h:70000", ConfigErrorKind::BadPort { text: "70000" }),
        ("n@::1:1", ConfigErrorKind::UnbracketedIpv6),
        (
            "n@h:1, n@h:2",
            ConfigErrorKind::Duplicate {
                first: kevy_scope::Entry {
                    index: 0,
                    start: 0,
                    end: 5,
                },
            },
        ),
    ];
    for (case, (input, kind)) in bad.iter().enumerate() {
        let ok = matches!(PeerTable::<4>::parse(input), Err(e) if e.kind == *kind);
        c.check(200 + case, ok, "bad peer refused with its reason")?;
    }
    Ok(c.passed)
}

fn replies() -> Outcome {
    let mut c = Checks::new("replies");
    let peers = match PeerTable::<2>::parse("B@10.0.0.2:6004:6379, C@[fd00::3]:6004") {
        Ok(p) => p,
        Err(_) => {
            return Err(Failure {
                suite: "replies",
                case: 0,
                what: "peer list parses",
            });
        }
    };
    let cases: [(WriteVerdict<'static>, &[u8]); 4] = [
        (
            WriteVerdict::Misdirected { to: "B" },
            b"-MISDIRECTED writer is 10.0.0.2:6379\r\n",
        ),
        (
            WriteVerdict::Quiesced { to: "C" },
            b"-QUIESCED migrating to [fd00::3]:6004\r\n",
        ),
        (
            WriteVerdict::Misdirected { to: "unknown-7" },
            b"-MISDIRECTED writer is unknown-7\r\n",
        ),
        (WriteVerdict::Accept, b""),
    ];
    for (case, (verdict, want)) in cases.iter().enumerate() {
        let mut buf = [0u8; kevy_scope::MAX_REPLY_LEN];
        let got = verdict.encode_reply(&peers, &mut buf);
        c.check(case, got.as_deref() == Ok(*want), "reply bytes")?;
        if !want.is_empty() {
            let mut short = [0u8; kevy_scope::MAX_REPLY_LEN];
            let refused = verdict
                .encode_reply(&peers, &mut short[..want.len() - 1])
                .is_err();
            c.check(case, refused, "a short buffer is refused, not truncated")?;
        }
    }
    Ok(c.passed)
}

fn transactions() -> Outcome {
    let mut c = Checks::new("transactions");
    let one: [&[u8]; 3] = [b"app:auth:1", b"free", b"app:auth:2"];
    let ok = matches!(transaction_scope(&TABLE, one), Ok(Some(s)) if s.writer() == "embed-auth-1");
    c.check(0, ok, "one scope plus unscoped keys")?;
    let two: [&[u8]; 2] = [b"app:auth:1", b"app:billing:1"];
    let ok = matches!(transaction_scope(&TABLE, two), Err(e) if e.first == b"app:auth:" && e.second == b"app:billing:");
    c.check(1, ok, "two scopes refused, both named")?;
    Ok(c.passed)
}
