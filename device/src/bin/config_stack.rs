//! The crate's routing stack with config parsing: parse a `scopes` and a
//! `peers` value, judge writes with a node's verdict, encode the reply. The
//! footprint report compares its flash with `baseline`.
#![no_std]
#![no_main]

use core::hint::black_box;

use kevy_scope::{
    MoveTable, Node,
    config::{PeerTable, parse_scopes},
};
use kevy_scope_device::{exit, paint_stack, route_two_keys_and_exit};

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let scopes = black_box("app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1");
    let peers = black_box("embed-billing-1@10.0.0.1:6004:6379, embed-auth-1@[fd00::3]:6004");
    // Borrowed where they lie: moving a table out of its `Result` would
    // copy it.
    let table = parse_scopes::<16>(scopes);
    let peers = PeerTable::<8>::parse(peers);
    let (Ok(table), Ok(peers)) = (&table, &peers) else {
        exit(false)
    };
    let Ok(node) = Node::new("embed-billing-1", table, MoveTable::<4>::new()) else {
        exit(false)
    };
    route_two_keys_and_exit("config stack", &node, &peers)
}
