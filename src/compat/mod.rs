//! kevy-scope 1.32.0's API, for servers switching to this crate without
//! rewriting their calls (feature `compat`, which implies `std`).
//!
//! The reference crate's types and signatures: owned [`Scope`]s
//! (`Scope::new(Vec<u8>, String)`), [`OwnershipTable::new`]`(Vec<Scope>)`
//! with its two refusals ([`OwnershipError`]), [`Routing`], and a
//! [`MigrationTable`] used through `&self` from many threads. Underneath
//! they run this crate's prefix search and move records
//! ([`MigrationTableBuf`](crate::MigrationTableBuf)), so routing costs a
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
//! Where this module behaves differently from the reference:
//!
//! - [`Routing`] and [`MigrationError`] are this crate's types: both are
//!   `#[non_exhaustive]` (a `match` needs a `_` arm), and
//!   `MigrationError` has variants the reference lacks.
//! - [`MigrationTable::start`] refuses a `from` or `to` id that breaks the
//!   node-id rule ([`validate_node_id`](crate::validate_node_id)) with
//!   `MigrationError::InvalidNodeId`; the reference stores any string.
//! - `MigrationTable`'s `Debug` prints its records, not two mutexes.
//!
//! Everything else (which tables are refused and which pair an error
//! names, the order of `scopes()`, every verdict, `Display` and `Debug`
//! of scopes, tables and errors) is the reference's, checked against it
//! by `tests/compat_differential.rs`; the reference's own tests run
//! against this module in `tests/compat_reference.rs`.

mod migration;
mod ownership;
mod scope;

pub use self::migration::{MigrationState, MigrationTable};
pub use self::ownership::{OwnershipError, OwnershipTable};
pub use self::scope::Scope;
pub use crate::{MigrationError, Routing};

/// The reference's types cross threads; so do these.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Scope>();
    shareable::<OwnershipTable>();
    shareable::<OwnershipError>();
    shareable::<MigrationTable>();
    shareable::<MigrationState>();
};
