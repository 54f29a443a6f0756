//! The commands this node serves, on a fixed-capacity store: PING, ECHO,
//! SET, GET, DEL, QUIT, and empty answers to COMMAND and CONFIG (which
//! redis-cli and redis-benchmark ask on connect). Every write goes through
//! kevy-scope's `Node::verdict` first: only an `Accept` touches the store,
//! any other verdict is answered with the crate's own reply
//! (`-MISDIRECTED writer is <host:port>`, `-QUIESCED ...`, `-TRYAGAIN ...`).

use core::fmt::Write as _;

use heapless::{String, Vec, index_map::FnvIndexMap};
use kevy_scope::{
    Driver, Epoch, Node,
    driver::MoveReply,
    moves::{Ingest, MoveError, MoveId, MoveRecords},
    table::ScopeTable,
    wire::{AddressBook, PeerReply, PeerRequest, Refusal, encode_news, max_news_len},
};

use crate::meter;
use crate::resp::{Parsed, Request, parse};

/// The longest key stored, in bytes.
pub const MAX_KEY: usize = 64;
/// The longest value stored (and the longest ECHO or PING message).
pub const MAX_VALUE: usize = 128;
/// How many keys the store holds (a power of two, as FnvIndexMap wants).
pub const STORE_CAP: usize = 16;

/// Room for every reply: the crate's longest redirect, a bulk value with
/// its header, an error naming a command.
/// The longest reply is the news list a fence is answered with (at most
/// [`MAX_NEWS`] news: the node's move records).
pub const MAX_REPLY: usize = const_max(
    kevy_scope::wire::MAX_REPLY_LEN,
    MAX_VALUE + 16,
    const_max(max_news_len(MAX_NEWS), 256, 0),
);

/// The most news a fence answer lists: the node's record capacity
/// (`MoveTable<MAX_NEWS>` in the firmware).
pub const MAX_NEWS: usize = 4;

const fn const_max(a: usize, b: usize, c: usize) -> usize {
    let ab = if a > b { a } else { b };
    if ab > c { ab } else { c }
}

/// One reply's bytes.
pub type Reply = Vec<u8, MAX_REPLY>;

/// What the connection does after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    Continue,
    /// Send the reply, then close (QUIT, a protocol error).
    Close,
    /// No reply yet: the operator's MOVE-SCOPE with this ticket is
    /// answered when the driver hands out its `Effect::Reply`.
    Wait(Epoch),
}

/// Who a connection is logged in as (node/'s users, in their order:
/// each may run what the ones before it may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum User {
    /// Data commands only (no password).
    #[default]
    Default,
    /// The node-to-node commands (`AUTH cluster <password>`).
    Cluster,
    /// MOVE-SCOPE (`AUTH admin <password>`).
    Admin,
}

impl User {
    fn name(self) -> &'static [u8] {
        match self {
            Self::Default => b"default",
            Self::Cluster => b"cluster",
            Self::Admin => b"admin",
        }
    }
}

/// The longest password kept.
pub const MAX_PASSWORD: usize = 64;

/// The passwords of the `cluster` and `admin` users (from the flash's
/// config block); a user with none cannot log in.
#[derive(Debug, Clone, Default)]
pub struct Users {
    /// `cluster`'s password.
    pub cluster: Option<Vec<u8, MAX_PASSWORD>>,
    /// `admin`'s password.
    pub admin: Option<Vec<u8, MAX_PASSWORD>>,
}

/// One connection's state beyond its bytes: its login, and the MOVE-SCOPE
/// it waits on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Session {
    /// The user logged in.
    pub user: User,
    /// The ticket of the operator's MOVE-SCOPE this connection waits on.
    pub waiting: Option<Epoch>,
}

/// Stable storage for the node's image.
pub trait Disk {
    /// Encodes `node`'s image and writes it; `false` when the write failed.
    fn save<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>) -> bool;

    /// Writes the store's keys; `false` when the write failed. Called
    /// before a write is acknowledged, and before an ingest is adopted.
    fn save_store(&mut self, store: &Store) -> bool;
}

/// The key/value store: [`STORE_CAP`] keys of up to [`MAX_KEY`] bytes,
/// values of up to [`MAX_VALUE`] bytes.
pub struct Store {
    map: FnvIndexMap<Vec<u8, MAX_KEY>, Vec<u8, MAX_VALUE>, STORE_CAP>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store (`const`: it can live in a `static`).
    pub const fn new() -> Self {
        Self {
            map: FnvIndexMap::new(),
        }
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every key and its value.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(k, v)| (&k[..], &v[..]))
    }

    /// Puts a key back (restored from flash); `false` when it does not fit.
    pub fn restore(&mut self, key: &[u8], value: &[u8]) -> bool {
        match (Vec::from_slice(key), Vec::from_slice(value)) {
            (Ok(k), Ok(v)) => self.map.insert(k, v).is_ok(),
            _ => false,
        }
    }
}

