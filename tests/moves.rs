//! MOVE-SCOPE on nodes: the holes the reference leaves closed, and every
//! fault the issue names (reboots, lost replies, stray commands, a
//! fallback standing in, bystanders) replayed as a specification.

use kevy_scope::{
    Epoch, MoveTable, Node, OwnershipTable, Scope, WriteVerdict,
    moves::{Announcement, ImageError, Ingest, MoveError, MoveId, MoveStatus},
    ownership_table,
};

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "A").with_fallback("F"),
    Scope::new(b"app:auth:", "C"),
];

type Device = Node<&'static OwnershipTable<'static, 2>, MoveTable<4>>;

fn node(id: &str) -> Device {
    Node::new(id, &TABLE, MoveTable::new()).unwrap()
}

const UP: fn(&str) -> bool = |_| false;
const BILLING: &[u8] = b"app:billing:";
const KEY: &[u8] = b"app:billing:invoice:1";

/// Starts a move and returns its id (the prepare step is the caller's).
fn start<'a>(a: &mut Device, prefix: &'a [u8], to: &'a str) -> MoveId<'a> {
    let epoch = a.start_move(prefix, to).unwrap().into_inner().epoch;
    MoveId {
        prefix,
        from: leak(a.id()),
        to,
        epoch,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// The target's side of a shipped ingest: check, (apply), adopt.
fn ingest(b: &mut Device, id: &MoveId<'_>) {
    assert_eq!(b.check_ingest(id), Ok(Ingest::Apply));
    assert!(b.adopt(id).unwrap().must_persist());
}

/// Runs a whole move of `prefix` from `a` to `b`, returning its id.
fn move_prefix<'a>(a: &mut Device, b: &mut Device, prefix: &'a [u8]) -> MoveId<'a> {
    let id = start(a, prefix, leak(b.id()));
    ingest(b, &id);
    assert!(a.commit_move(prefix, id.epoch).unwrap().must_persist());
    id
}

/// Tells `nodes` that move `id` committed, as its source would.
fn tell(nodes: &mut [&mut Device], id: MoveId<'_>) {
    for n in nodes {
        let learned = n.learn(
            &Announcement {
                id,
                status: MoveStatus::Committed,
            },
            id.epoch,
        );
        assert!(learned.unwrap().must_persist());
    }
}

fn announce(n: &mut Device, id: MoveId<'_>, status: MoveStatus) -> Result<bool, MoveError> {
    n.learn(&Announcement { id, status }, id.epoch)
        .map(|d| d.must_persist())
}

fn accepts(n: &Device, key: &[u8]) -> bool {
    n.verdict(key, UP).is_accept()
}

/// A power cycle: a fresh node from the static table, then its image.
fn reboot(n: &Device) -> Device {
    let mut buf = [0u8; 1024];
    let len = n.encode_image(&mut buf).unwrap();
    let mut again = node(n.id());
    again.restore(&buf[..len]).unwrap();
    again
}

