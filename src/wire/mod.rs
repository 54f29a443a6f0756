//! What crosses the wire: the `scopes` and `peers` config values and the
//! replies to refused writes.

pub(crate) mod config;
pub(crate) mod peers;
pub(crate) mod reply;
