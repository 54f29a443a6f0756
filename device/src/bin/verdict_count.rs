//! Instructions per write verdict on this board, counted by the board's
//! own clock under QEMU's `-icount shift=0` (one virtual nanosecond per
//! instruction; see `kevy_scope_device::counter`).
//!
//! Method: the counter is read before and after K verdicts, and before
//! and after the same loop without the verdict (the same keys, the same
//! `black_box`es); the difference over K is the verdict's cost, call and
//! return included. The method is checked first on a hand-written loop of
//! a known length (10 instructions per pass): it must come out within 2 %
//! or the run fails, since then no figure it gives can be trusted. The
//! verdicts are checked too (each key gets the verdict it should), so the
//! count is of the right work. The counts themselves are benchmarks,
//! printed, never asserted.
//!
//! Tables: 16 scopes (`app:svc00000:`..`app:svc00015:`, `ownership_table!`)
//! and 256 scopes (`app:svc00000:`..`app:svc00255:`, a `const` array), each
//! under a node with 4 move records made through the public move API: a
//! move in flight and a committed move (`start_move`, `commit_move`), and
//! a committed and an in-flight move learned from announcements.
#![no_std]
#![no_main]

use core::hint::black_box;

use kevy_scope::{
    Epoch, MoveTable, Node, OwnershipTable, Scope, WriteVerdict,
    moves::{Announcement, MoveId, MoveStatus},
    ownership_table,
    table::ScopeTable,
};
use kevy_scope_device::{counter, exit};

/// This node; it writes the even scopes and stands in for the odd ones.
const ME: &str = "n-0";
const PEER: &str = "n-1";
const THIRD: &str = "n-2";

static TABLE16: OwnershipTable<'static, 16> = ownership_table![
    Scope::new(b"app:svc00000:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00001:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00002:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00003:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00004:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00005:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00006:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00007:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00008:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00009:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00010:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00011:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00012:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00013:", PEER).with_fallback(ME),
    Scope::new(b"app:svc00014:", ME).with_fallback(PEER),
    Scope::new(b"app:svc00015:", PEER).with_fallback(ME),
];

const PREFIX_LEN: usize = b"app:svc00000:".len();

/// `app:svc00000:`..`app:svc00255:`.
static PREFIXES256: [[u8; PREFIX_LEN]; 256] = {
    let mut all = [*b"app:svc00000:"; 256];
    let mut i = 0;
    while i < 256 {
        all[i][9] = b'0' + (i / 100) as u8;
        all[i][10] = b'0' + (i / 10 % 10) as u8;
        all[i][11] = b'0' + (i % 10) as u8;
        i += 1;
    }
    all
};

static TABLE256: OwnershipTable<'static, 256> = {
    let mut scopes = [Scope::new(b"", ME); 256];
    let mut i = 0;
    while i < 256 {
        scopes[i] = if i % 2 == 0 {
            Scope::new(&PREFIXES256[i], ME).with_fallback(PEER)
        } else {
            Scope::new(&PREFIXES256[i], PEER).with_fallback(ME)
        };
        i += 1;
    }
    match OwnershipTable::from_array(scopes) {
        Ok(table) => table,
        Err(e) => panic!("{}", e.message()),
    }
};

type Moves = MoveTable<4>;

/// What a key should get, so the loop counts the right work.
#[derive(Clone, Copy, PartialEq, defmt::Format)]
enum Want {
    Accept,
    Misdirected,
    Quiesced,
}

fn want_of(verdict: WriteVerdict<'_>) -> Want {
    match verdict {
        WriteVerdict::Accept => Want::Accept,
        WriteVerdict::Quiesced { .. } => Want::Quiesced,
        _ => Want::Misdirected,
    }
}

