//! "embed-billing-1": a kevy writer node on a microcontroller.
//!
//! It reads its `[cluster]` config strings, builds its ownership table and
//! peer list in place, routes a stream of writes, hands a sub-prefix to
//! another node with MOVE-SCOPE, adopts a prefix moved to it, and logs
//! every verdict and reply with defmt. It exits QEMU with status 0 when
//! every verdict was the expected one.
#![no_std]
#![no_main]

use kevy_scope::{
    MAX_REPLY_LEN, MigrationTable, Node, OwnershipTable, PeerTable, WriteVerdict, boot_report,
    parse_scopes,
};
use kevy_scope_device::{exit, paint_stack, stack_high_water, static_ram};

const NODE_ID: &str = "embed-billing-1";
const SCOPES: &str = "app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1, \
                      app:audit:=embed-audit-1|server-eu-1";
const PEERS: &str = "embed-billing-1@10.0.0.1:6004:6379, server-eu-1@10.0.0.2:6004:6379, \
                     embed-auth-1@10.0.0.3:6004:6379, embed-audit-1@[fd00::4]:6004";

/// What a write should get here, for the run's own check.
#[derive(Clone, Copy, PartialEq, defmt::Format)]
enum Want {
    Accept,
    Misdirected,
    Quiesced,
}

struct Writer<'c> {
    node: Node<&'c OwnershipTable<'c, 16>, MigrationTable<4>>,
    peers: &'c PeerTable<'c, 8>,
    all_as_expected: bool,
}

impl Writer<'_> {
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
}

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let (table, peers) = match (parse_scopes::<16>(SCOPES), PeerTable::<8>::parse(PEERS)) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(e), _) | (_, Err(e)) => {
            defmt::error!("config refused: {}", e);
            exit(false)
        }
    };
    defmt::info!(
        "{=str} up: {=usize} scopes, {=usize} peers",
        NODE_ID,
        table.len(),
        peers.len()
    );
    for warning in boot_report(&table, &peers) {
        defmt::warn!("{}", warning);
    }
    let node = match Node::new(NODE_ID, &table, MigrationTable::<4>::new()) {
        Ok(n) => n,
        Err(e) => {
            defmt::error!("node id refused: {}", e);
            exit(false)
        }
    };
    let mut w = Writer {
        node,
        peers: &peers,
        all_as_expected: true,
    };

    defmt::info!("-- steady state");
    w.write(b"app:billing:invoice:42", Want::Accept);
    w.write(b"app:billing:eu:invoice:7", Want::Accept);
    w.write(b"app:auth:user:7", Want::Misdirected);
    w.write(b"app:audit:log:1", Want::Misdirected);
    w.write(b"session:9", Want::Accept);

    defmt::info!("-- MOVE-SCOPE app:billing:eu: -> server-eu-1");
    let step = w.node.start_move(b"app:billing:eu:", "server-eu-1");
    defmt::info!("start: {}", step);
    w.write(b"app:billing:eu:invoice:7", Want::Quiesced);
    w.write(b"app:billing:invoice:42", Want::Accept);
    defmt::info!(
        "server-eu-1 answered +OK; commit: {}",
        w.node.commit_move(b"app:billing:eu:")
    );
    w.write(b"app:billing:eu:invoice:7", Want::Misdirected);
    w.write(b"app:billing:invoice:42", Want::Accept);

    defmt::info!("-- MOVE-SCOPE-INGEST app:audit: from embed-audit-1");
    defmt::info!(
        "begin: {}",
        w.node.begin_ingest(b"app:audit:", "embed-audit-1")
    );
    w.write(b"app:audit:log:1", Want::Accept);
    defmt::info!("finish: {}", w.node.finish_ingest(b"app:audit:"));
    w.write(b"app:audit:log:2", Want::Accept);
    defmt::info!("moves now: {}", w.node.moves());

    defmt::info!(
        "footprint: table {=usize} B, node {=usize} B, peers {=usize} B; static RAM {=usize} B; stack high-water {=usize} B",
        core::mem::size_of_val(&table),
        core::mem::size_of_val(&w.node),
        core::mem::size_of_val(&peers),
        static_ram(),
        stack_high_water()
    );
    exit(w.all_as_expected)
}
