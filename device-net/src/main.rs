//! embed-billing-1 as a network node: a RESP2 server on TCP port 6379 of
//! QEMU `virt`'s virtio-net card (10.0.2.15 on QEMU's user network),
//! on a riscv32imac hart with 64 KiB of RAM and no heap, and a member of
//! a kevy cluster with std nodes.
//!
//! Every SET (and DEL) asks kevy-scope's `Node::verdict` first: a key of
//! a scope this node writes (`app:billing:` at first) or of no scope is
//! stored, written through to flash and answered `+OK`; a key of another
//! node's scope is answered with the crate's redirect,
//! `-MISDIRECTED writer is 127.0.0.1:7002` for `app:auth:`. GET reads
//! the store. Malformed input is a RESP error and closes that
//! connection; it never panics. Up to [`SOCKETS`] clients at once; a
//! connection request beyond them is dropped, and the client's retry
//! finds a socket when one is free. Between packets the hart sleeps in
//! `wfi`, woken by the card's interrupt, smoltcp's next timer or the
//! driver's next `Wake`.
//!
//! The node's image and the store live in QEMU's pflash (flash.rs) and
//! are restored at boot (a damaged image quarantines the node, which
//! recovers from its peers). A connection logged in as `cluster` may
//! send the node-to-node commands (served straight on the node, the
//! image written before an answer that depends on it); one logged in as
//! `admin` may send MOVE-SCOPE, which the `Driver` runs: this loop
//! carries out its effects, writing images and calling the peers with a
//! smoltcp client socket (`AUTH cluster <password>` first).
#![no_std]
#![no_main]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod board;
mod flash;
mod hal;
mod net;

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use heapless::{Deque, Vec};
use kevy_net::cluster::{Call, Fed, Heard, Hearing, Kind, Pick, auth_command, feed, parse_config};
use kevy_net::commands::{After, MAX_REPLY, Reply, Server, Session, Store, Users, move_reply};
use kevy_net::conn::Conn;
use kevy_net::meter;
use kevy_net::node::{
    self as billing, BillingDriver, BillingNode, DRIVER_PEERS, NODE_ID, PEER_PORTS, PEERS,
    peer_name,
};
use kevy_scope::{driver::Effect, wire::PeerRequest};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};

use flash::{CONFIG_BYTES, Flash, Found, SLOT_BYTES};

/// QEMU's user network: the guest's default address and the gateway.
const ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const PORT: u16 = 6379;

/// Clients served at once (one TCP socket each; a connection request
/// beyond them is dropped until a socket is free: net.rs, `Nic::accept`).
const SOCKETS: usize = 4;
/// Each socket's receive and send buffers (the peer client's too).
const SOCKET_RX: usize = 1024;
const SOCKET_TX: usize = 1024;
/// Longest sleep between polls when smoltcp has no timer sooner.
const MAX_SLEEP_US: u64 = 100_000;
/// The longest a call to a peer may take, connect to answer.
const CALL_MS: u64 = 5_000;
/// Requests handed out by the driver and not yet sent.
const QUEUE: usize = 8;
/// A call's bytes out: AUTH (at most 128 bytes), then the request, an
/// ingest with its keys as long as the longest request a peer of this
/// firmware takes in.
const WIRE_OUT: usize = 128 + kevy_net::resp::MAX_REQUEST;
/// A call's answer: a line, or a fence's news list.
const WIRE: usize = 1024;

/// The RAM the firmware uses besides its stack and the DMA pages
/// (hal.rs), taken once at boot, all in `.bss`. The socket slots and the
/// store have non-zero empty values: they are written at boot rather
/// than given a `.data` image (which would cost as much flash).
struct Buffers {
    nic: net::Buffers,
    rx: [[u8; SOCKET_RX]; SOCKETS],
    tx: [[u8; SOCKET_TX]; SOCKETS],
    conns: [Conn; SOCKETS],
    client_rx: [u8; SOCKET_RX],
    client_tx: [u8; SOCKET_TX],
    wire_out: [u8; WIRE_OUT],
    wire_in: [u8; WIRE],
    slot: [u8; SLOT_BYTES],
}

struct Tables {
    storage: [SocketStorage<'static>; SOCKETS + 1],
    store: Store,
}

static mut BUFFERS: Buffers = Buffers {
    nic: net::Buffers::new(),
    rx: [[0; SOCKET_RX]; SOCKETS],
    tx: [[0; SOCKET_TX]; SOCKETS],
    conns: [const { Conn::new() }; SOCKETS],
    client_rx: [0; SOCKET_RX],
    client_tx: [0; SOCKET_TX],
    wire_out: [0; WIRE_OUT],
    wire_in: [0; WIRE],
    slot: [0; SLOT_BYTES],
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
        storage: [SocketStorage::EMPTY; SOCKETS + 1],
        store: Store::new(),
    });
    Some((buffers, tables))
}

