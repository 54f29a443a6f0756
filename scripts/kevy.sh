#!/usr/bin/env bash
# The published kevy 1.32.0 server, built on this crate's compat module
# with no edit to its sources, and its own tests run.
#
#   bash scripts/kevy.sh
#
# 1. fetch: a throwaway cargo project depending on kevy = "=1.32.0" has
#    cargo download the published source from the registry; `cargo
#    metadata` says where cargo unpacked it.
# 2. copy: that source is copied to the work dir (once; it is read-only
#    in cargo's registry cache), and its Cargo.toml gets, after the
#    published text, a `[patch.crates-io]` pointing kevy-scope at
#    compat/kevy-shim (kevy-scope 1.32.0's name and version, served by
#    `kevy_scope::compat`) and an empty `[workspace]`. Nothing else of
#    kevy's changes; its Cargo.lock pins the versions it was published
#    with.
# 3. build and test: `cargo test --lib` and the scope and cluster
#    integration tests that kevy 1.32.0 ships, each timed, with their
#    pass counts. The tests bind ephemeral ports on 127.0.0.1 and need no
#    other tools.
#
# With --native: kevy's scope integration and MOVE-SCOPE handlers are
# replaced by this crate's native API and move driver
# (compat/kevy-native.patch, applied with `patch -p1` to the copy, which
# lives in its own work dir), kevy-scope is compat/kevy-native-shim (this
# crate under kevy-scope 1.32.0's name), and after kevy's own tests the
# end-to-end test compat/kevy-native-e2e runs three patched kevy
# processes while prefixes move.
#
# Work dir: $KEVY_WORK (relative to the repository's root), else
# kevy-1.32.0 under this crate's target dir (CARGO_TARGET_DIR when set,
# else target/). The copy and its target dir
# (<work>/target) stay there between runs: a second run rebuilds only
# what changed in this crate.
set -euo pipefail
cd "$(dirname "$0")/.."

KEVY_VERSION=1.32.0
REPO=$(pwd -P)
NATIVE=
case "${1:-}" in
--native) NATIVE=1 ;;
"") ;;
*)
    echo "usage: bash scripts/kevy.sh [--native]" >&2
    exit 2
    ;;
esac
if [ -n "$NATIVE" ]; then
    SHIM="$REPO/compat/kevy-native-shim"
    PATCH="$REPO/compat/kevy-native.patch"
else
    SHIM="$REPO/compat/kevy-shim"
fi
# kevy's own test targets to run, besides --lib: those that exercise
# kevy-scope (the MISDIRECTED replies, MOVE-SCOPE) and the cluster ports.
KEVY_TESTS=(scope_misdirected_e2e scope_move_e2e cluster)

step() { printf '\n==> %s\n' "$*"; }

# Prints a command, then runs it.
run() {
    printf '+ %s\n' "$*"
    "$@"
}

now() { date +%s.%N; }

# since T: the seconds since T (a `now` reading), to a tenth.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Where cargo puts this crate's builds (CARGO_TARGET_DIR, a config's
# build.target-dir, or target/).
target_dir() {
    cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' |
        cut -d'"' -f4
}

WORK=${KEVY_WORK:-$(target_dir)/kevy-$KEVY_VERSION${NATIVE:+-native}}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
FETCH="$WORK/fetch"
COPY="$WORK/kevy"
# kevy's builds, apart from this crate's.
export CARGO_TARGET_DIR="$WORK/target"

SUMMARY=()
FAILED=()
# note PART SECONDS [DETAIL]: one line of the closing summary.
note() { SUMMARY+=("$(printf '%-26s %7s s  %s' "$1" "$2" "${3:-}")"); }

fetch() {
    step "fetch kevy $KEVY_VERSION from the registry (throwaway project in $FETCH)"
    local t0
    t0=$(now)
    mkdir -p "$FETCH/src"
    cat >"$FETCH/Cargo.toml" <<EOF
# Written by scripts/kevy.sh: only here so cargo fetches kevy's source.
[package]
name = "kevy-fetch"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
kevy = "=$KEVY_VERSION"
EOF
    : >"$FETCH/src/lib.rs"
    (cd "$FETCH" && run cargo fetch)
    local manifest
    manifest=$(cd "$FETCH" && cargo metadata --format-version 1 |
        grep -o "\"manifest_path\":\"[^\"]*/kevy-$KEVY_VERSION/Cargo.toml\"" | cut -d'"' -f4 |
        head -n 1)
    [ -n "$manifest" ] || {
        echo "cargo metadata names no kevy $KEVY_VERSION package" >&2
        return 1
    }
    SOURCE=$(dirname "$manifest")
    echo "kevy $KEVY_VERSION's published source: $SOURCE"
    note fetch "$(since "$t0")"
}

# The published Cargo.toml with the patch and a workspace of its own.
patched_manifest() {
    cat "$SOURCE/Cargo.toml"
    cat <<EOF

# Added by scripts/kevy.sh (not published with kevy): kevy-scope is this
# repository's compat module, under kevy-scope 1.32.0's name and version.
[patch.crates-io]
kevy-scope = { path = "$SHIM" }

# A workspace of its own, whatever directory holds the copy.
[workspace]
EOF
}

