//! Table construction on arbitrary scopes: no panic, and a built table
//! routes every probe key to the scope a linear scan finds.
#![no_main]

use kevy_scope::{OwnershipTable, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input on 0xFF into prefixes; the first byte picks ids.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ids = ["w1", "w2", "", "w w", "f1"];
    let scopes: Vec<Scope<'_>> = rest
        .split(|b| *b == 0xFF)
        .enumerate()
        .map(|(i, prefix)| {
            let writer = ids[(pick as usize + i) % ids.len()];
            let s = Scope::new(prefix, writer);
            if pick & 1 == 1 {
                s.with_fallback("f1")
            } else {
                s
            }
        })
        .collect();
    let Ok(table) = OwnershipTable::<16>::try_from_iter(scopes.iter().copied()) else {
        return;
    };
    for scope in &scopes {
        for key in [scope.prefix(), &[scope.prefix(), b"k"].concat()] {
            let linear = scopes
                .iter()
                .filter(|s| s.matches(key))
                .max_by_key(|s| s.prefix().len());
            assert_eq!(
                table.lookup(key).map(|s| s.prefix()),
                linear.map(|s| s.prefix())
            );
        }
    }
});
