//! The source side of MOVE-SCOPE and the announcements, as a sans-IO
//! state machine: events in, effects out, no I/O, no clock, no heap.
//!
//! A [`Node`] decides every step of a move; what it leaves to its host is
//! the conversation around the steps: telling the scope's fallback before
//! shipping, waiting for answers, asking the outcome when an answer does
//! not come, announcing a move's end to every peer until each
//! acknowledges, starting over after a restart, and above all persisting
//! a step before anything that depends on it leaves the node. A
//! [`Driver`] holds that volatile state in fixed capacity and tells its
//! host what to do, one [`Effect`] at a time. The host moves bytes; it
//! never decides.
//!
//! # The host's contract
//!
//! 1. **Boot.** Build the node (`Node::new`, then [`Node::restore`] from
//!    the stored image, or nothing on a first boot), build the driver with
//!    [`Driver::new`] from the peer list, and call [`Driver::resume`]: it
//!    asks the outcome of every move the image holds in flight and owes
//!    every peer the news the image vouches for ([`Node::announcements`]),
//!    since what the driver owed before the restart is lost. A node whose
//!    image is damaged or missing (`restore` failed, or data without an
//!    image: build it with [`Node::quarantined`]) recovers first
//!    ("Recovery" below).
//! 2. **Events.** Feed the driver:
//!    - [`Driver::start`] for an operator's MOVE-SCOPE on this node;
//!    - [`Driver::answer`] for every answer a peer gives to a request the
//!      driver sent ([`Effect::Send`]) or to a ship ([`Effect::Ship`],
//!      answered as [`Request::Ingest`]), with the request it answers;
//!      a request that got no answer (lost, timed out, connection closed)
//!      needs no event: the driver's own deadlines cover it;
//!    - [`Driver::persisted`] once an image it asked for is on stable
//!      storage.
//! 3. **Effects.** After every event, and whenever the time of the last
//!    [`Effect::Wake`] has come, call [`Driver::poll`] with the current
//!    time until it returns `None`, and carry out each effect:
//!    - [`Effect::Persist`]: encode the node's image **now**
//!      ([`Node::encode_image`]), before any other call on the node or the
//!      driver, and write it to stable storage; call
//!      [`Driver::persisted`] when the write is done. Nothing that depends
//!      on the steps the image holds is handed out before then. Images
//!      reach storage in the order they were encoded, each acknowledged
//!      with one `persisted`.
//!    - [`Effect::Send`]: deliver the request to the peer, and feed its
//!      answer back with [`Driver::answer`]. On the wire, a request is the
//!      [`PeerRequest`](crate::wire::PeerRequest) of the same name, and
//!      `Answer::from` reads a [`PeerReply`].
//!    - [`Effect::Ship`]: stream the keys under the move's prefix to its
//!      target as `MOVE-SCOPE-INGEST`
//!      ([`PeerRequest::encode_ingest_header`](crate::wire::PeerRequest::encode_ingest_header),
//!      then the keys), and feed the target's answer back (its `+OK n` as
//!      [`Answer::Ingested`]). The driver never holds the keys; the host
//!      reads them from its store while it sends them.
//!    - [`Effect::Reply`]: answer the operator's command `ticket` (the
//!      epoch [`Driver::start`] returned).
//!    - [`Effect::Wake`]: call `poll` again at that time (a later `Wake`
//!      replaces it). The clock is the host's, in milliseconds, any
//!      origin; it must not go back.
//! 4. **The other side of each request** is the host's, on the peer that
//!    receives it, straight on its [`Node`]. An answer tells what the node
//!    knows, all of it, so it leaves only once all of it is on stable
//!    storage: when the step's `must_persist()` says so, **or when
//!    [`Driver::must_persist`] does** (a step of the driver's, say a
//!    `start_move` that raised the node's epoch, is not written yet; a
//!    fence answered from it and lost in a crash would let a fenced ingest
//!    through), call [`Driver::persisting`], encode and write the node's
//!    image, call [`Driver::persisted`], then answer:
//!
//!    | request | the receiving host calls | answers |
//!    | --- | --- | --- |
//!    | [`Request::News`] | [`Node::learn`] | [`Answer::Learned`]; [`Answer::Stale`] on `Stale`; else [`Answer::Refused`] |
//!    | [`Request::Ingest`] | [`Node::check_ingest`], applies the keys on [`Ingest::Apply`](crate::moves::Ingest::Apply), [`Node::adopt`] | [`Answer::Ingested`] with the key count; [`Answer::Stale`] on `Stale`; else [`Answer::Refused`] |
//!    | [`Request::Outcome`], [`Request::Recheck`] | [`Node::move_outcome`] | [`Answer::Outcome`]; else [`Answer::Refused`] |
//!    | [`Request::Epoch`] | [`Node::known_epoch`] (refused while quarantined) | [`Answer::Epoch`]; else [`Answer::Refused`] |
//!    | [`Request::Fence`] | [`Node::fence`] with the sender's id | the list [`Node::news`] ([`encode_news`](crate::wire::encode_news)), which the asker feeds to [`Driver::recovered`]; else [`Answer::Refused`] |
//!
//! 5. **Peers.** The peer list names every node the ownership table or a
//!    move names (writers, fallbacks, targets): a move to a node that is
//!    not a peer is refused, a fallback that is not a peer cannot be told
//!    (its move is aborted through the outcome query), and news is owed to
//!    peers only. The list may hold this node itself; nothing is sent to
//!    it.
//!
//! # What the driver does
//!
//! A move the operator starts ([`Node::start_move`], persisted) first
//! tells the scope's fallback it is in flight and waits for its
//! acknowledgement (a `Stale` refusal counts as one), resending until
//! [`Timing::prepare_ms`]; then it ships the keys and waits
//! [`Timing::ship_ms`] for the `+OK`. On the `+OK` it commits. On a
//! refusal, or when a deadline passes, it asks the target what became of
//! the move and resolves it with the answer ([`Node::resolve_move`]),
//! asking until one comes. Once a move ends, persisted, the driver owes
//! its news to every peer and resends it until each acknowledges
//! (`Stale` counts). The operator hears the end (`Committed` with the
//! number of keys the target adopted, or `Aborted`), or `TryAgain` when
//! the outcome has not come within [`Timing::reply_ms`]: the move then
//! resolves in the background. A target that refused the ingest as
//! `Stale` has seen a higher epoch than this node; the abort lifts this
//! node above the target's fence, and the driver starts the move once
//! more, with the same ticket. A move this node only heard of (a pending
//! record) that stays pending for [`Timing::watch_ms`] is looked into:
//! the driver asks its target the outcome and learns the answer, since
//! the news of its end cannot come when its source lost its records.
//!
//! ```text
//!  start ─▶ preparing ──ack──▶ shipping ──+OK──▶ commit ─┐
//!             │ time-out          │ refusal, time-out     ├─▶ owe news to every peer;
//!             └─────────────────▶ querying ──outcome──▶ ──┘   reply to the operator
//! ```
//!
//! # Recovery
//!
//! A node that lost its records does not guess what it owned. Its driver
//! asks every peer the highest epoch it knows ([`Request::Epoch`]), then
//! asks every peer to fence ([`Request::Fence`]) at an epoch above every
//! epoch the node can have used (the highest heard, plus the most moves
//! it can have had in flight, plus one) and to tell everything it knows
//! ([`Node::news`]). It learns all of it, its own moves and adoptions
//! included (which a healthy node never takes from others), and leaves
//! quarantine once **every** peer has answered, persisting then. The rule,
//! and why it holds:
//!
//! - every move the node ended, and every prefix it adopted, is known to a
//!   peer that did not lose its records (the target that adopted it or
//!   fenced it, the source that committed it), so the newest news of each
//!   prefix it touched reaches it;
//! - a move it started and no peer heard of cannot land: every peer
//!   refuses ingests and news at or below the fence; one a peer reports in
//!   flight is in flight again, and is resolved through its target;
//! - a move to it in flight at a peer is in doubt there ([`Node::fence`]):
//!   the node may have adopted it and answered `+OK` before the loss, but
//!   it no longer knows it, so that `+OK` no longer commits: the source
//!   asks again ([`Request::Recheck`]) and takes the recovered node's word.
//!
//! Assumed: one node recovers at a time (a peer that lost its records too
//! answers nothing until it recovers itself, so two at once wait for each
//! other), and every node the tables name is in the peer list.
//! [`Driver::unheard`] names the peers a recovery waits for. Until it
//! ends the node accepts no scoped write.
//!
//! Bounded: `PEERS` peers (at most 32) and `MOVES` slots, both for moves
//! in flight and for news owed (size it at least the node's record
//! capacity: a node holds no more moves in flight nor news than records).
//! A full table is a [`DriverError`], never a panic or a dropped duty.
//!
//! ```
//! use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::{Answer, Effect, MoveReply, Request}};
//!
//! let table = OwnershipTable::from_array([Scope::new(b"app:", "A")]).unwrap();
//! let mut a = Node::new("A", &table, MoveTable::<4>::new()).unwrap();
//! let mut driver = Driver::<2, 4>::new(["A", "B"]).unwrap();
//! driver.resume(&mut a).unwrap();
//! let ticket = driver.start(&mut a, b"app:", "B").unwrap();
//! assert_eq!(driver.poll(&a, 0), Some(Effect::Persist)); // write a.encode_image(..), then:
//! driver.persisted();
//! let Some(Effect::Ship { to: "B", id }) = driver.poll(&a, 0) else { panic!() };
//! let id = kevy_scope::moves::MoveId { prefix: b"app:", from: "A", to: "B", epoch: id.epoch };
//! // ... the keys stream to B, which adopts and answers +OK 3.
//! driver.answer(&mut a, "B", Request::Ingest(id), Answer::Ingested { keys: 3 }).unwrap();
//! assert_eq!(driver.poll(&a, 5), Some(Effect::Persist));
//! driver.persisted();
//! let reply = MoveReply::Committed { keys: Some(3) };
//! assert_eq!(driver.poll(&a, 5), Some(Effect::Reply { ticket, reply }));
//! assert!(matches!(driver.poll(&a, 5), Some(Effect::Send { to: "B", request: Request::News { .. } })));
//! ```

