//! A node's image in NOR flash, and the power-cut check: used by the
//! `embed-billing-1` firmware, the device `suite` program and the host
//! test `tests/power_cut.rs`.
//!
//! The image is the one value of a `sequential-storage` map (key `()`):
//! each persist appends a new CRC-checked item and the newest valid item
//! is the image, so a persist cut short leaves the previous image readable.
//! The flash is reached through `embedded-storage`'s blocking `NorFlash`
//! traits (what a HAL's flash driver implements); [`Blocking`] lifts them
//! to the async traits `sequential-storage` takes, and `embassy-futures`'
//! `block_on` runs its futures, which never wait.
//!
//! [`RamFlash`] is a NOR flash in RAM with the rules of the boards' NOR
//! (erase sets whole pages to `0xFF`; a write can only clear bits) and a
//! power cut armed at the k-th write or erase: the cut operation is
//! skipped, or left half done (torn). It counts writes to words already
//! programmed: `sequential-storage` writes each word once between erases
//! (the `NorFlash` contract), except when it finishes a torn write after a
//! reboot, which flash with ECC words (STM32H7, L4) would refuse.

use embassy_futures::block_on;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use kevy_scope::{
    Epoch, MoveTable, Node, OwnershipTable, Scope,
    moves::{ImageError, MoveId, MoveRecords, Outcome},
    ownership_table,
    table::{NodeIdError, ScopeTable},
};
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage, SerializationError, Value};

/// Room for the largest image of a node with 4 move records: a 44-byte
/// header (32-byte id), 4 records of 121 bytes (48-byte prefix, two
/// 32-byte ids), the checksum.
pub const IMAGE_CAP: usize = 44 + 4 * 121 + 4;

/// A storage error, with the flash's own error inside.
pub type StoreError<F> = sequential_storage::Error<<F as ErrorType>::Error>;

/// The image store over flash `F`: no RAM cache, so a new store after a
/// restart knows only what the flash holds.
pub type ImageStore<F> = MapStorage<(), Blocking<F>, Cache<Uncached, Uncached, Uncached, ()>>;

/// Opens the image store on all of `flash` (whole erase pages, two at
/// least), or `None` when the flash is too small for it.
pub fn open<F: NorFlash>(flash: F) -> Option<ImageStore<F>> {
    let end = u32::try_from(flash.capacity()).ok()?;
    let config = MapConfig::try_new(0..end).ok()?;
    Some(MapStorage::new(
        Blocking(flash),
        config,
        Cache::new_uncached(),
    ))
}

/// Writes `image` as the node's image. `buf` is the store's work buffer
/// ([`IMAGE_CAP`] bytes, word-rounded, is enough).
pub fn save<F: NorFlash>(
    store: &mut ImageStore<F>,
    image: &[u8],
    buf: &mut [u8],
) -> Result<(), StoreError<F>> {
    block_on(store.store_item(buf, &(), &image))
}

/// Erases the store: after the flash proved unreadable at boot, before
/// the node, recovered from its peers, writes its first image.
pub fn erase<F: NorFlash>(store: &mut ImageStore<F>) -> Result<(), StoreError<F>> {
    block_on(store.erase_all())
}

/// The newest image the flash holds (`None`: nothing was ever stored).
pub fn load<'b, F: NorFlash>(
    store: &mut ImageStore<F>,
    buf: &'b mut [u8],
) -> Result<Option<&'b [u8]>, StoreError<F>> {
    block_on(store.fetch_item::<&[u8]>(buf, &()))
}

/// Writes `node`'s image, encoded straight into the store's work buffer
/// `buf`: call it when a step says `must_persist()`, before the reply
/// that follows the step. Returns the image's length.
#[inline(never)]
pub fn persist<T: ScopeTable, R: MoveRecords, F: NorFlash>(
    node: &Node<T, R>,
    store: &mut ImageStore<F>,
    buf: &mut [u8; IMAGE_CAP],
) -> Result<usize, StoreError<F>> {
    block_on(store.store_item(buf, &(), &ImageOf(node)))?;
    Ok(node.image_len())
}

/// A node's image as a stored value: written only (it is read back as
/// bytes, which the node checks as it restores them).
struct ImageOf<'n, T, R>(&'n Node<T, R>);

impl<'a, T: ScopeTable, R: MoveRecords> Value<'a> for ImageOf<'_, T, R> {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        self.0.encode_image(buffer).map_err(|e| match e {
            ImageError::BufferTooSmall { .. } => SerializationError::BufferTooSmall,
            _ => SerializationError::InvalidData,
        })
    }

    fn deserialize_from(_: &'a [u8]) -> Result<(Self, usize), SerializationError>
    where
        Self: Sized,
    {
        Err(SerializationError::InvalidFormat)
    }
}

