//! The hash index of a fixed-capacity table: a key's scope in one hash of
//! a few bytes and, almost always, one probe, without a heap.
//!
//! Every prefix is at least `head` bytes long (the shortest prefix's
//! length), so a key can only fall in a scope whose first `head` bytes
//! are the key's first `head` bytes. Each scope is filed under the hash
//! of its first `head` bytes; scopes sharing them (possible only when
//! prefixes differ in length) share a hash and sit in successive slots.
//!
//! The bytes every head shares (the *stem*, `app:svc000` in a table of
//! `app:svc00042:`) tell no scope from another, so only the bytes after
//! it are hashed: three or four bytes in tables like that.
//!
//! Where more than a few scopes share a head (`tenant-1:` .. `tenant-99999:`
//! has 100 heads of 9 bytes), a host index also files scopes at *levels*:
//! the longer lengths most prefixes have. A scope sits under the hash of
//! its first `level` bytes (the longest level it reaches, else the head),
//! and a key is hashed at each level it reaches, then at the head.
//!
//! The slots are an open-addressing table of `2 * N` `u16`s, at most half
//! full, probed linearly up to the longest displacement any scope has.
//! Tables of more than [`MAX_INDEXED`] scopes are searched without it.
//!
//! On hosts, a table of a few scopes that one byte tells apart (each
//! prefix holds a different value at one offset below the head) is not
//! hashed: the slots map that byte's value to the scope, a *pick*. Where
//! no byte does, two bytes often do: the first plus a small multiple of
//! the second, masked to the slots, differs for every scope.

use crate::bytes::equal_bytes;
use crate::bytes::starts_with;
#[cfg(not(any(target_os = "none", kevy_device)))]
use crate::bytes::{le32, le64};
use crate::table::Scope;
#[cfg(not(any(target_os = "none", kevy_device)))]
use crate::table::find_prefix_free;

/// The largest table the index covers: its slots (two per scope) and
/// positions (one more than the scope's) must fit a `u16`.
pub(crate) const MAX_INDEXED: usize = (u16::MAX as usize) / 2;

/// Tables of at most this many scopes are scanned: on hosts, one compare
/// costs less than a hash. Bare metal indexes every table (one search
/// loop in flash, not two).
pub(crate) const SCAN_MAX: usize = if cfg!(any(target_os = "none", kevy_device)) {
    0
} else {
    1
};

/// The fewest bytes hashed where the head has them: hosts read a word at
/// once, so a window shorter than one costs a load and no more than the
/// stem's bytes it takes in (the same in every head). Bare metal hashes a
/// byte at a time: the window stays as short as the stem leaves it.
const WINDOW_MIN: usize = if cfg!(any(target_os = "none", kevy_device)) {
    0
} else {
    4
};

/// Host tables of at most this many scopes, whose prefixes each hold a
/// different byte at one offset, all fewer than this many values apart
/// (and fewer than twice the capacity), are routed by that byte: one load
/// from a map kept in the unused slots, no hash, no probe. Where no byte
/// tells them apart, two bytes mixed may (see [`Pick`]).
const PICK_MAX: usize = 32;

/// A two-byte pick mixes bytes at most this far past the stem: where
/// prefixes differ, they mostly differ early, and a short reach keeps a
/// search that finds nothing cheap (at most 6 pairs).
const PAIR_REACH: usize = 4;

/// Tables of at most this many scopes look for a two-byte pick: more
/// rarely have one (16 scopes land in 64 slots without a collision about
/// once in eight tries, 32 about once in 13 000).
const PAIR_MAX: usize = 16;

/// The largest factor a two-byte pick tries for its second byte.
const PAIR_TIMES: u8 = 31;

/// Picks an index keeps: one on hosts, none on bare metal (RAM).
const PICKS: usize = if cfg!(any(target_os = "none", kevy_device)) {
    0
} else {
    1
};

/// Prefix lengths past the head a host index may also file scopes at
/// (bare metal keeps the head alone, for flash).
const LEVELS: usize = if cfg!(any(target_os = "none", kevy_device)) {
    0
} else {
    3
};

/// A host table with more scopes than this under one head (prefixes of
/// several lengths starting alike) is filed at levels.
const CROWD_MAX: usize = 4;

/// Lengths past the head counted when picking levels.
const LEVEL_SPAN: usize = 64;

/// The index of a table of capacity `N`: `4 * N + 10` bytes on bare
/// metal; hosts add 6 for the levels and 4 for the pick.
#[derive(Clone, Copy)]
pub(crate) struct Index<const N: usize> {
    /// Slot `i` is `slots[i / 2][i % 2]`: 0 when empty, else one more than
    /// a scope's position below `position_limit` and, above it, low bits
    /// of the scope's hash as a tag, so that most probes that cannot match
    /// are turned away without reading a scope.
    slots: [[u16; 2]; N],
    /// Slots in use: two per scope; 0 for an empty table, one that is
    /// scanned, or one too large to index.
    used: u16,
    /// The longest distance any scope sits from its home slot.
    probe: u16,
    /// The bytes of a key that pick its scope: the shortest prefix's
    /// length, capped at `u16::MAX`.
    head: u16,
    /// Bytes every head shares, not hashed: the common stem, short of
    /// [`WINDOW_MIN`] bytes before the head.
    stem: u16,
    /// A power of two above every position: slot values below it hold a
    /// position alone.
    position_limit: u16,
    /// Longer prefix lengths scopes are filed at, the most populous
    /// first, 0 past the last: a scope sits under its first
    /// `level_of(len)` bytes, and keys are hashed at each level they
    /// reach, then at the head.
    levels: [u16; LEVELS],
    /// Where a host table of a few scopes is told apart by one byte or two,
    /// how: the slot [`Pick::slot_of`] gives a scope's prefix then holds
    /// one more than the scope's position (0 for none), and `used` is 0.
    pick: [Pick; PICKS],
}

