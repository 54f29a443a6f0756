//! "embed-billing-1": a kevy writer node on a microcontroller, its move
//! records in flash, its moves run by the crate's `Driver`.
//!
//! It reads its `[cluster]` config strings, builds its ownership table and
//! peer list in place, routes writes and logs every verdict and reply with
//! defmt. The node's image lives in a flash region, written through
//! `sequential-storage` (`kevy_scope_support::flash`). The firmware is a host of
//! `kevy_scope::Driver` (its contract: src/moves/driver.rs): at every boot
//! it builds the driver from the peer list and calls `resume`; it feeds
//! the driver the operator's MOVE-SCOPE (`start`), the peers' answers
//! (`answer`) and the end of every flash write (`persisted`), and carries
//! out what `poll` hands out: `Persist` (the image into flash, then
//! `persisted`), `Send` and `Ship` (the request's bytes to the peer, its
//! answer's bytes read back), `Reply` (logged as the operator's answer),
//! `Wake` (the story's clock moves on). When to persist, whom to tell,
//! when to ship, ask or announce is the driver's: the firmware has no
//! rule of its own for it. On the receiving side of a request (the
//! ingest of `app:audit:` here, every request on the simulated peers) the
//! host calls the node straight and writes its image before it answers
//! when the step asks (and, here, when the driver still holds steps not
//! written), as the contract's item 4 says.
//!
//! Every request and reply is shown as the bytes that would cross the
//! wire (`PeerRequest`/`PeerReply`, src/wire/peer.rs): the peer reads the
//! request from those bytes, and this node reads its own copy of the
//! request and the peer's answer back from bytes too.
//!
//! The run spans four boots:
//!
//! 1. first boot (the flash holds no image): it adopts `app:audit:` from
//!    embed-audit-1; the operator moves `app:billing:eu:` to server-eu-1:
//!    the driver persists the start, tells server-eu-1 (the scope's
//!    fallback) the move is in flight, ships the keys; server-eu-1 adopts
//!    them and sends `+OK`, and the power goes before the `+OK` arrives;
//! 2. back from flash: `app:billing:eu:` still answers QUIESCED and
//!    `in_flight()` lists the move; `resume` has the driver ask the target
//!    what became of it; on the answer it resolves the move, persists and
//!    announces both moves the image vouches for to every peer until each
//!    acknowledges; the power goes again;
//! 3. back from flash: the committed move redirects (MISDIRECTED); the
//!    driver announces once more what the image vouches for (every peer
//!    knows it already); the power goes, and the flash region rots
//!    (every byte cleared);
//! 4. back with no readable image: the node is quarantined (no scoped
//!    write accepted), the region is erased, and `resume` runs the
//!    recovery: every peer tells its highest epoch, then, fenced, all it
//!    knows; the node learns back what it adopted and gave away, writes
//!    its image and accepts again.
//!
//! It exits QEMU with status 0 only when every verdict, exchange and step
//! of every boot was the expected one.
//!
//! Under QEMU the "flash" is RAM: a region of `.uninit` (never zeroed or
//! loaded by the reset handler) with NOR rules (`RamFlash`: page erase to
//! `0xFF`, writes only clear bits). The power cut is a real system reset
//! (`SCB::sys_reset` on Cortex-M, the SiFive test device's reset on
//! RISC-V `virt`), which QEMU performs without clearing RAM: the reset
//! handler re-initialises `.data`/`.bss` and the stack, so every in-RAM
//! structure is rebuilt (the driver too) and only the region survives. On
//! a board, the same code takes the chip's flash driver (any
//! `embedded_storage` `NorFlash`). The peers server-eu-1, embed-auth-1
//! and embed-audit-1 are simulated here, beside the node, each a `Node`
//! built for the request it answers; they stand for other machines, which
//! keep their state across this node's power cuts, so their images are
//! kept in retained RAM too.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile};

use kevy_scope::{
    Driver, Epoch, MoveTable, Node, OwnershipTable, WriteVerdict,
    config::{PeerTable, boot_report, parse_scopes},
    driver::{Answer, Effect, MoveReply, Request},
    moves::{MoveId, Outcome},
    wire::{MAX_PEER_REQUEST_LEN, MAX_REPLY_LEN, PeerReply, PeerRequest, Refusal},
    wire::{NewsList, encode_news, max_news_len},
};
use kevy_scope_device::{exit, paint_stack, stack_high_water, static_ram};

use kevy_scope_support::flash::{self as persist, Boot, IMAGE_CAP, ImageStore, RamFlash};

const NODE_ID: &str = "embed-billing-1";
const TARGET: &str = "server-eu-1";
const SCOPES: &str = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1, \
                      app:audit:=embed-audit-1|server-eu-1";