/// What a node came back with at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Boot {
    /// The flash holds no image: a first boot. Since every reply waits
    /// for its persist, a node that never persisted promised nothing.
    Fresh,
    /// Restored from an image of this many bytes.
    Restored(usize),
    /// The flash or the image could not be read: the node is quarantined
    /// (no scoped write accepted) until it has recovered what it knew
    /// from its peers (`Driver::resume` runs the recovery).
    Quarantined,
}

/// Builds node `id` at boot from what the flash holds.
#[inline(never)]
pub fn boot<T: ScopeTable, R: MoveRecords, F: NorFlash>(
    id: &str,
    table: T,
    moves: R,
    store: &mut ImageStore<F>,
    buf: &mut [u8; IMAGE_CAP],
) -> Result<(Node<T, R>, Boot), NodeIdError> {
    match load(store, buf) {
        Ok(None) => Ok((Node::new(id, table, moves)?, Boot::Fresh)),
        Ok(Some(image)) => {
            let mut node = Node::new(id, table, moves)?;
            // A refused image quarantines the node.
            let boot = match node.restore(image) {
                Ok(()) => Boot::Restored(image.len()),
                Err(_) => Boot::Quarantined,
            };
            Ok((node, boot))
        }
        // Never guess: an unreadable store is an image lost.
        Err(_) => Ok((Node::quarantined(id, table, moves)?, Boot::Quarantined)),
    }
}

/// Lifts a blocking `embedded-storage` flash to the async traits of
/// `embedded-storage-async`: each call finishes before it returns, so
/// the futures never wait.
pub struct Blocking<F>(pub F);

impl<F: ErrorType> ErrorType for Blocking<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> embedded_storage_async::nor_flash::ReadNorFlash for Blocking<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: NorFlash> embedded_storage_async::nor_flash::NorFlash for Blocking<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

/// Why [`RamFlash`] refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashError {
    NotAligned,
    OutOfBounds,
    /// A write that would set a bit (only an erase does).
    SetsBit,
    /// The power was cut during this operation.
    PowerCut,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::SetsBit | Self::PowerCut => NorFlashErrorKind::Other,
        }
    }
}

/// How a cut operation is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CutMode {
    /// Not started: the flash is as before the operation.
    Clean,
    /// Half done: a write programs the first half of its bytes (a torn
    /// word included), an erase clears the first half of its range.
    Torn,
}

/// NOR flash in RAM, `ERASE` bytes a page, 4-byte words, with an optional
/// power cut. A region that survives a reset stands in for the device's
/// flash under QEMU; a plain buffer serves the tests.
pub struct RamFlash<'m, const ERASE: usize> {
    mem: &'m mut [u8],
    /// Writes and erases so far.
    ops: u32,
    /// Erases so far.
    erases: u32,
    /// Writes to words not erased since they were last written.
    reprograms: u32,
    /// The operation (counted from 0) the power is cut at, and how.
    cut: Option<(u32, CutMode)>,
    cut_fired: bool,
}

impl<'m, const ERASE: usize> RamFlash<'m, ERASE> {
    /// Flash over `mem` (whole pages; its bytes are the flash's content).
    pub fn new(mem: &'m mut [u8]) -> Self {
        Self {
            mem,
            ops: 0,
            erases: 0,
            reprograms: 0,
            cut: None,
            cut_fired: false,
        }
    }

    /// Cuts the power at write or erase number `at` (from 0), left `mode`.
    pub fn cut_at(mut self, at: u32, mode: CutMode) -> Self {
        self.cut = Some((at, mode));
        self
    }

    /// Writes and erases done (or attempted) so far.
    pub fn ops(&self) -> u32 {
        self.ops
    }

    /// Erases done (or attempted) so far.
    pub fn erases(&self) -> u32 {
        self.erases
    }

    /// Writes to words that were not blank (programmed before, or torn).
    pub fn reprograms(&self) -> u32 {
        self.reprograms
    }

    /// Whether the armed cut happened.
    pub fn cut_fired(&self) -> bool {
        self.cut_fired
    }

    /// Counts an operation; `Some(mode)` when the power goes now. After a
    /// cut nothing reaches the flash until it is rebuilt (a reboot).
    fn step(&mut self) -> Result<Option<CutMode>, FlashError> {
        if self.cut_fired {
            return Err(FlashError::PowerCut);
        }
        let at = self.ops;
        self.ops += 1;
        match self.cut {
            Some((n, mode)) if n == at => {
                self.cut_fired = true;
                Ok(Some(mode))
            }
            _ => Ok(None),
        }
    }

