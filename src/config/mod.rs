//! The `[cluster]` config values, parsed in place: `scopes` into an
//! [`OwnershipTable`](crate::OwnershipTable) borrowing the input, `peers`
//! into a [`PeerTable`]. No heap; every mistake is an error value naming
//! the entry, its byte span and the reason.

pub(crate) mod peers;
pub(crate) mod scopes;

#[cfg(feature = "alloc")]
pub use self::peers::PeerTableBuf;
pub use self::peers::{Peer, PeerTable};
#[cfg(feature = "alloc")]
pub use self::scopes::ConfigErrorBuf;
pub use self::scopes::{
    BootWarning, ConfigError, ConfigErrorKind, Entry, boot_report, parse_scope_entries,
    parse_scopes,
};
