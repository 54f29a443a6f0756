//! Everything the firmware does through `unsafe`, in one place: the
//! LM3S6965's UART registers (QEMU's `pl011_luminary`), the NVIC line
//! that wakes the core on a received byte, semihosting calls (the flash
//! file, the command line) and the stack's
//! high-water mark. Each block says why it is sound.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::NVIC;
use cortex_m_semihosting::nr;

/// A PL011-style UART of the LM3S6965.
#[derive(Clone, Copy)]
pub struct Uart {
    base: usize,
}

/// UART0: the client's byte stream (QEMU serves it as a TCP socket).
pub const UART0: Uart = Uart { base: 0x4000_C000 };
/// UART1: the log.
pub const UART1: Uart = Uart { base: 0x4000_D000 };

const DR: usize = 0x00;
const FR: usize = 0x18;
const LCRH: usize = 0x2C;
const CR: usize = 0x30;
const IMSC: usize = 0x38;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
/// 8 data bits, no parity, one stop bit, FIFOs off (one byte deep: QEMU
/// then reads the chip's pipe only as fast as the firmware takes bytes).
const LCRH_8N1: u32 = 0b11 << 5;
/// UARTEN, TXE, RXE.
const CR_ON: u32 = 1 | (1 << 8) | (1 << 9);
/// Receive and receive-timeout interrupts.
const IMSC_RX: u32 = (1 << 4) | (1 << 6);
/// The run-mode clock gating register 1 (UART0 and UART1 clocks: bits 0, 1).
const SYSCTL_RCGC1: usize = 0x400F_E104;
/// UART0's interrupt line on the LM3S6965's NVIC.
const UART0_IRQ: u16 = 5;

impl Uart {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: `base + offset` is one of this UART's 32-bit registers
        // (the LM3S6965 memory map, 0x4000_C000/0x4000_D000), always
        // mapped and readable; a volatile read has no effect on Rust memory.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`; the register is the device's, no Rust
        // object lives at that address.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    /// 8N1, FIFOs off, receiver and transmitter on.
    pub fn init(self) {
        self.write(CR, 0);
        self.write(LCRH, LCRH_8N1);
        self.write(CR, CR_ON);
    }

    /// Whether a received byte waits.
    pub fn rx_ready(self) -> bool {
        self.read(FR) & FR_RXFE == 0
    }

    /// The received byte, or `None` with a break or framing error flag.
    pub fn take(self) -> Option<u8> {
        let word = self.read(DR);
        if word & 0xF00 == 0 {
            Some(word as u8)
        } else {
            None
        }
    }

    /// Sends `bytes`, waiting for room in the transmitter.
    pub fn send(self, bytes: &[u8]) {
        for &b in bytes {
            while self.read(FR) & FR_TXFF != 0 {}
            self.write(DR, u32::from(b));
        }
    }

    /// Interrupts on a received byte (on) or none (off).
    fn listen(self, on: bool) {
        self.write(IMSC, if on { IMSC_RX } else { 0 });
    }
}