use core::fmt;

use crate::moves::messages::{Announcement, Epoch, MoveId, MoveStatus, Outcome};
use crate::moves::node::{Node, Started};
use crate::moves::records::{MoveError, MoveRecords, Phase};
use crate::table::ScopeTable;
use crate::table::node_id::{NodeId, NodeIdError};
use crate::wire::peer::{PeerReply, Refusal};

/// No `Wake` handed out.
const NEVER: u64 = u64::MAX;
/// Half the clock's turn: deadlines are kept modulo 2^32 ms (49 days),
/// and one less than this far ahead is in the future.
const HALF: u32 = 1 << 31;
/// The `from` of this node's own news.
const OWN: u8 = u8::MAX;
/// The `from` of news whose source is not a peer.
const STRANGER: u8 = u8::MAX - 1;

/// The driver's deadlines, in milliseconds of the host's clock. The
/// driver keeps deadlines modulo 2^32 ms: each must be under 2^31 ms (24
/// days), and a host polls within 24 days of a [`Effect::Wake`]'s time.
///
/// ```
/// use kevy_scope::{Driver, driver::Timing};
/// let fast = Timing { prepare_ms: 500, ..Timing::DEFAULT };
/// let driver = Driver::<2, 2>::new(["A", "B"]).unwrap().with_timing(fast);
/// # let _ = driver;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timing {
    /// The first resend of a request that got no answer.
    pub retry_ms: u32,
    /// The longest wait between resends (each wait doubles up to it).
    pub max_retry_ms: u32,
    /// How long the fallback has to acknowledge a move in flight; then
    /// the move is aborted through the outcome query.
    pub prepare_ms: u32,
    /// How long the target has to answer the ingest, from the ship on;
    /// then its outcome is asked.
    pub ship_ms: u32,
    /// How long the operator waits for the outcome once it is asked;
    /// then it hears `TryAgain` and the move resolves in the background.
    pub reply_ms: u32,
    /// How long a move this node heard of stays pending before it asks
    /// the move's target what became of it, and again after each
    /// round; 0: never. A move's source announces its end, so this is for
    /// news that cannot come: the source lost its records after it told
    /// this node (its in-flight news arrived late).
    pub watch_ms: u32,
}

impl Timing {
    /// Resends after 200 ms, doubling up to 5 s; the fallback has 3 s,
    /// the ingest 30 s, the operator waits 3 s for an outcome; a move
    /// heard of is looked into after a minute.
    pub const DEFAULT: Self = Self {
        retry_ms: 200,
        max_retry_ms: 5_000,
        prepare_ms: 3_000,
        ship_ms: 30_000,
        reply_ms: 3_000,
        watch_ms: 60_000,
    };
}

impl Default for Timing {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the driver asks of a peer, and what an [`Answer`] answers.
///
/// ```
/// use kevy_scope::{Epoch, moves::MoveId, driver::Request};
/// let id = MoveId { prefix: b"p:", from: "A", to: "B", epoch: Epoch::new(1) };
/// assert_ne!(Request::Outcome(id), Request::Ingest(id));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Request<'a> {
    /// `MOVE-SCOPE-NEWS`: learn this news ([`Node::learn`] takes both).
    News {
        /// The news.
        news: Announcement<'a>,
        /// This node's [`Node::epoch`] when the driver handed the request
        /// out: a peer tells news this node sent before it lost its
        /// records from what it sends after its recovery by it.
        sender_epoch: Epoch,
    },
    /// `MOVE-SCOPE-OUTCOME`: what became of this move
    /// ([`Node::move_outcome`])?
    Outcome(MoveId<'a>),
    /// `MOVE-SCOPE-INGEST`: the keys of this move ([`Effect::Ship`]).
    Ingest(MoveId<'a>),
    /// `MOVE-SCOPE-RECHECK`: what became of this move, asked again after
    /// its target lost its records and recovered (the move is in doubt,
    /// [`Node::fence`]): served as [`Request::Outcome`], and only its
    /// `Committed` ends a move in doubt as committed.
    Recheck(MoveId<'a>),
    /// `MOVE-SCOPE-EPOCH`: a recovering node asks the highest epoch the
    /// peer knows ([`Node::known_epoch`]). `began` (the host's clock when
    /// this recovery began; not on the wire) tells its answers from those
    /// to an earlier recovery of the node, which a host that delivers
    /// answers across its own restarts could feed it (over TCP, answers
    /// die with the connection): the host feeds the answer back with the
    /// request as it was handed out.
    Epoch {
        /// When this recovery began, in the host's milliseconds.
        began: u64,
    },
    /// `MOVE-SCOPE-FENCE <epoch>`: a recovering node asks the peer to
    /// fence off every move at or below this epoch ([`Node::fence`]) and
    /// to tell everything it knows ([`Node::news`]); the answer is fed
    /// back with [`Driver::recovered`].
    Fence(Epoch),
}

/// A peer's answer to a [`Request`].
///
/// ```
/// use kevy_scope::{Epoch, driver::Answer, moves::Outcome};
/// let a = Answer::Outcome(Outcome::Aborted { fence: Epoch::new(4) });
/// assert_ne!(a, Answer::Refused);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Answer {
    /// `+OK` to news: learned (or known already).
    Learned,
    /// `+OK n` to an ingest: the target adopted the prefix, with `keys`
    /// keys.
    Ingested {
        /// The keys the target applied.
        keys: u32,
    },
    /// The target's answer to an outcome query.
    Outcome(Outcome),
    /// The highest epoch a peer knows, to [`Request::Epoch`].
    Epoch(Epoch),
    /// Refused as stale ([`MoveError::Stale`]): to news, the peer
    /// knows newer news (an acknowledgement); to an ingest, the target's
    /// fence is above the move's epoch.
    Stale,
    /// Any other refusal, or an answer the host could not read.
    Refused,
}

/// A reply as it came over the wire ([`PeerReply::decode`]).
///
/// ```
/// use kevy_scope::{driver::Answer, wire::PeerReply};
/// assert_eq!(Answer::from(PeerReply::decode(b"+OK 3")?), Answer::Ingested { keys: 3 });
/// assert_eq!(Answer::from(PeerReply::decode(b"-STALE old news")?), Answer::Stale);
/// assert_eq!(Answer::from(PeerReply::decode(b"-FULL no room")?), Answer::Refused);
/// # Ok::<(), kevy_scope::wire::PeerWireError>(())
/// ```
impl From<PeerReply<'_>> for Answer {
    fn from(reply: PeerReply<'_>) -> Self {
        match reply {
            PeerReply::Learned => Self::Learned,
            PeerReply::Ingested { keys } => Self::Ingested { keys },
            PeerReply::Outcome(outcome) => Self::Outcome(outcome),
            PeerReply::Epoch(epoch) => Self::Epoch(epoch),
            PeerReply::Refused {
                code: Refusal::Stale,
                ..
            } => Self::Stale,
            _ => Self::Refused,
        }
    }
}

/// What the operator hears of a move it started.
///
/// ```
/// use kevy_scope::driver::MoveReply;
/// assert_ne!(MoveReply::Aborted, MoveReply::TryAgain);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MoveReply {
    /// The target owns the prefix (`+OK n`).
    Committed {
        /// The keys the target adopted, when its `+OK` said (not when the
        /// move was committed on the outcome query).
        keys: Option<u32>,
    },
    /// The move was called off: this node still owns the prefix.
    Aborted,
    /// The outcome did not come in time: the move stays quiesced and
    /// resolves in the background (`-TRYAGAIN`).
    TryAgain,
}

