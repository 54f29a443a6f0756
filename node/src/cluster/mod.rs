//! This node's part in the cluster: the crate's [`SharedNode`] (write
//! verdicts without a lock), the peer list, the durable records file, and
//! the move protocol over sockets.
//!
//! - `source.rs`: the host of the crate's move driver
//!   ([`kevy_scope::Driver`]): `MOVE-SCOPE` on the source, the outcome
//!   queries, the announcements owed to peers, resuming after a restart.
//!   The driver decides every step and when anything may leave the node.
//! - `target.rs`: the other side of each request: `MOVE-SCOPE-INGEST`,
//!   `MOVE-SCOPE-OUTCOME`, `MOVE-SCOPE-RECHECK` and `MOVE-SCOPE-NEWS`, and
//!   a recovering peer's `MOVE-SCOPE-EPOCH` and `MOVE-SCOPE-FENCE`,
//!   straight on the node.
//! - `records_file.rs`: the records on disk. `wire.rs`: the node-to-node
//!   commands. `peer.rs`: the client that sends them.
//!
//! Every step that changes the records runs under one lock (`steps`,
//! which holds the driver) together with writing the records file: the
//! driver's persists are carried out before the lock is released, and a
//! step on the receiving side is written before its answer. No network
//! wait happens under that lock. A node that cannot write its records
//! file stops (fail-stop): a restart restores what was persisted.
//!
//! A node whose records file is damaged, or missing while its directory
//! holds data, boots quarantined and recovers its records from its peers
//! through its driver (`Driver::resume`, "Recovery" in the crate's
//! driver docs): nothing here decides when it leaves quarantine. While
//! quarantined it accepts no scoped write and writes no records file
//! (the crate gives no image of a node whose records are not its own
//! yet: `ImageError::Quarantined`).

mod peer;
pub mod records_file;
mod source;
mod target;
pub mod wire;

use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kevy_scope::{
    Node, WriteVerdict,
    config::{PeerTableBuf, boot_report},
    moves::{Durable, ImageError, MoveError, MoveTableBuf, SharedNode, Snapshot},
    table::OwnershipTableBuf,
    wire::{AddressBook, MAX_REPLY_LEN, PeerAddr},
};

use crate::cluster::records_file::{RecordsFile, Saved};
use crate::cluster::source::{NodeDriver, Steps, TIMING};
use crate::db::{self, Db};

/// The static table, shared by every snapshot of the node.
pub type Table = Arc<OwnershipTableBuf>;
/// The node as its snapshots see it.
pub type NodeState = Node<Table, MoveTableBuf>;
/// One consistent state of the node; hold it until the write it admitted
/// is applied.
pub type NodeSnapshot = Snapshot<Table, MoveTableBuf>;

/// Whether the quorum service flags `writer` down. No quorum service
/// (kevy-elect) runs beside this example, so every writer is up and no
/// fallback stands in.
pub fn writer_down(_writer: &str) -> bool {
    false
}

/// What the node needs to join its cluster.
pub struct ClusterConfig<'c> {
    /// This node's id.
    pub node_id: &'c str,
    /// The `[cluster] scopes` value.
    pub scopes: &'c str,
    /// The `[cluster] peers` value.
    pub peers: &'c str,
    /// Where the records file lives.
    pub data_dir: &'c Path,
    /// Testing aid: a pause before each request of a move or an
    /// announcement, and between applying an ingest and adopting it.
    pub step_pause: Duration,
    /// The most bytes a peer's reply may take (the node's
    /// `query_buffer_limit`: a list of news answering a fence included).
    pub reply_limit: usize,
}

/// This node in its cluster.
pub struct Cluster {
    id: String,
    node: SharedNode<Table, MoveTableBuf>,
    peers: PeerTableBuf,
    db: Arc<Db>,
    file: RecordsFile,
    /// Serialises the steps with the persisting of their results; holds
    /// the move driver.
    steps: Mutex<Steps>,
    /// Wakes the timer thread when the driver's `Wake` changes.
    wake: Condvar,
    /// The origin of the driver's clock.
    clock: Instant,
    step_pause: Duration,
    /// The most bytes a peer's reply may take.
    reply_limit: usize,
}

/// What the data directory holds of this node's past, read before the
/// store is opened.
///
/// Invariant: a directory holding the store's files holds a records file
/// too, because a first boot writes its records file before the store
/// creates any file. So the store's files without a records file are lost
/// records (quarantine), never a first boot.
pub struct Past {
    node: NodeState,
}

