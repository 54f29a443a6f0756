//! The node-to-node wire: the bytes every earlier example node sent and
//! answered (literal, as its `cluster/wire.rs` and RESP encoder wrote
//! them), round trips of every message, and each malformed message
//! refused with its own error. The recovery's messages too: `EPOCH`,
//! `FENCE` and the list of news that answers a fence, cut short
//! anywhere (read more) or broken anywhere (refused, whatever follows),
//! and `RECHECK`, the outcome query asked again after a target recovered.

use kevy_scope::{
    Epoch,
    moves::{Announcement, MAX_PREFIX_LEN, MoveError, MoveId, MoveStatus, Outcome},
    table::{MAX_NODE_ID_LEN, NodeIdError},
    wire::{
        BufferTooSmall, MAX_NEWS, NewsList, PeerReply, PeerRequest, PeerWireError, Refusal,
        encode_news, max_news_len, news_len,
    },
};
use proptest::prelude::*;

const ID: MoveId<'static> = MoveId {
    prefix: b"app:billing:",
    from: "embed-billing-1",
    to: "server-eu-1",
    epoch: Epoch::new(42),
};

/// The keys of an ingest: one `SET`, as the example node dumps them.
const BULK: &[u8] = b"*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$1\r\nv\r\n";

fn encoded(request: &PeerRequest<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; request.encoded_len()];
    let len = request.encode(&mut buf).unwrap();
    assert_eq!(len, buf.len());
    buf
}

fn encoded_reply(reply: &PeerReply<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; reply.encoded_len()];
    let len = reply.encode(&mut buf).unwrap();
    assert_eq!(len, buf.len());
    buf
}

fn args(request: &PeerRequest<'_>) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    request.args(|a| args.push(a.to_vec()));
    args
}

fn decode(args: &[Vec<u8>]) -> Result<PeerRequest<'_>, PeerWireError> {
    let borrowed: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    // The decoded value borrows the arguments, not the list of them.
    PeerRequest::decode(&borrowed)
}

fn news(status: MoveStatus) -> PeerRequest<'static> {
    PeerRequest::News {
        news: Announcement { id: ID, status },
        sender_epoch: Epoch::new(5),
    }
}