const PEERS: &str = "embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004:6379, \
                     embed-auth-1@10.0.0.3:6004:6379, embed-audit-1@[fd00::4]:6004";
const MOVING: &[u8] = b"app:billing:eu:";
const ADOPTED: &[u8] = b"app:audit:";
/// The keys under `app:billing:eu:`, as the store streams them with the
/// ingest (RESP commands; the driver never holds them).
const BILLING_EU_KEYS: &[u8] =
    b"*3\r\n$3\r\nSET\r\n$24\r\napp:billing:eu:invoice:7\r\n$4\r\npaid\r\n";
/// The keys embed-audit-1 ships with `app:audit:`.
const AUDIT_KEYS: &[u8] = b"*3\r\n$3\r\nSET\r\n$15\r\napp:audit:log:0\r\n$4\r\nboot\r\n";

/// The other machines, simulated here: every peer but this node.
const REMOTES: [&str; 3] = [TARGET, "embed-auth-1", "embed-audit-1"];
/// A simulated peer's image: room for the few records the story gives it
/// (an image outgrowing it fails the run).
const REMOTE_IMAGE: usize = 256;
/// The longest request of the story: an ingest with its keys.
const WIRE_CAP: usize = MAX_PEER_REQUEST_LEN + BILLING_EU_KEYS.len() + 2;
const _: () = assert!(AUDIT_KEYS.len() <= BILLING_EU_KEYS.len());
/// Room for every reply line here: `+ABORTED 4294967295\r\n` (21 bytes),
/// a refusal's code with no reason, `-ERR unreadable request\r\n` (25).
const LINE_CAP: usize = 32;
/// Room for every answer here: a reply line, or the list of news a peer
/// answers a fence with (at most its four records).
const ANSWER_CAP: usize = max_news_len(4);
const _: () = assert!(ANSWER_CAP >= LINE_CAP);
/// Effects one run of the driver may take before the run calls it stuck.
const MAX_EFFECTS: usize = 64;

/// Flash pages of 1 KiB (the nRF51's and the LM3S6965's page size).
const PAGE: usize = 1024;
/// Four pages: room for the store to reclaim a page while three hold data.
const FLASH_LEN: usize = 4 * PAGE;

type Table<'c> = OwnershipTable<'c, 16>;
type DeviceNode<'c> = Node<&'c Table<'c>, MoveTable<4>>;
/// Four peers (this node among them), four move slots: the node's record
/// capacity.
type DeviceDriver = Driver<4, 4>;
type Flash = RamFlash<'static, PAGE>;

/// A simulated peer's durable image (`len` 0: it never persisted).
#[repr(C)]
struct Remote {
    len: u32,
    image: [u8; REMOTE_IMAGE],
}

/// What survives a reset: the flash region, the simulated peers' images,
/// and the demo's own bookkeeping (boot count, stack high-water).
#[repr(C)]
struct Retained {
    magic: u32,
    boots: u32,
    stack_max: u32,
    remotes: [Remote; REMOTES.len()],
    flash: [u8; FLASH_LEN],
}

const MAGIC: u32 = 0x4B56_5346; // "KVSF"

#[unsafe(link_section = ".uninit.kevy_retained")]
static mut RETAINED: MaybeUninit<Retained> = MaybeUninit::uninit();

/// The retained region, initialised on a cold start (power-on: RAM holds
/// noise; the flash is factory-blank, all `0xFF`).
fn retained() -> &'static mut Retained {
    let p = (&raw mut RETAINED).cast::<Retained>();
    // SAFETY: called once, from `main`, before any other access to
    // RETAINED, so the reference made here is the only one. On a cold
    // start every field is written before the reference is made; after a
    // reset the fields hold what the previous boot wrote (QEMU keeps RAM
    // across a system reset, the reset handler never touches `.uninit`).
    unsafe {
        if read_volatile(addr_of_mut!((*p).magic)) != MAGIC {
            addr_of_mut!((*p).flash).write_bytes(0xFF, 1);
            addr_of_mut!((*p).remotes).write_bytes(0, 1);
            addr_of_mut!((*p).boots).write(0);
            addr_of_mut!((*p).stack_max).write(0);
            addr_of_mut!((*p).magic).write(MAGIC);
            defmt::info!(
                "cold start: flash region blank ({=usize} B of RAM-backed NOR)",
                FLASH_LEN
            );
        }
        &mut *p
    }
}

/// What a write should get here, for the run's own check.
#[derive(Clone, Copy, PartialEq, defmt::Format)]
enum Want {
    Accept,
    Misdirected,
    Quiesced,
    Unavailable,
}

/// When the story cuts the power during a run of the driver.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    Never,
    /// Once the target has answered the ingest, before its answer arrives.
    BeforeIngestAnswer,
}

