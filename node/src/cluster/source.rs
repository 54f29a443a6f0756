//! The source of a move, `MOVE-SCOPE <prefix> FROM <from> TO <to>`, and
//! the announcements this node owes: carried out for the crate's sans-IO
//! move driver ([`kevy_scope::Driver`]), which decides every step and
//! when anything may leave the node. This file only moves bytes:
//!
//! - events in: the operator's command ([`Driver::start`], after which
//!   writes for the prefix answer `-QUIESCED` and every write admitted
//!   before is applied: `update_and_drain`), each peer's answer
//!   ([`Driver::answer`]), the timer;
//! - effects out ([`Cluster::pump`], under the steps lock): `Persist`
//!   writes the records file at once; `Send` and `Ship` go to the peer on
//!   a thread of their own, whose answer comes back as an event; `Reply`
//!   answers the waiting operator; `Wake` sets the timer thread's alarm.
//!
//! The driver tells the fallback, ships, commits on `+OK`, asks the
//! target for the outcome when the `+OK` does not come (also for every
//! move a restart left in flight), answers `-TRYAGAIN` when the outcome
//! does not come in time, starts a move once more above a target's fence
//! after a `-STALE` ingest, and announces each end to every peer until
//! each acknowledges. The host drops the keys given away once a commit is
//! on disk.
//!
//! A node that lost its records boots quarantined and its driver recovers
//! them (`Driver::resume`): the host sends what it hands out,
//! `MOVE-SCOPE-EPOCH` to every peer (the `+EPOCH n` fed back with
//! [`Driver::answer`]), then `MOVE-SCOPE-FENCE` (the list of news the
//! peer answers fed back with [`Driver::recovered`]), and after it,
//! `MOVE-SCOPE-RECHECK` for a move whose target recovered. The driver
//! decides when the node leaves quarantine; the host only reports where
//! it stands (`SCOPE-STATUS`, `SCOPE-LIFT-QUARANTINE`).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use kevy_scope::{
    Driver, Epoch,
    driver::{Answer, Effect, MoveReply, Request, Timing},
    moves::{MoveStatus, Outcome},
    wire::{NewsList, PeerReply, PeerRequest},
};

use super::peer::{Bounds, Fenced};
use super::wire::{self, Move, News};
use super::{Cluster, encode_image, log, log_error, log_warn, peer};
use crate::resp::Reply;

/// The node's move driver: up to 32 peers (the most a driver holds),
/// 255 moves in flight and 255 announcements owed (the most its `u8`
/// lengths hold; the node holds one record per prefix, and a full table
/// is an error the driver reports, never a lost duty).
pub type NodeDriver = Driver<32, 255>;

/// The driver's deadlines: the fallback has 3 s, the ingest 30 s, the
/// operator waits 3 s for an outcome, a request without an answer is sent
/// again after 200 ms (the crate's defaults), the wait doubling up to 1 s
/// (not 5 s: a peer back from a restart hears the news sooner).
pub const TIMING: Timing = Timing {
    max_retry_ms: 1_000,
    ..Timing::DEFAULT
};

/// The timeout of one news or outcome request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The timeout of each read and write of an ingest.
const INGEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The timer thread polls the driver at least this often (ms), whatever
/// its last `Wake` said.
const MAX_SLEEP_MS: u64 = 1_000;

/// What the steps lock guards: the driver and what the host keeps beside
/// it.
pub struct Steps {
    pub(super) driver: Box<NodeDriver>,
    /// The time of the driver's last `Wake` (ms since boot).
    wake_at: Option<u64>,
    /// Operator commands waiting for their reply, by ticket.
    waiting: HashMap<u32, Waiting>,
    /// Prefixes given away whose commit waits for its persist; their keys
    /// are dropped once it is on disk.
    drops: Vec<Vec<u8>>,
    /// While the driver recovers: the fence of the round it asks, once it
    /// asked one (`None`: the first round, the peers' epochs), as its
    /// last recovery request said. For the operator's view only.
    pub(super) fence_round: Option<Epoch>,
    /// The driver was recovering after the last event.
    was_recovering: bool,
}