#[test]
fn requests_are_the_bytes_earlier_nodes_sent() {
    let cases: [(PeerRequest<'_>, &[u8]); 9] = [
        (
            PeerRequest::Ingest { id: ID, bulk: BULK },
            b"*6\r\n$17\r\nMOVE-SCOPE-INGEST\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n$40\r\n*3\r\n$3\r\nSET\r\n$13\r\napp:billing:1\r\n$1\r\nv\r\n\r\n",
        ),
        (
            PeerRequest::Outcome(ID),
            b"*5\r\n$18\r\nMOVE-SCOPE-OUTCOME\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
        ),
        (
            news(MoveStatus::InFlight),
            b"*7\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$8\r\nINFLIGHT\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n$1\r\n5\r\n",
        ),
        (
            news(MoveStatus::Committed),
            b"*7\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$9\r\nCOMMITTED\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n$1\r\n5\r\n",
        ),
        (
            news(MoveStatus::Aborted),
            b"*7\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$7\r\nABORTED\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n$1\r\n5\r\n",
        ),
        (PeerRequest::Epoch, b"*1\r\n$16\r\nMOVE-SCOPE-EPOCH\r\n"),
        (
            PeerRequest::Recheck(ID),
            b"*5\r\n$18\r\nMOVE-SCOPE-RECHECK\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
        ),
        (
            PeerRequest::Fence {
                from: "server-eu-1",
                epoch: Epoch::new(42),
            },
            b"*3\r\n$16\r\nMOVE-SCOPE-FENCE\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
        ),
        (
            PeerRequest::Fence {
                from: "a",
                epoch: Epoch::ZERO,
            },
            b"*3\r\n$16\r\nMOVE-SCOPE-FENCE\r\n$1\r\na\r\n$1\r\n0\r\n",
        ),
    ];
    for (request, bytes) in cases {
        assert_eq!(encoded(&request), bytes, "{request:?}");
    }
    // A binary prefix, the largest epoch, no keys.
    let edge = PeerRequest::Ingest {
        id: MoveId {
            prefix: b"\xffp:",
            from: "a",
            to: "b",
            epoch: Epoch::new(u32::MAX),
        },
        bulk: b"",
    };
    assert_eq!(
        encoded(&edge),
        b"*6\r\n$17\r\nMOVE-SCOPE-INGEST\r\n$3\r\n\xffp:\r\n$1\r\na\r\n$1\r\nb\r\n$10\r\n4294967295\r\n$0\r\n\r\n"
    );
}

#[test]
fn replies_are_the_bytes_earlier_nodes_sent() {
    let cases: [(PeerReply<'_>, &[u8]); 9] = [
        (PeerReply::Ingested { keys: 3 }, b"+OK 3\r\n"),
        (PeerReply::Epoch(Epoch::new(42)), b"+EPOCH 42\r\n"),
        (PeerReply::Epoch(Epoch::ZERO), b"+EPOCH 0\r\n"),
        (PeerReply::Learned, b"+OK\r\n"),
        (PeerReply::Outcome(Outcome::Committed), b"+COMMITTED\r\n"),
        (
            PeerReply::Outcome(Outcome::Aborted {
                fence: Epoch::new(9),
            }),
            b"+ABORTED 9\r\n",
        ),
        (
            PeerReply::Refused {
                code: Refusal::Stale,
                reason: "stale move step: this node knows epoch 3",
            },
            b"-STALE stale move step: this node knows epoch 3\r\n",
        ),
        (
            PeerReply::Refused {
                code: Refusal::Full,
                reason: "all 4 migration record slots are taken",
            },
            b"-FULL all 4 migration record slots are taken\r\n",
        ),
        (
            PeerReply::Refused {
                code: Refusal::Other,
                reason: "a prefix cannot move to the node it is on",
            },
            b"-ERR a prefix cannot move to the node it is on\r\n",
        ),
    ];
    for (reply, bytes) in cases {
        assert_eq!(encoded_reply(&reply), bytes, "{reply:?}");
        assert_eq!(PeerReply::decode(bytes), Ok(reply));
    }
}

#[test]
fn refusal_codes_name_the_crates_errors() {
    let cases = [
        (
            MoveError::Stale {
                known: Epoch::new(3),
            },
            "STALE",
        ),
        (MoveError::SenderNotOwner, "SENDERNOTOWNER"),
        (MoveError::WrongTarget, "WRONGTARGET"),
        (MoveError::NotInFlight, "NOTINFLIGHT"),
        (MoveError::Quarantined, "QUARANTINED"),
        (MoveError::Full { capacity: 4 }, "FULL"),
        (MoveError::NotOwner, "NOTOWNER"),
        (MoveError::SameNode, "ERR"),
        (MoveError::AlreadyMoving, "ERR"),
        (MoveError::EpochExhausted, "ERR"),
    ];
    for (error, code) in cases {
        let refusal = Refusal::of(&error);
        assert_eq!(refusal.code(), code, "{error:?}");
        assert_eq!(Refusal::from_code(code.as_bytes()), Some(refusal));
        assert_eq!(refusal.to_string(), code);
        // Back to the error wherever the code carries all of it.
        match refusal.error() {
            Some(back) => assert_eq!(back, error),
            None => assert!(matches!(code, "STALE" | "FULL" | "ERR"), "{code}"),
        }
        // The example node's refusal: the code, then the error's words.
        let reason = error.to_string();
        let reply = PeerReply::Refused {
            code: refusal,
            reason: &reason,
        };
        let bytes = encoded_reply(&reply);
        assert_eq!(bytes, format!("-{code} {error}\r\n").as_bytes());
        assert_eq!(PeerReply::decode(&bytes), Ok(reply));
    }
    for word in [&b"NOPERM"[..], b"stale", b"", b"STALE ", b"OK"] {
        assert_eq!(Refusal::from_code(word), None, "{word:?}");
    }
}

#[test]
fn every_request_round_trips() {
    let requests = [
        PeerRequest::Ingest { id: ID, bulk: BULK },
        PeerRequest::Ingest { id: ID, bulk: b"" },
        PeerRequest::Outcome(ID),
        PeerRequest::Recheck(ID),
        news(MoveStatus::InFlight),
        news(MoveStatus::Committed),
        news(MoveStatus::Aborted),
        PeerRequest::Epoch,
        PeerRequest::Fence {
            from: "a",
            epoch: Epoch::ZERO,
        },
        PeerRequest::Fence {
            from: &"n".repeat(MAX_NODE_ID_LEN),
            epoch: Epoch::new(u32::MAX),
        },
    ];
    for request in requests {
        let args = args(&request);
        assert_eq!(decode(&args), Ok(request));
        let names_a_move = !matches!(request, PeerRequest::Epoch | PeerRequest::Fence { .. });
        let id = names_a_move.then_some(&ID);
        assert_eq!(decode(&args).unwrap().id(), id);
        // Every request but an ingest's keys fits the bound.
        if !matches!(request, PeerRequest::Ingest { .. }) {
            assert!(request.encoded_len() <= kevy_scope::wire::MAX_PEER_REQUEST_LEN);
        }
        // The encoding is the RESP array of exactly those arguments.
        let mut resp = format!("*{}\r\n", args.len()).into_bytes();
        for arg in &args {
            resp.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            resp.extend_from_slice(arg);
            resp.extend_from_slice(b"\r\n");
        }
        assert_eq!(encoded(&request), resp);
    }
}

/// `RECHECK` is `OUTCOME` under another name: the same fields, in the
/// same order, and the same answers; the name alone tells them apart.
#[test]
fn a_recheck_is_the_outcome_query_by_another_name() {
    let outcome = encoded(&PeerRequest::Outcome(ID));
    let recheck = encoded(&PeerRequest::Recheck(ID));
    assert_ne!(PeerRequest::Recheck(ID), PeerRequest::Outcome(ID));
    let name = |bytes: &[u8]| {
        bytes
            .windows(18)
            .position(|w| w.starts_with(b"MOVE-SCOPE-"))
    };
    let at = name(&outcome).unwrap();
    assert_eq!(name(&recheck), Some(at));
    assert_eq!(&recheck[at..at + 18], b"MOVE-SCOPE-RECHECK");
    assert_eq!(recheck[..at], outcome[..at]);
    assert_eq!(recheck[at + 18..], outcome[at + 18..]);
    assert_eq!(
        args(&PeerRequest::Recheck(ID))[1..],
        args(&PeerRequest::Outcome(ID))[1..]
    );
    assert_eq!(PeerRequest::Recheck(ID).id(), Some(&ID));
    // Answered as an outcome query: +COMMITTED, +ABORTED <fence>, or a
    // refusal.
    for line in [&b"+COMMITTED\r\n"[..], b"+ABORTED 43\r\n"] {
        assert!(matches!(PeerReply::decode(line), Ok(PeerReply::Outcome(_))));
    }
}

#[test]
fn every_reply_round_trips() {
    let replies = [
        PeerReply::Ingested { keys: 0 },
        PeerReply::Ingested { keys: u32::MAX },
        PeerReply::Learned,
        PeerReply::Outcome(Outcome::Committed),
        PeerReply::Outcome(Outcome::Aborted { fence: Epoch::ZERO }),
        PeerReply::Outcome(Outcome::Aborted {
            fence: Epoch::new(u32::MAX),
        }),
        PeerReply::Epoch(Epoch::ZERO),
        PeerReply::Epoch(Epoch::new(u32::MAX)),
        PeerReply::Refused {
            code: Refusal::NotInFlight,
            reason: "",
        },
        PeerReply::Refused {
            code: Refusal::Quarantined,
            reason: "  two spaces, then é",
        },
    ];
    for reply in replies {
        let bytes = encoded_reply(&reply);
        assert_eq!(PeerReply::decode(&bytes), Ok(reply), "{bytes:?}");
        // Without its CRLF too, as a RESP client hands a line over.
        let line = bytes.strip_suffix(b"\r\n").unwrap();
        assert_eq!(PeerReply::decode(line), Ok(reply));
        assert_eq!(line.get(1..).unwrap(), reply.to_string().as_bytes());
        assert_eq!(line.first() == Some(&b'-'), reply.is_refusal());
    }
}

#[test]
fn names_and_statuses_are_read_in_any_case() {
    let lower: [&[u8]; 7] = [
        b"move-scope-news",
        b"inflight",
        b"p:",
        b"A",
        b"B",
        b"1",
        b"2",
    ];
    let PeerRequest::News { news, .. } = PeerRequest::decode(&lower).unwrap() else {
        panic!("news")
    };
    assert_eq!(news.status, MoveStatus::InFlight);
    // Ids and prefixes are bytes, compared exactly: never folded.
    assert_eq!((news.id.prefix, news.id.from), (&b"p:"[..], "A"));
    let recheck: [&[u8]; 5] = [b"move-scope-Recheck", b"p:", b"A", b"B", b"1"];
    let PeerRequest::Recheck(id) = PeerRequest::decode(&recheck).unwrap() else {
        panic!("recheck")
    };
    assert_eq!((id.prefix, id.from, id.to), (&b"p:"[..], "A", "B"));
    let mixed: [&[u8]; 1] = [b"Move-Scope-Epoch"];
    assert_eq!(PeerRequest::decode(&mixed), Ok(PeerRequest::Epoch));
    let fence: [&[u8]; 3] = [b"move-scope-fence", b"A", b"3"];
    assert_eq!(
        PeerRequest::decode(&fence),
        Ok(PeerRequest::Fence {
            from: "A",
            epoch: Epoch::new(3)
        })
    );
    // The sender's id is compared exactly: never folded.
    let fence: [&[u8]; 3] = [b"MOVE-SCOPE-FENCE", b"a", b"3"];
    assert!(matches!(
        PeerRequest::decode(&fence),
        Ok(PeerRequest::Fence { from: "a", .. })
    ));
    // In a list too.
    let list = b"*1\r\n*5\r\n$9\r\nCommitted\r\n$2\r\np:\r\n$1\r\nA\r\n$1\r\nB\r\n$1\r\n1\r\n";
    let (list, _) = NewsList::decode(list).unwrap();
    let news: Vec<_> = list.iter().collect();
    assert_eq!(news[0].status, MoveStatus::Committed);
}

#[test]
fn a_reason_on_two_lines_is_sent_on_one() {
    let reply = PeerReply::Refused {
        code: Refusal::Other,
        reason: "bad\r\nthing\n",
    };
    assert_eq!(encoded_reply(&reply), b"-ERR bad  thing \r\n");
}

#[test]
fn malformed_requests_are_refused_each_with_its_error() {
    let ok = |i: usize, arg: &'static [u8]| {
        let mut args: Vec<&'static [u8]> = vec![b"MOVE-SCOPE-OUTCOME", b"p:", b"A", b"B", b"7"];
        args[i] = arg;
        args
    };
    let long_id = [b'n'; MAX_NODE_ID_LEN + 1];
    let long_prefix = vec![b'p'; 65_536];
    let cases: Vec<(Vec<&[u8]>, PeerWireError)> = vec![
        (vec![], PeerWireError::UnknownVerb),
        (ok(0, b"MOVE-SCOPE"), PeerWireError::UnknownVerb),
        (ok(0, b"MOVE-SCOPE-OUTCOMES"), PeerWireError::UnknownVerb),
        (ok(0, b"GET"), PeerWireError::UnknownVerb),
        (
            vec![b"MOVE-SCOPE-OUTCOME", b"p:", b"A", b"B"],
            PeerWireError::WrongArity {
                expected: 4,
                got: 3,
            },
        ),
        (
            vec![b"MOVE-SCOPE-OUTCOME", b"p:", b"A", b"B", b"7", b"x"],
            PeerWireError::WrongArity {
                expected: 4,
                got: 5,
            },
        ),
        (
            vec![b"MOVE-SCOPE-INGEST", b"p:", b"A", b"B", b"7"],
            PeerWireError::WrongArity {
                expected: 5,
                got: 4,
            },
        ),
        (
            vec![b"MOVE-SCOPE-NEWS", b"INFLIGHT", b"p:", b"A", b"B", b"7"],
            PeerWireError::WrongArity {
                expected: 6,
                got: 5,
            },
        ),
        (
            vec![
                b"MOVE-SCOPE-NEWS",
                b"INFLIGHT",
                b"p:",
                b"A",
                b"B",
                b"7",
                b"07",
            ],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-NEWS", b"DONE", b"p:", b"A", b"B", b"7", b"7"],
            PeerWireError::UnknownStatus,
        ),
        (
            vec![
                b"MOVE-SCOPE-NEWS",
                b"INFLIGHT ",
                b"p:",
                b"A",
                b"B",
                b"7",
                b"7",
            ],
            PeerWireError::UnknownStatus,
        ),
        (ok(1, b""), PeerWireError::EmptyPrefix),
        (
            ok(1, long_prefix.clone().leak()),
            PeerWireError::PrefixTooLong { len: 65_536 },
        ),
        (ok(2, b""), PeerWireError::BadSource(NodeIdError::Empty)),
        (
            ok(2, long_id.to_vec().leak()),
            PeerWireError::BadSource(NodeIdError::TooLong { len: 33 }),
        ),
        (
            ok(2, b"a@b"),
            PeerWireError::BadSource(NodeIdError::InvalidByte { byte: b'@', at: 1 }),
        ),
        (
            ok(2, b"ab\xff"),
            PeerWireError::BadSource(NodeIdError::InvalidByte { byte: 0xff, at: 2 }),
        ),
        (
            ok(2, "né".as_bytes()),
            PeerWireError::BadSource(NodeIdError::InvalidByte { byte: 0xc3, at: 1 }),
        ),
        (
            ok(3, b"b c"),
            PeerWireError::BadTarget(NodeIdError::InvalidByte { byte: b' ', at: 1 }),
        ),
        (ok(3, b""), PeerWireError::BadTarget(NodeIdError::Empty)),
        (ok(4, b""), PeerWireError::BadEpoch),
        (ok(4, b"07"), PeerWireError::BadEpoch),
        (ok(4, b"+7"), PeerWireError::BadEpoch),
        (ok(4, b"-7"), PeerWireError::BadEpoch),
        (ok(4, b" 7"), PeerWireError::BadEpoch),
        (ok(4, b"7.0"), PeerWireError::BadEpoch),
        (ok(4, b"4294967296"), PeerWireError::BadEpoch),
        (ok(4, b"18446744073709551616"), PeerWireError::BadEpoch),
        (
            vec![b"MOVE-SCOPE-EPOCH", b"1"],
            PeerWireError::WrongArity {
                expected: 0,
                got: 1,
            },
        ),
        (
            vec![b"MOVE-SCOPE-FENCE"],
            PeerWireError::WrongArity {
                expected: 2,
                got: 0,
            },
        ),
        // The fence alone, as the first recovering nodes' wire had it:
        // the sender is named now.
        (
            vec![b"MOVE-SCOPE-FENCE", b"7"],
            PeerWireError::WrongArity {
                expected: 2,
                got: 1,
            },
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"A", b"1", b"2"],
            PeerWireError::WrongArity {
                expected: 2,
                got: 3,
            },
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"p:", b"A", b"B", b"7"],
            PeerWireError::WrongArity {
                expected: 2,
                got: 4,
            },
        ),
        (vec![b"MOVE-SCOPE-EPOCHS"], PeerWireError::UnknownVerb),
        (vec![b"MOVE-SCOPE-RECHECKS"], PeerWireError::UnknownVerb),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"p:", b"A", b"B"],
            PeerWireError::WrongArity {
                expected: 4,
                got: 3,
            },
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"COMMITTED", b"p:", b"A", b"B", b"7"],
            PeerWireError::WrongArity {
                expected: 4,
                got: 5,
            },
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK"],
            PeerWireError::WrongArity {
                expected: 4,
                got: 0,
            },
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"", b"A", b"B", b"7"],
            PeerWireError::EmptyPrefix,
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"p:", b"", b"B", b"7"],
            PeerWireError::BadSource(NodeIdError::Empty),
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"p:", b"A", b"b@c", b"7"],
            PeerWireError::BadTarget(NodeIdError::InvalidByte { byte: b'@', at: 1 }),
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"p:", b"A", b"B", b"07"],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-RECHECK", b"p:", b"A", b"B", b"4294967296"],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"A", b""],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"A", b"07"],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"A", b"-1"],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"A", b"4294967296"],
            PeerWireError::BadEpoch,
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"", b"7"],
            PeerWireError::BadSource(NodeIdError::Empty),
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", b"a=b", b"7"],
            PeerWireError::BadSource(NodeIdError::InvalidByte { byte: b'=', at: 1 }),
        ),
        (
            vec![b"MOVE-SCOPE-FENCE", long_id.to_vec().leak(), b"7"],
            PeerWireError::BadSource(NodeIdError::TooLong { len: 33 }),
        ),
        // The sender first: a bad sender is named before a bad fence.
        (
            vec![b"MOVE-SCOPE-FENCE", b"", b"x"],
            PeerWireError::BadSource(NodeIdError::Empty),
        ),
    ];
    for (args, error) in cases {
        assert_eq!(PeerRequest::decode(&args), Err(error), "{args:?}");
        assert!(!error.to_string().is_empty());
    }
    // The checks run in argument order: the first bad field is named.
    let two_bad: [&[u8]; 5] = [b"MOVE-SCOPE-OUTCOME", b"", b"", b"", b"x"];
    assert_eq!(
        PeerRequest::decode(&two_bad),
        Err(PeerWireError::EmptyPrefix)
    );
}

