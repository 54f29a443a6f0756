//! A deterministic, seeded simulation of five kevy nodes running the
//! epoch-stamped MOVE-SCOPE protocol (`src/moves/node.rs`) under the full
//! fault model of README's "Surviving faults", each node's side of every
//! move run by the crate's own sans-IO [`Driver`] (`src/moves/driver.rs`).
//!
//! # The cluster
//!
//! Five nodes share one static table of four scopes (three with a
//! fallback). Each node is a [`Server`]: a [`Node`] with a fixed-capacity
//! record table, its durable key store, its *disk* (the last image
//! written), the images it is still writing, and a `kevy_scope::Driver`
//! built from the list of the five nodes and `resume`d at every boot. The
//! driver holds every rule of the source's side and of the
//! announcements: persist a step before anything that depends on it
//! leaves, tell the scope's fallback and ship on its acknowledgement, ask
//! the target the outcome when a deadline passes or the ingest is
//! refused, start again above a target's fence, announce a move's end
//! until every peer acknowledges, after a restart ask the outcome of
//! every move in flight and re-announce what the image vouches for, and
//! recover a node whose image is lost from its peers ("Recovery" below).
//! The simulation's host does only what the driver's contract says:
//!
//! - events: an operator's MOVE-SCOPE is `Driver::start`; an answer that
//!   reaches a node goes to `Driver::answer`, with the request it
//!   answers, and an answer to a fence to `Driver::recovered`; an image
//!   that reaches the disk is `Driver::persisted`;
//! - effects, polled after every event and once the time of the driver's
//!   last `Wake` has come (the host's clock is a `u64` of milliseconds
//!   the simulation advances; the drivers run with [`TIMING`]):
//!   `Persist` encodes the node's image at once and writes it, most of
//!   the time at once and now and then at a later step (images reach the
//!   disk in order); `Send` puts the request on the network; `Ship` reads
//!   the keys under the prefix from the store and sends them with the
//!   ingest; `Reply` goes to the operator's log; `Wake` sets the timer;
//! - the other side of each request, straight on the receiving `Node`:
//!   `learn`; `check_ingest`, the shipped keys written to the store,
//!   `adopt`; `move_outcome` (for `Outcome` and `Recheck`);
//!   `known_epoch` (refused while the node is quarantined); `fence` with
//!   the asker's id. When the step's `must_persist()` or the receiving
//!   driver's `must_persist()` says so, the host calls
//!   `Driver::persisting`, writes the image after every write in progress
//!   (`Driver::persisted` for each), then answers: `Learned`, `Ingested`
//!   with the key count, `Outcome`, `Epoch`, and to a fence the list
//!   `Node::news` (owned, in the message); `Stale` on a stale refusal,
//!   `Refused` on any other.
//!
//! Beside the driver, the host keeps its key store: when its node commits
//! a move on an answer (the target adopted the keys), it deletes its own
//! copy of the keys under the prefix once the commit is on the disk (a
//! crash before then loses the commit, and the move is in flight again;
//! a key written to the store since, say by an ingest, stays). The
//! network is a list of messages in flight.
//!
//! # Fault model
//!
//! - Messages are delivered in any order, lost, duplicated, and replayed
//!   from a log of earlier messages (stray `MOVE-SCOPE-INGEST`, outcome
//!   queries, announcements and answers from the past).
//! - A node crashes at any instant and restarts from its disk with a new
//!   driver: between steps (image writes still in progress are lost), and
//!   inside a step after the library call but before the image is written
//!   (its key-store writes of that step stay, its answer and its image
//!   change are lost).
//! - Now and then the disk is corrupted (one byte flipped) before a
//!   restart: the node loses its records. It must come back quarantined,
//!   accept no scoped write, and recover through its driver (no operator
//!   steps in). The recovery's requests and answers travel the same
//!   network, with the same faults, and a recovering node crashes like
//!   any other (it then boots quarantined again and starts over, until
//!   an image it wrote after its recovery is on its disk).
//! - The quorum service flags nodes down and up. A down node processes no
//!   client write, no message, no timer, no finished disk write and no
//!   operator command; its driver is polled again when it comes back up.
//! - Operator `MOVE-SCOPE` commands name random prefixes (whole scopes,
//!   sub-prefixes, nested ones, one wider than any scope, one unscoped)
//!   and random targets, reach the owner most of the time and a wrong node
//!   otherwise, and are replayed from a log.
//! - Clients write random keys at random up nodes and follow
//!   `-MISDIRECTED` (hops counted); `-QUIESCED`, `-TRYAGAIN` and a redirect
//!   to a down node end the attempt unacknowledged.
//!
//! # What is trusted
//!
//! - The quorum lease: a node flagged down accepts nothing, so S1 counts
//!   only nodes that are up.
//! - The data hand-over between a static writer and its fallback, which is
//!   the quorum service's job and not the move protocol's: when the
//!   fallback starts standing in for a down writer on a key, it is given
//!   the writer's value of that key; when the writer comes back up, it is
//!   given every value its fallback held for the keys it stood in for.
//!   Both copies are instantaneous.
//! - The key store is durable (only the ownership image can be lost or
//!   damaged), and nothing forges a message: every message is one a node
//!   sent.
//! - The recovery's assumption (the driver's module docs, "Recovery"):
//!   one node recovers at a time. A disk is corrupted only while no
//!   other node is quarantined and no other node's disk holds a damaged
//!   image (a node whose recovery is done in memory but not yet written
//!   would come back quarantined). The same node may lose its image again
//!   while it recovers.
//!
//! # Recovery
//!
//! A node that boots from a damaged disk is quarantined (`restore`
//! fails), and its driver, resumed, recovers it: it asks every peer the
//! highest epoch it knows (`Request::Epoch`; a peer answers
//! `Node::known_epoch`), then asks every peer to fence it off above every
//! epoch it can have used (`Request::Fence`; the peer calls
//! `Node::fence`, persists, and answers with all it knows,
//! `Node::news`), and feeds each answer to `Driver::recovered`. Once
//! every peer has answered, the node leaves quarantine and persists;
//! moves of its own the news says are in flight are asked again, and a
//! peer's moves to it that were in flight at the fence are in doubt
//! there: the peer asks again (`Request::Recheck`) rather than take an
//! older `+OK`. Until the recovery ends the node accepts no scoped write
//! and refuses every move step (and the epoch question). Lost answers,
//! duplicates and replays of these messages are what the driver's
//! resends and checks are for; down peers make the recovery wait.
//!
//! # Steps
//!
//! Each run is 500 random steps: deliver, drop, duplicate or replay a
//! message; an operator command; time passes (the clock advances up to a
//! second and every driver whose `Wake` has come is polled); an image
//! write in progress finishes; a crash (with a corrupted disk now and
//! then); a down/up flag; a client write. Then a calm phase: every node
//! up, every image written at once, no loss, duplication or crash. It
//! runs in rounds: every message in flight is delivered, oldest first,
//! with the messages that causes; then the clock jumps past every
//! deadline a driver can set and every driver is polled. The cluster must
//! fall quiet (nothing in flight, every driver idle, so every recovery
//! done) within [`CALM_ROUND_BOUND`] rounds. The bound is on rounds, not
//! messages: after a dozen crashes the re-announcements alone are
//! hundreds of messages, all of one round.
//!
//! # Checks
//!
//! After every step (calm phase included):
//! - S1: at most one up node accepts a scoped key;
//! - S2: following `-MISDIRECTED` from any node (down ones included)
//!   never comes back to a node already visited;
//! - S3: the last value acknowledged for a scoped key is held by the key's
//!   acceptor (the one up node that accepts it), if it has one. README
//!   names one gap ("Lost records are recovered, not guessed"): writes a
//!   target accepted for a prefix it adopted are lost if it loses its
//!   image before its source heard the `+OK` and before any peer heard
//!   its adoption. Exempted exactly: the key's last acknowledged write
//!   was accepted by a node for a prefix it had adopted (its newest
//!   record of the key); that node later booted from a damaged disk while
//!   the move that gave it the prefix was still in flight on its source's
//!   disk and no other node's disk held its adoption (the move's commit,
//!   or newer news inside the prefix); the node has not, recovered,
//!   learned it adopted since; and the acceptor now holds what the source
//!   held then. Such a failure is counted in the stats and the value the
//!   acceptor holds becomes the truth; any other is a failure;
//! - S4: a node answers `-QUIESCED to T` only while a move of a prefix of
//!   the key to T is in its [`Node::in_flight`], or while its newest news
//!   of the key is such a move, pending, and the move's source is flagged
//!   down (the library's verdict table: the write waits there as it would
//!   on the source);
//! - a quarantined node answers every scoped key `Unavailable`;
//! - an operator's command hears at most one reply.
//!
//! After the calm phase, L1: no move in flight anywhere, no node
//! quarantined, every command answered (unless its node restarted since),
//! and for every scoped key one node accepts and every other node
//! redirects straight to it (one hop).
//!
//! A failing run prints its seed, the broken guarantee, the last events
//! and a replay line. Mutation tests (`--cfg kevy_mutants`, set by the test job) show the
//! checks can fail: a driver that hands out messages before the persist
//! they depend on (`Driver::send_before_persist`), a driver that ships
//! before the scope's fallback knows (`Driver::ship_unprepared`), and a
//! library without its epoch fence (`kevy_scope::mutants::ignore_epochs`)
//! are all caught.
//!
//! `cargo test --all-features --test cluster` runs seeds 0-999 and the
//! seeds earlier simulations failed on; the soak,
//! `cargo test --release --all-features --test cluster -- --ignored soak
//! --nocapture`, runs seeds 0-99 999 (`KEVY_SIM_SEEDS=a..b` for others),
//! and reports the images lost, the recoveries and the S3 exemptions
//! (with their seeds); `replay` prints every event of one seed
//! (`KEVY_SIM_SEED=n KEVY_SIM_LOG=all`).

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Instant;

