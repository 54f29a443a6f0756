//! The node's peer-reply decoder (`node/src/resp.rs`, included by path)
//! on arbitrary bytes: no panic and no stack overflow, however deep the
//! arrays; a decoded reply took bytes within the input, at most
//! `MAX_REPLY_DEPTH` arrays deep, and decodes alone to the same; every
//! shorter prefix of those bytes is incomplete.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/resp.rs"]
mod resp;

use libfuzzer_sys::fuzz_target;
use resp::{MAX_REPLY_DEPTH, Reply, decode_reply, reply_extent};

fuzz_target!(|data: &[u8]| {
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
});

/// Arrays within arrays, the outermost counted.
fn depth(reply: &Reply) -> usize {
    match reply {
        Reply::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
