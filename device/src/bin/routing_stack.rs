//! The crate's routing stack without config parsing: a static table, a
//! node's write verdict, the encoded reply. The footprint report compares
//! its flash with `baseline`.
#![no_std]
#![no_main]

use core::hint::black_box;

use kevy_scope::{
    MAX_REPLY_LEN, MigrationTable, Node, OwnershipTable, PeerAddr, Scope, ownership_table,
};
use kevy_scope_device::{exit, paint_stack, stack_high_water};

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];
static PEERS: [(&str, PeerAddr<'static>); 2] = [
    ("embed-billing-1", PeerAddr::new("10.0.0.1", 6379)),
    ("embed-auth-1", PeerAddr::new("fd00::3", 6004)),
];

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let Ok(node) = Node::new("embed-billing-1", &TABLE, MigrationTable::<4>::new()) else {
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
            .encode_reply(&PEERS, &mut buf)
            .map_or(0, <[u8]>::len);
    }
    defmt::info!(
        "routing stack: {=usize} reply bytes; stack high-water {=usize} B",
        replied,
        stack_high_water()
    );
    exit(replied == "-MISDIRECTED writer is [fd00::3]:6004\r\n".len())
}
