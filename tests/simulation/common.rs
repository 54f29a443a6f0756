//! What both fault simulations share: their random source, and a move and
//! a driver's request as their networks carry them (owned, `'static`,
//! nodes by index). Each simulation names its nodes in `IDS` and the
//! prefixes its operators may move in `PREFIXES`.

use std::fmt;

use kevy_scope::Epoch;
use kevy_scope::driver::Request;
use kevy_scope::moves::{Announcement, MoveId, MoveStatus};

use super::{IDS, PREFIXES};

/// splitmix64: a seed replays a run exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    #[allow(dead_code)] // one simulation picks, the other draws indices
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The index of node `id` in `IDS`.
pub fn idx(id: &str) -> usize {
    IDS.iter()
        .position(|i| *i == id)
        .unwrap_or_else(|| panic!("unknown node id {id:?}"))
}

/// The `PREFIXES` entry equal to `prefix`: every record and message names
/// a prefix some operator typed.
pub fn prefix_of(prefix: &[u8]) -> &'static [u8] {
    PREFIXES
        .iter()
        .copied()
        .find(|p| *p == prefix)
        .unwrap_or_else(|| panic!("a prefix nobody moved: {:?}", lossy(prefix)))
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A move as messages carry it: `'static` prefix, node indices.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mv {
    pub prefix: &'static [u8],
    pub from: usize,
    pub to: usize,
    pub epoch: u32,
}

impl Mv {
    pub fn of(id: &MoveId<'_>) -> Self {
        Mv {
            prefix: prefix_of(id.prefix),
            from: idx(id.from),
            to: idx(id.to),
            epoch: id.epoch.get(),
        }
    }

    pub fn id(self) -> MoveId<'static> {
        MoveId {
            prefix: self.prefix,
            from: IDS[self.from],
            to: IDS[self.to],
            epoch: Epoch::new(self.epoch),
        }
    }
}

impl fmt::Debug for Mv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}->{} @{}",
            lossy(self.prefix),
            IDS[self.from],
            IDS[self.to],
            self.epoch
        )
    }
}

/// A driver's [`Request`] as the network carries it (owned: it borrows
/// no driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    /// `MOVE-SCOPE-NEWS`, for `Node::learn`, with its sender's epoch.
    News(Mv, MoveStatus, u32),
    /// "What became of this move?", for `Node::move_outcome`.
    Outcome(Mv),
    /// `MOVE-SCOPE-INGEST` (the keys travel beside it).
    Ingest(Mv),
    /// The outcome query asked again of a target that recovered (the
    /// move is in doubt at its source), served as [`Req::Outcome`].
    Recheck(Mv),
    /// A recovering node asks the highest epoch a peer knows, for
    /// `Node::known_epoch`.
    Epoch(u64),
    /// A recovering node asks a peer to fence it off at this epoch
    /// (`Node::fence`) and tell everything it knows.
    Fence(u32),
}

impl Req {
    pub fn of(request: &Request<'_>) -> Self {
        match request {
            Request::News { news, sender_epoch } => {
                Req::News(Mv::of(&news.id), news.status, sender_epoch.get())
            }
            Request::Outcome(id) => Req::Outcome(Mv::of(id)),
            Request::Ingest(id) => Req::Ingest(Mv::of(id)),
            Request::Recheck(id) => Req::Recheck(Mv::of(id)),
            Request::Epoch { began } => Req::Epoch(*began),
            Request::Fence(fence) => Req::Fence(fence.get()),
            other => panic!("a request the simulation does not know: {other:?}"),
        }
    }

    /// The driver's request again, to feed its answer back.
    pub fn request(self) -> Request<'static> {
        match self {
            Req::News(mv, status, sender_epoch) => Request::News {
                news: Announcement {
                    id: mv.id(),
                    status,
                },
                sender_epoch: Epoch::new(sender_epoch),
            },
            Req::Outcome(mv) => Request::Outcome(mv.id()),
            Req::Ingest(mv) => Request::Ingest(mv.id()),
            Req::Recheck(mv) => Request::Recheck(mv.id()),
            Req::Epoch(began) => Request::Epoch { began },
            Req::Fence(fence) => Request::Fence(Epoch::new(fence)),
        }
    }
}