/// Why a run of the driver ended.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// Nothing left to do.
    Idle,
    /// The target's answer to the ingest is on its way: the power goes.
    PowerCut,
    /// A check failed (logged).
    Failed,
}

/// One effect, out of the driver's borrow.
enum Job {
    Persist,
    Reply(Epoch, MoveReply),
    Wake(u64),
    /// A request in the wire buffer: to this remote, this many bytes; a
    /// ship or not.
    Wire {
        to: usize,
        len: usize,
        ship: bool,
    },
    /// `poll` returned `None`.
    Quiet,
    /// A request the host could not put on the wire (logged).
    Failed,
}

/// What the peers answered during a run, for the run's checks.
#[derive(Default)]
struct Tally {
    learned: u32,
    outcome: Option<Outcome>,
    /// Peers that told their highest epoch, and their news after the
    /// fence, to this node's recovery.
    epochs: u32,
    told: u32,
}

/// The node, its driver and their storage: the host.
struct Host<'c, 'b> {
    node: &'b mut DeviceNode<'c>,
    driver: &'b mut DeviceDriver,
    table: &'c Table<'c>,
    peers: &'c PeerTable<'c, 8>,
    store: ImageStore<Flash>,
    /// The store's work buffer, where the image is encoded.
    buf: &'b mut [u8; IMAGE_CAP],
    remotes: &'b mut [Remote; REMOTES.len()],
    /// The story's clock, in milliseconds (from this boot on: the driver
    /// is new at every boot).
    now: u64,
    tally: Tally,
    /// When the recovery began (`Request::Epoch { began }`): not on the
    /// wire, so the host keeps it to feed the answers back with it.
    began: u64,
    all_as_expected: bool,
}

impl Host<'_, '_> {
    fn write(&mut self, key: &[u8], want: Want) {
        // The quorum service reports embed-auth-1 down; this node is no
        // fallback of it, so nothing changes here.
        let verdict = self.node.verdict(key, |id| id == "embed-auth-1");
        let got = match verdict {
            WriteVerdict::Accept => Want::Accept,
            WriteVerdict::Misdirected { .. } => Want::Misdirected,
            WriteVerdict::Unavailable => Want::Unavailable,
            _ => Want::Quiesced,
        };
        let mut buf = [0u8; MAX_REPLY_LEN];
        match verdict.encode_reply(self.peers, &mut buf) {
            Ok([]) => defmt::info!("SET {=[u8]:a} -> +OK ({})", key, verdict),
            Ok(reply) => defmt::info!("SET {=[u8]:a} -> {=[u8]:a}", key, reply.trim_ascii_end()),
            Err(e) => {
                defmt::error!("SET {=[u8]:a}: {}", key, e);
                self.all_as_expected = false;
            }
        }
        if got != want {
            defmt::error!("expected {}, got {}", want, verdict);
            self.all_as_expected = false;
        }
    }

    /// Records a check of the run.
    fn expect(&mut self, ok: bool, what: &str) {
        if !ok {
            defmt::error!("unexpected: {=str}", what);
            self.all_as_expected = false;
        }
    }

    /// Carries out the driver's effects until it has nothing left to do,
    /// or until the story cuts the power.
    #[inline(never)]
    fn run(&mut self, cut: Cut) -> Stop {
        self.tally = Tally::default();
        let mut wake = None;
        for taken in 0..MAX_EFFECTS {
            let mut wire = [0u8; WIRE_CAP];
            let job = match self.driver.poll(self.node, self.now) {
                None => Job::Quiet,
                Some(Effect::Persist) => Job::Persist,
                Some(Effect::Reply { ticket, reply }) => Job::Reply(ticket, reply),
                Some(Effect::Wake { at }) => Job::Wake(at),
                Some(Effect::Send { to, request }) => {
                    if let Request::Epoch { began } = request {
                        self.began = began;
                    }
                    put_request(to, &request, &mut wire)
                }
                Some(Effect::Ship { to, id }) => put_ship(to, &id, &mut wire),
            };
            match job {
                Job::Persist => {
                    // Encoded now, before any other call on the node or
                    // the driver; the driver hears when it is written.
                    write_image(self.node, &mut self.store, self.buf);
                    self.driver.persisted();
                }
                Job::Reply(ticket, reply) => defmt::info!(
                    "reply to the operator's MOVE-SCOPE (ticket {=u32}): {}",
                    ticket.get(),
                    reply
                ),
                Job::Wake(at) => wake = Some(at),
                Job::Quiet if self.driver.is_idle() => {
                    defmt::info!(
                        "driver idle after {=usize} effects, at {=u64} ms",
                        taken,
                        self.now
                    );
                    return Stop::Idle;
                }
                Job::Quiet => match wake.take() {
                    Some(at) => {
                        defmt::info!(
                            "clock: {=u64} ms -> {=u64} ms (the driver's wake)",
                            self.now,
                            at
                        );
                        self.now = at;
                    }
                    None => {
                        defmt::error!("the driver waits with no wake: {}", self.driver);
                        return Stop::Failed;
                    }
                },
                Job::Wire { to, len, ship } => {
                    if self.exchange(to, wire.get(..len).unwrap_or_default(), ship, cut) {
                        return Stop::PowerCut;
                    }
                }
                Job::Failed => return Stop::Failed,
            }
        }
        defmt::error!(
            "the driver did not settle in {=usize} effects: {}",
            MAX_EFFECTS,
            self.driver
        );
        Stop::Failed
    }

