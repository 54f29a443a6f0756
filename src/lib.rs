//! kevy-scope decides, for every write a kevy node receives, whether this
//! node accepts it or which node the client must follow.
//!
//! A *scope* is a key prefix (`app:billing:`) owned by exactly one writer
//! node, with an optional fallback node that accepts writes while the
//! writer is down. A write on the wrong node is answered
//! `-MISDIRECTED writer is <host:port>`.
//!
//! The crate is pure data: it decides, the server or firmware acts. It is
//! `#![no_std]` in every build and needs no allocator by default.
//!
//! # Modules
//!
//! One concept per module, each importing only the ones above it in this
//! list; the headline types are also at the root.
//!
//! - [`table`]: the static ownership table. [`Scope`] and
//!   [`OwnershipTable`], built from borrowed data in a `static`
//!   ([`ownership_table!`], a bad table fails the build), from a config
//!   string in place, or from an iterator; validated once, so a table that
//!   exists is valid. [`Routing`] is its verdict for one key; [`NodeId`]
//!   and the node-id rule; the cross-scope guard of MULTI/EXEC.
//! - [`moves`]: what a node knows of prefixes moving in and out.
//!   [`MoveTable`] holds the records (fixed capacity, no heap); [`Node`]
//!   decides a write's [`WriteVerdict`] from them and the table, and runs
//!   every step of a move under the [`Epoch`] rules; the messages nodes
//!   exchange about moves; the records as a durable image; `SharedNode`
//!   (`std`) for many threads.
//! - [`wire`]: the node-to-node messages of a move, encoded into a
//!   caller's buffer and decoded in place, and the `-MISDIRECTED` /
//!   `-QUIESCED` replies to refused writes.
//! - [`driver`]: the sans-IO [`Driver`] that runs moves and recovery for
//!   any host: events in, effects (persist, send, reply, retry) out.
//! - [`config`]: the `scopes` and `peers` config values, parsed in place,
//!   with errors that name the entry and its span.
//! - `compat` (feature `compat`): kevy-scope 1.32.0's API over this
//!   crate's search and records, for servers switching without rewriting
//!   their calls.
//!
//! A device typically touches [`ownership_table!`] or
//! [`config::parse_scopes`], [`Node::verdict`] and
//! [`WriteVerdict::encode_reply`]; one that takes part in moves feeds a
//! [`Driver`] its events and carries out the effects it hands back.
//!
//! # Quick start
//!
//! ```
//! use kevy_scope::{OwnershipTable, Routing, Scope};
//!
//! let table = OwnershipTable::from_array([
//!     Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
//!     Scope::new(b"app:auth:", "embed-auth-1"),
//! ])
//! .expect("non-overlapping prefixes");
//!
//! // The writer accepts its own keys.
//! assert!(table.route(b"app:billing:invoice:42", "embed-billing-1").is_local_writer());
//! // The fallback redirects while the writer is up...
//! assert!(matches!(
//!     table.route(b"app:billing:invoice:42", "server-eu-1"),
//!     Routing::Misdirected { target: "embed-billing-1" }
//! ));
//! // ...and accepts while it is down.
//! let down = |id: &str| id == "embed-billing-1";
//! assert!(table
//!     .route_with_fallback_state(b"app:billing:invoice:42", "server-eu-1", down)
//!     .is_local_writer());
//! ```
//!
//! # Features
//!
//! - `alloc`: `OwnershipTableBuf` and `MoveTableBuf`, owned and
//!   unbounded, for servers that read their config at runtime.
//! - `std`: implies `alloc`; `SharedNode`, lock-free verdicts for many
//!   threads.
//! - `defmt`: `defmt::Format` for every public type.
//! - `compat`: implies `std`; `kevy_scope::compat`, the reference crate's
//!   API as a drop-in.
//!
//! # Minimum Rust version
//!
//! 1.88, set by heapless 0.9.4, whose `const` `Vec::from_array` builds static tables.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod bytes;
#[cfg(feature = "compat")]
pub mod compat;
pub mod config;
pub mod driver;
pub mod moves;
#[doc(hidden)]
pub mod mutants;
pub mod table;
pub mod wire;

pub use driver::Driver;
pub use moves::{Epoch, MoveTable, Node, WriteVerdict};
pub use table::{NodeId, OwnershipTable, Routing, Scope};

/// The README's examples run as doctests, in builds with every feature
/// they use (`compat` implies `std` and `alloc`).
#[cfg(all(doctest, feature = "compat"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The examples of docs/protocol.md.
#[cfg(all(doctest, feature = "compat"))]
#[doc = include_str!("../docs/protocol.md")]
struct ProtocolDoctests;

/// The examples of docs/routing.md.
#[cfg(all(doctest, feature = "compat"))]
#[doc = include_str!("../docs/routing.md")]
struct RoutingDoctests;

/// The examples of docs/switching.md.
#[cfg(all(doctest, feature = "compat"))]
#[doc = include_str!("../docs/switching.md")]
struct SwitchingDoctests;

