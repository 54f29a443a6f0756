//! The node-to-node wire on arbitrary bytes: no panic, and whatever
//! decodes encodes to bytes that decode to the same message.
//!
//! The first byte picks the decoder. Even: a request, its arguments the
//! rest split at 0xFF bytes (ids and epochs never hold one; prefixes and
//! keys may, so some arguments never reach the decoder whole: the
//! proptests cover those). Odd: a reply line, the rest as it is.
#![no_main]

use kevy_scope::{PeerReply, PeerRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
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
        }
    } else {
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
});