impl Steps {
    pub(super) fn new(driver: NodeDriver) -> Self {
        let was_recovering = driver.is_recovering();
        Self {
            driver: Box::new(driver),
            wake_at: None,
            waiting: HashMap::new(),
            drops: Vec::new(),
            fence_round: None,
            was_recovering,
        }
    }

    /// Where a recovery stands, for the operator: `None` when the driver
    /// is not recovering, else the round (`epochs`, or `fence <n>`) and
    /// the peers it still waits for.
    pub(super) fn recovery(&self) -> Option<(String, Vec<String>)> {
        if !self.driver.is_recovering() {
            return None;
        }
        let round = self
            .fence_round
            .map_or_else(|| "epochs".to_owned(), |f| format!("fence {}", f.get()));
        let unheard = self.driver.unheard().map(str::to_owned).collect();
        Some((round, unheard))
    }

    /// The operator command moving `prefix`, if one waits.
    fn waiting_for(&mut self, prefix: &[u8]) -> Option<&mut Waiting> {
        self.waiting.values_mut().find(|w| w.prefix == prefix)
    }
}

/// An operator's `MOVE-SCOPE` waiting for the driver's reply, and what
/// the host noted for its text.
struct Waiting {
    reply: mpsc::Sender<Result<String, String>>,
    prefix: Vec<u8>,
    /// The keys shipped (for `+OK <n>` when the commit came by the
    /// outcome query).
    shipped: usize,
    /// The last reason the move went wrong (for `-ERR ... aborted`).
    why: Option<String>,
}

/// A request of the driver's, owned (the effect borrows the driver).
#[derive(Debug, Clone)]
enum Req {
    News(News),
    Outcome(Move),
    Ingest(Move),
    /// The outcome asked again of a target that recovered.
    Recheck(Move),
    /// A recovery's first round: the peer's highest epoch (the recovery
    /// began at this time of the driver's clock).
    Epoch(u64),
    /// A recovery's second round: fence at this epoch, and tell all.
    Fence(Epoch),
}

impl Req {
    /// `None` for a request this node does not know how to send (a newer
    /// crate's).
    fn of(request: &Request<'_>) -> Option<Self> {
        Some(match request {
            Request::News { news, sender_epoch } => Self::News(News::of(news, *sender_epoch)),
            Request::Outcome(id) => Self::Outcome(Move::of(id)),
            Request::Ingest(id) => Self::Ingest(Move::of(id)),
            Request::Recheck(id) => Self::Recheck(Move::of(id)),
            Request::Epoch { began } => Self::Epoch(*began),
            Request::Fence(fence) => Self::Fence(*fence),
            _ => return None,
        })
    }

    fn request(&self) -> Request<'_> {
        match self {
            Self::News(news) => Request::News {
                news: news.announcement(),
                sender_epoch: news.sender_epoch,
            },
            Self::Outcome(id) => Request::Outcome(id.id()),
            Self::Ingest(id) => Request::Ingest(id.id()),
            Self::Recheck(id) => Request::Recheck(id.id()),
            Self::Epoch(began) => Request::Epoch { began: *began },
            Self::Fence(fence) => Request::Fence(*fence),
        }
    }
}

/// One effect, owned, taken out of the driver.
enum Todo {
    /// The image encoded at the `Persist`, to write.
    Persist(Result<Vec<u8>, kevy_scope::moves::ImageError>),
    /// A `Persist` while the node is quarantined: there is no image to
    /// write (`ImageError::Quarantined`).
    NoImage,
    Send(String, Req),
    /// A request this node cannot send.
    Unknown(String),
    Ship(Move),
    Reply(Epoch, MoveReply),
    Wake(u64),
}

