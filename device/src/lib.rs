//! What every kevy-scope program on the QEMU boards shares: the defmt
//! logger over semihosting, a panic handler that fails the QEMU run, the
//! exit call, and stack painting to measure the stack high-water mark.
#![no_std]

use core::ptr::{addr_of, read_volatile, write_volatile};

use cortex_m_semihosting::debug;
use defmt_semihosting as _;

/// Ends the QEMU run: status 0 on success, 1 on failure.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

unsafe extern "C" {
    /// End of static RAM use (.bss/.uninit), from cortex-m-rt's link.x.
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

/// Fills the unused stack, from the end of static RAM up to a little below
/// the current stack pointer, with a pattern.
#[inline(never)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
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
    heap_start() - 0x2000_0000
}

/// The work both footprint probes measure: this node's verdict and reply
/// for a key of another node's scope and a key of its own, then the exit
/// (success when exactly the first key was redirected, to `embed-auth-1`
/// at `[fd00::3]:6004`).
pub fn route_two_keys_and_exit<T, R>(
    probe: &str,
    node: &kevy_scope::Node<T, R>,
    peers: &impl kevy_scope::Resolve,
) -> !
where
    T: kevy_scope::ScopeLookup,
    R: kevy_scope::MoveRecords,
{
    use core::hint::black_box;
    let mut buf = [0u8; kevy_scope::MAX_REPLY_LEN];
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
