//! embed-billing-1 on a Cortex-M3 (TI LM3S6965 as QEMU's `lm3s6965evb`),
//! serving RESP2 to several clients at once through a socket chip on
//! UART0: the shape of an MCU behind a WIZnet W5500. The chip (the host
//! program `chip/`) runs TCP; the UART carries frames (`kevy_uart::frame`):
//! a client accepted, its bytes, its end, and the MCU's own outgoing
//! connections. Each client socket has device-net's `Conn` and `Session`;
//! the driver's calls to peers go out on connections the MCU opens
//! (`AUTH cluster <password>`, the request, one reply, close), as
//! device-net's firmware makes them over smoltcp, so the admin's
//! MOVE-SCOPE runs here, news goes out and a quarantined node recovers.
//!
//! The commands, their store, the RESP parser and the connection buffer
//! are device-net's (`kevy_net`); every SET and DEL asks kevy-scope's
//! `Node::verdict` first. The node's image and the store are written
//! through to a host file through semihosting, the stand-in for the
//! chip's flash (src/layout.rs), and restored at boot. The log goes to
//! UART1.
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
use heapless::{Deque, Vec};
use kevy_net::cluster::{
    Call, Fed, Heard, Hearing, Kind as CallKind, auth_command, feed, parse_config,
};
use kevy_net::commands::{After, Reply, Server, Session, Store, Users, move_reply};
use kevy_net::conn::Conn;
use kevy_net::node::{
    self as billing, BillingDriver, DRIVER_PEERS, NODE_ID, PEER_PORTS, PEERS, peer_name,
};
use kevy_scope::{driver::Effect, wire::PeerRequest};
use kevy_uart::args;
use kevy_uart::frame::{CLIENT_SOCKETS, Decoder, Frame, Header, Kind, MAX_PAYLOAD, SOCKETS, Side};
use kevy_uart::layout::{Boot, FileFlash, Medium};

use hw::{HostFile, UART0};

const PEER_HOST: &str = "127.0.0.1";

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
/// The longest a call to a peer may take, connect to answer.
const CALL_MS: u64 = 5_000;
/// Requests handed out by the driver and not yet sent.
const QUEUE: usize = 8;
/// A call's bytes out: AUTH (at most 128 bytes), then the request, an
/// ingest with its keys as long as the longest request a peer takes in.
const WIRE_OUT: usize = 128 + kevy_net::resp::MAX_REQUEST;
/// A call's answer: a line, or a fence's news list.
const WIRE: usize = 1024;

type BillingServer<'n> = billing::BillingServer<'n, FileFlash<&'n Flash>>;

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

/// One frame to the chip: the header, then the payload (checked first).
fn send_frame(kind: Kind, socket: u8, payload: &[u8]) {
    match Header::new(Side::Mcu, kind, socket, payload.len()) {
        Ok(h) => {
            UART0.send(&h.encode());
            UART0.send(payload);
        }
        Err(e) => log!("{NODE_ID}: frame not sent: {e}"),
    }
}

/// Bytes to a socket, in frames of at most [`MAX_PAYLOAD`].
fn send_bytes(socket: u8, bytes: &[u8]) {
    for chunk in bytes.chunks(MAX_PAYLOAD) {
        send_frame(Kind::Send, socket, chunk);
    }
}

/// A client socket: device-net's request buffer and login, and where its
/// two ends are.
struct Client {
    /// Accepted, and not yet closed on both ends.
    open: bool,
    conn: Conn,
    session: Session,
    /// The chip said `Closed` (the client left, or sent its FIN).
    peer_closed: bool,
    /// This side sent `Close`.
    close_sent: bool,
}

impl Client {
    const fn new() -> Self {
        Self {
            open: false,
            conn: Conn::new(),
            session: Session {
                user: kevy_net::commands::User::Default,
                waiting: None,
            },
            peer_closed: false,
            close_sent: false,
        }
    }

    /// Answers every whole request buffered (none while a MOVE-SCOPE
    /// waits), then closes the socket when the client has closed its
    /// side and nothing is left to answer.
    fn serve(&mut self, socket: u8, server: &mut BillingServer<'_>, out: &mut Reply) {
        while self.open && !self.close_sent && self.session.waiting.is_none() {
            let session = &mut self.session;
            let Some(after) = self
                .conn
                .step(out, |request, out| server.execute(request, session, out))
            else {
                break;
            };
            match after {
                After::Wait(ticket) => self.session.waiting = Some(ticket),
                After::Continue => send_bytes(socket, out),
                After::Close => {
                    // QUIT or a protocol error: Redis closes the connection.
                    send_bytes(socket, out);
                    self.close(socket);
                }
            }
        }
        if self.peer_closed && self.session.waiting.is_none() {
            self.close(socket);
        }
    }