/// One thing the host must do now; see the module docs for each.
///
/// ```
/// use kevy_scope::driver::Effect;
/// assert_ne!(Effect::Persist, Effect::Wake { at: 0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Effect<'a> {
    /// Encode the node's image now and write it to stable storage; call
    /// [`Driver::persisted`] when it is there.
    Persist,
    /// Deliver `request` to peer `to`.
    Send {
        /// The peer's id.
        to: &'a str,
        /// What to ask.
        request: Request<'a>,
    },
    /// Stream the keys under `id.prefix` to `to` (`MOVE-SCOPE-INGEST`).
    Ship {
        /// The move's target.
        to: &'a str,
        /// The move.
        id: MoveId<'a>,
    },
    /// Answer the operator's command `ticket`.
    Reply {
        /// The epoch [`Driver::start`] returned for the command.
        ticket: Epoch,
        /// What to tell the operator.
        reply: MoveReply,
    },
    /// Call [`Driver::poll`] again at `at` (milliseconds, the host's
    /// clock), unless an event comes first.
    Wake {
        /// When.
        at: u64,
    },
}

/// Why the driver refused an event.
///
/// ```
/// use kevy_scope::{Driver, driver::DriverError};
/// assert_eq!(Driver::<1, 1>::new(["A", "B"]).unwrap_err(), DriverError::TooManyPeers { capacity: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DriverError {
    /// The node refused the step.
    Refused(MoveError),
    /// A node the step names is not in the peer list.
    UnknownPeer,
    /// A peer id breaks the node-id rule.
    InvalidPeer(NodeIdError),
    /// The node is flagged down ([`Driver::flagged_down`]): it starts no
    /// move until it is up again, its fallback's stand-in data handed
    /// back.
    FlaggedDown,
    /// More peers than the driver holds (`PEERS`).
    TooManyPeers {
        /// `PEERS`.
        capacity: usize,
    },
    /// Every move slot is taken (`MOVES`).
    TooManyMoves {
        /// `MOVES`.
        capacity: usize,
    },
    /// Every slot of news owed is taken (`MOVES`): the step was not
    /// taken; it is taken again when the answer comes again, once peers
    /// have acknowledged older news.
    OutboxFull {
        /// `MOVES`.
        capacity: usize,
    },
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "the node refused the step: {e}"),
            Self::UnknownPeer => f.write_str("the node named is not a peer"),
            Self::InvalidPeer(e) => write!(f, "invalid peer id: {e}"),
            Self::FlaggedDown => f.write_str(
                "the node is flagged down: no move starts until its fallback's data is back",
            ),
            Self::TooManyPeers { capacity } => write!(f, "more than {capacity} peers"),
            Self::TooManyMoves { capacity } => write!(f, "all {capacity} move slots are taken"),
            Self::OutboxFull { capacity } => {
                write!(f, "all {capacity} slots of news owed are taken")
            }
        }
    }
}

impl core::error::Error for DriverError {}

/// Where a move this node runs stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stage {
    /// Telling the fallback; the keys ship on its ack.
    Preparing,
    /// The keys are to ship.
    Shipping,
    /// Shipped; waiting for `+OK`.
    Shipped,
    /// Asking the target for the outcome.
    Querying,
    /// Resolved; the operator's reply waits for the persist.
    Done,
}

/// No operator command ([`Exchange::ticket`]); epochs of moves start at 1.
const NO_TICKET: Epoch = Epoch::ZERO;

/// One move out of this node and its conversation.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    /// The move's epoch (this node's moves have distinct epochs).
    epoch: Epoch,
    /// The operator's command waiting for a reply, or [`NO_TICKET`].
    ticket: Epoch,
    /// The persist its next message depends on.
    gate: u32,
    /// When the stage's next message is due (unless `fresh`).
    next: u32,
    /// The stage's deadline, set when its first message leaves (if
    /// `timed`).
    until: u32,
    /// The wait before the next resend.
    backoff: u32,
    /// The reply, once `Done`.
    reply: MoveReply,
    stage: Stage,
    /// The fallback's peer index, while `Preparing`.
    fallback: u8,
    /// No message of the stage has left yet: the first is due at once.
    fresh: bool,
    /// `until` is set.
    timed: bool,
    /// The target refused the ingest as stale.
    stale: bool,
    /// The move was started again above the target's fence.
    retried: bool,
}

impl Exchange {
    fn new(epoch: Epoch, ticket: Epoch, gate: u32) -> Self {
        Self {
            epoch,
            ticket,
            gate,
            next: 0,
            until: 0,
            backoff: 0,
            reply: MoveReply::Aborted,
            stage: Stage::Querying,
            fallback: 0,
            fresh: true,
            timed: false,
            stale: false,
            retried: false,
        }
    }

    /// Enters `stage`, its first message due at once. Out of line:
    /// flash.
    #[inline(never)]
    fn enter(&mut self, stage: Stage) {
        self.stage = stage;
        self.backoff = 0;
        self.fresh = true;
        self.timed = false;
    }

    /// Fires the stage's deadline and its next message, if due. Out of
    /// line: flash.
    #[inline(never)]
    fn step(&mut self, t: &Timing, now: u32) -> Option<Act> {
        if self.timed && due(self.until, now) {
            self.timed = false;
            if self.stage != Stage::Querying {
                self.enter(Stage::Querying);
            } else if self.ticket != NO_TICKET {
                // The operator has waited long enough.
                let ticket = core::mem::replace(&mut self.ticket, NO_TICKET);
                return Some(Act::Reply(ticket, MoveReply::TryAgain));
            }
        }
        if !self.fresh && !due(self.next, now) {
            return None;
        }
        let epoch = self.epoch;
        let (act, limit) = match self.stage {
            Stage::Preparing => (Act::Prepare(epoch, self.fallback), t.prepare_ms),
            Stage::Shipping => (Act::Ship(epoch), t.ship_ms),
            Stage::Querying if self.ticket != NO_TICKET => (Act::Query(epoch), t.reply_ms),
            Stage::Querying => (Act::Query(epoch), u32::MAX),
            Stage::Shipped | Stage::Done => return None,
        };
        if self.fresh && limit != u32::MAX {
            self.until = now.wrapping_add(limit);
            self.timed = true;
        }
        self.fresh = false;
        self.next = retry(&mut self.backoff, t, now);
        if self.stage == Stage::Shipping {
            // Shipped once: the deadline follows, not a resend.
            self.stage = Stage::Shipped;
        }
        Some(act)
    }
}