    /// Hands the request `bytes` to remote `to` and feeds its answer to
    /// the driver; true when the story cuts the power before the answer
    /// arrives.
    #[inline(never)]
    fn exchange(&mut self, to: usize, bytes: &[u8], ship: bool, cut: Cut) -> bool {
        let (Some(&peer), Some(remote)) = (REMOTES.get(to), self.remotes.get_mut(to)) else {
            return false;
        };
        defmt::info!("-> {=str}: {=[u8]:a}", peer, bytes);
        let mut line = [0u8; ANSWER_CAP];
        let len = serve_remote(remote, peer, self.table, bytes, &mut line);
        let leaves_written = !self.driver.must_persist();
        self.expect(
            leaves_written,
            "a request leaves only once its steps are on flash",
        );
        let line = line.get(..len).unwrap_or_default();
        if let Some(PeerRequest::Fence { epoch, .. }) = read_request(bytes) {
            return self.recovered(peer, epoch, line);
        }
        let answer = PeerReply::decode(line).map_or(Answer::Refused, Answer::from);
        if ship && cut == Cut::BeforeIngestAnswer {
            defmt::info!("{=str} sends {=[u8]:a}; it has not arrived", peer, line);
            self.expect(
                self.tally.learned == 1,
                "the fallback heard of the move before the keys shipped",
            );
            self.expect(
                answer == (Answer::Ingested { keys: 1 }),
                "the target adopted the keys",
            );
            return true;
        }
        defmt::info!("<- {=str}: {=[u8]:a}", peer, line);
        // This node reads its own copy of the request back from the bytes
        // it sent (the effect borrowed the driver).
        let request = match read_request(bytes) {
            Some(PeerRequest::News { news, sender_epoch }) => Request::News { news, sender_epoch },
            Some(PeerRequest::Outcome(id)) => Request::Outcome(id),
            Some(PeerRequest::Ingest { id, .. }) => Request::Ingest(id),
            Some(PeerRequest::Epoch) => Request::Epoch { began: self.began },
            _ => {
                defmt::error!("this node cannot read the request it sent");
                self.all_as_expected = false;
                return false;
            }
        };
        match answer {
            Answer::Learned => self.tally.learned += 1,
            Answer::Epoch(_) => self.tally.epochs += 1,
            Answer::Outcome(outcome) => self.tally.outcome = Some(outcome),
            _ => {}
        }
        if let Err(e) = self.driver.answer(self.node, peer, request, answer) {
            defmt::error!("the driver refused {=str}'s answer: {}", peer, e);
            self.all_as_expected = false;
        }
        false
    }

    /// A peer's answer to this node's fence: the list of all it knows,
    /// which the driver learns.
    fn recovered(&mut self, peer: &str, fence: Epoch, list: &[u8]) -> bool {
        defmt::info!("<- {=str}: {=[u8]:a}", peer, list);
        match NewsList::decode(list) {
            Ok((news, _)) => {
                self.tally.told += 1;
                if let Err(e) = self.driver.recovered(self.node, peer, fence, news) {
                    defmt::error!("the driver refused {=str}'s news: {}", peer, e);
                    self.all_as_expected = false;
                }
            }
            Err(e) => {
                defmt::error!("{=str}'s news did not decode: {}", peer, e);
                self.all_as_expected = false;
            }
        }
        false
    }

    /// A request from `from` arrives as `bytes`: this node takes the step
    /// and answers, its image written first when the step asks or the
    /// driver holds steps not written yet (the contract's item 4).
    #[inline(never)]
    fn receive(&mut self, from: &str, bytes: &[u8]) -> Answer {
        defmt::info!("<- {=str}: {=[u8]:a}", from, bytes);
        let pending = self.driver.must_persist();
        let Self {
            node,
            driver,
            store,
            buf,
            ..
        } = self;
        let reply = match read_request(bytes) {
            Some(request) => serve(node, &request, pending, &mut |node| {
                driver.persisting();
                write_image(node, store, buf);
                driver.persisted();
            }),
            None => UNREADABLE,
        };
        let mut line = [0u8; LINE_CAP];
        let len = reply.encode(&mut line).unwrap_or(0);
        defmt::info!(
            "-> {=str}: {=[u8]:a}",
            from,
            line.get(..len).unwrap_or_default()
        );
        Answer::from(reply)
    }
}

