//! The durable image of a node's records: versioned, checksummed bytes
//! in a caller's buffer, decoded back without allocation.
//!
//! ```text
//! "KVSI" | version 2 | id length, id | seen epoch (u32)
//! | the last peer that recovered: its tag (u32), its fence (u32)
//! | record count (u16)
//! each record: phase | epoch (u32) | prefix length (u16), prefix
//!              | from length, from | to length, to
//! CRC-32 (IEEE) of everything before it
//! ```
//!
//! Integers are little-endian. A node restores only its own image: the id
//! inside must be its id. A version 1 image (no recovered peer) restores
//! as one with none.

use core::fmt;

use crate::moves::messages::Epoch;
use crate::moves::node::Node;
use crate::moves::records::{Handover, MoveError, MoveRecords, Phase, Record};
use crate::table::ScopeTable;
use crate::table::node_id::NodeId;

const MAGIC: &[u8; 4] = b"KVSI";
/// The magic and the version, as written.
const HEADER: [u8; 5] = [b'K', b'V', b'S', b'I', IMAGE_VERSION];
/// The first version, without the recovered peer: still read.
const VERSION_1: u8 = 1;
/// The image version this crate writes and reads.
pub const IMAGE_VERSION: u8 = 2;

/// Why an image could not be written or restored. A node that fails to
/// restore is quarantined: it accepts no scoped write until it has
/// recovered its records from its peers
/// ([`Driver::resume`](crate::Driver::resume)).
///
/// ```
/// use kevy_scope::{MoveTable, Node, OwnershipTable, moves::ImageError};
/// let mut n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
/// assert_eq!(n.restore(b"KV"), Err(ImageError::Truncated));
/// assert!(n.is_quarantined());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ImageError {
    /// The buffer is shorter than the image.
    BufferTooSmall {
        /// The image's length.
        needed: usize,
        /// The buffer's length.
        available: usize,
    },
    /// The image ends early.
    Truncated,
    /// Not an image of this crate.
    BadMagic,
    /// Written by a newer version of the format.
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The checksum does not match: the bytes are damaged.
    ChecksumMismatch,
    /// The image belongs to another node.
    ForeignNode,
    /// The checksum matches but a field is out of range (an unknown
    /// phase, a bad id, a repeated prefix, a record at epoch 0, bytes
    /// after the checksum).
    Malformed,
    /// The records do not fit this node's record store.
    Records(MoveError),
    /// The node is quarantined: an image of what it has recovered so far
    /// would be restored as all it knows, so none is written until its
    /// recovery ends.
    Quarantined,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "image needs {needed} bytes, the buffer has {available}")
            }
            Self::Truncated => f.write_str("image is truncated"),
            Self::BadMagic => f.write_str("not a kevy-scope image"),
            Self::UnsupportedVersion { found } => {
                write!(f, "image version {found} is newer than {IMAGE_VERSION}")
            }
            Self::ChecksumMismatch => f.write_str("image checksum does not match"),
            Self::ForeignNode => f.write_str("image belongs to another node"),
            Self::Malformed => f.write_str("image holds a malformed field"),
            Self::Records(e) => write!(f, "image records do not fit: {e}"),
            Self::Quarantined => f.write_str("the node is quarantined: no image until it recovers"),
        }
    }
}

impl core::error::Error for ImageError {}

/// CRC-32 (IEEE, reflected), bit by bit: no table in flash.
#[inline(never)]
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Bytes written into a caller's buffer, or counted when it is `None`.
struct Writer<'b> {
    buf: Option<&'b mut [u8]>,
    len: usize,
}

impl Writer<'_> {
    #[inline(never)]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self
            .buf
            .as_deref_mut()
            .and_then(|b| b.get_mut(self.len..end))
        {
            // Not `copy_from_slice`: its length check brings a panic path.
            for (d, s) in dst.iter_mut().zip(bytes) {
                *d = *s;
            }
        }
        self.len = end;
    }

    #[inline(never)]
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    #[inline(never)]
    fn short(&mut self, bytes: &[u8]) {
        // Only ids go here, and an id is at most 32 bytes.
        self.put(&[bytes.len() as u8]);
        self.put(bytes);
    }
}

/// Bytes read from an image, each read bounded.
struct Reader<'i> {
    rest: &'i [u8],
}

