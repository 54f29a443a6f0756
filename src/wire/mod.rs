//! What crosses the wire: the `scopes` and `peers` config values, the
//! replies to refused writes, and the node-to-node messages of a move.

pub(crate) mod config;
pub(crate) mod peer;
pub(crate) mod peers;
pub(crate) mod reply;
