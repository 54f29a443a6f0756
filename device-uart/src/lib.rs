//! The socket-free part of the embed-billing-1 UART firmware: the frames
//! of the link to the socket chip on UART0 (shared with the chip, the
//! host program in `chip/`), its command line (read through
//! semihosting) and the layout of the file that stands in for its flash. The RESP parser, the commands and their
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
pub mod frame;
pub mod layout;
