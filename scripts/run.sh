#!/usr/bin/env bash
# The one place that knows the target matrix and what each job runs.
#
#   scripts/run.sh demo [target]  the embed-billing-1 firmware under QEMU; without a
#                                 target, then the network writer live in a cluster
#   scripts/run.sh test           every check: format, lints, docs, host
#                                 suite, no_std builds, device suites under
#                                 QEMU, footprint, fuzzing
#   scripts/run.sh footprint      flash, RAM and stack of the firmware
#   scripts/run.sh bench          criterion benches beside the reference,
#                                 the ratio table and instruction counts,
#                                 the example node beside redis-server
#   scripts/run.sh node ...       the example node: scripts/node.sh
#                                 cluster | test | bench
#
# Missing rustup targets and components are installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# target triple -> QEMU binary and board (the memory maps live in
# device/memory/). On RISC-V `virt`, -bios none starts the hart at the
# ELF's entry; the CPU is cut down to the target's extensions (no A on
# riscv32imc: an atomic instruction would trap).
TARGETS=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf
    riscv32imc-unknown-none-elf riscv32imac-unknown-none-elf)
declare -A QEMU_BIN=(
    [thumbv6m-none-eabi]=qemu-system-arm
    [thumbv7m-none-eabi]=qemu-system-arm
    [thumbv7em-none-eabihf]=qemu-system-arm
    [riscv32imc-unknown-none-elf]=qemu-system-riscv32
    [riscv32imac-unknown-none-elf]=qemu-system-riscv32
)
declare -A QEMU_ARGS=(
    [thumbv6m-none-eabi]="-machine microbit"
    [thumbv7m-none-eabi]="-cpu cortex-m3 -machine lm3s6965evb"
    [thumbv7em-none-eabihf]="-cpu cortex-m4 -machine mps2-an386"
    [riscv32imc-unknown-none-elf]="-machine virt -bios none -cpu rv32,a=off,f=off,d=off"
    [riscv32imac-unknown-none-elf]="-machine virt -bios none -cpu rv32,f=off,d=off"
)
# QEMU binary -> the Debian package that ships it
declare -A QEMU_PKG=([qemu-system-arm]=qemu-system-arm [qemu-system-riscv32]=qemu-system-misc)
DEMO_TARGET=thumbv7m-none-eabi
# A 32-bit host: the host index's fields on 32-bit pointers (wasm32 and
# i686 servers build the same code), checked without linking.
HOST32=i686-unknown-linux-gnu
# A QEMU run that takes longer than this has hung.
QEMU_TIMEOUT=120

# A step's heading, with the minutes and seconds since the job started.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# Disk. A CI machine's disk is shared and can be nearly full, so the test
# job writes less (line tables instead of full debug info in dev builds,
# no incremental caches; a caller's own settings win) and, when the free
# space falls under LOW_DISK_MB, removes the builds of the stages it has
# finished. A developer's machine with room keeps them for the next run.
LOW_DISK_MB=${LOW_DISK_MB:-6144}
lean_builds() {
    export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
    export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
}

# MiB free on the file system that will hold DIR (its nearest existing
# parent: a clean clone has no target dir yet).
free_mb() {
    local dir=$1
    until [ -e "$dir" ]; do dir=$(dirname "$dir"); done
    df -Pm "$dir" | awk 'NR == 2 {print $4}'
}

# finished DIR...: the builds of a finished stage, removed when the disk
# runs low; prints what is left free either way.
finished() {
    local root free
    root=$(target_dir .)
    free=$(free_mb "$root")
    if [ "$free" -lt "$LOW_DISK_MB" ]; then
        echo "disk: $free MiB free (under $LOW_DISK_MB): removing finished builds: $*"
        rm -rf "$@"
    fi
    echo "disk: $(free_mb "$root") MiB free"
}

# Where cargo puts the builds of the crate in DIR (CARGO_TARGET_DIR, a
# config's build.target-dir, or DIR/target).
target_dir() {
    (cd "$1" && cargo metadata --format-version 1 --no-deps) |
        grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4
}

