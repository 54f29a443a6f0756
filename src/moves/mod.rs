//! Moves: the records a node keeps of prefixes moving in and out, the
//! node that decides a write's verdict from them, and the shared form
//! many threads route with.

pub(crate) mod driver;
pub(crate) mod image;
pub(crate) mod messages;
pub(crate) mod node;
pub(crate) mod records;
#[cfg(feature = "alloc")]
pub(crate) mod records_buf;
#[cfg(feature = "std")]
pub(crate) mod shared;
