//! Move records without a capacity bound, for servers (`alloc`).

use alloc::boxed::Box;
use core::fmt;

use hashbrown::HashMap;

use crate::migration::{
    MigrationError, MigrationState, MoveRecords, Phase, Record, RecordRef, advance, debug_records,
    exact, longest_match, record_api, remove, sealed, start,
};

/// A prefix's outgoing and incoming record.
#[derive(Clone, Default)]
struct Slot {
    outgoing: Option<Record>,
    incoming: Option<Record>,
}

/// [`MigrationTable`](crate::MigrationTable) without bounds: any number of
/// records, prefixes of any length, kept in a hash map by prefix.
///
/// ```
/// use kevy_scope::{MigrationError, MigrationTableBuf};
/// let mut t = MigrationTableBuf::new();
/// let long_prefix = vec![b'p'; 200];
/// t.start(&long_prefix, "A", "B")?;
/// assert!(t.match_migrating(&[long_prefix.as_slice(), b"key"].concat()).is_some());
/// # Ok::<(), MigrationError>(())
/// ```
#[derive(Clone, Default)]
pub struct MigrationTableBuf {
    slots: HashMap<Box<[u8]>, Slot>,
}

impl sealed::Sealed for MigrationTableBuf {}

impl MoveRecords for MigrationTableBuf {
    type Prefix = Box<[u8]>;

    fn owned_prefix(prefix: &[u8]) -> Option<Box<[u8]>> {
        Some(prefix.into())
    }

    fn records(&self) -> impl Iterator<Item = RecordRef<'_>> {
        self.slots.iter().flat_map(|(prefix, slot)| {
            let prefix: &[u8] = prefix;
            slot.outgoing
                .iter()
                .chain(slot.incoming.iter())
                .map(move |record| RecordRef { prefix, record })
        })
    }

    fn insert(&mut self, prefix: &[u8], record: Record) -> Result<(), MigrationError> {
        let slot = self.slots.entry(prefix.into()).or_default();
        if record.phase.is_outgoing() {
            slot.outgoing = Some(record);
        } else {
            slot.incoming = Some(record);
        }
        Ok(())
    }

    fn get_mut(&mut self, prefix: &[u8], outgoing: bool) -> Option<&mut Record> {
        let slot = self.slots.get_mut(prefix)?;
        if outgoing {
            slot.outgoing.as_mut()
        } else {
            slot.incoming.as_mut()
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(RecordRef<'_>) -> bool) {
        self.slots.retain(|prefix, slot| {
            for side in [&mut slot.outgoing, &mut slot.incoming] {
                if side
                    .as_ref()
                    .is_some_and(|record| !keep(RecordRef { prefix, record }))
                {
                    *side = None;
                }
            }
            slot.outgoing.is_some() || slot.incoming.is_some()
        });
    }
}

impl MigrationTableBuf {
    /// An empty table.
    ///
    /// ```
    /// # use kevy_scope::MigrationTableBuf;
    /// assert!(MigrationTableBuf::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    record_api!();
}

impl fmt::Debug for MigrationTableBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_records(self, f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for MigrationTableBuf {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "MigrationTableBuf {{ records: {=usize} }}", self.len());
    }
}
