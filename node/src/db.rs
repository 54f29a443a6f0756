//! The data: string keys split over shards, each shard a map behind its
//! own lock. No lock covers the whole store.
//!
//! Durability: each connection thread appends the changes it makes to a
//! log file of its own (the move commands use one more), and writes it to
//! the file with `write(2)` before its replies leave the node; a
//! background thread `fsync`s the logs every second (as Redis's
//! `appendfsync everysec`). So a process crash (`kill -9`) loses no
//! acknowledged write; a power loss may lose the last second. The keys of
//! an ingest are `fsync`ed before the node adopts the prefix.
//!
//! A record is a RESP command: `SET <shard> <seq> <key> <value>`,
//! `DEL <shard> <seq> <key>`, `DELPREFIX <shard> <seq> <prefix>` or
//! `CLEAR <shard> <seq>`. `seq` counts the changes of its shard, taken
//! under the shard's lock, so replaying every log's records in `seq` order
//! per shard repeats each key's history whichever threads wrote it. At
//! startup the logs are replayed, then replaced by one snapshot (temp
//! file, fsync, rename) that opens each shard with `CLEAR`.
//!
//! One process per directory: [`lock_dir`] takes an exclusive lock on
//! `kevy-node.lock` before anything in the directory is read or written,
//! and holds it for the process's life.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::resp;

/// Shards of the store.
pub const SHARDS: usize = 16;

const SNAPSHOT: &str = "snapshot.aof";
/// The data directory's lock file; it holds the locking process's id.
pub const LOCK_FILE: &str = "kevy-node.lock";

/// An exclusive advisory lock on a data directory (`flock` on
/// [`LOCK_FILE`]), held until this value is dropped or the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Creates `dir` if needed and locks it, before anything in it is read
/// or written: a second process on the same directory is refused (the
/// error names the lock file and the holder's process id), so it cannot
/// replay and delete the logs a running node appends to.
pub fn lock_dir(dir: &Path) -> io::Result<DirLock> {
    fs::create_dir_all(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let by = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("process {holder}")
            };
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is held by {by}", path.display()),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DirLock { _file: file })
}

