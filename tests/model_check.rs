//! An exhaustive model check of MOVE-SCOPE with `stateright`: every
//! interleaving of a small cluster's moves, faults and client writes, with
//! the crate's own `Node`s deciding every step.
//!
//! # What is modelled
//!
//! Three nodes share one static table, `s:` = A (writer) | F (fallback);
//! B is a plain node. The operator issues two moves of the sub-prefix
//! `s:x:`: A→B, then the move back B→A; two more checks move it A→F and
//! back, so the target is also the fallback that hears the prepare news. Clients write `s:x:k` (the moving
//! sub-prefix); the verdicts of `s:k` (the rest of the scope) are checked
//! too.
//!
//! Each node in a state is its persisted image (the bytes
//! `Node::encode_image` wrote to stable storage), its RAM image (the
//! records it runs with, encoded), its durable key store, and its volatile
//! driver state (the exchanges of the moves it runs as source, and the
//! news it still owes). Every action boots the node with `Node::new` +
//! `Node::restore(RAM image)`, makes one public call (`start_move`,
//! `learn`, `check_ingest` + `adopt`, `commit_move`, `move_outcome`,
//! `resolve_move`, `verdict`, `in_flight`, `announcements`), then encodes
//! it again: the protocol under check is the crate's, not a copy (a boot
//! is a function of the image's bytes, so each image is decoded once per
//! thread and cloned after). Around the calls runs the server's side of
//! the protocol (README, "Surviving faults"):
//!
//! - source, on the operator's MOVE-SCOPE: `start_move`, persist, send the
//!   fallback `InFlight` news, ship the keys on its ack (at once without a
//!   fallback; also on an ack that arrives after it asked for the
//!   outcome, a host rule README leaves open); on `+OK` `commit_move`; on a refusal or a timeout ask the
//!   target `move_outcome` and `resolve_move` with the answer; then owe
//!   every other node the news, resending it until acknowledged (`Stale`
//!   counts as acknowledged, other refusals are retried later);
//! - target: `check_ingest`, apply the shipped keys, `adopt`, persist,
//!   `+OK`; `move_outcome`, persist, answer;
//! - everyone: `learn`, persist, acknowledge.
//!
//! A step persists (RAM image → persisted image) when its `Durable` says
//! so, before its messages leave. The network is a set of messages: any
//! message in flight may be delivered at any time (delay, reordering),
//! lost, or delivered while a copy stays in flight (duplication). A crash
//! restarts a node from its persisted image (its key store is durable)
//! and loses its driver state: the restarted driver asks the target of
//! each move still in `in_flight()` for the outcome and owes every other
//! node its `announcements()`. A crash inside a step is a crash between
//! steps plus the loss of the step's message, which the loss budget
//! covers. A step that changes nothing but a budget (a refused operator
//! command, a restart of a node with no volatile state) is not a
//! transition: the operator simply retries later.
//!
//! # Budgets (what keeps the space finite)
//!
//! The same model is checked under three budgets, each exhaustively:
//!
//! | check | crashes | lost | duplicated | writer down/up | early timeout | writes |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | [`Budget::CRASHES_AND_LOSS`] | 1 per node | 1 | 0 | 0 | 0 | 1 |
//! | [`Budget::WRITER_DOWN`] | 1 (A) | 0 | 0 | 1 | 1 | 2 |
//! | [`Budget::REPLAY`] | 1 (A) | 0 | 1 | 0 | 1 | 1 |
//!
//! Each MOVE-SCOPE starts once (issued at any moment; a move back issued
//! before B owns the prefix is refused). An early timeout is the source
//! asking for the outcome while its prepare news, its fallback's ack, its
//! ingest or its `+OK` is still in flight.
//! A source's retries (the fallback's news, the outcome query, owed news)
//! are unbounded but fire only when none of that exchange's messages is in
//! flight. F's crash is in the first budget but loses nothing (F runs no
//! move). All budgets together do not fit the time bound (over seven
//! million states for crashes, loss and the writer down alone).
//!
//! # What is trusted
//!
//! - The quorum service's lease: a node flagged down accepts nothing and
//!   processes nothing until it is flagged up (messages to it wait).
//! - Its data hand-over around a stand-in, as instantaneous copies: when A
//!   goes down F takes A's values of the keys of A's static scope; when A
//!   comes back it takes F's value of every key F accepted meanwhile.
//! - Stable storage: a persisted image reads back as written.
//!
//! # Properties (DESIGN.md §6)
//!
//! - `always` S1 one acceptor: among nodes not flagged down, at most one
//!   accepts a write for a key;
//! - `always` S2 no redirect cycle: following `MISDIRECTED` from any up
//!   node never comes back to a node already visited;
//! - `always` S3 no acknowledged write lost: the key's acceptor holds the
//!   last value a node answered `+OK` for;
//! - `always` S4 quiesced only while unresolved: a `QUIESCED` names a move
//!   of the key's prefix to that node in the answering node's
//!   `in_flight()`;
//! - `eventually` L1 every move resolves: every path that ends, ends quiet
//!   (all up, nothing in flight, no news owed) with no move in flight, no
//!   operator move left that could start, one acceptor per key and every
//!   other node redirecting to it in one hop;
//! - `always` L1 once faults stop: from every state, with faults stopped
//!   and a fair schedule (the writer comes up; each round delivers every
//!   message, then fires every due retry), the cluster is quiet within 400
//!   steps, with the same outcome. A round of retries that leaves the
//!   state as it was is a livelock. (stateright's `eventually` sees only
//!   paths that end; this one also sees retry loops.)
//!
//! `sometimes` properties show the interesting states are reached: a move
//! back commits, an outcome query aborts a move, the fallback stands in,
//! the target accepts an acknowledged write.
//!
//! # Showing it can fail
//!
//! Two mutants must break S1, S2 or S3, and the shortest counterexample
//! is printed: the driver sending a step's messages before persisting its
//! image (persisting later, so a crash in between loses the step), and
//! the crate's epoch fence switched off
//! (`kevy_scope::mutants::ignore_epochs`, thread-local, so it is set in
//! every action that boots a node).
//!
//! # Running it
//!
//! `cargo test --release --all-features --test model_check -- --nocapture`
//! prints the states explored, the time taken and the counterexamples.
//! The exhaustive checks need a release build (a debug build skips them;
//! the mutants run in both).

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kevy_scope::{
    Announcement, Epoch, Ingest, MigrationError, MigrationTable, MoveId, MoveStatus, Node, Outcome,
    OwnershipTable, Phase, Scope, WriteVerdict, ownership_table,
};
use stateright::{Checker, HasDiscoveries, Model, Path, Property};

