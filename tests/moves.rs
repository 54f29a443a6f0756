//! MOVE-SCOPE on nodes: the holes the reference leaves, closed.

use kevy_scope::{
    MigrationError, MigrationTable, Node, OwnershipTable, Scope, WriteVerdict, ownership_table,
};

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "A").with_fallback("F"),
    Scope::new(b"app:auth:", "C"),
];

type Device = Node<&'static OwnershipTable<'static, 2>, MigrationTable<4>>;

fn node(id: &str) -> Device {
    Node::new(id, &TABLE, MigrationTable::new()).unwrap()
}

const UP: fn(&str) -> bool = |_| false;

/// Runs a whole move of `prefix` from `a` to `b`.
fn move_prefix(a: &mut Device, b: &mut Device, prefix: &[u8]) {
    a.start_move(prefix, b.id()).unwrap();
    b.begin_ingest(prefix, a.id()).unwrap();
    b.finish_ingest(prefix).unwrap();
    a.commit_move(prefix).unwrap();
}

fn accepts(n: &Device, key: &[u8]) -> bool {
    n.verdict(key, UP).is_accept()
}

#[test]
fn move_leaves_no_redirect_loop() {
    let (mut a, mut b, c) = (node("A"), node("B"), node("C"));
    let key = b"app:billing:invoice:1";
    move_prefix(&mut a, &mut b, b"app:billing:");
    assert_eq!(a.verdict(key, UP), WriteVerdict::Misdirected { to: "B" });
    assert!(accepts(&b, key));
    // A node with only static config reaches B through A in two hops.
    assert_eq!(c.verdict(key, UP), WriteVerdict::Misdirected { to: "A" });
}

#[test]
fn move_back_leaves_no_loop_and_no_records() {
    let (mut a, mut b) = (node("A"), node("B"));
    let key = b"app:billing:invoice:1";
    move_prefix(&mut a, &mut b, b"app:billing:");
    move_prefix(&mut b, &mut a, b"app:billing:");
    assert!(accepts(&a, key));
    assert_eq!(b.verdict(key, UP), WriteVerdict::Misdirected { to: "A" });
    // Both nodes are back to what the static table says: nothing kept.
    assert!(a.moves().is_empty(), "{:?}", a.moves());
    assert!(b.moves().is_empty(), "{:?}", b.moves());
    // And it can move again.
    move_prefix(&mut a, &mut b, b"app:billing:");
    assert!(accepts(&b, key));
}

#[test]
fn quiesced_only_while_in_flight() {
    let (mut a, mut b) = (node("A"), node("B"));
    let key = b"app:billing:x";
    a.start_move(b"app:billing:", "B").unwrap();
    assert_eq!(a.verdict(key, UP), WriteVerdict::Quiesced { to: "B" });
    assert_eq!(
        a.start_move(b"app:billing:", "B"),
        Err(MigrationError::AlreadyMigrating)
    );
    assert_eq!(
        a.start_move(b"app:billing:sub:", "B"),
        Err(MigrationError::OverlapsMoveInFlight)
    );
    b.begin_ingest(b"app:billing:", "A").unwrap();
    b.abort_ingest(b"app:billing:").unwrap();
    a.abort_move(b"app:billing:").unwrap();
    assert!(accepts(&a, key));
    assert_eq!(b.verdict(key, UP), WriteVerdict::Misdirected { to: "A" });
    assert!(a.moves().is_empty() && b.moves().is_empty());
}

#[test]
fn sub_prefix_moves_by_longest_match() {
    let (mut a, mut b) = (node("A"), node("B"));
    move_prefix(&mut a, &mut b, b"app:billing:eu:");
    assert!(accepts(&b, b"app:billing:eu:1"));
    assert_eq!(
        b.verdict(b"app:billing:us:1", UP),
        WriteVerdict::Misdirected { to: "A" }
    );
    assert!(accepts(&a, b"app:billing:us:1"));
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { to: "B" }
    );
    // A gave part of app:billing: away, so it cannot move the whole scope.
    assert_eq!(
        a.start_move(b"app:billing:", "C"),
        Err(MigrationError::NotOwner)
    );
}