impl Past {
    /// Reads this node's records from `config.data_dir` (locked by the
    /// caller): restored, quarantined (a damaged or foreign file, or data
    /// without a records file), or a first boot (no records file and no
    /// data), whose records file is written here, before the store opens.
    pub fn read(config: &ClusterConfig<'_>) -> Result<Self, Box<dyn Error>> {
        let id = config.node_id;
        let table: Table = Arc::new(
            OwnershipTableBuf::parse(config.scopes)
                .map_err(|e| format!("scopes {:?}: {e}", config.scopes))?,
        );
        let file = RecordsFile::in_dir(config.data_dir);
        let fresh = || Node::new(id, Arc::clone(&table), MoveTableBuf::new());
        let node = match file.load() {
            Ok(Some(Saved { image, outbox })) => {
                let mut node = fresh()?;
                match node.restore(&image) {
                    Ok(()) => log(
                        id,
                        &format!(
                            "records restored from {}: epoch {}, {} records{}",
                            file.path().display(),
                            node.epoch().get(),
                            node.records().count(),
                            if outbox.is_empty() {
                                String::new()
                            } else {
                                // A file an older node wrote: the driver
                                // owes every peer the image's news anyway.
                                format!(
                                    " (the file lists {} announcements owed: the driver announces the records' news to every peer instead)",
                                    outbox.len()
                                )
                            }
                        ),
                    ),
                    Err(e) => quarantine_notice(id, &file, &format!("unreadable ({e})")),
                }
                node
            }
            Ok(None) if db::holds_data(config.data_dir)? => {
                quarantine_notice(
                    id,
                    &file,
                    &format!(
                        "missing, but {} holds data logs: the records are lost, \
                         this is not a first boot; every key is kept",
                        config.data_dir.display()
                    ),
                );
                Node::quarantined(id, table, MoveTableBuf::new())?
            }
            Ok(None) => {
                let node = fresh()?;
                let saved = Saved {
                    image: encode_image(&node).map_err(|e| e.to_string())?,
                    outbox: Vec::new(),
                };
                file.save(&saved)
                    .map_err(|e| format!("writing {}: {e}", file.path().display()))?;
                log(
                    id,
                    &format!(
                        "first boot: {} holds no data; the static table decides; records file {} created",
                        config.data_dir.display(),
                        file.path().display()
                    ),
                );
                node
            }
            Err(reason) => {
                quarantine_notice(id, &file, &format!("unreadable ({reason})"));
                Node::quarantined(id, table, MoveTableBuf::new())?
            }
        };
        Ok(Self { node })
    }
}

impl Cluster {
    /// Joins the cluster with the records `past` read (before `db` was
    /// opened): drops keys this node holds but no longer owns (never on a
    /// quarantined node: it cannot tell which it owns), builds the move
    /// driver and resumes it (it asks the outcome of every move left in
    /// flight and owes every peer the news the node vouches for; on a
    /// quarantined node it starts the recovery), and starts the timer that
    /// polls it.
    pub fn boot(
        config: &ClusterConfig<'_>,
        db: Arc<Db>,
        past: Past,
    ) -> Result<Arc<Self>, Box<dyn Error>> {
        let id = config.node_id;
        let peers = PeerTableBuf::parse(config.peers)?;
        let Past { mut node } = past;
        for warning in boot_report(&**node.table(), &peers) {
            log_warn(id, &format!("{warning}"));
        }
        if !node.is_quarantined() {
            drop_unowned(id, &node, &db);
        }
        let mut driver = NodeDriver::new(peers.iter().map(|p| p.id()))
            .map_err(|e| format!("the move driver: {e}"))?
            .with_timing(TIMING);
        if let Err(e) = driver.resume(&mut node) {
            log_warn(id, &format!("resuming the move driver: {e}"));
        }
        let (moves, news) = (node.in_flight().count(), node.announcements().count());
        if driver.is_recovering() {
            let peers: Vec<&str> = driver.unheard().collect();
            log_warn(
                id,
                &format!(
                    "recovering the records from every peer ({}): each is asked the highest \
                     epoch it knows, then to fence above it and tell all it knows; the node \
                     leaves quarantine once every one has answered",
                    peers.join(", ")
                ),
            );
        } else if moves + news > 0 {
            log(
                id,
                &format!(
                    "resuming: {moves} moves left in flight (their targets are asked the outcome), \
                     {news} announcements owed to every peer"
                ),
            );
        }
        let cluster = Arc::new(Self {
            id: id.to_owned(),
            node: SharedNode::new(node),
            peers,
            db,
            file: RecordsFile::in_dir(config.data_dir),
            steps: Mutex::new(Steps::new(driver)),
            wake: Condvar::new(),
            clock: Instant::now(),
            step_pause: config.step_pause,
            reply_limit: config.reply_limit,
        });
        {
            let mut steps = cluster.lock_steps();
            cluster.pump(&mut steps);
        }
        Arc::clone(&cluster).start_timer();
        Ok(cluster)
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node's current state, without a lock.
    pub fn snapshot(&self) -> NodeSnapshot {
        self.node.snapshot()
    }

    /// The peer list (it resolves ids in replies).
    pub fn peers(&self) -> &PeerTableBuf {
        &self.peers
    }

    /// A peer's client address.
    fn addr_of(&self, id: &str) -> Option<PeerAddr<'_>> {
        self.peers.resolve(id)
    }

