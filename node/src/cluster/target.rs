//! The receiving side of each node-to-node request, straight on the
//! node (the driver's contract, item 4): `MOVE-SCOPE-INGEST` (check,
//! apply the keys, adopt, persist, `+OK <n>`), `MOVE-SCOPE-OUTCOME` and
//! `MOVE-SCOPE-RECHECK` (the source's question when the `+OK` did not
//! reach it, or no longer counts), `MOVE-SCOPE-NEWS` (learn, persist if
//! asked, `+OK`; `-STALE` when newer news is known, `-SENDERNOTOWNER`
//! when an earlier move is not known yet: the sender's driver sends it
//! again), and a recovering peer's `MOVE-SCOPE-EPOCH` (`+EPOCH <n>`) and
//! `MOVE-SCOPE-FENCE` (fence, persist if asked, then all this node knows
//! as a list of news). Each runs under the steps lock and answers only
//! once every earlier step is on disk.

use kevy_scope::{
    Epoch,
    moves::{Ingest, MoveError},
    wire::{encode_news, news_len},
};

use super::wire::{self, Move, News};
use super::{Cluster, log, log_warn};
use crate::resp;

impl Cluster {
    /// `MOVE-SCOPE-INGEST` on this node. Until `adopt`, client writes for
    /// the prefix are still redirected to the source (which answers
    /// QUIESCED), so none lands while the keys are applied.
    pub fn ingest(&self, id: &Move, bulk: &[u8]) -> Result<String, String> {
        let refused = |why: String| {
            log_warn(
                &self.id,
                &format!("move {}: ingest refused: {why}", id.describe()),
            );
            why
        };
        let entries = parse_bulk(bulk, &id.prefix).map_err(refused)?;
        log(
            &self.id,
            &format!(
                "move {}: ingest received, {} keys ({} bytes)",
                id.describe(),
                entries.len(),
                bulk.len()
            ),
        );
        let mut steps = self.lock_steps();
        let check = self.node.snapshot().check_ingest(&id.id());
        match check {
            Ok(Ingest::Apply) => {}
            // A repeat of a move adopted here: the same answer again.
            Ok(Ingest::AlreadyAdopted) => {
                log(
                    &self.id,
                    &format!("move {}: a repeat of an adopted move", id.describe()),
                );
                return Ok(wire::ingested(entries.len()));
            }
            Ok(other) => {
                return Err(refused(format!(
                    "ERR MOVE-SCOPE-INGEST: unknown decision {other:?}"
                )));
            }
            Err(e) => return Err(refused(wire::refusal(&e))),
        }
        if let Err(e) = self.db.replace_prefix(&id.prefix, &entries) {
            return Err(refused(format!(
                "ERR MOVE-SCOPE-INGEST: applying the keys failed: {e}"
            )));
        }
        log(
            &self.id,
            &format!(
                "move {}: {} keys applied and fsynced",
                id.describe(),
                entries.len()
            ),
        );
        self.pause();
        self.step(&mut steps, |n| n.adopt(&id.id()))
            .map_err(|e| refused(wire::refusal(&e)))?;
        log(
            &self.id,
            &format!(
                "move {}: adopted with {} keys, records persisted; answering +OK",
                id.describe(),
                entries.len()
            ),
        );
        Ok(wire::ingested(entries.len()))
    }

    /// `MOVE-SCOPE-OUTCOME` on this node (`again`: `MOVE-SCOPE-RECHECK`,
    /// asked after this node recovered, served the same): `COMMITTED` if
    /// it adopted the move, else it fences the epoch off for good
    /// (persisted before the answer) and answers `ABORTED <fence>`.
    pub fn outcome(&self, id: &Move, again: bool) -> Result<String, String> {
        let asked = if again {
            "outcome asked again (the source's +OK no longer counts: this node recovered since)"
        } else {
            "outcome asked"
        };
        let mut steps = self.lock_steps();
        let outcome = self
            .step(&mut steps, |n| n.move_outcome(&id.id()))
            .map_err(|e| {
                let refused = wire::refusal(&e);
                log_warn(
                    &self.id,
                    &format!("move {}: {asked}, refused: {refused}", id.describe()),
                );
                refused
            })?;
        log(
            &self.id,
            &format!(
                "move {}: {asked}, answered {}",
                id.describe(),
                wire::outcome_reply(outcome)
            ),
        );
        Ok(wire::outcome_reply(outcome))
    }

