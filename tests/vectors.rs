//! The shared test vectors, run on the host (the device suites run the
//! same module under QEMU).

use kevy_scope_support::vectors;

#[test]
fn shared_vectors_pass_on_the_host() {
    let mut suites = Vec::new();
    let total = vectors::run_all(|name, passed| suites.push((name, passed)))
        .unwrap_or_else(|f| panic!("vector failed: {f:?}"));
    println!("{suites:?}");
    assert_eq!(suites.len(), 7);
    assert!(suites.iter().all(|(_, passed)| *passed > 0), "{suites:?}");
    assert!(total >= 100, "only {total} checks ran");
}
