#!/usr/bin/env bash
# The one place that knows the target matrix and what each job runs.
#
#   scripts/run.sh demo   run the writer-node demo
#   scripts/run.sh test   every check: format, lints, docs, host suite,
#                         no_std cross-builds
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

case "${1:-}" in
    demo)
        cargo run --example quickstart
        ;;
    test)
        ensure_rust
        host_suite
        cross_builds
        step "all checks passed"
        ;;
    *)
        echo "usage: $0 demo|test" >&2
        exit 2
        ;;
esac
