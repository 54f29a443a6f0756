//! Test vectors shared by the host suite (`tests/vectors.rs`) and the
//! Cortex-M and RISC-V suites under QEMU (`device/src/bin/suite.rs`): the
//! same cases, run by the same code, on all of them. No heap, no std.

use kevy_scope::{
    Epoch, MoveTable, Node, OwnershipTable, Routing, Scope, WriteVerdict,
    config::{ConfigErrorKind, PeerTable, parse_scopes},
    moves::{
        Announcement, ImageError, Ingest, MoveError, MoveId, MoveStatus, Outcome as MoveOutcome,
    },
    ownership_table,
    table::{NodeIdError, OwnershipError, transaction_scope},
};

/// The first check that failed: suite, case number, what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    let suites: [Suite; 7] = [
        ("tables", tables),
        ("routing", routing),
        ("moves", moves),
        ("images", images),
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

type DeviceNode = Node<&'static OwnershipTable<'static, 4>, MoveTable<4>>;

fn node(id: &str) -> DeviceNode {
    // Valid ids only: the vectors never build a node that can fail.
    match Node::new(id, &TABLE, MoveTable::new()) {
        Ok(n) => n,
        Err(_) => Node::new("invalid", &TABLE, MoveTable::new()).unwrap_or_else(|_| unreachable!()),
    }
}

/// The id of a move out of `from`, at the epoch `start_move` chose.
fn started<'a>(
    n: &mut DeviceNode,
    prefix: &'a [u8],
    from: &'a str,
    to: &'a str,
) -> Option<MoveId<'a>> {
    let epoch = n.start_move(prefix, to).ok()?.into_inner().epoch;
    Some(MoveId {
        prefix,
        from,
        to,
        epoch,
    })
}

fn moves() -> Outcome {
    let mut c = Checks::new("moves");
    let up = |_: &str| false;
    let key: &[u8] = b"app:billing:invoice:42";
    let p: &[u8] = b"app:billing:";
    let (a_id, b_id) = ("embed-billing-1", "server-eu-2");
    let mut a = node(a_id);
    let mut b = node(b_id);
    let mut other = node("embed-auth-1");

    let there = started(&mut a, p, a_id, b_id);
    c.check(0, there.is_some(), "owner starts a move")?;
    let Some(there) = there else {
        return Ok(c.passed);
    };
    c.check(
        1,
        a.verdict(key, up) == WriteVerdict::Quiesced { target: b_id },
        "source quiesces",
    )?;
    c.check(
        2,
        a.start_move(p, b_id).err() == Some(MoveError::AlreadyMoving),
        "one move at a time",
    )?;
    c.check(
        3,
        b.check_ingest(&there) == Ok(Ingest::Apply),
        "target checks the ingest",
    )?;
    c.check(
        4,
        b.verdict(key, up) == WriteVerdict::Misdirected { target: a_id },
        "no client write before adoption",
    )?;
    c.check(
        5,
        b.adopt(&there).is_ok_and(|d| d.must_persist()),
        "target adopts",
    )?;
    c.check(
        6,
        a.commit_move(p, there.epoch)
            .is_ok_and(|d| d.must_persist()),
        "source commits",
    )?;
    c.check(
        7,
        a.verdict(key, up) == WriteVerdict::Misdirected { target: b_id },
        "source redirects to target",
    )?;
    c.check(8, b.verdict(key, up).is_accept(), "target accepts: no loop")?;
    c.check(
        9,
        other.verdict(key, up) == WriteVerdict::Misdirected { target: a_id },
        "others follow static config until told",
    )?;
    let news = Announcement {
        id: there,
        status: MoveStatus::Committed,
    };
    c.check(
        10,
        other.learn(&news, there.epoch).is_ok(),
        "a bystander learns the move",
    )?;
    c.check(
        11,
        other.verdict(key, up) == WriteVerdict::Misdirected { target: b_id },
        "one hop after the announcement",
    )?;
    // Move back.
    let back = started(&mut b, p, b_id, a_id);
    c.check(12, back.is_some(), "adopter moves it back")?;
    let Some(back) = back else {
        return Ok(c.passed);
    };
    c.check(
        13,
        a.adopt(&back).is_ok() && b.commit_move(p, back.epoch).is_ok(),
        "former owner adopts, adopter commits",
    )?;
    c.check(14, a.verdict(key, up).is_accept(), "back home: accepted")?;
    c.check(
        15,
        b.verdict(key, up) == WriteVerdict::Misdirected { target: a_id },
        "no circle",
    )?;
    c.check(
        16,
        b.check_ingest(&there).is_err() && a.adopt(&there).is_err(),
        "replayed ingests refused",
    )?;
    // Refusals.
    let mut f = node("server-eu-1");
    c.check(
        17,
        f.start_move(p, "x").err() == Some(MoveError::NotOwner),
        "a fallback cannot give away",
    )?;
    c.check(
        18,
        a.start_move(b"session:", "x").err() == Some(MoveError::NotOwner),
        "unscoped belongs to nobody",
    )?;
    c.check(
        19,
        a.start_move(p, a_id).err() == Some(MoveError::SameNode),
        "no move to self",
    )?;
    let long = [b'x'; 49];
    let mut wide = node(a_id);
    c.check(
        20,
        wide.start_move(&long, "y").err() == Some(MoveError::NotOwner)
            && wide
                .learn(
                    &Announcement {
                        id: MoveId {
                            prefix: &long,
                            from: "x",
                            to: "y",
                            epoch: Epoch::new(1),
                        },
                        status: MoveStatus::Committed,
                    },
                    Epoch::new(1),
                )
                .err()
                == Some(MoveError::PrefixTooLong { len: 49, max: 48 }),
        "long prefix refused",
    )?;
    // A lost ingest: the target fences the epoch, the source resumes.
    let eu: &[u8] = b"app:billing:eu:";
    let lost = started(&mut a, eu, a_id, b_id);
    c.check(21, lost.is_some(), "sub-prefix move")?;
    let Some(lost) = lost else {
        return Ok(c.passed);
    };
    c.check(
        22,
        a.verdict(b"app:billing:us:1", up).is_accept(),
        "rest of scope still accepted",
    )?;
    let outcome = b.move_outcome(&lost).map(|d| d.into_inner());
    c.check(
        23,
        matches!(outcome, Ok(MoveOutcome::Aborted { .. })),
        "target fences the lost move",
    )?;
    let resolved = match outcome {
        Ok(o) => a.resolve_move(eu, lost.epoch, o).is_ok(),
        Err(_) => false,
    };
    c.check(
        24,
        resolved && a.verdict(b"app:billing:eu:1", up).is_accept(),
        "source resumes on the target's answer",
    )?;
    c.check(
        25,
        matches!(b.check_ingest(&lost), Err(MoveError::Stale { .. })),
        "the late ingest is refused",
    )?;
    Ok(c.passed)
}

