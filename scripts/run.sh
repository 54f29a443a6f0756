#!/usr/bin/env bash
# The one place that knows the target matrix and what each job runs.
#
#   scripts/run.sh demo   run the writer-node demo
#   scripts/run.sh test   every check: format, lints, docs, host suite,
#                         no_std cross-builds, fuzzing
#
# Missing rustup targets and components are installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# target triple
TARGETS=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf)

step() { printf '\n==> %s\n' "$*"; }

ensure_rust() {
    local installed
    installed=$(rustup component list --installed)
    for component in clippy rustfmt; do
        grep -q "^$component" <<<"$installed" || rustup component add "$component"
    done
    installed=$(rustup target list --installed)
    for target in "${TARGETS[@]}"; do
        grep -qx "$target" <<<"$installed" || rustup target add "$target"
    done
}

host_suite() {
    step "format"
    cargo fmt --all --check
    step "clippy (all targets, all features; unwrap/expect/panic/indexing denied in the library)"
    cargo clippy --all-targets --all-features -- -D warnings
    cargo clippy --lib --no-default-features -- -D warnings
    step "docs"
    RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps
    step "host tests (unit, property, differential, doc)"
    cargo test --all-features
    cargo test --lib --no-default-features
}

cross_builds() {
    for target in "${TARGETS[@]}"; do
        step "no_std build for $target"
        cargo build --no-default-features --target "$target"
        cargo build --no-default-features --features defmt --target "$target"
    done
}

# Each cargo-fuzz target runs this long (seconds) in the test job.
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_TARGETS=(scopes peers table)

fuzz() {
    if ! rustup toolchain list | grep -q '^nightly'; then
        rustup toolchain install nightly --profile minimal ||
            { echo "no nightly toolchain: cargo-fuzz skipped (the proptest budget covers the parsers)"; return; }
    fi
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
    for target in "${FUZZ_TARGETS[@]}"; do
        step "fuzz $target for ${FUZZ_SECONDS}s"
        (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$FUZZ_SECONDS" 2>&1 | tail -n 2)
    done
}

case "${1:-}" in
    demo)
        cargo run --example quickstart
        ;;
    test)
        ensure_rust
        host_suite
        cross_builds
        fuzz
        step "all checks passed"
        ;;
    *)
        echo "usage: $0 demo|test" >&2
        exit 2
        ;;
esac