/// Writes the node's image to flash. A failed persist ends the run:
/// nothing that depends on it may leave.
#[inline(never)]
fn write_image(node: &DeviceNode<'_>, store: &mut ImageStore<Flash>, buf: &mut [u8; IMAGE_CAP]) {
    match persist::persist(node, store, buf) {
        Ok(len) => defmt::info!(
            "persisted {=usize}-byte image to flash (epoch {=u32})",
            len,
            node.epoch().get()
        ),
        Err(_) => {
            defmt::error!("persist failed; nothing that depends on it leaves");
            exit(false)
        }
    }
}

/// The index of remote `id`.
fn remote_index(id: &str) -> Option<usize> {
    REMOTES.iter().position(|r| *r == id)
}

/// Puts a request of the driver's to `to` on the wire.
fn put_request(to: &str, request: &Request<'_>, wire: &mut [u8]) -> Job {
    let request = match *request {
        Request::News { news, sender_epoch } => PeerRequest::News { news, sender_epoch },
        Request::Outcome(id) => PeerRequest::Outcome(id),
        Request::Ingest(id) => return put_ship(to, &id, wire),
        Request::Epoch { .. } => PeerRequest::Epoch,
        Request::Fence(epoch) => PeerRequest::Fence {
            from: NODE_ID,
            epoch,
        },
        _ => {
            defmt::error!("a request this story does not send: {}", request);
            return Job::Failed;
        }
    };
    match (remote_index(to), request.encode(wire)) {
        (Some(to), Ok(len)) => Job::Wire {
            to,
            len,
            ship: false,
        },
        _ => {
            defmt::error!("no wire to {=str} for {}", to, request);
            Job::Failed
        }
    }
}

/// Puts the ingest of move `id` on the wire to `to`: the header, then the
/// keys read from the store as they stream.
fn put_ship(to: &str, id: &MoveId<'_>, wire: &mut [u8]) -> Job {
    let keys = if id.prefix == MOVING {
        BILLING_EU_KEYS
    } else {
        &[]
    };
    match (remote_index(to), put_ingest(id, keys, wire)) {
        (Some(to), Some(len)) => Job::Wire {
            to,
            len,
            ship: true,
        },
        _ => {
            defmt::error!("no wire to {=str} for the ingest", to);
            Job::Failed
        }
    }
}

/// `MOVE-SCOPE-INGEST` of move `id` with `keys`, streamed: the header
/// ([`PeerRequest::encode_ingest_header`]), the keys, CRLF.
fn put_ingest(id: &MoveId<'_>, keys: &[u8], wire: &mut [u8]) -> Option<usize> {
    let head = PeerRequest::encode_ingest_header(id, keys.len(), wire).ok()?;
    let end = head + keys.len();
    wire.get_mut(head..end)?.copy_from_slice(keys);
    wire.get_mut(end..end + 2)?.copy_from_slice(b"\r\n");
    Some(end + 2)
}

/// Reads a request off the wire: its RESP array, then its fields.
fn read_request(bytes: &[u8]) -> Option<PeerRequest<'_>> {
    let mut args: [&[u8]; 7] = [&[]; 7];
    match resp_array(bytes, &mut args)? {
        (n, []) => PeerRequest::decode(args.get(..n)?).ok(),
        _ => None,
    }
}

/// One RESP array of bulk strings (at most `args.len()`): how many, and
/// the bytes after it.
fn resp_array<'b>(bytes: &'b [u8], args: &mut [&'b [u8]]) -> Option<(usize, &'b [u8])> {
    let (n, mut rest) = resp_number(bytes, b'*')?;
    for arg in args.get_mut(..n)? {
        let (len, tail) = resp_number(rest, b'$')?;
        let (bulk, tail) = tail.split_at_checked(len)?;
        *arg = bulk;
        rest = tail.strip_prefix(b"\r\n")?;
    }
    Some((n, rest))
}

/// `<sign><digits>\r\n`: the number, and the bytes after it.
fn resp_number(bytes: &[u8], sign: u8) -> Option<(usize, &[u8])> {
    let rest = bytes.strip_prefix(&[sign])?;
    let end = rest.iter().position(|&b| b == b'\r')?;
    let (digits, rest) = rest.split_at(end);
    let mut n = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
    }
    Some((n, rest.strip_prefix(b"\r\n")?))
}