use common::{Mv, Req, Rng, idx, lossy};
use kevy_scope::{
    Driver, Epoch, MoveTable, Node, OwnershipTable, Scope, WriteVerdict,
    driver::{Answer, DriverError, Effect, MoveReply, Timing},
    moves::{Announcement, Ingest, MoveError, MoveStatus, Phase},
    ownership_table,
};

static TABLE: OwnershipTable<'static, 4> = ownership_table![
    Scope::new(b"s0:", "n0").with_fallback("n1"),
    Scope::new(b"s1:", "n1").with_fallback("n2"),
    Scope::new(b"s2:", "n2"),
    Scope::new(b"s3:", "n3").with_fallback("n4"),
];
const IDS: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];
const NODES: usize = IDS.len();

/// Prefixes an operator may move: whole scopes, sub-prefixes, nested ones,
/// one wider than any scope, one unscoped.
const PREFIXES: [&[u8]; 12] = [
    b"s0:", b"s0:a:", b"s0:a:x:", b"s0:b:", b"s1:", b"s1:a:", b"s2:", b"s2:b:", b"s3:", b"s3:a:x:",
    b"s", b"u:",
];
const KEYS: [&[u8]; 14] = [
    b"s0:k",
    b"s0:a:k",
    b"s0:a:x:k",
    b"s0:b:k",
    b"s1:k",
    b"s1:a:k",
    b"s1:b:k",
    b"s2:k",
    b"s2:b:k",
    b"s3:k",
    b"s3:a:k",
    b"s3:a:x:k",
    b"u:k",
    b"zz",
];

/// Steps of one run with faults.
const STEPS: usize = 500;
/// Rounds the calm phase may take to fall quiet (each: every message is
/// delivered, then every driver's deadlines pass).
const CALM_ROUND_BOUND: usize = 10;
/// How many sent messages are kept for replays.
const HISTORY: usize = 256;
/// How many events a failure report shows.
const LOG_TAIL: usize = 30;

/// The drivers' deadlines, against a clock that a time step advances by
/// up to [`TICK_MS`] (half that on average, one step in twelve): a resend
/// every few time steps, the fallback's acknowledgement within about six,
/// the target's `+OK` within about twelve; a node looks into a move it
/// heard of after about twenty-four; any other deadline the default.
#[allow(clippy::needless_update)]
const TIMING: Timing = Timing {
    retry_ms: 500,
    max_retry_ms: 4_000,
    prepare_ms: 3_000,
    ship_ms: 6_000,
    reply_ms: 3_000,
    watch_ms: 12_000,
    ..Timing::DEFAULT
};
/// The most a time step advances the clock by.
const TICK_MS: usize = 1_000;
/// What a calm round advances the clock by: past every deadline above.
const CALM_TICK_MS: u64 = {
    let t = TIMING;
    let mut most = t.max_retry_ms;
    if t.prepare_ms > most {
        most = t.prepare_ms;
    }
    if t.ship_ms > most {
        most = t.ship_ms;
    }
    if t.reply_ms > most {
        most = t.reply_ms;
    }
    if t.watch_ms > most {
        most = t.watch_ms;
    }
    most as u64
};
/// In how many image writes of a hundred the write finishes at a later
/// step (the rest finish at once).
const SLOW_WRITES: usize = 20;

type SimNode = Node<&'static OwnershipTable<'static, 4>, MoveTable<16>>;
/// Every node a peer; a slot for each record the node can hold.
type SimDriver = Driver<NODES, 16>;

/// splitmix64: small, seedable, reproducible.
/// Whether any scope covers `key` (unscoped keys are accepted everywhere).
fn is_scoped(key: &[u8]) -> bool {
    TABLE.lookup(key).is_some()
}

/// Keys and their values, as an ingest streams them.
type Keys = Vec<(&'static [u8], u64)>;

#[derive(Clone)]
enum Body {
    /// A request; an ingest carries the keys under its prefix.
    Request(Req, Keys),
    /// A peer's answer to a request.
    Answer(Req, Answer),
    /// A peer's answer to [`Req::Fence`] at this epoch: everything it
    /// knows (`Node::news`, owned), for `Driver::recovered`.
    News(u32, Vec<(Mv, MoveStatus)>),
}

#[derive(Clone)]
struct Msg {
    from: usize,
    to: usize,
    body: Body,
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}: ", IDS[self.from], IDS[self.to])?;
        match &self.body {
            Body::Request(req, keys) if keys.is_empty() => write!(f, "{req:?}"),
            Body::Request(req, keys) => write!(f, "{req:?} with {} keys", keys.len()),
            Body::Answer(req, answer) => write!(f, "{answer:?} to {req:?}"),
            Body::News(fence, news) => write!(f, "all it knows after the fence @{fence}: {news:?}"),
        }
    }
}

/// One kevy node as a server runs it.
struct Server {
    node: SimNode,
    /// The move driver; lost in a crash, built again and resumed at boot.
    driver: SimDriver,
    store: BTreeMap<&'static [u8], u64>,
    /// The image last written to stable storage.
    disk: Vec<u8>,
    /// Images encoded and not yet on the disk, oldest first.
    writing: VecDeque<Vec<u8>>,
    /// Images encoded and written since boot.
    encoded: u64,
    written: u64,
    /// The keys of moves committed in memory, deleted from the store once
    /// the commit is on the disk: once more than the number of images
    /// encoded at the commit are written.
    dropping: Vec<(u64, Vec<&'static [u8]>)>,
    /// The disk holds a damaged image: a boot comes back quarantined.
    /// Cleared once the node, recovered, writes an image (a quarantined
    /// node has none to write).
    damaged: bool,
    /// The time of the driver's last `Wake`, until it fires.
    wake: Option<u64>,
    /// Boots so far (an operator's command belongs to one).
    boots: u32,
    down: bool,
}

impl Server {
    fn boot(n: usize) -> Self {
        let mut node = Node::new(IDS[n], &TABLE, MoveTable::new()).unwrap();
        let disk = image_of(&node);
        let driver = driver_for(&mut node);
        Server {
            node,
            driver,
            store: BTreeMap::new(),
            disk,
            writing: VecDeque::new(),
            encoded: 0,
            written: 0,
            dropping: Vec::new(),
            damaged: false,
            wake: None,
            boots: 0,
            down: false,
        }
    }

    /// Encodes the node's image and starts writing it.
    fn encode(&mut self) {
        self.writing.push_back(image_of(&self.node));
        self.encoded += 1;
    }

    /// Writes the oldest image in progress to the disk; deletes the keys
    /// of the commits it makes durable.
    fn write_oldest(&mut self) -> bool {
        let Some(image) = self.writing.pop_front() else {
            return false;
        };
        self.disk = image;
        self.damaged = false;
        self.written += 1;
        self.driver.persisted();
        let written = self.written;
        let store = &mut self.store;
        self.dropping.retain(|(at, keys)| {
            let durable = *at < written;
            if durable {
                for key in keys {
                    store.remove(key);
                }
            }
            !durable
        });
        true
    }

    /// A write of `key` to the store (`None`: deleted): no longer one a
    /// commit deletes.
    fn put(&mut self, key: &'static [u8], value: Option<u64>) {
        match value {
            Some(v) => self.store.insert(key, v),
            None => self.store.remove(key),
        };
        for (_, keys) in &mut self.dropping {
            keys.retain(|k| *k != key);
        }
    }
}

/// A new driver for `node`, resumed from what it holds.
fn driver_for(node: &mut SimNode) -> SimDriver {
    let mut driver = SimDriver::new(IDS).unwrap().with_timing(TIMING);
    driver
        .resume(node)
        .expect("the driver has a slot for every record");
    driver
}

fn image_of(node: &SimNode) -> Vec<u8> {
    let mut buf = vec![0; node.image_len()];
    let len = node.encode_image(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// A verdict with node indices, detached from the node it came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum V {
    Accept,
    Misdirected(usize),
    Quiesced(usize),
    Unavailable,
}

impl fmt::Debug for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            V::Accept => f.write_str("Accept"),
            V::Misdirected(to) => write!(f, "Misdirected to {}", IDS[to]),
            V::Quiesced(to) => write!(f, "Quiesced to {}", IDS[to]),
            V::Unavailable => f.write_str("Unavailable"),
        }
    }
}

impl V {
    fn of(v: WriteVerdict<'_>) -> Self {
        match v {
            WriteVerdict::Accept => V::Accept,
            WriteVerdict::Misdirected { target: to } => V::Misdirected(idx(to)),
            WriteVerdict::Quiesced { target: to } => V::Quiesced(idx(to)),
            WriteVerdict::Unavailable => V::Unavailable,
            other => panic!("a verdict the simulation does not know: {other:?}"),
        }
    }
}