/// A node's image written and read back, and damaged images refused.
fn images() -> Outcome {
    let mut c = Checks::new("images");
    let up = |_: &str| false;
    let p: &[u8] = b"app:billing:";
    let key: &[u8] = b"app:billing:1";
    let (a_id, b_id) = ("embed-billing-1", "server-eu-2");
    let mut a = node(a_id);
    let mut b = node(b_id);
    let id = started(&mut a, p, a_id, b_id);
    let Some(id) = id else {
        return Err(Failure {
            suite: "images",
            case: 0,
            what: "a move starts",
        });
    };
    let adopted = b.adopt(&id).is_ok();
    c.check(0, adopted, "target adopts")?;
    let mut buf = [0u8; 256];
    let len = a.encode_image(&mut buf).unwrap_or(0);
    c.check(1, len > 0 && len == a.image_len(), "image encodes")?;
    let image = buf.get(..len).unwrap_or(&[]);
    let mut again = node(a_id);
    c.check(
        2,
        again.restore(image).is_ok()
            && again.verdict(key, up) == WriteVerdict::Quiesced { target: b_id },
        "a rebooted source stays quiesced",
    )?;
    c.check(
        3,
        again
            .in_flight()
            .any(|m| m.epoch == id.epoch && m.prefix == p),
        "and knows what to resolve",
    )?;
    let mut b_buf = [0u8; 256];
    let b_len = b.encode_image(&mut b_buf).unwrap_or(0);
    let mut b_again = node(b_id);
    c.check(
        4,
        b_again.restore(b_buf.get(..b_len).unwrap_or(&[])).is_ok()
            && b_again.verdict(key, up).is_accept(),
        "a rebooted target still accepts",
    )?;
    let mut damaged = buf;
    if let Some(byte) = damaged.get_mut(len / 2) {
        *byte ^= 0x10;
    }
    let mut hurt = node(a_id);
    c.check(
        5,
        hurt.restore(damaged.get(..len).unwrap_or(&[])) == Err(ImageError::ChecksumMismatch),
        "a flipped bit is found",
    )?;
    c.check(
        6,
        hurt.verdict(key, up) == WriteVerdict::Unavailable && hurt.verdict(b"free", up).is_accept(),
        "a damaged image quarantines",
    )?;
    c.check(
        7,
        hurt.restore(image.get(..len.saturating_sub(1)).unwrap_or(&[]))
            .is_err(),
        "a truncated image is refused",
    )?;
    let mut foreign = node(b_id);
    c.check(
        8,
        foreign.restore(image) == Err(ImageError::ForeignNode),
        "another node's image is refused",
    )?;
    c.check(
        9,
        a.encode_image(&mut [0u8; 8]).is_err(),
        "a short buffer is an error",
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
                first: kevy_scope::config::Entry {
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
            WriteVerdict::Misdirected { target: "B" },
            b"-MISDIRECTED writer is 10.0.0.2:6379\r\n",
        ),
        (
            WriteVerdict::Quiesced { target: "C" },
            b"-QUIESCED migrating to [fd00::3]:6004\r\n",
        ),
        (
            WriteVerdict::Misdirected {
                target: "unknown-7",
            },
            b"-MISDIRECTED writer is unknown-7\r\n",
        ),
        (WriteVerdict::Accept, b""),
    ];
    for (case, (verdict, want)) in cases.iter().enumerate() {
        let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
        let got = verdict.encode_reply(&peers, &mut buf);
        c.check(case, got.as_deref() == Ok(*want), "reply bytes")?;
        if !want.is_empty() {
            let mut short = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
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
