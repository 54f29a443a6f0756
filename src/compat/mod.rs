//! kevy-scope 1.32.0's API, for servers switching to this crate without
//! rewriting their calls (feature `compat`, which implies `std`).
//!
//! The reference crate's types and signatures: owned [`Scope`]s
//! (`Scope::new(Vec<u8>, String)`), [`OwnershipTable::new`]`(Vec<Scope>)`
//! with its two refusals ([`OwnershipError`]), [`Routing`], and a
//! [`MigrationTable`] used through `&self` from many threads. Underneath
//! they run this crate's prefix search and move records
//! ([`MoveTableBuf`](crate::moves::MoveTableBuf)), so routing costs a
//! hash probe or a binary search, not a scan of every scope.
//!
//! Switching takes one line per `use`:
//!
//! ```
//! // was: use kevy_scope::{OwnershipTable, Scope};
//! use kevy_scope::compat::{OwnershipTable, Scope};
//!
//! let table = OwnershipTable::new(vec![
//!     Scope::new(b"app:billing:".to_vec(), "embed-billing-1".to_string())
//!         .with_fallback("server-eu-1".to_string()),
//! ])
//! .expect("non-overlapping prefixes");
//! assert!(table.route(b"app:billing:1", "embed-billing-1").is_local_writer());
//! ```
//!
//! A server that names the reference's types by full path
//! (`kevy_scope::OwnershipTable`) can keep every line and take this
//! module under the reference's name: `compat/kevy-shim` in this
//! repository is a crate called `kevy-scope`, version 1.32.0, whose root
//! is this module, for a `[patch.crates-io]`. `scripts/kevy.sh` builds
//! the published kevy 1.32.0 server so, with no edit to its sources, and
//! runs its tests.
//!
//! # Node ids
//!
//! This crate's own types take only ids that keep the node-id rule
//! ([`validate_node_id`](crate::table::validate_node_id): 1 to 32 bytes of
//! printable ASCII without `,` `|` `=` `@`), because every id it stores
//! may have to cross a reply, a config line or a peer message. The
//! reference takes any string, and so does this module, everywhere:
//! [`Scope`], [`OwnershipTable`] and [`MigrationTable::start`].
//!
//! A drop-in must not refuse what the server it replaces accepted. kevy's
//! config documents node ids as at most 32 bytes of ASCII but nothing in
//! kevy 1.32.0 enforces it, and its `MOVE-SCOPE` hands the configured
//! ids to `MigrationTable::start` as they are. A server running with a
//! 33-byte id, or one with a space, would after switching fail every
//! `MOVE-SCOPE` with an error it never gave before, and the reference's
//! [`MigrationError`] has no word for it.
//!
//! This crate's records hold ids as [`NodeId`](crate::table::NodeId)s, which
//! only valid ids make, so such an id reaches them only under a
//! stand-in: the [`MigrationTable`] keeps its moves in a native
//! [`MoveTableBuf`](crate::moves::MoveTableBuf), with valid ids as
//! they are and any other (or any valid one starting with `~`) as
//! `~<n>`, the n-th such id the table has seen; every answer spells the
//! id out as it was given. Nothing outside this module sees a stand-in:
//! the one way from the compat table to the native records,
//! [`MigrationTable::into_inner`], spells the ids out and refuses a
//! record whose id breaks the rule
//! ([`InvalidNodeId`](crate::moves::MoveError::InvalidNodeId)). Scopes
//! keep their ids as given: a native table built from them
//! ([`Scope::as_scope`]) checks the ids as it checks any, and a
//! [`Node`](crate::moves::Node) over the compat [`OwnershipTable`] routes with
//! them as the reference does, while its own records, again, take only
//! valid ids.
//!
//! # Where this module behaves differently
//!
//! Every difference from the reference that a caller can observe:
//!
//! - `MigrationTable`'s `Debug` prints its records in the order they were
//!   started (`MigrationTable { records: [("p:", Migrating,
//!   MigrationState { from: "A", to: "B" })] }`), not two `Mutex`es of
//!   `HashMap`s.
//! - [`MigrationTable::commit`] is one atomic step. The reference
//!   releases the in-flight map's mutex before it locks the committed
//!   map; in that gap another thread sees the prefix neither in flight
//!   nor committed, and a `start` of it succeeds, leaving the prefix both
//!   in flight and committed. Here a reader sees the move in flight or
//!   committed, and that `start` gets `AlreadyMigrated`.
//! - [`Routing::misdirected_target`] lends the id for as long as the
//!   table, not just the `Routing` (every use of the reference's
//!   compiles), and `Routing`'s three methods are `const`.
//! - Additions, which change no existing behaviour: `Scope` and
//!   `MigrationState` are also `Hash`; `From` makes the compat `Scope`
//!   and `MigrationState` from this crate's, converts `Routing` both
//!   ways and `MigrationError` into this crate's (`TryFrom` back);
//!   [`Scope::as_scope`] and [`MigrationTable::into_inner`] lend or hand
//!   over the native forms;
//!   `OwnershipTable` implements [`ScopeTable`](crate::table::ScopeTable) and
//!   [`ScopeTable`](crate::table::ScopeTable), so a native `Node`,
//!   [`boot_report`](crate::config::boot_report) and the transaction guard take
//!   it.
//! - Costs change, results do not. A key is routed with a hash probe or
//!   a binary search, not a scan of every scope; `OwnershipTable::new`
//!   takes O(n log n), not O(n²), and keeps a second copy of each
//!   prefix; `MigrationTable` lookups share a read lock and run in
//!   parallel, where the reference runs every call alone under a mutex;
//!   an id the node-id rule refuses costs the migration table one stored
//!   string per distinct id, for the table's life.
//! - Building needs Rust 1.88 and brings `heapless`, `hashbrown` and
//!   `arc-swap`; the reference has no dependencies.
//!
//! Everything else is the reference's, checked against it by
//! `tests/compat_differential.rs` on random input, ids the rule refuses
//! included: the types and their variants (`Routing`, `MigrationError`
//! and `OwnershipError` exhaustive, as published), which tables are
//! refused and which pair an error names, the order of `scopes()`, every
//! verdict and every answer of the migration table, `Debug` of scopes,
//! ownership tables, verdicts and errors, and `Display` of errors. The
//! reference's own tests run
//! against this module in `tests/compat_reference.rs`, and kevy 1.32.0's
//! in `scripts/kevy.sh`.

mod migration;
mod ownership;
mod routing;
mod scope;

pub use self::migration::{MigrationError, MigrationState, MigrationTable};
pub use self::ownership::{OwnershipError, OwnershipTable};
pub use self::routing::Routing;
pub use self::scope::Scope;

/// The reference's types cross threads; so do these.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Scope>();
    shareable::<OwnershipTable>();
    shareable::<OwnershipError>();
    shareable::<MigrationTable>();
    shareable::<MigrationState>();
    shareable::<MigrationError>();
    shareable::<Routing<'static>>();
};
