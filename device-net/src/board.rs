//! The QEMU `virt` machine's devices this firmware touches besides the
//! network card, each a few volatile register accesses at the addresses
//! QEMU's hw/riscv/virt.c maps (and its device tree lists):
//!
//! - the 16550 UART at 0x1000_0000: the log;
//! - the SiFive test device at 0x10_0000: exit QEMU with a status;
//! - the ACLINT timer (CLINT layout) at 0x200_0000: `mtime`, 10 MHz, and
//!   hart 0's `mtimecmp`;
//! - the PLIC at 0xC00_0000: the virtio-net interrupt, for `wfi`.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

const UART: usize = 0x1000_0000;
const UART_LSR: usize = UART + 5;
const LSR_THR_EMPTY: u8 = 1 << 5;
const SIFIVE_TEST: usize = 0x10_0000;
const MTIMECMP0: usize = 0x200_4000;
const MTIME: usize = 0x200_BFF8;
/// `mtime` ticks per microsecond (QEMU virt: 10 MHz).
pub const TICKS_PER_US: u64 = 10;
const PLIC: usize = 0xC00_0000;
/// Hart 0's machine-mode context.
const PLIC_ENABLE0: usize = PLIC + 0x2000;
const PLIC_THRESHOLD0: usize = PLIC + 0x20_0000;
const PLIC_CLAIM0: usize = PLIC + 0x20_0004;

/// Writes one word to a device register.
///
/// SAFETY (of every caller in this module): each address is a register
/// of a `virt` device listed above, mapped for the whole run, whose
/// accesses have no effect on memory the program owns.
fn write32(addr: usize, value: u32) {
    // SAFETY: see above; only this module's constants reach here.
    unsafe { write_volatile(addr as *mut u32, value) }
}

fn read32(addr: usize) -> u32 {
    // SAFETY: as for `write32`.
    unsafe { read_volatile(addr as *const u32) }
}

/// The log: bytes to the UART (QEMU needs no set-up for it).
pub struct Uart;

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            // SAFETY: the UART's line status and transmit registers (byte
            // wide), as for `write32`.
            unsafe {
                while read_volatile(UART_LSR as *const u8) & LSR_THR_EMPTY == 0 {}
                write_volatile(UART as *mut u8, byte);
            }
        }
        Ok(())
    }
}

/// `println!` to the UART.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::board::Uart, $($arg)*);
    }};
}

/// Ends the QEMU run with `status` (0: success).
pub fn exit(status: u16) -> ! {
    // 0x5555 is "pass"; (code << 16) | 0x3333 is "fail with code".
    let value = if status == 0 {
        0x5555
    } else {
        (u32::from(status) << 16) | 0x3333
    };
    write32(SIFIVE_TEST, value);
    loop {
        riscv::asm::wfi();
    }
}

/// Microseconds since reset, from `mtime`.
pub fn micros() -> u64 {
    // The 64-bit counter read as two words: retry when the high word
    // moved between the reads.
    loop {
        let hi = read32(MTIME + 4);
        let lo = read32(MTIME);
        if read32(MTIME + 4) == hi {
            return ((u64::from(hi) << 32) | u64::from(lo)) / TICKS_PER_US;
        }
    }
}

/// Raises the timer interrupt's pending bit at `micros()` = `at` (the
/// interrupt is never taken: `mstatus.MIE` stays clear, `wfi` only wakes).
pub fn wake_at(at_us: u64) {
    let at = at_us.saturating_mul(TICKS_PER_US);
    // High word first at its maximum, so no value between the two writes
    // lies in the past.
    write32(MTIMECMP0 + 4, u32::MAX);
    write32(MTIMECMP0, at as u32);
    write32(MTIMECMP0 + 4, (at >> 32) as u32);
}

/// Lets interrupt source `irq` wake hart 0 from `wfi`: priority 1,
/// enabled in hart 0's machine context, threshold 0, and the machine
/// external and timer interrupts enabled in `mie` (but never taken:
/// `mstatus.MIE` stays clear, so no handler runs).
pub fn enable_wakeup(irq: u32) {
    write32(PLIC + 4 * irq as usize, 1);
    let word = PLIC_ENABLE0 + 4 * (irq as usize / 32);
    write32(word, read32(word) | 1 << (irq % 32));
    write32(PLIC_THRESHOLD0, 0);
    // SAFETY: sets mie.MEIE and mie.MTIE; with mstatus.MIE clear no trap
    // follows, `wfi` returns when either is pending.
    unsafe {
        riscv::register::mie::set_mext();
        riscv::register::mie::set_mtimer();
    }
}

/// Waits for an interrupt (the network card's, or the timer's).
pub fn wait() {
    riscv::asm::wfi();
}

/// Takes the PLIC's pending interrupt, if any, and completes it, after
/// `ack` has cleared its cause at the device.
pub fn claim_and_complete(ack: impl FnOnce()) {
    let irq = read32(PLIC_CLAIM0);
    ack();
    if irq != 0 {
        write32(PLIC_CLAIM0, irq);
    }
}

unsafe extern "C" {
    /// End of the statics (.bss), from riscv-rt's link.x: the stack's
    /// lowest possible address.
    static __sheap: u32;
    /// The initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

const PAINT: u32 = 0xDEAD_C0DE;

fn stack_bottom() -> usize {
    core::ptr::addr_of!(__sheap) as usize
}

fn stack_top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

/// Fills the unused stack, from the end of the statics to a little below
/// the current stack pointer, with a pattern (once, at boot).
#[inline(never)]
pub fn paint_stack() {
    let sp: usize;
    // SAFETY: copies the stack pointer into a register; no memory access.
    unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp, options(nomem, nostack)) };
    let mut at = stack_bottom();
    while at + 4 <= sp.saturating_sub(256) {
        // SAFETY: [__sheap, sp - 256) is RAM no live object occupies: the
        // statics end at __sheap and the stack has not grown below sp.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// The most stack used since [`paint_stack`], in bytes.
pub fn stack_high_water() -> usize {
    let mut at = stack_bottom();
    // SAFETY: reads words in [__sheap, top of RAM), all mapped RAM.
    while at < stack_top() && unsafe { read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    stack_top() - at
}