#[test]
fn adopted_prefix_moves_onward() {
    let (mut a, mut b, mut d) = (node("A"), node("B"), node("D"));
    let key = b"app:billing:1";
    move_prefix(&mut a, &mut b, b"app:billing:");
    move_prefix(&mut b, &mut d, b"app:billing:");
    assert!(accepts(&d, key));
    assert_eq!(b.verdict(key, UP), WriteVerdict::Misdirected { to: "D" });
    assert_eq!(a.verdict(key, UP), WriteVerdict::Misdirected { to: "B" });
    // B no longer owns it; its adoption went with the move.
    assert_eq!(
        b.start_move(b"app:billing:", "A"),
        Err(MigrationError::AlreadyMigrated)
    );
}

#[test]
fn ingest_accepts_despite_stale_record_inside() {
    // A gave app:billing:eu: to B, B gave it to C, C gives it back to A;
    // meanwhile A moves all of app:billing: to D... only after it owns it.
    let (mut a, mut b, mut c) = (node("A"), node("B"), node("C"));
    move_prefix(&mut a, &mut b, b"app:billing:eu:");
    move_prefix(&mut b, &mut c, b"app:billing:eu:");
    move_prefix(&mut c, &mut a, b"app:billing:eu:");
    assert!(accepts(&a, b"app:billing:eu:1"));
    a.start_move(b"app:billing:", "B").unwrap();
    // B still holds "app:billing:eu: -> C" from before; the ingest wins.
    b.begin_ingest(b"app:billing:", "A").unwrap();
    assert!(accepts(&b, b"app:billing:eu:1"));
    b.finish_ingest(b"app:billing:").unwrap();
    a.commit_move(b"app:billing:").unwrap();
    assert!(accepts(&b, b"app:billing:eu:1"));
    assert_eq!(
        c.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { to: "A" }
    );
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { to: "B" }
    );
}

#[test]
fn only_an_owner_gives_away() {
    let (mut b, mut f) = (node("B"), node("F"));
    assert_eq!(
        b.start_move(b"app:billing:", "C"),
        Err(MigrationError::NotOwner)
    );
    // Unscoped keys belong to nobody.
    let mut a = node("A");
    assert_eq!(
        a.start_move(b"session:", "B"),
        Err(MigrationError::NotOwner)
    );
    // A prefix wider than a scope is not wholly owned either.
    assert_eq!(a.start_move(b"app:", "B"), Err(MigrationError::NotOwner));
    // A fallback standing in for a down writer owns nothing to give away.
    assert!(f.verdict(b"app:billing:1", |id| id == "A").is_accept());
    assert_eq!(
        f.start_move(b"app:billing:", "B"),
        Err(MigrationError::NotOwner)
    );
    assert_eq!(
        a.begin_ingest(b"app:billing:", "B"),
        Err(MigrationError::AlreadyOwner)
    );
    assert_eq!(
        a.start_move(b"app:billing:", "bad id"),
        Err(MigrationError::InvalidNodeId(
            kevy_scope::NodeIdError::InvalidByte { byte: b' ', at: 3 }
        ))
    );
}

#[test]
fn an_adoption_is_not_replaced_by_a_second_ingest() {
    // B adopts app:, gives app:billing: to A, then is asked to ingest app:
    // again: refused, and B keeps what it owns.
    let mut b: Node<_, MigrationTable<4>> = Node::new("B", &TABLE, MigrationTable::new()).unwrap();
    b.begin_ingest(b"app:", "A").unwrap();
    b.finish_ingest(b"app:").unwrap();
    b.start_move(b"app:billing:", "A").unwrap();
    b.commit_move(b"app:billing:").unwrap();
    assert_eq!(
        b.begin_ingest(b"app:", "A"),
        Err(MigrationError::AlreadyOwner)
    );
    assert!(accepts(&b, b"app:auth:1"));
    assert_eq!(
        b.verdict(b"app:billing:1", UP),
        WriteVerdict::Misdirected { to: "A" }
    );
    assert_eq!(b.finish_ingest(b"app:"), Err(MigrationError::NotIngesting));
}

