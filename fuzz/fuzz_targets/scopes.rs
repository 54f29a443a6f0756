//! The `scopes` parser on arbitrary text: no panic, spans inside the input,
//! and a parsed table renders to text that parses to the same table.
#![no_main]

use kevy_scope::config::parse_scopes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = core::str::from_utf8(data) else {
        return;
    };
    match parse_scopes::<8>(input) {
        Ok(table) => {
            let rendered = table.to_string();
            let again = parse_scopes::<8>(&rendered).expect("a rendered table parses");
            assert_eq!(again.scopes(), table.scopes());
        }
        Err(e) => assert_eq!(input.get(e.entry.start..e.entry.end), Some(e.text)),
    }
});