fn now() -> Instant {
    Instant::from_micros(board::micros() as i64)
}

fn now_ms() -> u64 {
    board::micros() / 1000
}

/// The call to a peer in progress (one at a time, on the client socket).
struct Client {
    handle: SocketHandle,
    call: Option<Call>,
    /// Bytes of `wire_out` to send, and how many are sent.
    out_len: usize,
    sent: usize,
    /// Bytes of `wire_in` received.
    in_len: usize,
    /// The answer read so far (the login's reply first).
    hearing: Hearing,
    since: u64,
    next_port: u16,
    calls: u32,
    answered: u32,
}

#[riscv_rt::entry]
fn main() -> ! {
    board::paint_stack();
    log::set_logger(&UartLog).ok();
    log::set_max_level(log::LevelFilter::Warn);
    println!("{NODE_ID}: booting (riscv32imac, QEMU virt)");
    #[cfg(feature = "measure")]
    calibrate();
    let Some((
        Buffers {
            nic,
            rx,
            tx,
            conns,
            client_rx,
            client_tx,
            wire_out,
            wire_in,
            slot,
        },
        Tables { storage, store },
    )) = take_state()
    else {
        fail("state taken twice")
    };
    let mut nic = match net::Nic::probe(nic) {
        Ok(nic) => nic,
        Err(e) => {
            println!("no network card: {e:?}");
            fail("no network card")
        }
    };

    // The config block: the cluster and admin users' passwords.
    let mut config = [0u8; CONFIG_BYTES];
    flash::read(0, &mut config);
    let users: Users = parse_config(&config);
    println!(
        "{NODE_ID}: users: cluster {}, admin {}",
        if users.cluster.is_some() {
            "set"
        } else {
            "none (node-to-node commands refused)"
        },
        if users.admin.is_some() { "set" } else { "none" }
    );

    // The node, from the newest image in flash.
    let (mut disk, found) = Flash::open(slot);
    let mut node: BillingNode = match disk.image(found) {
        Found::Fresh => {
            println!("{NODE_ID}: flash holds no image: first boot");
            billing::fresh().unwrap_or_else(|| fail("bad node id"))
        }
        Found::Image(image) => {
            let len = image.len();
            let Some(mut node) = billing::fresh() else {
                fail("bad node id")
            };
            match node.restore(image) {
                Ok(()) => {
                    let seq = if let Pick::Slot { seq, .. } = found {
                        seq
                    } else {
                        0
                    };
                    println!(
                        "{NODE_ID}: restored from flash: image of {len} B (#{seq}), epoch {}, {} records",
                        node.epoch().get(),
                        node.records().count()
                    )
                }
                Err(e) => println!("{NODE_ID}: image refused ({e}): quarantined"),
            }
            node
        }
        Found::Damaged => {
            println!(
                "{NODE_ID}: flash damaged (no valid image): quarantined, recovering from peers"
            );
            disk.erase_all();
            billing::quarantined().unwrap_or_else(|| fail("bad node id"))
        }
    };
    let keys = disk.load_store(store);
    println!("{NODE_ID}: store: {keys} keys restored from flash");
    let mut driver = match BillingDriver::new(DRIVER_PEERS) {
        Ok(d) => d,
        Err(_) => fail("bad peer list"),
    };
    if driver.resume(&mut node).is_err() {
        fail("driver resume");
    }

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
        // `storage` has exactly SOCKETS + 1 slots: the set is never full here.
        *handle = Some(sockets.add(socket));
    }
    let mut client_socket = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut client_rx[..]),
        tcp::SocketBuffer::new(&mut client_tx[..]),
    );
    client_socket.set_nagle_enabled(false);
    let mut client = Client {
        handle: sockets.add(client_socket),
        call: None,
        out_len: 0,
        sent: 0,
        in_len: 0,
        hearing: Hearing::new(),
        since: 0,
        next_port: 49152 + (board::micros() % 1000) as u16,
        calls: 0,
        answered: 0,
    };
    let mut queue: Deque<Call, QUEUE> = Deque::new();

    board::enable_wakeup(nic.irq);
    println!(
        "{NODE_ID}: mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, listening on {ADDRESS}:{PORT} ({SOCKETS} sockets), irq {}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], nic.irq
    );

    let mut server = Server {
        node: &mut node,
        peers: &PEERS,
        store,
        driver: &mut driver,
        disk: &mut disk,
        users: &users,
    };
    // Keys the restored records say another node owns: given away by a
    // commit persisted before a power cut, or shipped by an ingest never
    // adopted.
    dropped(server.drop_unowned());
    let mut active = [false; SOCKETS];
    let mut sessions = [Session::default(); SOCKETS];
    let mut out = Reply::new();
    let mut stack_logged = 0;
    let mut wake_ms: Option<u64> = None;
    let mut was_quarantined = server.node.is_quarantined();
    loop {
        let listening = handles
            .iter()
            .flatten()
            .filter(|h| sockets.get::<tcp::Socket>(**h).is_listening())
            .count();
        nic.accept(PORT, listening);
        iface.poll(now(), &mut nic, &mut sockets);
        let mut sent = false;
        for (((handle, conn), was_active), session) in handles
            .iter()
            .zip(conns.iter_mut())
            .zip(active.iter_mut())
            .zip(sessions.iter_mut())
        {
            let Some(handle) = *handle else { continue };
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let before = *was_active;
            sent |= serve(socket, conn, session, was_active, &mut server, &mut out);
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

        // The driver: every effect it has now.
        let t = now_ms();
        for _ in 0..32 {
            let Some(effect) = server.driver.poll(server.node, t) else {
                break;
            };
            match effect {
                // The image, then the keys a commit among it handed over.
                Effect::Persist => dropped(server.persist()),
                Effect::Reply { ticket, reply } => {
                    move_reply(reply, &mut out);
                    println!(
                        "{NODE_ID}: MOVE-SCOPE #{} answered: {:?}",
                        ticket.get(),
                        reply
                    );
                    for (session, handle) in sessions.iter_mut().zip(handles.iter()) {
                        if session.waiting == Some(ticket) {
                            session.waiting = None;
                            if let Some(h) = handle {
                                let _ = sockets.get_mut::<tcp::Socket>(*h).send_slice(&out);
                                sent = true;
                            }
                        }
                    }
                }
                Effect::Wake { at } => wake_ms = Some(at),
                other => match Call::of(&other, NODE_ID, &DRIVER_PEERS) {
                    Some(call) => {
                        if queue.push_back(call).is_err() {
                            println!(
                                "{NODE_ID}: peer queue full: a request dropped (the driver resends)"
                            );
                        }
                    }
                    None => println!("{NODE_ID}: an effect this host cannot carry out: {other:?}"),
                },
            }
        }
        if server.node.is_quarantined() != was_quarantined {
            was_quarantined = server.node.is_quarantined();
            println!(
                "{NODE_ID}: quarantined: {was_quarantined} (epoch {})",
                server.node.epoch().get()
            );
        }

        // The call to a peer in progress, or the next one.
        sent |= run_client(
            &mut client,
            &mut queue,
            &mut sockets,
            &mut iface,
            &mut server,
            wire_out,
            wire_in,
        );

        if sent {
            // Send the replies now rather than after the next sleep.
            continue;
        }
        let mut delay = iface
            .poll_delay(now(), &sockets)
            .map_or(MAX_SLEEP_US, |d| d.total_micros().min(MAX_SLEEP_US));
        if let Some(at) = wake_ms {
            let t = now_ms();
            delay = delay.min(at.saturating_sub(t) * 1000);
            if at <= t {
                wake_ms = None;
            }
        }
        if !queue.is_empty() || client.call.is_some() {
            delay = delay.min(10_000);
        }
        if delay > 0 {
            board::wake_at(board::micros() + delay);
            board::wait();
        }
        board::claim_and_complete(|| nic.ack_interrupt());
    }
}