    fn range(&self, from: u32, len: usize) -> Result<core::ops::Range<usize>, FlashError> {
        let from = usize::try_from(from).map_err(|_| FlashError::OutOfBounds)?;
        let end = from.checked_add(len).ok_or(FlashError::OutOfBounds)?;
        if end > self.mem.len() {
            return Err(FlashError::OutOfBounds);
        }
        Ok(from..end)
    }
}

impl<const ERASE: usize> ErrorType for RamFlash<'_, ERASE> {
    type Error = FlashError;
}

impl<const ERASE: usize> ReadNorFlash for RamFlash<'_, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let range = self.range(offset, bytes.len())?;
        bytes.copy_from_slice(self.mem.get(range).ok_or(FlashError::OutOfBounds)?);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len() / ERASE * ERASE
    }
}

impl<const ERASE: usize> NorFlash for RamFlash<'_, ERASE> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if to < from
            || !(from as usize).is_multiple_of(ERASE)
            || !(to as usize).is_multiple_of(ERASE)
        {
            return Err(FlashError::NotAligned);
        }
        let range = self.range(from, (to - from) as usize)?;
        let cut = self.step()?;
        self.erases += 1;
        let pages = self.mem.get_mut(range).ok_or(FlashError::OutOfBounds)?;
        let done = match cut {
            None => pages.len(),
            Some(CutMode::Clean) => 0,
            Some(CutMode::Torn) => pages.len() / 2,
        };
        pages.iter_mut().take(done).for_each(|b| *b = 0xFF);
        if cut.is_some() {
            return Err(FlashError::PowerCut);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        if !offset.is_multiple_of(4) || !bytes.len().is_multiple_of(4) {
            return Err(FlashError::NotAligned);
        }
        let range = self.range(offset, bytes.len())?;
        let old = self.mem.get(range.clone()).ok_or(FlashError::OutOfBounds)?;
        if old.iter().zip(bytes).any(|(&o, &b)| o & b != b) {
            return Err(FlashError::SetsBit);
        }
        let blank = old.iter().all(|&b| b == 0xFF);
        let cut = self.step()?;
        self.reprograms += u32::from(!blank);
        let words = self.mem.get_mut(range).ok_or(FlashError::OutOfBounds)?;
        let done = match cut {
            None => bytes.len(),
            Some(CutMode::Clean) => 0,
            Some(CutMode::Torn) => bytes.len() / 2,
        };
        for (dst, src) in words.iter_mut().zip(bytes).take(done) {
            *dst &= *src;
        }
        if cut.is_some() {
            return Err(FlashError::PowerCut);
        }
        Ok(())
    }
}

/// The power-cut check's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CutReport {
    /// Persists run, each cut at every one of its write and erase steps.
    pub persists: u32,
    /// Cuts made (one per write or erase step of every persist).
    pub cuts: u32,
    /// After a cut, the flash gave back the image from before the persist...
    pub old_read: u32,
    /// ...or the new one.
    pub new_read: u32,
    /// ...or nothing (only when nothing had been stored yet).
    pub none_read: u32,
    /// Persists that erased a page (the store reclaimed space).
    pub with_erase: u32,
    /// The most write and erase steps one persist took.
    pub max_steps: u32,
    /// Writes to words already programmed (see [`RamFlash`]).
    pub reprograms: u32,
}

/// The first broken promise: persist number, cut step, what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CutFailure {
    pub persist: u32,
    pub cut: u32,
    pub what: &'static str,
}

const NODE: &str = "embed-billing-1";

static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];

type CheckNode = Node<&'static OwnershipTable<'static, 2>, MoveTable<4>>;

/// The node's next move step, cycling through moves out and back so
/// images of several lengths follow one another: a move committed, then
/// the prefix ingested back; a move aborted on the target's answer.
fn next_step(node: &mut CheckNode, step: u32) -> Result<(), &'static str> {
    const PREFIXES: [&[u8]; 3] = [b"app:billing:eu:", b"app:billing:us:east:", b"app:billing:"];
    const TARGETS: [&str; 2] = ["server-eu-1", "embed-billing-backup-2"];
    let cycle = (step / 4) as usize;
    let prefix = PREFIXES[cycle % PREFIXES.len()];
    let to = TARGETS[cycle % TARGETS.len()];
    let epoch = node.epoch();
    let changed = match step % 4 {
        0 => node.start_move(prefix, to).map(|d| d.must_persist()),
        1 => node.commit_move(prefix, epoch).map(|d| d.must_persist()),
        2 => {
            let back = MoveId {
                prefix,
                from: to,
                to: NODE,
                epoch: Epoch::new(epoch.get() + 1),
            };
            node.adopt(&back).map(|d| d.must_persist())
        }
        _ => node
            .start_move(prefix, to)
            .and_then(|d| {
                let epoch = d.into_inner().epoch;
                let fence = Epoch::new(epoch.get() + 2);
                node.resolve_move(prefix, epoch, Outcome::Aborted { fence })
            })
            .map(|d| d.must_persist()),
    };
    match changed {
        Ok(true) => Ok(()),
        Ok(false) => Err("a move step changed nothing"),
        Err(_) => Err("a move step was refused"),
    }
}

