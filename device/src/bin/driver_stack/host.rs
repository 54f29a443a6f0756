//! The image stack plus a host of the crate's move `Driver`: the part the
//! `driver-stack` and `wire-stack` probes share (`wire-stack` includes
//! this file), so that what the wire adds is all that differs.
//!
//! The story, on the routing probes' node `embed-billing-1` (peers
//! `embed-auth-1` and `server-eu-1`, simulated in place):
//!
//! 1. the image stack: the node's image encoded and restored;
//! 2. a power cut damages the image: `restore` refuses it and the node is
//!    quarantined; `Driver::new`, then `resume` runs the recovery: every
//!    peer tells its epoch, then fences and tells its news (`recovered`;
//!    `server-eu-1` knows an aborted move of `app:billing:` at epoch 2),
//!    the node leaves quarantine, persists, and owes the aborted move's
//!    news to every peer until each acknowledges;
//! 3. the operator moves `app:billing:` to `embed-auth-1` (`start`); a
//!    peer's request arrives before the start is written, so the host
//!    writes the image first (`must_persist`, `persisting`, `persisted`);
//!    the driver tells the fallback `server-eu-1`, ships, the target
//!    refuses the ingest, the driver asks the outcome, the target answers
//!    `ABORTED`, the operator hears `Aborted`, the news goes to every peer.
//!
//! Every effect `poll` hands out is carried out (`Persist`, `Send`,
//! `Ship`, `Reply`, `Wake`), every answer goes to `answer` through
//! `black_box`, and the peers' news is read through `black_box`: nothing
//! the optimizer can fold. The node ends healthy, owning `app:billing:`
//! again, so the routing probes' final check holds.

use core::hint::black_box;

use kevy_scope::{
    Driver, Epoch, MoveTable, Node, OwnershipTable,
    driver::{Answer, Effect, MoveReply, Request},
    moves::{Announcement, MoveId, MoveStatus, Outcome},
};
use kevy_scope_device::{PROBE_TABLE, exit};

/// The routing probes' node.
pub type ProbeNode = Node<&'static OwnershipTable<'static, 2>, MoveTable<4>>;

/// The node and its peers (the node itself among them, as a host's
/// peer list holds it).
static PEERS: [&str; 3] = ["embed-billing-1", "embed-auth-1", "server-eu-1"];
/// The prefix the story moves.
static PREFIX: &[u8] = b"app:billing:";
/// Where the operator moves it.
const TARGET: &str = "embed-auth-1";
/// What `server-eu-1` knows when the node recovers: a move of the node's
/// own, aborted.
static EU_NEWS: [Announcement<'static>; 1] = [Announcement {
    id: MoveId {
        prefix: b"app:billing:",
        from: "embed-billing-1",
        to: "server-eu-1",
        epoch: Epoch::new(2),
    },
    status: MoveStatus::Aborted,
}];
/// The highest epoch the peers know.
const HEARD: Epoch = Epoch::new(2);
/// Room for the node's image with its two records.
const IMAGE_CAP: usize = 256;
/// Effects one run of the driver may take before the story calls it stuck.
const MAX_EFFECTS: usize = 64;

/// One effect, out of the driver's borrow.
enum Job {
    Persist,
    Reply(Epoch, MoveReply),
    Wake(u64),
    /// A request (a ship as `Request::Ingest`) to a peer.
    Send(&'static str, Request<'static>),
    /// `poll` returned `None`.
    Quiet,
    /// A request naming what the story does not know.
    Unknown,
}

/// The story's own copy of a name the driver hands out (a host on the
/// wire reads its copy back from the bytes it sent).
fn keep_str(name: &str) -> Option<&'static str> {
    PEERS.iter().copied().find(|p| *p == name)
}