/// The bytes, among the first 255 and below the head, that tell the
/// scopes of a small table apart: one byte where every scope holds a
/// different value there (its value less the least of them is the slot),
/// else two bytes mixed (the first plus `times` the second, masked to the
/// map's power of two of slots) where the mix differs for every scope.
#[derive(Clone, Copy)]
struct Pick {
    /// The first byte's offset; `u8::MAX` where nothing tells the scopes
    /// apart.
    at: u8,
    /// The second byte's offset (a two-byte pick).
    with: u8,
    /// The least of the scopes' bytes at `at` (a one-byte pick; else 0).
    low: u8,
    /// What the second byte is multiplied by; 0 for a one-byte pick.
    times: u8,
}

impl Pick {
    const NONE: Self = Self {
        at: u8::MAX,
        with: u8::MAX,
        low: 0,
        times: 0,
    };

    /// Whether a pick tells the scopes apart.
    const fn found(&self) -> bool {
        self.at != Self::NONE.at
    }

    /// The map slot of `bytes` (a prefix of the table, or a key at least
    /// as long as the head: both picked bytes are there); `mask` is the
    /// two-byte map's slots less one.
    #[inline(always)]
    const fn slot_of(&self, bytes: &[u8], mask: u8) -> usize {
        let mut slot = byte_at(bytes, self.at as usize).wrapping_sub(self.low);
        if self.times != 0 {
            slot = pair_mix(slot, byte_at(bytes, self.with as usize), self.times, mask);
        }
        slot as usize
    }

