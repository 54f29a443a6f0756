//! The `peers` parser on arbitrary text: no panic, spans inside the input,
//! and a parsed list renders to text that parses to the same list.
#![no_main]

use kevy_scope::config::PeerTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = core::str::from_utf8(data) else {
        return;
    };
    match PeerTable::<8>::parse(input) {
        Ok(peers) => {
            let rendered = peers.to_string();
            let again = PeerTable::<8>::parse(&rendered).expect("a rendered peer list parses");
            assert_eq!(again, peers);
        }
        Err(e) => assert_eq!(input.get(e.entry.start..e.entry.end), Some(e.text)),
    }
});
