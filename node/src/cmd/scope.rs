//! kevy's scope commands: the operator's `MOVE-SCOPE`, the node-to-node
//! `MOVE-SCOPE-INGEST`, `MOVE-SCOPE-OUTCOME`, `MOVE-SCOPE-RECHECK`,
//! `MOVE-SCOPE-NEWS`, `MOVE-SCOPE-EPOCH` and `MOVE-SCOPE-FENCE` (see
//! `cluster/wire.rs`), and three for operators and tests:
//! `SCOPE-STATUS`, `SCOPE-VERDICT <key>`, `SCOPE-LIFT-QUARANTINE` (a
//! check: a quarantined node leaves quarantine on its own, once it has
//! recovered its records from its peers).
//!
//! The move commands wait on disks and peers, so they run off the
//! connection thread.

use std::sync::Arc;

use kevy_scope::wire::PeerRequest;

use super::{Ctx, Next};
use crate::cluster::wire::{self, Move, News};
use crate::cluster::{self, Cluster};
use crate::resp;

/// A scope command run off the connection thread: its whole reply.
type Handler = fn(&Arc<Cluster>, &[&[u8]]) -> Vec<u8>;

/// Runs the scope command `verb` names; `None` if it names none.
pub fn run(ctx: &Arc<Ctx>, verb: &[u8], args: &[&[u8]], out: &mut Vec<u8>) -> Option<Next> {
    let cluster = &ctx.cluster;
    let owned = || -> Vec<Vec<u8>> { args.iter().map(|a| a.to_vec()).collect() };
    let job = |args: Vec<Vec<u8>>, f: Handler| {
        let cluster = Arc::clone(cluster);
        Some(Next::Blocking(Box::new(move || {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            f(&cluster, &args)
        })))
    };
    match verb {
        b"MOVE-SCOPE" => job(owned(), |c, a| answer(move_scope(c, a))),
        b"MOVE-SCOPE-INGEST"
        | b"MOVE-SCOPE-OUTCOME"
        | b"MOVE-SCOPE-RECHECK"
        | b"MOVE-SCOPE-NEWS"
        | b"MOVE-SCOPE-EPOCH"
        | b"MOVE-SCOPE-FENCE" => {
            let mut command = vec![verb.to_vec()];
            command.extend(owned());
            job(command, peer_request)
        }
        b"SCOPE-LIFT-QUARANTINE" => job(owned(), |c, a| answer(lift_quarantine(c, a))),
        b"SCOPE-STATUS" => {
            let lines = cluster.status();
            resp::put_array_header(out, lines.len());
            for line in lines {
                resp::put_bulk(out, Some(line.as_bytes()));
            }
            Some(Next::Continue)
        }
        b"SCOPE-VERDICT" => {
            match args {
                [key] => {
                    let snapshot = cluster.snapshot();
                    let verdict = snapshot.verdict(key, cluster::writer_down);
                    if verdict.is_accept() {
                        resp::put_simple(out, "ACCEPT");
                    } else {
                        cluster::put_refusal(out, verdict, cluster.peers());
                    }
                }
                _ => resp::put_error(out, "ERR SCOPE-VERDICT <key>"),
            }
            Some(Next::Continue)
        }
        _ => None,
    }
}

/// `MOVE-SCOPE <prefix> FROM <from-id> TO <to-id>`.
fn move_scope(cluster: &Arc<Cluster>, args: &[&[u8]]) -> Result<String, String> {
    const SYNTAX: &str = "ERR MOVE-SCOPE syntax: MOVE-SCOPE <prefix> FROM <from-id> TO <to-id>";
    let [prefix, from_kw, from, to_kw, to] = args else {
        return Err(SYNTAX.into());
    };
    if !from_kw.eq_ignore_ascii_case(b"FROM") || !to_kw.eq_ignore_ascii_case(b"TO") {
        return Err(SYNTAX.into());
    }
    let (Ok(from), Ok(to)) = (std::str::from_utf8(from), std::str::from_utf8(to)) else {
        return Err(SYNTAX.into());
    };
    cluster.move_scope(prefix, from, to)
}

/// `SCOPE-LIFT-QUARANTINE`: a check, never a release. `+OK not
/// quarantined ...` on a node that holds its records; on a recovering
/// node an error naming the round and the peers not heard yet.
fn lift_quarantine(cluster: &Arc<Cluster>, args: &[&[u8]]) -> Result<String, String> {
    if !args.is_empty() {
        return Err(err(
            "SCOPE-LIFT-QUARANTINE takes no argument: a quarantined node recovers its records \
             from its peers and leaves quarantine on its own; this command only reports where \
             it stands",
        ));
    }
    cluster.quarantine_check()
}

/// A node-to-node command, its name first, read by the crate
/// (`cluster/wire.rs`): its whole reply (a line, or the list of news
/// answering a fence).
fn peer_request(cluster: &Arc<Cluster>, command: &[&[u8]]) -> Vec<u8> {
    let request = match wire::read_request(command) {
        Ok(request) => request,
        Err(e) => return answer(Err(e)),
    };
    answer(match request {
        PeerRequest::Ingest { id, bulk } => cluster.ingest(&Move::of(&id), bulk),
        PeerRequest::Outcome(id) => cluster.outcome(&Move::of(&id), false),
        PeerRequest::Recheck(id) => cluster.outcome(&Move::of(&id), true),
        PeerRequest::News { news, sender_epoch } => cluster.learn(&News::of(&news, sender_epoch)),
        PeerRequest::Epoch => cluster.epoch(),
        PeerRequest::Fence { from, epoch } => match cluster.fence(from, epoch) {
            Ok(news) => return news,
            Err(e) => Err(e),
        },
        other => Err(err(format_args!("{other:?} is not served here"))),
    })
}

fn err(why: impl std::fmt::Display) -> String {
    format!("ERR {why}")
}

/// A job's reply: `+...` or `-...`.
fn answer(result: Result<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    match result {
        Ok(text) => resp::put_simple(&mut out, &text),
        Err(text) => resp::put_error(&mut out, &text),
    }
    out
}