ensure_rust() {
    local installed
    installed=$(rustup component list --installed)
    for component in clippy rustfmt; do
        grep -q "^$component" <<<"$installed" || rustup component add "$component"
    done
    installed=$(rustup target list --installed)
    for target in "${TARGETS[@]}" "$HOST32"; do
        grep -qx "$target" <<<"$installed" || rustup target add "$target"
    done
}

host_suite() {
    step "format"
    cargo fmt --all --check
    (cd support && cargo fmt --check)
    for dir in compat/kevy-shim compat/kevy-native-shim compat/kevy-native-e2e device-net device-net/e2e device-uart device-uart/chip e2e-support; do
        (cd "$dir" && cargo fmt --check)
    done
    # --all-targets takes in the benches too: they compile here, and run
    # only in 'scripts/run.sh bench', never asserted.
    step "clippy (all targets, benches included, all features; unwrap/expect/panic/indexing denied in the library)"
    cargo clippy --all-targets --all-features -- -D warnings
    cargo clippy --all-targets --no-default-features -- -D warnings
    # support/ is a path dev-dependency, not a workspace member: linted as
    # its own package.
    CARGO_TARGET_DIR="$(target_dir .)/support" \
        cargo clippy --manifest-path support/Cargo.toml -- -D warnings
    step "docs"
    RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps
    step "host tests (unit, property, differential, simulation, doc)"
    cargo test --all-features
    # The mutants (src/mutants.rs) exist only under --cfg kevy_mutants, a
    # cfg this job sets (never a feature a user could turn on); its own
    # target directory keeps the ordinary builds' cache.
    # The routing paths the firmware ships (bytes::same, the index without
    # its host-only levels, ...) differ from the host's under
    # cfg(target_os = "none"); --cfg kevy_device takes them on the host too.
    step "host tests on the device's search paths (--cfg kevy_device)"
    RUSTFLAGS="--cfg kevy_device" CARGO_TARGET_DIR="$(target_dir .)/device-paths" \
        cargo test --all-features --lib --test differential --test table_model --test moves --test config --test compat_differential
    step "model check of the move protocol, exhaustive, with the mutants it must catch (release; prints the states explored)"
    RUSTFLAGS="--cfg kevy_mutants" CARGO_TARGET_DIR="$(target_dir .)/mutants" \
        cargo test --release --all-features --test protocol_check -- --nocapture
    step "the simulations' mutants (release, --cfg kevy_mutants)"
    RUSTFLAGS="--cfg kevy_mutants" CARGO_TARGET_DIR="$(target_dir .)/mutants" \
        cargo test --release --all-features --test cluster --test driver -- without_ loses_a_guarantee breaks
    step "host tests, default features and none (every test target; feature-gated ones skip)"
    cargo test
    cargo test --no-default-features
}