impl Cluster {
    /// `MOVE-SCOPE <prefix> FROM <from> TO <to>` on this node: the
    /// simple-string reply, or the error reply.
    pub fn move_scope(
        self: &Arc<Self>,
        prefix: &[u8],
        from: &str,
        to: &str,
    ) -> Result<String, String> {
        if from != self.id {
            return Err(format!(
                "ERR MOVE-SCOPE: from-id {from:?} is not this node ({:?})",
                self.id
            ));
        }
        if self.addr_of(to).is_none() {
            return Err(format!(
                "ERR MOVE-SCOPE: target node {to:?} not in [cluster] peers"
            ));
        }
        let (tx, rx) = mpsc::channel();
        {
            let mut steps = self.lock_steps();
            let driver = &mut steps.driver;
            let ticket = self
                .node
                .update_and_drain(|n| driver.start(n, prefix, to))
                .map_err(|e| {
                    let e = match e {
                        kevy_scope::driver::DriverError::Refused(refused) => refused.to_string(),
                        other => other.to_string(),
                    };
                    log_warn(
                        &self.id,
                        &format!(
                            "MOVE-SCOPE {:?} to {to} refused: {e}",
                            String::from_utf8_lossy(prefix)
                        ),
                    );
                    format!("ERR MOVE-SCOPE: {e}")
                })?;
            let id = Move {
                prefix: prefix.to_vec(),
                from: self.id.clone(),
                to: to.to_owned(),
                epoch: ticket,
            };
            log(
                &self.id,
                &format!(
                    "move {}: started and quiesced (writes answer QUIESCED, every write admitted before is applied)",
                    id.describe()
                ),
            );
            steps.waiting.insert(
                ticket.get(),
                Waiting {
                    reply: tx,
                    prefix: prefix.to_vec(),
                    shipped: 0,
                    why: None,
                },
            );
            self.pump(&mut steps);
        }
        rx.recv().unwrap_or_else(|_| {
            Err(format!(
                "TRYAGAIN MOVE-SCOPE {} lost its reply; see SCOPE-STATUS",
                String::from_utf8_lossy(prefix)
            ))
        })
    }