/// Whether `dir` holds any file of the store (a snapshot or a log, even
/// an empty one). The lock file, the records file and foreign files
/// (`lost+found`) do not count; a missing directory holds nothing.
pub fn holds_data(dir: &Path) -> io::Result<bool> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    for entry in entries {
        if is_store_file(&entry?.file_name().to_string_lossy()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A file the store writes: its snapshot (or the snapshot's temp file)
/// or a log.
fn is_store_file(name: &str) -> bool {
    name == SNAPSHOT
        || name == "snapshot.tmp"
        || (name.starts_with("log-") && name.ends_with(".aof"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One writer's log: the records it appended and has not yet written to
/// its file. One per connection thread, so the lock is never contended.
///
/// Records are counted, so the connections of a thread can share one
/// write (a group commit, as Redis writes its AOF once per event-loop
/// turn): each waits only until the records it appended are written.
pub struct Log {
    file: File,
    /// The file's path, for errors.
    path: PathBuf,
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    pending: Vec<u8>,
    /// Records appended, ever.
    appended: u64,
    /// Records written to the file, ever.
    written: u64,
}

impl Log {
    fn new(file: File, path: PathBuf) -> Self {
        Self {
            file,
            path,
            state: Mutex::new(LogState::default()),
        }
    }

    fn append(&self, record: &[&[u8]]) {
        let mut state = lock(&self.state);
        resp::put_strings(&mut state.pending, record);
        state.appended += 1;
    }

    /// How many records were appended so far: pass it to
    /// [`Log::write_through`] before acknowledging them.
    pub fn appended(&self) -> u64 {
        lock(&self.state).appended
    }

    /// Writes the appended records to the file unless the first `mark`
    /// already are. A write the disk refuses stops the node (fail-stop):
    /// a partly written record would be followed by more, and nothing
    /// unwritten has been acknowledged; a restart replays what is there.
    pub fn write_through(&self, mark: u64) {
        let mut state = lock(&self.state);
        if state.written < mark && !state.pending.is_empty() {
            if let Err(e) = (&self.file).write_all(&state.pending) {
                tracing::error!(
                    "writing the data log {} failed ({e}): stopping",
                    self.path.display()
                );
                std::process::abort();
            }
            state.pending.clear();
            state.written = state.appended;
        }
    }

    /// Writes every appended record to the file.
    pub fn flush(&self) {
        self.write_through(self.appended());
    }
}

/// One shard: its keys and the count of its changes.
pub struct Shard {
    index: usize,
    seq: u64,
    map: HashMap<Vec<u8>, Vec<u8>>,
}

impl Shard {
    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// The next change's header: the record's verb, shard and seq.
    fn record<'r>(&mut self, verb: &'r [u8], numbers: &'r mut [[u8; 20]; 2]) -> [&'r [u8]; 3] {
        self.seq += 1;
        let [shard, seq] = numbers;
        [
            verb,
            resp::decimal(self.index as u64, shard),
            resp::decimal(self.seq, seq),
        ]
    }

    /// Sets `key`, logging it to `log`.
    pub fn set(&mut self, key: &[u8], value: &[u8], log: &Log) {
        let mut numbers = [[0; 20]; 2];
        let [verb, shard, seq] = self.record(b"SET", &mut numbers);
        log.append(&[verb, shard, seq, key, value]);
        match self.map.get_mut(key) {
            Some(v) => {
                v.clear();
                v.extend_from_slice(value);
            }
            None => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
        }
    }

    /// Deletes `key`, logging it; whether it existed.
    pub fn del(&mut self, key: &[u8], log: &Log) -> bool {
        if self.map.remove(key).is_none() {
            return false;
        }
        let mut numbers = [[0; 20]; 2];
        let [verb, shard, seq] = self.record(b"DEL", &mut numbers);
        log.append(&[verb, shard, seq, key]);
        true
    }

    /// Deletes every key under `prefix`, logging it; how many there were.
    fn del_prefix(&mut self, prefix: &[u8], log: &Log) -> usize {
        let before = self.map.len();
        self.map.retain(|k, _| !k.starts_with(prefix));
        let mut numbers = [[0; 20]; 2];
        let [verb, shard, seq] = self.record(b"DELPREFIX", &mut numbers);
        log.append(&[verb, shard, seq, prefix]);
        before - self.map.len()
    }
}

/// The sharded store.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    dir: PathBuf,
    /// Every log, for the background `fsync`.
    logs: Mutex<Vec<Arc<Log>>>,
    next_log: AtomicU32,
    /// The log of the move commands (ingest, hand-over, boot clean-up).
    admin: Arc<Log>,
}

impl Db {
    /// Opens (or creates) the store in `dir`: replays the snapshot and the
    /// logs, then replaces them with a new snapshot.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let (maps, seqs, old_logs) = replay(dir)?;
        write_snapshot(dir, &maps, &seqs)?;
        for old in old_logs {
            fs::remove_file(old)?;
        }
        File::open(dir)?.sync_all()?;
        let shards = maps
            .into_iter()
            .zip(seqs)
            .enumerate()
            // The snapshot took seq + 2 (CLEAR, then the SETs).
            .map(|(index, (map, seq))| {
                Mutex::new(Shard {
                    index,
                    seq: seq + 2,
                    map,
                })
            })
            .collect();
        let admin = Arc::new(open_log(dir, 0)?);
        Ok(Self {
            shards,
            dir: dir.to_path_buf(),
            logs: Mutex::new(vec![Arc::clone(&admin)]),
            next_log: AtomicU32::new(1),
            admin,
        })
    }

    /// A new log, for one connection thread.
    pub fn new_log(&self) -> io::Result<Arc<Log>> {
        let n = self.next_log.fetch_add(1, Ordering::Relaxed);
        let log = Arc::new(open_log(&self.dir, n)?);
        lock(&self.logs).push(Arc::clone(&log));
        Ok(log)
    }

    /// `fsync`s every log each `period`, on a thread of its own.
    pub fn sync_every(self: &Arc<Self>, period: Duration) {
        let db = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(period);
                if let Err(e) = db.sync() {
                    tracing::error!("fsync of the data logs in {} failed: {e}", db.dir.display());
                }
            }
        });
    }

    /// `fsync`s every log.
    pub fn sync(&self) -> io::Result<()> {
        let logs = lock(&self.logs).clone();
        logs.iter().try_for_each(|log| log.file.sync_data())
    }

    /// Writes every log's appended records to its file and `fsync`s them
    /// all: at a clean stop, nothing appended is left in memory.
    pub fn flush_and_sync(&self) -> io::Result<()> {
        let logs = lock(&self.logs).clone();
        for log in &logs {
            log.flush();
            log.file.sync_data()?;
        }
        Ok(())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shard `key` lives in (FNV-1a).
    pub fn shard_of(key: &[u8]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (h % SHARDS as u64) as usize
    }

    /// Locks the shard of `key`.
    pub fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        lock(&self.shards[Self::shard_of(key)])
    }

    /// Locks the shards of `keys`, in ascending order (so two multi-key
    /// writes never wait for each other in a circle).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        let mut idx: Vec<usize> = keys.into_iter().map(Self::shard_of).collect();
        idx.sort_unstable();
        idx.dedup();
        let guards = idx.iter().map(|&i| (i, lock(&self.shards[i]))).collect();
        Locked { guards }
    }

    /// The keys under `prefix` as `SET` commands, and their number.
    pub fn dump_prefix(&self, prefix: &[u8]) -> (Vec<u8>, usize) {
        let mut bulk = Vec::new();
        let mut count = 0;
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for (k, v) in shard.map.iter().filter(|(k, _)| k.starts_with(prefix)) {
                resp::put_command(&mut bulk, &[b"SET", k, v]);
                count += 1;
            }
        }
        (bulk, count)
    }

    /// Replaces every key under `prefix` with `entries`, durably.
    pub fn replace_prefix(&self, prefix: &[u8], entries: &[(&[u8], &[u8])]) -> io::Result<()> {
        let mut by_shard: Vec<Vec<(&[u8], &[u8])>> = vec![Vec::new(); SHARDS];
        for &(k, v) in entries {
            by_shard[Self::shard_of(k)].push((k, v));
        }
        for (shard, entries) in self.shards.iter().zip(by_shard) {
            let mut shard = lock(shard);
            shard.del_prefix(prefix, &self.admin);
            for (k, v) in entries {
                shard.set(k, v, &self.admin);
            }
        }
        self.admin.flush();
        self.admin.file.sync_data()
    }

    /// Deletes every key under `prefix`; how many there were.
    pub fn drop_prefix(&self, prefix: &[u8]) -> usize {
        let dropped = self
            .shards
            .iter()
            .map(|shard| lock(shard).del_prefix(prefix, &self.admin))
            .sum();
        self.admin.flush();
        dropped
    }

    /// Deletes every key `keep` refuses; how many.
    pub fn retain(&self, keep: impl Fn(&[u8]) -> bool) -> usize {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let gone: Vec<Vec<u8>> = shard.map.keys().filter(|k| !keep(k)).cloned().collect();
            for k in &gone {
                shard.del(k, &self.admin);
            }
            dropped += gone.len();
        }
        self.admin.flush();
        dropped
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }
}

