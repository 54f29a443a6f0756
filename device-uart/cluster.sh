#!/usr/bin/env bash
# The UART node in a cluster: two std example nodes (node/, kevy-node)
# and the MCU behind its socket chip (chip/), one table for all three:
#
#   app:billing: -> embed-billing-1 (the MCU; fallback server-eu-1)
#   app:auth:    -> embed-auth-1
#
# server-eu-1 on 127.0.0.1:7001, embed-auth-1 on 127.0.0.1:7002 (the
# firmware's redirect addresses and the peers its driver calls), the
# MCU's chip on the first free port from 16440. Then:
#
#   admin on embed-auth-1: app:auth: to the MCU (the MCU serves the calls)
#   admin on the MCU: app:billing: to server-eu-1 (the MCU's driver calls
#     the peers through the chip's outgoing sockets, ships, announces)
#   admin on server-eu-1: app:billing: back to the MCU
#   admin on the MCU: app:auth: back to embed-auth-1
#   kill -9 of QEMU and the chip, a boot on the same flash file: keys and
#     records back
#   both image slots rotted while the MCU is off: it boots quarantined and
#     recovers from its peers (MOVE-SCOPE-EPOCH and -FENCE to each)
#
# Every check compares an exact reply (redis-cli). Exits 0 only when all
# matched.
set -euo pipefail
cd "$(dirname "$0")"

TARGET=thumbv7m-none-eabi
ELF=$PWD/target/$TARGET/release/embed-billing-uart
HOST=$(rustc -vV | sed -n 's/^host: //p')
CHIP=$PWD/chip/target/$HOST/release/kevy-uart-chip
DIR=$PWD/target/cluster
P1=7001
P2=7002