/// How many commands `keys` holds (`None`: not RESP).
fn count_keys(mut keys: &[u8]) -> Option<u32> {
    let mut count = 0;
    while !keys.is_empty() {
        let mut args: [&[u8]; 3] = [&[]; 3];
        keys = resp_array(keys, &mut args)?.1;
        count += 1;
    }
    Some(count)
}

/// The answer to a request that could not be read.
const UNREADABLE: PeerReply<'static> = PeerReply::Refused {
    code: Refusal::Other,
    reason: "unreadable request",
};

/// The receiving side of `request`, straight on `node`: the step, then
/// the node's image (`persist`) when the step asks or `pending` says so,
/// then the answer.
#[inline(never)]
fn serve(
    node: &mut DeviceNode<'_>,
    request: &PeerRequest<'_>,
    pending: bool,
    persist: &mut dyn FnMut(&DeviceNode<'_>),
) -> PeerReply<'static> {
    let step = match *request {
        PeerRequest::News { news, sender_epoch } => node
            .learn(&news, sender_epoch)
            .map(|step| (step.must_persist(), PeerReply::Learned)),
        PeerRequest::Outcome(id) => node
            .move_outcome(&id)
            .map(|step| (step.must_persist(), PeerReply::Outcome(step.into_inner()))),
        PeerRequest::Ingest { id, bulk } => {
            let Some(keys) = count_keys(bulk) else {
                return UNREADABLE;
            };
            // The keys are applied here on `Ingest::Apply`; a repeat of
            // an adopted ingest is answered as the first was.
            node.check_ingest(&id)
                .and_then(|_| node.adopt(&id))
                .map(|step| (step.must_persist(), PeerReply::Ingested { keys }))
        }
        _ => return UNREADABLE,
    };
    match step {
        Ok((must_persist, reply)) => {
            if must_persist || pending {
                persist(node);
            }
            reply
        }
        Err(e) => PeerReply::Refused {
            code: Refusal::of(&e),
            reason: "",
        },
    }
}

/// A simulated peer answers `bytes`: its node as it last persisted takes
/// the step, writes its image when the step asks, and answers into `line`.
#[inline(never)]
fn serve_remote(
    remote: &mut Remote,
    id: &str,
    table: &Table<'_>,
    bytes: &[u8],
    out: &mut [u8; ANSWER_CAP],
) -> usize {
    let mut built = Node::new(id, table, MoveTable::<4>::new());
    let Ok(node) = &mut built else { exit(false) };
    let stored = remote.image.get(..remote.len as usize).unwrap_or_default();
    if !stored.is_empty() && node.restore(stored).is_err() {
        defmt::error!("{=str}'s image did not restore", id);
        exit(false)
    }
    let mut persist = |node: &DeviceNode<'_>| match node.encode_image(&mut remote.image) {
        Ok(len) => {
            remote.len = len as u32;
            defmt::info!("{=str} persisted its {=usize}-byte image", id, len);
        }
        Err(e) => {
            defmt::error!("{=str}'s image did not encode: {}", id, e);
            exit(false)
        }
    };
    let reply = match read_request(bytes) {
        Some(PeerRequest::Epoch) => PeerReply::Epoch(node.known_epoch()),
        Some(PeerRequest::Fence { from, epoch }) => match node.fence(from, epoch) {
            // Fenced (and persisted), it answers with all it knows.
            Ok(step) => {
                if step.must_persist() {
                    persist(node);
                }
                return encode_news(node.news(), out).unwrap_or(0);
            }
            Err(e) => PeerReply::Refused {
                code: Refusal::of(&e),
                reason: "",
            },
        },
        Some(request) => serve(node, &request, false, &mut persist),
        None => UNREADABLE,
    };
    reply.encode(out).unwrap_or(0)
}