impl<'i> Reader<'i> {
    fn take(&mut self, n: usize) -> Result<&'i [u8], ImageError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(ImageError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    /// A little-endian integer of `n` bytes.
    #[inline(never)]
    fn le(&mut self, n: usize) -> Result<u32, ImageError> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u32::from(x)))
    }

    fn u8(&mut self) -> Result<u8, ImageError> {
        self.take(1)?.first().copied().ok_or(ImageError::Truncated)
    }

    fn u16(&mut self) -> Result<u16, ImageError> {
        self.le(2).map(|v| v as u16)
    }

    fn u32(&mut self) -> Result<u32, ImageError> {
        self.le(4)
    }

    /// A byte string behind a one-byte length.
    fn short(&mut self) -> Result<&'i [u8], ImageError> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    fn id(&mut self) -> Result<NodeId, ImageError> {
        NodeId::from_ascii(self.short()?).ok_or(ImageError::Malformed)
    }
}

/// Set in a record's phase byte for a move in doubt.
const DOUBT: u8 = 0x80;

const fn phase_code(phase: Phase) -> u8 {
    match phase {
        Phase::Moving => 0,
        Phase::Moved => 1,
        Phase::Adopted => 2,
        Phase::Pending => 3,
    }
}

fn phase_of(code: u8) -> Result<Phase, ImageError> {
    Ok(match code {
        0 => Phase::Moving,
        1 => Phase::Moved,
        2 => Phase::Adopted,
        3 => Phase::Pending,
        _ => return Err(ImageError::Malformed),
    })
}

impl<T: ScopeTable, R: MoveRecords> Node<T, R> {
    /// Writes the image (or only counts it, without a buffer).
    fn write_image(&self, w: &mut Writer<'_>) -> Result<(), ImageError> {
        w.put(&HEADER);
        w.short(self.id().as_bytes());
        w.u32(self.seen.get());
        w.u32(self.fenced_by);
        w.u32(self.fenced_at.get());
        let count = self.moves.records().count();
        let count = u16::try_from(count).map_err(|_| ImageError::Malformed)?;
        w.put(&count.to_le_bytes());
        for r in self.moves.records() {
            let prefix_len = u16::try_from(r.prefix.len()).map_err(|_| ImageError::Malformed)?;
            // The top bit: a move in doubt (`Node::fence`).
            let doubt = if r.record.doubt { DOUBT } else { 0 };
            w.put(&[phase_code(r.record.phase) | doubt]);
            w.u32(r.record.epoch.get());
            w.put(&prefix_len.to_le_bytes());
            w.put(r.prefix);
            w.short(r.record.state.from.as_str().as_bytes());
            w.short(r.record.state.to.as_str().as_bytes());
        }
        Ok(())
    }

    /// The length of this node's image in bytes.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable};
    /// let n = Node::new("A", OwnershipTable::<1>::new(), MoveTable::<1>::new()).unwrap();
    /// assert_eq!(n.image_len(), 4 + 1 + 2 + 4 + 8 + 2 + 4);
    /// ```
    #[must_use]
    pub fn image_len(&self) -> usize {
        let mut w = Writer { buf: None, len: 0 };
        match self.write_image(&mut w) {
            Ok(()) => w.len + 4,
            Err(_) => 0,
        }
    }

    /// Encodes this node's records (moves out, adoptions, pending news,
    /// the seen epoch) into `buf`, returning the image's length. Write
    /// `buf[..len]` to stable storage whenever a step says
    /// [`must_persist`](crate::moves::Durable::must_persist). A quarantined node
    /// has no image ([`ImageError::Quarantined`]).
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, moves::ImageError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// let mut buf = [0u8; 128];
    /// let len = a.encode_image(&mut buf)?;
    /// assert_eq!(len, a.image_len());
    /// assert!(matches!(a.encode_image(&mut buf[..8]), Err(ImageError::BufferTooSmall { .. })));
    /// # Ok::<(), ImageError>(())
    /// ```
    pub fn encode_image(&self, buf: &mut [u8]) -> Result<usize, ImageError> {
        if self.quarantined {
            return Err(ImageError::Quarantined);
        }
        let available = buf.len();
        // One pass: bytes past the end are counted, not written.
        let mut w = Writer {
            buf: Some(&mut *buf),
            len: 0,
        };
        self.write_image(&mut w)?;
        let body = w.len;
        let needed = body + 4;
        if needed > available {
            return Err(ImageError::BufferTooSmall { needed, available });
        }
        let crc = crc32(buf.get(..body).ok_or(ImageError::Truncated)?);
        let mut w = Writer {
            buf: Some(buf),
            len: body,
        };
        w.u32(crc);
        Ok(needed)
    }

