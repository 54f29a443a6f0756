//! Instructions per SET, for the measuring build (`--features measure`,
//! run under QEMU's `-icount shift=0`, where `minstret` counts one per
//! instruction; `MEASURE=1 bash device-net/run.sh`). Without the feature,
//! or on the host, the clock reads 0 and every call here compiles to
//! next to nothing.
//!
//! One request's handling is cut into phases: the whole of it (from the
//! request bytes in the connection buffer to its reply copied into the
//! socket: [`start`] .. [`finish`], by the firmware), the parse (in
//! [`crate::conn::Conn::step`]), and inside a SET the verdict
//! (`Node::verdict`), the store's insert and the write of the store to
//! flash (in [`crate::commands`]). Only SETs are summed; every
//! [`WINDOW`] SETs [`report`] hands the firmware the window's sums.
//! The meter's own reads are in the figures; [`overhead`] measures them
//! with nothing between, for the firmware to subtract.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

/// SETs a report covers.
pub const WINDOW: u32 = 200;

/// The phases of one request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    /// RESP parse of the request in the connection buffer.
    Parse = 0,
    /// `Node::verdict` for the key.
    Verdict = 1,
    /// The store's insert.
    Store = 2,
    /// The store written to flash.
    Flash = 3,
    /// All of it, the reply copied to the socket included.
    Total = 4,
}

const PHASES: usize = 5;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU32 = AtomicU32::new(0);
/// This request's phases.
static NOW: [AtomicU32; PHASES] = [ZERO; PHASES];
/// The window's sums over its SETs.
static SUM: [AtomicU32; PHASES] = [ZERO; PHASES];
static SETS: AtomicU32 = AtomicU32::new(0);
static IS_SET: AtomicBool = AtomicBool::new(false);

/// The instruction counter (`minstret`), or 0 when not measuring.
#[inline(always)]
pub fn now() -> u32 {
    #[cfg(all(feature = "measure", target_arch = "riscv32"))]
    {
        riscv::register::minstret::read() as u32
    }
    #[cfg(not(all(feature = "measure", target_arch = "riscv32")))]
    {
        0
    }
}

/// Whether this build measures.
pub const ON: bool = cfg!(all(feature = "measure", target_arch = "riscv32"));

/// Instructions of `phase` from `from` (a [`now`]) to now.
#[inline(always)]
pub fn since(phase: Phase, from: u32) {
    if ON {
        let n = now().wrapping_sub(from);
        if let Some(slot) = NOW.get(phase as usize) {
            slot.store(n, Relaxed);
        }
    }
}

/// This request is a SET (summed at [`finish`]).
#[inline(always)]
pub fn is_set() {
    if ON {
        IS_SET.store(true, Relaxed);
    }
}

/// A request's handling begins: its counter reading, for [`finish`].
#[inline(always)]
pub fn start() -> u32 {
    if ON {
        IS_SET.store(false, Relaxed);
        for slot in &NOW {
            slot.store(0, Relaxed);
        }
    }
    now()
}

/// A request's handling ended (`from`: [`start`]'s reading); a SET's
/// phases go into the window's sums.
#[inline(always)]
pub fn finish(from: u32) {
    if ON {
        since(Phase::Total, from);
        if IS_SET.load(Relaxed) {
            for (sum, n) in SUM.iter().zip(&NOW) {
                sum.fetch_add(n.load(Relaxed), Relaxed);
            }
            SETS.fetch_add(1, Relaxed);
        }
    }
}

/// The sums over the last [`WINDOW`] SETs, by [`Phase`], once the window
/// is full (then a new window begins).
pub fn report() -> Option<[u32; PHASES]> {
    if !ON || SETS.load(Relaxed) < WINDOW {
        return None;
    }
    let mut out = [0; PHASES];
    for (o, sum) in out.iter_mut().zip(&SUM) {
        *o = sum.swap(0, Relaxed);
    }
    SETS.store(0, Relaxed);
    Some(out)
}

/// The meter's own cost by phase: one request's calls with nothing
/// measured between them (the same calls, in the same order, as a SET's).
/// Not summed.
#[inline(never)]
pub fn overhead() -> [u32; PHASES] {
    let mut out = [0; PHASES];
    if !ON {
        return out;
    }
    let total = start();
    let t = now();
    since(Phase::Parse, core::hint::black_box(t));
    is_set();
    let t = now();
    since(Phase::Verdict, core::hint::black_box(t));
    let t = now();
    since(Phase::Store, core::hint::black_box(t));
    let t = now();
    since(Phase::Flash, core::hint::black_box(t));
    since(Phase::Total, total);
    IS_SET.store(false, Relaxed);
    for (o, n) in out.iter_mut().zip(&NOW) {
        *o = n.load(Relaxed);
    }
    out
}