    /// Milliseconds since boot: the driver's clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Carries out what the driver asks now, until it has nothing more.
    /// Called under the steps lock after every event, so the driver's
    /// persists are on disk before the lock is released.
    pub(super) fn pump(self: &Arc<Self>, steps: &mut Steps) {
        if steps.was_recovering && !steps.driver.is_recovering() {
            steps.was_recovering = false;
            steps.fence_round = None;
            let snapshot = self.node.snapshot();
            log(
                &self.id,
                &format!(
                    "recovered: every peer fenced and told what it knows; out of quarantine \
                     (epoch {}, {} records, {} moves of this node in flight, their targets asked); \
                     the records are persisted next",
                    snapshot.epoch().get(),
                    snapshot.records().count(),
                    snapshot.in_flight().count()
                ),
            );
        }
        loop {
            let now = self.now_ms();
            let todo = {
                let snapshot = self.node.snapshot();
                let Some(effect) = steps.driver.poll(&snapshot, now) else {
                    break;
                };
                match effect {
                    // Encoded now, before any other call on the node or
                    // the driver.
                    Effect::Persist if snapshot.is_quarantined() => Todo::NoImage,
                    Effect::Persist => Todo::Persist(encode_image(&snapshot)),
                    Effect::Send { to, request } => match Req::of(&request) {
                        Some(req) => Todo::Send(to.to_owned(), req),
                        None => Todo::Unknown(format!("{request:?} to {to}")),
                    },
                    Effect::Ship { id, .. } => Todo::Ship(Move::of(&id)),
                    Effect::Reply { ticket, reply } => Todo::Reply(ticket, reply),
                    Effect::Wake { at } => Todo::Wake(at),
                }
            };
            match todo {
                Todo::Persist(image) => {
                    self.write_records(image);
                    steps.driver.persisted();
                    let snapshot = self.node.snapshot();
                    log(
                        &self.id,
                        &format!(
                            "records persisted (epoch {}, {} records)",
                            snapshot.epoch().get(),
                            snapshot.records().count()
                        ),
                    );
                    drop(snapshot);
                    for prefix in std::mem::take(&mut steps.drops) {
                        let n = self.db.drop_prefix(&prefix);
                        log(
                            &self.id,
                            &format!(
                                "{n} keys of {:?} handed over",
                                String::from_utf8_lossy(&prefix)
                            ),
                        );
                    }
                }
                Todo::NoImage => {
                    // Never asked by the driver while the node recovers;
                    // were it asked, there is nothing of this node's own
                    // to write (a restart recovers again), and the
                    // driver hears the write done so nothing waits on it.
                    log_warn(
                        &self.id,
                        "the driver asked to persist while the node is quarantined: no image \
                         (its records are its peers' until the recovery ends); nothing written",
                    );
                    steps.driver.persisted();
                }
                Todo::Unknown(what) => log_error(
                    &self.id,
                    &format!("the driver asked to send {what}, which this node cannot send"),
                ),
                Todo::Send(to, req) => {
                    match &req {
                        Req::News(news) if news.status == MoveStatus::InFlight => log(
                            &self.id,
                            &format!(
                                "move {}: telling fallback {to} the move is in flight",
                                news.id.describe()
                            ),
                        ),
                        Req::News(news) => {
                            log(&self.id, &format!("announcing {} to {to}", news.describe()))
                        }
                        Req::Outcome(id) => log(
                            &self.id,
                            &format!("move {}: asking the target for the outcome", id.describe()),
                        ),
                        Req::Recheck(id) => log(
                            &self.id,
                            &format!(
                                "move {}: asking the target again for the outcome (it recovered its records: its +OK no longer counts)",
                                id.describe()
                            ),
                        ),
                        Req::Epoch(_) => {
                            steps.fence_round = None;
                            log(
                                &self.id,
                                &format!(
                                    "recovery: asking {to} the highest epoch it knows (MOVE-SCOPE-EPOCH)"
                                ),
                            );
                        }
                        Req::Fence(fence) => {
                            steps.fence_round = Some(*fence);
                            log(
                                &self.id,
                                &format!(
                                    "recovery: asking {to} to fence at {} and tell all it knows (MOVE-SCOPE-FENCE)",
                                    fence.get()
                                ),
                            );
                        }
                        Req::Ingest(_) => {}
                    }
                    let cluster = Arc::clone(self);
                    std::thread::spawn(move || cluster.send(&to, req));
                }
                Todo::Ship(id) => {
                    let cluster = Arc::clone(self);
                    std::thread::spawn(move || cluster.ship(id));
                }
                Todo::Reply(ticket, reply) => self.reply(steps, ticket, reply),
                Todo::Wake(at) => {
                    tracing::debug!(node = self.id, "the driver wakes at {at} ms");
                    steps.wake_at = Some(at);
                    self.wake.notify_all();
                }
            }
        }
    }

    /// Answers the operator's command `ticket`.
    fn reply(&self, steps: &mut Steps, ticket: Epoch, reply: MoveReply) {
        let Some(waiting) = steps.waiting.remove(&ticket.get()) else {
            return;
        };
        let prefix = String::from_utf8_lossy(&waiting.prefix).into_owned();
        let text = match reply {
            MoveReply::Committed { keys } => Ok(format!(
                "OK {}",
                keys.map_or(waiting.shipped, |k| k as usize)
            )),
            MoveReply::Aborted => Err(format!(
                "ERR MOVE-SCOPE aborted: {}",
                waiting
                    .why
                    .as_deref()
                    .unwrap_or("the target fenced the move off")
            )),
            MoveReply::TryAgain => {
                log_warn(
                    &self.id,
                    &format!(
                        "MOVE-SCOPE {prefix:?}: no outcome in time; the move stays quiesced and resolves in the background"
                    ),
                );
                Err(format!(
                    "TRYAGAIN MOVE-SCOPE {prefix} is in flight and the target cannot be reached; it resolves in the background"
                ))
            }
            other => Err(format!("ERR MOVE-SCOPE: {other:?}")),
        };
        let shown = match &text {
            Ok(t) => format!("+{t}"),
            Err(t) => format!("-{t}"),
        };
        log(
            &self.id,
            &format!("MOVE-SCOPE {prefix:?} (ticket {}): {shown}", ticket.get()),
        );
        // The operator's connection may be gone: nothing to do then.
        let _ = waiting.reply.send(text);
    }

