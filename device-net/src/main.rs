//! embed-billing-1 as a network node: a RESP2 server on TCP port 6379 of
//! QEMU `virt`'s virtio-net card (10.0.2.15 on QEMU's user network),
//! on a riscv32imac hart with 64 KiB of RAM and no heap.
//!
//! Every SET (and DEL) asks kevy-scope's `Node::verdict` first: a key of
//! this node's scope (`app:billing:`) or of no scope is stored and
//! answered `+OK`; a key of another node's scope is answered with the
//! crate's redirect, `-MISDIRECTED writer is 127.0.0.1:7002` for
//! `app:auth:`. GET reads the store. Malformed input is a RESP error and
//! closes that connection; it never panics. Up to [`SOCKETS`] clients at
//! once; a connection request beyond them is dropped, and the client's
//! retry finds a socket when one is free. Between packets the hart
//! sleeps in `wfi`, woken by the card's interrupt or smoltcp's next
//! timer.
#![no_std]
#![no_main]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod board;
mod hal;
mod net;

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use kevy_net::commands::{After, MAX_REPLY, Reply, Server, Store};
use kevy_net::conn::Conn;
use kevy_scope::{MoveTable, Node, OwnershipTable, Scope, ownership_table, wire::PeerAddr};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};

const NODE_ID: &str = "embed-billing-1";

/// The scopes, as device/src/lib.rs's PROBE_TABLE: this node writes
/// `app:billing:` (server-eu-1 stands in while it is down), embed-auth-1
/// writes `app:auth:`. Checked at compile time.
static TABLE: OwnershipTable<'static, 2> = ownership_table![
    Scope::new(b"app:billing:", NODE_ID).with_fallback("server-eu-1"),
    Scope::new(b"app:auth:", "embed-auth-1"),
];

/// Where the redirects point: the other nodes' client addresses, as a
/// client on the host reaches them.
static PEERS: [(&str, PeerAddr<'static>); 2] = [
    ("embed-auth-1", PeerAddr::new("127.0.0.1", 7002)),
    ("server-eu-1", PeerAddr::new("127.0.0.1", 7001)),
];

/// QEMU's user network: the guest's default address and the gateway.
const ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const PORT: u16 = 6379;

/// Clients served at once (one TCP socket each; a connection request
/// beyond them is dropped until a socket is free: net.rs, `Nic::accept`).
const SOCKETS: usize = 4;
/// Each socket's receive and send buffers.
const SOCKET_RX: usize = 1024;
const SOCKET_TX: usize = 1024;
/// Longest sleep between polls when smoltcp has no timer sooner.
const MAX_SLEEP_US: u64 = 100_000;

/// The RAM the firmware uses besides its stack and the DMA pages
/// (hal.rs), taken once at boot, all in `.bss`. The socket slots and the
/// store have non-zero empty values: they are written at boot rather
/// than given a `.data` image (which would cost as much flash).
struct Buffers {
    nic: net::Buffers,
    rx: [[u8; SOCKET_RX]; SOCKETS],
    tx: [[u8; SOCKET_TX]; SOCKETS],
    conns: [Conn; SOCKETS],
}

struct Tables {
    storage: [SocketStorage<'static>; SOCKETS],
    store: Store,
}

static mut BUFFERS: Buffers = Buffers {
    nic: net::Buffers::new(),
    rx: [[0; SOCKET_RX]; SOCKETS],
    tx: [[0; SOCKET_TX]; SOCKETS],
    conns: [const { Conn::new() }; SOCKETS],
};
static mut TABLES: MaybeUninit<Tables> = MaybeUninit::uninit();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The one `&'static mut` to each of [`BUFFERS`] and [`TABLES`]; `None`
/// on a second call.
fn take_state() -> Option<(&'static mut Buffers, &'static mut Tables)> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: TAKEN makes these the only references ever made to the two
    // statics, and nothing else names them.
    let (buffers, tables) = unsafe { (&mut *addr_of_mut!(BUFFERS), &mut *addr_of_mut!(TABLES)) };
    let tables = tables.write(Tables {
        storage: [SocketStorage::EMPTY; SOCKETS],
        store: Store::new(),
    });
    Some((buffers, tables))
}

fn now() -> Instant {
    Instant::from_micros(board::micros() as i64)
}

#[riscv_rt::entry]
fn main() -> ! {
    board::paint_stack();
    log::set_logger(&UartLog).ok();
    log::set_max_level(log::LevelFilter::Warn);
    println!("{NODE_ID}: booting (riscv32imac, QEMU virt)");
    let Some((Buffers { nic, rx, tx, conns }, Tables { storage, store })) = take_state() else {
        fail("state taken twice")
    };
    let mut nic = match net::Nic::probe(nic) {
        Ok(nic) => nic,
        Err(e) => {
            println!("no network card: {e:?}");
            fail("no network card")
        }
    };
    let node = match Node::new(NODE_ID, &TABLE, MoveTable::<4>::new()) {
        Ok(node) => node,
        Err(_) => fail("bad node id"),
    };

    let mac = nic.mac();
    let mut config = Config::new(EthernetAddress(mac).into());
    // Seeds smoltcp's TCP initial sequence numbers. The boot time in
    // `mtime` is nearly the same every run under QEMU: a board would take
    // its seed from a TRNG.
    config.random_seed = board::micros();
    let mut iface = Interface::new(config, &mut nic, now());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ADDRESS), 24));
    });
    if iface.routes_mut().add_default_ipv4_route(GATEWAY).is_err() {
        fail("no route");
    }

    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut handles = [None::<SocketHandle>; SOCKETS];
    for ((rx, tx), handle) in rx.iter_mut().zip(tx.iter_mut()).zip(handles.iter_mut()) {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        );
        // Replies go out at once; a client that vanishes frees its socket.
        socket.set_nagle_enabled(false);
        socket.set_keep_alive(Some(Duration::from_secs(10)));
        socket.set_timeout(Some(Duration::from_secs(30)));
        // `storage` has exactly SOCKETS slots: the set is never full here.
        *handle = Some(sockets.add(socket));
    }

    board::enable_wakeup(nic.irq);
    println!(
        "{NODE_ID}: mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, listening on {ADDRESS}:{PORT} ({SOCKETS} sockets), irq {}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], nic.irq
    );

    let mut server = Server {
        node: &node,
        peers: &PEERS,
        store,
    };
    let mut active = [false; SOCKETS];
    let mut out = Reply::new();
    let mut stack_logged = 0;
    loop {
        let listening = handles
            .iter()
            .flatten()
            .filter(|h| sockets.get::<tcp::Socket>(**h).is_listening())
            .count();
        nic.accept(PORT, listening);
        iface.poll(now(), &mut nic, &mut sockets);
        let mut sent = false;
        for ((handle, conn), was_active) in
            handles.iter().zip(conns.iter_mut()).zip(active.iter_mut())
        {
            let Some(handle) = *handle else { continue };
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let before = *was_active;
            sent |= serve(socket, conn, was_active, &mut server, &mut out);
            if before && !*was_active {
                // A client left: log the stack's high-water mark when it grew.
                let high = board::stack_high_water();
                if high > stack_logged {
                    stack_logged = high;
                    println!(
                        "{NODE_ID}: stack high-water {high} B, {} keys stored",
                        server.store.len()
                    );
                }
            }
        }
        if sent {
            // Send the replies now rather than after the next sleep.
            continue;
        }
        let delay = iface
            .poll_delay(now(), &sockets)
            .map_or(MAX_SLEEP_US, |d| d.total_micros().min(MAX_SLEEP_US));
        if delay > 0 {
            board::wake_at(board::micros() + delay);
            board::wait();
        }
        board::claim_and_complete(|| nic.ack_interrupt());
    }
}