#[test]
fn full_record_table_is_an_error_and_keeps_state() {
    let mut a: Node<_, MigrationTable<1>> = Node::new("A", &TABLE, MigrationTable::new()).unwrap();
    a.start_move(b"app:billing:eu:", "B").unwrap();
    assert_eq!(
        a.start_move(b"app:billing:us:", "B"),
        Err(MigrationError::Full { capacity: 1 })
    );
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Quiesced { to: "B" }
    );
    assert!(a.verdict(b"app:billing:us:1", UP).is_accept());
}

#[cfg(feature = "alloc")]
#[test]
fn unbounded_records_give_the_same_verdicts() {
    use kevy_scope::MigrationTableBuf;
    let mut a = Node::new("A", &TABLE, MigrationTableBuf::new()).unwrap();
    let mut b = Node::new("B", &TABLE, MigrationTableBuf::new()).unwrap();
    let long: Vec<u8> = [&b"app:billing:"[..], &[b'x'; 100]].concat();
    a.start_move(&long, "B").unwrap();
    b.begin_ingest(&long, "A").unwrap();
    b.finish_ingest(&long).unwrap();
    a.commit_move(&long).unwrap();
    let key = [long.as_slice(), b"1"].concat();
    assert_eq!(a.verdict(&key, UP), WriteVerdict::Misdirected { to: "B" });
    assert!(b.verdict(&key, UP).is_accept());
}

#[cfg(feature = "alloc")]
mod same_as_fixed {
    use super::*;
    use kevy_scope::MigrationTableBuf;
    use proptest::prelude::*;

    const PREFIXES: [&[u8]; 6] = [
        b"app:billing:",
        b"app:billing:eu:",
        b"app:billing:eu:x:",
        b"app:auth:",
        b"app:",
        b"s:",
    ];
    const IDS: [&str; 4] = ["A", "B", "C", "F"];
    const KEYS: [&[u8]; 6] = [
        b"app:billing:1",
        b"app:billing:eu:1",
        b"app:billing:eu:x:1",
        b"app:auth:1",
        b"app:z",
        b"s:1",
    ];

    fn apply<R: kevy_scope::MoveRecords>(
        node: &mut Node<&'static OwnershipTable<'static, 2>, R>,
        op: u8,
        prefix: &[u8],
        peer: &str,
    ) -> String {
        match op % 6 {
            0 => format!("{:?}", node.start_move(prefix, peer)),
            1 => format!("{:?}", node.commit_move(prefix)),
            2 => format!("{:?}", node.abort_move(prefix)),
            3 => format!("{:?}", node.begin_ingest(prefix, peer)),
            4 => format!("{:?}", node.finish_ingest(prefix)),
            _ => format!("{:?}", node.abort_ingest(prefix)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// The unbounded records answer every command and verdict exactly
        /// as the fixed-capacity ones (sized so they never fill).
        #[test]
        fn unbounded_records_match_fixed(ops in prop::collection::vec((0u8..6, 0usize..6, 0usize..4), 0..40), me in 0usize..4) {
            let mut fixed: Node<_, MigrationTable<64>> = Node::new(IDS[me], &TABLE, MigrationTable::new()).unwrap();
            let mut owned = Node::new(IDS[me], &TABLE, MigrationTableBuf::new()).unwrap();
            for (op, p, peer) in ops {
                let a = apply(&mut fixed, op, PREFIXES[p], IDS[peer]);
                let b = apply(&mut owned, op, PREFIXES[p], IDS[peer]);
                prop_assert_eq!(a, b);
                for key in KEYS {
                    prop_assert_eq!(fixed.verdict(key, UP), owned.verdict(key, UP));
                }
            }
        }
    }
}