    /// The steps lock. Never taken while holding a snapshot: a step that
    /// drains waits for every snapshot under the lock.
    fn lock_steps(&self) -> MutexGuard<'_, Steps> {
        self.steps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a step of the receiving side on a copy of the node, publishes
    /// it, and, before returning, writes the records when the step asks or
    /// when the driver holds steps not on disk yet (an answer tells all
    /// the node knows).
    fn step<O>(
        &self,
        steps: &mut Steps,
        change: impl FnOnce(&mut NodeState) -> Result<Durable<O>, MoveError>,
    ) -> Result<O, MoveError> {
        let done = self.node.update(change)?;
        if done.must_persist() || steps.driver.must_persist() {
            self.persist_now(steps);
        }
        Ok(done.into_inner())
    }

    /// Writes the node's image now, for a reason of the host's own: the
    /// image covers every step the driver has taken. A quarantined node
    /// has no image (its records are its peers' until its recovery ends):
    /// nothing is written, and `false` says so.
    fn persist_now(&self, steps: &mut Steps) -> bool {
        let snapshot = self.node.snapshot();
        if snapshot.is_quarantined() {
            return false;
        }
        steps.driver.persisting();
        self.write_records(encode_image(&snapshot));
        drop(snapshot);
        steps.driver.persisted();
        true
    }

    /// Writes `image` (the news section empty: the driver owes the news)
    /// to the records file, or stops the node.
    fn write_records(&self, image: Result<Vec<u8>, ImageError>) {
        let image = image.map_err(|e| e.to_string());
        let saved = image.and_then(|image| {
            self.file
                .save(&Saved {
                    image,
                    outbox: Vec::new(),
                })
                .map_err(|e| e.to_string())
        });
        if let Err(e) = saved {
            log_error(
                &self.id,
                &format!(
                    "cannot persist the records to {} ({e}): stopping",
                    self.file.path().display()
                ),
            );
            std::process::abort();
        }
    }

    /// A clean stop (SIGTERM, SIGINT): under the steps lock, so no step
    /// begins after it, persists the records (not on a quarantined node:
    /// it has none of its own yet, and a restart recovers again), writes
    /// and `fsync`s every data log, and ends the process with 0 (1 if the
    /// data logs could not be synced). A move caught between steps resumes
    /// after the restart as after a crash.
    pub fn stop(&self, signal: &str) -> ! {
        log(
            &self.id,
            &format!("{signal}: persisting the records and the data logs, then stopping"),
        );
        let mut steps = self.lock_steps();
        if !self.persist_now(&mut steps) {
            let waiting = steps
                .recovery()
                .map(|(round, unheard)| {
                    format!(" (round {round}, waiting for {})", unheard.join(", "))
                })
                .unwrap_or_default();
            log_warn(
                &self.id,
                &format!(
                    "{signal}: the records are not persisted: the node is quarantined, recovering \
                     from its peers{waiting}; {} is left as it is and the next start recovers again",
                    self.file.path().display()
                ),
            );
        }
        match self.db.flush_and_sync() {
            Ok(()) => {
                log(
                    &self.id,
                    &format!(
                        "stopped: records in {}, data logs synced in {}",
                        self.file.path().display(),
                        self.db.dir().display()
                    ),
                );
                std::process::exit(0)
            }
            Err(e) => {
                log_error(
                    &self.id,
                    &format!(
                        "stopping: syncing the data logs in {} failed: {e}",
                        self.db.dir().display()
                    ),
                );
                std::process::exit(1)
            }
        }
    }

    /// A testing aid: widens the windows between the steps of a move.
    fn pause(&self) {
        if !self.step_pause.is_zero() {
            std::thread::sleep(self.step_pause);
        }
    }

