//! The flash file: a host file (QEMU semihosting, `SYS_OPEN`/`SYS_WRITE`)
//! that stands in for the chip's flash, in device-net's layout: a config
//! block, the node's image in two slots, the store in two slots. Every
//! slot is a header (magic, sequence number, length, CRC-32: device-net's
//! `kevy_net::cluster` record) and its payload; at boot the newer valid
//! slot wins.
//!
//! | offset | what |
//! | --- | --- |
//! | 0 | config block: `KEVY1 <cluster password> <admin password>\n` |
//! | 4096, 8192 | the node's image, two slots |
//! | 12288, 16384 | the store, two slots: each key and value with a length byte |
//!
//! A slot is written as a sector of NOR flash would be: its header wiped
//! (the "erase": no magic word, so a write cut short is never read as
//! valid) with the payload behind it, then the header with its magic word
//! last, then read back and checked. A `kill -9` of QEMU between two of
//! these writes leaves the other slot as the newest valid one.

use kevy_net::cluster::{HEADER, Pick, Slot, header, pick, read_slot};
use kevy_net::commands::{Disk, MAX_KEY, MAX_VALUE, STORE_IMAGE_CAP, Store};
use kevy_scope::{Node, moves::MoveRecords, table::ScopeTable};

/// The stand-in's sector: one slot each.
pub const SECTOR: usize = 4096;
/// The config block's length.
pub const CONFIG_BYTES: usize = 160;
/// The node's image slots.
pub const IMAGE_SLOTS: [usize; 2] = [SECTOR, 2 * SECTOR];
/// The store's slots.
pub const STORE_SLOTS: [usize; 2] = [3 * SECTOR, 4 * SECTOR];
/// The whole file.
pub const FILE_BYTES: usize = 5 * SECTOR;
/// The largest image kept (a `Node` of 4 records encodes in less).
pub const IMAGE_CAP: usize = 640;
/// A slot's bytes, header and payload: the store's, the larger.
pub const SLOT_BYTES: usize = HEADER + STORE_IMAGE_CAP;
const _: () = assert!(SLOT_BYTES <= SECTOR && HEADER + IMAGE_CAP <= SECTOR);

/// Random access to the file (semihosting on the device, a `Vec` in tests).
pub trait Medium {
    /// Reads `buf.len()` bytes at `at`; how many were there.
    fn read_at(&mut self, at: usize, buf: &mut [u8]) -> usize;
    /// Writes `bytes` at `at`; `false` when the host refused.
    fn write_at(&mut self, at: usize, bytes: &[u8]) -> bool;
}

/// The store's payload: each key and value with a length byte before
/// each (keys and values are at most 64 and 128 bytes); its length, or
/// `None` when `out` is too short.
pub fn encode_store(store: &Store, out: &mut [u8]) -> Option<usize> {
    let mut at = 0;
    for (k, v) in store.entries() {
        let lens = [u8::try_from(k.len()).ok()?, u8::try_from(v.len()).ok()?];
        for part in [&lens[..], k, v] {
            let end = at + part.len();
            out.get_mut(at..end)?.copy_from_slice(part);
            at = end;
        }
    }
    Some(at)
}

/// Puts the keys of a store payload back; how many. Stops at the first
/// entry that does not fit (the slot's CRC vouched for the bytes).
pub fn decode_store(mut bytes: &[u8], store: &mut Store) -> usize {
    let mut count = 0;
    while let [kl, vl, rest @ ..] = bytes {
        let (kl, vl) = (usize::from(*kl), usize::from(*vl));
        if kl > MAX_KEY || vl > MAX_VALUE {
            break;
        }
        let (Some(k), Some(v)) = (rest.get(..kl), rest.get(kl..kl + vl)) else {
            break;
        };
        if !store.restore(k, v) {
            break;
        }
        count += 1;
        bytes = rest.get(kl + vl..).unwrap_or_default();
    }
    count
}

/// What the file held at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// No image: a first boot.
    Fresh,
    /// An image of this many bytes, restored into the node (or refused
    /// by it: the caller's `restore` result says).
    Image(usize),
    /// A slot that fails its check: quarantine.
    Damaged,
}

/// The node's image and the store in the flash file, as device-net's
/// pflash holds them.
pub struct FileFlash<M: Medium> {
    medium: M,
    buf: [u8; SLOT_BYTES],
    image_seq: u32,
    image_next: usize,
    store_seq: u32,
    store_next: usize,
    /// Slot writes done (images and stores).
    pub writes: u32,
}

impl<M: Medium> FileFlash<M> {
    /// The flash on `medium`; nothing read yet.
    pub fn new(medium: M) -> Self {
        Self {
            medium,
            buf: [0xFF; SLOT_BYTES],
            image_seq: 0,
            image_next: 0,
            store_seq: 0,
            store_next: 0,
            writes: 0,
        }
    }