    /// `MOVE-SCOPE-EPOCH` on this node: the highest epoch it knows
    /// (`Node::known_epoch`), once every earlier step is on disk; refused
    /// (`-QUARANTINED`) while it recovers its own records.
    pub fn epoch(&self) -> Result<String, String> {
        let mut steps = self.lock_steps();
        if steps.driver.must_persist() {
            self.persist_now(&mut steps);
        }
        let snapshot = self.node.snapshot();
        if snapshot.is_quarantined() {
            let refused = wire::refusal(&MoveError::Quarantined);
            log(
                &self.id,
                &format!("recovery: a peer asked this node's epoch; refused: {refused}"),
            );
            return Err(refused);
        }
        let epoch = snapshot.known_epoch();
        drop(snapshot);
        drop(steps);
        log(
            &self.id,
            &format!(
                "recovery: a recovering peer asked the highest epoch this node knows: {}",
                epoch.get()
            ),
        );
        Ok(wire::epoch_reply(epoch))
    }

    /// `MOVE-SCOPE-FENCE <from> <epoch>` on this node: fences off every
    /// move to `from` at or below `epoch` (`Node::fence`: in doubt here
    /// if in flight), persists when the step or the driver asks, then
    /// answers everything it knows (`Node::news`) as a RESP array of
    /// news. The whole reply, or the error line of a refusal.
    pub fn fence(&self, from: &str, epoch: Epoch) -> Result<Vec<u8>, String> {
        let mut steps = self.lock_steps();
        self.step(&mut steps, |n| n.fence(from, epoch))
            .map_err(|e| {
                let refused = wire::refusal(&e);
                log_warn(
                    &self.id,
                    &format!(
                        "recovery: {from} asked this node to fence at {}; refused: {refused}",
                        epoch.get()
                    ),
                );
                refused
            })?;
        let snapshot = self.node.snapshot();
        let mut reply = vec![0; news_len(snapshot.news())];
        let written = encode_news(snapshot.news(), &mut reply);
        let count = snapshot.news().count();
        drop(snapshot);
        drop(steps);
        let len = written.map_err(|e| format!("ERR MOVE-SCOPE-FENCE: {e}"))?;
        reply.truncate(len);
        log(
            &self.id,
            &format!(
                "recovery: {from} asked this node to fence at {}: fenced (on disk); answering all it knows ({count} news)",
                epoch.get()
            ),
        );
        Ok(reply)
    }

    /// `MOVE-SCOPE-NEWS` on this node: learn, persist if asked, then ack.
    pub fn learn(&self, news: &News) -> Result<String, String> {
        let mut steps = self.lock_steps();
        let learned = self.step(&mut steps, |n| {
            n.learn(&news.announcement(), news.sender_epoch)
        });
        drop(steps);
        match learned {
            Ok(()) => {
                log(&self.id, &format!("news learned: {}", news.describe()));
                Ok(wire::learned())
            }
            Err(e) => {
                // STALE and SENDERNOTOWNER are part of the protocol (old
                // news; news out of order, sent again later).
                let refused = wire::refusal(&e);
                log(
                    &self.id,
                    &format!("news not learned: {}: {refused}", news.describe()),
                );
                Err(refused)
            }
        }
    }
}

/// Keys and values.
type Entries<'b> = Vec<(&'b [u8], &'b [u8])>;

/// The `SET <key> <value>` commands of a bulk, every key under `prefix`.
fn parse_bulk<'b>(bulk: &'b [u8], prefix: &[u8]) -> Result<Entries<'b>, String> {
    let mut entries = Vec::new();
    let mut rest = bulk;
    while !rest.is_empty() {
        let (args, used) = resp::decode_command(rest)
            .map_err(|e| format!("ERR MOVE-SCOPE-INGEST: malformed bulk: {e}"))?
            .ok_or("ERR MOVE-SCOPE-INGEST: the bulk ends in the middle of a command")?;
        match args.as_slice() {
            [verb, key, value] if rest[verb.clone()].eq_ignore_ascii_case(b"SET") => {
                let key = &rest[key.clone()];
                if !key.starts_with(prefix) {
                    return Err("ERR MOVE-SCOPE-INGEST: a key outside the prefix".into());
                }
                entries.push((key, &rest[value.clone()]));
            }
            _ => return Err("ERR MOVE-SCOPE-INGEST: the bulk holds only SET <key> <value>".into()),
        }
        rest = &rest[used..];
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_holds_sets_under_its_prefix() {
        let mut bulk = Vec::new();
        resp::put_command(&mut bulk, &[b"SET", b"p:1", b"a"]);
        resp::put_command(&mut bulk, &[b"SET", b"p:2", b"b"]);
        assert_eq!(
            parse_bulk(&bulk, b"p:").unwrap(),
            [(&b"p:1"[..], &b"a"[..]), (b"p:2", b"b")]
        );
        assert!(parse_bulk(&bulk, b"q:").is_err());
        assert!(parse_bulk(&bulk[..bulk.len() - 2], b"p:").is_err());
        assert!(parse_bulk(b"", b"p:").unwrap().is_empty());
    }
}