type BillingServer<'n> = billing::BillingServer<'n, Flash>;

/// The client socket's turn: start the next call when idle; send; read
/// the answer and feed it to the driver; give up after [`CALL_MS`] (the
/// driver's own deadlines cover a request that got no answer). Returns
/// whether bytes were queued.
fn run_client(
    client: &mut Client,
    queue: &mut Deque<Call, QUEUE>,
    sockets: &mut SocketSet<'_>,
    iface: &mut Interface,
    server: &mut BillingServer<'_>,
    wire_out: &mut [u8; WIRE_OUT],
    wire_in: &mut [u8; WIRE],
) -> bool {
    let t = now_ms();
    let socket = sockets.get_mut::<tcp::Socket>(client.handle);
    let Some(call) = client.call.as_ref() else {
        if socket.is_open() {
            // The last call's socket, still closing.
            return false;
        }
        let Some(call) = queue.pop_front() else {
            return false;
        };
        // AUTH cluster <password>, then the request (an ingest with the
        // keys read from the store now).
        let mut auth: Vec<u8, 128> = Vec::new();
        let password = server.users.cluster.as_deref().unwrap_or_default();
        if !auth_command(password, &mut auth) {
            return false;
        }
        let Some(head) = wire_out.get_mut(..auth.len()) else {
            return false;
        };
        head.copy_from_slice(&auth);
        let at = auth.len();
        let body = wire_out.get_mut(at..).unwrap_or_default();
        let len = if call.kind == Kind::Ship {
            let shipped = call
                .with_request(|wire, _| match wire {
                    PeerRequest::Ingest { id, .. } => server.store.ship(&id, body),
                    _ => None,
                })
                .flatten();
            match shipped {
                Some((len, keys)) => {
                    println!(
                        "{NODE_ID}: shipping {keys} keys ({len} B) to {}",
                        peer_name(call.peer)
                    );
                    len
                }
                None => {
                    println!(
                        "{NODE_ID}: the keys do not fit the ship buffer ({WIRE_OUT} B): not sent"
                    );
                    return false;
                }
            }
        } else {
            let Some(dst) = body.get_mut(..call.bytes.len()) else {
                return false;
            };
            dst.copy_from_slice(&call.bytes);
            call.bytes.len()
        };
        let port = PEER_PORTS.get(call.peer).copied().unwrap_or(0);
        client.next_port = if client.next_port >= 65000 {
            49152
        } else {
            client.next_port + 1
        };
        if socket
            .connect(
                iface.context(),
                (IpAddress::Ipv4(GATEWAY), port),
                client.next_port,
            )
            .is_err()
        {
            println!("{NODE_ID}: connect to {} refused", peer_name(call.peer));
            return false;
        }
        client.out_len = at + len;
        client.sent = 0;
        client.in_len = 0;
        client.hearing = Hearing::new();
        client.since = t;
        client.calls += 1;
        client.call = Some(call);
        return false;
    };
    let mut sent = false;
    if socket.may_send() && client.sent < client.out_len {
        let pending = wire_out
            .get(client.sent..client.out_len)
            .unwrap_or_default();
        if let Ok(n) = socket.send_slice(pending) {
            client.sent += n;
            sent = n > 0;
        }
    }
    if socket.can_recv() {
        let space = wire_in.get_mut(client.in_len..).unwrap_or_default();
        if let Ok(n) = socket.recv_slice(space) {
            client.in_len += n;
        }
    }
    let got = wire_in.get(..client.in_len).unwrap_or_default();
    let to = peer_name(call.peer);
    let heard = client.hearing.hear(call.kind, got, client.in_len >= WIRE);
    let mut done = heard != Heard::Waiting;
    match heard {
        Heard::Waiting => {}
        Heard::LoginRefused => println!("{NODE_ID}: {to} refused the cluster login"),
        Heard::TooLong => println!("{NODE_ID}: {to}'s answer is too long"),
        Heard::BadList(e) => println!("{NODE_ID}: {to} answered the fence with a bad list: {e}"),
        Heard::Line(line) => {
            client.answered += 1;
            let fed = feed(call, &heard, server.driver, server.node, to);
            println!(
                "{NODE_ID}: {to} answered {}",
                core::str::from_utf8(line).unwrap_or("(not UTF-8)")
            );
            if fed != (Fed::Answered { accepted: true }) {
                println!("{NODE_ID}: the driver refused {to}'s answer");
            }
        }
        Heard::News(_) => {
            client.answered += 1;
            if let Fed::Recovered {
                fence,
                news,
                accepted,
            } = feed(call, &heard, server.driver, server.node, to)
            {
                println!(
                    "{NODE_ID}: recovery: {to} fenced at {} and told {news} news",
                    fence.get()
                );
                if !accepted {
                    println!("{NODE_ID}: recovery: the driver refused {to}'s news");
                }
            }
        }
    }
    if !done && (t.saturating_sub(client.since) > CALL_MS || (!socket.is_open() && client.sent > 0))
    {
        println!(
            "{NODE_ID}: no answer from {} ({}); the driver resends",
            peer_name(call.peer),
            if socket.is_open() {
                "timed out"
            } else {
                "connection closed"
            }
        );
        done = true;
    }
    if done {
        socket.abort();
        client.call = None;
        sent = true;
    }
    sent
}