/// A node over `table` holding 4 move records, each made as a node makes
/// them: two moves of its own sub-prefixes (one committed on the target's
/// `+OK`, one still in flight) and two moves of the peer's it hears of.
fn node_with_moves<T: ScopeTable>(table: T) -> Node<T, Moves> {
    let Ok(mut node) = Node::new(ME, table, Moves::new()) else {
        exit(false)
    };
    let in_flight = node.start_move(b"app:svc00002:eu:", PEER);
    let committed = node
        .start_move(b"app:svc00004:eu:", PEER)
        .map(|s| s.into_inner().epoch);
    let committed = committed.and_then(|epoch| node.commit_move(b"app:svc00004:eu:", epoch));
    let news = |prefix: &'static [u8], epoch, status| Announcement {
        id: MoveId {
            prefix,
            from: PEER,
            to: THIRD,
            epoch: Epoch::new(epoch),
        },
        status,
    };
    let heard = node.learn(
        &news(b"app:svc00001:eu:", 5, MoveStatus::Committed),
        Epoch::new(5),
    );
    let pending = node.learn(
        &news(b"app:svc00003:eu:", 6, MoveStatus::InFlight),
        Epoch::new(6),
    );
    let records = node.records().count();
    if in_flight.is_err()
        || committed.is_err()
        || heard.is_err()
        || pending.is_err()
        || records != 4
    {
        defmt::error!("the move records were not made: {=usize} of 4", records);
        exit(false)
    }
    node
}

/// The quorum service's answer: nobody is down.
fn nobody_down(id: &str) -> bool {
    black_box(id) == "n-9"
}

/// Counter ticks for `k` verdicts, the keys taken in turn.
#[inline(never)]
fn verdicts<T: ScopeTable>(node: &Node<T, Moves>, keys: &[&[u8]; 4], k: u32) -> u32 {
    let start = counter::now();
    for i in 0..k {
        let key = black_box(keys[(i & 3) as usize]);
        black_box(node.verdict(key, nobody_down));
    }
    counter::ticks(start, counter::now())
}

/// Counter ticks for the same loop without the verdict.
#[inline(never)]
fn empty_loop(keys: &[&[u8]; 4], k: u32) -> u32 {
    let start = counter::now();
    for i in 0..k {
        black_box(black_box(keys[(i & 3) as usize]));
    }
    counter::ticks(start, counter::now())
}

/// Counter ticks for `passes` passes of a loop of 10 instructions.
#[inline(never)]
fn known_loop(passes: u32) -> u32 {
    let start = counter::now();
    // SAFETY: only counts a register down to zero.
    unsafe {
        #[cfg(target_arch = "arm")]
        core::arch::asm!(
            "1:", "nop", "nop", "nop", "nop", "nop", "nop", "nop", "nop",
            "subs {n}, #1", "bne 1b",
            n = inout(reg) passes => _, options(nomem, nostack)
        );
        #[cfg(target_arch = "riscv32")]
        core::arch::asm!(
            "1:", "nop", "nop", "nop", "nop", "nop", "nop", "nop", "nop",
            "addi {n}, {n}, -1", "bnez {n}, 1b",
            n = inout(reg) passes => _, options(nomem, nostack)
        );
    }
    counter::ticks(start, counter::now())
}

/// Instructions per pass, in tenths (rounded), for `ticks` over `passes`.
fn per_pass(ticks: i64, passes: u32) -> i64 {
    let divisor = counter::TICK_HZ as i64 * i64::from(passes);
    (ticks * 10 * 1_000_000_000 + divisor / 2).div_euclid(divisor)
}

fn show(tenths: i64) -> f32 {
    tenths as f32 / 10.0
}

/// Verdicts counted per case: enough that a tick of the coarsest counter
/// (62.5 instructions) is under 0.02 instructions per verdict.
const K: u32 = 4000;

