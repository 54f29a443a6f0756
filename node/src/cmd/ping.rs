//! `PING [message]` and `ECHO <message>`.

use crate::db::{Locked, Log};
use crate::resp;

/// `PING` or `ECHO`.
pub struct Ping<'a> {
    message: Option<&'a [u8]>,
}

impl<'a> Ping<'a> {
    /// `PING [message]` (`echo`: `ECHO <message>`).
    pub fn parse(args: &[&'a [u8]], echo: bool) -> Result<Self, String> {
        match (args, echo) {
            ([], false) => Ok(Self { message: None }),
            ([m], _) => Ok(Self { message: Some(m) }),
            _ => Err(format!(
                "ERR wrong number of arguments for '{}' command",
                if echo { "echo" } else { "ping" }
            )),
        }
    }

    /// Replies.
    pub fn apply(&self, _: &mut Locked<'_>, out: &mut Vec<u8>, _: &Log) {
        match self.message {
            None => resp::put_simple(out, "PONG"),
            Some(m) => resp::put_bulk(out, Some(m)),
        }
    }
}