/// Cuts the power: a system reset, after noting the stack high-water.
fn power_cut(stack_max: &mut u32, what: &str) -> ! {
    *stack_max = (*stack_max).max(stack_high_water() as u32);
    defmt::warn!("POWER CUT {=str}: system reset", what);
    kevy_scope_device::system_reset()
}

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let Retained {
        boots,
        stack_max,
        remotes,
        flash,
        ..
    } = retained();
    *boots += 1;
    if *boots == 4 {
        // The region rots: every bit of it cleared (a NOR write can only
        // clear bits), so no page, and no image, can be read.
        flash.iter_mut().for_each(|b| *b = 0);
        defmt::warn!("the flash region is damaged: every byte cleared");
    }
    let table = parse_scopes::<16>(SCOPES).unwrap_or_else(|e| {
        defmt::error!("scopes refused: {}", e);
        exit(false)
    });
    let peers = PeerTable::<8>::parse(PEERS).unwrap_or_else(|e| {
        defmt::error!("peers refused: {}", e);
        exit(false)
    });
    defmt::info!(
        "== boot {=u32}: {=str} up: {=usize} scopes, {=usize} peers",
        *boots,
        NODE_ID,
        table.len(),
        peers.len()
    );
    for warning in boot_report(&table, &peers) {
        defmt::warn!("{}", warning);
    }
    let Some(mut store) = persist::open(Flash::new(flash)) else {
        defmt::error!("flash region too small for the store");
        exit(false)
    };
    let mut buf = [0u8; IMAGE_CAP];
    // The node and the driver stay where they were built (moving them
    // into the host would copy them on the stack).
    let mut booted = persist::boot(NODE_ID, &table, MoveTable::<4>::new(), &mut store, &mut buf);
    let (node, boot) = match &mut booted {
        Ok((node, boot)) => (node, *boot),
        Err(e) => {
            defmt::error!("node id refused: {}", e);
            exit(false)
        }
    };
    defmt::info!("from flash: {}; node {}", boot, node);
    if boot == Boot::Quarantined {
        // Nothing in it can be read: erased, for the image the node
        // writes once it has recovered from its peers.
        if persist::erase(&mut store).is_err() {
            defmt::error!("the flash region could not be erased");
            exit(false)
        }
        defmt::warn!("flash region erased; the node recovers from its peers");
    }
    // Every boot: a new driver over the peer list, resumed from the node
    // as the flash left it.
    let mut made = DeviceDriver::new(peers.iter().map(|p| p.id()));
    let driver = match &mut made {
        Ok(driver) => driver,
        Err(e) => {
            defmt::error!("driver refused the peers: {}", e);
            exit(false)
        }
    };
    if let Err(e) = driver.resume(node) {
        defmt::error!("resume: {}", e);
        exit(false)
    }
    defmt::info!("driver resumed: {}", driver);
    let mut h = Host {
        node,
        driver,
        table: &table,
        peers: &peers,
        store,
        buf: &mut buf,
        remotes,
        now: 0,
        tally: Tally::default(),
        began: 0,
        all_as_expected: true,
    };

    match *boots {
        1 => {
            h.expect(boot == Boot::Fresh, "a first boot finds no image");
            first_boot(&mut h);
            if !h.all_as_expected {
                exit(false)
            }
            power_cut(stack_max, "before server-eu-1's +OK arrives")
        }
        2 => {
            h.expect(matches!(boot, Boot::Restored(_)), "the image restores");
            second_boot(&mut h);
            if !h.all_as_expected {
                exit(false)
            }
            power_cut(stack_max, "after the move resolved")
        }
        3 => {
            h.expect(matches!(boot, Boot::Restored(_)), "the image restores");
            third_boot(&mut h);
            if !h.all_as_expected {
                exit(false)
            }
            power_cut(stack_max, "and the flash region is damaged")
        }
        4 => {
            h.expect(boot == Boot::Quarantined, "the damaged image quarantines");
            fourth_boot(&mut h);
            *stack_max = (*stack_max).max(stack_high_water() as u32);
            defmt::info!(
                "footprint: table {=usize} B, node {=usize} B, driver {=usize} B, peers {=usize} B, store {=usize} B; static RAM {=usize} B (flash region {=usize} B); stack high-water {=u32} B",
                core::mem::size_of_val(&table),
                core::mem::size_of_val(h.node),
                core::mem::size_of_val(h.driver),
                core::mem::size_of_val(&peers),
                core::mem::size_of_val(&h.store),
                static_ram(),
                FLASH_LEN,
                *stack_max
            );
            exit(h.all_as_expected)
        }
        n => {
            defmt::error!("boot {=u32}: the run should have ended", n);
            exit(false)
        }
    }
}

/// Logs a move's id with its prefix as text.
fn log_move(what: &str, m: &MoveId<'_>) {
    defmt::info!(
        "{=str}: {=[u8]:a} {=str} -> {=str} at epoch {=u32}",
        what,
        m.prefix,
        m.from,
        m.to,
        m.epoch.get()
    );
}

