//! `DEL <key> [key ...]`.

use crate::db::{Locked, Log};
use crate::resp;

/// `DEL`.
pub struct Del<'a> {
    keys: Vec<&'a [u8]>,
}

impl<'a> Del<'a> {
    /// `DEL <key> [key ...]`.
    pub fn parse(args: &[&'a [u8]]) -> Result<Self, String> {
        if args.is_empty() {
            return Err("ERR wrong number of arguments for 'del' command".into());
        }
        Ok(Self {
            keys: args.to_vec(),
        })
    }

    /// The keys deleted.
    pub fn keys(&self) -> &[&'a [u8]] {
        &self.keys
    }

    /// Deletes, then replies with the number of keys that existed.
    pub fn apply(&self, shards: &mut Locked<'_>, out: &mut Vec<u8>, log: &Log) {
        let mut deleted = 0;
        for key in &self.keys {
            if shards.shard(key).del(key, log) {
                deleted += 1;
            }
        }
        resp::put_int(out, deleted);
    }
}
