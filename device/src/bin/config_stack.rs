//! The crate's routing stack with config parsing: parse a `scopes` and a
//! `peers` value, judge writes with a node's verdict, encode the reply. The
//! footprint report compares its flash with `baseline`.
#![no_std]
#![no_main]

use core::hint::black_box;

use kevy_scope::{MAX_REPLY_LEN, MigrationTable, Node, PeerTable, parse_scopes};
use kevy_scope_device::{exit, paint_stack, stack_high_water};

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let scopes = black_box("app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1");
    let peers = black_box("embed-billing-1@10.0.0.1:6004:6379, embed-auth-1@[fd00::3]:6004");
    let (Ok(table), Ok(peers)) = (parse_scopes::<16>(scopes), PeerTable::<8>::parse(peers)) else {
        exit(false)
    };
    let Ok(node) = Node::new("embed-billing-1", &table, MigrationTable::<4>::new()) else {
        exit(false)
    };
    let mut buf = [0u8; MAX_REPLY_LEN];
    let mut replied = 0;
    for key in [
        black_box(&b"app:auth:user:7"[..]),
        black_box(b"app:billing:1"),
    ] {
        let verdict = node.verdict(key, |id| black_box(id) == "nobody");
        replied += verdict
            .encode_reply(&peers, &mut buf)
            .map_or(0, <[u8]>::len);
    }
    defmt::info!(
        "config stack: {=usize} reply bytes; stack high-water {=usize} B",
        replied,
        stack_high_water()
    );
    exit(replied == "-MISDIRECTED writer is [fd00::3]:6004\r\n".len())
}
