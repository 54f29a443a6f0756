#!/usr/bin/env bash
# The UART node as a move's target: two std example nodes (node/,
# kevy-node) and the MCU, one table for all three:
#
#   app:billing: -> embed-billing-1 (the MCU; fallback server-eu-1)
#   app:auth:    -> embed-auth-1
#
# server-eu-1 on 127.0.0.1:7001, embed-auth-1 on 127.0.0.1:7002 (the
# firmware's redirect addresses), the MCU on the first free port from
# 16440 (UART0 as a TCP socket). Then, as admin on embed-auth-1,
# MOVE-SCOPE app:auth: FROM embed-auth-1 TO embed-billing-1: the std
# node's driver calls the MCU over its UART (one connection per call:
# AUTH cluster <password>, the command, one reply), ships the keys,
# commits and announces the news. Checks, with redis-cli: the owner and
# the redirects before and after, the keys on the MCU, and the MCU after
# a kill -9 and a boot on its flash file. Exits 0 only when all matched.
set -euo pipefail
cd "$(dirname "$0")"

TARGET=thumbv7m-none-eabi
ELF=$PWD/target/$TARGET/release/embed-billing-uart
DIR=$PWD/target/cluster
P1=7001
P2=7002

step() { printf '\n==> %s\n' "$*"; }

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ ${#missing[@]} -eq 0 ] || bash ../scripts/apt_install.sh "${missing[@]}"

step "build: kevy-node (node/, release) and the firmware"
(cd ../node && cargo build --release -q --bin kevy-node)
NODE_BIN=$(cd ../node && cargo metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)/release/kevy-node
cargo build --release -q --bin embed-billing-uart

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $P1 $P2; do
    port_free "$port" || { echo "port $port is in use (another cluster?)" >&2; exit 1; }
done
MCU=${MCU_PORT:-16440}
for _ in $(seq 100); do
    port_free "$MCU" && break
    MCU=$((MCU + 1))
done

rm -rf "$DIR"
mkdir -p "$DIR"
CLUSTER_PASS=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ADMIN_PASS=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s' "$CLUSTER_PASS" >"$DIR/cluster.pass" && printf '%s' "$ADMIN_PASS" >"$DIR/admin.pass")
FLASH=$DIR/flash.bin
head -c 20480 /dev/zero >"$FLASH"
printf 'KEVY1 %s %s\n' "$CLUSTER_PASS" "$ADMIN_PASS" | dd of="$FLASH" conv=notrunc status=none
SCOPES="app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1"
PEERS="embed-billing-1@127.0.0.1:$MCU, server-eu-1@127.0.0.1:$P1, embed-auth-1@127.0.0.1:$P2"
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

# The tcp chardev's options as this QEMU spells them (as run.sh).
SERIAL=
for opts in server=on,wait=off,nodelay=on server,nowait,nodelay; do
    status=0
    timeout 2 qemu-system-arm -machine lm3s6965evb -cpu cortex-m3 -display none -monitor none \
        -serial "tcp:127.0.0.1:$MCU,$opts" -kernel "$ELF" -S >/dev/null 2>&1 </dev/null || status=$?
    if [ "$status" = 124 ]; then
        SERIAL="tcp:127.0.0.1:$MCU,$opts"
        break
    fi
done
[ -n "$SERIAL" ] || { echo "this QEMU takes no tcp server chardev on UART0" >&2; exit 1; }

pids=()
QEMU_PID=
boot=0
start_mcu() {
    boot=$((boot + 1))
    qemu-system-arm -machine lm3s6965evb -cpu cortex-m3 -display none -monitor none \
        -semihosting-config enable=on,target=native \
        -serial "$SERIAL" -serial "file:$DIR/uart1.$boot.log" \
        -kernel "$ELF" -append "port=$MCU flash=$FLASH" >"$DIR/qemu.$boot.out" 2>&1 &
    QEMU_PID=$!
}
stop_all() {
    [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${pids[@]}" $QEMU_PID 2>/dev/null || true
    pids=()
    QEMU_PID=
}
trap stop_all EXIT
wait_up() { # port
    for _ in $(seq 60); do
        [ "$(timeout 2 redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.5
    done
    echo "nothing answers on port $1" >&2
    return 1
}

step "server-eu-1 :$P1, embed-auth-1 :$P2, the MCU :$MCU (-serial $SERIAL)"
for id in server-eu-1 embed-auth-1; do
    "$NODE_BIN" --config "$DIR/$id.toml" >"$DIR/$id.log" 2>&1 &
    pids+=($!)
done
start_mcu
wait_up $P1
wait_up $P2
wait_up "$MCU"
for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a std node did not start: $DIR/*.log" >&2; exit 1; }
done

failures=0
check() { # name, expected, got
    if [ "$2" = "$3" ]; then
        printf 'ok    %-58s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-58s got %q, want %q\n' "$1" "$3" "$2"
        failures=$((failures + 1))
    fi
}
# check_soon NAME WANT COMMAND...: retried for 5 s while news spreads.
check_soon() {
    local name=$1 want=$2 got
    shift 2
    for _ in $(seq 20); do
        got=$("$@")
        [ "$got" = "$want" ] && break
        sleep 0.25
    done
    check "$name" "$want" "$got"
}
cli() { # port, args...
    local port=$1
    shift
    timeout 20 redis-cli -p "$port" "$@" 2>&1 || true
}
admin() { # port, args...
    local port=$1
    shift
    timeout 30 redis-cli --user admin --pass "$ADMIN_PASS" --no-auth-warning -p "$port" "$@" 2>&1 || true
}
mis() { echo "MISDIRECTED writer is 127.0.0.1:$1"; }

step "before: app:auth: is embed-auth-1's"
check "auth-1 SET app:auth:1 a1" OK "$(cli $P2 SET app:auth:1 a1)"
check "auth-1 SET app:auth:2 a2" OK "$(cli $P2 SET app:auth:2 a2)"
check "MCU    SET app:auth:1 x" "$(mis $P2)" "$(cli "$MCU" SET app:auth:1 x)"
check "eu-1   SET app:auth:1 x" "$(mis $P2)" "$(cli $P1 SET app:auth:1 x)"
check "MCU    SET app:billing:1 b1" OK "$(cli "$MCU" SET app:billing:1 b1)"

step "MOVE-SCOPE app:auth: FROM embed-auth-1 TO embed-billing-1 (admin on embed-auth-1)"
check "auth-1 MOVE-SCOPE app:auth: FROM embed-auth-1 TO embed-billing-1" "OK 2" \
    "$(admin $P2 MOVE-SCOPE app:auth: FROM embed-auth-1 TO embed-billing-1)"
check "MCU    GET app:auth:1 (shipped)" a1 "$(cli "$MCU" GET app:auth:1)"
check "MCU    GET app:auth:2 (shipped)" a2 "$(cli "$MCU" GET app:auth:2)"
check "MCU    SET app:auth:3 a3" OK "$(cli "$MCU" SET app:auth:3 a3)"
check "auth-1 SET app:auth:1 z" "$(mis "$MCU")" "$(cli $P2 SET app:auth:1 z)"
check_soon "eu-1   SET app:auth:1 z" "$(mis "$MCU")" cli $P1 SET app:auth:1 z
check "MCU    SET app:billing:2 b2 (still its own)" OK "$(cli "$MCU" SET app:billing:2 b2)"
check "MCU    MOVE-SCOPE-EPOCH, not logged in" \
    "NOPERM User default has no permissions to run the 'move-scope-epoch' command (it needs the cluster user)" \
    "$(cli "$MCU" MOVE-SCOPE-EPOCH)"

step "kill -9 of QEMU, a boot on the same flash file"
kill -9 "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
start_mcu
wait_up "$MCU"
check "MCU    GET app:auth:3 after the restart" a3 "$(cli "$MCU" GET app:auth:3)"
check "MCU    SET app:auth:4 a4 (the scope is still its own)" OK "$(cli "$MCU" SET app:auth:4 a4)"
check "auth-1 SET app:auth:4 z" "$(mis "$MCU")" "$(cli $P2 SET app:auth:4 z)"

step "the MCU's UART1 logs"
for f in "$DIR"/uart1.*.log; do
    echo "--- $f"
    cat "$f"
done
step "embed-auth-1's log (last 15 lines)"
tail -n 15 "$DIR/embed-auth-1.log"

stop_all
trap - EXIT
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
