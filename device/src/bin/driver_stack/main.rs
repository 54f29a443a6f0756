//! The image stack of `image-stack` plus a host of the crate's move
//! `Driver` (`Driver::new`, `resume`, `start`, `answer`, `recovered`,
//! `persisted`, `persisting`, `must_persist`, `poll` and every `Effect`;
//! the story is in host.rs): a recovery, then a move that aborts. The
//! footprint report compares its flash with `image-stack`.
#![no_std]
#![no_main]

mod host;

use kevy_scope_device::{PROBE_PEERS, paint_stack, route_two_keys_and_exit};

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let node = host::run();
    route_two_keys_and_exit("driver stack", &node, &PROBE_PEERS)
}
