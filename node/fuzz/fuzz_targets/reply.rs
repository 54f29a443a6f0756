//! The node's peer-reply decoders (`node/src/resp.rs`, included by path)
//! on arbitrary bytes: no panic and no stack overflow, however deep the
//! arrays.
//!
//! - `decode_reply`, every reply but a fence's: a decoded reply took
//!   bytes within the input, at most `MAX_REPLY_DEPTH` arrays deep, and
//!   decodes alone to the same; every shorter prefix of those bytes is
//!   incomplete.
//! - `news_reply_extent`, the answer to `MOVE-SCOPE-FENCE` (a RESP array
//!   of news, or a line): what it measures is within the input, is the
//!   crate's `NewsList` (or a line) and the same extent the generic
//!   reader finds, and every shorter prefix is incomplete; what it
//!   refuses stays refused however the bytes go on (nothing is refused
//!   that more bytes could mend). Run on the input as it is, and on a
//!   list of news built from it (its pieces between 0xFF bytes as
//!   prefixes) with one byte changed and cut short: random bytes seldom
//!   spell a list.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/resp.rs"]
mod resp;

use kevy_scope::{
    Epoch,
    moves::{Announcement, MoveId, MoveStatus},
    wire::{NewsList, encode_news, news_len},
};
use libfuzzer_sys::fuzz_target;
use resp::{MAX_REPLY_DEPTH, Reply, decode_reply, news_reply_extent, reply_extent};

fuzz_target!(|data: &[u8]| {
    replies(data);
    news(data);
    built(data);
});

/// A list of news built from `data`, whole, then with a byte changed,
/// then cut short.
fn built(data: &[u8]) {
    const STATUSES: [MoveStatus; 3] = [
        MoveStatus::InFlight,
        MoveStatus::Committed,
        MoveStatus::Aborted,
    ];
    let items: Vec<Announcement<'_>> = data
        .split(|b| *b == 0xFF)
        .take(8)
        .filter(|prefix| !prefix.is_empty())
        .map(|prefix| Announcement {
            id: MoveId {
                prefix,
                from: "n1",
                to: "node-2",
                epoch: Epoch::new(u32::from(prefix[0]) * 7_919),
            },
            status: STATUSES[usize::from(prefix[0]) % 3],
        })
        .collect();
    let mut list = vec![0; news_len(items.iter().copied())];
    let len = encode_news(items.iter().copied(), &mut list).expect("sized by news_len");
    assert_eq!(news_reply_extent(&list), Ok(Some(len)));
    news(&list);
    let Some(&byte) = data.first() else { return };
    let at = data.len() % len;
    list[at] = byte;
    news(&list);
    news(&list[..data.len() % (len + 1)]);
}

fn replies(data: &[u8]) {
    let Ok(Some((reply, used))) = decode_reply(data) else {
        return;
    };
    assert!(used <= data.len());
    assert!(depth(&reply) <= MAX_REPLY_DEPTH);
    assert_eq!(reply_extent(data), Ok(Some(used)));
    assert_eq!(decode_reply(&data[..used]), Ok(Some((reply, used))));
    for cut in [0, used / 3, used / 2, used - 1] {
        assert_eq!(decode_reply(&data[..cut.min(used - 1)]), Ok(None), "{cut}");
    }
}

fn news(data: &[u8]) {
    let used = match news_reply_extent(data) {
        Ok(Some(used)) => used,
        Ok(None) => return,
        Err(error) => {
            // Refused: nothing that follows mends it.
            let more = [data, b"\r\n*5\r\n$1\r\n0\r\n+OK\r\n"].concat();
            assert!(news_reply_extent(&more).is_err(), "{error}");
            return;
        }
    };
    assert!(used > 0 && used <= data.len());
    let taken = &data[..used];
    // The generic reader finds the same reply, as long.
    assert_eq!(reply_extent(data), Ok(Some(used)));
    if taken[0] == b'*' {
        let (list, len) = NewsList::decode(taken).expect("the list measured decodes");
        assert_eq!(len, used);
        assert_eq!(list.iter().count(), list.len());
        // As the generic reader sees it: an array of arrays of five bulks.
        let Ok(Some((Reply::Array(items), _))) = decode_reply(taken) else {
            panic!("a list of news is an array");
        };
        assert_eq!(items.len(), list.len());
        for item in items {
            assert!(matches!(item, Reply::Array(fields) if fields.len() == 5));
        }
    } else {
        assert!(matches!(taken[0], b'+' | b'-'));
    }
    for cut in [0, used / 3, used / 2, used - 1] {
        assert_eq!(
            news_reply_extent(&data[..cut.min(used - 1)]),
            Ok(None),
            "{cut}"
        );
    }
}

/// Arrays within arrays, the outermost counted.
fn depth(reply: &Reply) -> usize {
    match reply {
        Reply::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