/// Shards locked together for one multi-key command.
pub struct Locked<'d> {
    guards: Vec<(usize, MutexGuard<'d, Shard>)>,
}

impl Locked<'_> {
    /// The locked shard of `key`.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let i = Db::shard_of(key);
        let pos = self
            .guards
            .iter()
            .position(|(j, _)| *j == i)
            .expect("the key's shard was locked by lock_keys");
        &mut self.guards[pos].1
    }
}

fn open_log(dir: &Path, n: u32) -> io::Result<Log> {
    let path = dir.join(format!("log-{n:04}.aof"));
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok(Log::new(file, path))
}

type Maps = Vec<HashMap<Vec<u8>, Vec<u8>>>;

/// One logged change.
enum Op {
    Set(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
    DelPrefix(Vec<u8>),
    Clear,
}

/// Replays the snapshot and the logs in `dir`: each shard's map, its
/// highest seq, and the files read.
fn replay(dir: &Path) -> io::Result<(Maps, Vec<u64>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == SNAPSHOT || (name.starts_with("log-") && name.ends_with(".aof")) {
            files.push(path);
        }
    }
    let mut ops: Vec<Vec<(u64, Op)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for path in &files {
        read_records(path, &mut ops)?;
    }
    let mut maps: Maps = (0..SHARDS).map(|_| HashMap::new()).collect();
    let mut seqs = vec![0; SHARDS];
    for ((shard_ops, map), top) in ops.iter_mut().zip(&mut maps).zip(&mut seqs) {
        // Stable: a snapshot's SETs share one seq, after its CLEAR.
        shard_ops.sort_by_key(|(seq, _)| *seq);
        for (seq, op) in shard_ops.drain(..) {
            *top = seq;
            match op {
                Op::Set(k, v) => {
                    map.insert(k, v);
                }
                Op::Del(k) => {
                    map.remove(&k);
                }
                Op::DelPrefix(p) => map.retain(|k, _| !k.starts_with(&p)),
                Op::Clear => map.clear(),
            }
        }
    }
    let logs = files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != SNAPSHOT))
        .collect();
    Ok((maps, seqs, logs))
}