ensure_device_tools() {
    local bin missing=()
    for bin in $(printf '%s\n' "${QEMU_BIN[@]}" | sort -u); do
        command -v "$bin" >/dev/null || missing+=("${QEMU_PKG[$bin]}")
    done
    [ ${#missing[@]} -eq 0 ] || bash scripts/apt_install.sh "${missing[@]}"
    command -v defmt-print >/dev/null || cargo install --locked defmt-print
    qemu_cpu_flags
}

# The RISC-V CPU options for the QEMU installed. QEMU 8.1 and later add
# extensions to `rv32` that need ones our targets lack (Zawrs needs A,
# Zfa needs F) and refuse to start when A or F is off unless those are
# off too; QEMU 7.2 knows neither property and refuses to be told. So each
# property is asked of the QEMU installed, never inferred from a version,
# and the CPU line it gives is tried before any suite runs.
qemu_cpu_flags() {
    local prop target
    for prop in zawrs zfa; do
        if qemu_knows_cpu_prop "$prop"; then
            for target in riscv32imc-unknown-none-elf riscv32imac-unknown-none-elf; do
                QEMU_ARGS[$target]+=",$prop=off"
            done
        fi
    done
    for target in riscv32imc-unknown-none-elf riscv32imac-unknown-none-elf; do
        qemu_riscv_accepts "$(sed 's/.*-cpu //' <<<"${QEMU_ARGS[$target]}")" || {
            echo "QEMU refuses the CPU of $target (${QEMU_ARGS[$target]}): $QEMU_REFUSAL" >&2
            return 1
        }
    done
}

# Whether rv32 has the property PROP: QEMU says "Property ... not found"
# of one it lacks; any other answer names a property it has.
qemu_knows_cpu_prop() {
    qemu_riscv_accepts "rv32,$1=off" || ! grep -q "not found" <<<"$QEMU_REFUSAL"
}

# Whether qemu-system-riscv32 starts `virt` with the CPU line CPU (held
# stopped, -S, and killed after a second); what it said otherwise is in
# QEMU_REFUSAL.
qemu_riscv_accepts() {
    local status=0
    QEMU_REFUSAL=$(timeout 1 qemu-system-riscv32 -machine virt -bios none -cpu "$1" \
        -display none -monitor none -serial none -S 2>&1 </dev/null) || status=$?
    [ "$status" = 124 ]
}

# The versions of the emulators the device suites run on.
qemu_versions() {
    local bin
    for bin in $(printf '%s\n' "${QEMU_BIN[@]}" | sort -u); do
        printf '%s: %s\n' "$bin" "$("$bin" --version | head -n 1)"
    done
    printf 'RISC-V CPUs: imc "%s", imac "%s"\n' "${QEMU_ARGS[riscv32imc-unknown-none-elf]}" \
        "${QEMU_ARGS[riscv32imac-unknown-none-elf]}"
}

# qemu TARGET BIN [QEMU ARGS...]: builds BIN for TARGET, runs it on the
# target's board (with any extra QEMU arguments) and decodes its defmt log;
# fails on a failed check, a panic or a hang.
qemu() {
    local target=$1 bin=$2 elf
    shift 2
    (cd device && cargo build --release --target "$target" --bin "$bin")
    elf="$(target_dir device)/$target/release/$bin"
    # shellcheck disable=SC2086
    timeout "$QEMU_TIMEOUT" "${QEMU_BIN[$target]}" ${QEMU_ARGS[$target]} "$@" -nographic \
        -semihosting-config enable=on,target=native -kernel "$elf" | defmt-print -e "$elf"
}

device_suites() {
    for target in "${TARGETS[@]}"; do
        step "device suite on $target (QEMU: ${QEMU_ARGS[$target]})"
        qemu "$target" suite
    done
}

# Flash (.text + .rodata + vector table) and static RAM (.data + .bss +
# .uninit) of the firmware, the crate's own symbols, and the stack
# high-water the firmware measures on the device. The probes' flash over
# the baseline is split into the crate's share and the compiler's memory
# routines (memcpy, memclr, memcmp) the probe pulls in, which any firmware
# that moves a large struct links anyway. The image column is what
# encoding and restoring a node's image adds to the routing stack (its
# memory routines apart); the driver column what a host of the move
# Driver adds to that (driver-stack over image-stack), and the wire
# column what the node-to-node wire adds to the driver (wire-stack over
# driver-stack), memory routines apart (dw-mem-fns: theirs, together).
# The firmware's RAM includes the 4 KiB region that stands in for flash
# under QEMU (.uninit).
footprint() {
    step "footprint of the embed-billing-1 firmware (opt-level = \"s\", LTO)"
    printf '%-28s %7s %5s %6s %10s %14s %14s %9s %6s %7s %6s %11s\n' target flash ram stack \
        crate-syms routing-stack with-parsing mem-fns image driver wire dw-mem-fns
    for target in "${TARGETS[@]}"; do
        local elf log flash ram stack syms base dir
        log=$(qemu "$target" embed-billing-1)
        qemu "$target" routing-stack >/dev/null
        qemu "$target" config-stack >/dev/null
        qemu "$target" image-stack >/dev/null
        qemu "$target" driver-stack >/dev/null
        qemu "$target" wire-stack >/dev/null
        (cd device && cargo build -q --release --target "$target" --bin baseline)
        dir="$(target_dir device)/$target/release"
        elf="$dir/embed-billing-1"
        flash=$(flash_of "$elf")
        ram=$(size -A "$elf" | awk '$1 ~ /^\.(data|bss|uninit)$/ {s += $2} END {print s}')
        base=$(flash_of "$dir/baseline")
        local stack_all stack_mem config_all config_mem
        stack_all=$(($(flash_of "$dir/routing-stack") - base))
        stack_mem=$(($(mem_fns_of "$dir/routing-stack") - $(mem_fns_of "$dir/baseline")))
        config_all=$(($(flash_of "$dir/config-stack") - base))
        config_mem=$(($(mem_fns_of "$dir/config-stack") - $(mem_fns_of "$dir/baseline")))
        local image_all image_mem
        image_all=$(($(flash_of "$dir/image-stack") - $(flash_of "$dir/routing-stack")))
        image_mem=$(($(mem_fns_of "$dir/image-stack") - $(mem_fns_of "$dir/routing-stack")))
        local driver wire dw_mem
        driver=$(added_flash "$dir/image-stack" "$dir/driver-stack")
        wire=$(added_flash "$dir/driver-stack" "$dir/wire-stack")
        dw_mem=$(($(mem_fns_of "$dir/wire-stack") - $(mem_fns_of "$dir/image-stack")))
        # Code and read-only data whose symbol names the crate (not what
        # LTO inlined into the firmware's own functions).
        syms=$(nm -C -S --size-sort "$elf" | awk '$3 ~ /^[tTrR]$/' |
            grep -E 'kevy_scope::' | grep -v kevy_scope_device |
            { s=0; while read -r _ size _; do s=$((s + 16#$size)); done; echo "$s"; })
        stack=$(grep -o 'stack high-water [0-9]*' <<<"$log" | awk '{print $3}')
        printf '%-28s %7s %5s %6s %10s %14s %14s %9s %6s %7s %6s %11s\n' "$target" "$flash" \
            "$ram" "$stack" "$syms" "$((stack_all - stack_mem))" "$((config_all - config_mem))" \
            "$config_mem" "$((image_all - image_mem))" "$driver" "$wire" "$dw_mem"
    done
    echo "routing-stack, with-parsing: flash the crate adds to an empty program (mem-fns excluded);"
    echo "mem-fns: flash of the compiler's memory routines the parsing probe adds on top;"
    echo "image: flash that encoding and restoring a node's image adds to routing-stack (mem-fns excluded);"
    echo "driver: flash that a host of the move Driver (recovery, a move, every effect) adds to image-stack;"
    echo "wire: flash that encoding and decoding every peer request and reply and a news list adds to"
    echo "driver-stack (both mem-fns excluded); dw-mem-fns: the memory routines the two add together;"
    echo "ram includes the firmware's 4 KiB RAM-backed flash region under QEMU"
    code_by_part
    instructions_per_verdict
    step "sizes of the public types on ${TARGETS[0]} (bytes)"
    qemu "${TARGETS[0]}" type-sizes | grep -o 'size .*' | cut -d' ' -f2-
}

# Instructions per write verdict on every board: device/src/bin/
# verdict_count.rs reads the board's clock around K verdicts under
# -icount shift=0 (one virtual nanosecond per instruction), subtracts the
# same loop without the verdict, and first checks the method on a loop of
# known length (10 instructions per pass). A benchmark: printed, never
# asserted.
instructions_per_verdict() {
    step "instructions per write verdict (QEMU -icount shift=0; 16 and 256 scopes, 4 move records)"
    printf '%-28s %8s %8s %8s %8s %8s %8s %8s %8s %10s\n' target 16-hit 16-miss 16-moved \
        16-beside 256-hit 256-miss 256-moved 256-beside 'loop (10)'
    for target in "${TARGETS[@]}"; do
        local log
        log=$(qemu "$target" verdict-count -icount shift=0)
        printf '%-28s' "$target"
        for n in 16 256; do
            for case in hit miss moved beside; do
                printf ' %8s' "$(awk -v n="$n" -v c="$case" \
                    '$2 == "count" && $3 == n && $4 == c {print $5}' <<<"$log")"
            done
        done
        printf ' %10s\n' "$(awk '/method:/ {print $(NF - 2)}' <<<"$log")"
    done
    echo "hit: scoped keys in no move record; miss: keys no scope holds; moved: keys under the"
    echo "move records; beside: keys of the records' scopes beside them (us: where they hold eu:)."
    echo "The verdict's call and return are counted, the loop around it is not."
}

# The crate's code in the wire-stack probe (the whole writer stack) and in
# embed-billing-1, by part: every byte of code goes to the crate's source
# file it was written in, inlined or not (scripts/flash_by_source.py reads
# the line table and the inlining). Run after footprint built the probes.
code_by_part() {
    step "the crate's code by part, by the source it was written in (bytes; .rodata apart)"
    if ! command -v python3 >/dev/null; then
        echo "skipped: no python3 on this machine"
        return
    fi
    printf '%-28s %-16s %6s %6s %6s %6s %6s %7s %6s %6s\n' target program table config reply \
        node image driver wire other
    for target in "${TARGETS[@]}"; do
        local dir
        dir="$(target_dir device)/$target/release"
        for bin in wire-stack embed-billing-1; do
            # shellcheck disable=SC2046 # the eight figures, one per column
            printf '%-28s %-16s %6s %6s %6s %6s %6s %7s %6s %6s\n' "$target" "$bin" \
                $(python3 scripts/flash_by_source.py --areas "$dir/$bin")
        done
    done
    echo "table: routing (src/table, lib.rs, bytes.rs); config: the scopes and peers parsers;"
    echo "reply: client replies; node: the Node's records and move steps; image: encode and restore;"
    echo "driver: src/driver.rs; wire: the node-to-node wire (src/wire/peer.rs). Code of core or"
    echo "heapless inlined into a part counts as that part's."
}

# added_flash BEFORE PROBE: the flash ELF file PROBE adds to ELF file
# BEFORE, the compiler's memory routines apart (footprint's driver and
# wire columns).
added_flash() {
    echo $(($(flash_of "$2") - $(flash_of "$1") - ($(mem_fns_of "$2") - $(mem_fns_of "$1"))))
}

# Flash of the compiler's memory routines in an ELF file.
mem_fns_of() {
    nm -C -S "$1" | awk '$3 ~ /^[tT]$/' |
        { grep -E ' (memcpy|memmove|memset|memcmp|bcmp|__aeabi_mem[a-z0-9]*|compiler_builtins::mem::[a-z]+)$' || true; } |
        { s=0; while read -r _ size _; do s=$((s + 16#$size)); done; echo "$s"; }
}

# Flash of an ELF file: code and read-only data (riscv-rt puts its entry
# trampoline in .init.rust; .data's load image is counted as RAM).
flash_of() {
    size -A "$1" | awk '$1 ~ /^\.(vector_table|text|init\.rust|rodata)$/ {s += $2} END {print s}'
}

cross_builds() {
    for target in "${TARGETS[@]}"; do
        step "no_std build for $target"
        cargo build --no-default-features --target "$target"
        cargo build --no-default-features --features defmt --target "$target"
    done
    step "32-bit host check ($HOST32; the footprint assertions included)"
    cargo check --no-default-features --target "$HOST32"
    cargo check --all-features --target "$HOST32"
    # The library's bare-metal branches (target_os = "none") are lint-clean
    # too; one target covers them.
    step "clippy on bare metal (${TARGETS[0]})"
    cargo clippy --no-default-features --features defmt --target "${TARGETS[0]}" -- -D warnings
}

# Each cargo-fuzz target runs this long (seconds) in the test job.
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_TARGETS=(scopes peers table peer_wire)
# The example node's: its request decoder and its peer-reply decoder.
NODE_FUZZ_TARGETS=(request reply)

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
    for target in "${NODE_FUZZ_TARGETS[@]}"; do
        step "fuzz the node's $target decoder for ${FUZZ_SECONDS}s"
        (cd node/fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$FUZZ_SECONDS" 2>&1 | tail -n 2)
    done
}

# Instructions per route, counted by callgrind: R routes minus 0 routes.
instructions() {
    local bin routes=200000
    bin="$(target_dir .)/release/examples/route_instructions"
    cargo build --release --all-features --example route_instructions
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
            grep -o 'Collected : [0-9]*' | awk '{print $3}'
    }
    printf '| case | N | instructions per call |\n| --- | --- | --- |\n'
    for table in reference ours-fixed ours-owned verdict-reference verdict-fixed verdict-owned; do
        for n in 8 4096; do
            local base full
            base=$(count "$table" "$n" 0)
            full=$(count "$table" "$n" "$routes")
            printf '| %s | %s | %s |\n' "$table" "$n" "$(((full - base) / routes))"
        done
    done
}

case "${1:-}" in
    demo)
        ensure_rust
        ensure_device_tools
        step "embed-billing-1 firmware on ${2:-$DEMO_TARGET} under QEMU (the scripted story)"
        qemu "${2:-$DEMO_TARGET}" embed-billing-1
        if [ -z "${2:-}" ]; then
            step "embed-billing-1 on a network, live beside two std nodes (Ctrl-C stops all three)"
            bash device-net/live.sh
        fi
        ;;
    bench)
        step "criterion benches, ours beside kevy-scope 1.32.0 (a few minutes)"
        cargo bench --all-features --benches -- --noplot
        step "ratios (ours / reference, medians)"
        python3 scripts/bench_report.py
        step "instructions per route (callgrind)"
        command -v valgrind >/dev/null || bash scripts/apt_install.sh valgrind
        instructions
        step "example node beside redis-server (node/bench.sh, about 2 minutes)"
        bash scripts/node.sh bench
        ;;
    footprint)
        ensure_rust
        ensure_device_tools
        footprint
        ;;
    test)
        lean_builds
        ensure_rust
        ensure_device_tools
        step "QEMU used by the device suites"
        qemu_versions
        step "disk: $(free_mb "$(target_dir .)") MiB free at the start"
        host_suite
        root=$(target_dir .)
        finished "$root"/{debug,release,device-paths,mutants,support,doc}
        step "example node (node/): three processes, redis-cli, kevy-cluster-rw, kill -9"
        bash scripts/node.sh test
        finished "$(target_dir node)"
        step "kevy 1.32.0's own tests on the compat module (scripts/kevy.sh)"
        bash scripts/kevy.sh
        finished "$root/kevy-1.32.0"
        step "kevy 1.32.0 on the native API (compat/kevy-native.patch): its tests, three processes while prefixes move"
        (cd e2e-support && cargo test -q)
        bash scripts/kevy.sh --native
        finished "$root/kevy-1.32.0-native" "$(target_dir e2e-support)"
        cross_builds
        device_suites
        step "the writer on a network: riscv32imac on QEMU virt, virtio-net, redis-cli (device-net/run.sh)"
        bash device-net/run.sh
        step "the network writer in a cluster with two std example nodes: moves both ways, kill -9, damaged flash (device-net/cluster.sh)"
        bash device-net/cluster.sh
        step "the demo's live cluster, its printed commands run and checked (LIVE_SECONDS=15 device-net/live.sh)"
        LIVE_SECONDS=15 bash device-net/live.sh
        finished "$(target_dir device-net)"
        step "the writer on a Cortex-M3 behind a socket chip on its UART (device-uart/run.sh)"
        bash device-uart/run.sh
        step "the Cortex-M3 writer in a cluster with two std example nodes: moves both ways, kill -9, damaged flash (device-uart/cluster.sh)"
        bash device-uart/cluster.sh
        finished "$(target_dir device-uart)" "$(target_dir device-uart/chip)"
        footprint
        fuzz
        step "all checks passed"
        ;;
    node)
        shift
        bash scripts/node.sh "$@"
        ;;
    *)
        echo "usage: $0 demo [target] | test | footprint | bench | node cluster|test|bench" >&2
        exit 2
        ;;
esac
