//! The node-to-node wire: the bytes every earlier example node sent and
//! answered (literal, as its `cluster/wire.rs` and RESP encoder wrote
//! them), round trips of every message, and each malformed message
//! refused with its own error.

use kevy_scope::{
    Announcement, BufferTooSmall, Epoch, MAX_NODE_ID_LEN, MigrationError, MoveId, MoveStatus,
    NodeIdError, Outcome, PeerReply, PeerRequest, PeerWireError, Refusal,
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
    PeerRequest::News(Announcement { id: ID, status })
}

#[test]
fn requests_are_the_bytes_earlier_nodes_sent() {
    let cases: [(PeerRequest<'_>, &[u8]); 5] = [
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
            b"*6\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$8\r\nINFLIGHT\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
        ),
        (
            news(MoveStatus::Committed),
            b"*6\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$9\r\nCOMMITTED\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
        ),
        (
            news(MoveStatus::Aborted),
            b"*6\r\n$15\r\nMOVE-SCOPE-NEWS\r\n$7\r\nABORTED\r\n$12\r\napp:billing:\r\n$15\r\nembed-billing-1\r\n$11\r\nserver-eu-1\r\n$2\r\n42\r\n",
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
    let cases: [(PeerReply<'_>, &[u8]); 7] = [
        (PeerReply::Ingested { keys: 3 }, b"+OK 3\r\n"),
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
            MigrationError::Stale {
                known: Epoch::new(3),
            },
            "STALE",
        ),
        (MigrationError::SenderNotOwner, "SENDERNOTOWNER"),
        (MigrationError::WrongTarget, "WRONGTARGET"),
        (MigrationError::NotInFlight, "NOTINFLIGHT"),
        (MigrationError::Quarantined, "QUARANTINED"),
        (MigrationError::Full { capacity: 4 }, "FULL"),
        (MigrationError::NotOwner, "NOTOWNER"),
        (MigrationError::SameNode, "ERR"),
        (MigrationError::AlreadyMigrating, "ERR"),
        (MigrationError::EpochExhausted, "ERR"),
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
        news(MoveStatus::InFlight),
        news(MoveStatus::Committed),
        news(MoveStatus::Aborted),
    ];
    for request in requests {
        let args = args(&request);
        assert_eq!(decode(&args), Ok(request));
        assert_eq!(decode(&args).unwrap().id(), &ID);
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
    let lower: [&[u8]; 6] = [b"move-scope-news", b"inflight", b"p:", b"A", b"B", b"1"];
    let PeerRequest::News(news) = PeerRequest::decode(&lower).unwrap() else {
        panic!("news")
    };
    assert_eq!(news.status, MoveStatus::InFlight);
    // Ids and prefixes are bytes, compared exactly: never folded.
    assert_eq!((news.id.prefix, news.id.from), (&b"p:"[..], "A"));
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
            vec![b"MOVE-SCOPE-NEWS", b"p:", b"A", b"B", b"7"],
            PeerWireError::WrongArity {
                expected: 5,
                got: 4,
            },
        ),
        (
            vec![b"MOVE-SCOPE-NEWS", b"DONE", b"p:", b"A", b"B", b"7"],
            PeerWireError::UnknownStatus,
        ),
        (
            vec![b"MOVE-SCOPE-NEWS", b"INFLIGHT ", b"p:", b"A", b"B", b"7"],
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
    let cases: [(&[u8], PeerWireError); 22] = [
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
        kind in 0..3u8,
    ) {
        let id = MoveId { prefix: &prefix, from: &from, to: &to, epoch: Epoch::new(epoch) };
        let request = match kind {
            0 => PeerRequest::Ingest { id, bulk: &bulk },
            1 => PeerRequest::Outcome(id),
            _ => PeerRequest::News(Announcement { id, status }),
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
        kind in 0..5u8,
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
            _ => PeerReply::Refused { code: codes[code], reason: &reason },
        };
        let bytes = encoded_reply(&reply);
        prop_assert_eq!(PeerReply::decode(&bytes), Ok(reply));
    }

    #[test]
    fn any_argument_list_decodes_or_is_refused(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..8),
        verb in 0..4usize,
    ) {
        let verbs: [&[u8]; 4] = [b"MOVE-SCOPE-INGEST", b"MOVE-SCOPE-OUTCOME", b"MOVE-SCOPE-NEWS", b"X"];
        let mut all = vec![verbs[verb].to_vec()];
        all.extend(args);
        if let Ok(request) = decode(&all) {
            let again = self::args(&request);
            prop_assert_eq!(decode(&again), Ok(request));
        }
    }
}