fn keep_id(id: &MoveId<'_>) -> Option<MoveId<'static>> {
    Some(MoveId {
        prefix: (id.prefix == PREFIX).then_some(PREFIX)?,
        from: keep_str(id.from)?,
        to: keep_str(id.to)?,
        epoch: id.epoch,
    })
}

fn keep(request: &Request<'_>) -> Option<Request<'static>> {
    Some(match *request {
        Request::News { news, sender_epoch } => Request::News {
            news: Announcement {
                id: keep_id(&news.id)?,
                status: news.status,
            },
            sender_epoch,
        },
        Request::Outcome(id) => Request::Outcome(keep_id(&id)?),
        Request::Ingest(id) => Request::Ingest(keep_id(&id)?),
        Request::Recheck(id) => Request::Recheck(keep_id(&id)?),
        Request::Epoch { began } => Request::Epoch { began },
        Request::Fence(fence) => Request::Fence(fence),
        _ => return None,
    })
}

/// The node, its driver and the story's tally.
struct Host<'b> {
    node: &'b mut ProbeNode,
    driver: &'b mut Driver<4, 4>,
    now: u64,
    persists: u32,
    learned: u32,
    replies: u32,
    last_reply: Option<(Epoch, MoveReply)>,
}

impl Host<'_> {
    /// Encodes the node's image (the "write" to storage) and tells the
    /// driver it is written.
    fn persist(&mut self) -> bool {
        let mut image = [0u8; IMAGE_CAP];
        let ok = self.node.encode_image(black_box(&mut image)).is_ok();
        self.driver.persisted();
        self.persists += 1;
        ok
    }

    /// What the simulated peer `to` answers to `request`; a fence is
    /// answered with the peer's news, fed to `recovered`.
    fn serve(&mut self, to: &'static str, request: Request<'static>) -> bool {
        let answer = match request {
            Request::News { .. } => Answer::Learned,
            // The target refuses the ingest: the move is aborted through
            // the outcome query.
            Request::Ingest(_) => Answer::Refused,
            Request::Outcome(id) | Request::Recheck(id) => {
                Answer::Outcome(Outcome::Aborted { fence: id.epoch })
            }
            Request::Epoch { .. } => Answer::Epoch(HEARD),
            Request::Fence(fence) => {
                let news: &[Announcement<'static>] =
                    if to == "server-eu-1" { &EU_NEWS } else { &[] };
                return self
                    .driver
                    .recovered(self.node, to, fence, black_box(news).iter().copied())
                    .is_ok();
            }
            _ => return false,
        };
        if answer == Answer::Learned {
            self.learned += 1;
        }
        self.driver
            .answer(self.node, to, request, black_box(answer))
            .is_ok()
    }

    /// Carries out the driver's effects until it is idle; false on a
    /// failed step or a driver that does not settle.
    fn run(&mut self) -> bool {
        let mut wake = None;
        for _ in 0..MAX_EFFECTS {
            let job = match self.driver.poll(self.node, self.now) {
                None => Job::Quiet,
                Some(Effect::Persist) => Job::Persist,
                Some(Effect::Reply { ticket, reply }) => Job::Reply(ticket, reply),
                Some(Effect::Wake { at }) => Job::Wake(at),
                Some(Effect::Send { to, request }) => match (keep_str(to), keep(&request)) {
                    (Some(to), Some(request)) => Job::Send(to, request),
                    _ => Job::Unknown,
                },
                Some(Effect::Ship { to, id }) => match (keep_str(to), keep_id(&id)) {
                    (Some(to), Some(id)) => Job::Send(to, Request::Ingest(id)),
                    _ => Job::Unknown,
                },
            };
            let ok = match job {
                Job::Persist => self.persist(),
                Job::Reply(ticket, reply) => {
                    self.replies += 1;
                    self.last_reply = Some((ticket, reply));
                    true
                }
                Job::Wake(at) => {
                    wake = Some(at);
                    true
                }
                Job::Send(to, request) => self.serve(to, request),
                Job::Quiet if self.driver.is_idle() => return true,
                Job::Quiet => match wake.take() {
                    Some(at) => {
                        self.now = at;
                        true
                    }
                    None => false,
                },
                Job::Unknown => false,
            };
            if !ok {
                return false;
            }
        }
        false
    }
}

/// Runs the story and returns the node, healthy; exits QEMU with failure
/// when a step is not the expected one.
pub fn run() -> ProbeNode {
    let Ok(mut node) = Node::new("embed-billing-1", &PROBE_TABLE, MoveTable::<4>::new()) else {
        exit(false)
    };
    // The image stack.
    let mut image = [0u8; 128];
    let Ok(len) = node.encode_image(black_box(&mut image)) else {
        exit(false)
    };
    let image = image.get_mut(..len).unwrap_or(&mut []);
    if node.restore(black_box(&*image)).is_err() {
        exit(false)
    }
    // A power cut damages the image: the node is quarantined.
    if let Some(byte) = image.get_mut(black_box(6)) {
        *byte ^= 1;
    }
    if node.restore(black_box(&*image)).is_ok() || !node.is_quarantined() {
        exit(false)
    }

    let Ok(mut driver) = Driver::<4, 4>::new(black_box(&PEERS).iter().copied()) else {
        exit(false)
    };
    if driver.resume(&mut node).is_err() || !driver.is_recovering() {
        exit(false)
    }
    let mut host = Host {
        node: &mut node,
        driver: &mut driver,
        now: 0,
        persists: 0,
        learned: 0,
        replies: 0,
        last_reply: None,
    };
    // Recovery: two epochs, two fences, the news owed to two peers.
    let recovered = host.run() && !host.node.is_quarantined() && host.learned == 2;

    let Ok(ticket) = host
        .driver
        .start(host.node, black_box(PREFIX), black_box(TARGET))
    else {
        exit(false)
    };
    // A peer asks something before the start is written: the host writes
    // the image before it answers (the contract's item 4).
    let pending = host.driver.must_persist();
    if pending {
        host.driver.persisting();
        let _ = host.persist();
    }
    let moved = pending
        && !host.driver.must_persist()
        && host.run()
        && host.replies == 1
        && host.last_reply == Some((ticket, MoveReply::Aborted))
        // The fallback's prepare and the abort's news to both peers.
        && host.learned == 5;
    if !(recovered && moved && black_box(host.persists) >= 3) {
        exit(false)
    }
    node
}
