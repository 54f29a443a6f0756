//! The source of a move: `MOVE-SCOPE <prefix> FROM <from> TO <to>`.
//!
//! 1. `start_move`, waiting until every write admitted before it is
//!    applied (`update_and_drain`); persist. Writes for the prefix now
//!    answer `-QUIESCED`.
//! 2. If the scope has a fallback, tell it the move is in flight
//!    (`MOVE-SCOPE-NEWS INFLIGHT ...`) and wait for its acknowledgement.
//! 3. Ship the prefix's keys: `MOVE-SCOPE-INGEST`.
//! 4. On `+OK <n>`: `commit_move`, persist with the `COMMITTED`
//!    announcement owed to every peer, drop the keys given away, reply
//!    `+OK <n>`.
//! 5. Anything else (a refusal, a timeout, a lost connection): ask the
//!    target `MOVE-SCOPE-OUTCOME` and `resolve_move` with its answer; if
//!    the target cannot be reached in time, the operator hears `-TRYAGAIN`
//!    and the node keeps asking in the background. The same happens at
//!    boot for every move a crash left in flight.
//! 6. A target that refused the ingest as stale has seen a newer epoch
//!    than this node (news of other moves does not raise a node's own
//!    epoch); the abort lifted this node above the target's fence, so the
//!    move is tried once more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kevy_scope::{MoveStatus, Outcome, PeerAddr, PeerReply, PeerRequest};

use super::peer;
use super::wire::{self, Move, News};
use super::{Cluster, Outgoing, log, log_warn};
use crate::resp::Reply;