    /// Sends `Close` once.
    fn close(&mut self, socket: u8) {
        if !self.close_sent {
            self.close_sent = true;
            send_frame(Kind::Close, socket, &[]);
        }
        if self.peer_closed {
            self.open = false;
        }
    }
}

/// The call to a peer in progress (one at a time, on an outgoing socket).
struct Caller {
    call: Option<Call>,
    socket: u8,
    connected: bool,
    /// Outgoing sockets whose `Close` went out and whose `Closed` (or
    /// `Refused`) has not come back yet.
    closing: [bool; SOCKETS as usize],
    out_len: usize,
    in_len: usize,
    /// The answer read so far (the login's reply first).
    hearing: Hearing,
    since: u64,
    calls: u32,
    answered: u32,
    wire_out: [u8; WIRE_OUT],
    wire_in: [u8; WIRE],
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

    // The users: cluster and admin from the config block.
    let users: Users = parse_config(&disk.config());
    log!(
        "{NODE_ID}: users: cluster {}, admin {}",
        if users.cluster.is_some() {
            "set"
        } else {
            "none (node-to-node commands refused)"
        },
        if users.admin.is_some() { "set" } else { "none" }
    );

    let Some(mut node) = billing::fresh() else {
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
            log!("{NODE_ID}: image damaged: quarantined, recovering from peers");
            disk.erase_images();
            node = billing::quarantined().unwrap_or_else(|| fail("bad node id"));
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
    match args.port {
        Some(port) => log!(
            "{NODE_ID}: serving UART0 as a socket chip's link (clients on host port {port}, {CLIENT_SOCKETS} client sockets)"
        ),
        None => log!(
            "{NODE_ID}: serving UART0 as a socket chip's link ({CLIENT_SOCKETS} client sockets)"
        ),
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
    dropped(server.drop_unowned());
    let mut clients = [const { Client::new() }; CLIENT_SOCKETS as usize];
    let mut caller = Caller {
        call: None,
        socket: CLIENT_SOCKETS,
        connected: false,
        closing: [false; SOCKETS as usize],
        out_len: 0,
        in_len: 0,
        hearing: Hearing::new(),
        since: 0,
        calls: 0,
        answered: 0,
        wire_out: [0; WIRE_OUT],
        wire_in: [0; WIRE],
    };
    let mut queue: Deque<Call, QUEUE> = Deque::new();
    let mut decoder = Decoder::new(Side::Chip);
    let mut out = Reply::new();
    let mut accepted: u32 = 0;
    let mut link_errors: u32 = 0;
    let mut just_read = false;
    let mut stack_logged = 0;
    let mut was_quarantined = server.node.is_quarantined();
    loop {
        // The driver: every effect it has now.
        let t = hw::millis();
        for _ in 0..32 {
            let Some(effect) = server.driver.poll(server.node, t) else {
                break;
            };
            match effect {
                // The image, then the keys a commit among it handed over.
                Effect::Persist => dropped(server.persist()),
                Effect::Reply { ticket, reply } => {
                    move_reply(reply, &mut out);
                    log!(
                        "{NODE_ID}: MOVE-SCOPE #{} answered: {reply:?}",
                        ticket.get()
                    );
                    let reply = out.clone();
                    for (socket, client) in (0u8..).zip(clients.iter_mut()) {
                        if client.open && client.session.waiting == Some(ticket) {
                            client.session.waiting = None;
                            if !client.close_sent {
                                send_bytes(socket, &reply);
                            }
                            client.serve(socket, &mut server, &mut out);
                        }
                    }
                }
                // SysTick wakes the loop every 10 ms: no timer to set.
                Effect::Wake { .. } => {}
                other => match Call::of(&other, NODE_ID, &DRIVER_PEERS) {
                    Some(call) => {
                        if queue.push_back(call).is_err() {
                            log!(
                                "{NODE_ID}: peer queue full: a request dropped (the driver resends)"
                            );
                        }
                    }
                    None => log!("{NODE_ID}: an effect this node cannot carry out: {other:?}"),
                },
            }
        }
        if server.node.is_quarantined() != was_quarantined {
            was_quarantined = server.node.is_quarantined();
            log!(
                "{NODE_ID}: quarantined: {was_quarantined} (epoch {})",
                server.node.epoch().get()
            );
        }
        start_call(&mut caller, &mut queue, &mut server, t);
        if caller.call.is_some() && t.saturating_sub(caller.since) > CALL_MS {
            log!(
                "{NODE_ID}: no answer from {} (timed out); the driver resends",
                peer_name(caller.call.as_ref().map_or(0, |c| c.peer))
            );
            end_call(&mut caller);
        }

        if !UART0.rx_ready() {
            let mut spins = 0;
            while just_read && !UART0.rx_ready() && spins < SPIN {
                spins += 1;
            }
            just_read = false;
            if !UART0.rx_ready() {
                hw::sleep_until_byte();
            }
            continue;
        }
        just_read = true;
        let Some(byte) = UART0.take() else {
            continue;
        };
        let frame = match decoder.push(byte) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                link_errors = link_errors.wrapping_add(1);
                log!("{NODE_ID}: malformed frame from the chip: {e} ({link_errors} so far)");
                continue;
            }
        };
        let Frame {
            kind,
            socket,
            payload,
        } = frame;
        if let Some(client) = clients.get_mut(usize::from(socket)) {
            match kind {
                Kind::Accepted => {
                    if client.open {
                        log!("{NODE_ID}: socket {socket} accepted while open: a new session");
                    }
                    client.open = true;
                    client.conn.reset();
                    client.session = Session::default();
                    client.peer_closed = false;
                    client.close_sent = false;
                    accepted = accepted.wrapping_add(1);
                }
                Kind::Data if client.open && !client.close_sent => {
                    let mut rest = payload;
                    loop {
                        let space = client.conn.space();
                        let n = space.len().min(rest.len());
                        let (now, later) = rest.split_at(n);
                        if let Some(dst) = space.get_mut(..n) {
                            dst.copy_from_slice(now);
                        }
                        client.conn.filled(n);
                        rest = later;
                        client.serve(socket, &mut server, &mut out);
                        if rest.is_empty() {
                            break;
                        }
                        if n == 0 {
                            // A MOVE-SCOPE waits and the buffer is full.
                            log!(
                                "{NODE_ID}: socket {socket}: {} B dropped while a MOVE-SCOPE waits",
                                rest.len()
                            );
                            break;
                        }
                    }
                }
                Kind::Closed if client.open => {
                    client.peer_closed = true;
                    client.serve(socket, &mut server, &mut out);
                    if !client.open {
                        // A client gone: log the stack's high-water mark when it grew.
                        let high = hw::stack_high_water(RAM_TOP);
                        if high > stack_logged {
                            stack_logged = high;
                            log!(
                                "{NODE_ID}: stack high-water {high} B ({} keys stored, {accepted} clients so far)",
                                server.store.len()
                            );
                        }
                    }
                }
                _ => {}
            }
        } else {
            on_call_frame(&mut caller, kind, socket, payload, &mut server);
        }
    }
}