static TABLE: OwnershipTable<'static, 1> =
    ownership_table![Scope::new(b"s:", "A").with_fallback("F")];

type Kv = Node<&'static OwnershipTable<'static, 1>, MigrationTable<4>>;

thread_local! {
    /// Nodes booted from each image seen (an image names its node):
    /// `Node::new` + `restore` is a function of the bytes, so each image
    /// is decoded once per thread.
    static BOOTED: RefCell<HashMap<Vec<u8>, Kv>> = RefCell::new(HashMap::new());
}

const A: usize = 0;
const B: usize = 1;
const F: usize = 2;
const IDS: [&str; 3] = ["A", "B", "F"];
const NODES: usize = IDS.len();
const KEYS: [&[u8]; 2] = [b"s:x:k", b"s:k"];

/// The prefixes that move.
const PREFIXES: [&[u8]; 1] = [b"s:x:"];

/// An operator's MOVE-SCOPE: `PREFIXES[prefix]` from `from` to `to`.
#[derive(Debug, Clone, Copy)]
struct MoveCmd {
    prefix: usize,
    from: usize,
    to: usize,
}

/// The operator's two moves of the sub-prefix: to a target, and back.
const MOVE_COUNT: usize = 2;

/// The moves when the target is `to`: B (a plain node) or F (the scope's
/// fallback, which then hears of the move as both).
const fn moves_to(to: usize) -> [MoveCmd; MOVE_COUNT] {
    [
        MoveCmd {
            prefix: 0,
            from: A,
            to,
        },
        MoveCmd {
            prefix: 0,
            from: to,
            to: A,
        },
    ]
}

/// The target of the check running now: B unless a check picks F. The
/// checker's threads read it, so checks run one at a time ([`checking`]).
static TARGET: AtomicUsize = AtomicUsize::new(B);

/// The target of the first move in the check running now.
fn target() -> usize {
    TARGET.load(Ordering::Relaxed)
}

/// The operator's moves in the check running now.
fn moves() -> [MoveCmd; MOVE_COUNT] {
    moves_to(target())
}

/// Runs `check` with the moves' target `to`, no other check running.
fn checking<R>(to: usize, check: impl FnOnce() -> R) -> R {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    TARGET.store(to, Ordering::Relaxed);
    check()
}

fn idx(id: &str) -> usize {
    IDS.iter()
        .position(|i| *i == id)
        .expect("a node of the model")
}

/// A move as messages name it (`MoveId`, by indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Mv {
    prefix: u8,
    from: u8,
    to: u8,
    epoch: u32,
}

impl Mv {
    fn of(cmd: usize, epoch: u32) -> Self {
        let c = moves()[cmd];
        Mv {
            prefix: c.prefix as u8,
            from: c.from as u8,
            to: c.to as u8,
            epoch,
        }
    }

    fn from_id(id: &MoveId<'_>) -> Self {
        Mv {
            prefix: PREFIXES
                .iter()
                .position(|p| *p == id.prefix)
                .expect("a prefix of the model") as u8,
            from: idx(id.from) as u8,
            to: idx(id.to) as u8,
            epoch: id.epoch.get(),
        }
    }

    fn prefix(self) -> &'static [u8] {
        PREFIXES[usize::from(self.prefix)]
    }

    fn from(self) -> usize {
        usize::from(self.from)
    }

    fn to(self) -> usize {
        usize::from(self.to)
    }

    /// The operator move this is a run of.
    fn cmd(self) -> Option<usize> {
        moves().iter().position(|c| {
            c.prefix == usize::from(self.prefix) && c.from == self.from() && c.to == self.to()
        })
    }

    fn id(self) -> MoveId<'static> {
        MoveId {
            prefix: self.prefix(),
            from: IDS[self.from()],
            to: IDS[self.to()],
            epoch: Epoch::new(self.epoch),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Status {
    InFlight,
    Committed,
    Aborted,
}

impl Status {
    fn wire(self) -> MoveStatus {
        match self {
            Status::InFlight => MoveStatus::InFlight,
            Status::Committed => MoveStatus::Committed,
            Status::Aborted => MoveStatus::Aborted,
        }
    }

    fn of(status: MoveStatus) -> Self {
        match status {
            MoveStatus::InFlight => Status::InFlight,
            MoveStatus::Committed => Status::Committed,
            MoveStatus::Aborted => Status::Aborted,
            _ => unreachable!("a status the model does not know"),
        }
    }
}

/// The shipped keys of an ingest: the source's value of each key under
/// the prefix (`None` for keys outside it, or absent).
type Data = [Option<u8>; KEYS.len()];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Msg {
    /// `by` → `to`: news of a move.
    News {
        mv: Mv,
        status: Status,
        by: u8,
        to: u8,
    },
    /// `from` → `by`: news taken (learned, or already known newer), or
    /// refused for now.
    NewsAck {
        mv: Mv,
        status: Status,
        by: u8,
        from: u8,
        taken: bool,
    },
    /// Source → target: MOVE-SCOPE-INGEST.
    Ingest { mv: Mv, data: Data },
    /// Target → source: `+OK`, or a refusal.
    IngestReply { mv: Mv, ok: bool },
    /// Source → target: what became of the move?
    Query { mv: Mv },
    /// Target → source: the outcome.
    Answer { mv: Mv, committed: bool, fence: u32 },
}

impl Msg {
    fn dest(self) -> usize {
        match self {
            Msg::News { to, .. } => usize::from(to),
            Msg::NewsAck { by, .. } => usize::from(by),
            Msg::Ingest { mv, .. } | Msg::Query { mv } => mv.to(),
            Msg::IngestReply { mv, .. } | Msg::Answer { mv, .. } => mv.from(),
        }
    }
}

/// News a node owes another until acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Owed {
    mv: Mv,
    status: Status,
    to: u8,
}

