//! "embed-billing-1": a kevy writer node on a microcontroller, its move
//! records in flash.
//!
//! It reads its `[cluster]` config strings, builds its ownership table and
//! peer list in place, routes writes and logs every verdict and reply with
//! defmt. The node's image lives in a flash region, written through
//! `sequential-storage` (vectors/persist.rs) before any reply or message
//! that follows a step whose `must_persist()` is set. The run spans three
//! boots:
//!
//! 1. first boot (the flash holds no image): it adopts `app:audit:` from
//!    embed-audit-1, starts moving `app:billing:eu:` to server-eu-1 (which
//!    learns of it, ingests it and adopts it), then loses power before the
//!    target's `+OK` arrives;
//! 2. back from flash: `app:billing:eu:` still answers QUIESCED and
//!    `in_flight()` lists the move; it asks the target what became of the
//!    move, resolves it on the answer, persists, announces, and loses
//!    power again;
//! 3. back from flash: the committed move redirects (MISDIRECTED).
//!
//! It exits QEMU with status 0 only when every verdict and step of every
//! boot was the expected one.
//!
//! Under QEMU the "flash" is RAM: a region of `.uninit` (never zeroed or
//! loaded by the reset handler) with NOR rules (`RamFlash`: page erase to
//! `0xFF`, writes only clear bits). The power cut is a real system reset
//! (`SCB::sys_reset` on Cortex-M, the SiFive test device's reset on
//! RISC-V `virt`), which QEMU performs without clearing RAM: the reset
//! handler re-initialises `.data`/`.bss` and the stack, so every in-RAM
//! structure is rebuilt and only the region survives. On a board, the same
//! code takes the chip's flash driver (any `embedded_storage` `NorFlash`).
//! The peer server-eu-1 is simulated here, beside the node; it stands for
//! another machine, so its image is kept in retained RAM too.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile};

use kevy_scope::{
    Announcement, Epoch, Ingest, MAX_REPLY_LEN, MigrationTable, MoveId, MoveStatus, Node, Outcome,
    OwnershipTable, PeerTable, WriteVerdict, boot_report, parse_scopes,
};
use kevy_scope_device::{exit, paint_stack, stack_high_water, static_ram};

#[path = "../../../vectors/persist.rs"]
mod persist;

use persist::{Boot, IMAGE_CAP, ImageStore, RamFlash};

const NODE_ID: &str = "embed-billing-1";
const TARGET: &str = "server-eu-1";
const SCOPES: &str = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1, \
                      app:audit:=embed-audit-1|server-eu-1";
const PEERS: &str = "embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004:6379, \
                     embed-auth-1@10.0.0.3:6004:6379, embed-audit-1@[fd00::4]:6004";
const MOVING: &[u8] = b"app:billing:eu:";
const ADOPTED: &[u8] = b"app:audit:";

/// Flash pages of 1 KiB (the nRF51's and the LM3S6965's page size).
const PAGE: usize = 1024;
/// Four pages: room for the store to reclaim a page while three hold data.
const FLASH_LEN: usize = 4 * PAGE;

type Table<'c> = OwnershipTable<'c, 16>;
type DeviceNode<'c> = Node<&'c Table<'c>, MigrationTable<4>>;
type Flash = RamFlash<'static, PAGE>;

/// What survives a reset: the flash region, the simulated peer's image,
/// and the demo's own bookkeeping (boot count, stack high-water).
#[repr(C)]
struct Retained {
    magic: u32,
    boots: u32,
    stack_max: u32,
    peer_len: u32,
    peer_image: [u8; IMAGE_CAP],
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
            addr_of_mut!((*p).peer_image).write_bytes(0, 1);
            addr_of_mut!((*p).boots).write(0);
            addr_of_mut!((*p).stack_max).write(0);
            addr_of_mut!((*p).peer_len).write(0);
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
}

struct Writer<'c, 'b> {
    node: DeviceNode<'c>,
    peers: &'c PeerTable<'c, 8>,
    store: ImageStore<Flash>,
    /// The store's work buffer, where the image is encoded.
    buf: &'b mut [u8; IMAGE_CAP],
    all_as_expected: bool,
}