/// Reads one file's records into `ops`. A torn record at the end (a
/// crash in the middle of a write) was never acknowledged and is dropped.
fn read_records(path: &Path, ops: &mut [Vec<(u64, Op)>]) -> io::Result<()> {
    let buf = fs::read(path)?;
    let damaged = |pos: usize, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: damaged at byte {pos}: {why}", path.display()),
        )
    };
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let (args, used) = match resp::decode_command(rest) {
            Ok(Some(x)) => x,
            Ok(None) => {
                tracing::warn!(
                    "{}: {} bytes of a torn record at the end dropped",
                    path.display(),
                    rest.len()
                );
                break;
            }
            Err(e) => return Err(damaged(pos, &e)),
        };
        let args: Vec<&[u8]> = args.into_iter().map(|r| &rest[r]).collect();
        let number = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        };
        let (verb, shard, seq, rest_args) = match args.as_slice() {
            [verb, shard, seq, rest @ ..] => (*verb, number(shard), number(seq), rest),
            _ => return Err(damaged(pos, "a record too short")),
        };
        let (Some(shard), Some(seq)) = (shard, seq) else {
            return Err(damaged(pos, "a bad shard or seq"));
        };
        let op = match (verb, rest_args) {
            (b"SET", [k, v]) => Op::Set(k.to_vec(), v.to_vec()),
            (b"DEL", [k]) => Op::Del(k.to_vec()),
            (b"DELPREFIX", [p]) => Op::DelPrefix(p.to_vec()),
            (b"CLEAR", []) => Op::Clear,
            _ => return Err(damaged(pos, "an unknown record")),
        };
        ops.get_mut(shard as usize)
            .ok_or_else(|| damaged(pos, "a shard out of range"))?
            .push((seq, op));
        pos += used;
    }
    Ok(())
}