impl Owed {
    /// Whether the news, or its acknowledgement, is in flight.
    fn in_flight(self, by: usize, net: &BTreeSet<Msg>) -> bool {
        let by = by as u8;
        net.iter().any(|m| match *m {
            Msg::News {
                mv,
                status,
                by: b,
                to,
            } => (mv, status, b, to) == (self.mv, self.status, by, self.to),
            Msg::NewsAck {
                mv,
                status,
                by: b,
                from,
                ..
            } => (mv, status, b, from) == (self.mv, self.status, by, self.to),
            _ => false,
        })
    }

    fn news(self, by: usize) -> Msg {
        Msg::News {
            mv: self.mv,
            status: self.status,
            by: by as u8,
            to: self.to,
        }
    }
}

/// The source's side of one operator move (volatile driver state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Exchange {
    Idle,
    /// `InFlight` news sent to the fallback; the keys ship on its ack.
    Preparing {
        epoch: u32,
        fallback: u8,
    },
    /// Keys shipped; waiting for `+OK`.
    Shipping {
        epoch: u32,
    },
    /// Waiting for the target's outcome.
    Querying {
        epoch: u32,
    },
}

impl Exchange {
    fn epoch(self) -> Option<u32> {
        match self {
            Exchange::Idle => None,
            Exchange::Preparing { epoch, .. }
            | Exchange::Shipping { epoch }
            | Exchange::Querying { epoch } => Some(epoch),
        }
    }
}

/// One node: stable storage, RAM, and its driver's volatile state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Host {
    /// The image last written to stable storage.
    disk: Vec<u8>,
    /// The image of the records the node runs with.
    ram: Vec<u8>,
    /// The node's key store (durable).
    store: [Option<u8>; KEYS.len()],
    /// News owed to other nodes (lost on a crash, then re-derived).
    owed: BTreeSet<Owed>,
}

/// What is left of each fault and workload budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Budget {
    crashes: [u8; NODES],
    losses: u8,
    dups: u8,
    /// Down/up cycles of the writer A.
    downs: u8,
    early_timeouts: u8,
    writes: u8,
    /// Times each MOVE-SCOPE may be issued.
    issues: [u8; MOVE_COUNT],
}

impl Budget {
    /// No fault, no write; each MOVE-SCOPE issued once.
    const CALM: Self = Budget {
        crashes: [0; NODES],
        losses: 0,
        dups: 0,
        downs: 0,
        early_timeouts: 0,
        writes: 0,
        issues: [1; MOVE_COUNT],
    };

    /// A crash of every node and a lost message.
    const CRASHES_AND_LOSS: Self = Budget {
        crashes: [1; NODES],
        losses: 1,
        writes: 1,
        ..Self::CALM
    };

    /// The writer down and up (the fallback stands in), a crash of the
    /// writer, an early timeout, two writes.
    const WRITER_DOWN: Self = Budget {
        crashes: [1, 0, 0],
        downs: 1,
        early_timeouts: 1,
        writes: 2,
        ..Self::CALM
    };

    /// A duplicated message (a replay), an early timeout, a crash of the
    /// writer.
    const REPLAY: Self = Budget {
        crashes: [1, 0, 0],
        dups: 1,
        early_timeouts: 1,
        writes: 1,
        ..Self::CALM
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    hosts: [Host; NODES],
    /// Per operator move, its source's exchange.
    exchanges: [Exchange; MOVE_COUNT],
    net: BTreeSet<Msg>,
    /// Flagged down by the quorum service.
    down: [bool; NODES],
    /// The last value a node answered `+OK` for, per key.
    acked: [Option<u8>; KEYS.len()],
    /// Keys the fallback accepted while standing in for A, to hand back.
    stood_in: [bool; KEYS.len()],
    left: Budget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Action {
    /// The operator's MOVE-SCOPE reaches the move's source.
    Operator(usize),
    Deliver(Msg),
    /// Delivered, and a copy stays in flight.
    Duplicate(Msg),
    Lose(Msg),
    /// A source's retry for an exchange none of whose messages is in flight.
    Retry(usize),
    /// The source gives up waiting for `+OK` while the ingest (or its
    /// reply) is still in flight, and asks for the outcome.
    EarlyTimeout(usize),
    /// Resends owed news none of whose messages is in flight.
    Resend(usize, Owed),
    /// Mutant only: the RAM image reaches stable storage, late.
    Persist(usize),
    Crash(usize),
    WriterDown(usize),
    WriterUp(usize),
    /// A client write of `key` on a node that accepts it.
    Write(usize, usize),
}

/// Which safety rule the model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The protocol as documented.
    Kept,
    /// Mutant: messages leave before the image is persisted.
    SendBeforePersist,
    /// Mutant: the ingest epoch fence is switched off in the crate.
    NoEpochFence,
}

struct MoveModel {
    rule: Rule,
    budget: Budget,
    /// Results of the "once faults stop" check, by state hash.
    settled: Arc<Mutex<HashMap<u64, Result<(), String>>>>,
}

impl MoveModel {
    fn new(rule: Rule, budget: Budget) -> Self {
        MoveModel {
            rule,
            budget,
            settled: Arc::default(),
        }
    }

    /// The node as it runs now: a fresh boot, then its RAM image.
    fn node(&self, s: &State, n: usize) -> Kv {
        // Thread-local switch: set on whichever thread runs this step.
        kevy_scope::mutants::ignore_epochs(self.rule == Rule::NoEpochFence);
        let ram = &s.hosts[n].ram;
        BOOTED.with(|booted| {
            if let Some(node) = booted.borrow().get(&ram[..]) {
                return node.clone();
            }
            let mut node = Node::new(IDS[n], &TABLE, MigrationTable::new()).expect("valid id");
            node.restore(ram).expect("the model's own images restore");
            booted.borrow_mut().insert(ram.clone(), node.clone());
            node
        })
    }