/// The guarantee a failure broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    S1,
    S2,
    S3,
    S4,
    L1,
    /// A quarantined node accepted or redirected a scoped key, or a
    /// restore did not do what the image said.
    Quarantine,
    /// An operator's command heard two replies, or a reply came for no
    /// command.
    Operator,
    /// The library contradicted itself (adopt refused what check_ingest
    /// let through, a driver refused an answer, a wake-up in the past).
    Library,
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

/// What a run did, summed over runs for the report.
#[derive(Debug, Default, Clone)]
struct Stats {
    runs: u64,
    moves_started: u64,
    committed: u64,
    aborted: u64,
    try_again: u64,
    ships: u64,
    /// Outcome queries from a node that only heard of the move.
    watch_queries: u64,
    crashes: u64,
    mid_step_crashes: u64,
    /// Good images damaged on the disk (the node's records lost).
    lost_images: u64,
    /// Boots from a damaged disk (the node comes back quarantined).
    damaged_boots: u64,
    /// Recoveries a driver completed (the node left quarantine).
    recoveries: u64,
    /// Fences peers took and answered with all they know.
    fences: u64,
    /// S3 failures exempted as README's gap (a target lost its image
    /// before anyone heard of its adoption), one per key.
    gap_exemptions: u64,
    /// The seeds of the runs with exemptions.
    gap_seeds: Vec<u64>,
    slow_writes: u64,
    outbox_full: u64,
    writes_acked: u64,
    stand_in_writes: u64,
    max_hops: usize,
    /// The most messages in flight at once before the calm phase.
    net_max: usize,
    calm_rounds_max: usize,
    calm_deliveries_max: usize,
    calm_deliveries_sum: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.runs += o.runs;
        self.moves_started += o.moves_started;
        self.committed += o.committed;
        self.aborted += o.aborted;
        self.try_again += o.try_again;
        self.ships += o.ships;
        self.watch_queries += o.watch_queries;
        self.crashes += o.crashes;
        self.mid_step_crashes += o.mid_step_crashes;
        self.lost_images += o.lost_images;
        self.damaged_boots += o.damaged_boots;
        self.recoveries += o.recoveries;
        self.fences += o.fences;
        self.gap_exemptions += o.gap_exemptions;
        self.gap_seeds.extend(&o.gap_seeds);
        self.slow_writes += o.slow_writes;
        self.outbox_full += o.outbox_full;
        self.writes_acked += o.writes_acked;
        self.stand_in_writes += o.stand_in_writes;
        self.max_hops = self.max_hops.max(o.max_hops);
        self.net_max = self.net_max.max(o.net_max);
        self.calm_rounds_max = self.calm_rounds_max.max(o.calm_rounds_max);
        self.calm_deliveries_max = self.calm_deliveries_max.max(o.calm_deliveries_max);
        self.calm_deliveries_sum += o.calm_deliveries_sum;
    }
}

/// An operator's command a driver took (its ticket), and what the
/// operator heard.
struct Command {
    prefix: &'static [u8],
    to: usize,
    replies: Vec<MoveReply>,
}

/// The node that accepted a key's last acknowledged write, and the move
/// that gave it the prefix it accepted the key for (its newest record of
/// the key, an adoption), if that is why it accepted.
#[derive(Clone, Copy)]
struct Ack {
    at: usize,
    under: Option<Mv>,
}

/// A key's last acknowledged write, `lost` with its acceptor's adoption of
/// `mv` (README's S3 gap): the prefix's source still holds `source`.
#[derive(Clone, Copy)]
struct Gap {
    lost: u64,
    source: Option<u64>,
    mv: Mv,
}

/// What a driver handed out, owned, for the host to carry out.
enum Out {
    Send(usize, Req),
    Reply(u32, MoveReply),
}

struct Sim {
    servers: Vec<Server>,
    net: Vec<Msg>,
    /// The last `HISTORY` messages sent, for replays.
    history: Vec<Msg>,
    /// Operator commands issued: (receiving node, prefix, target).
    commands: Vec<(usize, &'static [u8], usize)>,
    /// The operator's log: commands a driver took, by node, the node's
    /// boot and the ticket.
    tickets: BTreeMap<(usize, u32, u32), Command>,
    /// The last acknowledged value of each key.
    truth: BTreeMap<&'static [u8], u64>,
    /// Where the last acknowledged write of each key was accepted.
    acked: BTreeMap<&'static [u8], Ack>,
    /// Keys whose last acknowledged write is in README's S3 gap (see
    /// [`Sim::mark_gap`]).
    gap: BTreeMap<&'static [u8], Gap>,
    /// Keys a fallback stands in for during its writer's current down
    /// period, with that fallback (see "What is trusted").
    standing_in: BTreeMap<&'static [u8], usize>,
    rng: Rng,
    /// The hosts' clock, in milliseconds.
    now: u64,
    /// Faults have stopped: every image is written at once.
    calm: bool,
    /// Exempt README's S3 gap (off only to show the gap is real).
    exempt_gap: bool,
    step: usize,
    next_value: u64,
    /// Keep events for a failure report (a replay of a failed seed:
    /// formatting every event would be much of a run's time).
    logging: bool,
    log: Vec<String>,
    stats: Stats,
}

impl Sim {
    fn new(seed: u64) -> Self {
        Sim {
            servers: (0..NODES).map(Server::boot).collect(),
            net: Vec::new(),
            history: Vec::new(),
            commands: Vec::new(),
            tickets: BTreeMap::new(),
            truth: BTreeMap::new(),
            acked: BTreeMap::new(),
            gap: BTreeMap::new(),
            standing_in: BTreeMap::new(),
            rng: Rng(seed),
            // Some runs cross the 2^32 ms the driver keeps its deadlines
            // modulo, and some start far beyond it.
            now: match seed % 4 {
                1 => (1 << 32) - 20_000,
                2 => (1 << 40) + 7,
                _ => 0,
            },
            calm: false,
            exempt_gap: true,
            step: 0,
            next_value: 1,
            logging: false,
            log: Vec::new(),
            stats: Stats {
                runs: 1,
                ..Stats::default()
            },
        }
    }

    fn note(&mut self, event: impl FnOnce() -> String) {
        if !self.logging {
            return;
        }
        if self.log.len() >= 4 * LOG_TAIL && !full_log() {
            self.log.drain(..2 * LOG_TAIL);
        }
        let line = format!("[{} t={}] {}", self.step, self.now, event());
        self.log.push(line);
    }

    // ----- views -------------------------------------------------------

    fn verdict(&self, n: usize, key: &[u8]) -> V {
        V::of(
            self.servers[n]
                .node
                .verdict(key, |id| self.servers[idx(id)].down),
        )
    }

    /// The node's verdict as if nobody were down: whether it owns the key
    /// by its own records rather than standing in.
    fn own_verdict(&self, n: usize, key: &[u8]) -> V {
        V::of(self.servers[n].node.verdict(key, |_| false))
    }

    fn up(&self) -> impl Iterator<Item = usize> + '_ {
        (0..NODES).filter(|n| !self.servers[*n].down)
    }

    /// The up nodes that accept `key`.
    fn acceptors(&self, key: &[u8]) -> Vec<usize> {
        self.up()
            .filter(|n| self.verdict(*n, key) == V::Accept)
            .collect()
    }

    fn in_flight(&self, n: usize) -> Vec<Mv> {
        self.servers[n]
            .node
            .in_flight()
            .map(|m| Mv::of(&m))
            .collect()
    }

