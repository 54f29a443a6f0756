//! The node's image in QEMU `virt`'s second CFI flash bank (pflash unit
//! 1, at 0x2200_0000, 32 MiB of 256 KiB sectors; `-drive
//! if=pflash,format=raw,unit=1,file=...` backs it with a file, which
//! QEMU writes through, so it survives a kill and a restart).
//!
//! Sector 0 holds the config block (`KEVY1 <cluster password> <admin
//! password>\n`, written by cluster.sh). Sectors 1 and 2 are the image's
//! two slots (format in `kevy_net::cluster`): a persist erases the older
//! slot, programs the image, then the header, the magic word last, and
//! reads it back; a write cut short leaves the other slot, which boot
//! then restores (that image's steps were never acknowledged). Without a
//! drive QEMU gives the bank zero-filled RAM: blank, a first boot, and
//! nothing survives.
//!
//! The bank reads as memory in read-array mode; a program or an erase is
//! a command written to it (Intel/Sharp command set, QEMU's
//! pflash_cfi01), then `0xFF` back to read-array mode.

use core::ptr::{read_volatile, write_volatile};

use kevy_net::cluster::{
    Crc, HEADER, Pick, Slot, header, header_of, header_words, pick, read_slot,
};
use kevy_net::commands::{Disk, MAX_KEY, MAX_VALUE, STORE_IMAGE_CAP, Store};
use kevy_scope::{Node, moves::MoveRecords, table::ScopeTable};

const BASE: usize = 0x2200_0000;
const SECTOR: usize = 256 * 1024;
const BANK: usize = 32 * 1024 * 1024;
const SLOTS: [usize; 2] = [SECTOR, 2 * SECTOR];
/// The store's two slots (same record format; the payload is each key
/// and value, a length byte before each).
const STORE_SLOTS: [usize; 2] = [3 * SECTOR, 4 * SECTOR];
/// The longest image kept (a node with 4 records: 44 + 4 * 121 + 4).
pub const IMAGE_CAP: usize = 640;
/// A slot's bytes as read or written: header and image.
pub const SLOT_BYTES: usize = HEADER + IMAGE_CAP;
/// The config block's length.
pub const CONFIG_BYTES: usize = 160;

const CMD_PROGRAM: u32 = 0x0040_0040;
const CMD_ERASE: u32 = 0x0020_0020;
const CMD_CONFIRM: u32 = 0x00D0_00D0;
const CMD_READ_ARRAY: u32 = 0x00FF_00FF;
const CMD_CLEAR_STATUS: u32 = 0x0050_0050;

/// Reads `buf.len()` bytes at `offset` of the bank.
pub fn read(offset: usize, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let at = offset + i;
        if at >= BANK {
            *b = 0xFF;
            continue;
        }
        // SAFETY: an address inside the flash bank QEMU `virt` maps at
        // BASE (always present; RAM-backed without a drive), in
        // read-array mode (every command below ends with READ_ARRAY).
        *b = unsafe { read_volatile((BASE + at) as *const u8) };
    }
}

fn command(offset: usize, value: u32) {
    // SAFETY: a word-aligned address inside the flash bank at BASE; the
    // write is a CFI command or the data of a program command, which
    // change only the bank's contents.
    unsafe { write_volatile((BASE + (offset & !3)) as *mut u32, value) }
}

fn erase(offset: usize) {
    command(offset, CMD_CLEAR_STATUS);
    command(offset, CMD_ERASE);
    command(offset, CMD_CONFIRM);
    command(offset, CMD_READ_ARRAY);
}

fn program(offset: usize, word: u32) {
    command(offset, CMD_PROGRAM);
    command(offset, word);
    command(offset, CMD_READ_ARRAY);
}