    /// Keeps a step's result: the RAM image, and the persisted image when
    /// the step asks for it (unless the mutant leaves that for later).
    fn keep(&self, s: &mut State, n: usize, node: &Kv, must_persist: bool) {
        let ram = image(node);
        let host = &mut s.hosts[n];
        if must_persist && self.rule != Rule::SendBeforePersist {
            host.disk.clone_from(&ram);
        }
        host.ram = ram;
    }

    fn is_down(s: &State) -> impl Fn(&str) -> bool + '_ {
        |id: &str| s.down[idx(id)]
    }

    fn send(s: &mut State, m: Msg) {
        s.net.insert(m);
    }

    /// Source side: ship the keys of `mv` from the source's store.
    fn ship(s: &mut State, cmd: usize, mv: Mv) {
        let mut data = [None; KEYS.len()];
        for (k, key) in KEYS.iter().enumerate() {
            if key.starts_with(mv.prefix()) {
                data[k] = s.hosts[mv.from()].store[k];
            }
        }
        Self::send(s, Msg::Ingest { mv, data });
        s.exchanges[cmd] = Exchange::Shipping { epoch: mv.epoch };
    }

    /// Node `by` owes every other node news of `mv`, and sends it.
    fn owe_news(s: &mut State, by: usize, mv: Mv, status: Status) {
        for r in (0..NODES).filter(|r| *r != by) {
            let owed = Owed {
                mv,
                status,
                to: r as u8,
            };
            s.hosts[by].owed.insert(owed);
            Self::send(s, owed.news(by));
        }
    }

    /// Source side: an exchange whose move is no longer in flight is over.
    fn reconcile(s: &mut State, node: &Kv, cmd: usize) {
        if let Some(epoch) = s.exchanges[cmd].epoch() {
            let prefix = PREFIXES[moves()[cmd].prefix];
            let open = node
                .in_flight()
                .any(|m| m.prefix == prefix && m.epoch.get() == epoch);
            if !open {
                s.exchanges[cmd] = Exchange::Idle;
            }
        }
    }

    fn deliver(&self, s: &mut State, m: Msg) {
        let n = m.dest();
        match m {
            Msg::News { mv, status, by, to } => {
                let mut node = self.node(s, n);
                let taken = match node.learn(&Announcement {
                    id: mv.id(),
                    status: status.wire(),
                }) {
                    Ok(d) => {
                        self.keep(s, n, &node, d.must_persist());
                        true
                    }
                    Err(MigrationError::Stale { .. }) => true,
                    Err(_) => false,
                };
                Self::send(
                    s,
                    Msg::NewsAck {
                        mv,
                        status,
                        by,
                        from: to,
                        taken,
                    },
                );
            }
            Msg::NewsAck {
                mv,
                status,
                from,
                taken,
                ..
            } => {
                if status == Status::InFlight {
                    let Some(cmd) = mv.cmd() else { return };
                    // A late acknowledgement ships too, even after the
                    // source gave up waiting and asked for the outcome:
                    // README does not forbid it, so the crate must make
                    // it safe (the fence holds).
                    let waiting = s.exchanges[cmd]
                        == Exchange::Preparing {
                            epoch: mv.epoch,
                            fallback: from,
                        }
                        || s.exchanges[cmd] == Exchange::Querying { epoch: mv.epoch }
                            && usize::from(from) == F;
                    if taken && waiting {
                        Self::ship(s, cmd, mv);
                    }
                } else if taken {
                    s.hosts[n].owed.remove(&Owed {
                        mv,
                        status,
                        to: from,
                    });
                }
            }
            Msg::Ingest { mv, data } => {
                let mut node = self.node(s, n);
                let ok = match node.check_ingest(&mv.id()) {
                    Ok(Ingest::Apply) => {
                        for (k, key) in KEYS.iter().enumerate() {
                            if key.starts_with(mv.prefix()) {
                                s.hosts[n].store[k] = data[k];
                            }
                        }
                        match node.adopt(&mv.id()) {
                            Ok(d) => {
                                self.keep(s, n, &node, d.must_persist());
                                true
                            }
                            Err(_) => false,
                        }
                    }
                    Ok(_) => true,
                    Err(_) => false,
                };
                Self::send(s, Msg::IngestReply { mv, ok });
            }
            Msg::IngestReply { mv, ok } => {
                let cmd = mv.cmd().expect("an operator's move");
                let mut node = self.node(s, n);
                if ok {
                    if let Ok(d) = node.commit_move(mv.prefix(), Epoch::new(mv.epoch)) {
                        self.keep(s, n, &node, d.must_persist());
                        if d.must_persist() {
                            Self::owe_news(s, n, mv, Status::Committed);
                        }
                    }
                } else if s.exchanges[cmd] == (Exchange::Shipping { epoch: mv.epoch }) {
                    s.exchanges[cmd] = Exchange::Querying { epoch: mv.epoch };
                    Self::send(s, Msg::Query { mv });
                }
                Self::reconcile(s, &node, cmd);
            }
            Msg::Query { mv } => {
                let mut node = self.node(s, n);
                if let Ok(d) = node.move_outcome(&mv.id()) {
                    self.keep(s, n, &node, d.must_persist());
                    let (committed, fence) = match d.into_inner() {
                        Outcome::Committed => (true, 0),
                        Outcome::Aborted { fence } => (false, fence.get()),
                        _ => unreachable!("an outcome the model does not know"),
                    };
                    Self::send(
                        s,
                        Msg::Answer {
                            mv,
                            committed,
                            fence,
                        },
                    );
                }
            }
            Msg::Answer {
                mv,
                committed,
                fence,
            } => {
                let cmd = mv.cmd().expect("an operator's move");
                let mut node = self.node(s, n);
                let (outcome, status) = if committed {
                    (Outcome::Committed, Status::Committed)
                } else {
                    let fence = Epoch::new(fence);
                    (Outcome::Aborted { fence }, Status::Aborted)
                };
                if let Ok(d) = node.resolve_move(mv.prefix(), Epoch::new(mv.epoch), outcome) {
                    self.keep(s, n, &node, d.must_persist());
                    if d.must_persist() {
                        Self::owe_news(s, n, mv, status);
                    }
                }
                Self::reconcile(s, &node, cmd);
            }
        }
    }