/// The most bytes a store takes in flash: each key and value with a
/// length byte before each.
pub const STORE_IMAGE_CAP: usize = STORE_CAP * (2 + MAX_KEY + MAX_VALUE);

/// This node: its id, its table and move records, the peers' addresses
/// for redirects, its store, its move driver and its image's storage.
pub struct Server<
    'n,
    T: ScopeTable,
    R: MoveRecords,
    A: AddressBook,
    D: Disk,
    const P: usize,
    const M: usize,
> {
    /// The node whose verdict decides every write.
    pub node: &'n mut Node<T, R>,
    /// Where the redirect replies point.
    pub peers: &'n A,
    /// The keys this node accepted.
    pub store: &'n mut Store,
    /// The moves this node runs as their source.
    pub driver: &'n mut Driver<P, M>,
    /// Where the node's image goes before an answer that depends on it.
    pub disk: &'n mut D,
    /// The passwords.
    pub users: &'n Users,
}

impl<T: ScopeTable, R: MoveRecords, A: AddressBook, D: Disk, const P: usize, const M: usize>
    Server<'_, T, R, A, D, P, M>
{
    /// Runs `req` for a connection in `session` and writes its reply to
    /// `out` (cleared first).
    pub fn execute(&mut self, req: &Request<'_>, session: &mut Session, out: &mut Reply) -> After {
        out.clear();
        let args = req.args();
        let Some((name, rest)) = args.split_first() else {
            return After::Continue;
        };
        let is = |cmd: &str| name.eq_ignore_ascii_case(cmd.as_bytes());
        let peer_command = name.len() > 11
            && name
                .get(..11)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"MOVE-SCOPE-"));
        if peer_command || is("MOVE-SCOPE") {
            let need = if peer_command {
                User::Cluster
            } else {
                User::Admin
            };
            if session.user < need {
                let mut lower: Vec<u8, 32> = printable(name);
                lower.make_ascii_lowercase();
                put(
                    out,
                    &[
                        b"-NOPERM User ",
                        session.user.name(),
                        b" has no permissions to run the '",
                        &lower,
                        b"' command (it needs the ",
                        need.name(),
                        b" user)\r\n",
                    ],
                );
                return After::Continue;
            }
            if peer_command {
                self.peer(args, out);
                return After::Continue;
            }
            return self.move_scope(rest, out);
        }
        if is("AUTH") {
            match rest {
                [user, password] => {
                    let (who, secret) = if user.eq_ignore_ascii_case(b"cluster") {
                        (User::Cluster, self.users.cluster.as_ref())
                    } else if user.eq_ignore_ascii_case(b"admin") {
                        (User::Admin, self.users.admin.as_ref())
                    } else {
                        (User::Default, None)
                    };
                    if secret.is_some_and(|s| same(s, password)) {
                        session.user = who;
                        simple(out, b"+OK");
                    } else {
                        simple(
                            out,
                            b"-WRONGPASS invalid username-password pair or user is disabled.",
                        );
                    }
                }
                [_] => simple(
                    out,
                    b"-ERR AUTH <password> called without any password configured for the default user",
                ),
                _ => wrong_args(out, name),
            }
        } else if is("PING") {
            match rest {
                [] => simple(out, b"+PONG"),
                [msg] => self.bulk_msg(out, msg),
                _ => wrong_args(out, name),
            }
        } else if is("ECHO") {
            match rest {
                [msg] => self.bulk_msg(out, msg),
                _ => wrong_args(out, name),
            }
        } else if is("SET") {
            match rest {
                [key, value] => self.set(out, key, value),
                [_, _, ..] => simple(out, b"-ERR syntax error (SET options are not supported)"),
                _ => wrong_args(out, name),
            }
        } else if is("GET") {
            match rest {
                [key] => match self.store.map.get(*key) {
                    Some(value) => bulk(out, value),
                    None => simple(out, b"$-1"),
                },
                _ => wrong_args(out, name),
            }
        } else if is("DEL") {
            if rest.is_empty() {
                wrong_args(out, name)
            } else {
                self.del(out, rest)
            }
        } else if is("QUIT") {
            simple(out, b"+OK");
            return After::Close;
        } else if is("COMMAND") || is("CONFIG") {
            // Asked by redis-cli (COMMAND DOCS) and redis-benchmark
            // (CONFIG GET save): nothing to tell.
            simple(out, b"*0")
        } else {
            put(
                out,
                &[b"-ERR unknown command '", &printable(name), b"'\r\n"],
            )
        }
        After::Continue
    }

    /// `MOVE-SCOPE <prefix> FROM <this node> TO <peer>`: starts the move
    /// with the driver; the reply waits for its `Effect::Reply`.
    fn move_scope(&mut self, rest: &[&[u8]], out: &mut Reply) -> After {
        let [prefix, from_kw, from, to_kw, to] = rest else {
            simple(
                out,
                b"-ERR syntax: MOVE-SCOPE <prefix> FROM <this node> TO <node>",
            );
            return After::Continue;
        };
        if !from_kw.eq_ignore_ascii_case(b"FROM") || !to_kw.eq_ignore_ascii_case(b"TO") {
            simple(
                out,
                b"-ERR syntax: MOVE-SCOPE <prefix> FROM <this node> TO <node>",
            );
            return After::Continue;
        }
        if *from != self.node.id().as_bytes() {
            simple(out, b"-ERR MOVE-SCOPE: FROM must name this node");
            return After::Continue;
        }
        let Ok(to) = core::str::from_utf8(to) else {
            simple(out, b"-ERR MOVE-SCOPE: the target is not a node id");
            return After::Continue;
        };
        match self.driver.start(self.node, prefix, to) {
            Ok(ticket) => After::Wait(ticket),
            Err(e) => {
                let mut why: String<160> = String::new();
                let _ = write!(why, "-ERR MOVE-SCOPE: {e}");
                simple(out, why.as_bytes());
                After::Continue
            }
        }
    }

    /// Writes the node's image when `durable` or the driver asks, as the
    /// driver's contract (item 4) wants before an answer leaves; `false`
    /// when the write failed (`out` then holds the error).
    fn persist_if(&mut self, durable: bool, out: &mut Reply) -> bool {
        if !(durable || self.driver.must_persist()) {
            return true;
        }
        self.driver.persisting();
        let ok = self.disk.save(self.node);
        if ok {
            self.driver.persisted();
        } else {
            simple(out, b"-ERR the node's image could not be written");
        }
        ok
    }

    /// A node-to-node command (the sender is logged in as `cluster`).
    fn peer(&mut self, args: &[&[u8]], out: &mut Reply) {
        let request = match PeerRequest::decode(args) {
            Ok(r) => r,
            Err(e) => {
                let mut why: String<200> = String::new();
                let verb = printable(args.first().copied().unwrap_or_default());
                let _ = write!(
                    why,
                    "-ERR {}: {e}",
                    core::str::from_utf8(&verb).unwrap_or("?")
                );
                return simple(out, why.as_bytes());
            }
        };
        match request {
            PeerRequest::News { news, sender_epoch } => {
                match self.node.learn(&news, sender_epoch) {
                    Ok(d) => {
                        if self.persist_if(d.must_persist(), out) {
                            reply(out, &PeerReply::Learned);
                        }
                    }
                    Err(e) => refusal(out, &e),
                }
            }
            PeerRequest::Ingest { id, bulk } => self.ingest(&id, bulk, out),
            PeerRequest::Outcome(id) | PeerRequest::Recheck(id) => {
                match self.node.move_outcome(&id) {
                    Ok(d) => {
                        let must = d.must_persist();
                        let outcome = d.into_inner();
                        if self.persist_if(must, out) {
                            reply(out, &PeerReply::Outcome(outcome));
                        }
                    }
                    Err(e) => refusal(out, &e),
                }
            }
            PeerRequest::Epoch => {
                if !self.persist_if(false, out) {
                    return;
                }
                if self.node.is_quarantined() {
                    refusal(out, &MoveError::Quarantined);
                } else {
                    reply(out, &PeerReply::Epoch(self.node.known_epoch()));
                }
            }
            PeerRequest::Fence { from, epoch } => match self.node.fence(from, epoch) {
                Ok(d) => {
                    if self.persist_if(d.must_persist(), out) {
                        out.clear();
                        let _ = out.resize(out.capacity(), 0);
                        match encode_news(self.node.news(), out) {
                            Ok(n) => out.truncate(n),
                            Err(_) => simple(out, b"-ERR MOVE-SCOPE-FENCE: too much news"),
                        }
                    }
                }
                Err(e) => refusal(out, &e),
            },
            _ => simple(out, b"-ERR unknown node-to-node command"),
        }
    }

    /// `MOVE-SCOPE-INGEST`: checks the bulk (`SET <key> <value>` under
    /// the prefix, each fitting the store), asks the node, replaces the
    /// prefix's keys, adopts, persists, answers `+OK <n>`.
    fn ingest(&mut self, id: &MoveId<'_>, bulk: &[u8], out: &mut Reply) {
        let Some(count) = each_set(bulk, id.prefix, |_, _| true) else {
            return simple(
                out,
                b"-ERR MOVE-SCOPE-INGEST: the bulk holds only SET <key> <value> under the prefix, within the store's limits",
            );
        };
        let keys = u32::try_from(count).unwrap_or(u32::MAX);
        match self.node.check_ingest(id) {
            Ok(Ingest::Apply) => {}
            Ok(Ingest::AlreadyAdopted) => return reply(out, &PeerReply::Ingested { keys }),
            Ok(_) => return simple(out, b"-ERR MOVE-SCOPE-INGEST: unknown decision"),
            Err(e) => return refusal(out, &e),
        }
        let others = self
            .store
            .map
            .keys()
            .filter(|k| !k.starts_with(id.prefix))
            .count();
        if others + count > STORE_CAP {
            return simple(out, b"-ERR MOVE-SCOPE-INGEST: the store is full");
        }
        self.store.map.retain(|k, _| !k.starts_with(id.prefix));
        let map = &mut self.store.map;
        each_set(bulk, id.prefix, |k, v| {
            if let (Ok(k), Ok(v)) = (Vec::from_slice(k), Vec::from_slice(v)) {
                let _ = map.insert(k, v);
            }
            true
        });
        // The keys are on flash before the adoption that vouches for them.
        if !self.disk.save_store(self.store) {
            return simple(
                out,
                b"-ERR MOVE-SCOPE-INGEST: the store could not be written",
            );
        }
        match self.node.adopt(id) {
            Ok(d) => {
                if self.persist_if(d.must_persist(), out) {
                    reply(out, &PeerReply::Ingested { keys });
                }
            }
            Err(e) => refusal(out, &e),
        }
    }

    fn bulk_msg(&self, out: &mut Reply, msg: &[u8]) {
        if msg.len() > MAX_VALUE {
            simple(out, b"-ERR message too long")
        } else {
            bulk(out, msg)
        }
    }

    /// The verdict's reply for a write of `key`, or nothing when this node
    /// accepts it. No quorum service runs here: no writer is flagged down.
    fn refusal(&self, key: &[u8], out: &mut Reply) -> bool {
        let asking = meter::now();
        let verdict = self.node.verdict(key, |_| false);
        meter::since(meter::Phase::Verdict, asking);
        let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
        match verdict.encode_reply(self.peers, &mut buf) {
            Ok([]) => false,
            Ok(reply) => {
                put(out, &[reply]);
                true
            }
            Err(_) => {
                simple(out, b"-ERR redirect address too long");
                true
            }
        }
    }

    /// Carries out the driver's `Effect::Persist`: the node's image
    /// written, the driver told, then the keys another node owns now
    /// dropped (a commit among what was persisted hands them over): how
    /// many went, `None` when a write failed (the driver is then not
    /// told: nothing that waits on the persist goes out).
    pub fn persist(&mut self) -> Option<usize> {
        if !self.disk.save(self.node) {
            return None;
        }
        self.driver.persisted();
        self.drop_unowned()
    }

    /// Deletes the keys another node owns now, then writes the store when
    /// any went: how many went, `None` when that write failed. Called once the node's
    /// image is on flash (a commit that gave a prefix away among what it
    /// persisted) and at boot, so a key leaves only after the commit that
    /// hands it over is durable, and a node no longer serves a copy of a
    /// key it moved away. Keys of a move in flight (QUIESCED) or held
    /// while quarantined stay.
    pub fn drop_unowned(&mut self) -> Option<usize> {
        let node = &*self.node;
        let before = self.store.map.len();
        self.store.map.retain(|k, _| {
            !matches!(
                node.verdict(k, |_| false),
                kevy_scope::WriteVerdict::Misdirected { .. }
            )
        });
        let dropped = before - self.store.map.len();
        if dropped > 0 && !self.disk.save_store(self.store) {
            return None;
        }
        Some(dropped)
    }

    fn set(&mut self, out: &mut Reply, key: &[u8], value: &[u8]) {
        meter::is_set();
        if self.refusal(key, out) {
            return;
        }
        let (Ok(k), Ok(v)) = (Vec::from_slice(key), Vec::from_slice(value)) else {
            return put(
                out,
                &[
                    b"-ERR key or value too long (max ",
                    &digits(MAX_KEY),
                    b" and ",
                    &digits(MAX_VALUE),
                    b" bytes)\r\n",
                ],
            );
        };
        let storing = meter::now();
        let inserted = self.store.map.insert(k, v);
        meter::since(meter::Phase::Store, storing);
        match inserted {
            Ok(_) => {
                let writing = meter::now();
                let saved = self.disk.save_store(self.store);
                meter::since(meter::Phase::Flash, writing);
                if saved {
                    simple(out, b"+OK")
                } else {
                    simple(out, b"-ERR the store could not be written")
                }
            }
            Err(_) => put(
                out,
                &[b"-OOM store full (", &digits(STORE_CAP), b" keys)\r\n"],
            ),
        }
    }

    fn del(&mut self, out: &mut Reply, keys: &[&[u8]]) {
        // Every key must be this node's before any is removed.
        for key in keys {
            if self.refusal(key, out) {
                return;
            }
        }
        let removed = keys
            .iter()
            .filter(|k| self.store.map.swap_remove(**k).is_some())
            .count();
        if removed > 0 && !self.disk.save_store(self.store) {
            return simple(out, b"-ERR the store could not be written");
        }
        put(out, &[b":", &digits(removed), b"\r\n"])
    }
}