/// Turns the UART clocks on (as the real chip needs; QEMU does not gate
/// them) and sets both UARTs up.
pub fn init_uarts() {
    // SAFETY: RCGC1 is the system control block's 32-bit register at a
    // fixed address of the LM3S6965 map; setting the UART clock bits has
    // no effect on memory.
    unsafe {
        let rcgc1 = SYSCTL_RCGC1 as *mut u32;
        write_volatile(rcgc1, read_volatile(rcgc1) | 0b11);
    }
    UART0.init();
    UART1.init();
}

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: `number` returns a valid interrupt line of this chip (UART0's).
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Lets UART0's interrupt wake the core (its handler only masks it
/// again: `DefaultHandler` in main.rs calls [`quiet_uart0`]).
pub fn enable_uart0_wakeup() {
    // SAFETY: the handler that runs for this line (DefaultHandler) only
    // masks the UART's interrupt; it shares no data with the main loop,
    // so unmasking it breaks no critical section.
    unsafe { NVIC::unmask(Irq(UART0_IRQ)) }
}

/// UART0's interrupt off (from its handler: the main loop reads the byte).
pub fn quiet_uart0() {
    UART0.listen(false);
}

/// Milliseconds since boot, counted by SysTick (main.rs).
pub static MILLIS: AtomicU32 = AtomicU32::new(0);

/// Sleeps until a byte arrives on UART0 or the next SysTick, whichever
/// is first; returns at once when a byte is there already.
pub fn sleep_until_byte() {
    cortex_m::interrupt::free(|_| {
        // With interrupts masked, a byte arriving between the check and
        // `wfi` still wakes it (a pending interrupt ends `wfi`).
        UART0.listen(true);
        if !UART0.rx_ready() {
            cortex_m::asm::wfi();
        }
    });
}

/// A host file opened through semihosting.
pub struct HostFile(usize);

/// Semihosting's `fopen` mode used here: read and write, no create.
pub const READ_WRITE: usize = nr::open::RW_BINARY;

/// The longest host path.
const PATH: usize = 256;

impl HostFile {
    /// Opens `path` on the host; `None` when it cannot be opened.
    pub fn open(path: &[u8], mode: usize) -> Option<Self> {
        let mut z = [0u8; PATH];
        z.get_mut(..path.len())?.copy_from_slice(path);
        if path.len() >= PATH {
            return None;
        }
        let block = [z.as_ptr() as usize, mode, path.len()];
        // SAFETY: SYS_OPEN reads the NUL-terminated path `z` (it lives
        // until the call returns) and the block's three words; it writes
        // no guest memory.
        let handle = unsafe { cortex_m_semihosting::syscall(nr::OPEN, &block) };
        (handle as isize >= 0).then_some(Self(handle))
    }

    /// Moves to byte `at`.
    pub fn seek(&self, at: usize) -> bool {
        let block = [self.0, at];
        // SAFETY: SYS_SEEK reads the block only.
        unsafe { cortex_m_semihosting::syscall(nr::SEEK, &block) == 0 }
    }

    /// Reads into `buf`; how many bytes came (0 at the end).
    pub fn read(&self, buf: &mut [u8]) -> usize {
        let mut block = [self.0, buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: SYS_READ writes at most `buf.len()` bytes into `buf`,
        // which is borrowed mutably for the call; it returns how many it
        // did not read.
        let left = unsafe { cortex_m_semihosting::syscall1(nr::READ, block.as_mut_ptr() as usize) };
        buf.len().saturating_sub(left)
    }

    /// Writes all of `bytes`.
    pub fn write(&self, bytes: &[u8]) -> bool {
        let block = [self.0, bytes.as_ptr() as usize, bytes.len()];
        // SAFETY: SYS_WRITE reads `bytes` (borrowed for the call) and the
        // block; it returns how many bytes it did not write.
        unsafe { cortex_m_semihosting::syscall(nr::WRITE, &block) == 0 }
    }
}

/// The command line QEMU passes to semihosting (`-append`), in `buf`.
pub fn command_line(buf: &mut [u8]) -> &[u8] {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `buf.len()` bytes into `buf`
    // (borrowed mutably for the call) and the length it wrote into the
    // block's second word.
    let status =
        unsafe { cortex_m_semihosting::syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    let len = if status == 0 {
        block.get(1).copied().unwrap_or(0)
    } else {
        0
    };
    buf.get(..len).unwrap_or_default()
}

/// Stops QEMU with this exit status (semihosting).
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

unsafe extern "C" {
    /// The first byte above `.bss` and `.data` (cortex-m-rt's link.x).
    static __sheap: u32;
}

const PAINT: u32 = 0xA5A5_A5A5;

/// The RAM between the statics and the stack pointer, less a margin for
/// the calls in progress.
fn free_ram() -> (usize, usize) {
    let bottom = core::ptr::addr_of!(__sheap) as usize;
    let top = cortex_m::register::msp::read() as usize - 256;
    (bottom, top)
}

/// Paints the RAM the stack has not reached yet, at boot.
pub fn paint_stack() {
    let (bottom, top) = free_ram();
    let mut at = bottom;
    while at < top {
        // SAFETY: [bottom, top) lies between the end of the statics and
        // the stack pointer less 256 bytes: no Rust object lives there
        // (no heap), and the stack does not reach it during this loop.
        unsafe { write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// The deepest the stack has been, in bytes below the top of RAM.
pub fn stack_high_water(ram_top: usize) -> usize {
    let bottom = core::ptr::addr_of!(__sheap) as usize;
    let mut at = bottom;
    while at < ram_top {
        // SAFETY: a word-aligned address inside RAM, read only; a stack
        // word read while in use is just a number here.
        if unsafe { read_volatile(at as *const u32) } != PAINT {
            break;
        }
        at += 4;
    }
    ram_top - at
}

/// Log lines on UART1.
pub struct Log;

impl fmt::Write for Log {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        UART1.send(s.as_bytes());
        Ok(())
    }
}

/// A now from the SysTick count.
pub fn millis() -> u64 {
    u64::from(MILLIS.load(Ordering::Relaxed))
}