    /// The operator's MOVE-SCOPE `cmd` on its source.
    fn operator(&self, s: &mut State, cmd: usize) {
        let c = moves()[cmd];
        s.left.issues[cmd] -= 1;
        let mut node = self.node(s, c.from);
        let Ok(d) = node.start_move(PREFIXES[c.prefix], IDS[c.to]) else {
            return; // refused: the operator is told, nothing changes
        };
        self.keep(s, c.from, &node, d.must_persist());
        let started = d.into_inner();
        let mv = Mv::of(cmd, started.epoch.get());
        match started.prepare {
            Some(f) => {
                let fallback = idx(f.as_str()) as u8;
                s.exchanges[cmd] = Exchange::Preparing {
                    epoch: mv.epoch,
                    fallback,
                };
                let tell = Owed {
                    mv,
                    status: Status::InFlight,
                    to: fallback,
                };
                Self::send(s, tell.news(c.from));
            }
            None => Self::ship(s, cmd, mv),
        }
    }

    /// Whether none of the messages of exchange `cmd` is in flight.
    fn exchange_quiet(s: &State, cmd: usize) -> bool {
        let by = moves()[cmd].from as u8;
        let same = |mv: Mv, epoch: u32| mv.cmd() == Some(cmd) && mv.epoch == epoch;
        match s.exchanges[cmd] {
            Exchange::Idle => false,
            Exchange::Preparing { epoch, fallback } => !s.net.iter().any(|m| match *m {
                Msg::News { mv, by: b, to, .. } => same(mv, epoch) && (b, to) == (by, fallback),
                Msg::NewsAck {
                    mv, by: b, from, ..
                } => same(mv, epoch) && (b, from) == (by, fallback),
                _ => false,
            }),
            Exchange::Shipping { epoch } => !s.net.iter().any(|m| match *m {
                Msg::Ingest { mv, .. } | Msg::IngestReply { mv, .. } => same(mv, epoch),
                _ => false,
            }),
            Exchange::Querying { epoch } => !s.net.iter().any(|m| match *m {
                Msg::Query { mv } | Msg::Answer { mv, .. } => same(mv, epoch),
                _ => false,
            }),
        }
    }

    /// A source's retry: the fallback is told again, or the target is
    /// asked for the outcome (again).
    fn retry(s: &mut State, cmd: usize) {
        match s.exchanges[cmd] {
            Exchange::Idle => {}
            Exchange::Preparing { epoch, fallback } => {
                let tell = Owed {
                    mv: Mv::of(cmd, epoch),
                    status: Status::InFlight,
                    to: fallback,
                };
                Self::send(s, tell.news(moves()[cmd].from));
            }
            Exchange::Shipping { epoch } | Exchange::Querying { epoch } => {
                s.exchanges[cmd] = Exchange::Querying { epoch };
                Self::send(
                    s,
                    Msg::Query {
                        mv: Mv::of(cmd, epoch),
                    },
                );
            }
        }
    }

    /// The source stops waiting while its messages are still in flight:
    /// for the fallback's acknowledgement or for the target's `+OK`, it
    /// asks the target for the outcome.
    fn time_out(s: &mut State, cmd: usize) {
        if let Exchange::Preparing { epoch, .. } | Exchange::Shipping { epoch } = s.exchanges[cmd] {
            s.exchanges[cmd] = Exchange::Querying { epoch };
            Self::send(
                s,
                Msg::Query {
                    mv: Mv::of(cmd, epoch),
                },
            );
        }
    }

    /// A power cycle: the node restarts from its persisted image and its
    /// driver rebuilds its work from the restored records: it asks the
    /// target of each move still in flight for the outcome, and owes
    /// every other node the news its records vouch for
    /// (`Node::announcements`).
    fn crash(&self, s: &mut State, n: usize) {
        s.left.crashes[n] -= 1;
        let host = &mut s.hosts[n];
        host.ram.clone_from(&host.disk);
        host.owed.clear();
        let node = self.node(s, n);
        for (cmd, c) in moves().iter().enumerate() {
            if c.from != n {
                continue;
            }
            s.exchanges[cmd] = node
                .in_flight()
                .find(|m| m.prefix == PREFIXES[c.prefix] && m.to == IDS[c.to])
                .map_or(Exchange::Idle, |m| Exchange::Querying {
                    epoch: m.epoch.get(),
                });
        }
        let news: Vec<(Mv, Status)> = node
            .announcements()
            .map(|a| (Mv::from_id(&a.id), Status::of(a.status)))
            .collect();
        for (mv, status) in news {
            for r in (0..NODES).filter(|r| *r != n) {
                s.hosts[n].owed.insert(Owed {
                    mv,
                    status,
                    to: r as u8,
                });
            }
        }
    }

    /// Whether the operator can still issue MOVE-SCOPE `cmd` and have it
    /// start.
    fn can_start(&self, s: &State, cmd: usize) -> bool {
        let c = moves()[cmd];
        s.left.issues[cmd] > 0
            && self
                .node(s, c.from)
                .start_move(PREFIXES[c.prefix], IDS[c.to])
                .is_ok()
    }