/// Runs `persists` persists of a node's successive images on flash `mem`
/// (erased first), each cut at every write or erase step it takes (`mode`
/// says how): after each cut, a store rebuilt from the flash alone
/// (a reboot) must read back exactly the image before the persist or the
/// one being written, never a mix or nothing once one persist succeeded;
/// the node must restore from it, unquarantined, and re-encode the same
/// bytes; and the rebooted store must take the new image and read it
/// back. `snapshot` (as long as `mem`) keeps the flash before each persist.
#[inline(never)]
pub fn power_cut_check<const ERASE: usize>(
    mem: &mut [u8],
    snapshot: &mut [u8],
    persists: u32,
    mode: CutMode,
) -> Result<CutReport, CutFailure> {
    let mut report = CutReport::default();
    let mut node = CheckNode::new(NODE, &TABLE, MoveTable::new()).map_err(|_| CutFailure {
        persist: 0,
        cut: 0,
        what: "node id refused",
    })?;
    let mut old = [0u8; IMAGE_CAP];
    let mut old_len: Option<usize> = None;
    let mut new = [0u8; IMAGE_CAP];
    let mut buf = [0u8; IMAGE_CAP];
    mem.fill(0xFF);
    for n in 0..persists {
        let fail = |cut, what| CutFailure {
            persist: n,
            cut,
            what,
        };
        if n > 0 {
            next_step(&mut node, n - 1).map_err(|what| fail(0, what))?;
        }
        let new_len = node
            .encode_image(&mut new)
            .map_err(|_| fail(0, "image does not encode"))?;
        let new_image = new.get(..new_len).ok_or(fail(0, "image length"))?;
        if snapshot.len() != mem.len() {
            return Err(fail(0, "snapshot and flash differ in length"));
        }
        snapshot.copy_from_slice(mem);
        for k in 0.. {
            mem.copy_from_slice(snapshot);
            let flash = RamFlash::<ERASE>::new(mem).cut_at(k, mode);
            let mut store = open(flash).ok_or(fail(k, "flash too small for the store"))?;
            let saved = persist(&node, &mut store, &mut buf);
            let (Blocking(flash), _) = store.destroy();
            if !flash.cut_fired() {
                // The persist ran to the end: every step of it was cut once.
                saved.map_err(|_| fail(k, "persist failed without a cut"))?;
                report.persists += 1;
                report.max_steps = report.max_steps.max(k);
                report.with_erase += u32::from(flash.erases() > 0);
                report.reprograms += flash.reprograms();
                break;
            }
            if saved.is_ok() {
                return Err(fail(k, "persist claimed success across a power cut"));
            }
            report.cuts += 1;
            // Reboot: a new store, knowing only the flash.
            let mut store = open(RamFlash::<ERASE>::new(mem)).ok_or(fail(k, "store"))?;
            let read = load(&mut store, &mut buf).map_err(|_| fail(k, "flash unreadable"))?;
            let old_image = old_len.and_then(|len| old.get(..len));
            match read {
                Some(image) if image == new_image => report.new_read += 1,
                Some(image) if Some(image) == old_image => report.old_read += 1,
                Some(_) => return Err(fail(k, "read back neither the old nor the new image")),
                None if old_image.is_none() => report.none_read += 1,
                None => return Err(fail(k, "image lost after a successful persist")),
            }
            if let Some(image) = read {
                let mut back = CheckNode::new(NODE, &TABLE, MoveTable::new())
                    .map_err(|_| fail(k, "node id refused"))?;
                back.restore(image)
                    .map_err(|_| fail(k, "read-back image does not restore"))?;
                let mut again = [0u8; IMAGE_CAP];
                let len = back
                    .encode_image(&mut again)
                    .map_err(|_| fail(k, "restored node does not encode"))?;
                if back.is_quarantined() || again.get(..len) != Some(image) {
                    return Err(fail(k, "restored node differs from its image"));
                }
            }
            // The rebooted node persists again: the store takes it.
            persist(&node, &mut store, &mut buf)
                .map_err(|_| fail(k, "persist after the reboot failed"))?;
            let read = load(&mut store, &mut buf).map_err(|_| fail(k, "flash unreadable"))?;
            if read != Some(new_image) {
                return Err(fail(k, "persist after the reboot not read back"));
            }
            let (Blocking(flash), _) = store.destroy();
            report.reprograms += flash.reprograms();
        }
        old.copy_from_slice(&new);
        old_len = Some(new_len);
    }
    Ok(report)
}