    /// The config block's bytes.
    pub fn config(&mut self) -> [u8; CONFIG_BYTES] {
        let mut block = [0u8; CONFIG_BYTES];
        self.medium.read_at(0, &mut block);
        block
    }

    /// Reads a slot into the buffer; what it holds.
    fn scan(&mut self, at: usize) -> Slot {
        self.buf.fill(0xFF);
        let n = self.medium.read_at(at, &mut self.buf);
        if n < HEADER {
            return Slot::Blank;
        }
        read_slot(&self.buf)
    }

    fn newest(&mut self, slots: [usize; 2]) -> Pick {
        let [a, b] = slots;
        let (sa, sb) = (self.scan(a), self.scan(b));
        pick(sa, sb)
    }

    /// Restores the newest image into `restore` (the node's
    /// `Node::restore`): what the file held, and `restore`'s verdict.
    pub fn load_image<E>(
        &mut self,
        restore: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> (Boot, Result<(), E>) {
        match self.newest(IMAGE_SLOTS) {
            Pick::Fresh => (Boot::Fresh, Ok(())),
            Pick::Damaged => (Boot::Damaged, Ok(())),
            Pick::Slot { index, seq, len } => {
                self.image_seq = seq;
                self.image_next = index ^ 1;
                let at = IMAGE_SLOTS.get(index).copied().unwrap_or(SECTOR);
                self.scan(at);
                let image = self.buf.get(HEADER..HEADER + len).unwrap_or_default();
                (Boot::Image(len), restore(image))
            }
        }
    }

    /// Restores the newest store's keys; how many (none when no valid
    /// slot: a damaged one is logged by the caller through `Boot`).
    pub fn load_store(&mut self, store: &mut Store) -> usize {
        let Pick::Slot { index, seq, len } = self.newest(STORE_SLOTS) else {
            return 0;
        };
        self.store_seq = seq;
        self.store_next = index ^ 1;
        let at = STORE_SLOTS.get(index).copied().unwrap_or(3 * SECTOR);
        self.scan(at);
        decode_store(
            self.buf.get(HEADER..HEADER + len).unwrap_or_default(),
            store,
        )
    }

    /// Wipes both image slots' headers (a quarantined node, before its
    /// first image).
    pub fn erase_images(&mut self) {
        for at in IMAGE_SLOTS {
            self.medium.write_at(at, &[0xFF; HEADER]);
        }
        self.image_seq = 0;
        self.image_next = 0;
    }

    /// Writes `len` payload bytes from the buffer (after its header) as
    /// record `seq` at `at`: header wiped, payload, header, magic last;
    /// then reads it back.
    fn write_slot(&mut self, at: usize, seq: u32, len: usize) -> bool {
        let words = header(seq, self.buf.get(HEADER..HEADER + len).unwrap_or_default());
        let mut head = [0u8; HEADER];
        for (i, w) in words.iter().enumerate() {
            if let Some(dst) = head.get_mut(i * 4..i * 4 + 4) {
                dst.copy_from_slice(&w.to_le_bytes());
            }
        }
        // The wiped header and the payload in one write (the buffer holds
        // 0xFF before the payload), then the header, its magic word last.
        if let Some(wiped) = self.buf.get_mut(..HEADER) {
            wiped.fill(0xFF);
        }
        let ok = self
            .medium
            .write_at(at, self.buf.get(..HEADER + len).unwrap_or_default())
            && self
                .medium
                .write_at(at + 4, head.get(4..).unwrap_or_default())
            && self.medium.write_at(at, head.get(..4).unwrap_or_default());
        ok && self.scan(at) == (Slot::Image { seq, len })
    }
}

impl<M: Medium> Disk for FileFlash<M> {
    fn save<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>) -> bool {
        self.buf.fill(0xFF);
        let room = self
            .buf
            .get_mut(HEADER..HEADER + IMAGE_CAP)
            .unwrap_or_default();
        let Ok(len) = node.encode_image(room) else {
            return false;
        };
        let seq = self.image_seq.wrapping_add(1);
        let at = IMAGE_SLOTS.get(self.image_next).copied().unwrap_or(SECTOR);
        if !self.write_slot(at, seq, len) {
            return false;
        }
        self.image_seq = seq;
        self.image_next ^= 1;
        self.writes += 1;
        true
    }