step() { printf '\n==> %s\n' "$*"; }

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ ${#missing[@]} -eq 0 ] || bash ../scripts/apt_install.sh "${missing[@]}"

step "build: kevy-node (node/, release), the firmware and its chip"
(cd ../node && cargo build --release -q --bin kevy-node)
NODE_BIN=$(cd ../node && cargo metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)/release/kevy-node
cargo build --release -q --bin embed-billing-uart
(cd chip && cargo build --release -q --target "$HOST")

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

pids=()
QEMU_PID=
CHIP_PID=
boot=0
# The chip starts QEMU with UART0 on its stdin and stdout.
start_mcu() {
    boot=$((boot + 1))
    rm -f "$DIR/qemu.pid"
    "$CHIP" --listen "127.0.0.1:$MCU" --pid-file "$DIR/qemu.pid" -- \
        qemu-system-arm -machine lm3s6965evb -cpu cortex-m3 -display none -monitor none \
        -semihosting-config enable=on,target=native \
        -serial stdio -serial "file:$DIR/uart1.$boot.log" \
        -kernel "$ELF" -append "port=$MCU flash=$FLASH" >"$DIR/chip.$boot.out" 2>&1 &
    CHIP_PID=$!
    for _ in $(seq 40); do
        [ -s "$DIR/qemu.pid" ] && break
        sleep 0.05
    done
    QEMU_PID=$(cat "$DIR/qemu.pid")
}
kill_mcu() { # kill -9 of QEMU and the chip
    kill -9 "$QEMU_PID" 2>/dev/null || true
    kill -9 "$CHIP_PID" 2>/dev/null || true
    wait "$CHIP_PID" 2>/dev/null || true
    sleep 0.2
    QEMU_PID=
    CHIP_PID=
}
stop_all() {
    # Killing the chip does not stop QEMU: QEMU by its pid.
    [ -n "$QEMU_PID" ] || [ -z "$CHIP_PID" ] || QEMU_PID=$(cat "$DIR/qemu.pid" 2>/dev/null || true)
    [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
    [ -z "$CHIP_PID" ] || kill "$CHIP_PID" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${pids[@]}" $CHIP_PID 2>/dev/null || true
    pids=()
    QEMU_PID=
    CHIP_PID=
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

step "server-eu-1 :$P1, embed-auth-1 :$P2, the MCU's chip :$MCU (UART0 on QEMU's stdio)"
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

step "MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1 (admin on the MCU)"
check "MCU    AUTH admin <wrong password>" \
    "WRONGPASS invalid username-password pair or user is disabled." \
    "$(cli "$MCU" AUTH admin nope)"
check "MCU    MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1" "OK 2" \
    "$(admin "$MCU" MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1)"
check "eu-1   GET app:billing:1 (shipped by the MCU)" b1 "$(cli $P1 GET app:billing:1)"
check "eu-1   GET app:billing:2 (shipped by the MCU)" b2 "$(cli $P1 GET app:billing:2)"
check "MCU    GET app:billing:1 (handed over: no copy left)" "" "$(cli "$MCU" GET app:billing:1)"
check "MCU    SET app:billing:3 z" "$(mis $P1)" "$(cli "$MCU" SET app:billing:3 z)"
check "eu-1   SET app:billing:3 z" OK "$(cli $P1 SET app:billing:3 z)"
# The MCU announced the move to embed-auth-1 itself.
check_soon "auth-1 SET app:billing:3 z" "$(mis $P1)" cli $P2 SET app:billing:3 z

step "and back: MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1 (admin on server-eu-1)"
check "eu-1   MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1" "OK 3" \
    "$(admin $P1 MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1)"
check "MCU    GET app:billing:3 (shipped back)" z "$(cli "$MCU" GET app:billing:3)"
check "MCU    SET app:billing:4 w" OK "$(cli "$MCU" SET app:billing:4 w)"
check "eu-1   SET app:billing:4 w" "$(mis "$MCU")" "$(cli $P1 SET app:billing:4 w)"
check_soon "auth-1 SET app:billing:4 w" "$(mis "$MCU")" cli $P2 SET app:billing:4 w

step "MOVE-SCOPE app:auth: FROM embed-billing-1 TO embed-auth-1 (admin on the MCU)"
check "MCU    MOVE-SCOPE app:auth: FROM embed-billing-1 TO embed-auth-1" "OK 3" \
    "$(admin "$MCU" MOVE-SCOPE app:auth: FROM embed-billing-1 TO embed-auth-1)"
check "auth-1 GET app:auth:3 (written on the MCU, shipped back)" a3 "$(cli $P2 GET app:auth:3)"
check "auth-1 SET app:auth:4 a4" OK "$(cli $P2 SET app:auth:4 a4)"
check "MCU    SET app:auth:4 x" "$(mis $P2)" "$(cli "$MCU" SET app:auth:4 x)"
check_soon "eu-1   SET app:auth:4 x" "$(mis $P2)" cli $P1 SET app:auth:4 x

step "kill -9 of QEMU and the chip, a boot on the same flash file"
kill_mcu
start_mcu
wait_up "$MCU"
check "MCU    GET app:billing:4 (acknowledged before the kill)" w "$(cli "$MCU" GET app:billing:4)"
check "MCU    GET app:billing:3 (ingested before the kill)" z "$(cli "$MCU" GET app:billing:3)"
check "MCU    GET app:auth:3 (handed over before the kill)" "" "$(cli "$MCU" GET app:auth:3)"
check "MCU    SET app:billing:5 v (its own after the restart)" OK "$(cli "$MCU" SET app:billing:5 v)"
check "MCU    SET app:auth:5 v (embed-auth-1's after the restart)" "$(mis $P2)" "$(cli "$MCU" SET app:auth:5 v)"
check "MCU    log: the image restored (epoch, records)" yes \
    "$(grep -q 'restored: epoch 4, ' "$DIR/uart1.$boot.log" && echo yes || echo no)"

step "damaged flash: both image slots rot while the MCU is off; it recovers from its peers"
kill_mcu
# One byte of each image slot's payload (src/layout.rs: slots at 4096 and 8192, 16-byte header).
for off in $((4096 + 16)) $((8192 + 16)); do
    printf '\x5a' | dd of="$FLASH" bs=1 seek="$off" conv=notrunc status=none
done
start_mcu
wait_up "$MCU"
check_soon "MCU    SET app:billing:6 v (recovered: its own)" OK cli "$MCU" SET app:billing:6 v
check "MCU    SET app:auth:6 v (recovered: embed-auth-1's)" "$(mis $P2)" "$(cli "$MCU" SET app:auth:6 v)"
check "MCU    log: booted quarantined, then not" "yes yes" \
    "$(grep -q 'image damaged: quarantined' "$DIR/uart1.$boot.log" && echo yes || echo no) $(grep -q 'quarantined: false' "$DIR/uart1.$boot.log" && echo yes || echo no)"
check "MCU    GET app:billing:5 (the store survived)" v "$(cli "$MCU" GET app:billing:5)"

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