/// One socket's turn: listen when closed, read what arrived, answer every
/// whole request the send buffer has room for, close when the client did.
/// Returns whether a reply was queued.
fn serve<T, R, A>(
    socket: &mut tcp::Socket<'_>,
    conn: &mut Conn,
    was_active: &mut bool,
    server: &mut Server<'_, T, R, A>,
    out: &mut Reply,
) -> bool
where
    T: kevy_scope::table::ScopeTable,
    R: kevy_scope::moves::MoveRecords,
    A: kevy_scope::wire::AddressBook,
{
    if !socket.is_open() {
        conn.reset();
        *was_active = false;
        if socket.listen(PORT).is_err() {
            println!("listen refused");
        }
        return false;
    }
    if socket.is_active() && !*was_active {
        // A new client: nothing of the last one's is left.
        conn.reset();
    }
    *was_active = socket.is_active();
    let mut sent = false;
    // Whether every whole request received has been answered.
    let mut drained = false;
    loop {
        if socket.can_recv() {
            let closing = conn.is_closing();
            let space = conn.space();
            if closing || !space.is_empty() {
                // A closing connection's input is dropped (read into the
                // buffer, which `step` then empties).
                let n = socket.recv_slice(space).unwrap_or(0);
                conn.filled(n);
            }
        }
        if socket.send_capacity() - socket.send_queue() < MAX_REPLY {
            break;
        }
        let Some(after) = conn.step(out, |request, out| server.execute(request, out)) else {
            if socket.can_recv() && !conn.is_closing() && !conn.space().is_empty() {
                continue;
            }
            drained = !socket.can_recv();
            break;
        };
        if socket.send_slice(out).is_ok() {
            sent = true;
        }
        if after == After::Close {
            socket.close();
            break;
        }
    }
    // The client closed its side and everything it sent is answered.
    if drained && !socket.may_recv() && socket.may_send() {
        socket.close();
    }
    sent
}

fn fail(why: &str) -> ! {
    println!("{NODE_ID}: fatal: {why}");
    board::exit(1)
}

/// virtio-drivers' warnings, on the UART.
struct UartLog;

impl log::Log for UartLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        println!("{}: {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("{NODE_ID}: panic: {info}");
    board::exit(2)
}

/// A trap nothing expects (illegal instruction, bad access) stops the run
/// with its cause rather than hanging.
#[unsafe(export_name = "ExceptionHandler")]
extern "C" fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    println!(
        "{NODE_ID}: exception: mcause {:#x}, mepc {:#x}, mtval {:#x}",
        riscv::register::mcause::read().bits(),
        riscv::register::mepc::read(),
        riscv::register::mtval::read()
    );
    board::exit(3)
}