impl Writer<'_, '_> {
    fn write(&mut self, key: &[u8], want: Want) {
        // The quorum service reports embed-auth-1 down; this node is no
        // fallback of it, so nothing changes here.
        let verdict = self.node.verdict(key, |id| id == "embed-auth-1");
        let got = match verdict {
            WriteVerdict::Accept => Want::Accept,
            WriteVerdict::Misdirected { .. } => Want::Misdirected,
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

    /// Writes the node's image to flash; the reply that follows waits for
    /// it. A failed persist ends the run: the reply must not leave.
    #[inline(never)]
    fn persist(&mut self, step: &str) {
        match persist::persist(&self.node, &mut self.store, self.buf) {
            Ok(len) => defmt::info!(
                "persisted {=usize}-byte image after {=str} (epoch {=u32})",
                len,
                step,
                self.node.epoch().get()
            ),
            Err(_) => {
                defmt::error!("persist after {=str} failed; no reply sent", step);
                exit(false)
            }
        }
    }
}

/// The simulated peer server-eu-1 and its durable image.
struct Peer<'c, 'r> {
    node: DeviceNode<'c>,
    image: &'r mut [u8; IMAGE_CAP],
    len: &'r mut u32,
}

impl<'c, 'r> Peer<'c, 'r> {
    /// The peer as it last persisted.
    fn back(table: &'c Table<'c>, image: &'r mut [u8; IMAGE_CAP], len: &'r mut u32) -> Self {
        let Ok(mut node) = Node::new(TARGET, table, MigrationTable::<4>::new()) else {
            exit(false)
        };
        let stored = image.get(..*len as usize).unwrap_or(&[]);
        if !stored.is_empty() && node.restore(stored).is_err() {
            defmt::error!("server-eu-1's image did not restore");
            exit(false)
        }
        Self { node, image, len }
    }

    fn persist(&mut self) {
        match self.node.encode_image(self.image) {
            Ok(len) => *self.len = len as u32,
            Err(e) => {
                defmt::error!("server-eu-1's image did not encode: {}", e);
                exit(false)
            }
        }
    }
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
        peer_len,
        peer_image,
        flash,
        ..
    } = retained();
    *boots += 1;
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
    let (node, boot) = match persist::boot(
        NODE_ID,
        &table,
        MigrationTable::<4>::new(),
        &mut store,
        &mut buf,
    ) {
        Ok(n) => n,
        Err(e) => {
            defmt::error!("node id refused: {}", e);
            exit(false)
        }
    };
    defmt::info!("from flash: {}; node {}", boot, node);
    let mut w = Writer {
        node,
        peers: &peers,
        store,
        buf: &mut buf,
        all_as_expected: true,
    };

    match *boots {
        1 => {
            w.expect(boot == Boot::Fresh, "a first boot finds no image");
            first_boot(&mut w, Peer::back(&table, peer_image, peer_len));
            if !w.all_as_expected {
                exit(false)
            }
            power_cut(stack_max, "before server-eu-1's +OK arrives")
        }
        2 => {
            w.expect(matches!(boot, Boot::Restored(_)), "the image restores");
            second_boot(&mut w, Peer::back(&table, peer_image, peer_len));
            if !w.all_as_expected {
                exit(false)
            }
            power_cut(stack_max, "after the move resolved")
        }
        3 => {
            w.expect(matches!(boot, Boot::Restored(_)), "the image restores");
            third_boot(&mut w);
            *stack_max = (*stack_max).max(stack_high_water() as u32);
            defmt::info!(
                "footprint: table {=usize} B, node {=usize} B, peers {=usize} B, store {=usize} B; static RAM {=usize} B (flash region {=usize} B); stack high-water {=u32} B",
                core::mem::size_of_val(&table),
                core::mem::size_of_val(&w.node),
                core::mem::size_of_val(&peers),
                core::mem::size_of_val(&w.store),
                static_ram(),
                FLASH_LEN,
                *stack_max
            );
            exit(w.all_as_expected)
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

/// The move's id, as every message about it names it.
fn move_id(epoch: Epoch) -> MoveId<'static> {
    MoveId {
        prefix: MOVING,
        from: NODE_ID,
        to: TARGET,
        epoch,
    }
}

#[inline(never)]
fn first_boot(w: &mut Writer<'_, '_>, mut peer: Peer<'_, '_>) {
    defmt::info!("-- steady state");
    w.write(b"app:billing:invoice:42", Want::Accept);
    w.write(b"app:billing:eu:invoice:7", Want::Accept);
    w.write(b"app:auth:user:7", Want::Misdirected);
    w.write(b"app:audit:log:1", Want::Misdirected);
    w.write(b"session:9", Want::Accept);

    defmt::info!("-- MOVE-SCOPE-INGEST app:audit: from embed-audit-1");
    let audit = MoveId {
        prefix: ADOPTED,
        from: "embed-audit-1",
        to: NODE_ID,
        epoch: Epoch::new(1),
    };
    let check = w.node.check_ingest(&audit);
    log_move("ingest", &audit);
    defmt::info!("check_ingest: {}", check);
    w.expect(check == Ok(Ingest::Apply), "the ingest is let through");
    // (the server applies the shipped keys here)
    match w.node.adopt(&audit) {
        Ok(step) if step.must_persist() => {
            w.persist("adopt");
            defmt::info!("+OK to embed-audit-1");
        }
        other => w.expect(other.is_ok(), "adopt"),
    }
    w.write(b"app:audit:log:1", Want::Accept);

    defmt::info!("-- MOVE-SCOPE app:billing:eu: FROM embed-billing-1 TO server-eu-1");
    let started = match w.node.start_move(MOVING, TARGET) {
        Ok(step) => {
            w.expect(step.must_persist(), "start_move asks for a persist");
            w.persist("start_move");
            step.into_inner()
        }
        Err(e) => {
            defmt::error!("start_move refused: {}", e);
            exit(false)
        }
    };
    defmt::info!("started: {}", started);
    let id = move_id(started.epoch);
    w.write(b"app:billing:eu:invoice:7", Want::Quiesced);
    w.write(b"app:billing:invoice:42", Want::Accept);
    if let Some(fallback) = &started.prepare {
        // The scope's fallback hears of the move before any key ships.
        let news = Announcement {
            id,
            status: MoveStatus::InFlight,
        };
        let heard = peer.node.learn(&news);
        log_move("announce InFlight", &id);
        defmt::info!(
            "{} (the fallback) learns it: {}",
            fallback,
            heard.map(|d| d.must_persist())
        );
        w.expect(heard.is_ok(), "the fallback learns the move");
        peer.persist();
    }
    // MOVE-SCOPE-INGEST: the keys under the prefix, to the target.
    let check = peer.node.check_ingest(&id);
    log_move("MOVE-SCOPE-INGEST to server-eu-1", &id);
    defmt::info!("server-eu-1 check_ingest: {}", check);
    w.expect(check == Ok(Ingest::Apply), "the target takes the ingest");
    let adopted = peer.node.adopt(&id);
    w.expect(adopted.is_ok(), "the target adopts");
    peer.persist();
    defmt::info!(
        "server-eu-1 adopted {=[u8]:a}, persisted, sends +OK",
        MOVING
    );
    w.write(b"app:billing:eu:invoice:7", Want::Quiesced);
}

#[inline(never)]
fn second_boot(w: &mut Writer<'_, '_>, mut peer: Peer<'_, '_>) {
    defmt::info!("-- back from flash, the move unresolved");
    let mut open = None;
    let mut count = 0;
    for m in w.node.in_flight() {
        log_move("in flight", &m);
        count += 1;
        open = Some(m.epoch);
    }
    let in_flight_ok = count == 1
        && w.node
            .in_flight()
            .all(|m| m.prefix == MOVING && m.to == TARGET);
    w.expect(in_flight_ok, "in_flight() lists the one move");
    w.write(b"app:billing:eu:invoice:7", Want::Quiesced);
    w.write(b"app:billing:invoice:42", Want::Accept);
    w.write(b"app:audit:log:2", Want::Accept);
    let Some(epoch) = open else {
        defmt::error!("no move in flight to resolve");
        exit(false)
    };

    defmt::info!("-- no +OK came: ask server-eu-1 what became of the move");
    let id = move_id(epoch);
    let outcome = match peer.node.move_outcome(&id) {
        Ok(answer) => {
            if answer.must_persist() {
                peer.persist();
            }
            answer.into_inner()
        }
        Err(e) => {
            defmt::error!("server-eu-1 refused the outcome query: {}", e);
            exit(false)
        }
    };
    defmt::info!("server-eu-1 answers {}", outcome);
    w.expect(outcome == Outcome::Committed, "the target adopted");
    match w.node.resolve_move(MOVING, epoch, outcome) {
        Ok(step) => {
            w.expect(step.must_persist(), "resolve_move asks for a persist");
            w.persist("resolve_move");
        }
        Err(e) => {
            defmt::error!("resolve_move refused: {}", e);
            exit(false)
        }
    }
    let news = Announcement {
        id,
        status: MoveStatus::Committed,
    };
    log_move("announce Committed to every peer", &news.id);
    // server-eu-1 is one of them: as the new owner it knows already.
    match peer.node.learn(&news) {
        Ok(step) => {
            if step.must_persist() {
                peer.persist();
            }
            defmt::info!("server-eu-1 acknowledges");
        }
        Err(e) => {
            defmt::error!("server-eu-1 refused the announcement: {}", e);
            w.all_as_expected = false;
        }
    }
    let settled = w.node.in_flight().next().is_none();
    w.expect(settled, "nothing left in flight");
    w.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    w.write(b"app:billing:invoice:42", Want::Accept);
}

#[inline(never)]
fn third_boot(w: &mut Writer<'_, '_>) {
    defmt::info!("-- back from flash, the move committed");
    let settled = w.node.in_flight().next().is_none();
    w.expect(settled, "nothing in flight");
    w.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    w.write(b"app:billing:invoice:42", Want::Accept);
    w.write(b"app:audit:log:3", Want::Accept);
    w.write(b"app:auth:user:7", Want::Misdirected);
    w.write(b"session:9", Want::Accept);
    defmt::info!("moves now: {}", w.node.moves());
}
