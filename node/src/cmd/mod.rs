//! The commands, one file each: parsed from a command's arguments, then
//! run against the store and the node.
//!
//! A write is admitted by the node's verdict on one snapshot, and the
//! snapshot is held until the write is in the store: a move's
//! `update_and_drain` waits for it before shipping the keys, so no
//! write accepted before a quiesce lands after the ship. Verdicts take
//! no lock; each shard of the store has its own.

mod auth;
mod del;
mod get;
mod multi;
mod ping;
mod scope;
mod set;

use std::sync::Arc;

use crate::auth::Users;
use crate::cluster::{self, Cluster, NodeSnapshot};
use crate::db::{Db, Locked, Log};
use crate::resp;

/// What every connection shares.
pub struct Ctx {
    /// The data.
    pub db: Arc<Db>,
    /// This node in its cluster.
    pub cluster: Arc<Cluster>,
    /// Who may send what.
    pub users: Users,
}

/// Work that waits on disks or peers: run off the connection thread.
pub type Job = Box<dyn FnOnce() -> Vec<u8> + Send + 'static>;

/// What the connection does after a command.
pub enum Next {
    /// Read the next command.
    Continue,
    /// Send the replies so far and close.
    Close,
    /// Send the replies so far, run the job, send its reply, go on.
    Blocking(Job),
}

/// A connection's state between commands.
#[derive(Default)]
pub struct Session {
    multi: Option<multi::Queue>,
    /// The user this connection logged in as with `AUTH`.
    user: Option<auth::User>,
}