/// Calls `f` with each `SET <key> <value>` of an ingest's bulk; the count,
/// or `None` when the bulk holds anything else, a key outside `prefix`,
/// or a key or value over the store's limits.
pub fn each_set(
    bulk: &[u8],
    prefix: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> bool,
) -> Option<usize> {
    let mut rest = bulk;
    let mut count = 0;
    while !rest.is_empty() {
        let used = match parse(rest) {
            Parsed::Request(req, used) => {
                let [verb, key, value] = req.args() else {
                    return None;
                };
                if !verb.eq_ignore_ascii_case(b"SET")
                    || !key.starts_with(prefix)
                    || key.len() > MAX_KEY
                    || value.len() > MAX_VALUE
                {
                    return None;
                }
                f(key, value);
                count += 1;
                used
            }
            Parsed::Empty(used) => used,
            _ => return None,
        };
        rest = rest.get(used..)?;
    }
    Some(count)
}

impl Store {
    /// Writes `MOVE-SCOPE-INGEST` for move `id` with every key under its
    /// prefix into `buf`: its length and the key count, or `None` when it
    /// does not fit.
    pub fn ship(&self, id: &MoveId<'_>, buf: &mut [u8]) -> Option<(usize, usize)> {
        let mut bulk_len = 0;
        let mut count = 0;
        for (k, v) in self.map.iter().filter(|(k, _)| k.starts_with(id.prefix)) {
            bulk_len += set_len(k, v);
            count += 1;
        }
        let mut at = PeerRequest::encode_ingest_header(id, bulk_len, buf).ok()?;
        for (k, v) in self.map.iter().filter(|(k, _)| k.starts_with(id.prefix)) {
            for part in [
                &b"*3\r\n$3\r\nSET\r\n$"[..],
                &digits(k.len()),
                b"\r\n",
                k,
                b"\r\n$",
                &digits(v.len()),
                b"\r\n",
                v,
                b"\r\n",
            ] {
                let end = at + part.len();
                buf.get_mut(at..end)?.copy_from_slice(part);
                at = end;
            }
        }
        buf.get_mut(at..at + 2)?.copy_from_slice(b"\r\n");
        Some((at + 2, count))
    }
}