/// The image store: which slot holds the newest image.
pub struct Flash {
    /// The newest image's sequence number (0: none yet).
    seq: u32,
    /// The slot the next persist writes (the older one).
    next: usize,
    /// Work buffer: a slot's bytes.
    buf: &'static mut [u8; SLOT_BYTES],
    /// Persists done since boot.
    pub writes: u32,
    /// The store's newest sequence number and the slot written next.
    store_seq: u32,
    store_next: usize,
}

/// What boot found.
pub enum Found<'b> {
    /// No image was ever written.
    Fresh,
    /// The newest valid image.
    Image(&'b [u8]),
    /// Something written, nothing valid.
    Damaged,
}

impl Flash {
    /// Reads both slots; the store, and what it holds (borrowing its
    /// buffer until the caller restores the node).
    pub fn open(buf: &'static mut [u8; SLOT_BYTES]) -> (Self, Pick) {
        let mut slots = [Slot::Blank; 2];
        for (slot, at) in slots.iter_mut().zip(SLOTS) {
            read(at, &mut buf[..]);
            *slot = read_slot(&buf[..]);
        }
        let found = pick(slots[0], slots[1]);
        let (seq, next) = match found {
            Pick::Slot { index, seq, .. } => (seq, index ^ 1),
            _ => (0, 0),
        };
        (
            Self {
                seq,
                next,
                buf,
                writes: 0,
                store_seq: 0,
                store_next: 0,
            },
            found,
        )
    }

    /// The image `pick` chose, read into the work buffer.
    pub fn image(&mut self, found: Pick) -> Found<'_> {
        match found {
            Pick::Fresh => Found::Fresh,
            Pick::Damaged => Found::Damaged,
            Pick::Slot { index, len, .. } => {
                let at = SLOTS.get(index).copied().unwrap_or(SECTOR);
                read(at, &mut self.buf[..]);
                match self.buf.get(HEADER..HEADER + len) {
                    Some(image) => Found::Image(image),
                    None => Found::Damaged,
                }
            }
        }
    }

    /// Restores the store's keys from the newer valid store slot; how many.
    pub fn load_store(&mut self, store: &mut Store) -> usize {
        let slots = STORE_SLOTS.map(scan);
        let (index, seq, len) = match pick(slots[0], slots[1]) {
            Pick::Slot { index, seq, len } => (index, seq, len),
            Pick::Fresh => return 0,
            Pick::Damaged => {
                // Keys the image vouches for may be gone: a scope this
                // node owns starts empty (logged at boot).
                return 0;
            }
        };
        self.store_seq = seq;
        self.store_next = index ^ 1;
        let base = STORE_SLOTS.get(index).copied().unwrap_or(3 * SECTOR) + HEADER;
        let mut at = 0;
        let mut count = 0;
        let mut lens = [0u8; 2];
        let mut key = [0u8; MAX_KEY];
        let mut value = [0u8; MAX_VALUE];
        while at + 2 <= len {
            read(base + at, &mut lens);
            let (kl, vl) = (usize::from(lens[0]), usize::from(lens[1]));
            let (Some(k), Some(v)) = (key.get_mut(..kl), value.get_mut(..vl)) else {
                break;
            };
            read(base + at + 2, k);
            read(base + at + 2 + kl, v);
            if !store.restore(k, v) {
                break;
            }
            count += 1;
            at += 2 + kl + vl;
        }
        count
    }

    /// Wipes both slots (a quarantined node, before its first image).
    pub fn erase_all(&mut self) {
        for at in SLOTS {
            erase(at);
        }
        self.seq = 0;
        self.next = 0;
    }
}

