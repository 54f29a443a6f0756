//! embed-billing-1 on a Cortex-M3 (TI LM3S6965 as QEMU's `lm3s6965evb`),
//! serving RESP2 on UART0, which QEMU exposes as a TCP socket on the
//! host (`-serial tcp:127.0.0.1:PORT,server=on,wait=off`): the shape of
//! an MCU behind a TCP-offload chip, which sees a byte stream per socket.
//!
//! The commands, their store, the RESP parser and the connection buffer
//! are device-net's (`kevy_net`); every SET and DEL asks kevy-scope's
//! `Node::verdict` first. One client at a time: before reading a byte it
//! cannot vouch for, the firmware reads the host's TCP socket table
//! through semihosting to learn which connection QEMU holds, and forgets
//! the last client's buffer and login when it changed (src/stream.rs
//! says when that is exact; about one read of the table a request). The node's image and the
//! store are written through to a host file through semihosting, the
//! stand-in for the chip's flash (src/layout.rs), and restored at boot.
//! The log goes to UART1.
#![no_std]
#![no_main]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod hw;

use core::fmt::Write as _;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use kevy_net::cluster::parse_config;
use kevy_net::commands::{After, Disk, Reply, Server, Store, Users};
use kevy_scope::{
    Driver, MoveTable, Node, OwnershipTable, Scope,
    driver::{Effect, Request as DriverRequest},
    moves::MoveRecords,
    ownership_table,
    table::ScopeTable,
    wire::{AddressBook, PeerAddr},
};
use kevy_uart::args;
use kevy_uart::layout::{Boot, FileFlash, Medium};
use kevy_uart::sockets::{Found, Scan};
use kevy_uart::stream::Stream;

use hw::{HostFile, UART0};

const NODE_ID: &str = "embed-billing-1";

/// The scopes, as device-net's firmware (device-net/src/main.rs): this
/// node writes `app:billing:` (server-eu-1 stands in while it is down),
/// embed-auth-1 writes `app:auth:`. Checked at compile time.
static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", NODE_ID).with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];