fn set_len(k: &[u8], v: &[u8]) -> usize {
    "*3\r\n$3\r\nSET\r\n$".len()
        + digits(k.len()).len()
        + 2
        + k.len()
        + 3
        + digits(v.len()).len()
        + 2
        + v.len()
        + 2
}

/// Compares a password without stopping at the first difference.
fn same(secret: &[u8], given: &[u8]) -> bool {
    let mut diff = secret.len() ^ given.len();
    for (i, s) in secret.iter().enumerate() {
        diff |= usize::from(s ^ given.get(i).copied().unwrap_or(!s));
    }
    diff == 0
}

/// A peer reply, as its line.
fn reply(out: &mut Reply, r: &PeerReply<'_>) {
    out.clear();
    let _ = out.resize(out.capacity(), 0);
    match r.encode(out) {
        Ok(n) => out.truncate(n),
        Err(_) => simple(out, b"-ERR reply too long"),
    }
}

/// The error line of a refused step: its code, then the crate's reason.
fn refusal(out: &mut Reply, e: &MoveError) {
    let mut reason: String<160> = String::new();
    let _ = write!(reason, "{e}");
    reply(
        out,
        &PeerReply::Refused {
            code: Refusal::of(e),
            reason: &reason,
        },
    )
}

/// The operator's answer to MOVE-SCOPE `prefix` (node/'s words).
pub fn move_reply(r: MoveReply, out: &mut Reply) {
    match r {
        MoveReply::Committed { keys: Some(k) } => put(out, &[b"+OK ", &digits(k as usize), b"\r\n"]),
        MoveReply::Committed { keys: None } => simple(out, b"+OK"),
        MoveReply::Aborted => simple(out, b"-ERR MOVE-SCOPE aborted: the target fenced the move off"),
        MoveReply::TryAgain => simple(
            out,
            b"-TRYAGAIN MOVE-SCOPE is in flight and the target cannot be reached; it resolves in the background",
        ),
        _ => simple(out, b"-ERR MOVE-SCOPE: no answer"),
    }
}

