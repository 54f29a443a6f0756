//! The node-to-node wire on arbitrary bytes: no panic, and whatever
//! decodes encodes to bytes that decode to the same message.
//!
//! The first byte picks the decoder. Even: a request (any of INGEST,
//! OUTCOME, RECHECK, NEWS, EPOCH, FENCE), its arguments the rest split at
//! 0xFF bytes (ids and epochs never hold one; prefixes and keys may, so
//! some arguments never reach the decoder whole: the proptests cover
//! those). Odd: the rest as it is, a reply line when
//! `pick % 4 == 1`, else a list of news (the answer to a fence), read
//! from the rest's start.
#![no_main]

use kevy_scope::{
    moves::Announcement,
    wire::{NewsList, PeerReply, PeerRequest, PeerWireError, encode_news, news_len},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 | 2 => request(rest),
        1 => reply(rest),
        _ => news(rest),
    }
});

fn request(rest: &[u8]) {
    let args: Vec<&[u8]> = rest.split(|b| *b == 0xFF).collect();
    let Ok(request) = PeerRequest::decode(&args) else {
        return;
    };
    // Its arguments again, and the RESP array of exactly them.
    let mut again: Vec<Vec<u8>> = Vec::new();
    request.args(|a| again.push(a.to_vec()));
    let borrowed: Vec<&[u8]> = again.iter().map(Vec::as_slice).collect();
    assert_eq!(PeerRequest::decode(&borrowed), Ok(request));
    let mut resp = format!("*{}\r\n", again.len()).into_bytes();
    for arg in &again {
        resp.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        resp.extend_from_slice(arg);
        resp.extend_from_slice(b"\r\n");
    }
    let mut buf = vec![0u8; request.encoded_len()];
    assert_eq!(request.encode(&mut buf), Ok(resp.len()));
    assert_eq!(buf, resp);
    if let PeerRequest::Ingest { id, bulk } = request {
        let mut header = vec![0u8; resp.len()];
        let len = PeerRequest::encode_ingest_header(&id, bulk.len(), &mut header).unwrap();
        assert_eq!(header[..len], resp[..len]);
        assert_eq!(&resp[len..resp.len() - 2], bulk);
    } else {
        assert!(resp.len() <= kevy_scope::wire::MAX_PEER_REQUEST_LEN || request.id().is_some());
    }
    // OUTCOME and RECHECK: the same fields under the other name decode
    // to the other request of the same move (so every OUTCOME the fuzzer
    // finds checks a RECHECK too), and encode to the same bytes but the
    // name.
    let other = match request {
        PeerRequest::Outcome(id) => Some(PeerRequest::Recheck(id)),
        PeerRequest::Recheck(id) => Some(PeerRequest::Outcome(id)),
        _ => None,
    };
    if let Some(other) = other {
        let name: &[u8] = match other {
            PeerRequest::Recheck(_) => b"MOVE-SCOPE-RECHECK",
            _ => b"MOVE-SCOPE-OUTCOME",
        };
        let mut swapped = args.clone();
        swapped[0] = name;
        assert_eq!(PeerRequest::decode(&swapped), Ok(other));
        assert_eq!(other.id(), request.id());
        let mut bytes = vec![0u8; other.encoded_len()];
        assert_eq!(other.encode(&mut bytes), Ok(resp.len()));
        let start = "*5\r\n$18\r\n".len();
        assert_eq!(bytes[..start], resp[..start]);
        assert_eq!(&bytes[start..start + name.len()], name);
        assert_eq!(bytes[start + name.len()..], resp[start + name.len()..]);
    }
}

fn reply(rest: &[u8]) {
    let Ok(reply) = PeerReply::decode(rest) else {
        return;
    };
    let mut buf = vec![0u8; reply.encoded_len()];
    let len = reply.encode(&mut buf).unwrap();
    assert_eq!(len, buf.len());
    assert_eq!(PeerReply::decode(&buf), Ok(reply));
    // Its text is the line between the sign and CRLF.
    assert_eq!(reply.to_string().as_bytes(), &buf[1..len - 2]);
}

fn news(rest: &[u8]) {
    let (list, used) = match NewsList::decode(rest) {
        Ok(decoded) => decoded,
        Err(PeerWireError::Incomplete) => return,
        // Refused: nothing that follows mends it.
        Err(error) => {
            let more = [rest, b"\r\n*5\r\n$1\r\n0\r\n"].concat();
            assert_eq!(NewsList::decode(&more), Err(error));
            return;
        }
    };
    let taken = &rest[..used];
    assert_eq!(list.as_bytes(), taken);
    let news: Vec<Announcement<'_>> = list.iter().collect();
    assert_eq!(news.len(), list.len());
    // Encoded again: the same bytes but for the status words' case, and
    // the same news.
    let len = news_len(news.iter().copied());
    let mut buf = vec![0u8; len];
    assert_eq!(encode_news(news.iter().copied(), &mut buf), Ok(len));
    assert!(buf.eq_ignore_ascii_case(taken));
    let (again, again_used) = NewsList::decode(&buf).unwrap();
    assert_eq!(again_used, len);
    assert!(again.iter().eq(news.iter().copied()));
    // Cut short, it is incomplete.
    assert_eq!(
        NewsList::decode(&taken[..used - 1]),
        Err(PeerWireError::Incomplete)
    );
    // Each item is what MOVE-SCOPE-NEWS carries (before the sender's
    // epoch).
    for item in news {
        let request = PeerRequest::News {
            news: item,
            sender_epoch: item.id.epoch,
        };
        let mut args: Vec<Vec<u8>> = Vec::new();
        request.args(|a| args.push(a.to_vec()));
        let borrowed: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(PeerRequest::decode(&borrowed), Ok(request));
    }
}