    /// Sends a request of the driver's to `to` (on a thread of its own)
    /// and feeds the answer back. No answer is no event: the driver asks
    /// again when its resend is due.
    fn send(self: Arc<Self>, to: &str, req: Req) {
        self.pause();
        let args = match &req {
            Req::News(news) => wire::args(&news.request()),
            Req::Outcome(id) => wire::args(&PeerRequest::Outcome(id.id())),
            Req::Recheck(id) => wire::args(&PeerRequest::Recheck(id.id())),
            Req::Epoch(_) => wire::args(&PeerRequest::Epoch),
            Req::Fence(fence) => {
                return self.fence_peer(to, *fence);
            }
            Req::Ingest(_) => return,
        };
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = match self.addr_of(to) {
            Some(addr) => peer::call(addr, &args, self.bounds(REQUEST_TIMEOUT)),
            None => Err(std::io::Error::other("not in the peer list")),
        };
        match reply {
            Ok(reply) => {
                let said = shown(&reply);
                self.answered(to, &req, read_answer(&reply), &said);
            }
            Err(e) => {
                let what = match &req {
                    Req::News(news) if news.status == MoveStatus::InFlight => {
                        let why = format!("fallback {to} did not acknowledge: {e}");
                        if let Some(w) = self.lock_steps().waiting_for(&news.id.prefix) {
                            w.why = Some(why);
                        }
                        format!("move {}: telling fallback {to}", news.id.describe())
                    }
                    Req::News(news) => format!("announcing {} to {to}", news.describe()),
                    Req::Outcome(id) => format!("move {}: asking {to} the outcome", id.describe()),
                    Req::Recheck(id) => {
                        format!("move {}: asking {to} the outcome again", id.describe())
                    }
                    Req::Epoch(_) => format!("recovery: asking {to} its epoch"),
                    Req::Ingest(_) | Req::Fence(_) => return,
                };
                log_warn(
                    &self.id,
                    &format!("{what}: no answer ({e}); the driver asks again"),
                );
            }
        }
    }

    /// The bounds of a call to a peer: `timeout` for each read and write,
    /// the node's query buffer limit for the reply.
    fn bounds(&self, timeout: Duration) -> Bounds {
        Bounds {
            timeout,
            max_reply: self.reply_limit,
        }
    }

