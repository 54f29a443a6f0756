//! `SET <key> <value>` and `MSET <key> <value> [key value ...]`.

use crate::db::{Dirty, Locked};

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
    pub fn apply(&self, shards: &mut Locked<'_>, out: &mut Vec<u8>, dirty: &mut Dirty) {
        for (key, value) in &self.pairs {
            let (i, shard) = shards.shard(key);
            shard.set(key, value);
            dirty.mark(i);
        }
        out.extend_from_slice(b"+OK\r\n");
    }
}