#[test]
fn malformed_replies_are_refused_each_with_its_error() {
    let cases: [(&[u8], PeerWireError); 30] = [
        (b"", PeerWireError::MalformedLine),
        (b"\r\n", PeerWireError::MalformedLine),
        (b"OK", PeerWireError::MalformedLine),
        (b":1", PeerWireError::MalformedLine),
        (b"$2\r\nOK\r\n", PeerWireError::MalformedLine),
        (b"+OK\r\n\r\n", PeerWireError::MalformedLine),
        (b"+OK\n", PeerWireError::MalformedLine),
        (b"+OK 3\rx", PeerWireError::MalformedLine),
        (b"-ERR \xff", PeerWireError::MalformedLine),
        (b"+", PeerWireError::UnknownReply),
        (b"+ok", PeerWireError::UnknownReply),
        (b"+OK3", PeerWireError::UnknownReply),
        (b"+COMMITTED 3", PeerWireError::UnknownReply),
        (b"+ABORTED", PeerWireError::UnknownReply),
        (b"+PONG", PeerWireError::UnknownReply),
        (b"+OK ", PeerWireError::BadCount),
        (b"+OK 03", PeerWireError::BadCount),
        (b"+OK 4294967296", PeerWireError::BadCount),
        (b"+ABORTED -1", PeerWireError::BadEpoch),
        (b"+ABORTED 9 ", PeerWireError::BadEpoch),
        (b"+EPOCH", PeerWireError::UnknownReply),
        (b"+epoch 1", PeerWireError::UnknownReply),
        (b"+EPOCH1", PeerWireError::UnknownReply),
        (b"+EPOCH ", PeerWireError::BadEpoch),
        (b"+EPOCH 07", PeerWireError::BadEpoch),
        (b"+EPOCH -1", PeerWireError::BadEpoch),
        (b"+EPOCH 4294967296", PeerWireError::BadEpoch),
        (b"+EPOCH 1 2", PeerWireError::BadEpoch),
        (
            b"-NOPERM User cluster has no permissions",
            PeerWireError::UnknownCode,
        ),
        (b"-", PeerWireError::UnknownCode),
    ];
    for (line, error) in cases {
        assert_eq!(PeerReply::decode(line), Err(error), "{line:?}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn a_short_buffer_is_an_error_and_stays_untouched() {
    let request = PeerRequest::Ingest { id: ID, bulk: BULK };
    let len = request.encoded_len();
    let mut short = vec![0xAA; len - 1];
    assert_eq!(
        request.encode(&mut short),
        Err(BufferTooSmall {
            needed: len,
            available: len - 1
        })
    );
    assert!(short.iter().all(|b| *b == 0xAA));
    let mut short = [0xAA; 4];
    assert_eq!(
        PeerReply::Learned.encode(&mut short),
        Err(BufferTooSmall {
            needed: 5,
            available: 4
        })
    );
    assert_eq!(short, [0xAA; 4]);
    let mut header = [0xAA; 16];
    assert!(PeerRequest::encode_ingest_header(&ID, 1, &mut header).is_err());
    assert_eq!(header, [0xAA; 16]);
    assert_eq!(
        BufferTooSmall {
            needed: 5,
            available: 4
        }
        .to_string(),
        "message needs 5 bytes, the buffer has 4"
    );
}

// The news list: the answer to MOVE-SCOPE-FENCE.

fn announce(
    prefix: &'static [u8],
    from: &'static str,
    to: &'static str,
    epoch: u32,
    status: MoveStatus,
) -> Announcement<'static> {
    Announcement {
        id: MoveId {
            prefix,
            from,
            to,
            epoch: Epoch::new(epoch),
        },
        status,
    }
}

/// `news` encoded, checked against `news_len`.
fn encoded_news(news: &[Announcement<'_>]) -> Vec<u8> {
    let len = news_len(news.iter().copied());
    let mut buf = vec![0u8; len];
    assert_eq!(encode_news(news.iter().copied(), &mut buf), Ok(len));
    buf
}

/// Decodes `bytes` whole: the news, and that the list took every byte.
fn decoded_news(bytes: &[u8]) -> Result<Vec<Announcement<'_>>, PeerWireError> {
    let (list, used) = NewsList::decode(bytes)?;
    assert_eq!(used, bytes.len());
    assert_eq!(list.as_bytes(), bytes);
    assert_eq!(list.iter().len(), list.len());
    assert_eq!(list.is_empty(), list.iter().next().is_none());
    Ok(list.iter().collect())
}

/// What a decoder that reads `bytes` as they arrive sees: every strict
/// prefix is incomplete.
fn every_cut_is_incomplete(bytes: &[u8]) {
    for cut in 0..bytes.len() {
        assert_eq!(
            NewsList::decode(&bytes[..cut]),
            Err(PeerWireError::Incomplete),
            "cut at {cut} of {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn a_news_list_is_the_news_commands_arguments_in_an_array() {
    let news = [
        announce(
            b"app:billing:",
            "embed-billing-1",
            "server-eu-1",
            42,
            MoveStatus::Committed,
        ),
        announce(b"app:a:", "n1", "n2", 7, MoveStatus::InFlight),
        announce(b"p", "A", "A", 0, MoveStatus::Aborted),
    ];
    let bytes = encoded_news(&news);
    assert_eq!(
        bytes,
        &b"*3\r\n\
           *5\r\n$9\r\nCOMMITTED\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n\
           *5\r\n$8\r\nINFLIGHT\r\n$6\r\napp:a:\r\n$2\r\nn1\r\n$2\r\nn2\r\n$1\r\n7\r\n\
           *5\r\n$7\r\nABORTED\r\n$1\r\np\r\n$1\r\nA\r\n$1\r\nA\r\n$1\r\n0\r\n"[..]
    );
    // Each item is what MOVE-SCOPE-NEWS carries after its name and
    // before the sender's epoch.
    for (n, item) in news.iter().enumerate() {
        let request = encoded(&PeerRequest::News {
            news: *item,
            sender_epoch: Epoch::new(1),
        });
        let one = encoded_news(&[*item]);
        let header = b"*7\r\n$15\r\nMOVE-SCOPE-NEWS\r\n".len();
        let sender_epoch = b"$1\r\n1\r\n".len();
        let request = &request[header..request.len() - sender_epoch];
        assert_eq!(one[b"*1\r\n*5\r\n".len()..], *request, "{n}");
    }
    assert_eq!(decoded_news(&bytes), Ok(news.to_vec()));
    assert_eq!(encoded_news(&[]), b"*0\r\n");
    assert_eq!(decoded_news(b"*0\r\n"), Ok(vec![]));
}

#[test]
fn news_lists_round_trip() {
    let binary: &'static [u8] = b"\xff\r\n*5\r\n$1\r\n";
    let long_prefix: &'static [u8] = vec![b'p'; 65_535].leak();
    let long_id: &'static str = "n".repeat(MAX_NODE_ID_LEN).leak();
    let lists: Vec<Vec<Announcement<'static>>> = vec![
        vec![],
        vec![announce(b"p:", "A", "B", 1, MoveStatus::InFlight)],
        // A prefix that looks like the frame: bulk strings are counted,
        // not scanned.
        vec![announce(binary, "A", "B", u32::MAX, MoveStatus::Committed)],
        vec![announce(
            long_prefix,
            long_id,
            long_id,
            0,
            MoveStatus::Aborted,
        )],
        // The header's count takes two digits.
        (0..12)
            .map(|n| announce(b"q:", "A", "B", n, MoveStatus::Committed))
            .collect(),
    ];
    for news in lists {
        let bytes = encoded_news(&news);
        assert_eq!(decoded_news(&bytes), Ok(news.clone()));
        every_cut_is_incomplete(&bytes);
        // What follows the list is the connection's, not the list's.
        let mut more = bytes.clone();
        more.extend_from_slice(b"*1\r\n+OK\r\n");
        let (list, used) = NewsList::decode(&more).unwrap();
        assert_eq!((used, list.len()), (bytes.len(), news.len()));
        assert!(list.into_iter().eq(news.iter().copied()));
        assert!((&list).into_iter().eq(news.iter().copied()));
        assert_eq!(format!("{list:?}"), format!("{news:?}"));
    }
}

#[test]
fn a_short_buffer_for_news_is_an_error_naming_the_length() {
    let ten: Vec<_> = (0..10)
        .map(|n| announce(b"p:", "A", "B", n, MoveStatus::Committed))
        .collect();
    for news in [&ten[..0], &ten[..1], &ten[..9], &ten[..]] {
        let needed = news_len(news.iter().copied());
        for available in 0..needed {
            let mut buf = vec![0u8; available];
            assert_eq!(
                encode_news(news.iter().copied(), &mut buf),
                Err(BufferTooSmall { needed, available })
            );
        }
        // A longer buffer: only the list's bytes are written.
        let mut buf = vec![0xAA; needed + 3];
        assert_eq!(encode_news(news.iter().copied(), &mut buf), Ok(needed));
        assert_eq!(buf[needed..], [0xAA; 3]);
        assert_eq!(decoded_news(&buf[..needed]).unwrap(), news);
    }
}

#[test]
fn the_news_bound_is_tight() {
    let prefix: &'static [u8] = vec![b'p'; MAX_PREFIX_LEN].leak();
    let id: &'static str = "n".repeat(MAX_NODE_ID_LEN).leak();
    for count in [0, 1, 2, 9, 10, 11, 99, 100] {
        let longest = vec![announce(prefix, id, id, u32::MAX, MoveStatus::Committed); count];
        assert_eq!(
            news_len(longest.iter().copied()),
            max_news_len(count),
            "{count}"
        );
        let shorter = vec![announce(prefix, id, id, 1, MoveStatus::Aborted); count];
        assert!(news_len(shorter) <= max_news_len(count));
    }
    assert_eq!(max_news_len(usize::MAX), usize::MAX);
}

#[test]
fn a_list_holds_at_most_max_news() {
    let item = announce(b"p", "A", "B", 1, MoveStatus::Committed);
    let full = encoded_news(&vec![item; MAX_NEWS]);
    let (list, used) = NewsList::decode(&full).unwrap();
    assert_eq!((list.len(), used), (MAX_NEWS, full.len()));
    assert_eq!(list.iter().count(), MAX_NEWS);
    // The encoder writes one more; the decoder refuses it from the
    // header alone.
    let over = encoded_news(&vec![item; MAX_NEWS + 1]);
    assert_eq!(
        NewsList::decode(&over),
        Err(PeerWireError::TooManyNews {
            count: MAX_NEWS + 1
        })
    );
    assert_eq!(
        NewsList::decode(&over[..b"*65536\r\n".len()]),
        Err(PeerWireError::TooManyNews {
            count: MAX_NEWS + 1
        })
    );
}

/// An item's fields after `*1\r\n*5\r\n`, one of them replaced.
fn item_with(i: usize, field: &[u8]) -> Vec<u8> {
    let mut fields: Vec<&[u8]> = vec![
        b"$9\r\nCOMMITTED\r\n",
        b"$2\r\np:\r\n",
        b"$1\r\nA\r\n",
        b"$1\r\nB\r\n",
        b"$1\r\n7\r\n",
    ];
    fields[i] = field;
    let mut bytes = b"*1\r\n*5\r\n".to_vec();
    for f in fields {
        bytes.extend_from_slice(f);
    }
    bytes
}

#[test]
fn malformed_news_lists_are_refused_each_with_its_error() {
    use PeerWireError::{
        BadEpoch, BadSource, BadTarget, EmptyPrefix, MalformedList, PrefixTooLong, TooManyNews,
        UnknownStatus, WrongArity,
    };
    let at = |at: usize| MalformedList { at };
    let arity = |got: usize| WrongArity { expected: 5, got };
    let cases: Vec<(Vec<u8>, PeerWireError)> = vec![
        // Not an array, or not a count.
        (b"+OK\r\n".to_vec(), at(0)),
        (b"-ERR no\r\n".to_vec(), at(0)),
        (b":1\r\n".to_vec(), at(0)),
        (b"$1\r\nx\r\n".to_vec(), at(0)),
        (b"_\r\n".to_vec(), at(0)),
        (b"%1\r\n".to_vec(), at(0)),
        (b"\r\n".to_vec(), at(0)),
        (b"*-1\r\n".to_vec(), at(1)),
        (b"*\r\n".to_vec(), at(1)),
        (b"* 1\r\n".to_vec(), at(1)),
        (b"*+1\r\n".to_vec(), at(1)),
        (b"*01\r\n".to_vec(), at(2)),
        (b"*00\r\n".to_vec(), at(2)),
        (b"*1 \r\n".to_vec(), at(2)),
        (b"*1\n".to_vec(), at(2)),
        (b"*1\r\r".to_vec(), at(3)),
        (b"*1\rx".to_vec(), at(3)),
        (b"*4294967296\r\n".to_vec(), at(1)),
        // An eleventh digit breaks it where it stands.
        (b"*99999999999\r\n".to_vec(), at(11)),
        (b"*00000000000000000000".to_vec(), at(2)),
        // Huge counts, refused before an item is read.
        (
            b"*4294967295\r\n".to_vec(),
            TooManyNews {
                count: 4_294_967_295,
            },
        ),
        (b"*65536\r\n".to_vec(), TooManyNews { count: 65_536 }),
        // Items that are not arrays of five bulk strings.
        (b"*1\r\n$1\r\nx\r\n".to_vec(), at(4)),
        (b"*1\r\n+OK\r\n".to_vec(), at(4)),
        (b"*1\r\n*-1\r\n".to_vec(), at(5)),
        (b"*1\r\n*0\r\n".to_vec(), arity(0)),
        (b"*1\r\n*4\r\n".to_vec(), arity(4)),
        (b"*1\r\n*6\r\n".to_vec(), arity(6)),
        (b"*1\r\n*4294967295\r\n".to_vec(), arity(4_294_967_295)),
        // Nested arrays, as deep as a peer likes: refused at the first.
        ([&b"*1\r\n"[..]; 1000].concat(), arity(1)),
        (b"*1\r\n*5\r\n*5\r\n".to_vec(), at(8)),
        (b"*1\r\n*5\r\n*1\r\n*1\r\n".to_vec(), at(8)),
        (b"*1\r\n*5\r\n:1\r\n".to_vec(), at(8)),
        // Bulk lengths.
        (b"*1\r\n*5\r\n$-1\r\n".to_vec(), at(9)),
        (b"*1\r\n*5\r\n$\r\n".to_vec(), at(9)),
        (b"*1\r\n*5\r\n$09\r\nCOMMITTED\r\n".to_vec(), at(10)),
        (b"*1\r\n*5\r\n$99999999999\r\n".to_vec(), at(19)),
        (b"*1\r\n*5\r\n$18446744073709551616\r\n".to_vec(), at(19)),
        (b"*1\r\n*5\r\n$4294967296\r\n".to_vec(), at(9)),
        // The status.
        (item_with(0, b"$4294967295\r\n"), UnknownStatus),
        (item_with(0, b"$10\r\n"), UnknownStatus),
        (item_with(0, b"$4\r\nDONE\r\n"), UnknownStatus),
        (item_with(0, b"$0\r\n\r\n"), UnknownStatus),
        (item_with(0, b"$9\r\nCOMMITTE \r\n"), UnknownStatus),
        // The prefix, from its length alone when that is enough.
        (item_with(1, b"$0\r\n\r\n"), EmptyPrefix),
        (item_with(1, b"$0\r\n"), EmptyPrefix),
        (item_with(1, b"$65536\r\n"), PrefixTooLong { len: 65_536 }),
        (
            item_with(1, b"$4294967295\r\n"),
            PrefixTooLong { len: 4_294_967_295 },
        ),
        // The ids.
        (
            item_with(2, b"$33\r\n"),
            BadSource(NodeIdError::TooLong { len: 33 }),
        ),
        (item_with(2, b"$0\r\n\r\n"), BadSource(NodeIdError::Empty)),
        (
            item_with(2, b"$3\r\na@b\r\n"),
            BadSource(NodeIdError::InvalidByte { byte: b'@', at: 1 }),
        ),
        (
            item_with(2, b"$3\r\nab\xff\r\n"),
            BadSource(NodeIdError::InvalidByte { byte: 0xff, at: 2 }),
        ),
        (
            item_with(3, b"$99\r\n"),
            BadTarget(NodeIdError::TooLong { len: 99 }),
        ),
        (
            item_with(3, b"$3\r\nb c\r\n"),
            BadTarget(NodeIdError::InvalidByte { byte: b' ', at: 1 }),
        ),
        // The epoch.
        (item_with(4, b"$11\r\n"), BadEpoch),
        (item_with(4, b"$0\r\n\r\n"), BadEpoch),
        (item_with(4, b"$2\r\n07\r\n"), BadEpoch),
        (item_with(4, b"$2\r\n-1\r\n"), BadEpoch),
        (item_with(4, b"$10\r\n4294967296\r\n"), BadEpoch),
        // A missing CRLF after a string's bytes, or a length that is not
        // the string's.
        (item_with(1, b"$2\r\np:xx"), at(29)),
        (item_with(1, b"$2\r\np:\n"), at(29)),
        (item_with(1, b"$3\r\np:\r\n"), at(30)),
        (item_with(1, b"$1\r\np:\r\n"), at(28)),
        (item_with(4, b"$1\r\n7\n"), at(50)),
        // Fewer items than the count says, and then something else.
        (
            [&item_with(0, b"$9\r\nCOMMITTED\r\n")[..], b"+OK\r\n"]
                .concat()
                .iter()
                .enumerate()
                .map(|(n, b)| if n == 1 { b'2' } else { *b })
                .collect(),
            at(52),
        ),
    ];
    for (bytes, error) in cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        assert_eq!(NewsList::decode(&bytes), Err(error), "{shown:?}");
        assert_ne!(error, PeerWireError::Incomplete);
        assert!(!error.to_string().is_empty());
        // No byte that follows mends it, nor changes the error.
        for tail in [&b""[..], b"\r\n", b"0", b"*5\r\n", &[0; 70_000]] {
            let more = [&bytes[..], tail].concat();
            assert_eq!(NewsList::decode(&more), Err(error), "{shown:?} + {tail:?}");
        }
        // Cut short, it is incomplete or already that error: no other.
        for cut in 0..bytes.len() {
            let got = NewsList::decode(&bytes[..cut]);
            assert!(
                got == Err(PeerWireError::Incomplete) || got == Err(error),
                "{shown:?} cut at {cut}: {got:?}"
            );
        }
    }
    assert_eq!(
        PeerWireError::TooManyNews { count: 70_000 }.to_string(),
        "the list holds 70000 news, at most 65535 allowed"
    );
}

#[test]
fn a_length_is_decided_within_ten_digits() {
    // A peer that sends digits forever is refused at the eleventh, not
    // waited for.
    let digits = [b'9'; 64];
    for prefix in [&b"*"[..], b"*1\r\n*", b"*1\r\n*5\r\n$"] {
        for n in 1..=10 {
            let bytes = [prefix, &digits[..n]].concat();
            assert_eq!(NewsList::decode(&bytes), Err(PeerWireError::Incomplete));
        }
        let bytes = [prefix, &digits[..11]].concat();
        assert_eq!(
            NewsList::decode(&bytes),
            Err(PeerWireError::MalformedList {
                at: bytes.len() - 1
            })
        );
    }
}

/// Node ids by the rule: printable ASCII without `,` `|` `=` `@`.
fn node_id() -> impl Strategy<Value = String> {
    "[!-+\\--<>?A-{}~]{1,32}"
}

prop_compose! {
    fn move_fields()(
        prefix in proptest::collection::vec(any::<u8>(), 1..64),
        from in node_id(),
        to in node_id(),
        epoch in any::<u32>(),
    ) -> (Vec<u8>, String, String, u32) {
        (prefix, from, to, epoch)
    }
}

fn status() -> impl Strategy<Value = MoveStatus> {
    prop_oneof![
        Just(MoveStatus::InFlight),
        Just(MoveStatus::Committed),
        Just(MoveStatus::Aborted),
    ]
}

proptest! {
    #[test]
    fn any_request_round_trips(
        (prefix, from, to, epoch) in move_fields(),
        bulk in proptest::collection::vec(any::<u8>(), 0..64),
        status in status(),
        kind in 0..6u8,
    ) {
        let id = MoveId { prefix: &prefix, from: &from, to: &to, epoch: Epoch::new(epoch) };
        let request = match kind {
            0 => PeerRequest::Ingest { id, bulk: &bulk },
            1 => PeerRequest::Outcome(id),
            2 => PeerRequest::Epoch,
            3 => PeerRequest::Fence { from: &from, epoch: Epoch::new(epoch) },
            4 => PeerRequest::Recheck(id),
            _ => PeerRequest::News {
                news: Announcement { id, status },
                sender_epoch: Epoch::new(epoch / 2),
            },
        };
        let args = args(&request);
        prop_assert_eq!(decode(&args), Ok(request));
        let bytes = encoded(&request);
        prop_assert_eq!(bytes.len(), request.encoded_len());
        if let PeerRequest::Ingest { bulk, .. } = request {
            let mut streamed = vec![0u8; bytes.len()];
            let len = PeerRequest::encode_ingest_header(&id, bulk.len(), &mut streamed).unwrap();
            prop_assert_eq!(&bytes[..len], &streamed[..len]);
            let mut tail = bulk.to_vec();
            tail.extend_from_slice(b"\r\n");
            prop_assert_eq!(&bytes[len..], &tail[..]);
        }
    }

    #[test]
    fn any_reply_round_trips(
        kind in 0..6u8,
        n in any::<u32>(),
        code in 0..8usize,
        reason in "[ -~é]{0,40}",
    ) {
        let codes = [
            Refusal::Stale, Refusal::SenderNotOwner, Refusal::WrongTarget,
            Refusal::NotInFlight, Refusal::Quarantined, Refusal::Full,
            Refusal::NotOwner, Refusal::Other,
        ];
        let reply = match kind {
            0 => PeerReply::Ingested { keys: n },
            1 => PeerReply::Learned,
            2 => PeerReply::Outcome(Outcome::Committed),
            3 => PeerReply::Outcome(Outcome::Aborted { fence: Epoch::new(n) }),
            4 => PeerReply::Epoch(Epoch::new(n)),
            _ => PeerReply::Refused { code: codes[code], reason: &reason },
        };
        let bytes = encoded_reply(&reply);
        prop_assert_eq!(PeerReply::decode(&bytes), Ok(reply));
    }

    #[test]
    fn any_argument_list_decodes_or_is_refused(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..8),
        verb in 0..7usize,
    ) {
        let verbs: [&[u8]; 7] = [
            b"MOVE-SCOPE-INGEST", b"MOVE-SCOPE-OUTCOME", b"MOVE-SCOPE-NEWS",
            b"MOVE-SCOPE-EPOCH", b"MOVE-SCOPE-FENCE", b"MOVE-SCOPE-RECHECK", b"X",
        ];
        let mut all = vec![verbs[verb].to_vec()];
        all.extend(args);
        if let Ok(request) = decode(&all) {
            let again = self::args(&request);
            prop_assert_eq!(decode(&again), Ok(request));
        }
    }
}

