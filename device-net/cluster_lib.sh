# Sourced by cluster.sh and live.sh (from device-net/): the three-node
# cluster's set-up. embed-billing-1 (the firmware, on QEMU virt) with two
# std example nodes (node/, kevy-node): server-eu-1 on 127.0.0.1:7001 and
# embed-auth-1 on 127.0.0.1:7002, the MCU on 127.0.0.1:MCU_PORT
# (forwarded to the guest's 6379). One table for all three:
#
#   app:billing: -> embed-billing-1 (fallback server-eu-1)
#   app:auth:    -> embed-auth-1
#
#   cluster_preflight; cluster_build; cluster_init DIR;
#   trap cluster_stop EXIT; cluster_start   (the std nodes, then the MCU)
# then check/check_re/cli/admin/mis; start_mcu boots QEMU again (after a
# kill -9 "$QEMU_PID"); cluster_stop stops everything this shell started
# and the QEMU named in $DIR/qemu.pid (another process may have booted it).

MCU_PORT=${MCU_PORT:-16380}
# The std nodes' ports are the firmware's (src/main.rs, PEER_PORTS).
P1=7001
P2=7002
MCU=$MCU_PORT
TARGET=riscv32imac-unknown-none-elf
ELF=$PWD/target/$TARGET/release/embed-billing-net
DIR=target/cluster
FLASH=$DIR/pflash1.img
SCOPES="app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1"
PEERS="embed-billing-1@127.0.0.1:$MCU_PORT, server-eu-1@127.0.0.1:$P1, embed-auth-1@127.0.0.1:$P2"

step() { printf '\n==> %s\n' "$*"; }

# Free ports, QEMU and redis-cli installed.
cluster_preflight() {
    local port
    for port in "$MCU_PORT" "$P1" "$P2"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "port $port is in use" >&2
            exit 1
        fi
    done
    command -v qemu-system-riscv32 >/dev/null && command -v redis-cli >/dev/null ||
        bash ../scripts/apt_install.sh qemu-system-misc redis-tools
}

# kevy-node (node/, release) and the firmware; sets NODE_BIN.
cluster_build() {
    step "build: kevy-node (node/, release) and the firmware"
    (cd ../node && cargo build --release -q --bin kevy-node)
    NODE_BIN=$(cd ../node && cargo metadata --format-version 1 --no-deps |
        grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)/release/kevy-node
    cargo build --release -q --bin embed-billing-net
}

# A fresh cluster directory (its absolute path in DIR): the passwords, the
# std nodes' configs, the MCU's 32 MiB flash with its config block, and
# $DIR/qemu.sh, which boots the MCU (argument: the boot's name, for its
# UART log uart.NAME.log) and writes its pid to $DIR/qemu.pid.
cluster_init() { # dir
    rm -rf "$1"
    mkdir -p "$1"
    DIR=$(cd "$1" && pwd)
    FLASH=$DIR/pflash1.img
    secret() { (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$1"); }
    secret "$DIR/cluster.pass"
    secret "$DIR/admin.pass"
    CLUSTER_PASS=$(cat "$DIR/cluster.pass")
    ADMIN_PASS=$(cat "$DIR/admin.pass")
    # QEMU virt's pflash bank 1 is 32 MiB; the config block (the two
    # passwords) at offset 0, the image slots after it (src/flash.rs).
    truncate -s 32M "$FLASH"
    printf 'KEVY1 %s %s\n' "$CLUSTER_PASS" "$ADMIN_PASS" | dd of="$FLASH" conv=notrunc status=none
    local id
    for id in server-eu-1 embed-auth-1; do
        cat >"$DIR/$id.toml" <<EOF
[server]
threads = 2
data_dir = "$DIR/$id"

[cluster]
node_id = "$id"
scopes = "$SCOPES"
peers = "$PEERS"

[auth]
cluster_password_file = "$DIR/cluster.pass"
admin_password_file = "$DIR/admin.pass"
EOF
    done
    local cpu="rv32,f=off,d=off" probe status
    probe=$(timeout 1 qemu-system-riscv32 -machine virt -bios none -cpu "$cpu,zfa=off" \
        -display none -monitor none -serial none -S 2>&1 </dev/null) && status=0 || status=$?
    if [ "$status" = 124 ] || ! grep -q "not found" <<<"$probe"; then
        cpu+=",zfa=off"
    fi
    cat >"$DIR/qemu.sh" <<EOF
#!/usr/bin/env bash
# Boots the MCU on $FLASH: bash qemu.sh NAME (UART log uart.NAME.log).
echo \$\$ >"$DIR/qemu.pid"
exec qemu-system-riscv32 -machine virt -bios none -cpu "$cpu" -m 128M \\
    -display none -monitor none -serial "file:$DIR/uart.\${1:-0}.log" \\
    -drive "if=pflash,format=raw,unit=1,file=$FLASH" \\
    -global virtio-mmio.force-legacy=false \\
    -device virtio-net-device,netdev=n0 \\
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$MCU_PORT-:6379" \\
    -kernel "$ELF" </dev/null
EOF
    boot=0
}

pids=()
QEMU_PID=
# Stops QEMU and the std nodes this shell started (and a QEMU another
# process restarted through $DIR/qemu.sh).
cluster_stop() {
    local p
    if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
    if [ -f "$DIR/qemu.pid" ]; then
        p=$(cat "$DIR/qemu.pid")
        # Only while that pid is still a QEMU (the file may be stale).
        if [ -n "$p" ] && [ "$p" != "$QEMU_PID" ] &&
            [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == qemu-system-* ]]; then
            kill "$p" 2>/dev/null || true
        fi
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${pids[@]}" $QEMU_PID 2>/dev/null || true
    pids=()
    QEMU_PID=
    rm -f "$DIR/qemu.pid"
    return 0
}

cluster_start_std() {
    step "two std nodes: server-eu-1 :$P1, embed-auth-1 :$P2"
    local id
    for id in server-eu-1 embed-auth-1; do
        "$NODE_BIN" --config "$DIR/$id.toml" >"$DIR/$id.log" 2>&1 &
        pids+=($!)
    done
}

boot=0
start_mcu() {
    boot=$((boot + 1))
    bash "$DIR/qemu.sh" "$boot" &
    QEMU_PID=$!
}
wait_up() { # port
    for _ in $(seq 60); do
        [ "$(timeout 2 redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.5
    done
    echo "nothing answers on port $1" >&2
    return 1
}
cluster_start() {
    cluster_start_std
    step "the MCU: QEMU virt, pflash unit 1 = $FLASH, 127.0.0.1:$MCU_PORT -> guest 6379"
    start_mcu
    wait_up "$P1"
    wait_up "$P2"
    wait_up "$MCU_PORT"
}

failures=0
check() { # name, expected, got
    if [ "$2" = "$3" ]; then
        printf 'ok    %-60s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-60s got %q, want %q\n' "$1" "$3" "$2"
        failures=$((failures + 1))
    fi
}
check_re() { # name, extended regex, got
    if [[ "$3" =~ ^$2$ ]]; then
        printf 'ok    %-60s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-60s got %q, want /%s/\n' "$1" "$3" "$2"
        failures=$((failures + 1))
    fi
}
cli() { # port, args...
    local port=$1
    shift
    timeout 20 redis-cli -p "$port" "$@" 2>&1 || true
}
admin() { # port, args...
    local port=$1
    shift
    timeout 20 redis-cli --user admin --pass "$ADMIN_PASS" --no-auth-warning -p "$port" "$@" 2>&1 || true
}
mis() { echo "MISDIRECTED writer is 127.0.0.1:$1"; }
