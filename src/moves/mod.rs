//! Moves: the records a node keeps of prefixes moving in and out, the
//! [`Node`] that decides a write's verdict from them and runs every step
//! of a move under the epoch rules, what nodes tell each other about
//! moves, the node's records as a durable image, and (`std`) the shared
//! form many threads route with.

pub(crate) mod image;
pub(crate) mod messages;
pub(crate) mod node;
pub(crate) mod records;
#[cfg(feature = "alloc")]
pub(crate) mod records_buf;
#[cfg(feature = "std")]
pub(crate) mod shared;

pub use self::image::{IMAGE_VERSION, ImageError};
pub use self::messages::{Announcement, Durable, Epoch, Ingest, MoveId, MoveStatus, Outcome};
pub use self::node::{Node, Started, WriteVerdict};
pub use self::records::{Handover, MAX_PREFIX_LEN, MoveError, MoveRecords, MoveTable, Phase};
#[cfg(feature = "alloc")]
pub use self::records_buf::MoveTableBuf;
#[cfg(feature = "std")]
pub use self::shared::{SharedNode, Snapshot};