    /// The verdicts of every node for `key`, with the state's down flags.
    fn verdicts<'n>(s: &State, nodes: &'n [Kv; NODES], key: &[u8]) -> [WriteVerdict<'n>; NODES] {
        std::array::from_fn(|n| nodes[n].verdict(key, Self::is_down(s)))
    }

    fn nodes(&self, s: &State) -> [Kv; NODES] {
        std::array::from_fn(|n| self.node(s, n))
    }

    /// The one up node that accepts `key`, if exactly one does.
    fn acceptors(s: &State, verdicts: &[WriteVerdict<'_>; NODES]) -> Vec<usize> {
        (0..NODES)
            .filter(|&n| !s.down[n] && verdicts[n].is_accept())
            .collect()
    }

    /// Whether the cluster is done: no move in flight, no exchange open, no
    /// news owed, and every node's redirect reaches the one acceptor in
    /// one hop.
    fn resolved(&self, s: &State) -> Result<(), String> {
        let nodes = self.nodes(s);
        for (n, node) in nodes.iter().enumerate() {
            if let Some(m) = node.in_flight().next() {
                return Err(format!("{} still has {m:?} in flight", IDS[n]));
            }
            if !s.hosts[n].owed.is_empty() {
                return Err(format!("{} still owes {:?}", IDS[n], s.hosts[n].owed));
            }
        }
        if let Some(cmd) = s.exchanges.iter().position(|e| *e != Exchange::Idle) {
            return Err(format!("exchange {cmd} still open: {:?}", s.exchanges[cmd]));
        }
        for key in KEYS {
            let verdicts = Self::verdicts(s, &nodes, key);
            let acceptors = Self::acceptors(s, &verdicts);
            let [owner] = acceptors[..] else {
                return Err(format!(
                    "{}: acceptors {acceptors:?}, verdicts {verdicts:?}",
                    show(key)
                ));
            };
            for (n, v) in verdicts.iter().enumerate() {
                let ok = n == owner || *v == WriteVerdict::Misdirected { target: IDS[owner] };
                if !ok {
                    return Err(format!(
                        "{}: {} answers {v:?}, the acceptor is {}",
                        show(key),
                        IDS[n],
                        IDS[owner]
                    ));
                }
            }
        }
        Ok(())
    }

    /// The due retries and resends, with faults stopped.
    fn due(s: &State) -> Vec<Action> {
        let mut due = Vec::new();
        for (cmd, c) in moves().iter().enumerate() {
            if !s.down[c.from] && Self::exchange_quiet(s, cmd) {
                due.push(Action::Retry(cmd));
            }
        }
        for (n, host) in s.hosts.iter().enumerate() {
            if s.down[n] {
                continue;
            }
            for owed in &host.owed {
                if !owed.in_flight(n, &s.net) {
                    due.push(Action::Resend(n, *owed));
                }
            }
        }
        due
    }

    /// L1 from state `s`: faults stop (the writer comes back up), then a
    /// fair schedule runs, each round delivering every message in flight
    /// and then firing every due retry, until nothing is due. The cluster
    /// must go quiet within the step bound, resolved.
    fn settles(&self, s: &State) -> Result<(), String> {
        const MAX_STEPS: usize = 400;
        let mut s = s.clone();
        let mut trail: Vec<u64> = Vec::new();
        let mut steps = 0;
        let verdict = loop {
            let h = hash(&s);
            if let Some(r) = self.settled.lock().expect("no poisoned lock").get(&h) {
                break r.clone();
            }
            trail.push(h);
            if steps > MAX_STEPS {
                break Err(format!("not quiet after {MAX_STEPS} steps"));
            }
            steps += 1;
            if let Some(n) = (0..NODES).find(|&n| s.down[n]) {
                s = self.apply(&s, Action::WriterUp(n));
            } else if let Some(m) = s.net.first().copied() {
                s = self.apply(&s, Action::Deliver(m));
            } else {
                let due = Self::due(&s);
                if due.is_empty() {
                    break self.resolved(&s);
                }
                let fired = format!("{due:?}");
                for a in due {
                    // A retry fired earlier in this round may have made a
                    // later one moot (its exchange ended).
                    let mut now = Vec::new();
                    self.actions(&s, &mut now);
                    if now.contains(&a) {
                        s = self.apply(&s, a);
                    }
                }
                if trail.contains(&hash(&s)) {
                    break Err(format!("livelock: retries {fired} change nothing"));
                }
            }
        };
        let mut memo = self.settled.lock().expect("no poisoned lock");
        for h in trail {
            memo.insert(h, verdict.clone());
        }
        verdict
    }

    /// One step, whatever it changes.
    fn apply(&self, last: &State, action: Action) -> State {
        let mut s = last.clone();
        match action {
            Action::Operator(cmd) => self.operator(&mut s, cmd),
            Action::Deliver(m) => {
                s.net.remove(&m);
                self.deliver(&mut s, m);
            }
            Action::Duplicate(m) => {
                s.left.dups -= 1;
                self.deliver(&mut s, m);
                s.net.insert(m);
            }
            Action::Lose(m) => {
                s.left.losses -= 1;
                s.net.remove(&m);
            }
            Action::Retry(cmd) => Self::retry(&mut s, cmd),
            Action::EarlyTimeout(cmd) => {
                s.left.early_timeouts -= 1;
                Self::time_out(&mut s, cmd);
            }
            Action::Resend(n, owed) => Self::send(&mut s, owed.news(n)),
            Action::Persist(n) => {
                let host = &mut s.hosts[n];
                host.disk.clone_from(&host.ram);
            }
            Action::Crash(n) => self.crash(&mut s, n),
            Action::WriterDown(n) => {
                s.left.downs -= 1;
                s.down[n] = true;
                // The quorum service's hand-over (trusted): F keeps a copy
                // of the writer's keys to stand in with...
                for (k, key) in KEYS.iter().enumerate() {
                    if TABLE.lookup(key).is_some_and(|sc| sc.writer() == IDS[n]) {
                        s.hosts[F].store[k] = s.hosts[n].store[k];
                    }
                }
            }
            Action::WriterUp(n) => {
                // ...and hands back what it accepted before A accepts again.
                for k in 0..KEYS.len() {
                    if std::mem::take(&mut s.stood_in[k]) {
                        s.hosts[n].store[k] = s.hosts[F].store[k];
                    }
                }
                s.down[n] = false;
            }
            Action::Write(n, k) => {
                let value = self.budget.writes - s.left.writes + 1;
                s.left.writes -= 1;
                s.hosts[n].store[k] = Some(value);
                s.acked[k] = Some(value);
                s.stood_in[k] |= n == F && s.down[A];
            }
        }
        s
    }
}

fn image(node: &Kv) -> Vec<u8> {
    let mut buf = vec![0; node.image_len()];
    let len = node
        .encode_image(&mut buf)
        .expect("the buffer fits the image");
    buf.truncate(len);
    buf
}

fn hash(s: &State) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn show(key: &[u8]) -> &str {
    std::str::from_utf8(key).expect("ASCII keys")
}