/// Whether deadline `at` has come at `now`.
fn due(at: u32, now: u32) -> bool {
    now.wrapping_sub(at) < HALF
}

/// The time left until deadline `at`.
fn left(at: u32, now: u32) -> u32 {
    if due(at, now) {
        0
    } else {
        at.wrapping_sub(now)
    }
}

/// The next resend time; doubles the wait. Out of line: flash.
#[inline(never)]
fn retry(backoff: &mut u32, t: &Timing, now: u32) -> u32 {
    let wait = (*backoff).max(t.retry_ms).min(HALF - 1);
    *backoff = wait.saturating_mul(2).min(t.max_retry_ms.max(t.retry_ms));
    now.wrapping_add(wait)
}

/// News owed to peers until each acknowledges. A move is named by its
/// source and epoch (a source's epochs are distinct), so `(from, epoch)`
/// names the news among the node's announcements.
#[derive(Debug, Clone, Copy)]
struct Owed {
    epoch: Epoch,
    gate: u32,
    /// Peers that have not acknowledged (a bit per peer index).
    pending: u32,
    /// Peers this round has not sent to yet.
    unsent: u32,
    /// [`OWN`], a peer index, or [`STRANGER`].
    from: u8,
    status: MoveStatus,
}

impl Owed {
    fn is(&self, epoch: Epoch, from: u8, status: MoveStatus) -> bool {
        self.epoch == epoch && self.from == from && self.status == status
    }
}

/// Removes element `i` of `v` (order is not kept). Swapped with the last
/// element, then popped: a copy from one slot to another (or through a
/// popped value) links a `memmove`, since the compiler cannot tell the
/// slots apart. Out of line: flash.
#[inline(never)]
fn remove<T, const N: usize>(v: &mut heapless::Vec<T, N, u8>, i: usize) {
    if i >= v.len() {
        return;
    }
    if let Some((last, head)) = v.split_last_mut()
        && let Some(slot) = head.get_mut(i)
    {
        core::mem::swap(slot, last);
    }
    let _ = v.pop();
}

/// Whether a message gated on persist `gate` may leave, `done` being the
/// last persist done.
fn open(gate: u32, done: u32) -> bool {
    #[cfg(all(kevy_mutants, feature = "std"))]
    if SEND_BEFORE_PERSIST.with(core::cell::Cell::get) {
        return true;
    }
    gate <= done
}

/// The index of peer `id`.
fn index(peers: &[NodeId], id: &str) -> Option<u8> {
    let at = peers.iter().position(|p| p.as_str() == id)?;
    u8::try_from(at).ok()
}

/// The `from` of news: [`OWN`], a peer index or [`STRANGER`].
fn source(peers: &[NodeId], me: &str, from: &str) -> u8 {
    if from == me {
        OWN
    } else {
        index(peers, from).unwrap_or(STRANGER)
    }
}

/// This node's move in flight at `epoch`.
#[inline(never)]
fn moving<T: ScopeTable, R: MoveRecords>(node: &Node<T, R>, epoch: Epoch) -> Option<MoveId<'_>> {
    node.in_flight().find(|m| m.epoch == epoch)
}

/// The announcement `o` names, from the node's records.
#[inline(never)]
fn news<'n, T: ScopeTable, R: MoveRecords>(
    peers: &[NodeId],
    node: &'n Node<T, R>,
    o: &Owed,
) -> Option<Announcement<'n>> {
    let me = node.id();
    node.announcements()
        .find(|a| o.is(a.id.epoch, source(peers, me, a.id.from), a.status))
}

/// The moves this node heard of and has pending, between two peers:
/// how many, and the one at index `at` among them. One scan for both
/// uses (a count and a look-up), one copy of its test.
fn watched<'n, T: ScopeTable, R: MoveRecords>(
    peers: &[NodeId],
    node: &'n Node<T, R>,
    at: usize,
) -> (usize, Option<MoveId<'n>>) {
    let me = node.id();
    let (mut count, mut found) = (0, None);
    for (phase, id) in node.records() {
        let between_peers = id.from != me && id.to != me && index(peers, id.to).is_some();
        if phase == Phase::Pending && between_peers {
            if count == at {
                found = Some(id);
            }
            count += 1;
        }
    }
    (count, found)
}

/// What `poll` hands out, before it borrows the data to name it.
#[derive(Debug, Clone, Copy)]
enum Act {
    Persist,
    Reply(Epoch, MoveReply),
    /// `InFlight` news of the move at this epoch, to this peer.
    Prepare(Epoch, u8),
    Ship(Epoch),
    Query(Epoch),
    /// The owed news at this index, to this peer.
    News(usize, u8),
    /// The recovery's request of this round, to this peer.
    Recover(u8),
    /// The outcome of the pending move at this index of [`watched`].
    Watch(usize),
    Wake(u64),
}

/// A recovery in progress: first every peer tells the highest epoch it
/// knows, then every peer fences off the node's moves up to `fence` and
/// tells what it knows.
#[derive(Debug, Clone, Copy)]
struct Recovery {
    /// When it began (the first poll), once it has.
    began: Option<u64>,
    /// The highest epoch heard so far.
    heard: Epoch,
    /// The second round's fence, once every peer told its epoch.
    fence: Option<Epoch>,
    /// Peers whose answer this round still needs (a bit per peer index).
    unheard: u32,
    /// Peers this round has not sent to yet.
    unsent: u32,
}

/// The move conversations and announcements of one node; see the module
/// docs for the host's contract.
///
/// ```
/// use kevy_scope::{Driver, MoveTable, Node, OwnershipTable};
/// let mut node = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<4>::new()).unwrap();
/// let mut driver = Driver::<3, 4>::new(["A", "B", "C"]).unwrap();
/// driver.resume(&mut node).unwrap();
/// assert_eq!(driver.poll(&node, 0), None);
/// assert!(driver.is_idle());
/// ```
#[derive(Debug, Clone)]
pub struct Driver<const PEERS: usize, const MOVES: usize> {
    peers: heapless::Vec<NodeId, PEERS, u8>,
    timing: Timing,
    moves: heapless::Vec<Exchange, MOVES, u8>,
    owed: heapless::Vec<Owed, MOVES, u8>,
    /// When the news still owed is sent again (if `rounding`), and the
    /// wait after.
    round: u32,
    round_backoff: u32,
    rounding: bool,
    /// Persists, numbered by the driver's steps: the last step's, the
    /// newest image encoded, the newest image on storage.
    want: u32,
    asked: u32,
    done: u32,
    /// Images encoded and not yet on storage.
    writes: u32,
    /// The last `Wake` handed out.
    told: u64,
    /// Set while the node recovers its lost records.
    recovery: Option<Recovery>,
    /// When the moves heard of and still pending are looked into (if
    /// `watching`), and which of them this round asks next.
    watch_at: u32,
    watching: bool,
    watch_next: Option<usize>,
    /// Set while the quorum service has the node flagged down
    /// ([`Driver::flagged_down`]): no move starts.
    flagged_down: bool,
}