    /// The first offset from `stem` to `head` at which every scope of
    /// `sorted` holds a different byte, all fewer than `span` apart. Else,
    /// for at most [`PAIR_MAX`] scopes, the first two offsets (within
    /// [`PAIR_REACH`] of the stem) and factor (up to [`PAIR_TIMES`]) whose
    /// mix gives every scope a slot of its own in `mask + 1` (a power of
    /// two, at most 64). [`Self::NONE`] where there is neither.
    const fn find(sorted: &[Scope<'_>], stem: usize, head: usize, span: usize, mask: u8) -> Self {
        // Offsets past 254 are not picked (`at` is a byte; 255 is none).
        let head = if head < u8::MAX as usize {
            head
        } else {
            u8::MAX as usize
        };
        let mut at = stem;
        while at < head {
            if let Some(low) = distinct_within(sorted, at, span) {
                return Self {
                    at: at as u8,
                    with: at as u8,
                    low,
                    times: 0,
                };
            }
            at += 1;
        }
        if sorted.len() > PAIR_MAX || (mask as usize) < sorted.len().saturating_sub(1) {
            return Self::NONE;
        }
        let reach = if head.saturating_sub(stem) < PAIR_REACH {
            head
        } else {
            stem + PAIR_REACH
        };
        let mut at = stem;
        while at < reach {
            let mut with = at + 1;
            while with < reach {
                if let Some(times) = pair_factor(sorted, at, with, mask) {
                    return Self {
                        at: at as u8,
                        with: with as u8,
                        low: 0,
                        times,
                    };
                }
                with += 1;
            }
            at += 1;
        }
        Self::NONE
    }
}

/// A two-byte pick's slot: `first` plus `times` the `second`, masked.
#[inline(always)]
const fn pair_mix(first: u8, second: u8, times: u8, mask: u8) -> u8 {
    first.wrapping_add(second.wrapping_mul(times)) & mask
}

/// The least factor (up to [`PAIR_TIMES`]) whose mix of the bytes at `at`
/// and `with` gives each scope of `sorted` (at most [`PAIR_MAX`]) a slot
/// of its own in `mask + 1` (at most 64); none where two scopes hold the
/// same two bytes or no factor does.
const fn pair_factor(sorted: &[Scope<'_>], at: usize, with: usize, mask: u8) -> Option<u8> {
    // The scopes' two bytes, read once.
    let mut bytes = [(0u8, 0u8); PAIR_MAX];
    let mut n = 0;
    let (mut rest, mut cells): (_, &mut [(u8, u8)]) = (sorted, &mut bytes);
    while let ([scope, tail @ ..], [cell, more @ ..]) = (rest, cells) {
        *cell = (byte_at(scope.prefix(), at), byte_at(scope.prefix(), with));
        n += 1;
        rest = tail;
        cells = more;
    }
    let Some((bytes, _)) = bytes.split_at_checked(n) else {
        return None;
    };
    if !rest.is_empty() {
        return None;
    }
    let mut times = 1;
    while times <= PAIR_TIMES {
        let mut seen = 0u64;
        let mut before = 0;
        let mut rest = bytes;
        while let [(first, second), tail @ ..] = rest {
            let bit = 1u64 << (pair_mix(*first, *second, times, mask) % 64);
            if seen & bit != 0 {
                break;
            }
            seen |= bit;
            before += 1;
            rest = tail;
        }
        let [clash, ..] = rest else {
            return Some(times);
        };
        // A scope holding the same two bytes as one before it collides
        // under every factor.
        if let Some((earlier, _)) = bytes.split_at_checked(before) {
            let mut earlier = earlier;
            while let [pair, tail @ ..] = earlier {
                if pair.0 == clash.0 && pair.1 == clash.1 {
                    return None;
                }
                earlier = tail;
            }
        }
        times += 1;
    }
    None
}

/// The least of the bytes at `at` of the prefixes of `sorted` (all longer
/// than `at`), when they all differ and lie fewer than `span` (at most 32)
/// apart.
const fn distinct_within(sorted: &[Scope<'_>], at: usize, span: usize) -> Option<u8> {
    let [first, ..] = sorted else {
        return None;
    };
    // The bytes seen, as bits of a 64-bit window from 31 below the first
    // one to 32 above it: every byte that may be picked (fewer than 32
    // from the first) fits; the span check below refuses the rest.
    let base = byte_at(first.prefix(), at).wrapping_sub(31);
    let mut seen = 0u64;
    let mut rest = sorted;
    while let [scope, tail @ ..] = rest {
        let offset = byte_at(scope.prefix(), at).wrapping_sub(base);
        if offset >= 64 || seen & (1 << offset) != 0 {
            return None;
        }
        seen |= 1 << offset;
        rest = tail;
    }
    let (low, high) = (seen.trailing_zeros(), 63 - seen.leading_zeros());
    if ((high - low) as usize) < span {
        Some(base.wrapping_add(low as u8))
    } else {
        None
    }
}

/// Byte `at` of `prefix`, or 0 past its end. In line: a pick reads keys
/// with it.
#[inline(always)]
const fn byte_at(prefix: &[u8], at: usize) -> u8 {
    match prefix.split_at_checked(at) {
        Some((_, [byte, ..])) => *byte,
        _ => 0,
    }
}

impl<const N: usize> Index<N> {
    /// The slots a two-byte pick maps to, less one: the largest power of
    /// two within the table's `2 * N` slots and 64 (the bits of the set
    /// the search keeps). 0 at `N = 0`, whose table has nothing to pick.
    const PAIR_MASK: u8 = {
        let mut size = 64;
        while size > 2 * N && size > 1 {
            size /= 2;
        }
        (size - 1) as u8
    };

    /// The index of an empty table.
    pub(crate) const EMPTY: Self = Self {
        slots: [[0; 2]; N],
        used: 0,
        probe: 0,
        head: 0,
        stem: 0,
        position_limit: 0,
        levels: [0; LEVELS],
        pick: [Pick::NONE; PICKS],
    };

    /// Indexes `sorted`: at most `N` scopes, sorted by prefix and
    /// prefix-free (a validated table's scopes).
    pub(crate) const fn build(sorted: &[Scope<'_>]) -> Self {
        Self::build_with(sorted, SCAN_MAX, CROWD_MAX, PICK_MAX)
    }

    /// [`Self::build`], leaving tables of at most `scan` scopes to a scan,
    /// taking levels when more than `crowd` scopes share a head, and
    /// routing tables of at most `pick` scopes by a pick (one byte or two)
    /// where one tells them apart.
    const fn build_with(sorted: &[Scope<'_>], scan: usize, crowd: usize, pick: usize) -> Self {
        let mut index = Self::EMPTY;
        let len = sorted.len();
        let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
            return index;
        };
        let (mut head, mut longest) = (u16::MAX as usize, 0);
        let mut rest = sorted;
        while let [scope, tail @ ..] = rest {
            let len = scope.prefix().len();
            if len < head {
                head = len;
            }
            if len > longest {
                longest = len;
            }
            rest = tail;
        }
        // Keys shorter than every prefix are turned away on their length,
        // indexed or not.
        index.head = head as u16;
        if len <= scan || len > N || len > MAX_INDEXED {
            return index;
        }
        // Sorted, the first and the last prefix share least.
        let stem = common_len(first.prefix(), last.prefix(), head);
        let picks: &mut [Pick] = &mut index.pick;
        if let [only] = picks
            && len <= pick
        {
            let span = if 2 * N < PICK_MAX { 2 * N } else { PICK_MAX };
            let found = Pick::find(sorted, stem, head, span, Self::PAIR_MASK);
            *only = found;
            if found.found() {
                index.map_picks(sorted, &found);
                return index;
            }
        }
        // On hosts the window reaches back into the stem to a word, read
        // in one load.
        let stem = if stem + WINDOW_MIN > head {
            head.saturating_sub(WINDOW_MIN)
        } else {
            stem
        };
        index.stem = stem as u16;
        index.used = (2 * len) as u16;
        let mut limit: u16 = 1;
        // `len` is at most `MAX_INDEXED` (15 bits): the limit fits.
        while limit as usize <= len {
            limit <<= 1;
        }
        index.position_limit = limit;
        // Prefixes of several lengths sharing a few heads (`tenant-7:` ..
        // `tenant-99991:`) would crowd their heads' slots: file them at
        // the lengths most of them have.
        // (Prefixes all as long never share a head: they are distinct.)
        if !index.levels.is_empty() && longest > head && largest_crowd(sorted, stem, head) > crowd {
            index.levels = busiest_lengths(sorted, head);
        }
        index.file(sorted);
        index
    }

    /// Puts one more than each scope's position in its pick's slot.
    const fn map_picks(&mut self, sorted: &[Scope<'_>], pick: &Pick) {
        let slots = self.slots.as_flattened_mut();
        let mut position: u16 = 1;
        let mut rest = sorted;
        while let [scope, tail @ ..] = rest {
            let slot = pick.slot_of(scope.prefix(), Self::PAIR_MASK);
            if let Some((_, [entry, ..])) = slots.split_at_mut_checked(slot) {
                *entry = position;
            }
            position += 1;
            rest = tail;
        }
    }

    /// The scope of `sorted` that `key` (at least `head` bytes) falls in,
    /// in a table told apart by the bytes `pick` names.
    #[inline(always)]
    fn pick_for<'s, 'a>(
        &self,
        pick: &Pick,
        sorted: &'s [Scope<'a>],
        key: &[u8],
    ) -> Option<&'s Scope<'a>> {
        holding(sorted, self.slot(pick.slot_of(key, Self::PAIR_MASK)), key)
    }

    /// Files every scope of `sorted` under the hash of its level's window.
    const fn file(&mut self, sorted: &[Scope<'_>]) {
        let mut position: u16 = 1;
        let mut rest = sorted;
        while let [scope, tail @ ..] = rest {
            let prefix = scope.prefix();
            let level = self.level_of(prefix.len());
            let hash = hash(window(prefix, self.stem as usize, level));
            self.insert(home(hash, self.used), self.tag(hash) | position);
            position += 1;
            rest = tail;
        }
    }

    /// Whether scopes are filed at levels (never on bare metal).
    #[inline]
    const fn leveled(&self) -> bool {
        matches!(self.levels.first(), Some(l) if *l != 0)
    }

    /// The length a prefix of `len` bytes is filed at: the longest level
    /// it reaches, else the head.
    const fn level_of(&self, len: usize) -> usize {
        let mut level = self.head as usize;
        if !self.leveled() {
            return level;
        }
        let mut rest: &[u16] = &self.levels;
        while let [l, tail @ ..] = rest {
            let l = *l as usize;
            if l > level && l <= len {
                level = l;
            }
            rest = tail;
        }
        level
    }

    /// The bits of `hash` a slot keeps above its position.
    #[inline]
    const fn tag(&self, hash: u32) -> u16 {
        // A multiple of the limit (a power of two): the low bits are free.
        (hash as u16).wrapping_mul(self.position_limit)
    }

    /// Puts `value` in the first free slot from `slot` on. At most half
    /// the `used` slots are full, so one is found.
    const fn insert(&mut self, mut slot: usize, value: u16) {
        let mut distance = 0;
        loop {
            let Some((_, [cell, ..])) = self.slots.as_flattened_mut().split_at_mut_checked(slot)
            else {
                return;
            };
            if *cell == 0 {
                *cell = value;
                break;
            }
            slot += 1;
            if slot == self.used as usize {
                slot = 0;
            }
            distance += 1;
        }
        if distance > self.probe {
            self.probe = distance;
        }
    }

    /// The scope of `sorted` (the scopes this index was built from) that
    /// `key` falls in.
    #[cfg_attr(not(any(target_os = "none", kevy_device)), inline(always))]
    #[cfg_attr(any(target_os = "none", kevy_device), inline)]
    pub(crate) fn find<'s, 'a>(
        &self,
        sorted: &'s [Scope<'a>],
        key: &[u8],
    ) -> Option<&'s Scope<'a>> {
        // One scope is compared at once (the compare checks the length).
        if SCAN_MAX != 0
            && let [only] = sorted
        {
            return starts_with(key, only.prefix()).then_some(only);
        }
        // Short keys are turned away in line.
        if key.len() < usize::from(self.head) {
            return None;
        }
        // A pick first: the small tables it serves route in a few
        // nanoseconds, where each check shows.
        if let Some(pick) = self.pick.first()
            && pick.found()
        {
            return self.pick_for(pick, sorted, key);
        }
        if self.used != 0 {
            return self.probe_for(sorted, key);
        }
        search(sorted, key)
    }

    /// [`Self::find`] past the length check, for a key of at least `head`
    /// bytes in an indexed table.
    #[inline(always)]
    fn probe_for<'s, 'a>(&self, sorted: &'s [Scope<'a>], key: &[u8]) -> Option<&'s Scope<'a>> {
        if self.leveled() {
            self.probe_levels(sorted, key)
        } else {
            self.probe_at(sorted, key, self.head)
        }
    }

    /// [`Self::probe_for`] in a table with levels: each level the key
    /// reaches, then the head (levels are longer); one copy of the probe.
    #[inline(never)]
    fn probe_levels<'s, 'a>(&self, sorted: &'s [Scope<'a>], key: &[u8]) -> Option<&'s Scope<'a>> {
        let mut next = 0;
        loop {
            let level = match self.levels.get(next) {
                Some(&level) if level != 0 => level,
                _ => self.head,
            };
            next += 1;
            if key.len() >= usize::from(level)
                && let Some(scope) = self.probe_at(sorted, key, level)
            {
                return Some(scope);
            }
            if level == self.head {
                return None;
            }
        }
    }

    /// The scope filed under `key`'s first `level` bytes, if any.
    #[inline(always)]
    fn probe_at<'s, 'a>(
        &self,
        sorted: &'s [Scope<'a>],
        key: &[u8],
        level: u16,
    ) -> Option<&'s Scope<'a>> {
        let window = key.get(usize::from(self.stem)..usize::from(level))?;
        let hash = hash(window);
        let tag = self.tag(hash);
        let slot = home(hash, self.used);
        // Hosts look in the home slot in line, where most scopes sit, and
        // call the probe only past it: the route keeps few registers.
        if !cfg!(any(target_os = "none", kevy_device)) {
            let value = self.slot(slot);
            if value == 0 {
                return None;
            }
            let position = value ^ tag;
            if position < self.position_limit
                && let Some(scope) = holding(sorted, position, key)
            {
                return Some(scope);
            }
            if self.probe == 0 {
                return None;
            }
        }
        self.probe_from(sorted, key, slot, tag)
    }

    /// The probe for `tag` from `slot` on, through at most `probe` slots
    /// past it. Out of line on hosts, where the home slot is looked in
    /// first; one copy in line on bare metal.
    #[cfg_attr(not(any(target_os = "none", kevy_device)), inline(never))]
    #[cfg_attr(any(target_os = "none", kevy_device), inline(always))]
    fn probe_from<'s, 'a>(
        &self,
        sorted: &'s [Scope<'a>],
        key: &[u8],
        mut slot: usize,
        tag: u16,
    ) -> Option<&'s Scope<'a>> {
        let mut probes = self.probe;
        loop {
            let value = self.slot(slot);
            if value == 0 {
                return None;
            }
            // Equal tags leave the position alone.
            let position = value ^ tag;
            if position < self.position_limit {
                // As `holding`, but a position past the scopes (which a
                // built index never holds) ends the probe: a shorter loop
                // on bare metal.
                let scope = sorted.get(usize::from(position).wrapping_sub(1))?;
                if starts_with(key, scope.prefix()) {
                    return Some(scope);
                }
            }
            probes = probes.checked_sub(1)?;
            slot += 1;
            if slot == usize::from(self.used) {
                slot = 0;
            }
        }
    }

