//! `MULTI`, `EXEC`, `DISCARD`. A transaction is admitted as one: all its
//! keys in one ownership unit (`Node::transaction_scope`, effective
//! ownership: a sub-prefix that moved on its own is a unit of its own),
//! every written key accepted here, under one snapshot. Otherwise `EXEC`
//! answers `-CROSSSCOPE ...` or the refusal of the first refused key, and
//! nothing is applied.

use std::sync::Arc;

use super::{Ctx, Data, run_data};
use crate::db::Log;
use crate::resp;

/// The commands queued since `MULTI`.
#[derive(Default)]
pub struct Queue {
    commands: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queuing: `EXEC` aborts.
    failed: bool,
}

impl Queue {
    /// Queues a command (checked now, run at `EXEC`).
    pub fn push(&mut self, verb: &[u8], argv: &[&[u8]], out: &mut Vec<u8>) {
        match Data::parse(verb, &argv[1..]) {
            Some(Ok(_)) => {
                self.commands
                    .push(argv.iter().map(|a| a.to_vec()).collect());
                resp::put_simple(out, "QUEUED");
            }
            Some(Err(e)) => {
                self.failed = true;
                resp::put_error(out, &e);
            }
            None => {
                self.failed = true;
                resp::put_error(
                    out,
                    &format!(
                        "ERR '{}' cannot be queued in MULTI on this node",
                        String::from_utf8_lossy(argv[0])
                    ),
                );
            }
        }
    }
}

/// `MULTI`.
pub fn multi(session: &mut super::Session, out: &mut Vec<u8>) {
    if session.multi.is_some() {
        resp::put_error(out, "ERR MULTI calls can not be nested");
    } else {
        session.multi = Some(Queue::default());
        resp::put_simple(out, "OK");
    }
}

/// `DISCARD`.
pub fn discard(session: &mut super::Session, out: &mut Vec<u8>) {
    match session.multi.take() {
        Some(_) => resp::put_simple(out, "OK"),
        None => resp::put_error(out, "ERR DISCARD without MULTI"),
    }
}

/// `EXEC`.
pub fn exec(ctx: &Arc<Ctx>, session: &mut super::Session, out: &mut Vec<u8>, log: &Log) {
    let Some(queue) = session.multi.take() else {
        resp::put_error(out, "ERR EXEC without MULTI");
        return;
    };
    if queue.failed {
        resp::put_error(
            out,
            "EXECABORT Transaction discarded because of previous errors.",
        );
        return;
    }
    let argvs: Vec<Vec<&[u8]>> = queue
        .commands
        .iter()
        .map(|argv| argv.iter().map(Vec::as_slice).collect())
        .collect();
    let mut commands = Vec::with_capacity(argvs.len());
    for argv in &argvs {
        let mut upper = [0u8; 32];
        let verb = super::uppercase(argv[0], &mut upper);
        match Data::parse(verb, &argv[1..]) {
            Some(Ok(c)) => commands.push(c),
            // Checked when queued.
            _ => {
                resp::put_error(out, "EXECABORT a queued command no longer parses");
                return;
            }
        }
    }
    run_data(ctx, &commands, out, log, true);
}
