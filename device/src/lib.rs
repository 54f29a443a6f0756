//! What every kevy-scope program on the QEMU boards shares: the defmt
//! logger over semihosting, a panic handler that fails the QEMU run, the
//! exit call, the system reset, and stack painting to measure the stack
//! high-water mark. The Cortex-M and RISC-V specifics are here and nowhere
//! else: the programs mark their entry with [`entry`].
#![no_std]

use core::ptr::{addr_of, read_volatile, write_volatile};

use defmt_semihosting as _;

#[cfg(target_arch = "arm")]
pub use cortex_m_rt::entry;
#[cfg(target_arch = "riscv32")]
pub use riscv_rt::entry;

/// Ends the QEMU run: status 0 on success, 1 on failure.
#[cfg(target_arch = "arm")]
pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Ends the QEMU run: status 0 on success, 1 on failure.
#[cfg(target_arch = "riscv32")]
pub fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

/// Resets the whole system, as a power cut followed by power-on would,
/// except that RAM keeps its contents (QEMU does not clear it).
#[cfg(target_arch = "arm")]
#[inline(always)]
pub fn system_reset() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

/// Resets the whole system through the `virt` machine's SiFive test
/// device (0x7777 at 0x100000: a guest reset request). QEMU restarts the
/// hart at its reset vector and reloads the ELF's load segments; RAM
/// outside them (`.uninit`) keeps its contents.
#[cfg(target_arch = "riscv32")]
pub fn system_reset() -> ! {
    const SIFIVE_TEST: usize = 0x10_0000;
    const RESET: u32 = 0x7777;
    // SAFETY: the `virt` machine maps its test device at this address; a
    // word write of RESET requests a system reset and writes no memory.
    unsafe { write_volatile(SIFIVE_TEST as *mut u32, RESET) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A trap nothing expects (an illegal instruction, a misaligned or faulty
/// access) fails the run at once rather than hanging until the timeout.
#[cfg(target_arch = "riscv32")]
#[unsafe(export_name = "ExceptionHandler")]
extern "C" fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    defmt::error!(
        "exception: mcause {=usize}, mepc {=usize:#x}, mtval {=usize:#x}",
        riscv::register::mcause::read().bits(),
        riscv::register::mepc::read(),
        riscv::register::mtval::read()
    );
    exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

unsafe extern "C" {
    /// Start of static RAM (.data, the first section in RAM), from the
    /// runtime's link.x (cortex-m-rt or riscv-rt).
    static __sdata: u32;
    /// End of static RAM use (.bss/.uninit).
    static __sheap: u32;
    /// Initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

const PAINT: u32 = 0xDEAD_C0DE;

fn heap_start() -> usize {
    addr_of!(__sheap) as usize
}

fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

#[cfg(target_arch = "arm")]
#[inline(always)]
fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

#[cfg(target_arch = "riscv32")]
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: copies the stack pointer into a register; no memory access.
    unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

/// Fills the unused stack, from the end of static RAM up to a little below
/// the current stack pointer, with a pattern.
#[inline(never)]
pub fn paint_stack() {
    let sp = stack_pointer();
    let mut at = heap_start();
    // Stay clear of this function's own frame.
    let end = sp.saturating_sub(64);
    while at + 4 <= end {
        // SAFETY: [__sheap, sp - 64) is RAM no live object occupies: statics
        // end at __sheap and the stack has not grown below sp.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// The most stack used since [`paint_stack`], in bytes: from the top of
/// RAM down to the lowest word that lost the pattern.
pub fn stack_high_water() -> usize {
    let mut at = heap_start();
    // SAFETY: reads words in [__sheap, top of RAM), all mapped RAM.
    while at < stack_top() && unsafe { read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    stack_top() - at
}

/// Static RAM the program uses (.data + .bss), in bytes.
pub fn static_ram() -> usize {
    heap_start() - addr_of!(__sdata) as usize
}

/// The static table the footprint probes route with: one scope of this
/// node's, with a fallback, and one of another node's.
pub static PROBE_TABLE: kevy_scope::OwnershipTable<'static, 2> = kevy_scope::ownership_table![
    kevy_scope::Scope::new(b"app:billing:", "embed-billing-1").with_fallback("server-eu-1"),
    kevy_scope::Scope::new(b"app:auth:", "embed-auth-1"),
];

/// The peer list the footprint probes resolve replies with (one IPv4, one
/// IPv6 address).
pub static PROBE_PEERS: [(&str, kevy_scope::wire::PeerAddr<'static>); 2] = [
    (
        "embed-billing-1",
        kevy_scope::wire::PeerAddr::new("10.0.0.1", 6379),
    ),
    (
        "embed-auth-1",
        kevy_scope::wire::PeerAddr::new("fd00::3", 6004),
    ),
];

/// The work both footprint probes measure: this node's verdict and reply
/// for a key of another node's scope and a key of its own, then the exit
/// (success when exactly the first key was redirected, to `embed-auth-1`
/// at `[fd00::3]:6004`).
pub fn route_two_keys_and_exit<T, R>(
    probe: &str,
    node: &kevy_scope::Node<T, R>,
    peers: &impl kevy_scope::wire::AddressBook,
) -> !
where
    T: kevy_scope::table::ScopeTable,
    R: kevy_scope::moves::MoveRecords,
{
    use core::hint::black_box;
    let mut buf = [0u8; kevy_scope::wire::MAX_REPLY_LEN];
    let mut replied = 0;
    for key in [
        black_box(&b"app:auth:user:7"[..]),
        black_box(b"app:billing:1"),
    ] {
        let verdict = node.verdict(key, |id| black_box(id) == "nobody");
        replied += verdict.encode_reply(peers, &mut buf).map_or(0, <[u8]>::len);
    }
    defmt::info!(
        "{=str}: {=usize} reply bytes; stack high-water {=usize} B",
        probe,
        replied,
        stack_high_water()
    );
    exit(replied == "-MISDIRECTED writer is [fd00::3]:6004\r\n".len())
}

/// A counter of executed instructions, for programs QEMU runs with
/// `-icount shift=0`: the virtual clock then advances one nanosecond per
/// instruction, and every clock the guest reads follows it.
///
/// - Cortex-M: SysTick, clocked by the core clock (`CLKSOURCE` set), a
///   24-bit down-counter; one tick is `1e9 / CORE_HZ` instructions (62.5
///   on the micro:bit). QEMU does not model the DWT cycle counter.
/// - RISC-V: `minstret`, which QEMU derives from the instruction count
///   under `-icount` (`mcycle` too): one tick per instruction.
///
/// A window between two reads must stay under 2^24 ticks on Cortex-M
/// (over 600 million instructions on these boards).
pub mod counter {
    #[cfg(target_arch = "arm")]
    mod board {
        include!(concat!(env!("OUT_DIR"), "/board.rs"));
    }

    /// Counter ticks per second of virtual time.
    #[cfg(target_arch = "arm")]
    pub const TICK_HZ: u64 = board::CORE_HZ;
    /// Counter ticks per second of virtual time.
    #[cfg(target_arch = "riscv32")]
    pub const TICK_HZ: u64 = 1_000_000_000;

    /// The counter's name, for the report.
    #[cfg(target_arch = "arm")]
    pub const NAME: &str = "SysTick at the core clock";
    /// The counter's name, for the report.
    #[cfg(target_arch = "riscv32")]
    pub const NAME: &str = "minstret";

    #[cfg(target_arch = "arm")]
    const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
    #[cfg(target_arch = "arm")]
    const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
    #[cfg(target_arch = "arm")]
    const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;
    #[cfg(target_arch = "arm")]
    const MASK: u32 = 0x00FF_FFFF;

    /// Starts the counter.
    #[cfg(target_arch = "arm")]
    pub fn start() {
        // SAFETY: the SysTick registers of every Cortex-M; nothing else in
        // these programs uses SysTick. Enable, core clock, no interrupt.
        unsafe {
            super::write_volatile(SYST_RVR, MASK);
            super::write_volatile(SYST_CVR, 0);
            super::write_volatile(SYST_CSR, 0b101);
        }
    }

    /// Starts the counter (`minstret` always runs).
    #[cfg(target_arch = "riscv32")]
    pub fn start() {}

    /// The counter now, counting up.
    #[cfg(target_arch = "arm")]
    #[inline(always)]
    pub fn now() -> u32 {
        // SAFETY: a read of SysTick's current value register.
        MASK - unsafe { super::read_volatile(SYST_CVR) }
    }

    /// The counter now, counting up.
    #[cfg(target_arch = "riscv32")]
    #[inline(always)]
    pub fn now() -> u32 {
        riscv::register::minstret::read() as u32
    }

    /// Ticks from `from` to `to`, across one wrap.
    pub fn ticks(from: u32, to: u32) -> u32 {
        #[cfg(target_arch = "arm")]
        return to.wrapping_sub(from) & MASK;
        #[cfg(target_arch = "riscv32")]
        return to.wrapping_sub(from);
    }

    /// Instructions in `ticks`, at one instruction per nanosecond.
    pub fn instructions(ticks: u64) -> u64 {
        ticks * 1_000_000_000 / TICK_HZ
    }
}
