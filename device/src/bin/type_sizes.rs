//! The size of every public no_std type on this target, for the footprint
//! report (the crate's const assertions hold the same figures).
#![no_std]
#![no_main]

use core::mem::size_of;

use kevy_scope::{
    Driver, Epoch, MoveTable, Node, NodeId, OwnershipTable, Routing, Scope, WriteVerdict,
    config::{BootWarning, ConfigError, ConfigErrorKind, Entry, Peer, PeerTable},
    driver::{Answer, DriverError, Effect, MoveReply, Request, Timing},
    moves::{
        Announcement, Durable, Handover, ImageError, Ingest, MoveError, MoveId, MoveStatus,
        Outcome, Phase, Started,
    },
    table::{CrossScopeError, GroupError, NodeIdError, OwnershipError},
    wire::{
        BufferTooSmall, NewsList, NoPeers, PeerAddr, PeerReply, PeerRequest, PeerWireError,
        Refusal, ReplyError,
    },
};
use kevy_scope_device::exit;

type Table = OwnershipTable<'static, 16>;

#[kevy_scope_device::entry]
fn main() -> ! {
    let sizes: [(&str, usize); 46] = [
        ("Scope", size_of::<Scope<'static>>()),
        ("OwnershipTable<16>", size_of::<Table>()),
        ("OwnershipError", size_of::<OwnershipError<'static>>()),
        ("Routing", size_of::<Routing<'static>>()),
        ("NodeId", size_of::<NodeId>()),
        ("NodeIdError", size_of::<NodeIdError>()),
        ("Phase", size_of::<Phase>()),
        ("Handover", size_of::<Handover>()),
        ("MoveTable<4>", size_of::<MoveTable<4>>()),
        ("MoveError", size_of::<MoveError>()),
        (
            "Node<&OwnershipTable<16>, MoveTable<4>>",
            size_of::<Node<&'static Table, MoveTable<4>>>(),
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
        ("Driver<4, 4>", size_of::<Driver<4, 4>>()),
        ("Driver<8, 16>", size_of::<Driver<8, 16>>()),
        ("Timing", size_of::<Timing>()),
        ("Request", size_of::<Request<'static>>()),
        ("Answer", size_of::<Answer>()),
        ("Effect", size_of::<Effect<'static>>()),
        ("MoveReply", size_of::<MoveReply>()),
        ("DriverError", size_of::<DriverError>()),
        ("PeerRequest", size_of::<PeerRequest<'static>>()),
        ("PeerReply", size_of::<PeerReply<'static>>()),
        ("Refusal", size_of::<Refusal>()),
        ("PeerWireError", size_of::<PeerWireError>()),
        ("BufferTooSmall", size_of::<BufferTooSmall>()),
        ("NewsList", size_of::<NewsList<'static>>()),
    ];
    for (name, size) in sizes {
        defmt::info!("size {=str} {=usize}", name, size);
    }
    exit(true)
}
