//! kevy-scope 1.32.0 as a `[patch.crates-io]` target: every path the
//! published crate offers at its root (`MigrationError`,
//! `MigrationState`, `MigrationTable`, `OwnershipError`,
//! `OwnershipTable`, `Routing`, `Scope`; it has no modules, functions or
//! constants) is the same name in `kevy_scope::compat` of this
//! repository's crate, so a server's `kevy_scope::X` resolves here.
//!
//! ```toml
//! [patch.crates-io]
//! kevy-scope = { path = "<this repository>/compat/kevy-shim" }
//! ```
//!
//! `scripts/kevy.sh` builds the published kevy 1.32.0 server so and runs
//! its tests. What differs from the reference is listed in the compat
//! module's documentation ("Where this module behaves differently").
#![forbid(unsafe_code)]

pub use scope_native::compat::*;
