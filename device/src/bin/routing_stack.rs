//! The crate's routing stack without config parsing: a static table, a
//! node's write verdict, the encoded reply. The footprint report compares
//! its flash with `baseline`.
#![no_std]
#![no_main]

use kevy_scope::{MoveTable, Node};
use kevy_scope_device::{PROBE_PEERS, PROBE_TABLE, exit, paint_stack, route_two_keys_and_exit};

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let Ok(node) = Node::new("embed-billing-1", &PROBE_TABLE, MoveTable::<4>::new()) else {
        exit(false)
    };
    route_two_keys_and_exit("routing stack", &node, &PROBE_PEERS)
}