/// Where the redirects point (device-net's addresses).
static PEERS: [(&str, PeerAddr<'static>); 2] = [
    ("embed-auth-1", PeerAddr::new("127.0.0.1", 7002)),
    ("server-eu-1", PeerAddr::new("127.0.0.1", 7001)),
];

/// The driver's peer list, this node among them.
const DRIVER_PEERS: [&str; 3] = [NODE_ID, "server-eu-1", "embed-auth-1"];

/// The top of the LM3S6965's 64 KiB of SRAM (memory.x).
const RAM_TOP: usize = 0x2001_0000;
/// SysTick's period: 10 ms (the driver's deadlines are seconds).
const TICK_MS: u32 = 10;
/// SysTick reload for [`TICK_MS`] at the 12.5 MHz core clock QEMU gives
/// the board at reset (200 MHz PLL / 16).
const TICK: u32 = 12_500 * TICK_MS;
/// FR polls before the core sleeps, right after a byte (QEMU feeds the
/// UART from its main loop, a byte at a time): the rest of a request
/// usually comes within them.
const SPIN: u32 = 1000;
/// Where QEMU's socket table is (its own network namespace's).
const SOCKET_TABLE: &[u8] = b"/proc/self/net/tcp";

type BillingNode = Node<&'static OwnershipTable<'static, 2>, MoveTable<4>>;
type BillingDriver = Driver<3, 4>;

macro_rules! log {
    ($($arg:tt)*) => {{
        let _ = writeln!(hw::Log, $($arg)*);
    }};
}

/// The flash file on the host, or nothing (RAM only).
struct Flash(Option<HostFile>);

impl Medium for &Flash {
    fn read_at(&mut self, at: usize, buf: &mut [u8]) -> usize {
        match &self.0 {
            Some(f) if f.seek(at) => f.read(buf),
            _ => 0,
        }
    }

    fn write_at(&mut self, at: usize, bytes: &[u8]) -> bool {
        match &self.0 {
            Some(f) => f.seek(at) && f.write(bytes),
            None => true,
        }
    }
}

#[entry]
fn main() -> ! {
    hw::paint_stack();
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        hw::exit(false)
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(TICK - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();
    hw::init_uarts();
    log!("{NODE_ID}: booting (Cortex-M3, QEMU lm3s6965evb)");

    let mut line = [0u8; 384];
    let args = args::parse(hw::command_line(&mut line));
    let file = Flash(args.flash.and_then(|p| HostFile::open(p, hw::READ_WRITE)));
    match (&file.0, args.flash) {
        (Some(_), Some(p)) => log!(
            "{NODE_ID}: flash file {}",
            core::str::from_utf8(p).unwrap_or("?")
        ),
        (None, Some(_)) => log!("{NODE_ID}: flash file cannot be opened: RAM only"),
        _ => log!("{NODE_ID}: no flash= on the command line: RAM only"),
    }
    let mut disk = FileFlash::new(&file);

    // The users: cluster from the config block; no admin, since
    // MOVE-SCOPE needs calls to the peers that a UART cannot make.
    let mut users: Users = parse_config(&disk.config());
    users.admin = None;
    log!(
        "{NODE_ID}: users: cluster {}, admin none (MOVE-SCOPE refused)",
        if users.cluster.is_some() {
            "set"
        } else {
            "none (node-to-node commands refused)"
        }
    );

    let Ok(mut node) = BillingNode::new(NODE_ID, &TABLE, MoveTable::<4>::new()) else {
        fail("bad node id")
    };
    let (boot, restored) = disk.load_image(|image| node.restore(image));
    match (boot, restored) {
        (Boot::Fresh, _) => log!("{NODE_ID}: no image: first boot"),
        (Boot::Image(len), Ok(())) => log!(
            "{NODE_ID}: image of {len} B restored: epoch {}, {} records",
            node.epoch().get(),
            node.records().count()
        ),
        (Boot::Image(_), Err(e)) => log!("{NODE_ID}: image refused ({e}): quarantined"),
        (Boot::Damaged, _) => {
            log!("{NODE_ID}: image damaged: quarantined");
            disk.erase_images();
            match BillingNode::quarantined(NODE_ID, &TABLE, MoveTable::<4>::new()) {
                Ok(n) => node = n,
                Err(_) => fail("bad node id"),
            }
        }
    }
    let mut store = Store::new();
    let keys = disk.load_store(&mut store);
    log!("{NODE_ID}: store: {keys} keys restored");
    let Ok(mut driver) = BillingDriver::new(DRIVER_PEERS) else {
        fail("bad peer list")
    };
    if driver.resume(&mut node).is_err() {
        fail("driver resume");
    }

    let table = args
        .port
        .and_then(|_| HostFile::open(SOCKET_TABLE, hw::READ));
    match (args.port, &table) {
        (Some(port), Some(_)) => log!(
            "{NODE_ID}: serving UART0 (host port {port}); clients tracked in the host's socket table"
        ),
        _ => log!("{NODE_ID}: serving UART0; clients NOT tracked (no port= or no socket table)"),
    }
    hw::enable_uart0_wakeup();

    let mut server = Server {
        node: &mut node,
        peers: &PEERS,
        store: &mut store,
        driver: &mut driver,
        disk: &mut disk,
        users: &users,
    };
    // Keys the restored records say another node owns: shipped here by
    // an ingest never adopted (a kill between the two writes).
    drop_unowned(&mut server);
    let mut stream = Stream::new();
    let mut out = Reply::new();
    let mut lookups: u32 = 0;
    // Replies not sent: their client had left.
    let mut unsent: u32 = 0;
    let mut just_read = false;
    let mut dropped_calls: u32 = 0;
    let mut stack_logged = 0;
    let mut stack_due = true;
    loop {
        // The driver's effects (a resumed move or a recovery): images are
        // written; calls to peers cannot be made over a UART.
        for _ in 0..8 {
            let Some(effect) = server.driver.poll(server.node, hw::millis()) else {
                break;
            };
            match effect {
                Effect::Persist => {
                    if !server.disk.save(server.node) {
                        fail("flash write failed");
                    }
                    server.driver.persisted();
                    // A commit among what was persisted hands its keys over.
                    drop_unowned(&mut server);
                }
                Effect::Send { to, request } => {
                    dropped_calls += 1;
                    log_dropped(dropped_calls, to, request_name(&request));
                }
                Effect::Ship { to, .. } => {
                    dropped_calls += 1;
                    log_dropped(dropped_calls, to, "MOVE-SCOPE-INGEST");
                }
                _ => {}
            }
        }

        if !UART0.rx_ready() {
            let mut spins = 0;
            while just_read && !UART0.rx_ready() && spins < SPIN {
                spins += 1;
            }
            just_read = false;
            if !UART0.rx_ready() {
                if stack_due {
                    // Once a client: a scan of the painted RAM, ~50 KB.
                    stack_due = false;
                    let high = hw::stack_high_water(RAM_TOP);
                    if high > stack_logged {
                        stack_logged = high;
                        log!(
                            "{NODE_ID}: stack high-water {high} B ({} keys stored)",
                            server.store.len()
                        );
                    }
                }
                hw::sleep_until_byte();
                if !UART0.rx_ready() {
                    // Woken by SysTick, not a byte: the client paused. If
                    // its connection was reset, the bytes vouched for
                    // will never come; look the next byte up.
                    stream.idle();
                }
            }
            continue;
        }
        if stream.vouched() == 0
            && let (Some(port), Some(table)) = (args.port, &table)
        {
            // A byte nothing vouches for: whose is it?
            lookups = lookups.wrapping_add(1);
            let found = lookup(table, port);
            if let Some(f) = found
                && f.others > 0
            {
                log!(
                    "{NODE_ID}: {} other accepted sockets on the port; took inode {}",
                    f.others,
                    f.peer.inode
                );
            }
            if stream.observe(found) {
                stack_due = true;
                match found {
                    Some(f) => log!(
                        "{NODE_ID}: client #{} from port {} (socket inode {}); so far {} table reads, {} replies to clients gone",
                        stream.clients,
                        f.peer.port,
                        f.peer.inode,
                        lookups,
                        unsent
                    ),
                    None => log!("{NODE_ID}: bytes of a client already gone"),
                }
            }
        }
        just_read = true;
        let Some(byte) = UART0.take() else {
            continue;
        };
        stream.push(byte);
        while let Some(after) = stream.step(&mut out, |request, session, out| {
            server.execute(request, session, out)
        }) {
            if stream.vouched() == 0
                && let (Some(port), Some(table)) = (args.port, &table)
            {
                // Nothing more of this client's is in the host: it may
                // have left, and QEMU would hand the reply to the next one.
                lookups = lookups.wrapping_add(1);
                if !stream.may_reply(lookup(table, port)) {
                    unsent = unsent.wrapping_add(1);
                    continue;
                }
            }
            match after {
                After::Continue | After::Close => UART0.send(&out),
                // MOVE-SCOPE needs the admin user, who cannot log in here.
                After::Wait(_) => UART0.send(b"-ERR MOVE-SCOPE is not served here\r\n"),
            }
        }
    }
}

/// `Server::drop_unowned` (device-net's), logged; a failed flash write
/// stops the node.
fn drop_unowned<
    T: ScopeTable,
    R: MoveRecords,
    A: AddressBook,
    D: Disk,
    const P: usize,
    const M: usize,
>(
    server: &mut Server<'_, T, R, A, D, P, M>,
) {
    match server.drop_unowned() {
        Some(0) => {}
        Some(n) => log!("{NODE_ID}: {n} keys another node owns now dropped"),
        None => fail("flash write failed"),
    }
}

/// A driver's call to a peer this firmware cannot make (logged at the
/// 1st, 2nd, 4th, ... of them).
fn log_dropped(count: u32, to: &str, what: &str) {
    if count.is_power_of_two() {
        log!("{NODE_ID}: {what} to {to} not sent: no outgoing connections ({count} so far)");
    }
}

/// The command a driver request is sent as.
fn request_name(request: &DriverRequest<'_>) -> &'static str {
    match request {
        DriverRequest::News { .. } => "MOVE-SCOPE-NEWS",
        DriverRequest::Outcome(_) => "MOVE-SCOPE-OUTCOME",
        DriverRequest::Ingest(_) => "MOVE-SCOPE-INGEST",
        DriverRequest::Recheck(_) => "MOVE-SCOPE-RECHECK",
        DriverRequest::Epoch { .. } => "MOVE-SCOPE-EPOCH",
        DriverRequest::Fence(_) => "MOVE-SCOPE-FENCE",
        _ => "a node-to-node command",
    }
}

/// The connection QEMU holds on `port`, from the host's socket table.
fn lookup(table: &HostFile, port: u16) -> Option<Found> {
    if !table.seek(0) {
        return None;
    }
    let mut scan = Scan::new(port);
    let mut chunk = [0u8; 1024];
    loop {
        let n = table.read(&mut chunk);
        scan.feed(chunk.get(..n).unwrap_or_default());
        // A procfs table fills the buffer while it has lines: a short
        // read is its end.
        if n < chunk.len() {
            break;
        }
    }
    scan.finish()
}

fn fail(why: &str) -> ! {
    log!("{NODE_ID}: fatal: {why}");
    hw::exit(false)
}

#[exception]
fn SysTick() {
    hw::MILLIS.fetch_add(TICK_MS, core::sync::atomic::Ordering::Relaxed);
}

/// UART0's interrupt: it only woke the core; the main loop reads the byte.
#[exception]
unsafe fn DefaultHandler(_irq: i16) {
    hw::quiet_uart0();
}

#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    log!("{NODE_ID}: hard fault at pc {:#x}", frame.pc());
    hw::exit(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log!("{NODE_ID}: panic: {info}");
    hw::exit(false)
}