    /// Restores this node's records from `image` after a restart,
    /// replacing the records it holds. On any error the node is
    /// quarantined (no scoped write accepted, every move step refused)
    /// until it has recovered its records from its peers
    /// ([`Driver::resume`](crate::Driver::resume)): it never guesses.
    ///
    /// ```
    /// # use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, WriteVerdict, moves::ImageError};
    /// let t = OwnershipTable::from_array([Scope::new(b"a:", "A")]).unwrap();
    /// let mut a = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// let _ = a.start_move(b"a:", "B").unwrap();
    /// let mut buf = [0u8; 128];
    /// let len = a.encode_image(&mut buf)?;
    ///
    /// // Power cycle: a fresh node from the static table, then its image.
    /// let mut again = Node::new("A", &t, MoveTable::<2>::new()).unwrap();
    /// again.restore(&buf[..len])?;
    /// assert_eq!(again.verdict(b"a:1", |_| false), WriteVerdict::Quiesced { target: "B" });
    ///
    /// buf[6] ^= 1; // a flipped bit
    /// assert_eq!(again.restore(&buf[..len]), Err(ImageError::ChecksumMismatch));
    /// assert_eq!(again.verdict(b"a:1", |_| false), WriteVerdict::Unavailable);
    /// # Ok::<(), ImageError>(())
    /// ```
    pub fn restore(&mut self, image: &[u8]) -> Result<(), ImageError> {
        self.forget();
        let restored = self.read_image(image);
        self.quarantined = restored.is_err();
        if self.quarantined {
            self.forget();
        }
        restored
    }

    /// Drops every record and the seen epoch.
    #[inline(never)]
    fn forget(&mut self) {
        self.moves.retain(|_| false);
        self.seen = Epoch::ZERO;
        self.fenced_by = 0;
        self.fenced_at = Epoch::ZERO;
    }

    fn read_image(&mut self, image: &[u8]) -> Result<(), ImageError> {
        let body_len = image.len().checked_sub(4).ok_or(ImageError::Truncated)?;
        let (body, crc) = image
            .split_at_checked(body_len)
            .ok_or(ImageError::Truncated)?;
        let mut r = Reader { rest: body };
        if r.take(4)? != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let version = r.u8()?;
        if version != IMAGE_VERSION && version != VERSION_1 {
            return Err(ImageError::UnsupportedVersion { found: version });
        }
        if crc32(body).to_le_bytes() != crc {
            return Err(ImageError::ChecksumMismatch);
        }
        if r.short()? != self.id().as_bytes() {
            return Err(ImageError::ForeignNode);
        }
        let seen = Epoch::new(r.u32()?);
        let (fenced_by, fenced_at) = if version == VERSION_1 {
            (0, Epoch::ZERO)
        } else {
            (r.u32()?, Epoch::new(r.u32()?))
        };
        let count = r.u16()?;
        for _ in 0..count {
            let code = r.u8()?;
            let phase = phase_of(code & !DOUBT)?;
            let doubt = code & DOUBT != 0;
            if doubt && phase != Phase::Moving {
                return Err(ImageError::Malformed);
            }
            let epoch = Epoch::new(r.u32()?);
            let prefix_len = r.u16()?;
            let prefix = r.take(usize::from(prefix_len))?;
            let state = Handover {
                from: r.id()?,
                to: r.id()?,
            };
            if epoch == Epoch::ZERO {
                return Err(ImageError::Malformed);
            }
            let mut record = Record::new(phase, epoch, state);
            record.doubt = doubt;
            self.moves
                .insert(prefix, record)
                .map_err(ImageError::Records)?;
        }
        // A repeated prefix replaced its first record: one record short.
        let repeated = self.moves.records().count() != usize::from(count);
        if repeated || !r.rest.is_empty() {
            return Err(ImageError::Malformed);
        }
        self.seen = seen;
        self.fenced_by = fenced_by;
        self.fenced_at = fenced_at;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