    #[inline]
    fn slot(&self, slot: usize) -> u16 {
        self.slots.as_flattened().get(slot).map_or(0, |&v| v)
    }
}

/// The scope at `position` of `sorted` (one more than its place; 0 for
/// none, which wraps past every scope) when `key` falls in it. Compared
/// from the end on bare metal: the hashed bytes first, then the stem
/// every scope shares.
#[inline(always)]
fn holding<'s, 'a>(sorted: &'s [Scope<'a>], position: u16, key: &[u8]) -> Option<&'s Scope<'a>> {
    let scope = sorted.get(usize::from(position).wrapping_sub(1))?;
    starts_with(key, scope.prefix()).then_some(scope)
}

/// The search of a table without an index: on hosts an empty table or
/// one too large to index ([`MAX_INDEXED`]); on bare metal, where every
/// other table is indexed, a scan in a few bytes of flash.
#[cfg(not(any(target_os = "none", kevy_device)))]
#[inline(never)]
fn search<'s, 'a>(sorted: &'s [Scope<'a>], key: &[u8]) -> Option<&'s Scope<'a>> {
    find_prefix_free(sorted, key)
}

#[cfg(any(target_os = "none", kevy_device))]
#[inline]
fn search<'s, 'a>(sorted: &'s [Scope<'a>], key: &[u8]) -> Option<&'s Scope<'a>> {
    sorted.iter().find(|s| starts_with(key, s.prefix()))
}

