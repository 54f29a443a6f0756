//! The move driver (`kevy_scope::Driver`) on three nodes, each a `Node`
//! and a `Driver` run by a host that does only what the driver's contract
//! says, through a deterministic network that delays, reorders, drops and
//! duplicates messages, and crashes nodes.
//!
//! # The cluster
//!
//! Nodes A, B and F share the table `b:` = A|F and `c:` = B|F: F is the
//! fallback of both scopes, so it hears of every move of their static
//! writers, and a target that is also the fallback is common. The
//! operator moves `b:`, `b:x:`, `b:x:y:`, `c:` and `c:z:` to random nodes,
//! at the node a client would end at most of the time.
//!
//! # The host
//!
//! Per node: its `Node`, its `Driver`, its disk (the image last written)
//! and the image being written. On `Effect::Persist` the host encodes the
//! image at once and starts a write that ends at a later step (`flush`),
//! when it calls `persisted`; a crash before then loses the write. On the
//! receiving side of a request the host calls the node straight
//! (`learn`; `check_ingest` + `adopt`; `move_outcome`), writes the image
//! at once when the step asks (which also ends any write in progress:
//! the newer image covers it) and answers. A crash restarts the node from
//! its disk with a fresh driver and `resume`. A node flagged down by the
//! quorum service processes nothing and, by its lease, accepts nothing.
//!
//! # Checks
//!
//! - After every step, never two up nodes accept a key (`Node::verdict`),
//!   and following redirects never comes back to a node (both from one
//!   look at every node's verdicts).
//! - Every `Send`, `Ship` and `Reply` the host takes from a driver names
//!   only what the node's disk already holds: the harness decodes the
//!   disk and looks for the step the message depends on (the move's start
//!   before its prepare, ship or query; its end before its news and the
//!   operator's reply).
//! - Once faults stop (every node up, every write finished, every message
//!   delivered, every timer fired): no move in flight, every driver idle,
//!   every operator command answered exactly once (unless its node
//!   crashed first), and each key has one acceptor that every other node
//!   names in one hop.
//! - The five-step trace (the target is the fallback; its in-flight news
//!   arrives after it fenced the move off) and the retry above a target's
//!   fence, scripted.
//!
//! A quarter of the runs start 20 s before the host's clock passes 2^32
//! ms (the driver keeps its deadlines modulo 2^32), a quarter at 2^40.
//!
//! # Failures
//!
//! A run is a list of explicit steps (`Step`: deliver, duplicate or lose
//! a message in flight, an operator's MOVE-SCOPE, a write that ends, time
//! that passes, a crash, a node flagged down or up) that `Sim::choose`
//! draws from the seed and `Sim::exec` takes, then the calm phase. A
//! failing seed's steps are minimised (`Failure::minimised`): chunks of
//! steps, then single steps, then each prefix's steps at once are left
//! out, and two ticks in a row merged, as long as the trace still fails
//! with the same kind of violation (a step that no longer applies does
//! nothing; a message whose epochs or times changed is matched by what it
//! says). The report prints the shortest trace found, a line per step
//! with the events it caused, then the calm phase's and the violation.
//!
//! `KEVY_DRIVER_SEEDS=a..b` runs other seeds (the 100 000-seed run:
//! `KEVY_DRIVER_SEEDS=0..100000 cargo test --release --all-features --test
//! driver -- --nocapture many_seeds`).

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Instant;

use common::{Mv, Req, Rng, idx};
use kevy_scope::{
    Driver, Epoch, MoveTable, Node, OwnershipTable, Scope, WriteVerdict,
    driver::{Answer, Effect, MoveReply, Request},
    moves::{Announcement, Ingest, MoveError, MoveStatus, Phase},
    ownership_table,
};

static TABLE: OwnershipTable<'static, 3> = ownership_table![
    Scope::new(b"b:", "A").with_fallback("F"),
    Scope::new(b"c:", "B").with_fallback("F"),
    Scope::new(b"d:", "A"),
];
const IDS: [&str; 3] = ["A", "B", "F"];
const A: usize = 0;
const B: usize = 1;
const F: usize = 2;
const NODES: usize = IDS.len();
const PREFIXES: [&[u8]; 6] = [b"b:", b"b:x:", b"b:x:y:", b"c:", b"c:z:", b"d:"];
const KEYS: [&[u8]; 6] = [b"b:k", b"b:x:k", b"b:x:y:k", b"c:k", b"c:z:k", b"d:k"];

type SimNode = Node<&'static OwnershipTable<'static, 3>, MoveTable<8>>;
type SimDriver = Driver<3, 8>;

/// Random steps of one run with faults.
const STEPS: usize = 160;
/// Rounds the calm phase may take to fall quiet.
const CALM_ROUNDS: usize = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    Req(Req),
    Ans(Req, Answer),
    /// The answer to a fence: all the peer knows.
    News(u32, Vec<(Mv, MoveStatus)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    from: usize,
    to: usize,
    body: Body,
}

impl Msg {
    /// The same message but for its epochs and times (which steps left out
    /// of a trace change): what a step of the trace delivers when the
    /// message it names is not in flight.
    fn like(&self, other: &Msg) -> bool {
        fn same(a: Req, b: Req) -> bool {
            let mv = |a: Mv, b: Mv| a.prefix == b.prefix && a.from == b.from && a.to == b.to;
            match (a, b) {
                (Req::News(a, s, _), Req::News(b, t, _)) => mv(a, b) && s == t,
                (Req::Outcome(a), Req::Outcome(b))
                | (Req::Recheck(a), Req::Recheck(b))
                | (Req::Ingest(a), Req::Ingest(b)) => mv(a, b),
                (Req::Epoch(_), Req::Epoch(_)) | (Req::Fence(_), Req::Fence(_)) => true,
                _ => false,
            }
        }
        self.from == other.from
            && self.to == other.to
            && match (&self.body, &other.body) {
                (Body::Req(a), Body::Req(b)) => same(*a, *b),
                (Body::Ans(a, x), Body::Ans(b, y)) => {
                    same(*a, *b) && std::mem::discriminant(x) == std::mem::discriminant(y)
                }
                (Body::News(..), Body::News(..)) => true,
                _ => false,
            }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}: ", IDS[self.from], IDS[self.to])?;
        match &self.body {
            Body::Req(req) => write!(f, "{req:?}"),
            Body::Ans(req, answer) => write!(f, "{answer:?}, the answer to {req:?}"),
            Body::News(fence, news) => write!(f, "the news {news:?}, the answer to Fence({fence})"),
        }
    }
}

/// One node and its host's state.
struct Host {
    node: SimNode,
    driver: SimDriver,
    /// The image on stable storage.
    disk: Vec<u8>,
    /// The node `disk` restores to.
    on_disk: SimNode,
    /// Images encoded and being written, oldest first.
    writing: VecDeque<Vec<u8>>,
    /// The last `Wake` the driver gave.
    wake: Option<u64>,
    down: bool,
}

fn image(node: &SimNode) -> Vec<u8> {
    let mut buf = vec![0; node.image_len()];
    let len = node.encode_image(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn boot(n: usize, disk: Option<&[u8]>) -> (SimNode, SimDriver) {
    let mut node = Node::new(IDS[n], &TABLE, MoveTable::new()).unwrap();
    if let Some(disk) = disk {
        // A damaged image leaves the node quarantined, to recover.
        let restored = node.restore(disk);
        assert_eq!(restored.is_err(), node.is_quarantined());
    }
    let mut driver = SimDriver::new(IDS).unwrap();
    driver
        .resume(&mut node)
        .expect("the driver holds what the node holds");
    (node, driver)
}

impl Host {
    fn write(&mut self, img: Vec<u8>) {
        self.on_disk = boot(idx(self.node.id()), Some(&img)).0;
        self.disk = img;
    }

    fn new(n: usize) -> Self {
        let (node, driver) = boot(n, None);
        let disk = image(&node);
        Host {
            on_disk: node.clone(),
            node,
            driver,
            disk,
            writing: VecDeque::new(),
            wake: None,
            down: false,
        }
    }
}

/// What the host took from a driver, owned.
#[derive(Debug)]
enum Out {
    Send(usize, Req),
    Reply(u32, MoveReply),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Two up nodes accept a key.
    TwoAcceptors,
    RedirectCycle,
    /// A message left before the step it depends on was on disk.
    SentBeforePersist,
    /// Faults stopped and the cluster did not settle.
    Unsettled,
    /// An operator's command was answered twice.
    TwoReplies,
}

#[derive(Debug)]
struct Violation {
    kind: Kind,
    what: String,
}

fn violation(kind: Kind, what: impl Into<String>) -> Violation {
    Violation {
        kind,
        what: what.into(),
    }
}

/// An operator's command and what it heard.
struct Command {
    prefix: &'static [u8],
    replies: Vec<MoveReply>,
    /// Its node crashed before replying: the connection is gone.
    orphaned: bool,
}

#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    started: u64,
    committed: u64,
    aborted: u64,
    try_again: u64,
    crashes: u64,
    dropped: u64,
    duplicated: u64,
    delivered: u64,
    ships: u64,
    outbox_full: u64,
    lost_images: u64,
    recovered: u64,
    calm_rounds: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.started += o.started;
        self.committed += o.committed;
        self.aborted += o.aborted;
        self.try_again += o.try_again;
        self.crashes += o.crashes;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.delivered += o.delivered;
        self.ships += o.ships;
        self.outbox_full += o.outbox_full;
        self.lost_images += o.lost_images;
        self.recovered += o.recovered;
        self.calm_rounds = self.calm_rounds.max(o.calm_rounds);
    }
}