    fn keys_under(&self, n: usize, prefix: &[u8]) -> Keys {
        self.servers[n]
            .store
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    // ----- the host: the driver's effects ---------------------------------

    fn send(&mut self, msg: Msg) {
        self.note(|| format!("send {msg:?}"));
        if self.history.len() >= HISTORY {
            self.history.remove(0);
        }
        self.history.push(msg.clone());
        self.net.push(msg);
    }

    /// Polls node `n`'s driver at the current time until it has nothing
    /// more, and carries out each effect.
    fn pump(&mut self, n: usize) -> Result<(), Violation> {
        let now = self.now;
        let mut outs = Vec::new();
        let mut past_wake = None;
        let s = &mut self.servers[n];
        while let Some(effect) = s.driver.poll(&s.node, now) {
            match effect {
                Effect::Persist => {
                    // Encoded now, before any other call on the node or
                    // the driver; written at once or at a later step.
                    s.encode();
                    if !self.calm && self.rng.chance(SLOW_WRITES) {
                        self.stats.slow_writes += 1;
                    } else {
                        while s.write_oldest() {}
                    }
                }
                Effect::Send { to, request } => outs.push(Out::Send(idx(to), Req::of(&request))),
                Effect::Ship { to, id } => outs.push(Out::Send(idx(to), Req::Ingest(Mv::of(&id)))),
                Effect::Reply { ticket, reply } => outs.push(Out::Reply(ticket.get(), reply)),
                Effect::Wake { at } => {
                    if at <= now {
                        past_wake = Some(at);
                    }
                    s.wake = Some(at);
                }
            }
        }
        if let Some(at) = past_wake {
            return Err(violation(
                Kind::Library,
                format!("{}'s driver asks to be woken at {at}, at {now}", IDS[n]),
            ));
        }
        for out in outs {
            match out {
                Out::Send(to, req) => {
                    let keys = match req {
                        // The keys leave as the store holds them now.
                        Req::Ingest(mv) => {
                            self.stats.ships += 1;
                            self.keys_under(n, mv.prefix)
                        }
                        Req::Outcome(mv) if mv.from != n => {
                            self.stats.watch_queries += 1;
                            Vec::new()
                        }
                        _ => Vec::new(),
                    };
                    self.send(Msg {
                        from: n,
                        to,
                        body: Body::Request(req, keys),
                    });
                }
                Out::Reply(ticket, reply) => self.operator_hears(n, ticket, reply)?,
            }
        }
        Ok(())
    }

    /// An [`Effect::Reply`]: the operator's log.
    fn operator_hears(&mut self, n: usize, ticket: u32, reply: MoveReply) -> Result<(), Violation> {
        self.note(|| format!("{} replies {reply:?} to command {ticket}", IDS[n]));
        if reply == MoveReply::TryAgain {
            self.stats.try_again += 1;
        }
        let key = (n, self.servers[n].boots, ticket);
        let Some(c) = self.tickets.get_mut(&key) else {
            return Err(violation(
                Kind::Operator,
                format!(
                    "{} replies {reply:?} to command {ticket}, which it never took",
                    IDS[n]
                ),
            ));
        };
        c.replies.push(reply);
        if c.replies.len() > 1 {
            return Err(violation(
                Kind::Operator,
                format!(
                    "command {ticket} on {} (MOVE-SCOPE {:?} TO {}) heard {:?}",
                    IDS[n],
                    lossy(c.prefix),
                    IDS[c.to],
                    c.replies
                ),
            ));
        }
        Ok(())
    }

    /// The oldest image write in progress on node `n` finishes.
    fn flush(&mut self, n: usize) -> Result<(), Violation> {
        if self.servers[n].write_oldest() {
            self.note(|| format!("{} finishes a write", IDS[n]));
        }
        self.pump(n)
    }

    /// Before an answer leaves: the node's image written, after every
    /// write in progress.
    fn persist_now(&mut self, n: usize) {
        let s = &mut self.servers[n];
        s.driver.persisting();
        s.encode();
        while s.write_oldest() {}
    }

    /// Node `n`'s driver's timer, if its time has come.
    fn timer(&mut self, n: usize) -> Result<(), Violation> {
        let s = &mut self.servers[n];
        if s.down || s.wake.is_none_or(|at| at > self.now) {
            return Ok(());
        }
        // A timer fires once; the driver sets the next one.
        s.wake = None;
        self.pump(n)
    }

    // ----- the host: the receiving side ------------------------------------

    /// The receiving side of `req` from node `from` on node `n`, straight
    /// on its node: the answer, and whether the step asks for a persist
    /// first.
    fn respond(
        &mut self,
        n: usize,
        from: usize,
        req: Req,
        keys: Keys,
    ) -> Result<(Body, bool), Violation> {
        let s = &mut self.servers[n];
        let (answer, persist) = match req {
            Req::News(mv, status, sent) => {
                let learned = s.node.learn(
                    &Announcement {
                        id: mv.id(),
                        status,
                    },
                    Epoch::new(sent),
                );
                match learned {
                    Ok(d) => (Answer::Learned, d.must_persist()),
                    Err(MoveError::Stale { .. }) => (Answer::Stale, false),
                    Err(_) => (Answer::Refused, false),
                }
            }
            Req::Outcome(mv) | Req::Recheck(mv) => match s.node.move_outcome(&mv.id()) {
                Ok(d) => (Answer::Outcome(d.into_inner()), d.must_persist()),
                Err(_) => (Answer::Refused, false),
            },
            Req::Ingest(mv) => {
                let id = mv.id();
                let count = u32::try_from(keys.len()).unwrap();
                match s.node.check_ingest(&id) {
                    Ok(Ingest::Apply) => {
                        for (key, value) in keys {
                            s.put(key, Some(value));
                        }
                        match s.node.adopt(&id) {
                            Ok(d) => (Answer::Ingested { keys: count }, d.must_persist()),
                            Err(e) => {
                                return Err(violation(
                                    Kind::Library,
                                    format!(
                                        "{}: adopt refused {mv:?} ({e:?}) after check_ingest said Apply",
                                        IDS[n]
                                    ),
                                ));
                            }
                        }
                    }
                    // Adopted already: nothing to apply, +OK again.
                    Ok(_) => (Answer::Ingested { keys: count }, false),
                    Err(MoveError::Stale { .. }) => (Answer::Stale, false),
                    Err(_) => (Answer::Refused, false),
                }
            }
            // A quarantined node knows nothing worth telling.
            Req::Epoch(_) if s.node.is_quarantined() => (Answer::Refused, false),
            Req::Epoch(_) => (Answer::Epoch(s.node.known_epoch()), false),
            Req::Fence(fence) => match s.node.fence(IDS[from], Epoch::new(fence)) {
                Ok(d) => {
                    // Told once the fence and all it tells are on the disk.
                    self.stats.fences += 1;
                    let news = s.node.news().map(|a| (Mv::of(&a.id), a.status)).collect();
                    let persist = d.must_persist() || s.driver.must_persist();
                    return Ok((Body::News(fence, news), persist));
                }
                // Quarantined itself: refused.
                Err(_) => (Answer::Refused, false),
            },
        };
        let persist = persist || s.driver.must_persist();
        Ok((Body::Answer(req, answer), persist))
    }

    /// Delivers `msg` to its (up) receiver. With `crash_mid_step`, the
    /// receiver crashes after the library step and before its image is
    /// written: the key-store writes stay, the rest of the step is lost.
    fn deliver(&mut self, msg: Msg, crash_mid_step: bool) -> Result<(), Violation> {
        let n = msg.to;
        if full_log() {
            self.note(|| format!("deliver {msg:?}"));
        }
        match msg.body {
            Body::Request(req, keys) => {
                let (body, persist) = self.respond(n, msg.from, req, keys)?;
                self.note(|| match &body {
                    Body::News(_, news) => {
                        format!(
                            "{} fenced, tells {} records, to {req:?}",
                            IDS[n],
                            news.len()
                        )
                    }
                    Body::Answer(_, answer) => format!("{} answers {answer:?} to {req:?}", IDS[n]),
                    Body::Request(..) => unreachable!("an answer"),
                });
                if crash_mid_step && persist {
                    return self.crash_mid_step(n);
                }
                if persist {
                    self.persist_now(n);
                }
                self.send(Msg {
                    from: n,
                    to: msg.from,
                    body,
                });
            }
            Body::Answer(req, answer) => {
                let before = self.in_flight(n);
                let s = &mut self.servers[n];
                let request = req.request();
                match s.driver.answer(&mut s.node, IDS[msg.from], request, answer) {
                    Ok(()) => {}
                    // The step was not taken: it is when the answer comes
                    // again.
                    Err(DriverError::OutboxFull { .. }) => self.stats.outbox_full += 1,
                    Err(e) => {
                        return Err(violation(
                            Kind::Library,
                            format!(
                                "{}'s driver refused {answer:?} to {req:?} from {}: {e:?}",
                                IDS[n], IDS[msg.from]
                            ),
                        ));
                    }
                }
                self.resolved(n, &before);
                if crash_mid_step && self.servers[n].driver.must_persist() {
                    return self.crash_mid_step(n);
                }
            }
            Body::News(fence, news) => {
                let s = &mut self.servers[n];
                let told = news.iter().map(|&(mv, status)| Announcement {
                    id: mv.id(),
                    status,
                });
                let was = s.driver.is_recovering();
                let from = IDS[msg.from];
                match s
                    .driver
                    .recovered(&mut s.node, from, Epoch::new(fence), told)
                {
                    Ok(()) => {}
                    Err(DriverError::OutboxFull { .. }) => self.stats.outbox_full += 1,
                    Err(e) => {
                        return Err(violation(
                            Kind::Library,
                            format!(
                                "{}'s driver refused what {from} knows after the fence @{fence}: \
                                 {e:?}",
                                IDS[n]
                            ),
                        ));
                    }
                }
                if was && !self.servers[n].driver.is_recovering() {
                    self.stats.recoveries += 1;
                    // It learned it adopted: nothing of it was lost.
                    let adopted: Vec<Mv> = self.servers[n]
                        .node
                        .records()
                        .filter(|(phase, _)| *phase == Phase::Adopted)
                        .map(|(_, m)| Mv::of(&m))
                        .collect();
                    self.gap.retain(|_, g| !adopted.contains(&g.mv));
                    let records = self.describe_records(n);
                    self.note(|| format!("{} recovered: {records}", IDS[n]));
                }
                if crash_mid_step && self.servers[n].driver.must_persist() {
                    return self.crash_mid_step(n);
                }
            }
        }
        self.pump(n)
    }

    /// The moves of `before` node `n` no longer has in flight: counted,
    /// and the keys of a committed one deleted from its store (the target
    /// adopted them).
    fn resolved(&mut self, n: usize, before: &[Mv]) {
        let now = self.in_flight(n);
        for mv in before.iter().filter(|m| !now.contains(m)) {
            let committed = self.servers[n].node.records().any(|(phase, m)| {
                phase == Phase::Moved && m.prefix == mv.prefix && m.epoch.get() == mv.epoch
            });
            self.note(|| {
                format!(
                    "{} resolves {mv:?}: {}",
                    IDS[n],
                    if committed { "committed" } else { "aborted" }
                )
            });
            if committed {
                self.stats.committed += 1;
                // The keys are deleted once the commit is on the disk (a
                // crash before then loses the commit, and the move is in
                // flight again).
                let s = &mut self.servers[n];
                let keys = s.store.keys().filter(|k| k.starts_with(mv.prefix));
                let keys = keys.copied().collect();
                s.dropping.push((s.encoded, keys));
            } else {
                self.stats.aborted += 1;
            }
        }
    }

    // ----- crashes --------------------------------------------------------

    fn crash_mid_step(&mut self, n: usize) -> Result<(), Violation> {
        self.stats.mid_step_crashes += 1;
        self.note(|| format!("{} crashes before writing its image", IDS[n]));
        self.restart(n, false)
    }

    /// Node `n` boots from its disk: a fresh node restored from it, a new
    /// driver resumed from that node (a quarantined node's driver starts
    /// its recovery).
    fn reboot(&mut self, n: usize) -> Result<(), kevy_scope::moves::ImageError> {
        let s = &mut self.servers[n];
        s.node = Node::new(IDS[n], &TABLE, MoveTable::new()).unwrap();
        let restored = s.node.restore(&s.disk);
        s.driver = driver_for(&mut s.node);
        s.writing.clear();
        s.encoded = s.written;
        s.dropping.clear();
        s.wake = None;
        s.boots += 1;
        restored
    }

    /// A power cycle of node `n`: image writes in progress and driver
    /// state gone. With `corrupt`, one byte of a good image on the disk
    /// flips first (a damaged one stays damaged: a second flip must not
    /// undo the first).
    fn restart(&mut self, n: usize, corrupt: bool) -> Result<(), Violation> {
        self.stats.crashes += 1;
        if corrupt && !self.servers[n].damaged {
            self.stats.lost_images += 1;
            let s = &mut self.servers[n];
            let at = self.rng.below(s.disk.len());
            let flip = 1 + self.rng.below(255) as u8;
            s.disk[at] ^= flip;
            s.damaged = true;
        }
        let damaged = self.servers[n].damaged;
        if damaged {
            // What the node knew in memory is gone with its image.
            self.stats.damaged_boots += 1;
            self.mark_gap(n);
        }
        let restored = self.reboot(n);
        self.note(|| {
            format!(
                "{} restarts{}: {restored:?}",
                IDS[n],
                if damaged { " from a damaged disk" } else { "" }
            )
        });
        match (restored, damaged) {
            (Ok(()), false) => {}
            (Err(_), true) if self.servers[n].node.is_quarantined() => {}
            (Ok(()), true) => {
                return Err(violation(
                    Kind::Quarantine,
                    format!("{} restored a damaged image", IDS[n]),
                ));
            }
            (Err(e), _) => {
                return Err(violation(
                    Kind::Quarantine,
                    format!(
                        "{}: restore of its own image failed ({e:?}) or left it unquarantined",
                        IDS[n]
                    ),
                ));
            }
        }
        self.pump_if_up(n)
    }

    fn pump_if_up(&mut self, n: usize) -> Result<(), Violation> {
        if self.servers[n].down {
            Ok(())
        } else {
            self.pump(n)
        }
    }

    /// Whether node `n` may lose its records now: no other node is
    /// quarantined, and no other node's disk holds a damaged image (a node
    /// whose recovery is done in memory but not written yet would come
    /// back quarantined). The recovery assumes one node at a time.
    fn alone(&self, n: usize) -> bool {
        (0..NODES)
            .filter(|o| *o != n)
            .all(|o| !self.servers[o].node.is_quarantined() && !self.servers[o].damaged)
    }

    /// The node `n`'s disk restores to, if its image is good.
    fn disk_node(&self, n: usize) -> Option<SimNode> {
        let mut node = Node::new(IDS[n], &TABLE, MoveTable::new()).unwrap();
        node.restore(&self.servers[n].disk).ok().map(|()| node)
    }

    /// Node `t` loses what it knew (it boots from a damaged disk): each
    /// key whose last acknowledged write `t` accepted for a prefix it had
    /// adopted is in README's S3 gap when the move that gave it the prefix
    /// is still in flight on its source's disk (the source has not heard
    /// the `+OK` for good) and no other node's disk holds its adoption
    /// (the move's commit, or newer news inside the prefix, which only
    /// the adopter can have made). Such a key is marked with the value
    /// the source still holds, for [`Sim::check_safety`], until the node,
    /// recovered, knows it adopted. (The source committing the move on an
    /// old `+OK` does not clear it: a crash loses the commit until it is on
    /// the source's disk, and once it is, the recovery learns it there.)
    fn mark_gap(&mut self, t: usize) {
        let disks: Vec<Option<SimNode>> = (0..NODES)
            .map(|n| if n == t { None } else { self.disk_node(n) })
            .collect();
        let holds_adoption = |mv: Mv| {
            disks.iter().flatten().any(|d| {
                d.records().any(|(phase, m)| {
                    let m = Mv::of(&m);
                    let committed = m == mv && matches!(phase, Phase::Moved | Phase::Adopted);
                    committed || (m.prefix.starts_with(mv.prefix) && m.epoch > mv.epoch)
                })
            })
        };
        let in_flight_at_source = |mv: Mv| {
            disks[mv.from]
                .as_ref()
                .is_some_and(|d| d.in_flight().any(|m| Mv::of(&m) == mv))
        };
        let mut marked = Vec::new();
        for (&key, ack) in &self.acked {
            let Some(mv) = ack.under else {
                continue;
            };
            if ack.at == t && in_flight_at_source(mv) && !holds_adoption(mv) {
                let gap = Gap {
                    lost: self.truth[key],
                    source: self.servers[mv.from].store.get(key).copied(),
                    mv,
                };
                marked.push((key, gap));
            }
        }
        for (key, gap) in marked {
            self.note(|| {
                format!(
                    "{} loses its adoption of {:?}: the write {:?}={} is in README's S3 gap",
                    IDS[t],
                    gap.mv,
                    lossy(key),
                    gap.lost
                )
            });
            self.gap.insert(key, gap);
        }
    }

    /// Node `n`'s records, for the log.
    fn describe_records(&self, n: usize) -> String {
        if !self.logging {
            return String::new();
        }
        let records: Vec<String> = self.servers[n]
            .node
            .records()
            .map(|(phase, m)| format!("{phase:?} {:?}", Mv::of(&m)))
            .collect();
        format!("{records:?}")
    }

    // ----- the operator ----------------------------------------------------

    /// Where the operator sends `MOVE-SCOPE prefix`: the node a client
    /// ends at for a key under it, most of the time; a random node
    /// otherwise.
    fn operator_guess(&mut self, prefix: &[u8]) -> usize {
        let key = KEYS.iter().find(|k| k.starts_with(prefix));
        let start = self.rng.below(NODES);
        if let Some(key) = key
            && self.rng.chance(75)
        {
            let mut at = start;
            for _ in 0..NODES {
                match self.verdict(at, key) {
                    V::Misdirected(to) => at = to,
                    _ => break,
                }
            }
            return at;
        }
        start
    }

    fn operator_move(&mut self) -> Result<(), Violation> {
        let (at, prefix, to) = if self.rng.chance(20) && !self.commands.is_empty() {
            let c = self.rng.pick(&self.commands);
            self.note(|| "operator replays an earlier command".into());
            c
        } else {
            let prefix = self.rng.pick(&PREFIXES);
            let to = self.rng.below(NODES);
            (self.operator_guess(prefix), prefix, to)
        };
        self.commands.push((at, prefix, to));
        if self.servers[at].down {
            return Ok(());
        }
        let s = &mut self.servers[at];
        let started = s.driver.start(&mut s.node, prefix, IDS[to]);
        self.note(|| {
            format!(
                "MOVE-SCOPE {:?} TO {} on {}: {started:?}",
                lossy(prefix),
                IDS[to],
                IDS[at]
            )
        });
        if let Ok(ticket) = started {
            self.stats.moves_started += 1;
            let command = Command {
                prefix,
                to,
                replies: Vec::new(),
            };
            let key = (at, self.servers[at].boots, ticket.get());
            if self.tickets.insert(key, command).is_some() {
                return Err(violation(
                    Kind::Operator,
                    format!("{} gave ticket {} twice", IDS[at], ticket.get()),
                ));
            }
        }
        self.pump(at)
    }

    // ----- clients and the quorum service ---------------------------------------

    /// A client writes a random key at a random up node and follows
    /// redirects; an accepted write is acknowledged and becomes the truth.
    fn client_write(&mut self) -> Result<(), Violation> {
        let key = self.rng.pick(&KEYS);
        let start = self.rng.below(NODES);
        if self.servers[start].down {
            return Ok(());
        }
        self.hand_over_to_stand_ins();
        let mut at = start;
        let mut path = vec![start];
        loop {
            match self.verdict(at, key) {
                V::Accept => break,
                V::Misdirected(to) => {
                    if path.contains(&to) {
                        return Err(violation(
                            Kind::S2,
                            format!(
                                "client redirect cycle for {:?}: {path:?} -> {to}",
                                lossy(key)
                            ),
                        ));
                    }
                    path.push(to);
                    at = to;
                    if self.servers[at].down {
                        return Ok(());
                    }
                }
                V::Quiesced(_) | V::Unavailable => return Ok(()),
            }
        }
        let value = self.next_value;
        self.next_value += 1;
        self.servers[at].put(key, Some(value));
        self.truth.insert(key, value);
        let under = self.servers[at]
            .node
            .records()
            .filter(|(_, m)| key.starts_with(m.prefix))
            .max_by_key(|(_, m)| (m.epoch, m.prefix.len()))
            .filter(|(phase, m)| *phase == Phase::Adopted && m.from != IDS[at])
            .map(|(_, m)| Mv::of(&m));
        self.acked.insert(key, Ack { at, under });
        self.gap.remove(key);
        let hops = path.len() - 1;
        self.stats.writes_acked += 1;
        self.stats.max_hops = self.stats.max_hops.max(hops);
        if is_scoped(key) && self.own_verdict(at, key) != V::Accept {
            self.stats.stand_in_writes += 1;
        }
        self.note(|| {
            format!(
                "write {:?}={value} at {} acknowledged by {} after {hops} hops",
                lossy(key),
                IDS[start],
                IDS[at]
            )
        });
        Ok(())
    }

    /// The quorum service flips node `n`'s flag. Coming back up, a writer
    /// gets back what its fallback held for the keys it stood in for, and
    /// its driver is polled.
    fn flip_down(&mut self, n: usize) -> Result<(), Violation> {
        let s = &mut self.servers[n];
        s.down = !s.down;
        let down = s.down;
        self.note(|| format!("{} {}", IDS[n], if down { "down" } else { "up" }));
        if down {
            return Ok(());
        }
        let handed_back: Vec<(&'static [u8], usize)> = self
            .standing_in
            .iter()
            .filter(|(k, _)| TABLE.lookup(k).is_some_and(|s| idx(s.writer()) == n))
            .map(|(k, f)| (*k, *f))
            .collect();
        for (key, f) in handed_back {
            self.standing_in.remove(key);
            self.copy_value(key, f, n);
        }
        self.pump(n)
    }

    /// Gives a fallback that now stands in for a down writer on a key the
    /// writer's value of it (once per down period).
    fn hand_over_to_stand_ins(&mut self) {
        for key in KEYS {
            let Some(scope) = TABLE.lookup(key) else {
                continue;
            };
            let (w, Some(f)) = (idx(scope.writer()), scope.fallback().map(idx)) else {
                continue;
            };
            let stands_in = self.servers[w].down
                && !self.servers[f].down
                && self.verdict(f, key) == V::Accept
                && self.own_verdict(f, key) != V::Accept;
            if stands_in && !self.standing_in.contains_key(key) {
                self.standing_in.insert(key, f);
                self.copy_value(key, w, f);
            }
        }
    }

    fn copy_value(&mut self, key: &'static [u8], from: usize, to: usize) {
        let value = self.servers[from].store.get(key).copied();
        self.servers[to].put(key, value);
    }

    // ----- network faults ----------------------------------------------------------

    /// A random message whose receiver is up, taken off the network.
    fn take_deliverable(&mut self) -> Option<Msg> {
        let ready: Vec<usize> = (0..self.net.len())
            .filter(|i| !self.servers[self.net[*i].to].down)
            .collect();
        if ready.is_empty() {
            return None;
        }
        let i = self.rng.pick(&ready);
        Some(self.net.remove(i))
    }

    fn drop_message(&mut self) {
        if !self.net.is_empty() {
            let i = self.rng.below(self.net.len());
            let m = self.net.remove(i);
            self.note(|| format!("lost {m:?}"));
        }
    }

    fn duplicate_message(&mut self) {
        if !self.net.is_empty() {
            let m = self.net[self.rng.below(self.net.len())].clone();
            self.note(|| format!("duplicated {m:?}"));
            self.net.push(m);
        }
    }

    fn replay_message(&mut self) {
        if !self.history.is_empty() {
            let m = self.history[self.rng.below(self.history.len())].clone();
            self.note(|| format!("replayed {m:?}"));
            self.net.push(m);
        }
    }

    // ----- one step ---------------------------------------------------------------------

    fn random_step(&mut self) -> Result<(), Violation> {
        match self.rng.below(100) {
            0..=43 => {
                if let Some(m) = self.take_deliverable() {
                    let crash = self.rng.chance(3);
                    self.deliver(m, crash)?;
                }
            }
            44..=57 => self.client_write()?,
            58..=67 => self.operator_move()?,
            68..=75 => self.time_passes()?,
            76..=79 => self.a_write_finishes()?,
            80..=84 => self.drop_message(),
            85..=87 => self.duplicate_message(),
            88..=91 => self.replay_message(),
            92..=94 => {
                let n = self.rng.below(NODES);
                // One node recovers at a time (the driver's assumption).
                let corrupt = self.rng.chance(15) && self.alone(n);
                self.restart(n, corrupt)?;
            }
            _ => self.quorum_flip()?,
        }
        Ok(())
    }

    /// The clock advances; every driver whose time has come is polled.
    fn time_passes(&mut self) -> Result<(), Violation> {
        self.now += 1 + self.rng.below(TICK_MS) as u64;
        for n in 0..NODES {
            self.timer(n)?;
        }
        Ok(())
    }

    /// The oldest image write in progress on a random up node finishes.
    fn a_write_finishes(&mut self) -> Result<(), Violation> {
        let writing: Vec<usize> = (0..NODES)
            .filter(|n| !self.servers[*n].down && !self.servers[*n].writing.is_empty())
            .collect();
        if writing.is_empty() {
            return Ok(());
        }
        let n = self.rng.pick(&writing);
        self.flush(n)
    }

    /// The quorum service brings a down node back up half the time, and
    /// flips a random node otherwise.
    fn quorum_flip(&mut self) -> Result<(), Violation> {
        let down: Vec<usize> = (0..NODES).filter(|n| self.servers[*n].down).collect();
        let n = if !down.is_empty() && self.rng.chance(50) {
            self.rng.pick(&down)
        } else {
            self.rng.below(NODES)
        };
        self.flip_down(n)
    }

    // ----- checks ---------------------------------------------------------------

    /// S1–S4 and quarantine, for every key.
    fn check_safety(&mut self) -> Result<(), Violation> {
        for key in KEYS {
            let verdicts: Vec<V> = (0..NODES).map(|n| self.verdict(n, key)).collect();
            if !is_scoped(key) {
                continue;
            }
            self.check_quarantine(key, &verdicts)?;
            let acceptors: Vec<usize> = self.up().filter(|n| verdicts[*n] == V::Accept).collect();
            if acceptors.len() > 1 {
                return Err(violation(
                    Kind::S1,
                    format!("{:?} accepted by {}", lossy(key), names(&acceptors)),
                ));
            }
            check_no_redirect_cycle(key, &verdicts)?;
            if let (Some(&a), Some(&value)) = (acceptors.first(), self.truth.get(key)) {
                let held = self.servers[a].store.get(key).copied();
                let gap = self.gap.get(key).copied();
                let in_gap = gap.is_some_and(|g| g.lost == value && g.source == held);
                if held != Some(value) && in_gap && self.exempt_gap {
                    // README's S3 gap, exactly: the write's acceptor lost
                    // its image before anyone heard of its adoption, and
                    // the prefix is back with its source, as it was.
                    self.stats.gap_exemptions += 1;
                    self.note(|| {
                        format!(
                            "S3 gap: {:?}={value} lost with {:?}; {} holds {held:?}",
                            lossy(key),
                            gap.map(|g| g.mv),
                            IDS[a]
                        )
                    });
                    match held {
                        Some(v) => self.truth.insert(key, v),
                        None => self.truth.remove(key),
                    };
                    self.acked.remove(key);
                    self.gap.remove(key);
                } else if held != Some(value) {
                    return Err(violation(
                        Kind::S3,
                        format!(
                            "{:?}: last acknowledged {value}, its acceptor {} holds {held:?}",
                            lossy(key),
                            IDS[a]
                        ),
                    ));
                }
            }
            self.check_quiesced(key, &verdicts)?;
        }
        Ok(())
    }

    fn check_quarantine(&self, key: &[u8], verdicts: &[V]) -> Result<(), Violation> {
        for n in 0..NODES {
            if self.servers[n].node.is_quarantined() && verdicts[n] != V::Unavailable {
                return Err(violation(
                    Kind::Quarantine,
                    format!(
                        "quarantined {} answers {:?} for {:?}",
                        IDS[n],
                        verdicts[n],
                        lossy(key)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// S4: `-QUIESCED to T` only from the source of a move of the key to T
    /// still in flight there, or from a node whose newest news of the key
    /// is such a move, pending, while its source is flagged down (the
    /// write waits as it would on the source: `src/moves/node.rs`).
    fn check_quiesced(&self, key: &[u8], verdicts: &[V]) -> Result<(), Violation> {
        for n in self.up() {
            if let V::Quiesced(to) = verdicts[n] {
                let node = &self.servers[n].node;
                let moving = node
                    .in_flight()
                    .any(|m| key.starts_with(m.prefix) && idx(m.to) == to);
                let newest = node
                    .records()
                    .filter(|(_, m)| key.starts_with(m.prefix))
                    .max_by_key(|(_, m)| (m.epoch, m.prefix.len()));
                let waiting = newest.is_some_and(|(phase, m)| {
                    phase == Phase::Pending && idx(m.to) == to && self.servers[idx(m.from)].down
                });
                if !moving && !waiting {
                    return Err(violation(
                        Kind::S4,
                        format!(
                            "{} answers QUIESCED to {} for {:?} with no such move in flight \
                             nor pending with its source down",
                            IDS[n],
                            IDS[to],
                            lossy(key)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// L1, once the calm phase is quiet.
    fn check_settled(&self) -> Result<(), Violation> {
        for (s, id) in self.servers.iter().zip(IDS) {
            if s.node.is_quarantined() || s.damaged {
                return Err(violation(
                    Kind::L1,
                    format!(
                        "{id} has not recovered (its disk is damaged: {})",
                        s.damaged
                    ),
                ));
            }
            if let Some(m) = s.node.in_flight().next() {
                return Err(violation(
                    Kind::L1,
                    format!("{id} still has {:?} in flight", Mv::of(&m)),
                ));
            }
        }
        for (&(n, boot, ticket), c) in &self.tickets {
            if c.replies.is_empty() && boot == self.servers[n].boots {
                return Err(violation(
                    Kind::L1,
                    format!(
                        "command {ticket} on {} (MOVE-SCOPE {:?} TO {}) never answered",
                        IDS[n],
                        lossy(c.prefix),
                        IDS[c.to]
                    ),
                ));
            }
        }
        for key in KEYS.iter().filter(|k| is_scoped(k)) {
            let verdicts: Vec<V> = (0..NODES).map(|n| self.verdict(n, key)).collect();
            let acceptors = self.acceptors(key);
            let [a] = acceptors[..] else {
                return Err(violation(
                    Kind::L1,
                    format!(
                        "{:?} has {} acceptors after the calm phase: {verdicts:?}",
                        lossy(key),
                        acceptors.len()
                    ),
                ));
            };
            for n in (0..NODES).filter(|n| *n != a) {
                if verdicts[n] != V::Misdirected(a) {
                    return Err(violation(
                        Kind::L1,
                        format!(
                            "{:?}: {} answers {:?}, not one hop to the acceptor {}",
                            lossy(key),
                            IDS[n],
                            verdicts[n],
                            IDS[a]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether nothing is left to do: no message in flight, no image
    /// being written, every driver idle, no move in flight.
    fn quiet(&self) -> bool {
        self.net.is_empty()
            && self.servers.iter().all(|s| {
                s.writing.is_empty() && s.driver.is_idle() && s.node.in_flight().next().is_none()
            })
    }

    /// Faults stop: repair, bring everyone up, then rounds until quiet:
    /// every message is delivered, oldest first, until none is left; then
    /// the clock passes every deadline and every driver is polled.
    /// Returns the rounds and the deliveries.
    fn calm(&mut self) -> Result<(usize, usize), Violation> {
        self.calm = true;
        self.note(|| "calm: faults stop".into());
        for n in 0..NODES {
            if self.servers[n].down {
                self.flip_down(n)?;
            }
            while !self.servers[n].writing.is_empty() {
                self.flush(n)?;
            }
        }
        let mut deliveries = 0;
        for round in 0..=CALM_ROUND_BOUND {
            self.drain(&mut deliveries)?;
            if self.quiet() {
                return Ok((round, deliveries));
            }
            self.now += CALM_TICK_MS;
            for n in 0..NODES {
                self.timer(n)?;
            }
        }
        let outstanding = self.describe_outstanding();
        let redirects = match self.check_settled() {
            Ok(()) => "redirects are nonetheless one hop".to_string(),
            Err(v) => format!("and {}", v.what),
        };
        Err(violation(
            Kind::L1,
            format!(
                "not quiet after {CALM_ROUND_BOUND} rounds, {redirects}:\n    {}",
                outstanding.join("\n    ")
            ),
        ))
    }

    /// What each node still has to do.
    fn describe_outstanding(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (n, s) in self.servers.iter().enumerate() {
            if !s.driver.is_idle() || !s.writing.is_empty() {
                lines.push(format!(
                    "{}: {} writes in progress, wake {:?}, {:?}",
                    IDS[n],
                    s.writing.len(),
                    s.wake,
                    s.driver
                ));
            }
            for mv in self.in_flight(n) {
                lines.push(format!("{}: {mv:?} in flight", IDS[n]));
            }
            let records: Vec<String> = s
                .node
                .records()
                .map(|(phase, m)| format!("{phase:?} {:?}", Mv::of(&m)))
                .collect();
            lines.push(format!(
                "{} (epoch {}) holds {records:?}",
                IDS[n],
                s.node.epoch().get()
            ));
        }
        lines
    }

    /// Delivers every message, oldest first, checking after each.
    fn drain(&mut self, deliveries: &mut usize) -> Result<(), Violation> {
        while !self.net.is_empty() {
            let m = self.net.remove(0);
            self.deliver(m, false)?;
            *deliveries += 1;
            self.step += 1;
            self.hand_over_to_stand_ins();
            self.check_safety()?;
        }
        Ok(())
    }
}

impl Sim {
    /// `steps` random steps, each followed by the safety checks, then the
    /// calm phase and L1.
    fn run(&mut self, steps: usize) -> Result<(), Violation> {
        for step in 0..steps {
            self.step = step;
            self.random_step()?;
            self.stats.net_max = self.stats.net_max.max(self.net.len());
            self.hand_over_to_stand_ins();
            self.check_safety()?;
        }
        self.step = steps;
        let (rounds, deliveries) = self.calm()?;
        self.check_settled()?;
        self.stats.calm_rounds_max = rounds;
        self.stats.calm_deliveries_max = deliveries;
        self.stats.calm_deliveries_sum = deliveries as u64;
        Ok(())
    }
}

/// `KEVY_SIM_LOG=all` keeps and prints every event of a failing run.
fn full_log() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::var("KEVY_SIM_LOG").is_ok_and(|v| v == "all"))
}

fn names(nodes: &[usize]) -> String {
    nodes.iter().map(|n| IDS[*n]).collect::<Vec<_>>().join(", ")
}

/// S2: from every node, following `-MISDIRECTED` never revisits a node.
fn check_no_redirect_cycle(key: &[u8], verdicts: &[V]) -> Result<(), Violation> {
    for start in 0..NODES {
        let mut path = vec![start];
        let mut at = start;
        while let V::Misdirected(to) = verdicts[at] {
            if path.contains(&to) {
                return Err(violation(
                    Kind::S2,
                    format!(
                        "redirect cycle for {:?}: {} -> {}",
                        lossy(key),
                        names(&path),
                        IDS[to]
                    ),
                ));
            }
            path.push(to);
            at = to;
        }
    }
    Ok(())
}

/// A failed run: the seed, where and what, and the last events.
struct Failure {
    seed: u64,
    step: usize,
    kind: Kind,
    what: String,
    log: Vec<String>,
    /// How to run this seed again.
    replay: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} step {}: {:?} violated: {}",
            self.seed, self.step, self.kind, self.what
        )?;
        writeln!(f, "last events:")?;
        let tail = if full_log() {
            0
        } else {
            self.log.len().saturating_sub(LOG_TAIL)
        };
        for e in &self.log[tail..] {
            writeln!(f, "  {e}")?;
        }
        write!(f, "replay: {}", self.replay)
    }
}

/// Runs one seed: `steps` random steps with faults, each followed by the
/// safety checks, then the calm phase and L1. A failing seed runs again
/// with its events kept (the run is deterministic).
fn run(seed: u64, steps: usize) -> Result<Stats, Failure> {
    run_logged(seed, steps, false)
        .map_err(|failure| run_logged(seed, steps, true).err().unwrap_or(failure))
}

fn run_logged(seed: u64, steps: usize, logging: bool) -> Result<Stats, Failure> {
    let mut sim = Sim::new(seed);
    sim.logging = logging;
    match sim.run(steps) {
        Ok(()) => {
            if sim.stats.gap_exemptions > 0 {
                sim.stats.gap_seeds.push(seed);
            }
            Ok(sim.stats)
        }
        Err(Violation { kind, what }) => Err(Failure {
            seed,
            step: sim.step,
            kind,
            what,
            log: sim.log,
            replay: format!(
                "KEVY_SIM_SEED={seed} cargo test --release --all-features --test cluster"
            ),
        }),
    }
}

/// Seeds from `KEVY_SIM_SEED=n` (one) or `KEVY_SIM_SEEDS=a..b`, else
/// `default`.
fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    if let Ok(s) = std::env::var("KEVY_SIM_SEED") {
        let n: u64 = s.trim().parse().expect("KEVY_SIM_SEED is a number");
        return n..n + 1;
    }
    if let Ok(s) = std::env::var("KEVY_SIM_SEEDS") {
        let (a, b) = s
            .trim()
            .split_once("..")
            .expect("KEVY_SIM_SEEDS looks like a..b");
        return a.parse().expect("a number")..b.parse().expect("a number");
    }
    default
}

/// Runs `seeds` on every core; the stats and every failure.
fn run_many(seeds: std::ops::Range<u64>) -> (Stats, Vec<Failure>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all: Vec<u64> = seeds.collect();
    let chunks: Vec<Vec<u64>> = (0..threads)
        .map(|t| all.iter().copied().skip(t).step_by(threads).collect())
        .collect();
    let results: Vec<(Stats, Vec<Failure>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut stats = Stats::default();
                    let mut failures = Vec::new();
                    for &seed in chunk {
                        match run(seed, STEPS) {
                            Ok(s) => stats.add(&s),
                            Err(f) => failures.push(f),
                        }
                    }
                    (stats, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    for (s, f) in results {
        stats.add(&s);
        failures.extend(f);
    }
    failures.sort_by_key(|f| f.seed);
    (stats, failures)
}

fn report(stats: &Stats, failures: &[Failure]) {
    let mut gap_seeds = stats.gap_seeds.clone();
    gap_seeds.sort_unstable();
    let per_run = |x: u64| x as f64 / stats.runs.max(1) as f64;
    println!(
        "{} runs passed, {} failed; per run: {:.1} moves started, {:.1} committed, {:.1} aborted, \
         {:.1} operator replies TRYAGAIN, {:.1} ships, {:.2} watch queries, {:.1} crashes ({:.1} mid-step, {:.2} \
         from a damaged disk), {:.1} slow image writes, {:.2} answers refused for a full outbox, {:.1} writes \
         acknowledged ({:.1} by a stand-in); longest client path {} hops; at most {} messages in flight; calm phase: {} rounds \
         at most, {:.1} deliveries on average, {} at most; in all: {} images lost, {} recoveries, {} fences answered, \
         {} acknowledged writes lost in README's S3 gap (exempted; in {} runs: {:?}{})",
        stats.runs,
        failures.len(),
        per_run(stats.moves_started),
        per_run(stats.committed),
        per_run(stats.aborted),
        per_run(stats.try_again),
        per_run(stats.ships),
        per_run(stats.watch_queries),
        per_run(stats.crashes),
        per_run(stats.mid_step_crashes),
        per_run(stats.damaged_boots),
        per_run(stats.slow_writes),
        per_run(stats.outbox_full),
        per_run(stats.writes_acked),
        per_run(stats.stand_in_writes),
        stats.max_hops,
        stats.net_max,
        stats.calm_rounds_max,
        per_run(stats.calm_deliveries_sum),
        stats.calm_deliveries_max,
        stats.lost_images,
        stats.recoveries,
        stats.fences,
        stats.gap_exemptions,
        gap_seeds.len(),
        &gap_seeds[..gap_seeds.len().min(20)],
        if gap_seeds.len() > 20 { ", ..." } else { "" },
    );
}

#[test]
fn every_seed_keeps_the_invariants() {
    let seeds = seeds_from_env(0..1_000);
    let started = Instant::now();
    let (stats, failures) = run_many(seeds.clone());
    report(&stats, &failures);
    println!("seeds {seeds:?} in {:.1?}", started.elapsed());
    if let Some(first) = failures.first() {
        let seeds: Vec<u64> = failures.iter().map(|f| f.seed).collect();
        panic!("{first}\nfailing seeds: {seeds:?}");
    }
}

#[test]
fn earlier_failing_seeds_pass() {
    // The seeds earlier simulations failed on.
    for seed in [
        6606, 25291, 29394, 32142, 38213, 39256, 46330, 47394, 47606, 5554, 14828, 35653, 45169,
        // A source's host that deleted the moved keys before the commit
        // was on its disk: a crash lost the commit, the target lost its
        // image, and the move aborted with the keys gone.
        299,
    ] {
        if let Err(f) = run(seed, STEPS) {
            panic!("{f}");
        }
    }
}

/// README's S3 gap is real, and the exemption takes exactly it: in these
/// runs a target accepts a write for a prefix it adopted, its `+OK` is
/// lost, and it loses its image before anyone hears of the adoption; it
/// recovers without it, its source keeps the prefix, and the write is
/// lost. Without the exemption S3 fails; with it the run passes. (Seeds
/// the soak reported with exemptions; after a change to the simulation,
/// take new ones from its report.)
#[test]
fn the_s3_gap_is_real_and_exempted() {
    let seeds = [371, 896];
    let mut shown = 0;
    for seed in seeds {
        let stats = run(seed, STEPS).unwrap_or_else(|f| panic!("{f}"));
        if stats.gap_exemptions == 0 {
            continue;
        }
        let mut strict = Sim::new(seed);
        strict.exempt_gap = false;
        let failure = strict
            .run(STEPS)
            .expect_err("without the exemption S3 fails");
        assert_eq!(failure.kind, Kind::S3, "{}", failure.what);
        shown += 1;
    }
    assert!(
        shown > 0,
        "none of {seeds:?} shows the gap any more: take seeds from the soak's report"
    );
}

/// The first seed below `limit` that fails, on this thread (the mutant
/// switches are the thread's).
#[cfg(kevy_mutants)]
fn first_failure(limit: u64) -> Option<Failure> {
    (0..limit).find_map(|seed| run(seed, STEPS).err())
}

#[cfg(kevy_mutants)]
#[test]
fn persisting_after_replying_loses_a_guarantee() {
    // Thread-local: only this test's drivers hand out messages before the
    // persist they depend on is written.
    SimDriver::send_before_persist(true);
    let failure = first_failure(3_000);
    SimDriver::send_before_persist(false);
    let mut failure = failure
        .expect("a driver that sends before it persists breaks a guarantee within 3000 seeds");
    failure.replay = "(mutant) cargo test --release --all-features --test cluster -- \
                      persisting_after_replying --nocapture"
        .into();
    println!("{failure}");
    assert!(
        matches!(failure.kind, Kind::S1 | Kind::S2 | Kind::S3),
        "{failure}"
    );
}

#[cfg(kevy_mutants)]
#[test]
fn shipping_before_the_fallback_knows_loses_a_guarantee() {
    // Thread-local: only this test's drivers ship without telling the
    // scope's fallback first.
    SimDriver::ship_unprepared(true);
    let failure = first_failure(3_000);
    SimDriver::ship_unprepared(false);
    let mut failure = failure.expect("shipping unprepared breaks a guarantee within 3000 seeds");
    failure.replay = "(mutant) cargo test --release --all-features --test cluster -- \
                      shipping_before_the_fallback --nocapture"
        .into();
    println!("{failure}");
    assert!(
        matches!(failure.kind, Kind::S1 | Kind::S2 | Kind::S3),
        "{failure}"
    );
}

#[cfg(kevy_mutants)]
#[test]
fn without_the_epoch_fence_two_nodes_accept() {
    // Thread-local: only this test's nodes skip the fence.
    kevy_scope::mutants::ignore_epochs(true);
    let failure = first_failure(3_000);
    kevy_scope::mutants::ignore_epochs(false);
    let mut failure =
        failure.expect("without the epoch fence a guarantee breaks within 3000 seeds");
    failure.replay = "(mutant) cargo test --release --all-features --test cluster -- \
                      without_the_epoch_fence --nocapture"
        .into();
    println!("{failure}");
    assert!(
        matches!(failure.kind, Kind::S1 | Kind::S2 | Kind::S3),
        "{failure}"
    );
}

/// `cargo test --release --all-features --test cluster -- --ignored soak
/// --nocapture` (seeds from `KEVY_SIM_SEEDS`, default 0..100000).
#[test]
#[ignore = "long: run on demand"]
fn soak() {
    let seeds = seeds_from_env(0..100_000);
    let started = Instant::now();
    let (stats, failures) = run_many(seeds.clone());
    println!(
        "soak: seeds {seeds:?}: {} ran in {:.1?}",
        seeds.end - seeds.start,
        started.elapsed()
    );
    report(&stats, &failures);
    for f in &failures {
        println!("{f}\n");
    }
    let failed: Vec<(u64, Kind)> = failures.iter().map(|f| (f.seed, f.kind)).collect();
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

/// `KEVY_SIM_SEED=n KEVY_SIM_LOG=all cargo test --release --all-features
/// --test cluster -- --ignored replay --nocapture`: every event of one
/// run, failing or not (say, a run with an S3 exemption).
#[test]
#[ignore = "on demand"]
fn replay() {
    let seed = seeds_from_env(0..1).start;
    let mut sim = Sim::new(seed);
    sim.logging = true;
    let outcome = sim.run(STEPS);
    for line in &sim.log {
        println!("{line}");
    }
    println!("seed {seed}: {outcome:?}; {:?}", sim.stats);
}

#[test]
fn the_reference_crate_ping_pongs_after_a_move() {
    // Node A commits app:billing: to B. B's static config still names A.
    let table = || {
        upstream::OwnershipTable::new(vec![upstream::Scope::new(
            b"app:billing:".to_vec(),
            "A".into(),
        )])
        .unwrap()
    };
    let decide =
        |node: &str, table: &upstream::OwnershipTable, moves: &upstream::MigrationTable| {
            let key = b"app:billing:1";
            if let Some(st) = moves.match_migrating(key) {
                return format!("QUIESCED {}", st.to);
            }
            if let Some(st) = moves.match_migrated(key) {
                return format!("MISDIRECTED {}", st.to);
            }
            match table.route(key, node) {
                upstream::Routing::Misdirected { target } => format!("MISDIRECTED {target}"),
                _ => "ACCEPT".into(),
            }
        };
    let (a_moves, b_moves) = (
        upstream::MigrationTable::new(),
        upstream::MigrationTable::new(),
    );
    a_moves
        .start(b"app:billing:".to_vec(), "A".into(), "B".into())
        .unwrap();
    a_moves.commit(b"app:billing:").unwrap();
    assert_eq!(decide("A", &table(), &a_moves), "MISDIRECTED B");
    assert_eq!(decide("B", &table(), &b_moves), "MISDIRECTED A");
}