#[test]
fn move_leaves_no_redirect_loop() {
    let (mut a, mut b, c) = (node("A"), node("B"), node("C"));
    move_prefix(&mut a, &mut b, BILLING);
    assert_eq!(
        a.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert!(accepts(&b, KEY));
    // A node that has not learned the move reaches B through A.
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
}

#[test]
fn a_bystander_that_learned_the_move_points_straight_at_the_owner() {
    let (mut a, mut b, mut c) = (node("A"), node("B"), node("C"));
    let id = move_prefix(&mut a, &mut b, BILLING);
    assert_eq!(announce(&mut c, id, MoveStatus::Committed), Ok(true));
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    // Learning is idempotent and survives a restart.
    assert_eq!(announce(&mut c, id, MoveStatus::Committed), Ok(false));
    let c = reboot(&c);
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
}

#[test]
fn move_back_leaves_no_loop() {
    let (mut a, mut b) = (node("A"), node("B"));
    let there = move_prefix(&mut a, &mut b, BILLING);
    let back = move_prefix(&mut b, &mut a, BILLING);
    assert!(back.epoch > there.epoch);
    assert!(accepts(&a, KEY));
    assert_eq!(
        b.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    // And it can move again.
    move_prefix(&mut a, &mut b, BILLING);
    assert!(accepts(&b, KEY));
    assert!(!accepts(&a, KEY));
}

#[test]
fn quiesced_only_while_in_flight() {
    let (mut a, mut b) = (node("A"), node("B"));
    let key = b"app:billing:x";
    let id = start(&mut a, BILLING, "B");
    assert_eq!(a.verdict(key, UP), WriteVerdict::Quiesced { target: "B" });
    assert_eq!(
        a.start_move(BILLING, "B").unwrap_err(),
        MoveError::AlreadyMoving
    );
    assert_eq!(
        a.start_move(b"app:billing:sub:", "B").unwrap_err(),
        MoveError::OverlapsMoveInFlight
    );
    // The ingest never arrived: B fences the epoch, A resumes.
    let outcome = b.move_outcome(&id).unwrap().into_inner();
    assert!(!outcome.is_committed());
    assert!(
        a.resolve_move(BILLING, id.epoch, outcome)
            .unwrap()
            .must_persist()
    );
    assert!(accepts(&a, key));
    assert_eq!(
        b.verdict(key, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    assert_eq!(a.in_flight().count(), 0);
}

#[test]
fn the_target_accepts_no_client_write_before_it_adopts() {
    // Seeds 47606 and 32142 of the old simulation: a client write landed
    // in the target's ingest window, then the move was aborted and the
    // write was gone. Now the window takes no client write.
    let (mut a, b) = (node("A"), node("B"));
    let id = start(&mut a, BILLING, "B");
    assert_eq!(b.check_ingest(&id), Ok(Ingest::Apply));
    assert_eq!(
        b.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    assert_eq!(a.verdict(KEY, UP), WriteVerdict::Quiesced { target: "B" });
}

#[test]
fn a_committed_source_reboots_and_still_redirects() {
    let (mut a, mut b) = (node("A"), node("B"));
    move_prefix(&mut a, &mut b, BILLING);
    let a = reboot(&a);
    assert_eq!(
        a.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert!(accepts(&b, KEY));
}

#[test]
fn a_target_reboots_and_still_accepts() {
    let (mut a, mut b) = (node("A"), node("B"));
    move_prefix(&mut a, &mut b, BILLING);
    let b = reboot(&b);
    assert!(accepts(&b, KEY));
    assert!(!accepts(&a, KEY));
}

#[test]
fn a_source_rebooted_mid_move_stays_quiesced_and_resolves() {
    let (mut a, mut b) = (node("A"), node("B"));
    let id = start(&mut a, BILLING, "B");
    ingest(&mut b, &id);
    let mut a = reboot(&a);
    assert_eq!(a.verdict(KEY, UP), WriteVerdict::Quiesced { target: "B" });
    let open: Vec<_> = a
        .in_flight()
        .map(|m| (m.prefix.to_vec(), m.epoch))
        .collect();
    assert_eq!(open, [(BILLING.to_vec(), id.epoch)]);
    let outcome = b.move_outcome(&id).unwrap().into_inner();
    assert!(outcome.is_committed());
    let _ = a.resolve_move(BILLING, id.epoch, outcome).unwrap();
    assert_eq!(
        a.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
}

#[test]
fn a_lost_ok_cannot_lead_to_two_acceptors() {
    // B adopted, its +OK was lost. A has no way to abort on its own: the
    // target's answer decides.
    let (mut a, mut b) = (node("A"), node("B"));
    let id = start(&mut a, BILLING, "B");
    ingest(&mut b, &id);
    let outcome = b.move_outcome(&id).unwrap();
    assert!(
        !outcome.must_persist(),
        "answering for an adoption changes nothing"
    );
    let _ = a
        .resolve_move(BILLING, id.epoch, outcome.into_inner())
        .unwrap();
    assert!(accepts(&b, KEY) && !accepts(&a, KEY));
}

#[test]
fn a_late_ingest_after_the_fence_is_refused() {
    let (mut a, mut b) = (node("A"), node("B"));
    let id = start(&mut a, BILLING, "B");
    let outcome = b.move_outcome(&id).unwrap();
    assert!(outcome.must_persist());
    let outcome = outcome.into_inner();
    let _ = a.resolve_move(BILLING, id.epoch, outcome).unwrap();
    // The delayed ingest arrives now.
    assert_eq!(
        b.check_ingest(&id),
        Err(MoveError::Stale { known: id.epoch })
    );
    assert_eq!(
        b.adopt(&id).unwrap_err(),
        MoveError::Stale { known: id.epoch }
    );
    assert!(accepts(&a, KEY) && !accepts(&b, KEY));
    // Asking again gives the same answer and changes nothing.
    let again = b.move_outcome(&id).unwrap();
    assert!(!again.must_persist());
    assert_eq!(again.into_inner(), outcome);
    // The next move starts above the fence and goes through.
    let next = move_prefix(&mut a, &mut b, BILLING);
    assert!(next.epoch > id.epoch);
    assert!(accepts(&b, KEY));
}

#[test]
fn stray_and_replayed_ingests_change_nothing() {
    let (mut a, mut b, mut d) = (node("A"), node("B"), node("D"));
    let epoch = Epoch::new(7);
    // From a node that does not own the prefix.
    let stray = MoveId {
        prefix: BILLING,
        from: "C",
        to: "B",
        epoch,
    };
    assert_eq!(b.check_ingest(&stray), Err(MoveError::SenderNotOwner));
    // Addressed to another node.
    let misaddressed = MoveId {
        from: "A",
        to: "D",
        ..stray
    };
    assert_eq!(b.check_ingest(&misaddressed), Err(MoveError::WrongTarget));
    assert!(b.moves().is_empty());
    // A replay of a move that completed, after the prefix moved on.
    let first = move_prefix(&mut a, &mut b, BILLING);
    tell(&mut [&mut d], first);
    move_prefix(&mut b, &mut d, BILLING);
    assert!(b.check_ingest(&first).is_err());
    assert!(b.adopt(&first).is_err());
    assert!(!accepts(&b, KEY) && accepts(&d, KEY));
    // A duplicate of the ingest D adopted: the same +OK, nothing changes.
    let second = MoveId {
        prefix: BILLING,
        from: "B",
        to: "D",
        epoch: d.epoch(),
    };
    assert_eq!(d.check_ingest(&second), Ok(Ingest::AlreadyAdopted));
    assert!(!d.adopt(&second).unwrap().must_persist());
}

#[test]
fn a_fallback_never_stands_in_for_what_its_writer_gave_away() {
    // app:billing: = A|F moves A->B; A goes down. F hears of the move
    // before any key ships, so it does not accept while B does.
    let (mut a, mut b, mut f) = (node("A"), node("B"), node("F"));
    let a_down = |id: &str| id == "A";
    let started = a.start_move(BILLING, "B").unwrap().into_inner();
    assert_eq!(started.prepare.as_ref().map(|p| p.as_str()), Some("F"));
    let id = MoveId {
        prefix: BILLING,
        from: "A",
        to: "B",
        epoch: started.epoch,
    };
    assert_eq!(announce(&mut f, id, MoveStatus::InFlight), Ok(true));
    ingest(&mut b, &id);
    // A is down before it commits: F does not stand in; the write waits
    // for the move, as it would on A.
    assert_eq!(
        f.verdict(KEY, a_down),
        WriteVerdict::Quiesced { target: "B" }
    );
    assert_eq!(
        f.verdict(KEY, |_| false),
        WriteVerdict::Misdirected { target: "A" }
    );
    assert!(b.verdict(KEY, a_down).is_accept());
    let _ = a.commit_move(BILLING, id.epoch).unwrap();
    assert_eq!(announce(&mut f, id, MoveStatus::Committed), Ok(true));
    assert_eq!(
        f.verdict(KEY, a_down),
        WriteVerdict::Misdirected { target: "B" }
    );
    // Moved back to A, F may stand in again once it learns so.
    let back = move_prefix(&mut b, &mut a, BILLING);
    assert_eq!(announce(&mut f, back, MoveStatus::Committed), Ok(true));
    assert!(f.verdict(KEY, a_down).is_accept());
    assert_eq!(
        f.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
}

#[test]
fn an_aborted_move_lets_the_fallback_stand_in_again() {
    let (mut a, mut b, mut f) = (node("A"), node("B"), node("F"));
    let a_down = |id: &str| id == "A";
    let id = start(&mut a, BILLING, "B");
    let _ = announce(&mut f, id, MoveStatus::InFlight).unwrap();
    assert!(!f.verdict(KEY, a_down).is_accept());
    let outcome = b.move_outcome(&id).unwrap().into_inner();
    let _ = a.resolve_move(BILLING, id.epoch, outcome).unwrap();
    assert_eq!(announce(&mut f, id, MoveStatus::Aborted), Ok(true));
    assert!(f.verdict(KEY, a_down).is_accept());
}

#[test]
fn a_fallback_that_is_the_target_adopts_the_move_it_heard_of() {
    let (mut a, mut f) = (node("A"), node("F"));
    let id = start(&mut a, BILLING, "F");
    let _ = announce(&mut f, id, MoveStatus::InFlight).unwrap();
    ingest(&mut f, &id);
    assert!(accepts(&f, KEY));
}

#[test]
fn a_fence_holds_against_news_of_the_move_that_arrives_after_it() {
    // Five steps found by an independent simulation: A moves
    // app:billing: to F, its fallback, and sends F the in-flight news,
    // which is delayed; A asks F what became of the move; F fences it off
    // (Aborted); the delayed news arrives; A ships on F's acknowledgement.
    // Had F taken the late news as "heard of this very move", it would
    // adopt, and A, receiving the Aborted, would take the prefix back:
    // two acceptors. The fence holds: F refuses the news and the ingest.
    let (mut a, mut f) = (node("A"), node("F"));
    let id = start(&mut a, BILLING, "F");
    let outcome = f.move_outcome(&id).unwrap().into_inner();
    assert!(matches!(
        outcome,
        kevy_scope::moves::Outcome::Aborted { .. }
    ));
    assert!(matches!(
        announce(&mut f, id, MoveStatus::InFlight),
        Err(MoveError::Stale { .. })
    ));
    assert!(matches!(f.check_ingest(&id), Err(MoveError::Stale { .. })));
    assert!(f.adopt(&id).is_err());
    let _ = a.resolve_move(BILLING, id.epoch, outcome).unwrap();
    assert!(accepts(&a, KEY));
    assert!(!accepts(&f, KEY));
    // However late the news comes, after a reboot too.
    let mut f = reboot(&f);
    assert!(announce(&mut f, id, MoveStatus::InFlight).is_err());
    assert!(f.check_ingest(&id).is_err());
    // The retry above the fence lands.
    let again = start(&mut a, BILLING, "F");
    assert!(again.epoch > id.epoch);
    let _ = announce(&mut f, again, MoveStatus::InFlight).unwrap();
    ingest(&mut f, &again);
    assert!(a.commit_move(BILLING, again.epoch).unwrap().must_persist());
    assert!(accepts(&f, KEY));
    assert!(!accepts(&a, KEY));
}

#[test]
fn no_cycle_through_a_fallback_after_a_move_back_it_missed() {
    // Seed 5554 of the old simulation: app:billing: moves A->B, its
    // sub-prefix B->C, then C->A; B never hears of the last move; A goes
    // down. B points at C, and C now points at A, not back through A's
    // fallback.
    let (mut a, mut b, mut c) = (node("A"), node("B"), node("C"));
    let a_down = |id: &str| id == "A";
    let sub: &[u8] = b"app:billing:eu:";
    let key = b"app:billing:eu:1";
    let first = move_prefix(&mut a, &mut b, BILLING);
    tell(&mut [&mut c], first);
    let second = move_prefix(&mut b, &mut c, sub);
    tell(&mut [&mut a], second);
    move_prefix(&mut c, &mut a, sub);
    assert_eq!(
        b.verdict(key, a_down),
        WriteVerdict::Misdirected { target: "C" }
    );
    assert_eq!(
        c.verdict(key, a_down),
        WriteVerdict::Misdirected { target: "A" }
    );
    assert!(accepts(&a, key));
}

#[test]
fn older_news_and_news_contradicting_ownership_change_nothing() {
    let (mut a, mut b, mut d, mut c) = (node("A"), node("B"), node("D"), node("C"));
    let first = move_prefix(&mut a, &mut b, BILLING);
    tell(&mut [&mut d], first);
    let second = move_prefix(&mut b, &mut d, BILLING);
    // C hears the second move first: newer news, taken although C missed
    // the move before it.
    assert_eq!(announce(&mut c, second, MoveStatus::Committed), Ok(true));
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "D" }
    );
    // The first move, late: stale, and it changes nothing.
    assert_eq!(
        announce(&mut c, first, MoveStatus::Committed),
        Err(MoveError::Stale {
            known: second.epoch
        })
    );
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "D" }
    );
    // News of another node moving what D owns contradicts what D knows.
    let bogus = MoveId {
        prefix: BILLING,
        from: "X",
        to: "Y",
        epoch: Epoch::new(second.epoch.get() + 5),
    };
    assert_eq!(
        announce(&mut d, bogus, MoveStatus::Committed),
        Err(MoveError::SenderNotOwner)
    );
    assert!(accepts(&d, KEY));
    // Nobody learns ownership of its own from news, nor its own moves.
    assert_eq!(announce(&mut d, second, MoveStatus::Committed), Ok(false));
    assert_eq!(announce(&mut a, first, MoveStatus::Committed), Ok(false));
}

#[test]
fn sub_prefix_moves_by_newest_news() {
    let (mut a, mut b) = (node("A"), node("B"));
    move_prefix(&mut a, &mut b, b"app:billing:eu:");
    assert!(accepts(&b, b"app:billing:eu:1"));
    assert_eq!(
        b.verdict(b"app:billing:us:1", UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    assert!(accepts(&a, b"app:billing:us:1"));
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    // A gave part of app:billing: away, so it cannot move the whole scope.
    assert_eq!(a.start_move(BILLING, "C").unwrap_err(), MoveError::NotOwner);
}

#[test]
fn a_whole_move_after_getting_the_part_back_supersedes_the_part() {
    let (mut a, mut b, mut c) = (node("A"), node("B"), node("C"));
    let eu: &[u8] = b"app:billing:eu:";
    let first = move_prefix(&mut a, &mut b, eu);
    tell(&mut [&mut c], first);
    let second = move_prefix(&mut b, &mut c, eu);
    tell(&mut [&mut a], second);
    move_prefix(&mut c, &mut a, eu);
    // B still holds "eu -> C"; the whole scope's newer move wins there.
    move_prefix(&mut a, &mut b, BILLING);
    assert!(accepts(&b, b"app:billing:eu:1"));
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert_eq!(
        c.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Misdirected { target: "A" }
    );
}

#[test]
fn adopted_prefix_moves_onward() {
    let (mut a, mut b, mut d) = (node("A"), node("B"), node("D"));
    let first = move_prefix(&mut a, &mut b, BILLING);
    // D takes the prefix only from the owner it knows of.
    let early = start(&mut b, BILLING, "D");
    assert_eq!(d.check_ingest(&early), Err(MoveError::SenderNotOwner));
    let outcome = d.move_outcome(&early).unwrap().into_inner();
    let _ = b.resolve_move(BILLING, early.epoch, outcome).unwrap();
    tell(&mut [&mut d], first);
    move_prefix(&mut b, &mut d, BILLING);
    assert!(accepts(&d, KEY));
    assert_eq!(
        b.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "D" }
    );
    assert_eq!(
        a.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert_eq!(
        b.start_move(BILLING, "A").unwrap_err(),
        MoveError::AlreadyMoved
    );
}

#[test]
fn only_an_owner_gives_away() {
    let (mut a, mut b, mut f) = (node("A"), node("B"), node("F"));
    assert_eq!(b.start_move(BILLING, "C").unwrap_err(), MoveError::NotOwner);
    // Unscoped keys belong to nobody.
    assert_eq!(
        a.start_move(b"session:", "B").unwrap_err(),
        MoveError::NotOwner
    );
    // A prefix wider than a scope is not wholly owned either.
    assert_eq!(a.start_move(b"app:", "B").unwrap_err(), MoveError::NotOwner);
    // A fallback standing in for a down writer owns nothing to give away.
    assert!(f.verdict(b"app:billing:1", |id| id == "A").is_accept());
    assert_eq!(f.start_move(BILLING, "B").unwrap_err(), MoveError::NotOwner);
    assert_eq!(
        a.start_move(BILLING, "bad id").unwrap_err(),
        MoveError::InvalidNodeId(kevy_scope::table::NodeIdError::InvalidByte { byte: b' ', at: 3 })
    );
    assert_eq!(a.start_move(BILLING, "A").unwrap_err(), MoveError::SameNode);
    let long = [b'x'; kevy_scope::moves::MAX_PREFIX_LEN + 1];
    let mut long_prefix = BILLING.to_vec();
    long_prefix.extend_from_slice(&long);
    assert!(matches!(
        a.start_move(&long_prefix, "B").unwrap_err(),
        MoveError::PrefixTooLong { .. }
    ));
}

#[test]
fn an_owner_refuses_to_ingest_what_it_owns() {
    let (mut a, mut b) = (node("A"), node("B"));
    let id = MoveId {
        prefix: BILLING,
        from: "B",
        to: "A",
        epoch: Epoch::new(3),
    };
    assert_eq!(a.check_ingest(&id), Err(MoveError::AlreadyOwner));
    let own = MoveId { from: "A", ..id };
    assert_eq!(a.check_ingest(&own), Err(MoveError::SameNode));
    // A move in flight here blocks an overlapping ingest.
    move_prefix(&mut a, &mut b, BILLING);
    let _ = start(&mut b, BILLING, "C");
    let overlapping = MoveId {
        prefix: b"app:billing:eu:",
        from: "A",
        to: "B",
        epoch: Epoch::new(50),
    };
    assert_eq!(
        b.check_ingest(&overlapping),
        Err(MoveError::OverlapsMoveInFlight)
    );
}

#[test]
fn resolving_a_move_that_is_not_in_flight_is_refused() {
    let mut a = node("A");
    assert_eq!(
        a.commit_move(BILLING, Epoch::new(1)).unwrap_err(),
        MoveError::NotInFlight
    );
    let id = start(&mut a, BILLING, "B");
    let wrong_epoch = Epoch::new(id.epoch.get() + 1);
    assert_eq!(
        a.commit_move(BILLING, wrong_epoch).unwrap_err(),
        MoveError::NotInFlight
    );
    assert!(a.commit_move(BILLING, id.epoch).unwrap().must_persist());
    // A repeat of the commit is idempotent; an abort after it is refused.
    assert!(!a.commit_move(BILLING, id.epoch).unwrap().must_persist());
    let abort = kevy_scope::moves::Outcome::Aborted { fence: id.epoch };
    assert_eq!(
        a.resolve_move(BILLING, id.epoch, abort).unwrap_err(),
        MoveError::NotInFlight
    );
}

#[test]
fn an_outcome_query_for_another_node_is_refused() {
    let mut b = node("B");
    let id = MoveId {
        prefix: BILLING,
        from: "A",
        to: "D",
        epoch: Epoch::new(1),
    };
    assert_eq!(b.move_outcome(&id).unwrap_err(), MoveError::WrongTarget);
}

#[test]
fn epochs_run_out_with_an_error() {
    let mut a = node("A");
    assert!(a.fence("B", Epoch::new(u32::MAX)).unwrap().must_persist());
    assert_eq!(
        a.start_move(BILLING, "B").unwrap_err(),
        MoveError::EpochExhausted
    );
    assert!(a.moves().is_empty());
}

#[test]
fn full_record_table_is_an_error_and_keeps_state() {
    let mut a: Node<_, MoveTable<1>> = Node::new("A", &TABLE, MoveTable::new()).unwrap();
    let _ = a.start_move(b"app:billing:eu:", "B").unwrap();
    assert_eq!(
        a.start_move(b"app:billing:us:", "B").unwrap_err(),
        MoveError::Full { capacity: 1 }
    );
    assert_eq!(
        a.verdict(b"app:billing:eu:1", UP),
        WriteVerdict::Quiesced { target: "B" }
    );
    assert!(a.verdict(b"app:billing:us:1", UP).is_accept());
    // A target with no room refuses before any key is applied.
    let mut b: Node<_, MoveTable<1>> = Node::new("B", &TABLE, MoveTable::new()).unwrap();
    let _ = b
        .learn(
            &Announcement {
                id: MoveId {
                    prefix: b"app:auth:x:",
                    from: "C",
                    to: "D",
                    epoch: Epoch::new(1),
                },
                status: MoveStatus::Committed,
            },
            Epoch::new(1),
        )
        .unwrap();
    let id = MoveId {
        prefix: BILLING,
        from: "A",
        to: "B",
        epoch: Epoch::new(2),
    };
    assert_eq!(b.check_ingest(&id), Err(MoveError::Full { capacity: 1 }));
}

#[test]
fn transactions_follow_effective_ownership() {
    let (mut a, mut b) = (node("A"), node("B"));
    let eu: &[u8] = b"app:billing:eu:1";
    let us: &[u8] = b"app:billing:us:1";
    assert!(a.transaction_scope([eu, us]).is_ok());
    move_prefix(&mut a, &mut b, b"app:billing:eu:");
    let err = a.transaction_scope([us, eu]).unwrap_err();
    assert_eq!(err.first, BILLING);
    assert_eq!(err.second, b"app:billing:eu:");
    assert_eq!(a.transaction_scope([us, b"free"]), Ok(Some(BILLING)));
    assert_eq!(a.transaction_scope([b"free"]), Ok(None));
    // The static-table helper alone would have let it through.
    assert!(kevy_scope::table::transaction_scope(&TABLE, [us, eu]).is_ok());
}

#[test]
fn an_image_round_trips_every_kind_of_record() {
    let (mut a, mut b, mut f) = (node("A"), node("B"), node("F"));
    move_prefix(&mut a, &mut b, b"app:billing:eu:");
    let us = start(&mut a, b"app:billing:us:", "B");
    let _ = announce(&mut f, us, MoveStatus::InFlight).unwrap();
    for n in [&a, &b, &f] {
        let again = reboot(n);
        assert_eq!(again.epoch(), n.epoch());
        let before: Vec<_> = n
            .records()
            .map(|(p, m)| (p, m.prefix.to_vec(), m.epoch))
            .collect();
        let after: Vec<_> = again
            .records()
            .map(|(p, m)| (p, m.prefix.to_vec(), m.epoch))
            .collect();
        assert_eq!(before, after);
        for key in [
            &b"app:billing:eu:1"[..],
            b"app:billing:us:1",
            b"app:billing:1",
        ] {
            assert_eq!(again.verdict(key, UP), n.verdict(key, UP));
        }
    }
}

#[test]
fn every_damaged_image_quarantines_the_node() {
    let (mut a, mut b) = (node("A"), node("B"));
    move_prefix(&mut a, &mut b, BILLING);
    let mut buf = [0u8; 512];
    let len = a.encode_image(&mut buf).unwrap();
    let image = &buf[..len];
    let check = |bytes: &[u8]| {
        let mut n = node("A");
        let err = n.restore(bytes).unwrap_err();
        assert!(n.is_quarantined());
        assert_eq!(n.verdict(KEY, UP), WriteVerdict::Unavailable);
        assert!(n.verdict(b"free", UP).is_accept());
        assert_eq!(
            n.start_move(BILLING, "B").unwrap_err(),
            MoveError::Quarantined
        );
        err
    };
    for cut in 0..len {
        let err = check(&image[..cut]);
        assert!(
            matches!(err, ImageError::Truncated | ImageError::ChecksumMismatch),
            "cut at {cut}: {err:?}"
        );
    }
    for at in 0..len {
        for bit in 0..8 {
            let mut bad = image.to_vec();
            bad[at] ^= 1 << bit;
            let _ = check(&bad);
        }
    }
    let mut longer = image.to_vec();
    longer.push(0);
    let _ = check(&longer);
    // Another node's image.
    let mut other = node("B");
    assert_eq!(other.restore(image), Err(ImageError::ForeignNode));
    // A future version.
    let mut future = image.to_vec();
    future[4] = kevy_scope::moves::IMAGE_VERSION + 1;
    assert_eq!(
        check(&future),
        ImageError::UnsupportedVersion {
            found: kevy_scope::moves::IMAGE_VERSION + 1
        }
    );
    // A store too small for the records.
    let mut small: Node<_, MoveTable<0>> = Node::new("A", &TABLE, MoveTable::new()).unwrap();
    assert_eq!(
        small.restore(image),
        Err(ImageError::Records(MoveError::Full { capacity: 0 }))
    );
    // A quarantined node writes no image (it would come back as a node
    // that knows nothing): it recovers from its peers first.
    let mut n = node("A");
    let _ = n.restore(&image[..3]);
    let mut buf = [0u8; 256];
    assert_eq!(n.encode_image(&mut buf), Err(ImageError::Quarantined));
    assert!(!accepts(&n, KEY));
}

#[test]
fn every_refused_write_on_a_quarantined_node_has_a_reply() {
    let mut n = node("A");
    let _ = n.restore(b"");
    let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
    let reply = n
        .verdict(KEY, UP)
        .encode_reply(&kevy_scope::wire::NoPeers, &mut buf)
        .unwrap();
    assert!(reply.starts_with(b"-TRYAGAIN "));
    assert!(reply.ends_with(b"\r\n"));
}

#[cfg(feature = "alloc")]
#[test]
fn unbounded_records_give_the_same_verdicts() {
    use kevy_scope::moves::MoveTableBuf;
    let mut a = Node::new("A", &TABLE, MoveTableBuf::new()).unwrap();
    let mut b = Node::new("B", &TABLE, MoveTableBuf::new()).unwrap();
    let long: Vec<u8> = [BILLING, &[b'x'; 100]].concat();
    let epoch = a.start_move(&long, "B").unwrap().into_inner().epoch;
    let id = MoveId {
        prefix: &long,
        from: "A",
        to: "B",
        epoch,
    };
    let _ = b.adopt(&id).unwrap();
    let _ = a.commit_move(&long, epoch).unwrap();
    let key = [long.as_slice(), b"1"].concat();
    assert_eq!(
        a.verdict(&key, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert!(b.verdict(&key, UP).is_accept());
    let mut buf = vec![0u8; b.image_len()];
    let len = b.encode_image(&mut buf).unwrap();
    let mut again = Node::new("B", &TABLE, MoveTableBuf::new()).unwrap();
    again.restore(&buf[..len]).unwrap();
    assert!(again.verdict(&key, UP).is_accept());
}

#[cfg(feature = "alloc")]
mod same_as_fixed {
    use super::*;
    use kevy_scope::moves::{MoveRecords, MoveTableBuf, Outcome};
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

    fn apply<R: MoveRecords>(
        node: &mut Node<&'static OwnershipTable<'static, 2>, R>,
        op: u8,
        prefix: &[u8],
        peer: &str,
        epoch: u32,
    ) -> String {
        let me = node.id().to_owned();
        let epoch = Epoch::new(epoch);
        let incoming = MoveId {
            prefix,
            from: peer,
            to: &me,
            epoch,
        };
        let news = |status| Announcement {
            id: MoveId {
                prefix,
                from: peer,
                to: "C",
                epoch,
            },
            status,
        };
        match op % 7 {
            0 => format!("{:?}", node.start_move(prefix, peer)),
            1 => format!("{:?}", node.commit_move(prefix, epoch)),
            2 => format!(
                "{:?}",
                node.resolve_move(prefix, epoch, Outcome::Aborted { fence: epoch })
            ),
            3 => format!("{:?}", node.adopt(&incoming)),
            4 => format!("{:?}", node.move_outcome(&incoming)),
            5 => format!("{:?}", node.learn(&news(MoveStatus::InFlight), epoch)),
            _ => format!("{:?}", node.learn(&news(MoveStatus::Committed), epoch)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// The unbounded records answer every step and verdict exactly as
        /// the fixed-capacity ones (sized so they never fill), and both
        /// survive an image round trip unchanged.
        #[test]
        fn unbounded_records_match_fixed(ops in prop::collection::vec((0u8..7, 0usize..6, 0usize..4, 1u32..12), 0..40), me in 0usize..4) {
            let mut fixed: Node<_, MoveTable<64>> = Node::new(IDS[me], &TABLE, MoveTable::new()).unwrap();
            let mut owned = Node::new(IDS[me], &TABLE, MoveTableBuf::new()).unwrap();
            for (op, p, peer, epoch) in ops {
                let a = apply(&mut fixed, op, PREFIXES[p], IDS[peer], epoch);
                let b = apply(&mut owned, op, PREFIXES[p], IDS[peer], epoch);
                prop_assert_eq!(a, b);
                let mut buf = vec![0u8; fixed.image_len()];
                let len = fixed.encode_image(&mut buf).unwrap();
                let mut restored: Node<_, MoveTable<64>> = Node::new(IDS[me], &TABLE, MoveTable::new()).unwrap();
                restored.restore(&buf[..len]).unwrap();
                let mut owned_buf = vec![0u8; owned.image_len()];
                let owned_len = owned.encode_image(&mut owned_buf).unwrap();
                prop_assert_eq!(&buf[..len], &owned_buf[..owned_len]);
                for key in KEYS {
                    let v = fixed.verdict(key, UP);
                    prop_assert_eq!(v, owned.verdict(key, UP));
                    prop_assert_eq!(v, restored.verdict(key, UP));
                }
            }
        }
    }
}

#[test]
fn news_re_announced_from_records_reaches_a_node_that_missed_it() {
    // C missed both announcements, and A's record of the first move was
    // superseded when A learned the second: what the nodes re-announce
    // from their records still gets C to the owner.
    let (mut a, mut b, mut d, mut c) = (node("A"), node("B"), node("D"), node("C"));
    let first = move_prefix(&mut a, &mut b, BILLING);
    tell(&mut [&mut d], first);
    let second = move_prefix(&mut b, &mut d, BILLING);
    tell(&mut [&mut a], second);
    let (a, b, d) = (reboot(&a), reboot(&b), reboot(&d));
    let news: Vec<Announcement<'_>> = [&d, &b, &a]
        .into_iter()
        .flat_map(|n| n.announcements())
        .collect();
    assert!(!news.is_empty());
    for n in &news {
        let _ = c.learn(n, n.id.epoch);
    }
    assert_eq!(
        c.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "D" }
    );
}

#[test]
fn a_sources_abort_beats_a_commit_told_by_a_target_that_lost_its_records() {
    // F learned B's adoption of app:billing: at epoch 1 (news B sent
    // before it lost its records); A, the source, aborted the move on
    // B's word after B recovered. A's abort wins at F.
    let mut f = node("F");
    let id = MoveId {
        prefix: BILLING,
        from: "A",
        to: "B",
        epoch: Epoch::new(1),
    };
    assert_eq!(announce(&mut f, id, MoveStatus::Committed), Ok(true));
    assert_eq!(
        f.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert_eq!(announce(&mut f, id, MoveStatus::Aborted), Ok(true));
    assert_eq!(
        f.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    // The other way round changes nothing: the abort stands.
    assert_eq!(announce(&mut f, id, MoveStatus::Committed), Ok(false));
    // A node that adopted never gives it up on news.
    let mut b = node("B");
    let _ = b.adopt(&id).unwrap();
    assert_eq!(announce(&mut b, id, MoveStatus::Aborted), Ok(false));
    assert!(accepts(&b, KEY));
}

#[test]
fn a_recovered_peers_abort_sent_before_it_lost_its_records_is_refused() {
    // B owned app:billing: and aborted its move to C at epoch 2: its news
    // of the abort (B owns it) is late on the way to F. B then lost its
    // records and recovered at fence 11, without that abort (no peer held
    // it): B no longer owns the prefix.
    let mut f = node("F");
    assert!(f.fence("B", Epoch::new(11)).unwrap().must_persist());
    let id = MoveId {
        prefix: BILLING,
        from: "B",
        to: "C",
        epoch: Epoch::new(2),
    };
    let late = Announcement {
        id,
        status: MoveStatus::Aborted,
    };
    // Sent at B's epoch 2, before the loss: refused, F still follows A.
    assert!(matches!(
        f.learn(&late, Epoch::new(2)),
        Err(MoveError::Stale { .. })
    ));
    assert_eq!(
        f.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "A" }
    );
    // The fence is in the image: a restart keeps refusing it.
    let mut f = reboot(&f);
    assert!(f.learn(&late, Epoch::new(10)).is_err());
    // Another peer's old abort is not B's: learned.
    let mut g = reboot(&f);
    let other = MoveId { from: "A", ..id };
    assert_eq!(announce(&mut g, other, MoveStatus::Aborted), Ok(true));
    // The end of a move F holds is learned whatever the sender's epoch:
    // F heard of the move, so the recovery heard of it from F.
    let mut h = node("H");
    assert_eq!(
        h.learn(
            &Announcement {
                id,
                status: MoveStatus::InFlight
            },
            Epoch::new(2)
        )
        .map(|d| d.must_persist()),
        Ok(true)
    );
    let _ = h.fence("B", Epoch::new(11)).unwrap();
    assert_eq!(
        h.learn(&late, Epoch::new(2)).map(|d| d.must_persist()),
        Ok(true)
    );
    // What B sends after its recovery (its epoch at or above the fence)
    // is learned: B vouches for it now.
    assert_eq!(
        f.learn(&late, Epoch::new(11)).map(|d| d.must_persist()),
        Ok(true)
    );
    assert_eq!(
        f.verdict(KEY, UP),
        WriteVerdict::Misdirected { target: "B" }
    );
}

#[test]
fn an_image_of_the_first_version_restores_with_no_recovered_peer() {
    // "KVSI", version 1, id "F", seen epoch 7, no records, CRC-32.
    let mut v1 = b"KVSI\x01\x01F\x07\x00\x00\x00\x00\x00".to_vec();
    v1.extend_from_slice(&crc32(&v1).to_le_bytes());
    let mut f = node("F");
    assert_eq!(f.restore(&v1), Ok(()));
    assert_eq!(f.epoch(), Epoch::new(7));
    // No fence remembered: an old abort of anyone's is learned.
    let id = MoveId {
        prefix: BILLING,
        from: "B",
        to: "C",
        epoch: Epoch::new(2),
    };
    assert_eq!(announce(&mut f, id, MoveStatus::Aborted), Ok(true));
    // Written again, it is the current version, 8 bytes longer.
    let mut buf = [0u8; 256];
    let len = node("F").encode_image(&mut buf).unwrap();
    assert_eq!(buf[4], kevy_scope::moves::IMAGE_VERSION);
    assert_eq!(len, v1.len() + 8);
}

/// CRC-32 (IEEE), as the image carries it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
