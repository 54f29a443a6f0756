//! The socket-free part of the embed-billing-1 network firmware: the RESP2
//! parser, the commands and their store, a connection's request buffer.
//! No I/O, no `unsafe`; built for the firmware and, for its tests, on the
//! host (`cargo test --lib --target x86_64-unknown-linux-gnu`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Malformed input must never panic: no indexing, unwrap or panic outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod cluster;
pub mod commands;
pub mod conn;
pub mod meter;
pub mod node;
pub mod resp;
