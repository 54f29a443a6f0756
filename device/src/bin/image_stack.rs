//! The routing stack of `routing-stack` plus the node's durable image:
//! encoded into a buffer and restored from it, as a node does around a
//! restart. The footprint report compares its flash with `routing-stack`.
#![no_std]
#![no_main]

use core::hint::black_box;

use kevy_scope::{MoveTable, Node};
use kevy_scope_device::{PROBE_PEERS, PROBE_TABLE, exit, paint_stack, route_two_keys_and_exit};

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let Ok(mut node) = Node::new("embed-billing-1", &PROBE_TABLE, MoveTable::<4>::new()) else {
        exit(false)
    };
    let mut image = [0u8; 128];
    let Ok(len) = node.encode_image(black_box(&mut image)) else {
        exit(false)
    };
    let image = image.get(..len).unwrap_or(&[]);
    if node.restore(black_box(image)).is_err() {
        exit(false)
    }
    route_two_keys_and_exit("image stack", &node, &PROBE_PEERS)
}