/// Starts the next queued call when none is running and an outgoing
/// socket is free: `Connect`, then (on `Connected`) AUTH and the request.
fn start_call(
    caller: &mut Caller,
    queue: &mut Deque<Call, QUEUE>,
    server: &mut BillingServer<'_>,
    t: u64,
) {
    if caller.call.is_some() {
        return;
    }
    let Some(socket) = (CLIENT_SOCKETS..SOCKETS)
        .find(|s| !caller.closing.get(usize::from(*s)).copied().unwrap_or(true))
    else {
        return;
    };
    let Some(call) = queue.pop_front() else {
        return;
    };
    let mut auth: Vec<u8, 128> = Vec::new();
    let password = server.users.cluster.as_deref().unwrap_or_default();
    if !auth_command(password, &mut auth) {
        return;
    }
    let Some(head) = caller.wire_out.get_mut(..auth.len()) else {
        return;
    };
    head.copy_from_slice(&auth);
    let at = auth.len();
    let body = caller.wire_out.get_mut(at..).unwrap_or_default();
    let len = if call.kind == CallKind::Ship {
        let shipped = call
            .with_request(|wire, _| match wire {
                PeerRequest::Ingest { id, .. } => server.store.ship(&id, body),
                _ => None,
            })
            .flatten();
        match shipped {
            Some((len, keys)) => {
                log!(
                    "{NODE_ID}: shipping {keys} keys ({len} B) to {}",
                    peer_name(call.peer)
                );
                len
            }
            None => {
                log!("{NODE_ID}: the keys do not fit the ship buffer ({WIRE_OUT} B): not sent");
                return;
            }
        }
    } else {
        let Some(dst) = body.get_mut(..call.bytes.len()) else {
            return;
        };
        dst.copy_from_slice(&call.bytes);
        call.bytes.len()
    };
    let port = PEER_PORTS.get(call.peer).copied().unwrap_or(0);
    let mut address: heapless::String<32> = heapless::String::new();
    if write!(address, "{PEER_HOST}:{port}").is_err() {
        return;
    }
    send_frame(Kind::Connect, socket, address.as_bytes());
    caller.socket = socket;
    caller.connected = false;
    caller.out_len = at + len;
    caller.in_len = 0;
    caller.hearing = Hearing::new();
    caller.since = t;
    caller.calls = caller.calls.wrapping_add(1);
    caller.call = Some(call);
}