/// Logs what a persist or the boot dropped (`Server::persist`,
/// `Server::drop_unowned`); a failed flash write stops the node.
fn dropped(keys: Option<usize>) {
    match keys {
        Some(0) => {}
        Some(n) => println!("{NODE_ID}: {n} keys another node owns now dropped"),
        None => fail("flash write failed"),
    }
}

/// One socket's turn: listen when closed, read what arrived, answer every
/// whole request the send buffer has room for, close when the client did.
/// Returns whether a reply was queued.
fn serve(
    socket: &mut tcp::Socket<'_>,
    conn: &mut Conn,
    session: &mut Session,
    was_active: &mut bool,
    server: &mut BillingServer<'_>,
    out: &mut Reply,
) -> bool {
    if !socket.is_open() {
        conn.reset();
        *session = Session::default();
        *was_active = false;
        if socket.listen(PORT).is_err() {
            println!("listen refused");
        }
        return false;
    }
    if socket.is_active() && !*was_active {
        // A new client: nothing of the last one's is left.
        conn.reset();
        *session = Session::default();
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
        if session.waiting.is_some() {
            // A MOVE-SCOPE waits for the driver: later requests wait too.
            break;
        }
        if socket.send_capacity() - socket.send_queue() < MAX_REPLY {
            break;
        }
        let handling = meter::start();
        let Some(after) = conn.step(out, |request, out| server.execute(request, session, out))
        else {
            if socket.can_recv() && !conn.is_closing() && !conn.space().is_empty() {
                continue;
            }
            drained = !socket.can_recv();
            break;
        };
        if let After::Wait(ticket) = after {
            session.waiting = Some(ticket);
            break;
        }
        if socket.send_slice(out).is_ok() {
            sent = true;
        }
        meter::finish(handling);
        if let Some(sums) = meter::report() {
            report_instructions(&sums);
        }
        if after == After::Close {
            socket.close();
            break;
        }
    }
    // The client closed its side and everything it sent is answered.
    if drained && session.waiting.is_none() && !socket.may_recv() && socket.may_send() {
        socket.close();
    }
    sent
}