/// Counts one case and prints it as `count <scopes> <case> <instructions>`.
fn case<T: ScopeTable>(
    node: &Node<T, Moves>,
    scopes: usize,
    name: &str,
    keys: &[&[u8]; 4],
    wants: [Want; 4],
) {
    for (key, want) in keys.iter().zip(wants) {
        let got = want_of(node.verdict(key, nobody_down));
        if got != want {
            defmt::error!("{=[u8]:a}: expected {}, got {}", key, want, got);
            exit(false)
        }
    }
    let full = i64::from(verdicts(node, keys, K)) - i64::from(empty_loop(keys, K));
    let gross = i64::from(verdicts(node, keys, K)) - i64::from(verdicts(node, keys, 0));
    defmt::info!(
        "count {=usize} {=str} {=f32} (with the loop: {=f32})",
        scopes,
        name,
        show(per_pass(full, K)),
        show(per_pass(gross, K))
    );
}

#[kevy_scope_device::entry]
fn main() -> ! {
    counter::start();
    // The method on a loop of known length: 10 instructions per pass.
    let passes = 100_000;
    let ticks = i64::from(known_loop(passes + 1)) - i64::from(known_loop(1));
    let measured = per_pass(ticks, passes);
    defmt::info!(
        "method: {=str} ({=u64} Hz) under -icount shift=0; known loop: {=u32} passes of 10 instructions = {=u32}, counted {=u64}: {=f32} per pass",
        counter::NAME,
        counter::TICK_HZ,
        passes,
        passes * 10,
        counter::instructions(ticks as u64),
        show(measured)
    );
    let overhead = i64::from(empty_loop(&[b""; 4], K)) - i64::from(empty_loop(&[b""; 4], 0));
    defmt::info!(
        "loop overhead per pass (not in the counts): {=f32}",
        show(per_pass(overhead, K))
    );
    if !(98..=102).contains(&measured) {
        defmt::error!("the method is off by more than 2 %: no count is trustworthy");
        exit(false)
    }

    use Want::{Accept, Misdirected, Quiesced};
    // Scoped keys in no move record: 2 of its own, 2 of the peer's.
    let wants_hit = [Misdirected, Accept, Misdirected, Accept];
    // No scope holds them: before, between (12 bytes shared with a
    // prefix) and after the prefixes, and far off. As long as the hits;
    // the move records' sieve turns each away (none has `:` at offset 15).
    let miss: [&[u8]; 4] = [
        b"app:cfg:user:00001",
        b"app:svc00007x:user:1",
        b"app:svc99999:user:1",
        b"session:0000:user:1",
    ];
    let wants_miss = [Accept; 4];
    // Under the 4 move records: in flight, committed, learned committed,
    // learned in flight.
    let moved: [&[u8]; 4] = [
        b"app:svc00002:eu:1",
        b"app:svc00004:eu:2",
        b"app:svc00001:eu:3",
        b"app:svc00003:eu:4",
    ];
    let wants_moved = [Quiesced, Misdirected, Misdirected, Misdirected];
    // Beside the 4 records, under the same scopes: `us:` where the
    // records hold `eu:`.
    let beside: [&[u8]; 4] = [
        b"app:svc00002:us:1",
        b"app:svc00004:us:2",
        b"app:svc00001:us:3",
        b"app:svc00003:us:4",
    ];
    let wants_beside = [Accept, Accept, Misdirected, Misdirected];

    let node = node_with_moves(&TABLE16);
    let hit: [&[u8]; 4] = [
        b"app:svc00003:user:1",
        b"app:svc00006:user:2",
        b"app:svc00009:order:3",
        b"app:svc00012:cart:4",
    ];
    case(&node, 16, "hit", &hit, wants_hit);
    case(&node, 16, "miss", &miss, wants_miss);
    case(&node, 16, "moved", &moved, wants_moved);
    case(&node, 16, "beside", &beside, wants_beside);

    let node = node_with_moves(&TABLE256);
    let hit: [&[u8]; 4] = [
        b"app:svc00049:user:1",
        b"app:svc00096:user:2",
        b"app:svc00145:order:3",
        b"app:svc00192:cart:4",
    ];
    case(&node, 256, "hit", &hit, wants_hit);
    case(&node, 256, "miss", &miss, wants_miss);
    case(&node, 256, "moved", &moved, wants_moved);
    case(&node, 256, "beside", &beside, wants_beside);
    exit(true)
}
