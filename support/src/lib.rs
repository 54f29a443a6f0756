//! What kevy-scope's host tests, its device suites under QEMU and the
//! `embed-billing-1` firmware share, so that each runs the same code:
//!
//! - [`vectors`]: the test vectors, run by `tests/vectors.rs` on the host
//!   and by the device suite on every board;
//! - [`flash`]: a node's image in NOR flash through `sequential-storage`,
//!   with a RAM flash that cuts the power at any write, used by the
//!   firmware, the device suite and `tests/power_cut.rs`.
//!
//! No heap, no std.
#![no_std]
#![forbid(unsafe_code)]

pub mod flash;
pub mod vectors;

/// The NorFlash traits [`flash`] is written against, for callers that
/// reach a flash directly.
pub use embedded_storage;