/// Writes `parts` as one reply, or a short error when they do not fit
/// (they always do: [`MAX_REPLY`] bounds every reply built here).
fn put(out: &mut Reply, parts: &[&[u8]]) {
    out.clear();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > out.capacity() {
        let _ = out.extend_from_slice(b"-ERR reply too long\r\n");
        return;
    }
    for part in parts {
        let _ = out.extend_from_slice(part);
    }
}

fn simple(out: &mut Reply, line: &[u8]) {
    put(out, &[line, b"\r\n"])
}

fn bulk(out: &mut Reply, value: &[u8]) {
    put(out, &[b"$", &digits(value.len()), b"\r\n", value, b"\r\n"])
}

fn wrong_args(out: &mut Reply, name: &[u8]) {
    put(
        out,
        &[
            b"-ERR wrong number of arguments for '",
            &printable(name),
            b"' command\r\n",
        ],
    )
}

/// A command name fit for an error line: at most 32 bytes, anything but
/// printable ASCII shown as `?`.
fn printable(name: &[u8]) -> Vec<u8, 32> {
    name.iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() && b != b'\'' {
                b
            } else {
                b'?'
            }
        })
        .collect()
}

/// The decimal digits of `n`.
fn digits(mut n: usize) -> Vec<u8, 20> {
    let mut rev: Vec<u8, 20> = Vec::new();
    loop {
        let _ = rev.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    rev.iter().rev().copied().collect()
}

/// A disk that counts its writes: images of the node, then of the store
/// (host tests).
#[cfg(test)]
pub struct NoDisk(pub usize, pub usize);

#[cfg(test)]
impl Disk for NoDisk {
    fn save<T: ScopeTable, R: MoveRecords>(&mut self, _: &Node<T, R>) -> bool {
        self.0 += 1;
        true
    }

    fn save_store(&mut self, _: &Store) -> bool {
        self.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Parsed, parse};
    use kevy_scope::{MoveTable, OwnershipTable, Scope, ownership_table, wire::PeerAddr};

    static TABLE: OwnershipTable<'static, 2> = ownership_table![
        Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
        Scope::new(b"app:auth:", "embed-auth-1"),
    ];
    static PEERS: [(&str, PeerAddr<'static>); 1] =
        [("embed-auth-1", PeerAddr::new("127.0.0.1", 7002))];

    type TestServer<'a> = Server<
        'a,
        &'static OwnershipTable<'static, 2>,
        MoveTable<4>,
        [(&'static str, PeerAddr<'static>); 1],
        NoDisk,
        3,
        4,
    >;

    /// What a test server borrows: the node, its store, its driver and
    /// its users.
    struct Parts {
        node: Node<&'static OwnershipTable<'static, 2>, MoveTable<4>>,
        store: Store,
        driver: Driver<3, 4>,
        disk: NoDisk,
        users: Users,
    }

    impl Parts {
        fn new(users: Users) -> Self {
            Self {
                node: Node::new("embed-billing-1", &TABLE, MoveTable::<4>::new()).unwrap(),
                store: Store::new(),
                driver: Driver::new(["embed-billing-1", "server-eu-1", "embed-auth-1"]).unwrap(),
                disk: NoDisk(0, 0),
                users,
            }
        }

        fn server(&mut self) -> TestServer<'_> {
            Server {
                node: &mut self.node,
                peers: &PEERS,
                store: &mut self.store,
                driver: &mut self.driver,
                disk: &mut self.disk,
                users: &self.users,
            }
        }
    }

    fn run(server: &mut TestServer<'_>, line: &str) -> std::string::String {
        let mut session = Session::default();
        run_as(server, &mut session, line)
    }

    fn run_as(
        server: &mut TestServer<'_>,
        session: &mut Session,
        line: &str,
    ) -> std::string::String {
        let Parsed::Request(req, _) = parse(line.as_bytes()) else {
            panic!("{line}")
        };
        let mut out = Reply::new();
        server.execute(&req, session, &mut out);
        std::string::String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn keys_another_node_owns_are_dropped() {
        let mut parts = Parts::new(Users::default());
        assert!(parts.store.restore(b"app:billing:1", b"x"));
        // Shipped here by an ingest this node never adopted.
        assert!(parts.store.restore(b"app:auth:1", b"y"));
        // No scope holds it: this node accepts it.
        assert!(parts.store.restore(b"other", b"z"));
        let mut s = parts.server();
        assert_eq!(s.drop_unowned(), Some(1));
        assert_eq!(run(&mut s, "GET app:auth:1\r\n"), "$-1\r\n");
        assert_eq!(run(&mut s, "GET app:billing:1\r\n"), "$1\r\nx\r\n");
        assert_eq!(run(&mut s, "GET other\r\n"), "$1\r\nz\r\n");
        assert_eq!(s.drop_unowned(), Some(0));
        assert_eq!(parts.disk.1, 1, "the store written once, for the one drop");
    }

    #[test]
    fn a_persist_writes_the_image_then_drops_what_another_node_owns() {
        let mut parts = Parts::new(Users::default());
        assert!(parts.store.restore(b"app:billing:1", b"x"));
        assert!(parts.store.restore(b"app:auth:1", b"y"));
        let mut s = parts.server();
        assert_eq!(s.persist(), Some(1));
        assert_eq!(s.persist(), Some(0));
        assert_eq!(run(&mut s, "GET app:auth:1\r\n"), "$-1\r\n");
        assert_eq!(
            (parts.disk.0, parts.disk.1),
            (2, 1),
            "two images, one store"
        );
    }

    #[test]
    fn peer_commands_need_the_cluster_user() {
        let mut parts = Parts::new(Users {
            cluster: Some(Vec::from_slice(b"pw").unwrap()),
            admin: Some(Vec::from_slice(b"ad").unwrap()),
        });
        let mut s = parts.server();
        let mut session = Session::default();
        assert_eq!(
            run_as(&mut s, &mut session, "MOVE-SCOPE-EPOCH\r\n"),
            "-NOPERM User default has no permissions to run the 'move-scope-epoch' command (it needs the cluster user)\r\n"
        );
        assert_eq!(
            run_as(&mut s, &mut session, "AUTH cluster nope\r\n"),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            run_as(&mut s, &mut session, "AUTH cluster pw\r\n"),
            "+OK\r\n"
        );
        assert_eq!(
            run_as(&mut s, &mut session, "MOVE-SCOPE-EPOCH\r\n"),
            "+EPOCH 0\r\n"
        );
        assert!(
            run_as(
                &mut s,
                &mut session,
                "MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1\r\n"
            )
            .starts_with("-NOPERM")
        );
        // An ingest of app:auth: from embed-auth-1 (its writer).
        let bulk = "*3\r\n$3\r\nSET\r\n$10\r\napp:auth:1\r\n$1\r\nv\r\n";
        let cmd = format!(
            "*6\r\n$17\r\nMOVE-SCOPE-INGEST\r\n$9\r\napp:auth:\r\n$12\r\nembed-auth-1\r\n$15\r\nembed-billing-1\r\n$1\r\n1\r\n${}\r\n{bulk}\r\n",
            bulk.len()
        );
        assert_eq!(run_as(&mut s, &mut session, &cmd), "+OK 1\r\n");
        assert_eq!(s.disk.0, 1);
        assert_eq!(run(&mut s, "GET app:auth:1\r\n"), "$1\r\nv\r\n");
        assert_eq!(run(&mut s, "SET app:auth:2 w\r\n"), "+OK\r\n");
        // Shipped back: the ingest's bytes again, from the store.
        let id = MoveId {
            prefix: b"app:auth:",
            from: "embed-billing-1",
            to: "embed-auth-1",
            epoch: Epoch::new(2),
        };
        let mut buf = [0u8; 512];
        let (len, count) = s.store.ship(&id, &mut buf).unwrap();
        assert_eq!(count, 2);
        assert!(
            std::str::from_utf8(&buf[..len])
                .unwrap()
                .starts_with("*6\r\n$17\r\nMOVE-SCOPE-INGEST\r\n")
        );
        assert!(matches!(parse(&buf[..len]), Parsed::Request(_, n) if n == len));
        // Malformed peer commands are refused, never a panic.
        assert!(
            run_as(&mut s, &mut session, "MOVE-SCOPE-FENCE x\r\n")
                .starts_with("-ERR MOVE-SCOPE-FENCE: ")
        );
        assert!(
            run_as(&mut s, &mut session, "MOVE-SCOPE-FENCE embed-auth-1 5\r\n").starts_with("*")
        );
    }

    /// Node-to-node commands with random fields, from a logged-in peer:
    /// answered (a reply line or a news list), never a panic.
    #[test]
    fn random_peer_commands_never_panic() {
        let mut parts = Parts::new(Users::default());
        let mut s = parts.server();
        let mut session = Session {
            user: User::Cluster,
            waiting: None,
        };
        let verbs: [&[u8]; 7] = [
            b"MOVE-SCOPE-INGEST",
            b"MOVE-SCOPE-OUTCOME",
            b"MOVE-SCOPE-RECHECK",
            b"MOVE-SCOPE-NEWS",
            b"MOVE-SCOPE-EPOCH",
            b"MOVE-SCOPE-FENCE",
            b"MOVE-SCOPE-X",
        ];
        let words: [&[u8]; 14] = [
            b"app:billing:",
            b"app:auth:",
            b"embed-billing-1",
            b"embed-auth-1",
            b"server-eu-1",
            b"0",
            b"1",
            b"2",
            b"007",
            b"INFLIGHT",
            b"COMMITTED",
            b"ABORTED",
            b"*3\r\n$3\r\nSET\r\n$10\r\napp:auth:1\r\n$1\r\nv\r\n",
            b"",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..50_000 {
            let mut args: std::vec::Vec<&[u8]> = vec![verbs[next(verbs.len())]];
            for _ in 0..next(8) {
                args.push(words[next(words.len())]);
            }
            let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                cmd.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                cmd.extend_from_slice(a);
                cmd.extend_from_slice(b"\r\n");
            }
            let Parsed::Request(req, _) = parse(&cmd) else {
                continue;
            };
            let mut out = Reply::new();
            let after = s.execute(&req, &mut session, &mut out);
            assert_eq!(after, After::Continue);
            assert!(matches!(out.first(), Some(b'+' | b'-' | b'*')), "{:?}", out);
        }
    }

    #[test]
    fn verdicts_and_store() {
        let mut parts = Parts::new(Users::default());
        let mut s = parts.server();
        assert_eq!(run(&mut s, "PING\r\n"), "+PONG\r\n");
        assert_eq!(run(&mut s, "SET app:billing:1 x\r\n"), "+OK\r\n");
        assert_eq!(run(&mut s, "GET app:billing:1\r\n"), "$1\r\nx\r\n");
        assert_eq!(
            run(&mut s, "SET app:auth:1 y\r\n"),
            "-MISDIRECTED writer is 127.0.0.1:7002\r\n"
        );
        assert_eq!(run(&mut s, "GET app:auth:1\r\n"), "$-1\r\n");
        assert_eq!(
            run(&mut s, "DEL app:auth:1\r\n"),
            "-MISDIRECTED writer is 127.0.0.1:7002\r\n"
        );
        assert_eq!(run(&mut s, "DEL app:billing:1 other\r\n"), ":1\r\n");
        assert_eq!(run(&mut s, "set other v\r\n"), "+OK\r\n");
        assert_eq!(
            run(&mut s, "FLUSHALL\r\n"),
            "-ERR unknown command 'FLUSHALL'\r\n"
        );
        assert_eq!(
            run(&mut s, "GET\r\n"),
            "-ERR wrong number of arguments for 'GET' command\r\n"
        );
        assert_eq!(run(&mut s, "ECHO hi\r\n"), "$2\r\nhi\r\n");
        for i in 0..STORE_CAP - 1 {
            assert_eq!(run(&mut s, &format!("SET k{i} v\r\n")), "+OK\r\n");
        }
        assert_eq!(
            run(&mut s, "SET one-more v\r\n"),
            "-OOM store full (16 keys)\r\n"
        );
        let long = "v".repeat(MAX_VALUE + 1);
        assert_eq!(
            run(&mut s, &format!("SET k0 {long}\r\n")),
            "-ERR key or value too long (max 64 and 128 bytes)\r\n"
        );
        assert_eq!(s.store.len(), STORE_CAP);
    }
}