/// The public types stay shareable across threads.
const _: () = {
    #[allow(unused_imports)]
    use crate::{config::*, driver::*, moves::*, table::*, wire::*};
    const fn shareable<T: Send + Sync>() {}
    shareable::<Scope<'static>>();
    shareable::<OwnershipTable<'static, 4>>();
    shareable::<Routing<'static>>();
    shareable::<OwnershipError<'static>>();
    shareable::<NodeId>();
    shareable::<MoveTable<4>>();
    shareable::<Node<OwnershipTable<'static, 4>, MoveTable<4>>>();
    shareable::<MoveId<'static>>();
    shareable::<Announcement<'static>>();
    shareable::<Durable<Started>>();
    shareable::<ImageError>();
};

/// Footprint on the 32-bit targets, checked by every cross-build: a
/// scope is three borrowed slices (24 bytes) and a table adds only its
/// length (4 bytes) to its scopes. Every public `no_std` type is here;
/// the device program `type-sizes` prints the same figures.
#[cfg(target_pointer_width = "32")]
const _: () = {
    #[allow(unused_imports)]
    use crate::{config::*, driver::*, moves::*, table::*, wire::*};
    use core::mem::size_of;
    assert!(size_of::<Scope<'static>>() == 24);
    // Its scopes, their length, and the hash index: two `u16` slots per
    // scope and a 10-byte header, padded to 12 on bare metal; 32-bit
    // hosts (i686, wasm32) add the levels (6) and the pick (4).
    let header = if cfg!(any(target_os = "none", kevy_device)) {
        12
    } else {
        20
    };
    assert!(size_of::<OwnershipTable<'static, 16>>() == 4 + 16 * 24 + 16 * 4 + header);
    assert!(size_of::<Routing<'static>>() == 12);
    assert!(size_of::<NodeId>() == 33);
    // A record: 48-byte prefix and its length, phase, epoch, two ids;
    // then the records' length and their sieve.
    assert!(size_of::<MoveTable<4>>() == 4 * 124 + 12);
    assert!(size_of::<WriteVerdict<'static>>() == 12);
    assert!(size_of::<OwnershipError<'static>>() == 24);
    assert!(size_of::<NodeIdError>() == 8);
    assert!(size_of::<Phase>() == 1);
    assert!(size_of::<Handover>() == 66);
    assert!(size_of::<MoveError>() == 12);
    assert!(size_of::<Node<&OwnershipTable<'static, 16>, MoveTable<4>>>() == 560);
    assert!(size_of::<Epoch>() == 4);
    assert!(size_of::<MoveId<'static>>() == 28);
    assert!(size_of::<Announcement<'static>>() == 32);
    assert!(size_of::<Outcome>() == 8);
    assert!(size_of::<Started>() == 40);
    assert!(size_of::<Durable<Started>>() == 44);
    assert!(size_of::<ImageError>() == 12);
    assert!(size_of::<Ingest>() == 1);
    assert!(size_of::<MoveStatus>() == 1);
    assert!(size_of::<PeerAddr<'static>>() == 12);
    assert!(size_of::<NoPeers>() == 0);
    assert!(size_of::<ReplyError>() == 8);
    assert!(size_of::<Peer<'static>>() == 24);
    assert!(size_of::<PeerTable<'static, 8>>() == 8 * (12 + 24) + 4);
    assert!(size_of::<Entry>() == 12);
    assert!(size_of::<ConfigErrorKind<'static>>() == 20);
    assert!(size_of::<ConfigError<'static>>() == 40);
    assert!(size_of::<BootWarning<'static>>() == 28);
    assert!(size_of::<CrossScopeError<'static>>() == 16);
    assert!(size_of::<GroupError>() == 8);
    // A `u64` aligns to 8 on bare metal and to 4 on i686.
    #[cfg(target_os = "none")]
    assert!(size_of::<Driver<4, 4>>() == 496);
    #[cfg(target_os = "none")]
    assert!(size_of::<Driver<8, 16>>() == 1344);
    assert!(size_of::<Timing>() == 24);
    // Its largest variant, news and the sender's epoch, is 36 bytes; an
    // epoch request's `u64` aligns it to 8 on bare metal.
    let wide = if cfg!(target_os = "none") { 4 } else { 0 };
    assert!(size_of::<Request<'static>>() == 36 + wide);
    assert!(size_of::<Answer>() == 8);
    assert!(size_of::<Effect<'static>>() == 44 + wide);
    assert!(size_of::<MoveReply>() == 8);
    assert!(size_of::<DriverError>() == 12);
    assert!(size_of::<PeerRequest<'static>>() == 40);
    assert!(size_of::<PeerReply<'static>>() == 12);
    assert!(size_of::<Refusal>() == 1);
    assert!(size_of::<PeerWireError>() == 12);
    assert!(size_of::<BufferTooSmall>() == 8);
    assert!(size_of::<NewsList<'static>>() == 16);
    // A device node: 16 scopes and 4 move slots within 1 KiB (on bare
    // metal: on i686 the table's host-only index levels take 8 B more).
    #[cfg(target_os = "none")]
    assert!(
        size_of::<OwnershipTable<'static, 16>>()
            + size_of::<Node<&OwnershipTable<'static, 16>, MoveTable<4>>>()
            <= 1024
    );
};
