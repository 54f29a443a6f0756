//! The size of every public no_std type on this target, for the footprint
//! report (the crate's const assertions hold the same figures).
#![no_std]
#![no_main]

use core::mem::size_of;

use kevy_scope::{
    Announcement, BootWarning, ConfigError, ConfigErrorKind, CrossScopeError, Durable, Entry,
    Epoch, GroupError, ImageError, Ingest, MigrationError, MigrationState, MigrationTable, MoveId,
    MoveStatus, NoPeers, Node, NodeId, NodeIdError, Outcome, OwnershipError, OwnershipTable, Peer,
    PeerAddr, PeerTable, Phase, ReplyError, Routing, Scope, Started, WriteVerdict,
};
use kevy_scope_device::exit;

type Table = OwnershipTable<'static, 16>;

#[kevy_scope_device::entry]
fn main() -> ! {
    let sizes: [(&str, usize); 32] = [
        ("Scope", size_of::<Scope<'static>>()),
        ("OwnershipTable<16>", size_of::<Table>()),
        ("OwnershipError", size_of::<OwnershipError<'static>>()),
        ("Routing", size_of::<Routing<'static>>()),
        ("NodeId", size_of::<NodeId>()),
        ("NodeIdError", size_of::<NodeIdError>()),
        ("Phase", size_of::<Phase>()),
        ("MigrationState", size_of::<MigrationState>()),
        ("MigrationTable<4>", size_of::<MigrationTable<4>>()),
        ("MigrationError", size_of::<MigrationError>()),
        (
            "Node<&OwnershipTable<16>, MigrationTable<4>>",
            size_of::<Node<&'static Table, MigrationTable<4>>>(),
        ),
        ("WriteVerdict", size_of::<WriteVerdict<'static>>()),
        ("Epoch", size_of::<Epoch>()),
        ("MoveId", size_of::<MoveId<'static>>()),
        ("Announcement", size_of::<Announcement<'static>>()),
        ("MoveStatus", size_of::<MoveStatus>()),
        ("Outcome", size_of::<Outcome>()),
        ("Ingest", size_of::<Ingest>()),
        ("Started", size_of::<Started>()),
        ("Durable<Started>", size_of::<Durable<Started>>()),
        ("ImageError", size_of::<ImageError>()),
        ("PeerAddr", size_of::<PeerAddr<'static>>()),
        ("NoPeers", size_of::<NoPeers>()),
        ("ReplyError", size_of::<ReplyError>()),
        ("Peer", size_of::<Peer<'static>>()),
        ("PeerTable<8>", size_of::<PeerTable<'static, 8>>()),
        ("Entry", size_of::<Entry>()),
        ("ConfigErrorKind", size_of::<ConfigErrorKind<'static>>()),
        ("ConfigError", size_of::<ConfigError<'static>>()),
        ("BootWarning", size_of::<BootWarning<'static>>()),
        ("CrossScopeError", size_of::<CrossScopeError<'static>>()),
        ("GroupError", size_of::<GroupError>()),
    ];
    for (name, size) in sizes {
        defmt::info!("size {=str} {=usize}", name, size);
    }
    exit(true)
}