/// Ends the call in progress: `Close` on its socket, which is free again
/// once the chip's `Closed` comes back.
fn end_call(caller: &mut Caller) {
    if caller.call.take().is_some() {
        send_frame(Kind::Close, caller.socket, &[]);
        if let Some(c) = caller.closing.get_mut(usize::from(caller.socket)) {
            *c = true;
        }
    }
}

/// A frame on an outgoing socket: the call's connection, its answer, its
/// end. The answer goes to the driver as device-net's firmware feeds it.
fn on_call_frame(
    caller: &mut Caller,
    kind: Kind,
    socket: u8,
    payload: &[u8],
    server: &mut BillingServer<'_>,
) {
    let closing = caller
        .closing
        .get(usize::from(socket))
        .copied()
        .unwrap_or(false);
    if closing {
        if matches!(kind, Kind::Closed | Kind::Refused)
            && let Some(c) = caller.closing.get_mut(usize::from(socket))
        {
            *c = false;
        }
        return;
    }
    let ours = caller.call.is_some() && caller.socket == socket;
    if !ours {
        if kind == Kind::Closed {
            // Not ours any more: its end acknowledged.
            send_frame(Kind::Close, socket, &[]);
        }
        return;
    }
    let to = peer_name(caller.call.as_ref().map_or(0, |c| c.peer));
    match kind {
        Kind::Connected => {
            caller.connected = true;
            send_bytes(
                socket,
                caller.wire_out.get(..caller.out_len).unwrap_or_default(),
            );
        }
        Kind::Refused => {
            log!("{NODE_ID}: connect to {to} refused; the driver resends");
            caller.call = None;
        }
        Kind::Closed => {
            log!("{NODE_ID}: no answer from {to} (connection closed); the driver resends");
            // Both ends are said: the socket is free.
            send_frame(Kind::Close, socket, &[]);
            caller.call = None;
        }
        Kind::Data => {
            let space = caller.wire_in.get_mut(caller.in_len..).unwrap_or_default();
            let n = space.len().min(payload.len());
            if let (Some(dst), Some(src)) = (space.get_mut(..n), payload.get(..n)) {
                dst.copy_from_slice(src);
            }
            caller.in_len += n;
            if answered(caller, server) {
                end_call(caller);
            }
        }
        _ => {}
    }
}

/// Reads the call's answer so far (kevy_net's `Hearing`: the login's
/// line, then a line, or a fence's news list); feeds it to the driver
/// when whole. Returns whether the call is over.
fn answered(caller: &mut Caller, server: &mut BillingServer<'_>) -> bool {
    let Some(call) = caller.call.as_ref() else {
        return true;
    };
    let to = peer_name(call.peer);
    let got = caller.wire_in.get(..caller.in_len).unwrap_or_default();
    let heard = caller.hearing.hear(call.kind, got, caller.in_len >= WIRE);
    match heard {
        Heard::Waiting => return false,
        Heard::LoginRefused => log!("{NODE_ID}: {to} refused the cluster login"),
        Heard::TooLong => log!("{NODE_ID}: {to}'s answer is too long"),
        Heard::BadList(e) => log!("{NODE_ID}: {to} answered the fence with a bad list: {e}"),
        Heard::Line(line) => {
            caller.answered = caller.answered.wrapping_add(1);
            let fed = feed(call, &heard, server.driver, server.node, to);
            log!(
                "{NODE_ID}: {to} answered {} ({} calls, {} answered)",
                core::str::from_utf8(line).unwrap_or("(not UTF-8)"),
                caller.calls,
                caller.answered
            );
            if fed != (Fed::Answered { accepted: true }) {
                log!("{NODE_ID}: the driver refused {to}'s answer");
            }
        }
        Heard::News(_) => {
            caller.answered = caller.answered.wrapping_add(1);
            if let Fed::Recovered {
                fence,
                news,
                accepted,
            } = feed(call, &heard, server.driver, server.node, to)
            {
                log!(
                    "{NODE_ID}: recovery: {to} fenced at {} and told {news} news",
                    fence.get()
                );
                if !accepted {
                    log!("{NODE_ID}: recovery: the driver refused {to}'s news");
                }
            }
        }
    }
    true
}

/// Logs what a persist or the boot dropped (`Server::persist`,
/// `Server::drop_unowned`); a failed flash write stops the node.
fn dropped(keys: Option<usize>) {
    match keys {
        Some(0) => {}
        Some(n) => log!("{NODE_ID}: {n} keys another node owns now dropped"),
        None => fail("flash write failed"),
    }
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