/// The known loop (10 instructions a pass) counted by `minstret`, and the
/// meter's own cost: the check that the counter counts instructions
/// (it does under QEMU's `-icount shift=0` only).
#[cfg(feature = "measure")]
fn calibrate() {
    const PASSES: u32 = 1000;
    let from = meter::now();
    let empty = meter::now().wrapping_sub(from);
    let from = meter::now();
    // SAFETY: a register-only loop: a counter, eight nops and a branch;
    // no memory, no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "addi {n}, {n}, -1",
            "nop", "nop", "nop", "nop", "nop", "nop", "nop", "nop",
            "bnez {n}, 2b",
            n = inout(reg) PASSES => _,
            options(nomem, nostack),
        );
    }
    let counted = meter::now().wrapping_sub(from).wrapping_sub(empty);
    let want = PASSES * 10;
    let ok = counted.abs_diff(want) * 50 <= want;
    println!(
        "{NODE_ID}: meter: minstret, {PASSES} passes of a 10-instruction loop counted {counted} \
         (empty window {empty}): {}; the meter's own cost by phase (parse, verdict, store, flash, total) {:?}",
        if ok {
            "within 2 %, counts are instructions"
        } else {
            "NOT instructions (no -icount shift=0?)"
        },
        meter::overhead()
    );
}

/// The UART line of a full window of SETs: the mean per SET of each
/// phase, the meter's own cost subtracted.
fn report_instructions(sums: &[u32; 5]) {
    let own = meter::overhead();
    let mean = |i: usize| {
        let sum = sums.get(i).copied().unwrap_or(0);
        let own = own.get(i).copied().unwrap_or(0);
        (sum / meter::WINDOW).saturating_sub(own)
    };
    let (parse, verdict, store, flash, total) = (mean(0), mean(1), mean(2), mean(3), mean(4));
    let other = total.saturating_sub(parse + verdict + store + flash);
    let share = |part: u32, of: u32| (part * 1000).checked_div(of).unwrap_or(0);
    let all = share(verdict, total);
    let unflashed = share(verdict, total.saturating_sub(flash));
    println!(
        "{NODE_ID}: instructions per SET (mean of {} SETs): total {total} (parse {parse}, verdict {verdict}, \
         store {store}, flash {flash}, other {other}), verdict share {}.{} % ({}.{} % without the flash)",
        meter::WINDOW,
        all / 10,
        all % 10,
        unflashed / 10,
        unflashed % 10
    );
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
