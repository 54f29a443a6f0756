//! `SET <key> <value>` and `MSET <key> <value> [key value ...]`.

use super::{Ctx, admit};
use crate::db::{Locked, Log};

/// `SET <key> <value>`, the common case, without the general path's
/// vectors: the same admission, the key's shard alone locked, the
/// snapshot held until the value is in the store.
pub fn one(ctx: &Ctx, key: &[u8], value: &[u8], out: &mut Vec<u8>, log: &Log) {
    let snapshot = ctx.cluster.snapshot();
    if admit(&snapshot, &[key], &[key], ctx, out) {
        ctx.db.shard(key).set(key, value, log);
        drop(snapshot);
        out.extend_from_slice(b"+OK\r\n");
    }
}

/// `SET` or `MSET`.
pub struct Set<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Set<'a> {
    /// `SET <key> <value>` (no options), or (`many`) `MSET`.
    pub fn parse(args: &[&'a [u8]], many: bool) -> Result<Self, String> {
        let name = if many { "mset" } else { "set" };
        let fits = if many {
            !args.is_empty() && args.len().is_multiple_of(2)
        } else {
            args.len() >= 2
        };
        if !fits {
            return Err(format!(
                "ERR wrong number of arguments for '{name}' command"
            ));
        }
        if !many && args.len() > 2 {
            return Err("ERR syntax error (this node's SET takes no options)".into());
        }
        Ok(Self {
            pairs: args.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
        })
    }

    /// The keys written.
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.pairs.iter().map(|(k, _)| *k)
    }

    /// Writes, then replies `+OK`.
    pub fn apply(&self, shards: &mut Locked<'_>, out: &mut Vec<u8>, log: &Log) {
        for (key, value) in &self.pairs {
            shards.shard(key).set(key, value, log);
        }
        out.extend_from_slice(b"+OK\r\n");
    }
}
