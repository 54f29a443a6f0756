//! The crate's routing stack without config parsing: a static table, a
//! node's write verdict, the encoded reply. The footprint report compares
//! its flash with `baseline`.
#![no_std]
#![no_main]

use kevy_scope::{MigrationTable, Node, OwnershipTable, PeerAddr, Scope, ownership_table};
use kevy_scope_device::{exit, paint_stack, route_two_keys_and_exit};

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];
static PEERS: [(&str, PeerAddr<'static>); 2] = [
    ("embed-billing-1", PeerAddr::new("10.0.0.1", 6379)),
    ("embed-auth-1", PeerAddr::new("fd00::3", 6004)),
];

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let Ok(node) = Node::new("embed-billing-1", &TABLE, MigrationTable::<4>::new()) else {
        exit(false)
    };
    route_two_keys_and_exit("routing stack", &node, &PEERS)
}