/// The most scopes of `sorted` sharing their first `head` bytes (after
/// the `stem` all share). Sorted, they sit side by side.
const fn largest_crowd(sorted: &[Scope<'_>], stem: usize, head: usize) -> usize {
    let (mut largest, mut run) = (1, 1);
    let mut rest = sorted;
    while let [a, tail @ ..] = rest {
        if let [b, ..] = tail {
            if equal_bytes(
                window(a.prefix(), stem, head),
                window(b.prefix(), stem, head),
            ) {
                run += 1;
                if run > largest {
                    largest = run;
                }
            } else {
                run = 1;
            }
        }
        rest = tail;
    }
    largest
}

/// Up to [`LEVELS`] prefix lengths past `head`, the most populous first,
/// each held by at least two scopes of `sorted`; 0 past the last. Only
/// lengths within [`LEVEL_SPAN`] of the head are counted.
const fn busiest_lengths(sorted: &[Scope<'_>], head: usize) -> [u16; LEVELS] {
    let mut counts = [0u16; LEVEL_SPAN];
    let mut rest = sorted;
    while let [scope, tail @ ..] = rest {
        let len = scope.prefix().len();
        if len > head
            && let Some((_, [count, ..])) = counts.split_at_mut_checked(len - head - 1)
        {
            *count = count.saturating_add(1);
        }
        rest = tail;
    }
    let mut levels = [0u16; LEVELS];
    let mut rest: &mut [u16] = &mut levels;
    while let [level, tail @ ..] = rest {
        // The busiest length not taken yet.
        let (mut best, mut best_count, mut at) = (0, 0, 0);
        let mut scan: &[u16] = &counts;
        while let [count, more @ ..] = scan {
            if *count > best_count {
                (best, best_count) = (at, *count);
            }
            at += 1;
            scan = more;
        }
        let length = head + 1 + best;
        if best_count < 2 || length > u16::MAX as usize {
            break;
        }
        *level = length as u16;
        if let Some((_, [count, ..])) = counts.split_at_mut_checked(best) {
            *count = 0;
        }
        rest = tail;
    }
    levels
}

/// The bytes of `prefix` the hash reads: `stem..head`. Every prefix of a
/// table is at least `head` long.
const fn window(prefix: &[u8], stem: usize, head: usize) -> &[u8] {
    let Some((upto_head, _)) = prefix.split_at_checked(head) else {
        return &[];
    };
    match upto_head.split_at_checked(stem) {
        Some((_, window)) => window,
        None => &[],
    }
}

/// How many leading bytes `a` and `b` share, up to `limit`.
const fn common_len(a: &[u8], b: &[u8], limit: usize) -> usize {
    let mut n = 0;
    let (mut a, mut b) = (a, b);
    // Hosts take eight bytes a step while they agree (bare metal would
    // build each word from bytes, in flash), then byte by byte.
    while !cfg!(any(target_os = "none", kevy_device))
        && let (Some((x, ra)), Some((y, rb))) =
            (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
        && n + 8 <= limit
        && u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y)
    {
        n += 8;
        a = ra;
        b = rb;
    }
    while let ([x, ra @ ..], [y, rb @ ..]) = (a, b) {
        if n == limit || *x != *y {
            break;
        }
        n += 1;
        a = ra;
        b = rb;
    }
    n
}

/// A hash of a window of a few bytes: one folded 64-bit multiply for a
/// window of up to eight bytes (read as two overlapping halves), one more
/// multiply per further eight; the hash's top bits give the home slot,
/// the bits below them the tag. Shorter windows (a head under four
/// bytes) take their first, middle and last byte. Every load and
/// multiply is on the path from key to slot, so there are few.
#[cfg(not(any(target_os = "none", kevy_device)))]
#[inline]
const fn hash(window: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = window.len();
    let word = if n >= 8 {
        let mut h = 0;
        let mut at = 0;
        while at + 8 < n {
            h = (h ^ le64(window, at)).wrapping_mul(K);
            at += 8;
        }
        h ^ le64(window, n - 8)
    } else if n >= 4 {
        le32(window, 0) as u64 | (le32(window, n - 4) as u64) << 32
    } else if let ([first, ..], [.., last]) = (window, window) {
        let middle = match window.split_at_checked(n / 2) {
            Some((_, [m, ..])) => *m,
            _ => 0,
        };
        (*first as u64) << 16 | (middle as u64) << 8 | *last as u64
    } else {
        0
    };
    // Folded: the high and low halves of the 128-bit product xor-ed, so
    // every input bit reaches the top bits the home slot is taken from.
    let product = word as u128 * K as u128;
    (((product >> 64) as u64 ^ product as u64) >> 32) as u32
}

/// On bare metal a byte at a time (FNV-1a, then one more mix): a
/// Cortex-M0 has no unaligned loads, and this is the smaller loop.
#[cfg(any(target_os = "none", kevy_device))]
#[inline]
const fn hash(mut window: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    while let [b, rest @ ..] = window {
        h = (h ^ *b as u32).wrapping_mul(0x0100_0193);
        window = rest;
    }
    mix(h, h >> 15)
}

#[cfg(any(target_os = "none", kevy_device))]
#[inline]
const fn mix(h: u32, v: u32) -> u32 {
    (h ^ v).wrapping_mul(0x2c1b_3c6d).rotate_left(13)
}

/// The slot a hash starts probing at, in `0..used`: the top 16 bits of
/// the hash scaled to the slot count (a multiply, no division; `used`
/// fits 16 bits, so the product fits 32).
#[inline]
const fn home(hash: u32, used: u16) -> usize {
    (((hash >> 16) * used as u32) >> 16) as usize
}

#[cfg(test)]
mod tests {
    use super::{
        CROWD_MAX, Index, LEVELS, PICK_MAX, PICKS, busiest_lengths, common_len, home,
        largest_crowd, window,
    };
    use crate::table::Scope;
    use std::prelude::rust_2024::*;
    use std::vec;

    fn sorted(prefixes: &[&'static [u8]]) -> Vec<Scope<'static>> {
        let mut v: Vec<Scope<'static>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
        v.sort_by(|a, b| a.prefix().cmp(b.prefix()));
        v
    }

    fn naive<'s, 'a>(scopes: &'s [Scope<'a>], key: &[u8]) -> Option<&'s Scope<'a>> {
        scopes.iter().find(|s| key.starts_with(s.prefix()))
    }

    #[test]
    fn helpers() {
        assert_eq!(common_len(b"app:a", b"app:b", 9), 4);
        assert_eq!(common_len(b"app:a", b"app:a", 3), 3);
        assert_eq!(common_len(b"", b"x", 3), 0);
        assert_eq!(common_len(b"app:svc00000:", b"app:svc00015:", 13), 10);
        assert_eq!(common_len(b"app:svc0", b"app:svc0", 13), 8);
        for limit in 0..=20 {
            let want = limit.min(17);
            assert_eq!(
                common_len(b"abcdefghijklmnopq", b"abcdefghijklmnopq", limit),
                want
            );
            assert_eq!(
                common_len(b"abcdefghijklmnopq", b"abcdefghijklmnopX", limit),
                want.min(16)
            );
        }
        assert_eq!(window(b"app:svc00042:", 10, 13), b"42:");
        assert_eq!(window(b"ab", 3, 2), b"");
        let crowd = sorted(&[b"t-1:", b"t-10:", b"t-11:", b"t-12:", b"t-2:", b"t-20:"]);
        // Four-byte heads all differ (`t-1:`, `t-10`, `t-11`, ..); of the
        // three-byte heads, four are `t-1` and two `t-2`.
        assert_eq!(largest_crowd(&crowd, 2, 4), 1);
        assert_eq!(largest_crowd(&crowd, 2, 3), 4);
        assert_eq!(largest_crowd(&crowd[..1], 2, 3), 1);
        for h in [0, 1, u32::MAX, 0x8000_0000] {
            for used in [1u16, 2, 3, 100, u16::MAX - 1] {
                assert!(home(h, used) < usize::from(used));
            }
        }
    }

    #[test]
    fn groups_and_stems_find_what_a_scan_finds() {
        let tables: [&[&'static [u8]]; 6] = [
            &[b"app:svc00000:", b"app:svc00001:", b"app:svc00002:"],
            // Longer prefixes share the shortest one's length of bytes.
            &[b"a:", b"bx:1", b"bx:2", b"bx:3:", b"by", b"c"],
            &[b""],
            &[b"only:"],
            &[b"k:", b"k;", b"l:", b"\xff\xff"],
            &[b"app:x:", b"app:y:long:", b"app:y:lonh:", b"app:z"],
        ];
        let keys: [&[u8]; 14] = [
            b"",
            b"a",
            b"a:",
            b"a:1",
            b"bx:1",
            b"bx:20",
            b"bx:3",
            b"bx:3:x",
            b"by",
            b"c",
            b"app:svc00001:k",
            b"app:y:lonh:1",
            b"app:y:lon",
            b"\xff\xff\xff",
        ];
        let ways = [(CROWD_MAX, 0), (0, 0), (CROWD_MAX, PICK_MAX)];
        for (prefixes, (crowd, pick)) in tables.iter().flat_map(|t| ways.map(|w| (t, w))) {
            let scopes = sorted(prefixes);
            let index = Index::<8>::build_with(&scopes, 0, crowd, pick);
            for key in keys {
                assert_eq!(
                    index.find(&scopes, key),
                    naive(&scopes, key),
                    "{prefixes:?} {key:?}"
                );
            }
            for s in &scopes {
                let mut key = s.prefix().to_vec();
                key.extend_from_slice(b"tail");
                assert_eq!(index.find(&scopes, &key), Some(s));
            }
        }
    }

    #[test]
    fn the_index_is_as_large_as_its_doc_says() {
        let header = 10 + if PICKS > 0 { 6 + 4 } else { 0 };
        assert_eq!(core::mem::size_of::<Index<8>>(), 4 * 8 + header);
        assert_eq!(core::mem::size_of::<Index<1>>(), 4 + header);
    }

    #[test]
    fn small_tables_told_apart_by_one_byte_or_two_take_a_pick() {
        let keys = |scopes: &[Scope<'_>]| -> Vec<Vec<u8>> {
            let mut keys: Vec<Vec<u8>> = vec![b"".to_vec(), b"a".to_vec(), b"zzzzzzzz".to_vec()];
            for s in scopes {
                let p = s.prefix();
                keys.push([p, b"k"].concat());
                keys.push(p[..p.len() - 1].to_vec());
                for at in 0..p.len() {
                    for byte in [p[at].wrapping_add(1), p[at].wrapping_sub(1), 0, 0xff] {
                        let mut k = [p, b"k"].concat();
                        k[at] = byte;
                        keys.push(k);
                    }
                }
            }
            keys
        };
        let digits: Vec<&'static [u8]> = (0..10)
            .map(|i| &*std::format!("app:svc0000{i}:").into_bytes().leak())
            .collect();
        // The offset of the byte that tells a table apart, or of the
        // first of two, and whether it takes two.
        type Picked = Option<(u8, bool)>;
        let cases: [(Vec<&[u8]>, Picked); 8] = [
            (digits, Some((11, false))),
            (
                vec![b"app:auth:", b"app:billing:", b"app:cart:"],
                Some((4, false)),
            ),
            // Of different lengths, apart at the first byte.
            (vec![b"a:", b"bx:1", b"c"], Some((0, false))),
            // Each offset below the head holds some byte twice; the two
            // together tell them apart.
            (vec![b"a1:", b"a2:", b"b1:"], Some((0, true))),
            // Apart at offset 0, but 93 values wide: two bytes, masked.
            (vec![b"!:", b"~:"], Some((0, true))),
            // 11 apart counting past 255 to 0: the map wraps as the key's
            // byte does.
            (vec![b"\x05:", b"\xfa:"], Some((0, false))),
            // Two prefixes the same below the head: nothing picks them.
            (vec![b"a:", b"bx1", b"bx2"], None),
            // One scope: its bytes all agree with themselves (hosts scan it).
            (vec![b"only:"], None),
        ];
        for (prefixes, want) in cases {
            let scopes = sorted(&prefixes);
            let index = Index::<16>::build_with(&scopes, 0, CROWD_MAX, PICK_MAX);
            let hashed = Index::<16>::build_with(&scopes, 0, CROWD_MAX, 0);
            let picked = index
                .pick
                .first()
                .filter(|p| p.found())
                .map(|p| (p.at, p.times != 0));
            if PICKS > 0 {
                assert_eq!(picked, want, "{prefixes:?}");
                assert_eq!(
                    index.used == 0,
                    want.is_some(),
                    "a pick leaves the slots unused"
                );
            }
            assert!(hashed.pick.iter().all(|p| !p.found()));
            for key in keys(&scopes) {
                let want = naive(&scopes, &key);
                assert_eq!(index.find(&scopes, &key), want, "{prefixes:?} {key:?}");
                assert_eq!(hashed.find(&scopes, &key), want, "{prefixes:?} {key:?}");
            }
        }
        // The map lives in the slots: a table of capacity 2 has 4, too few
        // for bytes 25 apart, enough for two bytes mixed.
        let wide = sorted(&[b"a:", b"z:"]);
        let index = Index::<2>::build_with(&wide, 0, CROWD_MAX, PICK_MAX);
        assert!(PICKS == 0 || index.pick.iter().all(|p| p.times != 0));
        assert_eq!(index.find(&wide, b"z:1"), Some(&wide[1]));
        assert_eq!(index.find(&wide, b"y:1"), None);
        let near = sorted(&[b"a:", b"d:"]);
        let index = Index::<2>::build_with(&near, 0, CROWD_MAX, PICK_MAX);
        assert!(PICKS == 0 || index.pick.iter().all(|p| p.at == 0 && p.times == 0));
        assert_eq!(index.find(&near, b"d:1"), Some(&near[1]));
        assert_eq!(index.find(&near, b"c:1"), None);
        // The bench's tenant table: no byte tells the 8 apart (offset 7
        // holds `3` twice), two do.
        let tenants: Vec<Vec<u8>> = (0..8)
            .map(|i| std::format!("tenant-{}:", i * 7919).into_bytes())
            .collect();
        let mut scopes: Vec<Scope<'_>> = tenants.iter().map(|p| Scope::new(p, "w")).collect();
        scopes.sort_by(|a, b| a.prefix().cmp(b.prefix()));
        let index = Index::<8>::build_with(&scopes, 0, CROWD_MAX, PICK_MAX);
        if PICKS > 0 {
            assert!(
                index
                    .pick
                    .iter()
                    .all(|p| (p.at, p.with) == (7, 8) && p.times != 0)
            );
        }
        for key in keys(&scopes) {
            assert_eq!(index.find(&scopes, &key), naive(&scopes, &key), "{key:?}");
        }
        // Sixteen scopes whose bytes after the stem are `0` or `1`: no two
        // bytes within reach tell them apart (four values at most), so the
        // hash; with one more scope, a table two bytes would tell apart
        // is past the two-byte search and takes the hash too.
        let binary: Vec<Vec<u8>> = (0..16)
            .map(|i| std::format!("p-{i:04b}:").into_bytes())
            .collect();
        let counted: Vec<Vec<u8>> = (0..17)
            .map(|i| std::format!("app:svc{i:05}:").into_bytes())
            .collect();
        for (prefixes, pair) in [
            (&binary[..], false),
            (&counted[..16], true),
            (&counted[..], false),
        ] {
            let scopes: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
            let index = Index::<32>::build_with(&scopes, 0, CROWD_MAX, PICK_MAX);
            if PICKS > 0 {
                assert_eq!(
                    index.pick.iter().any(|p| p.found() && p.times != 0),
                    pair,
                    "{}",
                    scopes.len()
                );
                assert_eq!(index.used == 0, pair);
            }
            for key in keys(&scopes) {
                assert_eq!(index.find(&scopes, &key), naive(&scopes, &key), "{key:?}");
            }
        }
        // More scopes than a pick holds take the hash.
        let many: Vec<Vec<u8>> = (0..=PICK_MAX)
            .map(|i| std::format!("t{}:", char::from(b'!' + i as u8)).into_bytes())
            .collect();
        let scopes: Vec<Scope<'_>> = many.iter().map(|p| Scope::new(p, "w")).collect();
        let index = Index::<64>::build_with(&scopes, 0, CROWD_MAX, PICK_MAX);
        assert!(index.pick.iter().all(|p| !p.found()));
        assert!(index.used > 0);
    }

    #[test]
    fn collisions_probe_on() {
        // Two-byte windows over a table full to its capacity: many share
        // a home slot.
        let prefixes: Vec<Vec<u8>> = (0..64u8).map(|i| vec![b'p', i, b':']).collect();
        let scopes: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
        let index = Index::<64>::build_with(&scopes, 0, CROWD_MAX, 0);
        assert!(index.probe > 0, "some group sits off its home slot");
        for s in &scopes {
            let mut key = s.prefix().to_vec();
            key.push(b'x');
            assert_eq!(index.find(&scopes, &key), Some(s));
            key[1] = key[1].wrapping_add(64);
            assert_eq!(index.find(&scopes, &key), None);
        }
        assert_eq!(index.find(&scopes, b"p"), None);
    }

    #[test]
    fn too_large_for_the_index_searches() {
        let scopes = sorted(&[b"a:", b"b:"]);
        let index = Index::<1>::build(&scopes);
        assert_eq!(index.used, 0);
        assert_eq!(
            index.find(&scopes, b"b:1").map(|s| s.prefix()),
            Some(&b"b:"[..])
        );
    }

    /// Prefix-free tables of varying lengths with many shared heads:
    /// `<stem><digits>:`, digits of 1 to 5 figures.
    fn tenants(n: usize, stem: &str, step: usize) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = (0..n)
            .map(|i| std::format!("{stem}{}:", i * step % 100_000).into_bytes())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn crowded_heads_take_levels() {
        let prefixes = tenants(4096, "tenant-", 7919);
        let scopes: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
        let index = Box::new(Index::<4096>::build_with(&scopes, 0, CROWD_MAX, PICK_MAX));
        if LEVELS > 0 {
            assert_eq!(&index.levels[..], &busiest_lengths(&scopes, 9)[..]);
            assert_eq!(index.levels[0], 13, "five-digit tenants are most");
            assert!(
                index.probe <= 16,
                "levels spread the crowd: {}",
                index.probe
            );
        }
        for s in &scopes {
            let mut key = s.prefix().to_vec();
            key.extend_from_slice(b"user:1");
            assert_eq!(index.find(&scopes, &key), Some(s));
            // One digit more: a tenant of another length, or none.
            let mut other = s.prefix().to_vec();
            other.insert(other.len() - 1, b'7');
            assert_eq!(index.find(&scopes, &other), naive(&scopes, &other));
        }
        assert_eq!(index.find(&scopes, b"tenant-"), None);
        assert_eq!(index.find(&scopes, b"tenant-x:1"), None);
    }

    /// A small xorshift from `state`: the same tables every run. Each call
    /// gives a number below its bound.
    fn xorshift(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |bound| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        }
    }

    /// Checks an index of capacity `N` over `scopes` against a scan: each
    /// scope's key, and keys with one byte changed. Returns whether it
    /// took a two-byte pick, and whether a one-byte pick.
    fn check_picks<const N: usize>(
        scopes: &[Scope<'_>],
        next: &mut impl FnMut(u64) -> u64,
    ) -> (bool, bool) {
        let index = Box::new(Index::<N>::build_with(scopes, 0, CROWD_MAX, PICK_MAX));
        for s in scopes {
            let p = s.prefix();
            assert_eq!(index.find(scopes, &[p, b"k"].concat()), Some(s));
            for at in 0..p.len() {
                let mut key = [p, b"k"].concat();
                key[at] = b"ab\x81\xfe:"[next(5) as usize];
                assert_eq!(index.find(scopes, &key), naive(scopes, &key), "{key:?}");
            }
        }
        let pick = index.pick.first().filter(|p| p.found());
        (
            pick.is_some_and(|p| p.times != 0),
            pick.is_some_and(|p| p.times == 0),
        )
    }

    #[test]
    fn random_small_tables_pick_what_a_scan_finds() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut pairs, mut ones) = (0, 0);
        for round in 0..2000 {
            let n = 2 + next(15) as usize;
            let stem: &[u8] = [&b""[..], b"t-", b"app:svc0"][round % 3];
            // Few letters, so bytes repeat and one byte rarely tells all
            // the scopes apart; two of them high, so the mix wraps.
            let mut prefixes: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let mut p = stem.to_vec();
                    for _ in 0..1 + next(5) {
                        p.push(b"ab\x81\xfe"[next(4) as usize]);
                    }
                    p.push(b':');
                    p
                })
                .collect();
            prefixes.sort();
            prefixes.dedup();
            let scopes: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
            for (two, one) in [
                check_picks::<16>(&scopes, &mut next),
                check_picks::<64>(&scopes, &mut next),
            ] {
                pairs += usize::from(two);
                ones += usize::from(one);
            }
        }
        if PICKS > 0 {
            assert!(
                pairs > 100 && ones > 100,
                "{pairs} two-byte, {ones} one-byte picks"
            );
        }
    }

    #[test]
    fn random_tables_find_what_a_scan_finds() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let n = 1 + next(200) as usize;
            let stem = ["", "t-", "app:svc", "k"][round % 4];
            let mut prefixes: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let digits = 1 + next(4);
                    std::format!("{stem}{}:", next(10u64.pow(digits as u32))).into_bytes()
                })
                .collect();
            prefixes.sort();
            prefixes.dedup();
            let scopes: Vec<Scope<'_>> = prefixes.iter().map(|p| Scope::new(p, "w")).collect();
            for (crowd, pick) in [(0, 0), (CROWD_MAX, 0), (CROWD_MAX, PICK_MAX)] {
                let index = Box::new(Index::<256>::build_with(&scopes, 0, crowd, pick));
                for s in &scopes {
                    let mut key = s.prefix().to_vec();
                    assert_eq!(index.find(&scopes, &key), Some(s));
                    key.extend_from_slice(b"x");
                    assert_eq!(index.find(&scopes, &key), Some(s));
                    for cut in [1, 2] {
                        let short = &s.prefix()[..s.prefix().len().saturating_sub(cut)];
                        assert_eq!(index.find(&scopes, short), naive(&scopes, short));
                    }
                }
                for _ in 0..50 {
                    let key = std::format!("{stem}{}:{}", next(100_000), next(10)).into_bytes();
                    assert_eq!(index.find(&scopes, &key), naive(&scopes, &key), "{key:?}");
                }
            }
        }
    }
}
