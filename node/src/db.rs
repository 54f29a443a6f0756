//! The data: string keys split over shards, each shard a map behind its
//! own lock with its own append-only log. No lock covers the whole store.
//!
//! Durability: every change is appended to its shard's log (a RESP
//! command: `SET`, `DEL`, or the log-only `DELPREFIX`) and the log is
//! written to the file, with `write(2)`, before the client's reply leaves
//! the node; a background thread `fsync`s the logs every second (as
//! Redis's `appendfsync everysec`). So a process crash (`kill -9`) loses
//! no acknowledged write; a power loss may lose the last second. The keys
//! of an ingest are `fsync`ed before the node adopts the prefix. At
//! startup each log is replayed, then rewritten compactly (temp file,
//! fsync, rename).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::resp;

/// Shards of the store; at most 64 (a connection marks the shards it
/// wrote in one word).
pub const SHARDS: usize = 16;

/// One shard: its keys and its log.
pub struct Shard {
    map: HashMap<Vec<u8>, Vec<u8>>,
    log: File,
    /// Log records not yet written to the file.
    pending: Vec<u8>,
}

impl Shard {
    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Sets `key`, logging it.
    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        resp::put_command(&mut self.pending, &[b"SET", key, value]);
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
    pub fn del(&mut self, key: &[u8]) -> bool {
        let existed = self.map.remove(key).is_some();
        if existed {
            resp::put_command(&mut self.pending, &[b"DEL", key]);
        }
        existed
    }

    /// Deletes every key under `prefix`, logging it; how many there were.
    fn del_prefix(&mut self, prefix: &[u8]) -> usize {
        let before = self.map.len();
        self.map.retain(|k, _| !k.starts_with(prefix));
        resp::put_command(&mut self.pending, &[b"DELPREFIX", prefix]);
        before - self.map.len()
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.log.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// The shards a connection wrote to since its replies were last sent:
/// their logs are written before the replies go.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dirty(u64);

impl Dirty {
    /// Marks shard `i`.
    pub fn mark(&mut self, i: usize) {
        self.0 |= 1 << i;
    }
}

/// The sharded store.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    /// Handles on the shard logs for the background `fsync`.
    sync_handles: Vec<File>,
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Db {
    /// Opens (or creates) the store in `dir`: replays each shard's log and
    /// rewrites it compactly.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut shards = Vec::with_capacity(SHARDS);
        let mut sync_handles = Vec::with_capacity(SHARDS);
        for i in 0..SHARDS {
            let path = dir.join(format!("shard-{i:02}.aof"));
            let map = replay(&path)?;
            rewrite(&path, &map)?;
            let log = OpenOptions::new().append(true).open(&path)?;
            sync_handles.push(log.try_clone()?);
            shards.push(Mutex::new(Shard {
                map,
                log,
                pending: Vec::new(),
            }));
        }
        Ok(Self {
            shards: shards.into_boxed_slice(),
            sync_handles,
        })
    }

    /// `fsync`s every log each `period`, on a thread of its own.
    pub fn sync_every(self: &Arc<Self>, period: Duration) {
        let db = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(period);
                if let Err(e) = db.sync() {
                    eprintln!("kevy-node: fsync of the data logs failed: {e}");
                }
            }
        });
    }

    /// `fsync`s every shard's log.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_handles.iter().try_for_each(File::sync_data)
    }

    /// The shard `key` lives in (FNV-1a: stable across restarts, as the
    /// logs are per shard).
    pub fn shard_of(key: &[u8]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (h % SHARDS as u64) as usize
    }

    /// Locks shard `i`.
    pub fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        lock(&self.shards[i])
    }

    /// Locks the shards of `keys`, in ascending order (so two multi-key
    /// writes never wait for each other in a circle).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        let mut idx: Vec<usize> = keys.into_iter().map(Self::shard_of).collect();
        idx.sort_unstable();
        idx.dedup();
        let guards = idx.iter().map(|&i| (i, self.shard(i))).collect();
        Locked { guards }
    }

    /// Writes the logs of the shards in `dirty` to their files.
    pub fn flush(&self, dirty: &mut Dirty) -> io::Result<()> {
        let mut bits = dirty.0;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            self.shard(i).flush()?;
        }
        dirty.0 = 0;
        Ok(())
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

    /// Replaces every key under `prefix` with `entries`, then `fsync`s.
    pub fn replace_prefix(&self, prefix: &[u8], entries: &[(&[u8], &[u8])]) -> io::Result<()> {
        let mut by_shard: Vec<Vec<(&[u8], &[u8])>> = vec![Vec::new(); SHARDS];
        for &(k, v) in entries {
            by_shard[Self::shard_of(k)].push((k, v));
        }
        for (shard, entries) in self.shards.iter().zip(by_shard) {
            let mut shard = lock(shard);
            shard.del_prefix(prefix);
            for (k, v) in entries {
                shard.set(k, v);
            }
            shard.flush()?;
        }
        self.sync()
    }

    /// Deletes every key under `prefix`; how many there were.
    pub fn drop_prefix(&self, prefix: &[u8]) -> io::Result<usize> {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            dropped += shard.del_prefix(prefix);
            shard.flush()?;
        }
        Ok(dropped)
    }

    /// Deletes every key `keep` refuses; how many.
    pub fn retain(&self, keep: impl Fn(&[u8]) -> bool) -> io::Result<usize> {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let gone: Vec<Vec<u8>> = shard.map.keys().filter(|k| !keep(k)).cloned().collect();
            for k in &gone {
                shard.del(k);
            }
            dropped += gone.len();
            shard.flush()?;
        }
        Ok(dropped)
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
    /// The locked shard of `key`, and its index.
    pub fn shard(&mut self, key: &[u8]) -> (usize, &mut Shard) {
        let i = Db::shard_of(key);
        let pos = self
            .guards
            .iter()
            .position(|(j, _)| *j == i)
            .expect("the key's shard was locked by lock_keys");
        (i, &mut self.guards[pos].1)
    }
}