/// How long the fallback has to acknowledge a move in flight.
const PREPARE_DEADLINE: Duration = Duration::from_secs(3);
/// How long the target may take to apply and adopt the keys.
const INGEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the operator's command waits for the outcome of a move whose
/// `+OK` did not come, before the node resolves it in the background.
const OUTCOME_DEADLINE: Duration = Duration::from_secs(3);
/// The timeout of one node-to-node request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

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
        let Some(target) = self.addr_of(to) else {
            return Err(format!(
                "ERR MOVE-SCOPE: target node {to:?} not in [cluster] peers"
            ));
        };
        let mut reply = self.move_once(prefix, to, target);
        if let Err(refused) = &reply
            && refused.starts_with("ERR MOVE-SCOPE aborted: STALE")
        {
            // The target has seen a newer epoch than this node (its news of
            // other moves). The abort raised this node above the target's
            // fence, so one more try starts high enough.
            log(
                &self.id,
                "the target's epoch was ahead of ours; trying again above its fence",
            );
            reply = self.move_once(prefix, to, target);
        }
        reply
    }

    /// One try of a move: start, prepare the fallback, ship, resolve.
    fn move_once(
        self: &Arc<Self>,
        prefix: &[u8],
        to: &str,
        target: PeerAddr<'_>,
    ) -> Result<String, String> {
        let started = {
            let outbox = self.lock_steps();
            self.step(&outbox, true, |n| n.start_move(prefix, to))
                .map_err(|e| {
                    log_warn(
                        &self.id,
                        &format!(
                            "MOVE-SCOPE {:?} to {to} refused: {e}",
                            String::from_utf8_lossy(prefix)
                        ),
                    );
                    format!("ERR MOVE-SCOPE: {e}")
                })?
        };
        let id = Move {
            prefix: prefix.to_vec(),
            from: self.id.to_owned(),
            to: to.to_owned(),
            epoch: started.epoch,
        };
        log(
            &self.id,
            &format!(
                "move {}: started and quiesced (writes answer QUIESCED, every write admitted before is applied), records persisted",
                id.describe()
            ),
        );
        self.pause();

        if let Some(fallback) = started.prepare {
            let news = News {
                status: MoveStatus::InFlight,
                id: id.clone(),
            };
            log(
                &self.id,
                &format!(
                    "move {}: telling fallback {fallback} the move is in flight",
                    id.describe()
                ),
            );
            if let Err(why) = self.tell_until_acked(fallback.as_str(), &news, PREPARE_DEADLINE) {
                let why = format!("fallback {fallback} did not acknowledge: {why}");
                return self.resolve_without_ok(&id, &why, 0);
            }
            log(
                &self.id,
                &format!("move {}: fallback {fallback} knows", id.describe()),
            );
            self.pause();
        }

        let (bulk, count) = self.db.dump_prefix(prefix);
        let args = wire::args(&PeerRequest::Ingest {
            id: id.id(),
            bulk: &bulk,
        });
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        log(
            &self.id,
            &format!(
                "move {}: shipping {count} keys ({} bytes) to {to} at {target}",
                id.describe(),
                args.last().map_or(0, |b| b.len())
            ),
        );
        let reply = peer::call(target, &args, INGEST_TIMEOUT);
        self.pause();
        match reply {
            Ok(Reply::Error(refused)) => self.resolve_without_ok(&id, &refused, count),
            Ok(other) => {
                let line = wire::reply_line(&other);
                if let Some(Ok(ok @ PeerReply::Ingested { .. })) =
                    line.as_deref().map(PeerReply::decode)
                {
                    log(
                        &self.id,
                        &format!("move {}: the target acknowledged: +{ok}", id.describe()),
                    );
                    self.resolve(&id, Outcome::Committed);
                    Ok(format!("OK {count}"))
                } else {
                    self.resolve_without_ok(&id, &format!("the target answered {other:?}"), count)
                }
            }
            Err(e) => self.resolve_without_ok(&id, &format!("the ingest failed: {e}"), count),
        }
    }

    /// Ends a move whose `+OK` did not come, on the target's word
    /// (`shipped`: the keys sent, for the operator's `+OK <n>`).
    fn resolve_without_ok(
        self: &Arc<Self>,
        id: &Move,
        why: &str,
        shipped: usize,
    ) -> Result<String, String> {
        log(
            &self.id,
            &format!(
                "move {}: no +OK ({why}); asking the target for the outcome",
                id.describe()
            ),
        );
        match self.ask_outcome(id, Some(Instant::now() + OUTCOME_DEADLINE)) {
            Some(Outcome::Committed) => {
                self.resolve(id, Outcome::Committed);
                Ok(format!("OK {shipped}"))
            }
            Some(outcome) => {
                self.resolve(id, outcome);
                Err(format!("ERR MOVE-SCOPE aborted: {why}"))
            }
            None => {
                log_warn(
                    &self.id,
                    &format!(
                        "move {}: the target cannot be reached; the move stays quiesced and resolves in the background",
                        id.describe()
                    ),
                );
                self.resolve_in_background(id.clone());
                Err(format!(
                    "TRYAGAIN MOVE-SCOPE {} is in flight and the target cannot be reached; it resolves in the background",
                    String::from_utf8_lossy(&id.prefix)
                ))
            }
        }
    }

    /// Asks the target what became of `id` until it answers or `deadline`
    /// passes (`None`: ask until it answers).
    fn ask_outcome(&self, id: &Move, deadline: Option<Instant>) -> Option<Outcome> {
        let args = wire::args(&PeerRequest::Outcome(id.id()));
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut backoff = Duration::from_millis(20);
        loop {
            let answer = match self.addr_of(&id.to) {
                Some(addr) => peer::call(addr, &args, REQUEST_TIMEOUT),
                None => Err(std::io::Error::other("the target is not in the peer list")),
            };
            match answer {
                Ok(Reply::Error(refused)) => log(
                    &self.id,
                    &format!("move {}: outcome refused: {refused}", id.describe()),
                ),
                Ok(other) => match wire::reply_line(&other).as_deref().map(PeerReply::decode) {
                    Some(Ok(PeerReply::Outcome(outcome))) => {
                        log(
                            &self.id,
                            &format!(
                                "move {}: the target answered {}",
                                id.describe(),
                                PeerReply::Outcome(outcome)
                            ),
                        );
                        return Some(outcome);
                    }
                    _ => log(
                        &self.id,
                        &format!("move {}: unreadable outcome {other:?}", id.describe()),
                    ),
                },
                Err(_) => {}
            }
            if deadline.is_some_and(|d| Instant::now() + backoff > d) {
                return None;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Resolves `id` with `outcome`: persist with the announcement owed
    /// to every peer, then drop the keys given away.
    fn resolve(&self, id: &Move, outcome: Outcome) {
        let mut outbox = self.lock_steps();
        let status = if outcome.is_committed() {
            MoveStatus::Committed
        } else {
            MoveStatus::Aborted
        };
        let resolved = self
            .node
            .update(|n| n.resolve_move(&id.prefix, id.epoch, outcome));
        match resolved {
            Ok(done) if done.must_persist() => {
                let news = News {
                    status,
                    id: id.clone(),
                };
                let pending: Vec<String> = self
                    .peers
                    .iter()
                    .map(|p| p.id().to_owned())
                    .filter(|p| *p != self.id)
                    .collect();
                let announce_to = pending.join(", ");
                outbox.entries.push(Outgoing { news, pending });
                self.persist(&outbox);
                log(
                    &self.id,
                    &format!(
                        "move {}: {}, records persisted; announcing it to {announce_to}",
                        id.describe(),
                        wire::status_word(status)
                    ),
                );
                if outcome.is_committed() {
                    // Under the steps lock: an ingest of the same prefix
                    // (a quick move back) cannot interleave.
                    let n = self.db.drop_prefix(&id.prefix);
                    log(
                        &self.id,
                        &format!("move {}: {n} keys handed over", id.describe()),
                    );
                }
                self.wake.notify_all();
            }
            // A repeat: another resolver got there first.
            Ok(_) => log(
                &self.id,
                &format!("move {}: already resolved", id.describe()),
            ),
            Err(e) => log_warn(
                &self.id,
                &format!("move {}: not resolved: {e}", id.describe()),
            ),
        }
    }

    /// Resolves `id` on a thread of its own, asking the target until it
    /// answers.
    fn resolve_in_background(self: &Arc<Self>, id: Move) {
        let cluster = Arc::clone(self);
        std::thread::spawn(move || {
            if let Some(outcome) = cluster.ask_outcome(&id, None) {
                cluster.resolve(&id, outcome);
            }
        });
    }

    /// After a restart: every move a crash left in flight is resolved
    /// with its target's answer.
    pub(super) fn resume_in_flight(self: &Arc<Self>) {
        let open: Vec<Move> = self
            .node
            .snapshot()
            .in_flight()
            .map(|m| Move::of(&m))
            .collect();
        for id in open {
            log(
                &self.id,
                &format!("move {}: left in flight, asking the target", id.describe()),
            );
            self.resolve_in_background(id);
        }
    }
}