    /// Sends a recovery's `MOVE-SCOPE-FENCE <this node> <fence>` to `to`
    /// (on a thread of its own) and feeds the list of news it answers to
    /// the driver ([`Driver::recovered`]). A refusal or no answer is no
    /// event: the driver asks again.
    fn fence_peer(self: Arc<Self>, to: &str, fence: Epoch) {
        let args = wire::args(&PeerRequest::Fence {
            from: &self.id,
            epoch: fence,
        });
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let answer = match self.addr_of(to) {
            Some(addr) => peer::call_fence(addr, &args, self.bounds(REQUEST_TIMEOUT)),
            None => Err(std::io::Error::other("not in the peer list")),
        };
        let bytes = match answer {
            Ok(Fenced::News(bytes)) => bytes,
            Ok(Fenced::Line(reply)) => {
                log_warn(
                    &self.id,
                    &format!(
                        "recovery: {to} did not fence at {} ({}); the driver asks again",
                        fence.get(),
                        shown(&reply)
                    ),
                );
                return;
            }
            Err(e) => {
                log_warn(
                    &self.id,
                    &format!(
                        "recovery: asking {to} to fence at {}: no answer ({e}); the driver asks again",
                        fence.get()
                    ),
                );
                return;
            }
        };
        // Checked whole when it was read: it decodes again in place.
        let Ok((list, _)) = NewsList::decode(&bytes) else {
            return;
        };
        let mut steps = self.lock_steps();
        let driver = &mut steps.driver;
        let taken = self
            .node
            .update(|n| driver.recovered(n, to, fence, list.iter()));
        match taken {
            Ok(()) => {
                let waiting: Vec<&str> = steps.driver.unheard().collect();
                log(
                    &self.id,
                    &format!(
                        "recovery: {to} fenced at {} and told {} news{}",
                        fence.get(),
                        list.len(),
                        if steps.driver.is_recovering() {
                            format!("; still waiting for {}", waiting.join(", "))
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            Err(e) => log_warn(
                &self.id,
                &format!("recovery: the driver did not take {to}'s news ({e}); it asks again"),
            ),
        }
        self.pump(&mut steps);
    }

    /// Streams the keys of the move's prefix to its target (one bulk, as
    /// `MOVE-SCOPE-INGEST`) and feeds the answer back. A lost connection
    /// is fed as a refusal (no answer could be read): the driver asks the
    /// target for the outcome at once instead of waiting out the ingest's
    /// deadline.
    fn ship(self: Arc<Self>, id: Move) {
        self.pause();
        let (bulk, count) = self.db.dump_prefix(&id.prefix);
        if let Some(w) = self.lock_steps().waiting_for(&id.prefix) {
            w.shipped = count;
        }
        let args = wire::args(&PeerRequest::Ingest {
            id: id.id(),
            bulk: &bulk,
        });
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = match self.addr_of(&id.to) {
            Some(target) => {
                log(
                    &self.id,
                    &format!(
                        "move {}: shipping {count} keys ({} bytes) to {} at {target}",
                        id.describe(),
                        bulk.len(),
                        id.to
                    ),
                );
                peer::call(target, &args, self.bounds(INGEST_TIMEOUT))
            }
            None => Err(std::io::Error::other("the target is not in the peer list")),
        };
        let (answer, said) = match reply {
            Ok(reply) => (read_answer(&reply), shown(&reply)),
            Err(e) => (Answer::Refused, format!("the ingest failed: {e}")),
        };
        self.answered(&id.to, &Req::Ingest(id.clone()), answer, &said);
    }

    /// Feeds peer `from`'s `answer` to `req` (`said`: the reply as it
    /// came, for the logs and the operator) to the driver, then carries
    /// out what follows.
    fn answered(self: &Arc<Self>, from: &str, req: &Req, answer: Answer, said: &str) {
        let mut steps = self.lock_steps();
        let taken = match req {
            Req::News(news) => {
                let acked = matches!(answer, Answer::Learned | Answer::Stale);
                match (news.status, acked) {
                    (MoveStatus::InFlight, true) => {
                        if let Some(w) = steps.waiting_for(&news.id.prefix) {
                            w.why = None;
                        }
                        log(
                            &self.id,
                            &format!(
                                "move {}: fallback {from} knows ({said})",
                                news.id.describe()
                            ),
                        );
                    }
                    (_, true) => log(
                        &self.id,
                        &format!("announced {} to {from} ({said})", news.describe()),
                    ),
                    (_, false) => log_warn(
                        &self.id,
                        &format!(
                            "{from} refused {} ({said}); the driver sends it again",
                            news.describe()
                        ),
                    ),
                }
                let driver = &mut steps.driver;
                self.node
                    .update(|n| driver.answer(n, from, req.request(), answer))
            }
            Req::Epoch(_) | Req::Fence(_) => {
                match answer {
                    Answer::Epoch(epoch) => log(
                        &self.id,
                        &format!("recovery: {from} knows epochs up to {}", epoch.get()),
                    ),
                    _ => log_warn(
                        &self.id,
                        &format!(
                            "recovery: {from} did not tell its epoch ({said}); the driver asks again"
                        ),
                    ),
                }
                let driver = &mut steps.driver;
                self.node
                    .update(|n| driver.answer(n, from, req.request(), answer))
            }
            Req::Ingest(id) | Req::Outcome(id) | Req::Recheck(id) => {
                let ingest = matches!(req, Req::Ingest(_));
                if let Some(w) = steps.waiting_for(&id.prefix) {
                    match answer {
                        Answer::Ingested { .. } | Answer::Learned => {}
                        Answer::Outcome(Outcome::Aborted { .. }) => {
                            w.why
                                .get_or_insert_with(|| format!("the target answered {said}"));
                        }
                        Answer::Outcome(_) => {}
                        _ => w.why = Some(said.trim_start_matches(['-', '+']).to_owned()),
                    }
                }
                let what = match (ingest, answer) {
                    (true, Answer::Ingested { .. }) => format!("the target acknowledged: {said}"),
                    (true, Answer::Stale) => format!(
                        "the target refused the ingest as stale ({said}): its epoch is ahead of ours; asking the outcome, then trying again above its fence"
                    ),
                    (true, _) => format!("no +OK ({said}); asking the target for the outcome"),
                    (false, Answer::Outcome(_)) => format!("the target answered {said}"),
                    (false, _) => format!("outcome not given ({said}); the driver asks again"),
                };
                log(&self.id, &format!("move {}: {what}", id.describe()));
                let was = self.in_flight(id);
                let driver = &mut steps.driver;
                let taken = self
                    .node
                    .update_and_drain(|n| driver.answer(n, from, req.request(), answer));
                if taken.is_ok() && was && !self.in_flight(id) {
                    let committed = matches!(
                        answer,
                        Answer::Ingested { .. } | Answer::Outcome(Outcome::Committed)
                    );
                    let status = if committed {
                        MoveStatus::Committed
                    } else {
                        MoveStatus::Aborted
                    };
                    log(
                        &self.id,
                        &format!(
                            "move {}: {}; the driver persists it, then announces it to every peer",
                            id.describe(),
                            wire::status_word(status)
                        ),
                    );
                    if committed {
                        // Dropped once the commit is on disk, under the
                        // steps lock: an ingest of the same prefix (a
                        // quick move back) cannot interleave.
                        steps.drops.push(id.prefix.clone());
                    } else if let Some(again) = self
                        .node
                        .snapshot()
                        .in_flight()
                        .find(|m| m.prefix == id.prefix.as_slice())
                    {
                        log(
                            &self.id,
                            &format!(
                                "move {}: started once more above the target's fence (quiesced, every write admitted before is applied)",
                                Move::of(&again).describe()
                            ),
                        );
                    }
                }
                taken
            }
        };
        if let Err(e) = taken {
            log_warn(
                &self.id,
                &format!(
                    "the driver did not take {from}'s answer ({e}); it takes it when it comes again"
                ),
            );
        }
        self.pump(&mut steps);
    }

    /// Whether this node's move `id` is in flight.
    fn in_flight(&self, id: &Move) -> bool {
        self.node
            .snapshot()
            .in_flight()
            .any(|m| m.epoch == id.epoch && m.prefix == id.prefix.as_slice())
    }

    /// The timer: polls the driver when its `Wake` comes (and at least
    /// every second), on a thread of its own, forever.
    pub(super) fn start_timer(self: Arc<Self>) {
        std::thread::spawn(move || {
            let mut steps = self.lock_steps();
            loop {
                self.pump(&mut steps);
                let now = self.now_ms();
                let until = steps
                    .wake_at
                    .filter(|&at| at > now)
                    .map_or(now + MAX_SLEEP_MS, |at| at.min(now + MAX_SLEEP_MS));
                steps = self
                    .wake
                    .wait_timeout(steps, Duration::from_millis(until - now))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        });
    }
}

/// A peer's reply as the driver reads it: anything unreadable is a
/// refusal.
fn read_answer(reply: &Reply) -> Answer {
    match wire::reply_line(reply).as_deref().map(PeerReply::decode) {
        Some(Ok(reply)) => Answer::from(reply),
        _ => Answer::Refused,
    }
}

/// A reply for the logs: `+OK 3`, `-STALE ...`.
fn shown(reply: &Reply) -> String {
    wire::reply_line(reply).map_or_else(
        || format!("{reply:?}"),
        |line| String::from_utf8_lossy(&line).into_owned(),
    )
}