copy() {
    step "copy the source to $COPY and patch kevy-scope to $SHIM"
    local t0
    t0=$(now)
    local origin="$SOURCE"
    if [ -n "$NATIVE" ]; then
        origin="$SOURCE + $(cksum <"$PATCH")"
    fi
    if [ "$(cat "$WORK/kevy.source" 2>/dev/null)" != "$origin" ] || [ ! -d "$COPY/src" ]; then
        run rm -rf "$COPY"
        mkdir -p "$COPY"
        # Timestamps kept: cargo sees an unchanged kevy on later runs.
        run cp -a "$SOURCE/." "$COPY/"
        chmod -R u+w "$COPY"
        if [ -n "$NATIVE" ]; then
            (cd "$COPY" && run patch -p1 --quiet <"$PATCH")
        fi
        printf '%s\n' "$origin" >"$WORK/kevy.source"
    else
        echo "copy up to date (from $SOURCE)"
    fi
    if grep -q '^\[patch\|^\[workspace\]' "$SOURCE/Cargo.toml"; then
        echo "kevy's published Cargo.toml has its own [patch] or [workspace]: not handled" >&2
        return 1
    fi
    # Written only when it changes, so that an unchanged copy is not
    # rebuilt.
    if ! patched_manifest | cmp -s - "$COPY/Cargo.toml"; then
        echo "writing [patch.crates-io] and [workspace] after kevy's Cargo.toml"
        patched_manifest >"$COPY/Cargo.toml"
    fi
    echo "what kevy's Cargo.toml gets after the published text:"
    # (diff exits 1 on a difference, which is the point here.)
    { diff "$SOURCE/Cargo.toml" "$COPY/Cargo.toml" || true; } | sed -n 's/^> /    /p'
    if [ -n "$NATIVE" ]; then
        echo "kevy's sources the native patch changes ($(grep -c '^[-+][^-+]' "$PATCH") lines added or removed):"
        { diff -r -q -x Cargo.toml -x Cargo.lock -x '*.orig' "$SOURCE" "$COPY" || true; } | sed 's/^/    /'
    else
        echo "kevy's sources as published (the Cargo.toml aside):"
        run diff -r -q -x Cargo.toml -x Cargo.lock "$SOURCE" "$COPY"
    fi
    note "copy and patch" "$(since "$t0")"
}

# The test targets of KEVY_TESTS that kevy declares.
declared_tests() {
    local name
    for name in "${KEVY_TESTS[@]}"; do
        if grep -A2 '^\[\[test\]\]' "$COPY/Cargo.toml" | grep -qx "name = \"$name\""; then
            echo "$name"
        else
            echo "kevy $KEVY_VERSION declares no test '$name': skipped" >&2
        fi
    done
}

build() {
    step "build kevy $KEVY_VERSION and its tests against the compat module"
    local t0 args=() name
    t0=$(now)
    for name in "${TESTS[@]}"; do
        args+=(--test "$name")
    done
    (cd "$COPY" && run cargo test --no-run --lib "${args[@]}")
    # The patch took: kevy-scope 1.32.0 in the build is the shim, and
    # the registry's kevy-scope is not in the graph at all.
    local meta
    meta=$(cd "$COPY" && cargo metadata --format-version 1)
    grep -qF "\"manifest_path\":\"$SHIM/Cargo.toml\"" <<<"$meta" || {
        echo "the patch was not used: kevy-scope is not $SHIM" >&2
        return 1
    }
    if grep -q '"manifest_path":"[^"]*/kevy-scope-[0-9][^"/]*/Cargo.toml"' <<<"$meta"; then
        echo "a registry kevy-scope is still in kevy's graph" >&2
        return 1
    fi
    echo "kevy-scope in kevy's graph: $SHIM, and this crate, by path"
    note build "$(since "$t0")"
}

# test PART CARGO-TEST-ARGS...: runs one test target, counts its results.
test_part() {
    local part=$1 t0 log status=0
    shift
    step "kevy's tests: $part"
    t0=$(now)
    log="$WORK/$part.log"
    (cd "$COPY" && run cargo test "$@") 2>&1 | tee "$log" || status=$?
    local passed failed
    passed=$(grep -o '^test result: .* [0-9]* passed' "$log" | awk '{ s += $(NF - 1) } END { print s + 0 }')
    failed=$(grep '^test result: ' "$log" | grep -o '[0-9]* failed' | awk '{ s += $1 } END { print s + 0 }')
    if [ "$status" != 0 ]; then
        FAILED+=("$part")
        note "$part" "$(since "$t0")" "FAILED (exit $status): $passed passed, $failed failed"
    else
        note "$part" "$(since "$t0")" "$passed passed, $failed failed"
    fi
}

T0=$(now)
fetch
copy
mapfile -t TESTS < <(declared_tests)
build
test_part lib --lib
for name in "${TESTS[@]}"; do
    test_part "$name" --test "$name"
done

if [ -n "$NATIVE" ]; then
    step "three patched kevy processes while prefixes move (compat/kevy-native-e2e)"
    t0=$(now)
    status=0
    (cd "$COPY" && run cargo build --release --bin kevy) || status=$?
    log="$WORK/e2e.log"
    if [ "$status" = 0 ]; then
        (cd "$REPO/compat/kevy-native-e2e" && KEVY_BIN="$CARGO_TARGET_DIR/release/kevy" \
            CARGO_TARGET_DIR="$WORK/e2e-target" run cargo test --release -- --nocapture) 2>&1 |
            tee "$log" || status=$?
    fi
    if [ "$status" = 0 ]; then
        note e2e "$(since "$t0")" "$(grep -o 'keys per acceptor.*' "$log" | head -n 1)"
    else
        FAILED+=(e2e)
        note e2e "$(since "$t0")" "FAILED (exit $status)"
    fi
fi

if [ -n "$NATIVE" ]; then
    step "kevy $KEVY_VERSION on this crate's native API (work dir $WORK)"
else
    step "kevy $KEVY_VERSION on kevy_scope::compat (work dir $WORK)"
fi
printf '%s\n' "${SUMMARY[@]}"
printf '%-26s %7s s\n' total "$(since "$T0")"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "failed: ${FAILED[*]}" >&2
    exit 1
fi