/// A command on the data; these may be queued in `MULTI`.
pub enum Data<'a> {
    /// `PING`, `ECHO`.
    Ping(ping::Ping<'a>),
    /// `GET`, `MGET`.
    Get(get::Get<'a>),
    /// `SET`, `MSET`.
    Set(set::Set<'a>),
    /// `DEL`.
    Del(del::Del<'a>),
}

impl<'a> Data<'a> {
    /// The data command `verb` (upper case) names, parsed; `None` if it
    /// names none.
    pub fn parse(verb: &[u8], args: &[&'a [u8]]) -> Option<Result<Self, String>> {
        Some(match verb {
            b"PING" => ping::Ping::parse(args, false).map(Data::Ping),
            b"ECHO" => ping::Ping::parse(args, true).map(Data::Ping),
            b"GET" => get::Get::parse(args, false).map(Data::Get),
            b"MGET" => get::Get::parse(args, true).map(Data::Get),
            b"SET" => set::Set::parse(args, false).map(Data::Set),
            b"MSET" => set::Set::parse(args, true).map(Data::Set),
            b"DEL" => del::Del::parse(args).map(Data::Del),
            _ => return None,
        })
    }

    /// Every key the command touches.
    fn keys(&self, into: &mut Vec<&'a [u8]>) {
        match self {
            Data::Ping(_) => {}
            Data::Get(c) => into.extend_from_slice(c.keys()),
            Data::Set(c) => into.extend(c.keys()),
            Data::Del(c) => into.extend_from_slice(c.keys()),
        }
    }

    /// The keys it writes.
    fn written(&self, into: &mut Vec<&'a [u8]>) {
        match self {
            Data::Set(c) => into.extend(c.keys()),
            Data::Del(c) => into.extend_from_slice(c.keys()),
            Data::Ping(_) | Data::Get(_) => {}
        }
    }

    /// Runs it on shards already locked (and, for a write, admitted).
    fn apply(&self, shards: &mut Locked<'_>, out: &mut Vec<u8>, log: &Log) {
        match self {
            Data::Ping(c) => c.apply(shards, out, log),
            Data::Get(c) => c.apply(shards, out, log),
            Data::Set(c) => c.apply(shards, out, log),
            Data::Del(c) => c.apply(shards, out, log),
        }
    }
}

/// Runs the commands in `cmds` as one: admitted together under one
/// snapshot (one ownership unit, every written key accepted here), then
/// applied with their shards locked. The snapshot is released only after
/// the writes are in the store.
fn run_data(ctx: &Ctx, cmds: &[Data<'_>], out: &mut Vec<u8>, log: &Log, array: bool) {
    let mut keys = Vec::new();
    let mut written = Vec::new();
    for c in cmds {
        c.keys(&mut keys);
        c.written(&mut written);
    }
    let _admitted: Option<NodeSnapshot>;
    if !written.is_empty() {
        let snapshot = ctx.cluster.snapshot();
        if !admit(&snapshot, &keys, &written, ctx, out) {
            return;
        }
        _admitted = Some(snapshot);
    }
    let mut shards = ctx.db.lock_keys(keys.iter().copied());
    if array {
        resp::put_array_header(out, cmds.len());
    }
    for c in cmds {
        c.apply(&mut shards, out, log);
    }
    // `shards` unlocks here, then `_admitted` lets a move drain.
}

/// Whether this node accepts a write of `written` (touching `keys`):
/// refused across ownership units with `-CROSSSCOPE`, and with the
/// crate's exact reply (`-MISDIRECTED`, `-QUIESCED`, `-TRYAGAIN`) when a
/// written key is not accepted here.
fn admit(
    snapshot: &NodeSnapshot,
    keys: &[&[u8]],
    written: &[&[u8]],
    ctx: &Ctx,
    out: &mut Vec<u8>,
) -> bool {
    if keys.len() > 1
        && let Err(e) = snapshot.transaction_scope(keys.iter())
    {
        resp::put_error(out, &format!("CROSSSCOPE {e}"));
        return false;
    }
    for key in written {
        let verdict = snapshot.verdict(key, cluster::writer_down);
        if !verdict.is_accept() {
            cluster::put_refusal(out, verdict, ctx.cluster.peers());
            return false;
        }
    }
    true
}

/// Runs one command from a client or a peer, appending its reply to
/// `out`.
pub fn run(
    ctx: &Arc<Ctx>,
    session: &mut Session,
    argv: &[&[u8]],
    out: &mut Vec<u8>,
    log: &Log,
) -> Next {
    let Some(verb) = argv.first() else {
        resp::put_error(out, "ERR empty command");
        return Next::Continue;
    };
    let mut upper = [0u8; 32];
    let verb = uppercase(verb, &mut upper);
    let args = &argv[1..];
    if !auth::permits(auth::current(session.user, &ctx.users), verb, out) {
        return Next::Continue;
    }
    if verb == b"AUTH" {
        if let Some(user) = auth::auth(args, &ctx.users, out) {
            session.user = Some(user);
        }
        return Next::Continue;
    }
    if let Some(queue) = &mut session.multi
        && !matches!(verb, b"EXEC" | b"DISCARD" | b"MULTI")
    {
        queue.push(verb, argv, out);
        return Next::Continue;
    }
    match (verb, args) {
        (b"SET", [key, value]) => {
            set::one(ctx, key, value, out, log);
            return Next::Continue;
        }
        (b"GET", [key]) => {
            get::one(ctx, key, out);
            return Next::Continue;
        }
        _ => {}
    }
    if let Some(parsed) = Data::parse(verb, args) {
        match parsed {
            Ok(cmd) => run_data(ctx, &[cmd], out, log, false),
            Err(e) => resp::put_error(out, &e),
        }
        return Next::Continue;
    }
    match verb {
        b"MULTI" => multi::multi(session, out),
        b"EXEC" => multi::exec(ctx, session, out, log),
        b"DISCARD" => multi::discard(session, out),
        b"QUIT" => {
            resp::put_simple(out, "OK");
            return Next::Close;
        }
        b"SELECT" if args == [b"0"] => resp::put_simple(out, "OK"),
        b"DBSIZE" => resp::put_int(out, ctx.db.len() as i64),
        b"CONFIG" => config_get(args, out),
        b"COMMAND" => resp::put_array_header(out, 0),
        _ => match scope::run(ctx, verb, args, out) {
            Some(next) => return next,
            None => resp::put_error(
                out,
                &format!("ERR unknown command '{}'", String::from_utf8_lossy(argv[0])),
            ),
        },
    }
    Next::Continue
}

/// `CONFIG GET save|appendonly`, what `redis-benchmark` asks at start.
fn config_get(args: &[&[u8]], out: &mut Vec<u8>) {
    let value: Option<&[u8]> = match args {
        [get, name] if get.eq_ignore_ascii_case(b"GET") => {
            match name.to_ascii_lowercase().as_slice() {
                b"save" => Some(b""),
                b"appendonly" => Some(b"yes"),
                _ => None,
            }
        }
        _ => None,
    };
    match (value, args.get(1)) {
        (Some(v), Some(name)) => {
            resp::put_array_header(out, 2);
            resp::put_bulk(out, Some(name));
            resp::put_bulk(out, Some(v));
        }
        _ => resp::put_array_header(out, 0),
    }
}

/// `verb` in upper case (empty if longer than any verb).
fn uppercase<'b>(verb: &[u8], buf: &'b mut [u8; 32]) -> &'b [u8] {
    if verb.len() > buf.len() {
        return &[];
    }
    let out = &mut buf[..verb.len()];
    out.copy_from_slice(verb);
    out.make_ascii_uppercase();
    out
}
