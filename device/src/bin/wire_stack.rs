//! The driver stack of `driver-stack` plus the node-to-node wire
//! (src/wire/peer.rs): every `PeerRequest` decoded from its arguments and
//! encoded (the ingest's streamed header too), every `PeerReply` decoded
//! from its line, encoded and read as the driver's `Answer`, and a list of
//! news encoded (`encode_news`), decoded (`NewsList::decode`) and
//! iterated. The footprint report compares its flash with `driver-stack`.
#![no_std]
#![no_main]

#[path = "driver_stack/host.rs"]
mod host;

use core::hint::black_box;

use kevy_scope::{
    Epoch,
    driver::Answer,
    moves::{Announcement, MoveId, MoveStatus, Outcome},
    wire::{
        MAX_PEER_REQUEST_LEN, NewsList, PeerReply, PeerRequest, Refusal, encode_news, max_news_len,
    },
};
use kevy_scope_device::{PROBE_PEERS, exit, paint_stack, route_two_keys_and_exit};

/// The keys an ingest carries (opaque to the wire).
const KEYS: &[u8] = b"*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$4\r\npaid\r\n";

/// Every request, as a RESP server hands over its arguments.
static REQUESTS: [&[&[u8]]; 6] = [
    &[
        b"MOVE-SCOPE-INGEST",
        b"app:billing:",
        b"embed-billing-1",
        b"embed-auth-1",
        b"8",
        KEYS,
    ],
    &[
        b"MOVE-SCOPE-OUTCOME",
        b"app:billing:",
        b"embed-billing-1",
        b"embed-auth-1",
        b"8",
    ],
    &[
        b"MOVE-SCOPE-NEWS",
        b"ABORTED",
        b"app:billing:",
        b"embed-billing-1",
        b"embed-auth-1",
        b"8",
        b"9",
    ],
    &[b"MOVE-SCOPE-EPOCH"],
    &[b"MOVE-SCOPE-FENCE", b"embed-billing-1", b"7"],
    &[
        b"MOVE-SCOPE-RECHECK",
        b"app:billing:",
        b"embed-billing-1",
        b"embed-auth-1",
        b"8",
    ],
];

/// The bytes `REQUESTS` encode to, the ingest twice (whole, and streamed:
/// its header, the keys, CRLF). Evaluated at build time: no flash.
const REQUESTS_LEN: usize = {
    let (mut total, mut i) = (resp_len(REQUESTS[0]), 0);
    while i < REQUESTS.len() {
        total += resp_len(REQUESTS[i]);
        i += 1;
    }
    total
};

/// The length of a RESP array of bulk strings.
const fn resp_len(args: &[&[u8]]) -> usize {
    let (mut len, mut i) = (1 + digits(args.len()) + 2, 0);
    while i < args.len() {
        len += 1 + digits(args[i].len()) + 2 + args[i].len() + 2;
        i += 1;
    }
    len
}

const fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Every reply, as its line.
static REPLIES: [&[u8]; 6] = [
    b"+OK 3\r\n",
    b"+COMMITTED\r\n",
    b"+ABORTED 8\r\n",
    b"+OK\r\n",
    b"+EPOCH 7\r\n",
    b"-STALE old news\r\n",
];

/// A peer's answer to a fence.
static NEWS: [Announcement<'static>; 2] = [
    Announcement {
        id: MoveId {
            prefix: b"app:billing:",
            from: "embed-billing-1",
            to: "server-eu-1",
            epoch: Epoch::new(2),
        },
        status: MoveStatus::Aborted,
    },
    Announcement {
        id: MoveId {
            prefix: b"app:auth:",
            from: "embed-auth-1",
            to: "server-eu-1",
            epoch: Epoch::new(5),
        },
        status: MoveStatus::InFlight,
    },
];

/// Every request decoded and encoded; true when every variant was read
/// and the bytes are the RESP arrays of the arguments.
fn requests() -> bool {
    let mut buf = [0u8; MAX_PEER_REQUEST_LEN + KEYS.len() + 2];
    let (mut seen, mut total) = (0u32, 0usize);
    for args in black_box(&REQUESTS) {
        let Ok(request) = PeerRequest::decode(args) else {
            return false;
        };
        seen |= match request {
            PeerRequest::Ingest { id, bulk } => {
                // A sender streams the keys after this header.
                let header = PeerRequest::encode_ingest_header(&id, bulk.len(), &mut buf);
                total += header.map_or(0, |len| len + bulk.len() + 2);
                1
            }
            PeerRequest::Outcome(_) => 2,
            PeerRequest::News { .. } => 4,
            PeerRequest::Epoch => 8,
            PeerRequest::Fence { .. } => 16,
            PeerRequest::Recheck(_) => 32,
            _ => 0,
        };
        total += request.encode(&mut buf).unwrap_or(0);
    }
    seen == 63 && total == REQUESTS_LEN
}

/// Every reply decoded, encoded back to its line and read as an answer.
fn replies() -> bool {
    let mut buf = [0u8; 32];
    let mut seen = 0u32;
    for line in black_box(&REPLIES) {
        let Ok(reply) = PeerReply::decode(line) else {
            return false;
        };
        let same = reply.encode(&mut buf).ok().and_then(|len| buf.get(..len)) == Some(*line);
        seen |= match (Answer::from(reply), reply) {
            (Answer::Ingested { keys: 3 }, _) => 1,
            (Answer::Outcome(Outcome::Committed), _) => 2,
            (Answer::Outcome(Outcome::Aborted { .. }), _) => 4,
            (Answer::Learned, _) => 8,
            (Answer::Epoch(_), _) => 16,
            (
                Answer::Stale,
                PeerReply::Refused {
                    code: Refusal::Stale,
                    ..
                },
            ) => 32,
            _ => 0,
        } * u32::from(same);
    }
    seen == 63
}

/// A list of news encoded, decoded and read back.
fn news() -> bool {
    let mut buf = [0u8; max_news_len(NEWS.len())];
    let news = black_box(&NEWS);
    let Ok(len) = encode_news(news.iter().copied(), &mut buf) else {
        return false;
    };
    let Ok((list, used)) = NewsList::decode(buf.get(..len).unwrap_or_default()) else {
        return false;
    };
    used == len && list.len() == news.len() && list.iter().eq(news.iter().copied())
}

#[kevy_scope_device::entry]
fn main() -> ! {
    paint_stack();
    let node = host::run();
    if !(requests() && replies() && news()) {
        exit(false)
    }
    route_two_keys_and_exit("wire stack", &node, &PROBE_PEERS)
}