/// Writes every shard as `CLEAR` at seq + 1, then its keys at seq + 2,
/// atomically.
fn write_snapshot(dir: &Path, maps: &Maps, seqs: &[u64]) -> io::Result<()> {
    let mut out = Vec::new();
    for (index, (map, seq)) in maps.iter().zip(seqs).enumerate() {
        let (shard, clear, set) = (
            index.to_string(),
            (seq + 1).to_string(),
            (seq + 2).to_string(),
        );
        resp::put_command(&mut out, &[b"CLEAR", shard.as_bytes(), clear.as_bytes()]);
        for (k, v) in map {
            resp::put_command(&mut out, &[b"SET", shard.as_bytes(), set.as_bytes(), k, v]);
        }
    }
    write_atomically(&dir.join(SNAPSHOT), &out)
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the
/// new one, never a mix: a temp file, `fsync`, rename, `fsync` of the
/// directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kevy-node-db-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writes_survive_a_reopen_and_prefixes_move_out_and_in() {
        let dir = temp_dir("reopen");
        {
            let db = Db::open(&dir).unwrap();
            let (one, two) = (db.new_log().unwrap(), db.new_log().unwrap());
            db.shard(b"a:1").set(b"a:1", b"x", &one);
            db.shard(b"a:2").set(b"a:2", b"y", &one);
            db.shard(b"b:1").set(b"b:1", b"z", &two);
            // A later change of the same key from another thread wins.
            db.shard(b"a:1").set(b"a:1", b"x2", &two);
            db.shard(b"a:2").del(b"a:2", &two);
            two.flush();
            one.flush();
            assert_eq!(db.drop_prefix(b"b:"), 1);
            db.replace_prefix(b"c:", &[(b"c:1", b"w")]).unwrap();
        }
        for _ in 0..2 {
            // Twice: once from the logs, once from the snapshot alone.
            let db = Db::open(&dir).unwrap();
            assert_eq!(db.len(), 2);
            assert_eq!(db.shard(b"a:1").get(b"a:1"), Some(&b"x2"[..]));
            assert_eq!(db.shard(b"c:1").get(b"c:1"), Some(&b"w"[..]));
            let (bulk, n) = db.dump_prefix(b"a:");
            assert_eq!(n, 1);
            assert!(bulk.starts_with(b"*3\r\n$3\r\nSET\r\n"));
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_is_locked_by_one_process_at_a_time() {
        let dir = temp_dir("lock");
        let held = lock_dir(&dir).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(fs::read_to_string(dir.join(LOCK_FILE)).unwrap().trim(), pid);
        // flock locks belong to the open file: a second open is refused,
        // as a second process would be.
        let refused = lock_dir(&dir).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
        assert!(refused.to_string().contains(&pid), "{refused}");
        assert!(refused.to_string().contains(LOCK_FILE), "{refused}");
        drop(held);
        drop(lock_dir(&dir).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_store_files_count_as_data() {
        let dir = temp_dir("holds");
        assert!(!holds_data(&dir).unwrap(), "a missing directory");
        let lock = lock_dir(&dir).unwrap();
        fs::create_dir(dir.join("lost+found")).unwrap();
        fs::write(dir.join("records.kvnr"), b"x").unwrap();
        assert!(!holds_data(&dir).unwrap());
        fs::write(dir.join("log-0003.aof"), b"").unwrap();
        assert!(holds_data(&dir).unwrap(), "an empty log counts");
        drop(lock);
        fs::remove_dir_all(&dir).unwrap();
        drop(Db::open(&dir).unwrap());
        assert!(holds_data(&dir).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_dropped() {
        let dir = temp_dir("torn");
        fs::create_dir_all(&dir).unwrap();
        let shard = Db::shard_of(b"k").to_string();
        let mut log = Vec::new();
        resp::put_command(&mut log, &[b"SET", shard.as_bytes(), b"1", b"k", b"v"]);
        let torn = log.clone();
        log.extend_from_slice(&torn[..torn.len() - 3]);
        fs::write(dir.join("log-0007.aof"), &log).unwrap();
        let db = Db::open(&dir).unwrap();
        assert_eq!(db.shard(b"k").get(b"k"), Some(&b"v"[..]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
