//! The socket-free part of the embed-billing-1 UART firmware: what it
//! reads from the host through semihosting (its command line, the host's
//! TCP socket table), the layout of the file that stands in for its
//! flash, and the one client stream (its request buffer and login, reset
//! when a new client connects). The RESP parser, the commands and their
//! store are device-net's (`kevy_net`). No I/O, no `unsafe`; built for
//! the firmware and, for its tests, on the host
//! (`cargo test --lib --target x86_64-unknown-linux-gnu`).
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

pub mod args;
pub mod layout;
pub mod sockets;
pub mod stream;