#[inline(never)]
fn first_boot(h: &mut Host<'_, '_>) {
    defmt::info!("-- steady state");
    h.write(b"app:billing:invoice:42", Want::Accept);
    h.write(b"app:billing:eu:invoice:7", Want::Accept);
    h.write(b"app:auth:user:7", Want::Misdirected);
    h.write(b"app:audit:log:1", Want::Misdirected);
    h.write(b"session:9", Want::Accept);

    defmt::info!("-- MOVE-SCOPE-INGEST app:audit: from embed-audit-1");
    adopt_audit(h);
    h.write(b"app:audit:log:1", Want::Accept);

    defmt::info!("-- MOVE-SCOPE app:billing:eu: FROM embed-billing-1 TO server-eu-1");
    let ticket = match h.driver.start(h.node, MOVING, TARGET) {
        Ok(ticket) => ticket,
        Err(e) => {
            defmt::error!("MOVE-SCOPE refused: {}", e);
            exit(false)
        }
    };
    defmt::info!(
        "started at epoch {=u32} (the operator's ticket)",
        ticket.get()
    );
    let stop = h.run(Cut::BeforeIngestAnswer);
    h.expect(stop == Stop::PowerCut, "the keys shipped");
    h.write(b"app:billing:eu:invoice:7", Want::Quiesced);
    h.write(b"app:billing:invoice:42", Want::Accept);
}

/// embed-audit-1 ships `app:audit:` to this node, which adopts it.
#[inline(never)]
fn adopt_audit(h: &mut Host<'_, '_>) {
    let audit = MoveId {
        prefix: ADOPTED,
        from: "embed-audit-1",
        to: NODE_ID,
        epoch: Epoch::new(1),
    };
    log_move("ingest", &audit);
    let mut wire = [0u8; WIRE_CAP];
    let len = put_ingest(&audit, AUDIT_KEYS, &mut wire).unwrap_or(0);
    let answer = h.receive("embed-audit-1", wire.get(..len).unwrap_or_default());
    h.expect(
        answer == (Answer::Ingested { keys: 1 }),
        "the ingest is let through and adopted",
    );
}

#[inline(never)]
fn second_boot(h: &mut Host<'_, '_>) {
    defmt::info!("-- back from flash, the move unresolved");
    let mut count = 0;
    for m in h.node.in_flight() {
        log_move("in flight", &m);
        count += 1;
    }
    let in_flight_ok = count == 1
        && h.node
            .in_flight()
            .all(|m| m.prefix == MOVING && m.to == TARGET);
    h.expect(in_flight_ok, "in_flight() lists the one move");
    h.write(b"app:billing:eu:invoice:7", Want::Quiesced);
    h.write(b"app:billing:invoice:42", Want::Accept);
    h.write(b"app:audit:log:2", Want::Accept);

    defmt::info!("-- no +OK came: the driver asks server-eu-1 what became of the move");
    let stop = h.run(Cut::Never);
    h.expect(stop == Stop::Idle, "the driver settles");
    h.expect(
        h.tally.outcome == Some(Outcome::Committed),
        "server-eu-1 answers Committed",
    );
    // Both moves the image vouches for, to each of the three peers.
    h.expect(h.tally.learned == 6, "every peer acknowledges both news");
    let settled = h.node.in_flight().next().is_none();
    h.expect(settled, "nothing left in flight");
    h.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    h.write(b"app:billing:invoice:42", Want::Accept);
}

#[inline(never)]
fn third_boot(h: &mut Host<'_, '_>) {
    defmt::info!("-- back from flash, the move committed");
    let settled = h.node.in_flight().next().is_none();
    h.expect(settled, "nothing in flight");
    h.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    h.write(b"app:billing:invoice:42", Want::Accept);
    h.write(b"app:audit:log:3", Want::Accept);
    h.write(b"app:auth:user:7", Want::Misdirected);
    h.write(b"session:9", Want::Accept);
    defmt::info!("-- the driver announces what the image vouches for, once more");
    let stop = h.run(Cut::Never);
    h.expect(stop == Stop::Idle, "the driver settles");
    h.expect(h.tally.learned == 6, "every peer acknowledges both news");
    defmt::info!("moves now: {}", h.node.moves());
}

#[inline(never)]
fn fourth_boot(h: &mut Host<'_, '_>) {
    defmt::info!("-- back with no readable image: quarantined until it recovers");
    h.write(b"app:billing:invoice:42", Want::Unavailable);
    h.write(b"app:audit:log:4", Want::Unavailable);
    h.write(b"session:9", Want::Accept);
    defmt::info!("-- the driver asks every peer its epoch, then its fence and news");
    let stop = h.run(Cut::Never);
    h.expect(stop == Stop::Idle, "the driver settles");
    h.expect(
        h.tally.epochs == 3 && h.tally.told == 3,
        "every peer tells its epoch and, fenced, its news",
    );
    h.expect(!h.node.is_quarantined(), "the node recovered");
    // What it had adopted and given away, learned back from its peers.
    h.write(b"app:audit:log:4", Want::Accept);
    h.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    h.write(b"app:billing:invoice:42", Want::Accept);
    h.write(b"app:auth:user:7", Want::Misdirected);
    defmt::info!("moves now: {}", h.node.moves());
}
