//! kevy's scope commands: the operator's `MOVE-SCOPE`, the node-to-node
//! `MOVE-SCOPE-INGEST`, `MOVE-SCOPE-OUTCOME` and `MOVE-SCOPE-NEWS` (see
//! `cluster/wire.rs`), and three for operators and tests:
//! `SCOPE-STATUS`, `SCOPE-VERDICT <key>`, `SCOPE-LIFT-QUARANTINE <epoch>`.
//!
//! The move commands wait on disks and peers, so they run off the
//! connection thread.

use std::sync::Arc;

use kevy_scope::PeerRequest;

use super::{Ctx, Next};
use crate::cluster::wire::{self, Move, News};
use crate::cluster::{self, Cluster};
use crate::resp;

/// A scope command run off the connection thread: its reply line, or its
/// error line.
type Handler = fn(&Arc<Cluster>, &[&[u8]]) -> Result<String, String>;

/// Runs the scope command `verb` names; `None` if it names none.
pub fn run(ctx: &Arc<Ctx>, verb: &[u8], args: &[&[u8]], out: &mut Vec<u8>) -> Option<Next> {
    let cluster = &ctx.cluster;
    let owned = || -> Vec<Vec<u8>> { args.iter().map(|a| a.to_vec()).collect() };
    let job = |args: Vec<Vec<u8>>, f: Handler| {
        let cluster = Arc::clone(cluster);
        Some(Next::Blocking(Box::new(move || {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            answer(f(&cluster, &args))
        })))
    };
    match verb {
        b"MOVE-SCOPE" => job(owned(), move_scope),
        b"MOVE-SCOPE-INGEST" | b"MOVE-SCOPE-OUTCOME" | b"MOVE-SCOPE-NEWS" => {
            let mut command = vec![verb.to_vec()];
            command.extend(owned());
            job(command, peer_request)
        }
        b"SCOPE-LIFT-QUARANTINE" => job(owned(), lift_quarantine),
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

/// `SCOPE-LIFT-QUARANTINE <epoch>`: refused on a node that is not
/// quarantined.
fn lift_quarantine(cluster: &Arc<Cluster>, args: &[&[u8]]) -> Result<String, String> {
    let [epoch] = args else {
        return Err(err("SCOPE-LIFT-QUARANTINE <epoch>"));
    };
    let epoch = std::str::from_utf8(epoch)
        .ok()
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| err("SCOPE-LIFT-QUARANTINE: the epoch is a decimal u32"))?;
    cluster.lift_quarantine(epoch)
}

/// A node-to-node command, its name first, read by the crate
/// (`cluster/wire.rs`).
fn peer_request(cluster: &Arc<Cluster>, command: &[&[u8]]) -> Result<String, String> {
    match wire::read_request(command)? {
        PeerRequest::Ingest { id, bulk } => cluster.ingest(&Move::of(&id), bulk),
        PeerRequest::Outcome(id) => cluster.outcome(&Move::of(&id)),
        PeerRequest::News(news) => cluster.learn(&News::of(&news)),
        other => Err(err(format_args!("{other:?} is not served here"))),
    }
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
