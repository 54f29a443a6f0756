//! The node's request decoder (`node/src/request.rs`, included by path)
//! on arbitrary bytes, whole and in pieces: no panic; the bytes taken
//! within the input; every argument inside them, in order, within the
//! bounds; a decoded command re-encodes to exactly the bytes it took and
//! decodes again to the same; the resumable decoder, fed the input in
//! pieces, answers at every piece what a decode of that prefix answers.
//!
//! The first byte picks the bounds (small ones too, to reach the
//! refusals) and whether the rest is raw bytes or arguments split on
//! 0xFF and encoded; the second picks where the input is cut.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/request.rs"]
mod request;

use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use request::{Bounds, Command, Decoder, ProtocolError, decode_command};

fuzz_target!(|data: &[u8]| {
    let [pick, cut, rest @ ..] = data else { return };
    let bounds = bounds(*pick);
    let structured = pick & 0x20 != 0;
    let input = if structured {
        let args: Vec<&[u8]> = rest.split(|&b| b == 0xFF).collect();
        let mut input = encode(&args);
        input.extend_from_slice(b"*1\r\n$4\r\nnext\r\n");
        let whole = decode_command(&input, bounds);
        match whole.as_ref() {
            Ok(Some((ranges, _))) => assert_eq!(pieces(&input, ranges), args),
            Err(ProtocolError::TooManyArgs(_)) => assert!(args.len() > bounds.max_args),
            Err(ProtocolError::BulkTooLong(_)) => {
                assert!(args.iter().any(|a| a.len() > bounds.max_bulk_len))
            }
            other => panic!("an encoded command decodes as {other:?}"),
        }
        input
    } else {
        rest.to_vec()
    };
    let whole = decode_command(&input, bounds);
    check(&input, bounds, &whole);
    in_pieces(&input, bounds, *cut, &whole);
});

/// Small bounds, to reach the refusals, or the node's defaults.
fn bounds(pick: u8) -> Bounds {
    Bounds {
        max_args: if pick & 0x80 == 0 {
            usize::from(pick & 0x0f)
        } else {
            1 << 20
        },
        max_bulk_len: if pick & 0x40 == 0 {
            usize::from(pick >> 4 & 0x03) * 8
        } else {
            512 << 20
        },
    }
}

/// The invariants of one result on `input`.
fn check(input: &[u8], bounds: Bounds, result: &Result<Option<Command>, ProtocolError>) {
    match result {
        Ok(Some((ranges, used))) => {
            assert!(*used <= input.len());
            assert!(ranges.len() <= bounds.max_args);
            let mut end = 0;
            for range in ranges {
                assert!(end <= range.start && range.start <= range.end && range.end <= *used);
                assert!(range.len() <= bounds.max_bulk_len);
                end = range.end;
            }
            let args = pieces(input, ranges);
            let encoded = encode(&args);
            assert_eq!(encoded, &input[..*used], "re-encoded, not the bytes taken");
            let again = decode_command(&encoded, bounds);
            assert_eq!(
                again.as_ref().ok().and_then(Option::as_ref),
                Some(&(ranges.clone(), *used))
            );
        }
        Ok(None) => {}
        Err(e) => {
            // It goes into a one-line error reply.
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains(['\r', '\n']), "{text:?}");
        }
    }
}

/// The resumable decoder fed growing prefixes of `input`, cut at a few
/// points `cut` picks: at each, what a decode of that prefix answers;
/// after a result it starts afresh, and the result is the whole input's.
fn in_pieces(
    input: &[u8],
    bounds: Bounds,
    cut: u8,
    whole: &Result<Option<Command>, ProtocolError>,
) {
    let cuts = usize::from(cut % 8) + 1;
    let mut decoder = Decoder::default();
    for i in 1..=cuts {
        let prefix = &input[..input.len() * i / (cuts + 1)];
        let part = decoder.decode(prefix, bounds);
        assert_eq!(part, decode_command(prefix, bounds), "at {}", prefix.len());
        if part != Ok(None) {
            assert_eq!(&part, whole, "a prefix's result is the whole's");
            return;
        }
    }
    assert_eq!(&decoder.decode(input, bounds), whole);
}

/// The arguments `ranges` name in `input`.
fn pieces<'a>(input: &'a [u8], ranges: &[Range<usize>]) -> Vec<&'a [u8]> {
    ranges.iter().map(|r| &input[r.clone()]).collect()
}

/// `args` as a command, as the RESP spec writes it.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}