struct Sim {
    rng: Rng,
    now: u64,
    hosts: Vec<Host>,
    net: Vec<Msg>,
    commands: BTreeMap<(usize, u32), Command>,
    /// Check every message against the disk.
    track: bool,
    /// A host that answers peers without writing the driver's steps first
    /// (only for the test that shows why it must).
    lax: bool,
    /// A host that answers a recovering peer's fence without fencing
    /// (only for the test that shows why it must).
    no_fence: bool,
    stats: Stats,
    logging: bool,
    log: Vec<String>,
}

impl Sim {
    fn new(seed: u64) -> Self {
        Sim {
            rng: Rng(seed),
            // Some runs cross the 2^32 ms the driver keeps its deadlines
            // modulo, and some start far beyond it.
            now: match seed % 4 {
                1 => (1 << 32) - 20_000,
                2 => (1 << 40) + 7,
                _ => 0,
            },
            hosts: (0..NODES).map(Host::new).collect(),
            net: Vec::new(),
            commands: BTreeMap::new(),
            track: true,
            lax: false,
            no_fence: false,
            stats: Stats::default(),
            logging: false,
            log: Vec::new(),
        }
    }

    /// Keeps `line` for a failure report (only when replaying a failed
    /// seed: formatting every event would be most of a run's time).
    fn note(&mut self, line: impl FnOnce() -> String) {
        if !self.logging {
            return;
        }
        if self.log.len() >= 200 {
            self.log.remove(0);
        }
        let line = format!("t={} {}", self.now, line());
        self.log.push(line);
    }

    // ----- the host ------------------------------------------------------