/// One news, owned: the move's fields (prefix, from, to, epoch) and its
/// status.
type NewsFields = ((Vec<u8>, String, String, u32), MoveStatus);

/// Any list of news, owned.
fn news_fields() -> impl Strategy<Value = Vec<NewsFields>> {
    proptest::collection::vec((move_fields(), status()), 0..8)
}

fn announcements(fields: &[NewsFields]) -> Vec<Announcement<'_>> {
    fields
        .iter()
        .map(|((prefix, from, to, epoch), status)| Announcement {
            id: MoveId {
                prefix,
                from,
                to,
                epoch: Epoch::new(*epoch),
            },
            status: *status,
        })
        .collect()
}

/// What a decoder must hold to on any bytes: no panic; a list that
/// decodes encodes to a list of the same news; a refusal other than
/// "incomplete" stays whatever follows.
fn decodes_or_is_refused(bytes: &[u8], tail: &[u8]) -> Result<(), TestCaseError> {
    match NewsList::decode(bytes) {
        Ok((list, used)) => {
            prop_assert!(used <= bytes.len());
            prop_assert_eq!(list.as_bytes(), &bytes[..used]);
            let news: Vec<_> = list.iter().collect();
            prop_assert_eq!(news.len(), list.len());
            let again = encoded_news(&news);
            let (list, used) = NewsList::decode(&again).unwrap();
            prop_assert_eq!(used, again.len());
            prop_assert!(list.iter().eq(news.iter().copied()));
        }
        Err(PeerWireError::Incomplete) => {}
        Err(error) => {
            let more = [bytes, tail].concat();
            prop_assert_eq!(NewsList::decode(&more), Err(error));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_news_list_round_trips(fields in news_fields(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let news = announcements(&fields);
        let bytes = encoded_news(&news);
        prop_assert_eq!(bytes.len(), news_len(news.iter().copied()));
        let (list, used) = NewsList::decode(&bytes).unwrap();
        prop_assert_eq!((used, list.len()), (bytes.len(), news.len()));
        prop_assert!(list.iter().eq(news.iter().copied()));
        for cut in 0..bytes.len() {
            prop_assert_eq!(NewsList::decode(&bytes[..cut]), Err(PeerWireError::Incomplete));
        }
        let more = [&bytes[..], &tail].concat();
        prop_assert_eq!(NewsList::decode(&more).map(|(_, used)| used), Ok(bytes.len()));
    }

    #[test]
    fn any_bytes_decode_as_news_or_are_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        decodes_or_is_refused(&bytes, &tail)?;
        // With a list's opening, to get past the first byte.
        decodes_or_is_refused(&[&b"*1\r\n*5\r\n$"[..], &bytes].concat(), &tail)?;
    }

    #[test]
    fn a_list_with_a_byte_changed_decodes_or_is_refused(
        fields in news_fields(),
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<proptest::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = encoded_news(&announcements(&fields));
        let at = at.index(bytes.len());
        bytes[at] = byte;
        decodes_or_is_refused(&bytes, &tail)?;
        let cut = cut.index(bytes.len() + 1);
        decodes_or_is_refused(&bytes[..cut], &tail)?;
    }
}