/// Reads a slot's header and checks its payload's CRC, reading the
/// flash piece by piece.
fn scan(at: usize) -> Slot {
    let mut head = [0u8; HEADER];
    read(at, &mut head);
    if head.iter().all(|&b| b == 0xFF) || head.iter().all(|&b| b == 0) {
        return Slot::Blank;
    }
    let Some([magic, seq, len, crc]) = header_words(&head) else {
        return Slot::Damaged;
    };
    let len = len as usize;
    if magic != kevy_net::cluster::SLOT_MAGIC {
        return Slot::Torn;
    }
    if len > STORE_IMAGE_CAP {
        return Slot::Damaged;
    }
    let mut sum = Crc::new();
    let mut chunk = [0u8; 64];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        let piece = chunk.get_mut(..n).unwrap_or_default();
        read(at + HEADER + done, piece);
        sum = sum.update(piece);
        done += n;
    }
    if header_of(seq, len, sum.finish())[3] == crc {
        Slot::Image { seq, len }
    } else {
        Slot::Damaged
    }
}

/// Programs bytes one word at a time from `at` on, keeping the CRC.
struct Writer {
    at: usize,
    word: [u8; 4],
    fill: usize,
    crc: Crc,
    len: usize,
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) {
        self.crc = self.crc.update(bytes);
        self.len += bytes.len();
        for &b in bytes {
            if let Some(slot) = self.word.get_mut(self.fill) {
                *slot = b;
            }
            self.fill += 1;
            if self.fill == 4 {
                program(self.at, u32::from_le_bytes(self.word));
                self.at += 4;
                self.fill = 0;
                self.word = [0xFF; 4];
            }
        }
    }

    fn flush(&mut self) {
        if self.fill > 0 {
            program(self.at, u32::from_le_bytes(self.word));
            self.at += 4;
            self.fill = 0;
        }
    }
}

impl Disk for Flash {
    fn save_store(&mut self, store: &Store) -> bool {
        let seq = self.store_seq.wrapping_add(1);
        let base = STORE_SLOTS
            .get(self.store_next)
            .copied()
            .unwrap_or(3 * SECTOR);
        erase(base);
        let mut w = Writer {
            at: base + HEADER,
            word: [0xFF; 4],
            fill: 0,
            crc: Crc::new(),
            len: 0,
        };
        for (k, v) in store.entries() {
            // Keys and values are at most 64 and 128 bytes: a byte each.
            w.put(&[k.len() as u8, v.len() as u8]);
            w.put(k);
            w.put(v);
        }
        w.flush();
        let words = header_of(seq, w.len, w.crc.finish());
        for i in [1, 2, 3, 0] {
            program(base + i * 4, words.get(i).copied().unwrap_or(0));
        }
        if scan(base) != (Slot::Image { seq, len: w.len }) {
            return false;
        }
        self.store_seq = seq;
        self.store_next ^= 1;
        true
    }

    fn save<T: ScopeTable, R: MoveRecords>(&mut self, node: &Node<T, R>) -> bool {
        let Some(room) = self.buf.get_mut(HEADER..) else {
            return false;
        };
        room.fill(0xFF);
        let Ok(len) = node.encode_image(room) else {
            return false;
        };
        let seq = self.seq.wrapping_add(1);
        let words = header(seq, room.get(..len).unwrap_or_default());
        let at = SLOTS.get(self.next).copied().unwrap_or(SECTOR);
        erase(at);
        let padded = len.div_ceil(4) * 4;
        for (i, chunk) in room.get(..padded).unwrap_or_default().chunks(4).enumerate() {
            let mut w = [0xFF; 4];
            if let Some(d) = w.get_mut(..chunk.len()) {
                d.copy_from_slice(chunk);
            }
            program(at + HEADER + i * 4, u32::from_le_bytes(w));
        }
        // The header last, its magic word last of all: a cut before it
        // leaves no valid record here.
        for i in [1, 2, 3, 0] {
            program(at + i * 4, words.get(i).copied().unwrap_or(0));
        }
        read(at, self.buf.get_mut(..HEADER + padded).unwrap_or_default());
        if read_slot(&self.buf[..]) != (Slot::Image { seq, len }) {
            return false;
        }
        self.seq = seq;
        self.next ^= 1;
        self.writes += 1;
        true
    }
}