#[cfg(all(kevy_mutants, feature = "std"))]
std::thread_local! {
    static SEND_BEFORE_PERSIST: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    static SHIP_UNPREPARED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

impl<const PEERS: usize, const MOVES: usize> Driver<PEERS, MOVES> {
    /// A peer mask is a `u32`.
    const FITS: () = assert!(PEERS <= 32, "a driver holds at most 32 peers");

    /// A driver for a node whose peers are `peers` (the node itself may be
    /// among them), with [`Timing::DEFAULT`].
    ///
    /// ```
    /// # use kevy_scope::{Driver, driver::DriverError};
    /// assert!(Driver::<2, 4>::new(["A", "B"]).is_ok());
    /// assert!(matches!(Driver::<2, 4>::new(["A", ""]), Err(DriverError::InvalidPeer(_))));
    /// ```
    pub fn new<'p>(peers: impl IntoIterator<Item = &'p str>) -> Result<Self, DriverError> {
        let () = Self::FITS;
        let mut list = heapless::Vec::new();
        for p in peers {
            let id = NodeId::new(p).map_err(DriverError::InvalidPeer)?;
            list.push(id)
                .map_err(|_| DriverError::TooManyPeers { capacity: PEERS })?;
        }
        Ok(Self {
            peers: list,
            timing: Timing::DEFAULT,
            moves: heapless::Vec::new(),
            owed: heapless::Vec::new(),
            round: 0,
            round_backoff: 0,
            rounding: false,
            want: 0,
            asked: 0,
            done: 0,
            writes: 0,
            told: NEVER,
            recovery: None,
            watch_at: 0,
            watching: false,
            watch_next: None,
            flagged_down: false,
        })
    }

    /// The same driver with other deadlines.
    ///
    /// ```
    /// # use kevy_scope::{Driver, driver::Timing};
    /// let d = Driver::<1, 1>::new(["A"]).unwrap().with_timing(Timing { retry_ms: 50, ..Timing::DEFAULT });
    /// # let _ = d;
    /// ```
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// After a boot, with the node as restored: forgets everything, asks
    /// the target of every move in flight for its outcome, and owes every
    /// peer the news the node vouches for. Takes what fits and reports
    /// what did not.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap(); // persisted, then a crash
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// driver.resume(&mut a).unwrap();
    /// assert!(matches!(driver.poll(&a, 0), Some(kevy_scope::driver::Effect::Send { to: "B", .. })));
    /// ```
    pub fn resume<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
    ) -> Result<(), DriverError> {
        self.moves.clear();
        self.owed.clear();
        self.want = 0;
        self.asked = 0;
        self.done = 0;
        self.writes = 0;
        self.told = NEVER;
        self.rounding = false;
        self.round_backoff = 0;
        self.recovery = None;
        self.watching = false;
        self.watch_next = None;
        if node.is_quarantined() {
            let all = self.others(node.id());
            self.recovery = Some(Recovery {
                began: None,
                heard: Epoch::ZERO,
                fence: None,
                unheard: all,
                unsent: all,
            });
            return self.recovering(node);
        }
        self.owe_all(node)
    }

    /// After a boot or a recovery: asks the outcome of every move in
    /// flight and owes every peer the news the node vouches for.
    fn owe_all<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &Node<T, R>,
    ) -> Result<(), DriverError> {
        let gate = self.want;
        let mut result = Ok(());
        for id in node.in_flight() {
            if self
                .moves
                .push(Exchange::new(id.epoch, NO_TICKET, gate))
                .is_err()
            {
                result = Err(DriverError::TooManyMoves { capacity: MOVES });
            }
        }
        for news in node.announcements() {
            let from = source(&self.peers, node.id(), news.id.from);
            result = result.and(self.owe(node.id(), news.id.epoch, from, news.status));
        }
        result
    }

    /// The operator's MOVE-SCOPE of `prefix` to `to` on this node: starts
    /// the move ([`Node::start_move`]) and returns the ticket its
    /// [`Effect::Reply`] will carry (the move's epoch; it stays the
    /// ticket if the move is started again above a fence).
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::DriverError, moves::MoveError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// assert_eq!(driver.start(&mut a, b"a:", "C"), Err(DriverError::UnknownPeer));
    /// assert_eq!(driver.start(&mut a, b"b:", "B"), Err(DriverError::Refused(MoveError::NotOwner)));
    /// assert_eq!(driver.start(&mut a, b"a:", "B").unwrap().get(), 1);
    /// ```
    pub fn start<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
        prefix: &[u8],
        to: &str,
    ) -> Result<Epoch, DriverError> {
        if self.flagged_down {
            return Err(DriverError::FlaggedDown);
        }
        if self.index(to).is_none() {
            return Err(DriverError::UnknownPeer);
        }
        if self.moves.is_full() {
            return Err(DriverError::TooManyMoves { capacity: MOVES });
        }
        let started = self.took(node.start_move(prefix, to).map_err(DriverError::Refused)?);
        let ex = self.begin(&started, started.epoch);
        self.moves
            .push(ex)
            .map_err(|_| DriverError::TooManyMoves { capacity: MOVES })?;
        Ok(started.epoch)
    }

    /// The quorum service flagged this node down (`true`: its lease is
    /// lost, and its fallback may stand in for its scopes) or up again
    /// (`false`: once the fallback's stand-in data is handed back, before
    /// the node accepts again). While it is down, [`Driver::start`] is
    /// refused ([`DriverError::FlaggedDown`]): the keys it would ship lack
    /// what the fallback accepts meanwhile. A move started before goes
    /// on: the fallback heard of it before any key shipped and stands in
    /// for none of its keys.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::DriverError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A").with_fallback("F")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut driver = Driver::<3, 2>::new(["A", "B", "F"]).unwrap();
    /// driver.flagged_down(true);
    /// assert_eq!(driver.start(&mut a, b"a:", "B"), Err(DriverError::FlaggedDown));
    /// assert!(a.moves().is_empty());
    /// driver.flagged_down(false);
    /// assert!(driver.start(&mut a, b"a:", "B").is_ok());
    /// ```
    pub fn flagged_down(&mut self, down: bool) {
        self.flagged_down = down;
    }

    /// A peer's `answer` to `request`, which the driver sent it (a ship is
    /// answered as [`Request::Ingest`]). Answers that come late, twice or
    /// to an older incarnation of this node are taken for what they say
    /// or ignored.
    ///
    /// An error leaves the node as it was: the answer's step was not
    /// taken, and is taken when the answer comes again.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::{Answer, Effect, Request}, moves::Outcome};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap(); // then a crash
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// driver.resume(&mut a).unwrap();
    /// let Some(Effect::Send { request: Request::Outcome(asked), .. }) = driver.poll(&a, 0) else { panic!() };
    /// // The effect borrows the driver and the node: the host keeps its own copy of the request.
    /// let id = kevy_scope::moves::MoveId { prefix: b"a:", from: "A", to: "B", epoch: asked.epoch };
    /// let fence = id.epoch;
    /// driver.answer(&mut a, "B", Request::Outcome(id), Answer::Outcome(Outcome::Aborted { fence })).unwrap();
    /// assert_eq!(driver.poll(&a, 1), Some(Effect::Persist));
    /// assert!(a.verdict(b"a:1", |_| false).is_accept());
    /// ```
    pub fn answer<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
        from: &str,
        request: Request<'_>,
        answer: Answer,
    ) -> Result<(), DriverError> {
        let (id, ingest, rechecked) = match request {
            Request::News { news, .. } => {
                self.news_answered(node.id(), from, &news, answer);
                return Ok(());
            }
            Request::Outcome(id) => (id, false, false),
            Request::Recheck(id) => (id, false, true),
            Request::Ingest(id) => (id, true, false),
            Request::Epoch { began } => {
                let (Answer::Epoch(epoch), Some(peer)) = (answer, self.index(from)) else {
                    return Ok(());
                };
                let this = |r: &&mut Recovery| r.fence.is_none() && r.began == Some(began);
                if let Some(rec) = self.recovery.as_mut().filter(this) {
                    rec.heard = rec.heard.max(epoch);
                    rec.unheard &= !(1 << peer);
                }
                return self.recovering(node);
            }
            Request::Fence(_) => return Ok(()),
        };
        if id.to != from {
            return Ok(());
        }
        if id.from != node.id() {
            // A recheck is of this node's own moves only.
            return match (ingest || rechecked, answer) {
                (false, Answer::Outcome(outcome)) => self.watched_end(node, &id, outcome),
                _ => Ok(()),
            };
        }
        match (ingest, answer) {
            (true, Answer::Ingested { keys }) => {
                self.resolve(node, &id, Outcome::Committed, Some(keys), false)
            }
            (false, Answer::Outcome(outcome)) => self.resolve(node, &id, outcome, None, rechecked),
            (true, Answer::Stale | Answer::Refused) => {
                let shipped = self
                    .moves
                    .iter_mut()
                    .find(|e| e.epoch == id.epoch && e.stage == Stage::Shipped);
                if let Some(ex) = shipped {
                    ex.stale = answer == Answer::Stale;
                    ex.enter(Stage::Querying);
                }
                Ok(())
            }
            // Asked again when its resend is due.
            _ => Ok(()),
        }
    }

    /// A peer's answer to [`Request::Fence`]: everything it knows
    /// ([`Node::news`], decoded from the wire with
    /// [`NewsList`](crate::wire::NewsList)), given only once the peer has fenced
    /// and persisted. The node learns it; once every peer has answered,
    /// the node leaves quarantine (a step to persist), asks the outcome of
    /// its moves the news says are in flight, and owes every peer its
    /// news. An answer to another fence, or from a peer already heard, is
    /// ignored.
    ///
    /// An error (the node's records are full) leaves the peer unheard:
    /// its fence is asked again, and recovery waits until there is room.
    ///
    /// ```
    /// # use kevy_scope::{Driver, Epoch, MoveTable, Node, OwnershipTable, Scope, driver::{Answer, Effect, Request}};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut b = Node::new("B", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = b.start_move(b"a:", "A"); // refused: B owns nothing; B is the healthy peer
    /// let mut a = Node::quarantined("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// driver.resume(&mut a).unwrap();
    /// let asked = Request::Epoch { began: 0 };
    /// assert_eq!(driver.poll(&a, 0), Some(Effect::Send { to: "B", request: asked }));
    /// driver.answer(&mut a, "B", asked, Answer::Epoch(b.known_epoch())).unwrap();
    /// let Some(Effect::Send { request: Request::Fence(fence), .. }) = driver.poll(&a, 0) else { panic!() };
    /// let _ = b.fence("A", fence).unwrap(); // B persists, then answers with its news
    /// driver.recovered(&mut a, "B", fence, b.news()).unwrap();
    /// assert_eq!(driver.poll(&a, 0), Some(Effect::Persist));
    /// assert!(!a.is_quarantined() && a.verdict(b"a:1", |_| false).is_accept());
    /// ```
    pub fn recovered<'n, T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
        from: &str,
        fence: Epoch,
        news: impl IntoIterator<Item = Announcement<'n>>,
    ) -> Result<(), DriverError> {
        let Some(peer) = self.index(from) else {
            return Ok(());
        };
        let bit = 1u32 << peer;
        let waiting = self
            .recovery
            .is_some_and(|r| r.fence == Some(fence) && r.unheard & bit != 0);
        if !waiting {
            return Ok(());
        }
        for item in news {
            // Persisted once, at the end: an image of half a recovery
            // would be taken for all the node knows.
            let _ = node.recover(&item).map_err(DriverError::Refused)?;
        }
        if let Some(rec) = self.recovery.as_mut() {
            rec.unheard &= !bit;
        }
        self.recovering(node)
    }

    /// Whether the node is recovering its lost records from its peers
    /// (it was quarantined when [`Driver::resume`] was called).
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable};
    /// let mut a = Node::quarantined("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// let mut driver = Driver::<2, 1>::new(["A", "B"]).unwrap();
    /// driver.resume(&mut a).unwrap();
    /// assert!(driver.is_recovering());
    /// assert_eq!(driver.unheard().collect::<Vec<_>>(), ["B"]);
    /// ```
    #[must_use]
    pub fn is_recovering(&self) -> bool {
        self.recovery.is_some()
    }

    /// The fence the recovery asks its peers for, once every peer has told
    /// the highest epoch it knows (its second round); `None` before, and
    /// when not recovering.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable};
    /// let mut a = Node::quarantined("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// let mut driver = Driver::<2, 1>::new(["A", "B"]).unwrap();
    /// driver.resume(&mut a).unwrap();
    /// assert_eq!(driver.recovery_fence(), None); // asking epochs
    /// ```
    #[must_use]
    pub fn recovery_fence(&self) -> Option<Epoch> {
        self.recovery.and_then(|r| r.fence)
    }

    /// The peers the recovery's current round still waits for: the node
    /// leaves quarantine once each has told its epoch and then fenced and
    /// told what it knows. Empty when not recovering.
    pub fn unheard(&self) -> impl Iterator<Item = &str> + '_ {
        let mask = self.recovery.map_or(0, |r| r.unheard);
        self.peers
            .iter()
            .enumerate()
            .filter(move |(i, _)| u32::try_from(*i).is_ok_and(|i| i < 32 && mask & (1 << i) != 0))
            .map(|(_, p)| p.as_str())
    }

    /// One image the host encoded (for an [`Effect::Persist`], or after
    /// [`Driver::persisting`]) is on stable storage. Called once per image,
    /// in the order they were encoded; what depends on the steps an image
    /// holds leaves once every image encoded until then is written.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::Effect};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// driver.start(&mut a, b"a:", "B").unwrap();
    /// assert_eq!(driver.poll(&a, 0), Some(Effect::Persist));
    /// assert!(matches!(driver.poll(&a, 0), Some(Effect::Wake { .. }) | None)); // nothing leaves yet
    /// driver.persisted();
    /// assert!(matches!(driver.poll(&a, 0), Some(Effect::Ship { .. })));
    /// ```
    pub fn persisted(&mut self) {
        self.writes = self.writes.saturating_sub(1);
        if self.writes == 0 {
            self.done = self.asked;
        }
    }

    /// Whether the node holds steps of the driver's that are not on stable
    /// storage yet. An answer to a peer's request tells what the node
    /// knows, so a host answering one writes the node's image first when
    /// this is true, as when the answering step's own `must_persist()` is
    /// (module docs, item 4).
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope, driver::Effect};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let mut driver = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// driver.start(&mut a, b"a:", "B").unwrap();
    /// assert!(driver.must_persist());
    /// // A peer asks something: the host writes the image before it answers.
    /// driver.persisting(); // encode a.encode_image(..) now, write it, then:
    /// driver.persisted();
    /// assert!(!driver.must_persist());
    /// ```
    #[must_use]
    pub fn must_persist(&self) -> bool {
        self.done != self.want
    }

    /// The host encodes the node's image now for a reason of its own (to
    /// answer a peer): the image covers every step the driver has taken,
    /// and stands for any [`Effect::Persist`] not handed out yet. Call
    /// [`Driver::persisted`] when it is on stable storage.
    ///
    /// ```
    /// # use kevy_scope::Driver;
    /// let mut driver = Driver::<1, 1>::new(["A"]).unwrap();
    /// driver.persisting();
    /// driver.persisted();
    /// assert!(driver.is_idle());
    /// ```
    pub fn persisting(&mut self) {
        self.asked = self.want;
        self.writes = self.writes.saturating_add(1);
    }

    /// Feeds `state` what decides the driver's behaviour from time `now`
    /// on: every deadline as the time left until it (none once due), the
    /// persists as counts past the last one done. Two drivers of one node
    /// that hash alike at their clocks hand out the same effects for the
    /// same events; a model checker keys its states on it.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable, Scope};
    /// use std::hash::{DefaultHasher, Hasher};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let key = |d: &Driver<2, 2>, now| { let mut h = DefaultHasher::new(); d.hash_at(now, &mut h); h.finish() };
    /// let mut early = Driver::<2, 2>::new(["A", "B"]).unwrap();
    /// early.start(&mut a, b"a:", "B").unwrap();
    /// let mut late = early.clone();
    /// while early.poll(&a, 0).is_some() {}
    /// while late.poll(&a, 1_000).is_some() {}
    /// assert_eq!(key(&early, 0), key(&late, 1_000));
    /// ```
    pub fn hash_at<H: core::hash::Hasher>(&self, now: u64, state: &mut H) {
        use core::hash::Hash;
        let clock = now as u32;
        let done = self.done;
        let past = |n: u32| n.wrapping_sub(done);
        (past(self.want), past(self.asked), self.writes).hash(state);
        for e in &self.moves {
            (e.epoch, e.ticket, past(e.gate), e.stage, e.fallback).hash(state);
            (e.fresh, e.timed, e.stale, e.retried, e.reply, e.backoff).hash(state);
            (left(e.next, clock), e.timed.then(|| left(e.until, clock))).hash(state);
        }
        for o in &self.owed {
            (o.epoch, past(o.gate), o.pending, o.unsent, o.from, o.status).hash(state);
        }
        let round = self.rounding.then(|| left(self.round, clock));
        (round, self.round_backoff).hash(state);
        if let Some(r) = &self.recovery {
            (r.began, r.heard, r.fence, r.unheard, r.unsent).hash(state);
        }
        let watch = self.watching.then(|| left(self.watch_at, clock));
        (watch, self.watch_next).hash(state);
        // The last wake handed out, as it suppresses the same one again.
        (self.told != NEVER)
            .then(|| self.told.saturating_sub(now))
            .hash(state);
    }

    /// Whether the driver has nothing left to do: no move in flight, no
    /// news owed, no persist outstanding.
    ///
    /// ```
    /// # use kevy_scope::Driver;
    /// assert!(Driver::<1, 1>::new(["A"]).unwrap().is_idle());
    /// ```
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.moves.is_empty()
            && self.owed.is_empty()
            && self.recovery.is_none()
            && !self.must_persist()
    }

    /// The next thing the host must do at time `now`, or `None` until the
    /// next event or [`Effect::Wake`]. Call it until it returns `None`.
    ///
    /// ```
    /// # use kevy_scope::{Driver, MoveTable, Node, OwnershipTable};
    /// let node = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// let mut driver = Driver::<1, 1>::new(["A"]).unwrap();
    /// assert_eq!(driver.poll(&node, 0), None);
    /// ```
    pub fn poll<'a, T: ScopeTable, R: MoveRecords>(
        &'a mut self,
        node: &'a Node<T, R>,
        now: u64,
    ) -> Option<Effect<'a>> {
        let act = self.next(node, now)?;
        let this: &'a Self = self;
        this.render(act, node)
    }

    /// Makes the current thread's drivers hand out messages before the
    /// persist they depend on is done. For mutation tests only.
    #[cfg(all(kevy_mutants, feature = "std"))]
    #[doc(hidden)]
    pub fn send_before_persist(on: bool) {
        SEND_BEFORE_PERSIST.with(|c| c.set(on));
    }

    /// Makes the current thread's drivers ship without telling the
    /// scope's fallback first. For mutation tests only.
    #[cfg(all(kevy_mutants, feature = "std"))]
    #[doc(hidden)]
    pub fn ship_unprepared(on: bool) {
        SHIP_UNPREPARED.with(|c| c.set(on));
    }

    /// Notes a step's persist; returns its value.
    fn took<V>(&mut self, step: crate::moves::Durable<V>) -> V {
        if step.must_persist() {
            self.want = self.want.wrapping_add(1);
        }
        step.into_inner()
    }

    fn index(&self, id: &str) -> Option<u8> {
        index(&self.peers, id)
    }

    /// The exchange of a move just started, gated on its start.
    fn begin(&self, started: &Started, ticket: Epoch) -> Exchange {
        let mut ex = Exchange::new(started.epoch, ticket, self.want);
        ex.stage = match &started.prepare {
            Some(fallback) => match self.index(fallback.as_str()) {
                Some(peer) => {
                    ex.fallback = peer;
                    Stage::Preparing
                }
                // It cannot be told: the move must not ship.
                None => Stage::Querying,
            },
            None => Stage::Shipping,
        };
        #[cfg(all(kevy_mutants, feature = "std"))]
        if SHIP_UNPREPARED.with(core::cell::Cell::get) && ex.stage == Stage::Preparing {
            ex.stage = Stage::Shipping;
        }
        ex
    }

    /// Every peer but this node, a bit per peer index. Out of line:
    /// flash.
    #[inline(never)]
    fn others(&self, me: &str) -> u32 {
        let count = u32::try_from(self.peers.len()).unwrap_or(32);
        let all = u32::MAX.checked_shr(32 - count).unwrap_or(0);
        all & !self.index(me).map_or(0, |i| 1 << i)
    }

    /// Moves a recovery on once a round has heard every peer: from the
    /// epochs to the fence, from the fence to the end of quarantine.
    fn recovering<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
    ) -> Result<(), DriverError> {
        let others = self.others(node.id());
        while let Some(rec) = self.recovery.as_mut() {
            if rec.unheard != 0 {
                return Ok(());
            }
            self.rounding = false;
            self.round_backoff = 0;
            match rec.fence {
                // Every peer told its epoch: the second round, to all.
                None => {
                    let fence = node
                        .recovery_fence(rec.heard)
                        .map_err(DriverError::Refused)?;
                    rec.fence = Some(fence);
                    rec.unheard = others;
                    rec.unsent = others;
                }
                // Every peer fenced and told all it knows.
                Some(fence) => {
                    self.recovery = None;
                    let () = self.took(node.end_recovery(fence));
                    return self.owe_all(node);
                }
            }
        }
        Ok(())
    }

    /// Owes news to every peer but this node, gated on the last step.
    fn owe(
        &mut self,
        me: &str,
        epoch: Epoch,
        from: u8,
        status: MoveStatus,
    ) -> Result<(), DriverError> {
        let pending = self.others(me);
        if pending == 0 {
            return Ok(());
        }
        if self.owed.is_empty() {
            // Nothing was owed: no resend is scheduled.
            self.rounding = false;
        }
        self.round_backoff = 0;
        let owed = Owed {
            epoch,
            gate: self.want,
            pending,
            unsent: pending,
            from,
            status,
        };
        self.owed
            .push(owed)
            .map_err(|_| DriverError::OutboxFull { capacity: MOVES })
    }

    fn news_answered(&mut self, me: &str, from: &str, news: &Announcement<'_>, answer: Answer) {
        if !matches!(answer, Answer::Learned | Answer::Stale) {
            return;
        }
        let Some(peer) = self.index(from) else { return };
        let source = source(&self.peers, me, news.id.from);
        if news.status == MoveStatus::InFlight {
            let preparing = self.moves.iter_mut().find(|e| {
                e.epoch == news.id.epoch && e.stage == Stage::Preparing && e.fallback == peer
            });
            if let Some(ex) = preparing.filter(|_| source == OWN) {
                ex.enter(Stage::Shipping);
            }
            return;
        }
        let mut i = 0;
        while let Some(o) = self.owed.get_mut(i) {
            if o.is(news.id.epoch, source, news.status) {
                o.pending &= !(1 << peer);
            }
            if o.pending == 0 {
                remove(&mut self.owed, i);
            } else {
                i += 1;
            }
        }
    }

    /// The target's word on a move this node heard of: learned as its end.
    /// Out of line: flash.
    #[inline(never)]
    fn watched_end<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
        id: &MoveId<'_>,
        outcome: Outcome,
    ) -> Result<(), DriverError> {
        let status = match outcome {
            Outcome::Committed => MoveStatus::Committed,
            _ => MoveStatus::Aborted,
        };
        // The answer to a question about a move this node holds: no
        // sender's epoch on it, and none needed (`Node::learn` takes news
        // of a move the node holds from anyone).
        if let Ok(step) = node.learn(&Announcement { id: *id, status }, node.epoch()) {
            let () = self.took(step);
        }
        Ok(())
    }

    /// Resolves this node's move `id` with its target's word.
    fn resolve<T: ScopeTable, R: MoveRecords>(
        &mut self,
        node: &mut Node<T, R>,
        id: &MoveId<'_>,
        outcome: Outcome,
        keys: Option<u32>,
        rechecked: bool,
    ) -> Result<(), DriverError> {
        if moving(node, id.epoch).is_none() {
            // A late or repeated answer: the move ended already.
            return Ok(());
        }
        // Its news is owed only once it ends: room is needed now.
        self.prune(node);
        if self.owed.is_full() {
            return Err(DriverError::OutboxFull { capacity: MOVES });
        }
        let Ok(step) = node.resolve(id.prefix, id.epoch, outcome, rechecked) else {
            return Ok(());
        };
        let () = self.took(step);
        let (status, reply) = match outcome {
            Outcome::Committed => (MoveStatus::Committed, MoveReply::Committed { keys }),
            _ => (MoveStatus::Aborted, MoveReply::Aborted),
        };
        self.owe(node.id(), id.epoch, OWN, status)?;
        let want = self.want;
        let Some(at) = self.moves.iter().position(|e| e.epoch == id.epoch) else {
            return Ok(());
        };
        let Some(ex) = self.moves.get_mut(at) else {
            return Ok(());
        };
        ex.gate = want;
        ex.stage = Stage::Done;
        ex.reply = reply;
        let (ticket, again) = (ex.ticket, ex.stale && !ex.retried);
        if again && ticket != NO_TICKET && reply == MoveReply::Aborted {
            // The target's fence was above this node's epochs; the abort
            // lifted this node above it: once more, in the same slot.
            if let Ok(step) = node.start_move(id.prefix, id.to) {
                let started = self.took(step);
                let mut retry = self.begin(&started, ticket);
                retry.retried = true;
                if let Some(ex) = self.moves.get_mut(at) {
                    *ex = retry;
                }
            }
        }
        Ok(())
    }

    /// Drops news the node no longer holds: newer news of its prefix
    /// replaced it, and whoever holds that announces it.
    fn prune<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>) {
        let mut i = 0;
        while let Some(o) = self.owed.get(i) {
            if news(&self.peers, node, o).is_none() {
                remove(&mut self.owed, i);
            } else {
                i += 1;
            }
        }
    }

    /// The next thing to do; fires the timers and schedules.
    fn next<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>, now: u64) -> Option<Act> {
        if self.asked != self.want {
            self.persisting();
            return Some(Act::Persist);
        }
        let t = self.timing;
        let done = self.done;
        let clock = now as u32;
        if let Some(rec) = self.recovery.as_mut() {
            rec.began.get_or_insert(now);
            if self.rounding && due(self.round, clock) {
                // A round of resends: every peer not heard yet.
                rec.unsent = rec.unheard;
                self.round = retry(&mut self.round_backoff, &t, clock);
            }
            let left = rec.unsent & rec.unheard;
            if left != 0 {
                let peer = left.trailing_zeros();
                rec.unsent &= !(1 << peer);
                if !self.rounding {
                    self.round = retry(&mut self.round_backoff, &t, clock);
                    self.rounding = true;
                }
                return Some(Act::Recover(u8::try_from(peer).ok()?));
            }
        }
        let mut i = 0;
        while let Some(ex) = self.moves.get_mut(i) {
            if !open(ex.gate, done) {
                i += 1;
                continue;
            }
            if ex.stage != Stage::Done && moving(node, ex.epoch).is_none() {
                // Resolved behind the driver's back: the operator tries
                // again.
                ex.stage = Stage::Done;
                ex.reply = MoveReply::TryAgain;
            }
            if ex.stage == Stage::Done {
                let (ticket, reply) = (ex.ticket, ex.reply);
                remove(&mut self.moves, i);
                if ticket != NO_TICKET {
                    return Some(Act::Reply(ticket, reply));
                }
                continue;
            }
            if let Some(act) = ex.step(&t, clock) {
                return Some(act);
            }
            i += 1;
        }
        if let Some(act) = self.watch(node, clock) {
            return Some(act);
        }
        self.prune(node);
        let mut rearmed = false;
        loop {
            for (i, o) in self.owed.iter_mut().enumerate() {
                let left = o.unsent & o.pending;
                if left != 0 && open(o.gate, done) {
                    let peer = left.trailing_zeros();
                    o.unsent &= !(1 << peer);
                    if !self.rounding {
                        self.round = retry(&mut self.round_backoff, &t, clock);
                        self.rounding = true;
                    }
                    return Some(Act::News(i, u8::try_from(peer).ok()?));
                }
            }
            if rearmed || !self.rounding || !due(self.round, clock) {
                break;
            }
            // A round of resends: every peer that has not acknowledged.
            rearmed = true;
            self.round = retry(&mut self.round_backoff, &t, clock);
            for o in self.owed.iter_mut() {
                o.unsent = o.pending;
            }
        }
        let at = self
            .wait(clock)
            .map_or(NEVER, |wait| now.saturating_add(u64::from(wait)));
        if at == self.told {
            return None;
        }
        self.told = at;
        (at != NEVER).then_some(Act::Wake(at))
    }

    /// Looks into the moves this node heard of and still has pending, a
    /// round every `watch_ms`: their targets are asked the outcome.
    fn watch<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>, now: u32) -> Option<Act> {
        let every = self.timing.watch_ms;
        let count = if every == 0 || self.recovery.is_some() {
            0
        } else {
            watched(&self.peers, node, usize::MAX).0
        };
        if count == 0 {
            self.watching = false;
            self.watch_next = None;
            return None;
        }
        if !self.watching {
            self.watching = true;
            self.watch_at = now.wrapping_add(every.min(HALF - 1));
        }
        if self.must_persist() {
            // What it learned is not written yet: the round waits.
            return None;
        }
        if self.watch_next.is_none() && due(self.watch_at, now) {
            self.watch_next = Some(0);
        }
        let i = self.watch_next?;
        if i < count {
            self.watch_next = Some(i + 1);
            return Some(Act::Watch(i));
        }
        self.watch_next = None;
        self.watch_at = now.wrapping_add(every.min(HALF - 1));
        None
    }

    /// How long until the earliest deadline of what may leave.
    fn wait(&self, now: u32) -> Option<u32> {
        let mut min = u32::MAX;
        for e in self.moves.iter().filter(|e| open(e.gate, self.done)) {
            if !matches!(e.stage, Stage::Shipped | Stage::Done) {
                min = min.min(left(e.next, now));
            }
            if e.timed {
                min = min.min(left(e.until, now));
            }
        }
        if self.watching && self.watch_next.is_none() && !self.must_persist() {
            min = min.min(left(self.watch_at, now));
        }
        let resends = self.recovery.is_some() || self.owed.iter().any(|o| open(o.gate, self.done));
        if self.rounding && resends {
            min = min.min(left(self.round, now));
        }
        (min != u32::MAX).then_some(min)
    }

    /// Names what `act` sends, from the node's records and the peer list.
    fn render<'a, T: ScopeTable, R: MoveRecords>(
        &'a self,
        act: Act,
        node: &'a Node<T, R>,
    ) -> Option<Effect<'a>> {
        let peer = |i: u8| self.peers.get(usize::from(i)).map(NodeId::as_str);
        Some(match act {
            Act::Persist => Effect::Persist,
            Act::Reply(ticket, reply) => Effect::Reply { ticket, reply },
            Act::Wake(at) => Effect::Wake { at },
            Act::Prepare(epoch, to) => Effect::Send {
                to: peer(to)?,
                request: Request::News {
                    news: Announcement {
                        id: moving(node, epoch)?,
                        status: MoveStatus::InFlight,
                    },
                    sender_epoch: node.epoch(),
                },
            },
            Act::Ship(epoch) => {
                let id = moving(node, epoch)?;
                Effect::Ship { to: id.to, id }
            }
            Act::Query(epoch) => {
                let id = moving(node, epoch)?;
                let request = if node.in_doubt(epoch) {
                    Request::Recheck(id)
                } else {
                    Request::Outcome(id)
                };
                Effect::Send { to: id.to, request }
            }
            Act::Recover(to) => Effect::Send {
                to: peer(to)?,
                request: match self.recovery? {
                    Recovery {
                        fence: None, began, ..
                    } => Request::Epoch {
                        began: began.unwrap_or(0),
                    },
                    Recovery {
                        fence: Some(fence), ..
                    } => Request::Fence(fence),
                },
            },
            Act::Watch(at) => {
                let id = watched(&self.peers, node, at).1?;
                Effect::Send {
                    to: id.to,
                    request: Request::Outcome(id),
                }
            }
            Act::News(at, to) => Effect::Send {
                to: peer(to)?,
                request: Request::News {
                    news: news(&self.peers, node, self.owed.get(at)?)?,
                    sender_epoch: node.epoch(),
                },
            },
        })
    }
}

#[cfg(feature = "defmt")]
impl<const PEERS: usize, const MOVES: usize> defmt::Format for Driver<PEERS, MOVES> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Driver {{ peers: {=usize}, moves: {=usize}, owed: {=usize}, persists: {=u32}/{=u32} }}",
            self.peers.len(),
            self.moves.len(),
            self.owed.len(),
            self.done,
            self.want
        );
    }
}