    /// Takes every effect node `n`'s driver has now.
    fn pump(&mut self, n: usize) -> Result<(), Violation> {
        let now = self.now;
        let mut outs = Vec::new();
        let h = &mut self.hosts[n];
        while let Some(effect) = h.driver.poll(&h.node, now) {
            match effect {
                // Encoded now, before any other call; written later.
                Effect::Persist => h.writing.push_back(image(&h.node)),
                Effect::Send {
                    to,
                    request: request @ (Request::Epoch { .. } | Request::Fence(_)),
                } => outs.push(Out::Send(idx(to), Req::of(&request))),
                Effect::Send { to, request } => outs.push(Out::Send(idx(to), Req::of(&request))),
                Effect::Ship { to, id } => outs.push(Out::Send(idx(to), Req::Ingest(Mv::of(&id)))),
                Effect::Reply { ticket, reply } => outs.push(Out::Reply(ticket.get(), reply)),
                Effect::Wake { at } => {
                    assert!(at > now, "a wake-up in the past: {at} at {now}");
                    h.wake = Some(at);
                }
            }
        }
        for out in outs {
            self.durable(n, &out)?;
            match out {
                Out::Send(to, req) => {
                    if matches!(req, Req::Ingest(_)) {
                        self.stats.ships += 1;
                    }
                    self.note(|| format!("{} sends {req:?} to {}", IDS[n], IDS[to]));
                    self.net.push(Msg {
                        from: n,
                        to,
                        body: Body::Req(req),
                    });
                }
                Out::Reply(ticket, reply) => {
                    self.note(|| format!("{} replies {reply:?} to command {ticket}", IDS[n]));
                    match reply {
                        MoveReply::Committed { .. } => self.stats.committed += 1,
                        MoveReply::Aborted => self.stats.aborted += 1,
                        _ => self.stats.try_again += 1,
                    }
                    let c = self
                        .commands
                        .get_mut(&(n, ticket))
                        .unwrap_or_else(|| panic!("a reply to no command: {ticket}"));
                    c.replies.push(reply);
                    if c.replies.len() > 1 {
                        return Err(violation(
                            Kind::TwoReplies,
                            format!("command {ticket} on {}: {:?}", IDS[n], c.replies),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The tracking check: what `out` says of node `n` is on its disk.
    fn durable(&self, n: usize, out: &Out) -> Result<(), Violation> {
        if !self.track {
            return Ok(());
        }
        let disk = &self.hosts[n].on_disk;
        let record = |prefix: &[u8]| {
            disk.records()
                .find(|(_, m)| m.prefix == prefix)
                .map(|(phase, m)| (phase, m.epoch.get(), m.from == IDS[n]))
        };
        // A record of a wider prefix, newer than `e`: it dropped the
        // prefix's own record when it settled (only after it).
        let covered = |prefix: &[u8], e: u32| {
            disk.records().any(|(_, m)| {
                m.prefix.len() < prefix.len() && prefix.starts_with(m.prefix) && m.epoch.get() > e
            })
        };
        let ok = match *out {
            // A quarantined node holds nothing on disk to depend on.
            Out::Send(_, Req::Epoch(_) | Req::Fence(_)) => true,
            Out::Send(_, Req::News(mv, MoveStatus::InFlight, _))
            | Out::Send(_, Req::Ingest(mv)) => {
                record(mv.prefix) == Some((Phase::Moving, mv.epoch, true))
            }
            Out::Send(_, Req::Outcome(mv) | Req::Recheck(mv)) => {
                record(mv.prefix).is_some_and(|(_, e, _)| e >= mv.epoch)
            }
            Out::Send(_, Req::News(mv, _, _)) if covered(mv.prefix, mv.epoch) => true,
            Out::Send(_, Req::News(mv, status, _)) => match record(mv.prefix) {
                Some((_, e, _)) if e > mv.epoch => true,
                Some((phase, e, _)) if e == mv.epoch && mv.from != n => phase != Phase::Moving,
                Some((phase, e, true)) if e == mv.epoch => {
                    phase
                        == if status == MoveStatus::Committed {
                            Phase::Moved
                        } else {
                            Phase::Adopted
                        }
                }
                _ => false,
            },
            Out::Reply(ticket, MoveReply::Committed { .. } | MoveReply::Aborted) => {
                // Resolved on disk, or a later command's move of the
                // prefix started there (which it could only after).
                let prefix = self.commands[&(n, ticket)].prefix;
                let later = |e: u32| {
                    self.commands
                        .iter()
                        .any(|(&(m, t), c)| m == n && t > ticket && t <= e && c.prefix == prefix)
                };
                covered(prefix, ticket)
                    || record(prefix).is_some_and(|(phase, e, _)| {
                        e >= ticket && (phase != Phase::Moving || later(e))
                    })
            }
            Out::Reply(..) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(violation(
                Kind::SentBeforePersist,
                format!(
                    "{} hands out {out:?} while its disk holds {:?}",
                    IDS[n],
                    disk.records()
                        .map(|(p, m)| (p, Mv::of(&m)))
                        .collect::<Vec<_>>()
                ),
            ))
        }
    }

    /// The oldest write in progress ends.
    fn flush(&mut self, n: usize) -> Result<(), Violation> {
        let h = &mut self.hosts[n];
        if let Some(img) = h.writing.pop_front() {
            h.write(img);
            h.driver.persisted();
            self.note(|| format!("{} persisted", IDS[n]));
        }
        self.pump(n)
    }

    /// Before an answer leaves: the node's image written, after every
    /// write in progress, when the step or the driver asks.
    fn persist_now(&mut self, n: usize) {
        let h = &mut self.hosts[n];
        h.driver.persisting();
        h.writing.push_back(image(&h.node));
        while let Some(img) = h.writing.pop_front() {
            h.write(img);
            h.driver.persisted();
        }
    }

    /// The receiving side of a request, on the node.
    fn respond(&mut self, n: usize, from: usize, req: Req) -> Body {
        let node = &mut self.hosts[n].node;
        let (answer, persist) = match req {
            Req::Epoch(_) if node.is_quarantined() => (Answer::Refused, false),
            Req::Epoch(_) => (Answer::Epoch(node.known_epoch()), false),
            Req::Fence(_) if self.no_fence && !node.is_quarantined() => {
                let news = node.news().map(|a| (Mv::of(&a.id), a.status)).collect();
                return Body::News(fence_of(req), news);
            }
            Req::Fence(fence) => match node.fence(IDS[from], Epoch::new(fence)) {
                Ok(d) => {
                    if d.must_persist() || self.hosts[n].driver.must_persist() {
                        self.persist_now(n);
                    }
                    let news = self.hosts[n]
                        .node
                        .news()
                        .map(|a| (Mv::of(&a.id), a.status))
                        .collect();
                    return Body::News(fence, news);
                }
                Err(_) => (Answer::Refused, false),
            },
            Req::News(mv, status, sent) => match node.learn(
                &Announcement {
                    id: mv.id(),
                    status,
                },
                Epoch::new(sent),
            ) {
                Ok(d) => (Answer::Learned, d.must_persist()),
                Err(MoveError::Stale { .. }) => (Answer::Stale, false),
                Err(_) => (Answer::Refused, false),
            },
            Req::Outcome(mv) | Req::Recheck(mv) => match node.move_outcome(&mv.id()) {
                Ok(d) => (Answer::Outcome(d.into_inner()), d.must_persist()),
                Err(_) => (Answer::Refused, false),
            },
            Req::Ingest(mv) => match node.check_ingest(&mv.id()) {
                // (the keys are applied here)
                Ok(Ingest::Apply) => match node.adopt(&mv.id()) {
                    Ok(d) => (Answer::Ingested { keys: 1 }, d.must_persist()),
                    Err(e) => panic!("adopt refused what check_ingest let through: {e:?}"),
                },
                Ok(_) => (Answer::Ingested { keys: 1 }, false),
                Err(MoveError::Stale { .. }) => (Answer::Stale, false),
                Err(_) => (Answer::Refused, false),
            },
        };
        if persist || (self.hosts[n].driver.must_persist() && !self.lax) {
            self.persist_now(n);
        }
        Body::Ans(req, answer)
    }

    fn deliver(&mut self, msg: Msg) -> Result<(), Violation> {
        let n = msg.to;
        self.stats.delivered += 1;
        match msg.body {
            Body::Req(req) => {
                let answer = self.respond(n, msg.from, req);
                let h = &self.hosts[n];
                if self.track && !h.node.is_quarantined() && image(&h.node) != h.disk {
                    return Err(violation(
                        Kind::SentBeforePersist,
                        format!("{} answers {req:?} before its image is on disk", IDS[n]),
                    ));
                }
                self.note(|| match &answer {
                    Body::Ans(_, a) => format!("{} answers {req:?}: {a:?}", IDS[n]),
                    body => format!("{} answers {req:?}: {body:?}", IDS[n]),
                });
                self.net.push(Msg {
                    from: n,
                    to: msg.from,
                    body: answer,
                });
            }
            Body::News(fence, news) => {
                let h = &mut self.hosts[n];
                let told = news.iter().map(|&(mv, status)| Announcement {
                    id: mv.id(),
                    status,
                });
                let was = h.driver.is_recovering();
                h.driver
                    .recovered(&mut h.node, IDS[msg.from], Epoch::new(fence), told)
                    .unwrap_or_else(|e| panic!("{}: recovery refused news: {e:?}", IDS[n]));
                if was && !h.driver.is_recovering() {
                    self.stats.recovered += 1;
                    self.note(|| format!("{} recovered", IDS[n]));
                }
            }
            Body::Ans(req, answer) => {
                let h = &mut self.hosts[n];
                match h
                    .driver
                    .answer(&mut h.node, IDS[msg.from], req.request(), answer)
                {
                    Ok(()) => {}
                    Err(kevy_scope::driver::DriverError::OutboxFull { .. }) => {
                        self.stats.outbox_full += 1
                    }
                    Err(e) => panic!("{}: the driver refused an answer: {e:?}", IDS[n]),
                }
            }
        }
        self.pump(n)
    }

    /// Node `n` crashes and restarts from its disk; with `damaged`, the
    /// disk's image is damaged first and the node recovers from its peers.
    fn crash(&mut self, n: usize, damaged: bool) -> Result<(), Violation> {
        self.stats.crashes += 1;
        let h = &mut self.hosts[n];
        if damaged {
            self.stats.lost_images += 1;
            let at = h.disk.len() / 2;
            h.disk[at] ^= 0x20;
        }
        let (node, driver) = boot(n, Some(&h.disk));
        if damaged {
            h.on_disk = node.clone();
        }
        h.node = node;
        h.driver = driver;
        h.writing.clear();
        h.wake = None;
        for ((m, _), c) in self.commands.iter_mut() {
            if *m == n && c.replies.is_empty() {
                c.orphaned = true;
            }
        }
        self.note(|| {
            let how = if damaged { " with a damaged image" } else { "" };
            format!("{} crashes and restarts{how}", IDS[n])
        });
        self.pump(n)
    }

    fn operator(&mut self, n: usize, prefix: &'static [u8], to: usize) -> Result<(), Violation> {
        let h = &mut self.hosts[n];
        let started = h.driver.start(&mut h.node, prefix, IDS[to]);
        self.note(|| {
            format!(
                "MOVE-SCOPE {} TO {} on {}: {started:?}",
                String::from_utf8_lossy(prefix),
                IDS[to],
                IDS[n]
            )
        });
        if let Ok(ticket) = started {
            self.stats.started += 1;
            self.commands.insert(
                (n, ticket.get()),
                Command {
                    prefix,
                    replies: Vec::new(),
                    orphaned: false,
                },
            );
        }
        self.pump(n)
    }

    /// Fires node `n`'s timer if it is due.
    fn timer(&mut self, n: usize) -> Result<(), Violation> {
        let h = &mut self.hosts[n];
        if h.down || h.wake.is_none_or(|at| at > self.now) {
            return Ok(());
        }
        // A timer fires once; the driver arms the next one.
        h.wake = None;
        self.pump(n)
    }

    // ----- what clients see ------------------------------------------------

    fn verdict(&self, n: usize, key: &[u8]) -> WriteVerdict<'_> {
        let down = |id: &str| self.hosts[idx(id)].down;
        self.hosts[n].node.verdict(key, down)
    }

    /// Every node's verdict on every key, in `KEYS`' order.
    fn verdicts(&self) -> [[WriteVerdict<'_>; NODES]; KEYS.len()] {
        KEYS.map(|key| std::array::from_fn(|n| self.verdict(n, key)))
    }

    /// Both checks, from one look at the nodes (after every step).
    fn check(&self) -> Result<(), Violation> {
        let verdicts = self.verdicts();
        self.safety_in(&verdicts)?;
        no_cycle_in(&verdicts)
    }

    fn check_safety(&self) -> Result<(), Violation> {
        self.safety_in(&self.verdicts())
    }

    /// Following redirects never comes back to a node.
    fn check_no_cycle(&self) -> Result<(), Violation> {
        no_cycle_in(&self.verdicts())
    }

    /// Never two up nodes accept a key.
    fn safety_in(&self, verdicts: &[[WriteVerdict<'_>; NODES]]) -> Result<(), Violation> {
        for (key, of) in KEYS.iter().zip(verdicts) {
            let accepts = |n: &usize| !self.hosts[*n].down && of[*n].is_accept();
            if (0..NODES).filter(accepts).count() > 1 {
                let acceptors: Vec<&str> = (0..NODES).filter(accepts).map(|n| IDS[n]).collect();
                return Err(violation(
                    Kind::TwoAcceptors,
                    format!("{} accepted by {acceptors:?}", String::from_utf8_lossy(key)),
                ));
            }
        }
        Ok(())
    }

    // ----- the run ----------------------------------------------------------

    /// Where an operator sends MOVE-SCOPE `prefix`: where a client for a
    /// key under it ends, most of the time; anywhere otherwise.
    fn operator_guess(&mut self, prefix: &[u8]) -> usize {
        let mut at = self.rng.below(NODES);
        if self.rng.chance(80)
            && let Some(key) = KEYS.iter().find(|k| k.starts_with(prefix))
        {
            for _ in 0..NODES {
                match self.verdict(at, key) {
                    WriteVerdict::Misdirected { target } => at = idx(target),
                    _ => break,
                }
            }
        }
        at
    }

    /// The seed's next random step, chosen from what the cluster is now
    /// (`None`: the roll does nothing). It only reads the cluster: `exec`
    /// takes the step.
    fn choose(&mut self) -> Option<Step> {
        let roll = self.rng.below(100);
        let step = match roll {
            0..=43 if !self.net.is_empty() => {
                let msg = &self.net[self.rng.below(self.net.len())];
                match roll {
                    0..=34 if !self.hosts[msg.to].down => Step::Deliver(msg.clone()),
                    35..=38 if !self.hosts[msg.to].down => Step::Duplicate(msg.clone()),
                    39..=43 => Step::Drop(msg.clone()),
                    _ => return None,
                }
            }
            44..=53 => {
                let prefix = PREFIXES[self.rng.below(PREFIXES.len())];
                let n = self.operator_guess(prefix);
                let to = self.rng.below(NODES);
                if self.hosts[n].down {
                    return None;
                }
                Step::Operator { n, prefix, to }
            }
            54..=70 => Step::Flush(self.rng.below(NODES)),
            71..=88 => Step::Tick(1 + self.rng.below(2_000) as u64),
            89..=92 => {
                let n = self.rng.below(NODES);
                let damaged = self.alone() && self.rng.chance(25);
                Step::Crash { n, damaged }
            }
            93..=96 => {
                let n = self.rng.below(NODES);
                Step::Flag {
                    n,
                    down: !self.hosts[n].down,
                }
            }
            _ => return None,
        };
        Some(step)
    }

    /// No node has lost its records: one node recovers at a time (a peer
    /// that lost its records too cannot tell what it knew).
    fn alone(&self) -> bool {
        !self
            .hosts
            .iter()
            .any(|h| h.node.is_quarantined() || h.on_disk.is_quarantined())
    }

    /// Takes `step` and checks the cluster after it. `Ok(false)`: the step
    /// does not apply any more and did nothing (its message is not in
    /// flight, its node is down, a second node would lose its records),
    /// so a trace with steps left out still runs. A message not in flight
    /// stands for the first in flight like it (`Msg::like`), which the
    /// step names from then on.
    fn exec(&mut self, step: &mut Step) -> Result<bool, Violation> {
        match step {
            Step::Deliver(msg) => {
                let Some(i) = self.in_flight(msg, true) else {
                    return Ok(false);
                };
                let msg = self.net.swap_remove(i);
                self.deliver(msg)?;
            }
            Step::Duplicate(msg) => {
                let Some(i) = self.in_flight(msg, true) else {
                    return Ok(false);
                };
                self.stats.duplicated += 1;
                self.deliver(self.net[i].clone())?;
            }
            Step::Drop(msg) => {
                let Some(i) = self.in_flight(msg, false) else {
                    return Ok(false);
                };
                let msg = self.net.swap_remove(i);
                self.stats.dropped += 1;
                self.note(|| format!("lost: {msg}"));
            }
            &mut Step::Operator { n, prefix, to } => {
                if self.hosts[n].down {
                    return Ok(false);
                }
                self.operator(n, prefix, to)?;
            }
            &mut Step::Flush(n) => self.flush(n)?,
            &mut Step::Tick(ms) => {
                self.now += ms;
                for n in 0..NODES {
                    self.timer(n)?;
                }
            }
            &mut Step::Crash { n, damaged } => {
                if damaged && !self.alone() {
                    return Ok(false);
                }
                self.crash(n, damaged)?;
            }
            &mut Step::Flag { n, down } => {
                if self.hosts[n].down == down {
                    return Ok(false);
                }
                self.hosts[n].down = down;
                self.note(|| format!("{} flagged {}", IDS[n], if down { "down" } else { "up" }));
                if !down {
                    self.pump(n)?;
                }
            }
        }
        self.check()?;
        Ok(true)
    }

    /// Where `msg` is in flight, or else the first message like it, which
    /// `msg` becomes (`None` too when it is for a node that is down and
    /// `arrives`).
    fn in_flight(&self, msg: &mut Msg, arrives: bool) -> Option<usize> {
        if arrives && self.hosts[msg.to].down {
            return None;
        }
        if let Some(i) = self.net.iter().position(|m| m == msg) {
            return Some(i);
        }
        let i = self.net.iter().position(|m| m.like(msg))?;
        msg.clone_from(&self.net[i]);
        Some(i)
    }

    /// Faults stop: every node up, every write and message through, every
    /// timer fired, until nothing is left.
    fn calm(&mut self) -> Result<(), Violation> {
        for h in &mut self.hosts {
            h.down = false;
        }
        for round in 0..CALM_ROUNDS {
            for n in 0..NODES {
                self.flush(n)?;
            }
            while !self.net.is_empty() {
                let msg = self.net.remove(0);
                self.deliver(msg)?;
                self.check_safety()?;
            }
            let quiet = self
                .hosts
                .iter()
                .all(|h| h.writing.is_empty() && h.driver.is_idle());
            if quiet {
                self.stats.calm_rounds = round as u64;
                return self.check_settled();
            }
            let next = self.hosts.iter().filter_map(|h| h.wake).min();
            if let Some(at) = next {
                self.now = self.now.max(at);
            }
            for n in 0..NODES {
                self.timer(n)?;
            }
        }
        Err(violation(
            Kind::Unsettled,
            format!(
                "not quiet after {CALM_ROUNDS} rounds: {:?}",
                self.hosts
                    .iter()
                    .map(|h| (h.driver.is_idle(), h.writing.len(), h.wake))
                    .collect::<Vec<_>>()
            ),
        ))
    }

    fn check_settled(&self) -> Result<(), Violation> {
        self.check_no_cycle()?;
        for (n, h) in self.hosts.iter().enumerate() {
            if let Some(m) = h.node.in_flight().next() {
                return Err(violation(
                    Kind::Unsettled,
                    format!("{} still moves {:?}", IDS[n], Mv::of(&m)),
                ));
            }
        }
        for ((n, ticket), c) in &self.commands {
            if c.replies.is_empty() && !c.orphaned {
                return Err(violation(
                    Kind::Unsettled,
                    format!("command {ticket} on {} never answered", IDS[*n]),
                ));
            }
        }
        for key in KEYS {
            let acceptors: Vec<usize> = (0..NODES)
                .filter(|&n| self.verdict(n, key).is_accept())
                .collect();
            let [owner] = acceptors[..] else {
                return Err(violation(
                    Kind::Unsettled,
                    format!(
                        "{} has acceptors {acceptors:?}",
                        String::from_utf8_lossy(key)
                    ),
                ));
            };
            for n in (0..NODES).filter(|&n| n != owner) {
                let v = self.verdict(n, key);
                if v != (WriteVerdict::Misdirected { target: IDS[owner] }) {
                    return Err(violation(
                        Kind::Unsettled,
                        format!(
                            "{} on {}: {v:?}, owner {}",
                            String::from_utf8_lossy(key),
                            IDS[n],
                            IDS[owner]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Following redirects (`verdicts`, as `Sim::verdicts`) never comes back
/// to a node.
fn no_cycle_in(verdicts: &[[WriteVerdict<'_>; NODES]]) -> Result<(), Violation> {
    for (key, of) in KEYS.iter().zip(verdicts) {
        for start in 0..NODES {
            // A path with no node twice has at most NODES of them.
            let mut seen = [start; NODES];
            let mut len = 1;
            let mut at = start;
            while let WriteVerdict::Misdirected { target } = of[at] {
                at = idx(target);
                if seen[..len].contains(&at) {
                    return Err(violation(
                        Kind::RedirectCycle,
                        format!(
                            "{}: {:?} then {at}",
                            String::from_utf8_lossy(key),
                            &seen[..len]
                        ),
                    ));
                }
                seen[len] = at;
                len += 1;
            }
        }
    }
    Ok(())
}

/// One step of a run, explicit: what `Sim::choose` draws from the seed,
/// and what `Sim::exec` takes. A run is its steps, then the calm phase.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// The first message in flight equal to this one arrives (or, in a
    /// trace with steps left out, the first like it: `Sim::in_flight`).
    Deliver(Msg),
    /// A copy of it arrives; it stays in flight.
    Duplicate(Msg),
    /// It is lost.
    Drop(Msg),
    /// The operator sends MOVE-SCOPE to node `n`.
    Operator {
        n: usize,
        prefix: &'static [u8],
        to: usize,
    },
    /// Node `n`'s oldest write in progress ends.
    Flush(usize),
    /// Time passes; every timer due fires.
    Tick(u64),
    /// Node `n` crashes and restarts from its disk, damaged or not.
    Crash { n: usize, damaged: bool },
    /// The quorum service flags node `n` down or up.
    Flag { n: usize, down: bool },
}

impl Step {
    /// The prefix whose move the step takes part in.
    fn prefix(&self) -> Option<&'static [u8]> {
        match self {
            Step::Deliver(msg) | Step::Duplicate(msg) | Step::Drop(msg) => match msg.body {
                Body::Req(req) | Body::Ans(req, _) => match req {
                    Req::News(mv, _, _) | Req::Outcome(mv) | Req::Recheck(mv) | Req::Ingest(mv) => {
                        Some(mv.prefix)
                    }
                    Req::Epoch(_) | Req::Fence(_) => None,
                },
                Body::News(..) => None,
            },
            Step::Operator { prefix, .. } => Some(prefix),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Deliver(msg) => write!(f, "deliver {msg}"),
            Step::Duplicate(msg) => write!(f, "deliver a copy of {msg}"),
            Step::Drop(msg) => write!(f, "lose {msg}"),
            Step::Operator { n, prefix, to } => write!(
                f,
                "the operator sends MOVE-SCOPE {} TO {} to {}",
                String::from_utf8_lossy(prefix),
                IDS[*to],
                IDS[*n]
            ),
            Step::Flush(n) => write!(f, "{}'s oldest write in progress ends", IDS[*n]),
            Step::Tick(ms) => write!(f, "{ms} ms pass; the timers due fire"),
            Step::Crash { n, damaged: false } => write!(f, "{} crashes", IDS[*n]),
            Step::Crash { n, damaged: true } => {
                write!(f, "{} crashes and its image is damaged", IDS[*n])
            }
            Step::Flag { n, down } => write!(
                f,
                "the quorum service flags {} {}",
                IDS[*n],
                if *down { "down" } else { "up" }
            ),
        }
    }
}

/// The harness's switches for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Setup {
    /// Check every message against the disk.
    track: bool,
    /// See `Sim::lax`.
    lax: bool,
    /// See `Sim::no_fence`.
    no_fence: bool,
}

impl Setup {
    /// The host as the driver's contract has it, tracked.
    const STRICT: Setup = Setup {
        track: true,
        lax: false,
        no_fence: false,
    };
}

impl Sim {
    fn with(seed: u64, setup: Setup) -> Self {
        let mut sim = Sim::new(seed);
        sim.track = setup.track;
        sim.lax = setup.lax;
        sim.no_fence = setup.no_fence;
        sim
    }
}

/// A failed run: its steps up to the violation.
struct Failure {
    seed: u64,
    setup: Setup,
    violation: Violation,
    steps: Vec<Step>,
    /// The steps the seed's run took up to the violation.
    generated: usize,
    /// Replays the minimiser took (0: not minimised).
    replays: usize,
    /// With the report: the events each step caused, then the calm
    /// phase's (`replay`).
    events: Vec<Vec<String>>,
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}", self.seed)?;
        if self.setup != Setup::STRICT {
            write!(f, " ({:?})", self.setup)?;
        }
        writeln!(f, ": {:?}: {}", self.violation.kind, self.violation.what)?;
        if self.replays > 0 {
            writeln!(
                f,
                "minimised from {} steps to {} ({} replays):",
                self.generated,
                self.steps.len(),
                self.replays
            )?;
        } else {
            writeln!(f, "{} steps:", self.steps.len())?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "{:4}. {step}", i + 1)?;
            for line in self.events.get(i).into_iter().flatten() {
                writeln!(f, "        {line}")?;
            }
        }
        if let Some(calm) = self.events.get(self.steps.len()) {
            writeln!(f, "      then faults stop:")?;
            for line in calm {
                writeln!(f, "        {line}")?;
            }
        }
        writeln!(
            f,
            "      {:?}: {}",
            self.violation.kind, self.violation.what
        )?;
        if self.setup == Setup::STRICT {
            write!(
                f,
                "replay: KEVY_DRIVER_SEEDS={}..{} cargo test --all-features --test driver -- many_seeds",
                self.seed,
                self.seed + 1
            )?;
        }
        Ok(())
    }
}

/// The seed's run: `STEPS` random steps, then the calm phase.
fn run(seed: u64, setup: Setup) -> Result<Stats, Failure> {
    let mut sim = Sim::with(seed, setup);
    let mut steps = Vec::with_capacity(STEPS);
    let mut result = Ok(());
    for _ in 0..STEPS {
        if let Some(mut step) = sim.choose() {
            match sim.exec(&mut step) {
                Ok(applied) => steps.extend(applied.then_some(step)),
                Err(v) => {
                    steps.push(step);
                    result = Err(v);
                    break;
                }
            }
        }
    }
    match result.and_then(|()| sim.calm()) {
        Ok(()) => Ok(sim.stats),
        Err(violation) => Err(Failure {
            seed,
            setup,
            violation,
            generated: steps.len(),
            steps,
            replays: 0,
            events: Vec::new(),
        }),
    }
}

/// Takes `steps` on the seed's cluster, then the calm phase: the steps
/// as taken (each message as delivered, the steps that did nothing left
/// out) up to the violation, and the violation if one came. With
/// `events`, keeps the events of each step taken, then the calm phase's.
fn replay(
    seed: u64,
    setup: Setup,
    steps: &[Step],
    mut events: Option<&mut Vec<Vec<String>>>,
) -> (Vec<Step>, Result<(), Violation>) {
    let mut sim = Sim::with(seed, setup);
    sim.logging = events.is_some();
    let mut taken = Vec::with_capacity(steps.len());
    for step in steps {
        let mut step = step.clone();
        let result = sim.exec(&mut step);
        if !matches!(result, Ok(false)) {
            taken.push(step);
            if let Some(events) = events.as_deref_mut() {
                events.push(std::mem::take(&mut sim.log));
            }
        }
        if let Err(v) = result {
            return (taken, Err(v));
        }
    }
    let result = sim.calm();
    if let Some(events) = events {
        events.push(sim.log);
    }
    (taken, result)
}

impl Failure {
    /// The shortest trace found that fails the same way (delta
    /// debugging: leaves out chunks of steps, halving them down to single
    /// steps, until no single step can go), with its events.
    fn minimised(mut self) -> Self {
        let kind = self.violation.kind;
        let (seed, setup) = (self.seed, self.setup);
        let mut replays = 0;
        // The steps `candidate` takes, if it fails the same way.
        let mut fails = |candidate: &[Step]| {
            replays += 1;
            match replay(seed, setup, candidate, None) {
                (taken, Err(v)) if v.kind == kind => Some(taken),
                _ => None,
            }
        };
        let mut steps = std::mem::take(&mut self.steps);
        assert_eq!(
            fails(&steps).as_ref(),
            Some(&steps),
            "the seed's steps replay to the same failure"
        );
        // Keeps `candidate`'s steps if it fails the same way.
        let mut keep = |steps: &mut Vec<Step>, candidate: Vec<Step>| {
            fails(&candidate).map(|taken| *steps = taken).is_some()
        };
        let mut chunk = steps.len().div_ceil(2).max(1);
        loop {
            let mut shorter = false;
            let mut at = 0;
            while at < steps.len() {
                let end = (at + chunk).min(steps.len());
                let candidate = steps[..at].iter().chain(&steps[end..]).cloned().collect();
                if keep(&mut steps, candidate) {
                    shorter = true;
                } else {
                    at = end;
                }
            }
            if chunk > 1 {
                chunk = chunk.div_ceil(2);
                continue;
            }
            // Single steps: then every step of one prefix's moves at
            // once, then two ticks in a row as one.
            for prefix in PREFIXES {
                let candidate = steps
                    .iter()
                    .filter(|s| s.prefix() != Some(prefix))
                    .cloned()
                    .collect::<Vec<_>>();
                if candidate.len() < steps.len() && keep(&mut steps, candidate) {
                    shorter = true;
                }
            }
            at = 0;
            while at + 1 < steps.len() {
                if let [Step::Tick(a), Step::Tick(b)] = steps[at..at + 2] {
                    let mut candidate = steps.clone();
                    candidate.splice(at..at + 2, [Step::Tick(a + b)]);
                    if keep(&mut steps, candidate) {
                        shorter = true;
                        continue;
                    }
                }
                at += 1;
            }
            if !shorter {
                break;
            }
        }
        let mut events = Vec::new();
        let (taken, result) = replay(seed, setup, &steps, Some(&mut events));
        let violation = result.expect_err("the minimised trace fails");
        assert_eq!((&taken, violation.kind), (&steps, kind));
        Failure {
            violation,
            steps,
            replays,
            events,
            ..self
        }
    }
}

fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(spec) = std::env::var("KEVY_DRIVER_SEEDS") else {
        return default;
    };
    let (a, b) = spec.split_once("..").expect("KEVY_DRIVER_SEEDS=a..b");
    a.parse().unwrap()..b.parse().unwrap()
}

#[test]
fn many_seeds() {
    let range = seeds(0..3_000);
    let count = range.end - range.start;
    let began = Instant::now();
    let mut total = Stats::default();
    for seed in range {
        match run(seed, Setup::STRICT) {
            Ok(stats) => total.add(&stats),
            Err(failure) => panic!("{:?}", failure.minimised()),
        }
    }
    println!(
        "{count} seeds in {:.2?}: {total:?} (calm_rounds is the most any run took)",
        began.elapsed()
    );
    assert!(total.committed > 0 && total.aborted > 0 && total.try_again > 0);
    assert!(total.crashes > 0 && total.dropped > 0 && total.duplicated > 0);
    assert!(total.lost_images > 0 && total.recovered > 0);
}

/// The seeds of the 1 000 000-seed runs that found a library bug, each
/// passing since its fix: a node that lost its records twice (206 818),
/// a target's commit told after it lost its records (179 550), a
/// fallback's stale pending move (588 011), and news a node sent before
/// it lost its records learned after its recovery's fence (311 843,
/// 933 270).
#[test]
fn the_seeds_that_found_a_bug_pass() {
    for seed in [206_818, 179_550, 588_011, 311_843, 933_270] {
        if let Err(failure) = run(seed, Setup::STRICT) {
            panic!("{:?}", failure.minimised());
        }
    }
}

/// The mutant: a node learns news a recovered peer sent before it lost
/// its records. The seed that found it fails again: a peer is left two
/// hops from the owner.
#[cfg(kevy_mutants)]
#[test]
fn without_the_fence_on_news_a_guarantee_breaks() {
    kevy_scope::mutants::learn_late_news(true);
    let failed = run(311_843, Setup::STRICT).err().map(Failure::minimised);
    kevy_scope::mutants::learn_late_news(false);
    let failed = failed.expect("seed 311 843 fails without the fence on news");
    assert_eq!(failed.violation.kind, Kind::Unsettled, "{failed:?}");
    println!("without the fence on news: {failed:?}");
}

/// Minimises the failure `setup` gives on `seed`, which must be of
/// `kind`: the trace is shorter than the seed's, replays to the same
/// kind of violation, no single step of it can go, and the report shows
/// each step on a line of its own.
fn minimise(seed: u64, setup: Setup, kind: Kind) -> Failure {
    let failure = run(seed, setup).expect_err("the seed fails");
    assert_eq!(failure.violation.kind, kind, "{failure:?}");
    let generated = failure.steps.len();
    let min = failure.minimised();
    println!("{min:?}\n");
    assert!(min.steps.len() < generated);
    assert_eq!(min.generated, generated);
    let fails =
        |steps: &[Step]| matches!(replay(seed, setup, steps, None).1, Err(v) if v.kind == kind);
    assert!(fails(&min.steps));
    for i in 0..min.steps.len() {
        let mut fewer = min.steps.clone();
        let left_out = fewer.remove(i);
        assert!(!fails(&fewer), "step {} ({left_out}) can go", i + 1);
    }
    let report = format!("{min:?}");
    for (i, step) in min.steps.iter().enumerate() {
        assert!(
            report.contains(&format!("{:4}. {step}\n", i + 1)),
            "{report}"
        );
    }
    min
}

/// A failing seed is minimised: a host that answers peers before it
/// writes the driver's steps (`Sim::lax`, untracked) gives two acceptors
/// on seed 24 565, the first of the 100 000-seed run's three; a host that
/// answers a recovering peer's fence without fencing (`Sim::no_fence`),
/// on seed 4 160. With the disk check, the lax host is caught on seed 0.
#[test]
fn a_failing_seed_is_minimised_to_steps_a_person_can_read() {
    let untracked = Setup {
        track: false,
        ..Setup::STRICT
    };
    let lax = Setup {
        lax: true,
        ..untracked
    };
    minimise(24_565, lax, Kind::TwoAcceptors);
    let no_fence = Setup {
        no_fence: true,
        ..untracked
    };
    minimise(4_160, no_fence, Kind::TwoAcceptors);
    let tracked = Setup { track: true, ..lax };
    minimise(0, tracked, Kind::SentBeforePersist);
}

/// The operator's move of `prefix` from `n` to `to`, and its ticket.
fn start(sim: &mut Sim, n: usize, prefix: &'static [u8], to: usize) -> u32 {
    sim.operator(n, prefix, to).unwrap();
    *sim.commands
        .keys()
        .filter(|(m, _)| *m == n)
        .map(|(_, t)| t)
        .max()
        .unwrap()
}

/// Takes the first message in flight that `pick` accepts.
fn take(sim: &mut Sim, pick: impl Fn(&Msg) -> bool) -> Msg {
    let Some(at) = sim.net.iter().position(pick) else {
        panic!(
            "no such message in flight: {:?}\n{}",
            sim.net,
            sim.log.join("\n")
        )
    };
    sim.net.remove(at)
}

/// Delivers every message `pick` accepts, and what they cause, until none
/// is left; flushes every write in between.
fn deliver_all(sim: &mut Sim, pick: impl Fn(&Msg) -> bool) {
    loop {
        for n in 0..NODES {
            sim.flush(n).unwrap();
        }
        let Some(at) = sim.net.iter().position(&pick) else {
            return;
        };
        let msg = sim.net.remove(at);
        sim.deliver(msg).unwrap();
        sim.check_safety().unwrap();
    }
}

fn accepts(sim: &Sim, n: usize, key: &[u8]) -> bool {
    sim.verdict(n, key).is_accept()
}

#[test]
fn the_five_step_trace_ends_with_one_acceptor() {
    // A moves b:x: to F, which is also b:'s fallback. The in-flight news
    // to F is delayed; A gives up waiting and asks F for the outcome; F
    // fences the move off and answers Aborted, persisted; the delayed news
    // arrives after. F refuses it as stale, and A, asking for the outcome,
    // does not ship on that refusal.
    let mut sim = Sim::new(1);
    let ticket = start(&mut sim, A, b"b:x:", F);
    sim.flush(A).unwrap();
    let news = take(&mut sim, |m| {
        matches!(m.body, Body::Req(Req::News(_, MoveStatus::InFlight, _)))
    });
    // Past the fallback's deadline: the resends are held too.
    sim.now += 3_500;
    sim.timer(A).unwrap();
    sim.now += 200;
    sim.timer(A).unwrap();
    let query = take(&mut sim, |m| matches!(m.body, Body::Req(Req::Outcome(_))));
    // F answers Aborted and persists it; the answer is delayed.
    sim.deliver(query).unwrap();
    let aborted = take(&mut sim, |m| {
        matches!(m.body, Body::Ans(Req::Outcome(_), Answer::Outcome(_)))
    });
    // The delayed news arrives: refused as stale. A hears the refusal
    // while it still waits for the outcome.
    sim.deliver(news.clone()).unwrap();
    let refusal = take(&mut sim, |m| matches!(m.body, Body::Ans(_, Answer::Stale)));
    sim.deliver(refusal).unwrap();
    assert!(
        !sim.net
            .iter()
            .any(|m| matches!(m.body, Body::Req(Req::Ingest(_)))),
        "A shipped on the late refusal"
    );
    sim.deliver(aborted).unwrap();
    sim.check_safety().unwrap();
    deliver_all(&mut sim, |_| true);
    sim.calm().unwrap();
    assert_eq!(sim.stats.ships, 0);
    assert_eq!(
        sim.commands[&(A, ticket)].replies,
        [MoveReply::Aborted],
        "the operator hears the abort"
    );
    assert!(accepts(&sim, A, b"b:x:k"));
    assert!(!accepts(&sim, F, b"b:x:k"));
    // However late the stale news comes, after a restart of F too.
    sim.crash(F, false).unwrap();
    sim.net.push(news);
    deliver_all(&mut sim, |_| true);
    sim.check_safety().unwrap();
    assert!(accepts(&sim, A, b"b:x:k") && !accepts(&sim, F, b"b:x:k"));
}

#[test]
fn a_stale_ingest_is_aborted_and_tried_once_more_above_the_fence() {
    // F's epochs run ahead of A's (moves of c: between B and F that A
    // never hears of), so F refuses A's ingest as stale: A asks the
    // outcome, F answers Aborted with its fence, A aborts, persists, and
    // starts the move once more above the fence, under the same ticket.
    let mut sim = Sim::new(2);
    let not_to_a = |m: &Msg| m.to != A;
    start(&mut sim, B, b"c:", F);
    deliver_all(&mut sim, not_to_a);
    start(&mut sim, F, b"c:", B);
    deliver_all(&mut sim, not_to_a);
    start(&mut sim, B, b"c:", F);
    deliver_all(&mut sim, not_to_a);
    assert!(accepts(&sim, F, b"c:k"));
    assert!(sim.hosts[F].node.epoch().get() >= 3);
    sim.net.retain(not_to_a);

    let ticket = start(&mut sim, A, b"b:x:", F);
    assert_eq!(ticket, 1, "A's epochs are behind F's");
    deliver_all(&mut sim, |_| true);
    sim.calm().unwrap();
    assert_eq!(
        sim.commands[&(A, ticket)].replies,
        [MoveReply::Committed { keys: Some(1) }]
    );
    assert_eq!(sim.stats.ships, 5, "three c: moves, then b:x: twice");
    assert!(accepts(&sim, F, b"b:x:k"));
    assert!(!accepts(&sim, A, b"b:x:k"));
    assert!(
        sim.hosts[F].node.records().any(|(phase, m)| {
            phase == Phase::Adopted && m.prefix == b"b:x:" && m.epoch.get() > 3
        })
    );
}

#[test]
fn nothing_ships_before_the_fallback_acknowledges() {
    // A's move of b: tells F first; while F's acknowledgement is held,
    // no key leaves, whatever the timers do until the deadline.
    let mut sim = Sim::new(3);
    start(&mut sim, A, b"b:", B);
    sim.flush(A).unwrap();
    for _ in 0..10 {
        sim.now += 250;
        sim.timer(A).unwrap();
        let acks: Vec<Msg> = sim.net.iter().filter(|&m| m.to == F).cloned().collect();
        sim.net.retain(|m| m.to != F);
        for m in acks {
            sim.deliver(m).unwrap();
        }
        // F's answers are held.
        assert!(
            !sim.net
                .iter()
                .any(|m| matches!(m.body, Body::Req(Req::Ingest(_)))),
            "shipped before the fallback's ack"
        );
    }
    let ack = take(&mut sim, |m| {
        matches!(m.body, Body::Ans(_, Answer::Learned))
    });
    sim.deliver(ack).unwrap();
    assert!(
        sim.net
            .iter()
            .any(|m| matches!(m.body, Body::Req(Req::Ingest(_))))
    );
    deliver_all(&mut sim, |_| true);
    sim.calm().unwrap();
    assert!(accepts(&sim, B, b"b:k"));
}

#[test]
fn a_crash_before_the_persist_sends_nothing() {
    // The start's image is never written: nothing of the move left A, and
    // A comes back owning the prefix, with nothing in flight.
    let mut sim = Sim::new(4);
    start(&mut sim, A, b"b:x:", B);
    assert!(sim.net.is_empty());
    sim.crash(A, false).unwrap();
    assert!(sim.net.is_empty());
    assert!(sim.hosts[A].node.in_flight().next().is_none());
}

#[test]
fn a_full_driver_refuses_with_an_error() {
    let t = OwnershipTable::from_array([
        Scope::new(b"a:", "A"),
        Scope::new(b"b:", "A"),
        Scope::new(b"c:", "A"),
    ])
    .unwrap();
    let mut a = Node::new("A", &t, MoveTable::<4>::new()).unwrap();
    let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    driver.start(&mut a, b"a:", "B").unwrap();
    driver.start(&mut a, b"b:", "B").unwrap();
    assert_eq!(
        driver.start(&mut a, b"c:", "B"),
        Err(kevy_scope::driver::DriverError::TooManyMoves { capacity: 2 })
    );
    // The refused move was not started.
    assert_eq!(a.in_flight().count(), 2);
    assert!(Driver::<2, 2>::new(["A", "B", "C"]).is_err());
}

#[test]
fn driver_sizes() {
    println!(
        "size_of::<Driver<4, 4>>() = {} B on this host",
        std::mem::size_of::<Driver<4, 4>>()
    );
}

/// The mutant: the driver hands out messages before the persist they
/// depend on. The disk check catches the first one; without it, a crash
/// in the window gives two acceptors.
#[cfg(kevy_mutants)]
#[test]
fn without_persist_before_send_two_nodes_accept() {
    SimDriver::send_before_persist(true);
    // Minimised while the mutant is on: the replays take the same path.
    let caught = (0..200)
        .find_map(|seed| run(seed, Setup::STRICT).err())
        .map(Failure::minimised);
    let untracked = Setup {
        track: false,
        ..Setup::STRICT
    };
    let unsafe_run = (0..5_000)
        .find_map(|seed| {
            run(seed, untracked)
                .err()
                .filter(|f| f.violation.kind == Kind::TwoAcceptors)
        })
        .map(Failure::minimised);
    SimDriver::send_before_persist(false);
    let caught = caught.expect("the disk check catches the mutant");
    assert_eq!(caught.violation.kind, Kind::SentBeforePersist);
    println!("disk check: {caught:?}");
    let unsafe_run = unsafe_run.expect("a crash in the window gives two acceptors");
    println!("two acceptors: {unsafe_run:?}");
}

/// The mutant: the driver ships without telling the scope's fallback.
/// With the writer flagged down, the fallback stands in for keys the
/// target accepts.
#[cfg(kevy_mutants)]
#[test]
fn without_the_prepare_the_fallback_stands_in_beside_the_target() {
    SimDriver::ship_unprepared(true);
    let found = (0..5_000)
        .find_map(|seed| run(seed, Setup::STRICT).err())
        .map(Failure::minimised);
    SimDriver::ship_unprepared(false);
    let found = found.expect("the mutant is caught");
    assert_eq!(found.violation.kind, Kind::TwoAcceptors);
    println!("{found:?}");
}

fn fence_of(req: Req) -> u32 {
    match req {
        Req::Fence(fence) => fence,
        _ => 0,
    }
}

fn is_ingest(m: &Msg) -> bool {
    matches!(m.body, Body::Req(Req::Ingest(_)))
}

/// README's recovery, as a host follows it: A gives `b:x:` to B, and A's
/// image is damaged. A comes back quarantined, asks its peers, and leaves
/// quarantine knowing it gave `b:x:` away: it sends clients to B. Its
/// fallback F, with A flagged down, stands in for the rest of `b:` only.
#[test]
fn a_node_that_lost_its_records_learns_what_it_gave_away() {
    let mut sim = Sim::new(11);
    sim.logging = true;
    start(&mut sim, A, b"b:x:", B);
    deliver_all(&mut sim, |_| true);
    assert!(accepts(&sim, B, b"b:x:k"));
    sim.crash(A, true).unwrap();
    assert!(sim.hosts[A].driver.is_recovering());
    assert!(!accepts(&sim, A, b"b:k") && !accepts(&sim, A, b"b:x:k"));
    deliver_all(&mut sim, |_| true);
    assert!(
        !sim.hosts[A].node.is_quarantined(),
        "{}",
        sim.log.join("\n")
    );
    assert_eq!(
        sim.verdict(A, b"b:x:k"),
        WriteVerdict::Misdirected { target: "B" }
    );
    assert!(accepts(&sim, A, b"b:k") && accepts(&sim, B, b"b:x:k"));
    sim.hosts[A].down = true;
    assert!(accepts(&sim, F, b"b:k") && !accepts(&sim, F, b"b:x:k"));
    sim.check_safety().unwrap();
}

/// The fallback loses its records: it learns from its peers that its
/// writer gave `b:x:` away, and stands in for the rest of `b:` only.
#[test]
fn a_fallback_that_lost_its_records_stands_in_only_for_what_its_writer_owns() {
    let mut sim = Sim::new(12);
    start(&mut sim, A, b"b:x:", B);
    deliver_all(&mut sim, |_| true);
    sim.crash(F, true).unwrap();
    deliver_all(&mut sim, |_| true);
    assert!(!sim.hosts[F].node.is_quarantined());
    sim.hosts[A].down = true;
    assert!(accepts(&sim, F, b"b:k"));
    assert!(!accepts(&sim, F, b"b:x:k") && accepts(&sim, B, b"b:x:k"));
}

/// A target loses its records: it learns what it adopted, and accepts it
/// again (its source sends clients to it).
#[test]
fn a_target_that_lost_its_records_learns_what_it_adopted() {
    let mut sim = Sim::new(13);
    start(&mut sim, A, b"d:", B);
    deliver_all(&mut sim, |_| true);
    sim.crash(B, true).unwrap();
    assert!(!accepts(&sim, B, b"d:k"));
    deliver_all(&mut sim, |_| true);
    assert!(accepts(&sim, B, b"d:k") && !accepts(&sim, A, b"d:k"));
    sim.check_no_cycle().unwrap();
}

/// A ships `d:` (no fallback: no peer hears of the move) and loses its
/// records before the ingest lands. The fence its recovery sets refuses
/// the late ingest: A owns `d:` alone. A host that answers the fence
/// without fencing lets it land: two acceptors.
fn late_ingest_after_recovery(fence: bool) -> Result<(), Violation> {
    let mut sim = Sim::new(14);
    sim.logging = true;
    sim.no_fence = !fence;
    start(&mut sim, A, b"d:", B);
    sim.flush(A)?;
    let ingest = take(&mut sim, is_ingest);
    sim.crash(A, true)?;
    deliver_all(&mut sim, |_| true);
    assert!(!sim.hosts[A].node.is_quarantined());
    assert!(accepts(&sim, A, b"d:k"));
    sim.deliver(ingest)?;
    for n in 0..NODES {
        sim.flush(n)?;
    }
    sim.check_safety()
}

#[test]
fn a_move_shipped_before_the_records_were_lost_cannot_land_after_recovery() {
    late_ingest_after_recovery(true).unwrap();
    let unfenced = late_ingest_after_recovery(false).unwrap_err();
    assert_eq!(unfenced.kind, Kind::TwoAcceptors, "{unfenced:?}");
}

/// A move in flight when A lost its records, told to the fallback: A
/// learns it is in flight, asks its target, and ends it; the fallback
/// hears the end; the late ingest is refused.
#[test]
fn a_move_in_flight_when_the_records_were_lost_is_resolved_after_recovery() {
    let mut sim = Sim::new(15);
    sim.logging = true;
    start(&mut sim, A, b"b:x:", B);
    sim.flush(A).unwrap();
    // The fallback hears of the move and acknowledges; A ships.
    pass(&mut sim, |m| m.to == F);
    sim.flush(F).unwrap();
    pass(&mut sim, |m| m.to == A);
    sim.flush(A).unwrap();
    let ingest = take(&mut sim, is_ingest);
    sim.crash(A, true).unwrap();
    deliver_all(&mut sim, |_| true);
    assert!(
        !sim.hosts[A].node.is_quarantined(),
        "{}",
        sim.log.join("\n")
    );
    assert!(sim.hosts[A].node.in_flight().next().is_none());
    sim.deliver(ingest).unwrap();
    deliver_all(&mut sim, |_| true);
    sim.check_safety().unwrap();
    assert!(accepts(&sim, A, b"b:x:k") && !accepts(&sim, B, b"b:x:k"));
    sim.hosts[A].down = true;
    assert!(accepts(&sim, F, b"b:x:k"), "the fallback heard the abort");
}

/// B adopts `d:` and answers `+OK`, which is delayed; then B loses its
/// records. B's recovery fences A, so A's move to B is in doubt: the old
/// `+OK` no longer commits it (B, recovered, does not know it adopted),
/// and A asks again. B answers `Aborted`: A keeps `d:`, one acceptor, no
/// loop. (The writes B accepted for `d:` before it lost its records are
/// the gap README names.)
#[test]
fn an_ok_from_before_the_target_lost_its_records_does_not_commit() {
    let mut sim = Sim::new(16);
    sim.logging = true;
    start(&mut sim, A, b"d:", B);
    sim.flush(A).unwrap();
    let ingest = take(&mut sim, is_ingest);
    sim.deliver(ingest).unwrap();
    let ok = take(&mut sim, |m| {
        m.to == A && matches!(m.body, Body::Ans(Req::Ingest(_), _))
    });
    sim.crash(B, true).unwrap();
    deliver_all(&mut sim, |_| true);
    assert!(
        !sim.hosts[B].node.is_quarantined(),
        "{}",
        sim.log.join("\n")
    );
    let epoch = sim.hosts[A]
        .node
        .in_flight()
        .next()
        .expect("in flight")
        .epoch;
    sim.deliver(ok).unwrap();
    let a = &mut sim.hosts[A].node;
    assert!(
        a.in_flight().next().is_some(),
        "the old +OK committed the move"
    );
    assert_eq!(a.commit_move(b"d:", epoch), Err(MoveError::TargetRecovered));
    // The ship's deadline passes: A asks B again, and B's answer ends it.
    sim.now += 60_000;
    sim.timer(A).unwrap();
    assert!(
        sim.net
            .iter()
            .any(|m| matches!(m.body, Body::Req(Req::Recheck(_)))),
        "{:?}",
        sim.net
    );
    deliver_all(&mut sim, |_| true);
    assert!(sim.hosts[A].node.in_flight().next().is_none());
    assert!(accepts(&sim, A, b"d:k") && !accepts(&sim, B, b"d:k"));
    sim.check_no_cycle().unwrap();
}

/// B adopts `b:x:`, announces it, and loses its records before A hears
/// the `+OK`: a peer relays B's own news back to it, so B knows it adopted
/// and, asked again, answers `Committed`.
#[test]
fn a_target_that_announced_its_adoption_keeps_it_through_recovery() {
    let mut sim = Sim::new(17);
    sim.logging = true;
    start(&mut sim, A, b"d:", B);
    sim.flush(A).unwrap();
    let ingest = take(&mut sim, is_ingest);
    sim.deliver(ingest).unwrap();
    let ok = take(&mut sim, |m| {
        m.to == A && matches!(m.body, Body::Ans(Req::Ingest(_), _))
    });
    // B announced its adoption to F (after a restart, from its records).
    sim.crash(B, false).unwrap();
    deliver_all(&mut sim, |m| m.to == F || m.from == F);
    sim.net.retain(|m| m.to != A);
    sim.crash(B, true).unwrap();
    deliver_all(&mut sim, |_| true);
    sim.deliver(ok).unwrap();
    sim.now += 60_000;
    sim.timer(A).unwrap();
    deliver_all(&mut sim, |_| true);
    assert!(
        sim.hosts[A].node.in_flight().next().is_none(),
        "{}",
        sim.log.join("\n")
    );
    assert!(accepts(&sim, B, b"d:k") && !accepts(&sim, A, b"d:k"));
    sim.check_no_cycle().unwrap();
}

/// B tells its fallback F that `c:z:` is moving to A, and loses its
/// records before the news arrives; B recovers without it. The late news
/// leaves F with a move no one will announce the end of: F sends clients
/// waiting (not back to B while B is down), and after `watch_ms` asks the
/// target, whose fence ends it; then F stands in for B again.
#[test]
fn a_move_heard_of_from_a_lost_incarnation_is_looked_into() {
    let mut sim = Sim::new(18);
    sim.logging = true;
    start(&mut sim, B, b"c:z:", A);
    sim.flush(B).unwrap();
    let prepare = take(&mut sim, |m| m.to == F);
    sim.crash(B, true).unwrap();
    deliver_all(&mut sim, |_| true);
    assert!(
        !sim.hosts[B].node.is_quarantined(),
        "{}",
        sim.log.join("\n")
    );
    sim.deliver(prepare).unwrap();
    sim.flush(F).unwrap();
    sim.hosts[B].down = true;
    assert_eq!(
        sim.verdict(F, b"c:z:k"),
        WriteVerdict::Quiesced { target: "A" }
    );
    sim.check_no_cycle().unwrap();
    sim.net.clear();
    sim.now += 61_000;
    sim.timer(F).unwrap();
    assert!(
        sim.net
            .iter()
            .any(|m| m.to == A && matches!(m.body, Body::Req(Req::Outcome(_)))),
        "{:?}",
        sim.net
    );
    deliver_all(&mut sim, |_| true);
    assert!(accepts(&sim, F, b"c:z:k"), "{:?}", sim.verdict(F, b"c:z:k"));
    assert!(!accepts(&sim, A, b"c:z:k"));
    sim.hosts[B].down = false;
    assert!(accepts(&sim, B, b"c:z:k") && !accepts(&sim, F, b"c:z:k"));
    sim.check_no_cycle().unwrap();
}

/// README's host rule: B adopted `d:` from A, and F has not heard yet.
/// B moves `d:` on to F: F refuses the ingest (`SenderNotOwner`), the
/// move aborts, the abort's news teaches F that B owns `d:`, and the
/// operator's retry lands.
#[test]
fn a_target_that_does_not_know_the_sender_learns_it_from_the_abort() {
    let mut sim = Sim::new(19);
    sim.logging = true;
    start(&mut sim, A, b"d:", B);
    deliver_all(&mut sim, |m| m.to != F);
    sim.net.retain(|m| m.to != F);
    assert!(accepts(&sim, B, b"d:k"));
    assert_eq!(
        sim.verdict(F, b"d:k"),
        WriteVerdict::Misdirected { target: "A" }
    );
    let first = start(&mut sim, B, b"d:", F);
    deliver_all(&mut sim, |m| m.from != A && m.to != A);
    let replies = &sim.commands[&(B, first)].replies;
    assert_eq!(replies[..], [MoveReply::Aborted], "{}", sim.log.join("\n"));
    assert!(accepts(&sim, B, b"d:k"));
    let again = start(&mut sim, B, b"d:", F);
    deliver_all(&mut sim, |m| m.from != A && m.to != A);
    assert!(matches!(
        sim.commands[&(B, again)].replies[..],
        [MoveReply::Committed { .. }]
    ));
    assert!(accepts(&sim, F, b"d:k") && !accepts(&sim, B, b"d:k"));
}

/// A repeated outcome query after the prefix moved on may answer
/// `Committed` where it answered `Aborted`: the source's driver ignores an
/// answer for a move that already ended.
#[test]
fn a_late_contradicting_outcome_changes_nothing() {
    let mut sim = Sim::new(20);
    let ticket = start(&mut sim, A, b"d:", B);
    sim.flush(A).unwrap();
    sim.net.clear(); // the ship is lost
    sim.now += 31_000;
    sim.timer(A).unwrap();
    deliver_all(&mut sim, |_| true);
    assert_eq!(sim.commands[&(A, ticket)].replies[..], [MoveReply::Aborted]);
    let id = Mv {
        prefix: b"d:",
        from: A,
        to: B,
        epoch: ticket,
    };
    let h = &mut sim.hosts[A];
    let before = image(&h.node);
    let late = Answer::Outcome(kevy_scope::moves::Outcome::Committed);
    h.driver
        .answer(&mut h.node, "B", Request::Outcome(id.id()), late)
        .unwrap();
    assert_eq!(image(&h.node), before);
    assert!(accepts(&sim, A, b"d:k"));
}

/// Delivers the first message in flight `pick` accepts and returns a copy.
fn pass(sim: &mut Sim, pick: impl Fn(&Msg) -> bool) -> Msg {
    let msg = take(sim, pick);
    sim.deliver(msg.clone()).unwrap();
    msg
}

/// F answers B from an epoch only its own unwritten `start_move` raised;
/// then F crashes and B's ingest, replayed, comes back.
fn answer_from_an_unwritten_step(lax: bool) -> Result<(), Violation> {
    let mut sim = Sim::new(5);
    sim.logging = true;
    sim.lax = lax;
    sim.track = !lax;
    // F owns b:x: at epoch 1; B hears of it.
    start(&mut sim, A, b"b:x:", F);
    deliver_all(&mut sim, |_| true);
    // F starts moving it on at epoch 2: its image is not written yet.
    start(&mut sim, F, b"b:x:", B);
    assert!(sim.hosts[F].driver.must_persist());
    // B moves c:z: to F at epoch 2 too; F is c:'s fallback.
    assert_eq!(start(&mut sim, B, b"c:z:", F), 2);
    sim.flush(B).unwrap();
    let cz = |m: &Msg| match m.body {
        Body::Req(r) | Body::Ans(r, _) => match r {
            Req::News(mv, _, _) | Req::Outcome(mv) | Req::Recheck(mv) | Req::Ingest(mv) => {
                mv.prefix == b"c:z:"
            }
            Req::Epoch(_) | Req::Fence(_) => false,
        },
        Body::News(..) => false,
    };
    pass(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Req(Req::News(..)))
    });
    // F refused the news as stale (epoch 2 is its own): B ships on it.
    pass(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Ans(_, Answer::Stale))
    });
    // The ingest is delayed; B asks the outcome when its deadline passes.
    let ingest = take(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Req(Req::Ingest(_)))
    });
    sim.now += 31_000;
    sim.timer(B)?;
    pass(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Req(Req::Outcome(_)))
    });
    // F's Aborted { fence: 2 }: B takes c:z: back.
    pass(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Ans(_, Answer::Outcome(_)))
    });
    sim.flush(B)?;
    assert!(accepts(&sim, B, b"c:z:k"));
    // F crashes; the ingest comes again.
    sim.crash(F, false)?;
    sim.net.push(ingest);
    pass(&mut sim, |m| {
        cz(m) && matches!(m.body, Body::Req(Req::Ingest(_)))
    });
    sim.check_safety()
}

#[test]
fn an_answer_waits_for_the_drivers_unwritten_steps() {
    // The trace seed 30 605 of the 100 000-seed run found: a host that
    // answered from an epoch not yet on disk lost its fence in a crash.
    answer_from_an_unwritten_step(false).unwrap();
    let lax = answer_from_an_unwritten_step(true).unwrap_err();
    assert_eq!(lax.kind, Kind::TwoAcceptors, "{lax:?}");
}

/// Drains a lone driver's effects, writing at once: how many requests
/// it sent.
fn drain(driver: &mut Driver<2, 2>, node: &SimAlone, now: u64) -> usize {
    let mut sent = 0;
    let mut persist = false;
    while let Some(effect) = driver.poll(node, now) {
        match effect {
            Effect::Persist => persist = true,
            Effect::Send { .. } | Effect::Ship { .. } => sent += 1,
            Effect::Reply { .. } | Effect::Wake { .. } => {}
        }
    }
    if persist {
        driver.persisted();
        sent += drain(driver, node, now);
    }
    sent
}

static ALONE: OwnershipTable<'static, 3> = ownership_table![
    Scope::new(b"p:", "A"),
    Scope::new(b"q:", "A"),
    Scope::new(b"r:", "A"),
];
type SimAlone = Node<&'static OwnershipTable<'static, 3>, MoveTable<4>>;

fn alone_move(prefix: &'static [u8], epoch: u32) -> Mv {
    Mv {
        prefix,
        from: A,
        to: B,
        epoch,
    }
}

#[test]
fn a_full_outbox_refuses_the_step_and_takes_it_later() {
    // Two slots: the news of two committed moves, unacknowledged, fill
    // them; the third move's +OK is refused with the node unchanged, and
    // taken once B acknowledges one of them.
    let mut a: SimAlone = Node::new("A", &ALONE, MoveTable::new()).unwrap();
    let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    let adopted = Answer::Ingested { keys: 1 };
    for (prefix, epoch) in [(&b"p:"[..], 1), (b"q:", 2)] {
        driver.start(&mut a, prefix, "B").unwrap();
        drain(&mut driver, &a, 0);
        let ingest = Req::Ingest(alone_move(prefix, epoch)).request();
        driver.answer(&mut a, "B", ingest, adopted).unwrap();
        drain(&mut driver, &a, 0);
    }
    driver.start(&mut a, b"r:", "B").unwrap();
    drain(&mut driver, &a, 0);
    let ingest = Req::Ingest(alone_move(b"r:", 3)).request();
    assert_eq!(
        driver.answer(&mut a, "B", ingest, adopted),
        Err(kevy_scope::driver::DriverError::OutboxFull { capacity: 2 })
    );
    assert_eq!(a.in_flight().count(), 1, "the step was not taken");
    // B acknowledges p:'s news; the +OK comes again.
    let news = Req::News(alone_move(b"p:", 1), MoveStatus::Committed, 1).request();
    driver.answer(&mut a, "B", news, Answer::Learned).unwrap();
    driver.answer(&mut a, "B", ingest, adopted).unwrap();
    assert_eq!(a.in_flight().count(), 0);
    assert!(!a.verdict(b"r:1", |_| false).is_accept());
}

/// A known gap, pinned: two nodes that lose their images together (a
/// power cut that damages both) each wait for the other's answer, which a
/// quarantined node refuses, so neither recovers (README, "Trusted, not
/// checked"). What holds meanwhile: neither accepts a scoped write, and
/// each names the other as the peer it waits for.
#[test]
fn two_nodes_that_lose_their_images_together_wait_for_each_other_and_accept_nothing() {
    let mut sim = Sim::new(16);
    start(&mut sim, A, b"b:x:", B);
    deliver_all(&mut sim, |_| true);
    sim.crash(A, true).unwrap();
    sim.crash(F, true).unwrap();
    let stuck = sim.calm().unwrap_err();
    assert_eq!(stuck.kind, Kind::Unsettled, "{stuck:?}");
    for (n, other) in [(A, "F"), (F, "A")] {
        let h = &sim.hosts[n];
        assert!(h.node.is_quarantined() && h.driver.is_recovering());
        assert_eq!(h.driver.unheard().collect::<Vec<_>>(), [other]);
        for key in KEYS {
            assert!(!accepts(&sim, n, key), "{} accepts {key:?}", IDS[n]);
        }
    }
    // B, healthy, still accepts what it adopted.
    assert!(accepts(&sim, B, b"b:x:k"));
    sim.check_safety().unwrap();
}