    fn save_store(&mut self, store: &Store) -> bool {
        let room = self.buf.get_mut(HEADER..).unwrap_or_default();
        let Some(len) = encode_store(store, room) else {
            return false;
        };
        let seq = self.store_seq.wrapping_add(1);
        let at = STORE_SLOTS
            .get(self.store_next)
            .copied()
            .unwrap_or(3 * SECTOR);
        if !self.write_slot(at, seq, len) {
            return false;
        }
        self.store_seq = seq;
        self.store_next ^= 1;
        self.writes += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kevy_scope::{MoveTable, OwnershipTable, Scope, ownership_table};

    static TABLE: OwnershipTable<'static, 1> =
        ownership_table![Scope::new(b"app:billing:", "embed-billing-1")];

    /// A file in memory; `budget` writes succeed, then every write fails
    /// (a process killed mid-slot: what was written stays).
    struct Mem {
        bytes: Vec<u8>,
        budget: usize,
    }

    impl Medium for &mut Mem {
        fn read_at(&mut self, at: usize, buf: &mut [u8]) -> usize {
            let have = self.bytes.get(at..).unwrap_or_default();
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        }

        fn write_at(&mut self, at: usize, bytes: &[u8]) -> bool {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            if self.bytes.len() < at + bytes.len() {
                self.bytes.resize(at + bytes.len(), 0);
            }
            self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
            true
        }
    }

    fn keys(mem: &mut Mem) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut store = Store::new();
        FileFlash::new(mem).load_store(&mut store);
        let mut all: Vec<_> = store
            .entries()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn store_and_image_survive_a_reopen() {
        let mut mem = Mem {
            bytes: vec![0; FILE_BYTES],
            budget: usize::MAX,
        };
        mem.bytes[..13].copy_from_slice(b"KEVY1 c a\nxxx");
        let node = Node::new("embed-billing-1", &TABLE, MoveTable::<4>::new()).unwrap();
        {
            let mut flash = FileFlash::new(&mut mem);
            assert_eq!(flash.load_store(&mut Store::new()), 0);
            let (boot, _) = flash.load_image(|_| Ok::<(), ()>(()));
            assert_eq!(boot, Boot::Fresh);
            let mut store = Store::new();
            for i in 0..3 {
                assert!(store.restore(format!("app:billing:{i}").as_bytes(), b"v"));
                assert!(flash.save_store(&store));
            }
            assert!(flash.save(&node));
            assert!(flash.save(&node));
            assert_eq!(flash.writes, 5);
        }
        assert_eq!(keys(&mut mem).len(), 3);
        let mut flash = FileFlash::new(&mut mem);
        assert_eq!(&flash.config()[..9], b"KEVY1 c a");
        let mut restored = None;
        let (boot, _) = flash.load_image(|image| {
            restored = Some(image.len());
            Ok::<(), ()>(())
        });
        assert!(matches!(boot, Boot::Image(n) if Some(n) == restored));
    }

    #[test]
    fn a_write_cut_anywhere_keeps_the_last_acknowledged_store() {
        for cut in 0..3 {
            let mut mem = Mem {
                bytes: vec![0; FILE_BYTES],
                budget: usize::MAX,
            };
            let mut store = Store::new();
            {
                let mut flash = FileFlash::new(&mut mem);
                for i in 0..2 {
                    assert!(store.restore(format!("k{i}").as_bytes(), b"old"));
                    assert!(flash.save_store(&store));
                }
            }
            let before = keys(&mut mem);
            mem.budget = cut;
            {
                let mut flash = FileFlash::new(&mut mem);
                flash.load_store(&mut Store::new());
                assert!(store.restore(b"k9", b"new"));
                assert!(!flash.save_store(&store), "cut {cut}");
            }
            mem.budget = usize::MAX;
            assert_eq!(keys(&mut mem), before, "cut {cut}");
        }
    }

    #[test]
    fn a_rotten_slot_is_damaged() {
        let mut mem = Mem {
            bytes: vec![0; FILE_BYTES],
            budget: usize::MAX,
        };
        let node = Node::new("embed-billing-1", &TABLE, MoveTable::<4>::new()).unwrap();
        assert!(FileFlash::new(&mut mem).save(&node));
        mem.bytes[IMAGE_SLOTS[0] + HEADER] ^= 1;
        let (boot, _) = FileFlash::new(&mut mem).load_image(|_| Ok::<(), ()>(()));
        assert_eq!(boot, Boot::Damaged);
    }

    #[test]
    fn store_payload_round_trip_and_bad_bytes() {
        let mut store = Store::new();
        assert!(store.restore(&[b'k'; MAX_KEY], &[b'v'; MAX_VALUE]));
        assert!(store.restore(b"", b""));
        let mut buf = [0u8; STORE_IMAGE_CAP];
        let n = encode_store(&store, &mut buf).unwrap();
        let mut back = Store::new();
        assert_eq!(decode_store(&buf[..n], &mut back), 2);
        assert!(encode_store(&store, &mut buf[..10]).is_none());
        assert_eq!(decode_store(&[200, 1, 1], &mut Store::new()), 0);
        assert_eq!(decode_store(&[3, 1, b'a'], &mut Store::new()), 0);
    }
}