    /// `SCOPE-LIFT-QUARANTINE`: a check, never a release (the driver
    /// ends a recovery, once every peer has answered): on a node that is
    /// not quarantined the reply line, else the error line naming the
    /// round the recovery is in and the peers it waits for.
    pub fn quarantine_check(&self) -> Result<String, String> {
        let recovery = self.lock_steps().recovery();
        let (quarantined, epoch) = {
            let now = self.node.snapshot();
            (now.is_quarantined(), now.epoch().get())
        };
        match recovery {
            _ if !quarantined => Ok(format!(
                "OK not quarantined: node {} holds its records (epoch {epoch}); nothing to lift",
                self.id
            )),
            Some((round, unheard)) => Err(format!(
                "ERR SCOPE-LIFT-QUARANTINE: node {} is quarantined, recovering its records from its \
                 peers (round {round}); not heard yet: {}; it leaves quarantine on its own once each \
                 has answered, nothing is lifted by hand",
                self.id,
                if unheard.is_empty() {
                    "none (the end of the round is being taken)".to_owned()
                } else {
                    unheard.join(", ")
                }
            )),
            None => Err(format!(
                "ERR SCOPE-LIFT-QUARANTINE: node {} is quarantined and its driver is not recovering \
                 (see its log); nothing is lifted by hand",
                self.id
            )),
        }
    }

    /// `SCOPE-STATUS`: this node's id, epoch, quarantine and records, one
    /// line each, where its recovery stands if it recovers (the round and
    /// the peers not heard yet), then whether its move driver is busy (a
    /// move in flight, news owed to a peer, a write pending, a recovery)
    /// or idle.
    pub fn status(&self) -> Vec<String> {
        let snapshot = self.node.snapshot();
        let mut lines = vec![format!(
            "node {} epoch {} quarantined {}",
            snapshot.id(),
            snapshot.epoch().get(),
            u8::from(snapshot.is_quarantined())
        )];
        for (phase, m) in snapshot.records() {
            lines.push(format!(
                "record {phase:?} {} {} {} {}",
                String::from_utf8_lossy(m.prefix),
                m.from,
                m.to,
                m.epoch.get()
            ));
        }
        drop(snapshot);
        let (idle, recovery) = {
            let steps = self.lock_steps();
            (steps.driver.is_idle(), steps.recovery())
        };
        if let Some((round, unheard)) = recovery {
            let mut line = format!("recovering round {round} waiting");
            for peer in unheard {
                line.push(' ');
                line.push_str(&peer);
            }
            lines.push(line);
        }
        lines.push(format!("driver {}", if idle { "idle" } else { "busy" }));
        lines
    }
}

/// Has every later node-to-node request log in as the `cluster` user
/// with `password` (called once, at start, before [`Cluster::boot`]
/// starts the threads that call peers).
pub fn log_in_to_peers(password: Option<crate::auth::Secret>) {
    if let Some(password) = password {
        peer::log_in_with(password);
    }
}

/// Appends the reply for a refused write: the crate's exact text.
pub fn put_refusal(out: &mut Vec<u8>, verdict: WriteVerdict<'_>, peers: &impl AddressBook) {
    let mut buf = [0u8; MAX_REPLY_LEN];
    match verdict.encode_reply(peers, &mut buf) {
        Ok(reply) => out.extend_from_slice(reply),
        // MAX_REPLY_LEN covers every host the peer list accepts; the
        // allocating form cannot fail.
        Err(_) => out.extend_from_slice(&verdict.reply_vec(peers)),
    }
}

/// The image of `node` (`Node::encode_image`), as the records file holds
/// it; a quarantined node has none (`ImageError::Quarantined`).
fn encode_image(node: &NodeState) -> Result<Vec<u8>, ImageError> {
    let mut image = vec![0; node.image_len()];
    let len = node.encode_image(&mut image)?;
    image.truncate(len);
    Ok(image)
}

/// Deletes the keys a restored node holds but no longer owns: given away
/// after a commit, or shipped to it by an ingest it never adopted.
fn drop_unowned(id: &str, node: &NodeState, db: &Db) {
    let dropped = db.retain(|key| {
        !matches!(
            node.verdict(key, writer_down),
            WriteVerdict::Misdirected { .. }
        )
    });
    if dropped > 0 {
        log(
            id,
            &format!("dropped {dropped} keys this node no longer owns"),
        );
    }
}

fn quarantine_notice(id: &str, file: &RecordsFile, reason: &str) {
    log_error(
        id,
        &format!(
            "QUARANTINED: records file {} is {reason}; no scoped write is accepted and every \
             move step is refused until the node has recovered its records from every peer \
             (SCOPE-STATUS and SCOPE-LIFT-QUARANTINE show how far it is)",
            file.path().display()
        ),
    );
}

/// Logs `line` for node `id` at level INFO (a `tracing` event; the
/// subscriber main sets up stamps it with the time and level).
pub fn log(id: &str, line: &str) {
    tracing::info!(node = id, "{line}");
}

/// Logs `line` for node `id` at level WARN: something an operator should
/// look at, which the node handles.
pub fn log_warn(id: &str, line: &str) {
    tracing::warn!(node = id, "{line}");
}

/// Logs `line` for node `id` at level ERROR: the node cannot do its work
/// (quarantined, or stopping).
pub fn log_error(id: &str, line: &str) {
    tracing::error!(node = id, "{line}");
}