/// Replays a log into a map. A torn record at the end (a crash in the
/// middle of a write) was never acknowledged and is dropped.
fn replay(path: &Path) -> io::Result<HashMap<Vec<u8>, Vec<u8>>> {
    let mut map = HashMap::new();
    let mut buf = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut buf)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(map),
        Err(e) => return Err(e),
    }
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let (args, used) = match resp::decode_command(rest) {
            Ok(Some(x)) => x,
            Ok(None) => {
                eprintln!(
                    "kevy-node: {}: {} bytes of a torn record at the end dropped",
                    path.display(),
                    rest.len()
                );
                break;
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: damaged at byte {pos}: {e}", path.display()),
                ));
            }
        };
        let args: Vec<&[u8]> = args.into_iter().map(|r| &rest[r]).collect();
        match args.as_slice() {
            [b"SET", k, v] => {
                map.insert(k.to_vec(), v.to_vec());
            }
            [b"DEL", k] => {
                map.remove(*k);
            }
            [b"DELPREFIX", p] => map.retain(|k: &Vec<u8>, _| !k.starts_with(p)),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: unknown record at byte {pos}", path.display()),
                ));
            }
        }
        pos += used;
    }
    Ok(map)
}

/// Rewrites a log as one `SET` per key, atomically.
fn rewrite(path: &Path, map: &HashMap<Vec<u8>, Vec<u8>>) -> io::Result<()> {
    let mut out = Vec::new();
    for (k, v) in map {
        resp::put_command(&mut out, &[b"SET", k, v]);
    }
    write_atomically(path, &out)
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
            let mut dirty = Dirty::default();
            for (k, v) in [(&b"a:1"[..], &b"x"[..]), (b"a:2", b"y"), (b"b:1", b"z")] {
                let i = Db::shard_of(k);
                db.shard(i).set(k, v);
                dirty.mark(i);
            }
            db.shard(Db::shard_of(b"a:2")).del(b"a:2");
            db.flush(&mut dirty).unwrap();
            assert_eq!(db.drop_prefix(b"b:").unwrap(), 1);
            db.replace_prefix(b"c:", &[(b"c:1", b"w")]).unwrap();
        }
        let db = Db::open(&dir).unwrap();
        assert_eq!(db.len(), 2);
        assert_eq!(db.shard(Db::shard_of(b"a:1")).get(b"a:1"), Some(&b"x"[..]));
        assert_eq!(db.shard(Db::shard_of(b"c:1")).get(b"c:1"), Some(&b"w"[..]));
        let (bulk, n) = db.dump_prefix(b"a:");
        assert_eq!(n, 1);
        assert!(bulk.starts_with(b"*3\r\n$3\r\nSET\r\n"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_dropped() {
        let dir = temp_dir("torn");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shard-00.aof");
        let mut log = Vec::new();
        resp::put_command(&mut log, &[b"SET", b"k", b"v"]);
        log.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nj");
        fs::write(&path, &log).unwrap();
        assert_eq!(replay(&path).unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
