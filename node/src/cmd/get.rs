//! `GET <key>` and `MGET <key> [key ...]`: reads, served by any node from
//! what it holds.

use super::Ctx;
use crate::db::{Locked, Log};

/// `GET <key>`, the common case: the key's shard alone locked.
pub fn one(ctx: &Ctx, key: &[u8], out: &mut Vec<u8>) {
    resp::put_bulk(out, ctx.db.shard(key).get(key));
}
use crate::resp;

/// `GET` or `MGET`.
pub struct Get<'a> {
    keys: Vec<&'a [u8]>,
    many: bool,
}

impl<'a> Get<'a> {
    /// `GET <key>` (`many`: `MGET <key> [key ...]`).
    pub fn parse(args: &[&'a [u8]], many: bool) -> Result<Self, String> {
        match (args.len(), many) {
            (1, false) => {}
            (1.., true) => {}
            _ => {
                return Err(format!(
                    "ERR wrong number of arguments for '{}' command",
                    if many { "mget" } else { "get" }
                ));
            }
        }
        Ok(Self {
            keys: args.to_vec(),
            many,
        })
    }

    /// The keys read.
    pub fn keys(&self) -> &[&'a [u8]] {
        &self.keys
    }

    /// Replies with the values.
    pub fn apply(&self, shards: &mut Locked<'_>, out: &mut Vec<u8>, _: &Log) {
        if self.many {
            resp::put_array_header(out, self.keys.len());
        }
        for key in &self.keys {
            resp::put_bulk(out, shards.shard(key).get(key));
        }
    }
}
