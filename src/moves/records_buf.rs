//! Move records without a capacity bound, for servers (`alloc`).

use alloc::boxed::Box;
use core::fmt;

use alloc::vec::Vec;
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::moves::records::{
    Handover, MoveError, MoveRecords, Phase, Record, RecordRef, debug_records, record_api, sealed,
};

/// The most moves out of a node in flight at once with a
/// [`MoveTableBuf`]; `start_move` refuses more as `Full`.
const MAX_IN_FLIGHT: u32 = 4096;

/// [`MoveTable`](crate::moves::MoveTable) without bounds: any number of
/// records, prefixes of any length (and at most 4 096 moves out of the
/// node in flight at once).
///
/// Records sit in a vector, which the write verdict scans (there are few);
/// a hash index finds a prefix's record for the move commands.
///
/// ```
/// use kevy_scope::{Node, Scope, WriteVerdict, moves::{MoveError, MoveTableBuf}, table::OwnershipTableBuf};
/// let long_prefix = vec![b'p'; 200];
/// let t = OwnershipTableBuf::new(vec![Scope::new(&long_prefix, "A")]).unwrap();
/// let mut a = Node::new("A", &t, MoveTableBuf::new()).unwrap();
/// let _ = a.start_move(&long_prefix, "B")?;
/// let key = [long_prefix.as_slice(), b"key"].concat();
/// assert_eq!(a.verdict(&key, |_| false), WriteVerdict::Quiesced { target: "B" });
/// # Ok::<(), MoveError>(())
/// ```
#[derive(Clone, Default)]
pub struct MoveTableBuf {
    records: Vec<(Box<[u8]>, Record)>,
    /// Positions in `records`, by hash of the prefix.
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

impl MoveTableBuf {
    fn position(&self, prefix: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(prefix);
        let records = &self.records;
        self.index
            .find(hash, |&i| {
                records.get(i).is_some_and(|(p, _)| &**p == prefix)
            })
            .copied()
    }

    fn reindex(&mut self) {
        let (records, hasher) = (&self.records, &self.hasher);
        let hash_of = |i: usize| records.get(i).map_or(0, |(p, _)| hasher.hash_one(&**p));
        let mut index = HashTable::with_capacity(records.len());
        for i in 0..records.len() {
            index.insert_unique(hash_of(i), i, |&j| hash_of(j));
        }
        self.index = index;
    }
}

impl sealed::Sealed for MoveTableBuf {}

impl MoveRecords for MoveTableBuf {
    const MAX_PREFIX: usize = usize::MAX;
    const MAX_IN_FLIGHT: u32 = MAX_IN_FLIGHT;

    fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + Clone {
        self.records
            .iter()
            .map(|(prefix, record)| RecordRef { prefix, record })
    }

    fn insert(&mut self, prefix: &[u8], record: Record) -> Result<(), MoveError> {
        if let Some(slot) = self.position(prefix).and_then(|i| self.records.get_mut(i)) {
            slot.1 = record;
            return Ok(());
        }
        self.records.push((prefix.into(), record));
        // Rehashing on growth needs every hash again: rebuild the index.
        self.reindex();
        Ok(())
    }

    fn room_for(&self, _prefix: &[u8]) -> Result<(), MoveError> {
        Ok(())
    }

    fn get_mut(&mut self, prefix: &[u8]) -> Option<&mut Record> {
        let i = self.position(prefix)?;
        self.records.get_mut(i).map(|(_, r)| r)
    }

    fn update(&mut self, mut change: impl FnMut(&mut Record)) {
        self.records
            .iter_mut()
            .for_each(|(_, record)| change(record));
    }

    fn retain(&mut self, mut keep: impl FnMut(RecordRef<'_>) -> bool) {
        let before = self.records.len();
        self.records
            .retain(|(prefix, record)| keep(RecordRef { prefix, record }));
        if self.records.len() != before {
            self.reindex();
        }
    }
}

impl MoveTableBuf {
    /// An empty table.
    ///
    /// ```
    /// # use kevy_scope::moves::MoveTableBuf;
    /// assert!(MoveTableBuf::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    record_api!();
}

impl fmt::Debug for MoveTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_records(self, f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for MoveTableBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "MoveTableBuf {{ records: {=usize} }}", self.len());
    }
}