impl Model for MoveModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let host = |n: usize| {
            let node: Kv = Node::new(IDS[n], &TABLE, MigrationTable::new()).expect("valid id");
            let img = image(&node);
            Host {
                disk: img.clone(),
                ram: img,
                store: [None; KEYS.len()],
                owed: BTreeSet::new(),
            }
        };
        vec![State {
            hosts: std::array::from_fn(host),
            exchanges: [Exchange::Idle; MOVE_COUNT],
            net: BTreeSet::new(),
            down: [false; NODES],
            acked: [None; KEYS.len()],
            stood_in: [false; KEYS.len()],
            left: self.budget,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let up = |n: usize| !s.down[n];
        for (cmd, c) in moves().iter().enumerate() {
            if s.left.issues[cmd] > 0 && up(c.from) {
                actions.push(Action::Operator(cmd));
            }
        }
        for m in &s.net {
            if up(m.dest()) {
                actions.push(Action::Deliver(*m));
                if s.left.dups > 0 {
                    actions.push(Action::Duplicate(*m));
                }
            }
            if s.left.losses > 0 {
                actions.push(Action::Lose(*m));
            }
        }
        for (cmd, c) in moves().iter().enumerate() {
            if !up(c.from) {
                continue;
            }
            if Self::exchange_quiet(s, cmd) {
                actions.push(Action::Retry(cmd));
            } else if s.left.early_timeouts > 0
                && matches!(
                    s.exchanges[cmd],
                    Exchange::Shipping { .. } | Exchange::Preparing { .. }
                )
            {
                actions.push(Action::EarlyTimeout(cmd));
            }
        }
        for (n, host) in s.hosts.iter().enumerate() {
            if !up(n) {
                continue;
            }
            for owed in &host.owed {
                if !owed.in_flight(n, &s.net) {
                    actions.push(Action::Resend(n, *owed));
                }
            }
            if host.ram != host.disk && self.rule == Rule::SendBeforePersist {
                actions.push(Action::Persist(n));
            }
        }
        for n in 0..NODES {
            if s.left.crashes[n] > 0 {
                actions.push(Action::Crash(n));
            }
        }
        if s.down[A] {
            actions.push(Action::WriterUp(A));
        } else if s.left.downs > 0 {
            actions.push(Action::WriterDown(A));
        }
        if s.left.writes > 0 {
            let nodes = self.nodes(s);
            for (n, node) in nodes.iter().enumerate() {
                if up(n) && node.verdict(KEYS[0], Self::is_down(s)).is_accept() {
                    actions.push(Action::Write(n, 0));
                }
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let next = self.apply(last, action);
        // A step that changes nothing but a budget (a refused command, a
        // restart that loses nothing) leads nowhere new: its successors
        // are a subset of `last`'s.
        let mut unspent = next.clone();
        unspent.left = last.left;
        (unspent != *last).then_some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("S1 one acceptor", |m: &MoveModel, s: &State| {
                let nodes = m.nodes(s);
                KEYS.iter()
                    .all(|key| Self::acceptors(s, &Self::verdicts(s, &nodes, key)).len() <= 1)
            }),
            Property::always("S2 no redirect cycle", |m: &MoveModel, s: &State| {
                let nodes = m.nodes(s);
                KEYS.iter().all(|key| {
                    let verdicts = Self::verdicts(s, &nodes, key);
                    (0..NODES).all(|start| {
                        let mut seen = [false; NODES];
                        let mut at = start;
                        loop {
                            if s.down[at] {
                                return true;
                            }
                            if seen[at] {
                                return false;
                            }
                            seen[at] = true;
                            match verdicts[at] {
                                WriteVerdict::Misdirected { target: to } => at = idx(to),
                                _ => return true,
                            }
                        }
                    })
                })
            }),
            Property::always(
                "S3 no acknowledged write lost",
                |m: &MoveModel, s: &State| {
                    let nodes = m.nodes(s);
                    KEYS.iter().enumerate().all(|(k, key)| {
                        let Some(value) = s.acked[k] else {
                            return true;
                        };
                        Self::acceptors(s, &Self::verdicts(s, &nodes, key))
                            .iter()
                            .all(|&n| s.hosts[n].store[k] == Some(value))
                    })
                },
            ),
            Property::always(
                "S4 quiesced only while unresolved",
                |m: &MoveModel, s: &State| {
                    let nodes = m.nodes(s);
                    KEYS.iter().all(|key| {
                        (0..NODES).all(|n| match nodes[n].verdict(key, Self::is_down(s)) {
                            WriteVerdict::Quiesced { target: to } => nodes[n]
                                .in_flight()
                                .any(|mv| key.starts_with(mv.prefix) && mv.to == to),
                            _ => true,
                        })
                    })
                },
            ),
            Property::eventually("L1 every move resolves", |m: &MoveModel, s: &State| {
                (0..MOVE_COUNT).all(|cmd| !m.can_start(s, cmd))
                    && s.net.is_empty()
                    && !s.down.iter().any(|d| *d)
                    && m.resolved(s).is_ok()
            }),
            Property::always(
                "L1 once faults stop, moves resolve and redirects take one hop",
                |m: &MoveModel, s: &State| m.settles(s).is_ok(),
            ),
            Property::sometimes("a move back commits", |m: &MoveModel, s: &State| {
                let (a, to) = (m.node(s, A), target());
                a.records()
                    .any(|(phase, id)| phase == Phase::Adopted && id.from == IDS[to])
                    && m.node(s, to).records().any(|(phase, id)| {
                        phase == Phase::Migrated && id.from == IDS[to] && id.to == IDS[A]
                    })
            }),
            Property::sometimes(
                "an outcome query aborts a move",
                |_: &MoveModel, s: &State| {
                    s.net.iter().any(|m| {
                        matches!(
                            m,
                            Msg::Answer {
                                committed: false,
                                ..
                            }
                        )
                    })
                },
            ),
            Property::sometimes("the fallback stands in", |m: &MoveModel, s: &State| {
                s.down[A] && m.node(s, F).verdict(KEYS[1], Self::is_down(s)).is_accept()
            }),
            Property::sometimes(
                "the target accepts an acknowledged write",
                |m: &MoveModel, s: &State| {
                    s.acked[0].is_some()
                        && s.hosts[target()].store[0] == s.acked[0]
                        && m.node(s, target())
                            .verdict(KEYS[0], Self::is_down(s))
                            .is_accept()
                },
            ),
        ]
    }
}

/// One line per node: its records as the crate reports them.
fn describe(m: &MoveModel, s: &State) -> String {
    let mut out = String::new();
    for (n, id) in IDS.iter().enumerate() {
        let node = m.node(s, n);
        let records: Vec<String> = node
            .records()
            .map(|(phase, id)| {
                format!(
                    "{phase:?} {} {}→{} @{}",
                    show(id.prefix),
                    id.from,
                    id.to,
                    id.epoch.get()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "    {}{}: records [{}], store {:?}, persisted == ram: {}",
            id,
            if s.down[n] { " (down)" } else { "" },
            records.join("; "),
            s.hosts[n].store,
            s.hosts[n].disk == s.hosts[n].ram,
        );
    }
    let _ = writeln!(out, "    acknowledged: {:?}", s.acked);
    out
}

fn print_path(m: &MoveModel, name: &str, path: Path<State, Action>) -> usize {
    let steps = path.clone().into_actions();
    println!("  counterexample to {name:?}, {} steps:", steps.len());
    for (i, a) in steps.iter().enumerate() {
        println!("    {:>2}. {a:?}", i + 1);
    }
    print!("{}", describe(m, path.last_state()));
    steps.len()
}

const SAFETY: [&str; 3] = [
    "S1 one acceptor",
    "S2 no redirect cycle",
    "S3 no acknowledged write lost",
];

/// Checks every state reachable within `budget`, and that the states
/// named by `reached` (`sometimes` properties) are among them.
fn check_all(name: &str, budget: Budget, reached: &[&'static str]) {
    check_all_to(B, name, budget, reached);
}

/// [`check_all`], the moves' target `to`.
fn check_all_to(to: usize, name: &str, budget: Budget, reached: &[&'static str]) {
    checking(to, || check_all_now(name, budget, reached));
}

fn check_all_now(name: &str, budget: Budget, reached: &[&'static str]) {
    let started = Instant::now();
    let checker = MoveModel::new(Rule::Kept, budget)
        .checker()
        .threads(1)
        .spawn_bfs()
        .join();
    println!(
        "{name}: {} unique states explored ({} visits), depth {}, {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    let model = checker.model();
    let properties = model.properties();
    let failures: Vec<_> = properties
        .iter()
        .filter(|p| !p.name.starts_with(char::is_lowercase))
        .filter_map(|p| checker.discovery(p.name).map(|path| (p.name, path)))
        .collect();
    for (property, path) in &failures {
        print_path(model, property, path.clone());
        if *property == properties[5].name {
            println!("    {:?}", model.settles(path.last_state()));
        }
    }
    assert!(failures.is_empty(), "{name}: a guarantee is broken");
    for property in reached {
        assert!(
            checker.discovery(property).is_some(),
            "{name}: never reached {property:?}"
        );
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn crashes_and_a_lost_message_keep_the_guarantees() {
    check_all(
        "crashes and a lost message",
        Budget::CRASHES_AND_LOSS,
        &[
            "a move back commits",
            "an outcome query aborts a move",
            "the target accepts an acknowledged write",
        ],
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn the_writer_down_and_up_keeps_the_guarantees() {
    check_all(
        "writer down and up",
        Budget::WRITER_DOWN,
        &[
            "a move back commits",
            "an outcome query aborts a move",
            "the fallback stands in",
            "the target accepts an acknowledged write",
        ],
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn a_replayed_message_keeps_the_guarantees() {
    check_all(
        "a replayed message",
        Budget::REPLAY,
        &[
            "a move back commits",
            "an outcome query aborts a move",
            "the target accepts an acknowledged write",
        ],
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn the_fallback_as_the_target_keeps_the_guarantees_under_replay_and_early_timeouts() {
    // The fallback hears of the move it is the target of (the prepare
    // news), so news delayed past its answer to an outcome query meets
    // its fence.
    check_all_to(
        F,
        "the fallback as the target, a replayed message",
        Budget::REPLAY,
        &[
            "a move back commits",
            "an outcome query aborts a move",
            "the target accepts an acknowledged write",
        ],
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn the_fallback_as_the_target_keeps_the_guarantees_under_crashes_and_loss() {
    check_all_to(
        F,
        "the fallback as the target, crashes and a lost message",
        Budget::CRASHES_AND_LOSS,
        &[
            "a move back commits",
            "an outcome query aborts a move",
            "the target accepts an acknowledged write",
        ],
    );
}

/// Checks `rule`'s mutant within `budget` until a safety guarantee
/// breaks, and prints the shortest counterexamples. (stateright keeps the
/// last failing state it met, not the first, so the depth bound grows one
/// step at a time: the first bound with a discovery gives the shortest.)
fn mutant_is_caught(rule: Rule, budget: Budget) {
    checking(B, || mutant_is_caught_now(rule, budget));
}

fn mutant_is_caught_now(rule: Rule, budget: Budget) {
    const MAX_DEPTH: usize = 40;
    let started = Instant::now();
    let mut explored = 0;
    for depth in 2..=MAX_DEPTH {
        let checker = MoveModel::new(rule, budget)
            .checker()
            .threads(1)
            .target_max_depth(depth)
            .finish_when(HasDiscoveries::AnyOf(SAFETY.into_iter().collect()))
            .spawn_bfs()
            .join();
        explored += checker.unique_state_count();
        let found: Vec<_> = SAFETY
            .iter()
            .filter_map(|name| checker.discovery(name).map(|p| (*name, p)))
            .collect();
        if found.is_empty() {
            continue;
        }
        println!(
            "{rule:?}: caught after {explored} unique states explored (depth bounds 2..={depth}), {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (name, path) in found {
            print_path(checker.model(), name, path);
        }
        return;
    }
    panic!("{rule:?}: no counterexample to S1, S2 or S3 within {MAX_DEPTH} steps");
}

#[test]
fn sending_before_persisting_breaks_a_guarantee() {
    mutant_is_caught(Rule::SendBeforePersist, Budget::CRASHES_AND_LOSS);
}

#[test]
fn without_the_epoch_fence_a_guarantee_breaks() {
    mutant_is_caught(Rule::NoEpochFence, Budget::REPLAY);
}
