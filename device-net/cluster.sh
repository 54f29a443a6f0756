#!/usr/bin/env bash
# embed-billing-1 (the firmware, on QEMU virt) in a cluster with two std
# example nodes (node/, kevy-node): server-eu-1 on 127.0.0.1:7001 and
# embed-auth-1 on 127.0.0.1:7002, the MCU on 127.0.0.1:MCU_PORT
# (forwarded to the guest's 6379). One table for all three:
#
#   app:billing: -> embed-billing-1 (fallback server-eu-1)
#   app:auth:    -> embed-auth-1
#
# Checks: one acceptor per scope and MISDIRECTED to it from the others;
# the node-to-node commands refused without the cluster login; MOVE-SCOPE
# app:billing: from the MCU (its Driver, over smoltcp) to server-eu-1 and
# back (server-eu-1's driver, the MCU serving the ingest); the MCU's image
# in its pflash surviving a QEMU kill and restart. Exits 0 only when
# every check matched.
#
#   bash device-net/cluster.sh           MCU_PORT=16380 by default
set -euo pipefail
cd "$(dirname "$0")"

MCU_PORT=${MCU_PORT:-16380}
# The std nodes' ports are the firmware's (src/main.rs, PEER_PORTS).
P1=7001
P2=7002
TARGET=riscv32imac-unknown-none-elf
ELF=target/$TARGET/release/embed-billing-net
DIR=target/cluster
FLASH=$DIR/pflash1.img

step() { printf '\n==> %s\n' "$*"; }

for port in "$MCU_PORT" "$P1" "$P2"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use" >&2
        exit 1
    fi
done
command -v qemu-system-riscv32 >/dev/null && command -v redis-cli >/dev/null ||
    bash ../scripts/apt_install.sh qemu-system-misc redis-tools

step "build: kevy-node (node/, release) and the firmware"
(cd ../node && cargo build --release -q --bin kevy-node)
NODE_BIN=$(cd ../node && cargo metadata --format-version 1 --no-deps |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)/release/kevy-node
cargo build --release -q --bin embed-billing-net

rm -rf "$DIR"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
FLASH=$DIR/pflash1.img
secret() { (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$1"); }
secret "$DIR/cluster.pass"
secret "$DIR/admin.pass"
CLUSTER_PASS=$(cat "$DIR/cluster.pass")
ADMIN_PASS=$(cat "$DIR/admin.pass")

SCOPES="app:billing:=embed-billing-1|server-eu-1, app:auth:=embed-auth-1"
PEERS="embed-billing-1@127.0.0.1:$MCU_PORT, server-eu-1@127.0.0.1:$P1, embed-auth-1@127.0.0.1:$P2"

# The MCU's flash: QEMU virt's pflash bank 1 is 32 MiB; the config block
# (the two passwords) at offset 0, the image slots after it (src/flash.rs).
truncate -s 32M "$FLASH"
printf 'KEVY1 %s %s\n' "$CLUSTER_PASS" "$ADMIN_PASS" | dd of="$FLASH" conv=notrunc status=none

pids=()
QEMU_PID=
cleanup() {
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

step "two std nodes: server-eu-1 :$P1, embed-auth-1 :$P2"
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
    "$NODE_BIN" --config "$DIR/$id.toml" >"$DIR/$id.log" 2>&1 &
    pids+=($!)
done

CPU="rv32,f=off,d=off"
probe=$(timeout 1 qemu-system-riscv32 -machine virt -bios none -cpu "$CPU,zfa=off" \
    -display none -monitor none -serial none -S 2>&1 </dev/null) && status=0 || status=$?
if [ "$status" = 124 ] || ! grep -q "not found" <<<"$probe"; then
    CPU+=",zfa=off"
fi
boot=0
start_mcu() {
    boot=$((boot + 1))
    qemu-system-riscv32 -machine virt -bios none -cpu "$CPU" -m 128M \
        -display none -monitor none -serial "file:$DIR/uart.$boot.log" \
        -drive "if=pflash,format=raw,unit=1,file=$FLASH" \
        -global virtio-mmio.force-legacy=false \
        -device virtio-net-device,netdev=n0 \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$MCU_PORT-:6379" \
        -kernel "$ELF" &
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
step "the MCU: QEMU virt, pflash unit 1 = $FLASH, 127.0.0.1:$MCU_PORT -> guest 6379"
start_mcu
wait_up "$P1"
wait_up "$P2"
wait_up "$MCU_PORT"

failures=0
check() { # name, expected, got
    if [ "$2" = "$3" ]; then
        printf 'ok    %-60s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-60s got %q, want %q\n' "$1" "$3" "$2"
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
check_re() { # name, extended regex, got
    if [[ "$3" =~ ^$2$ ]]; then
        printf 'ok    %-60s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-60s got %q, want /%s/\n' "$1" "$3" "$2"
        failures=$((failures + 1))
    fi
}
MCU=$MCU_PORT
mis() { echo "MISDIRECTED writer is 127.0.0.1:$1"; }

# A client writing app:billing:w0..w4 (values 1, 2, 3, ...) one at a time
# until $DIR/stop exists, following MISDIRECTED to the writer it names,
# retrying QUIESCED and TRYAGAIN; each acknowledged write is logged.
writer() {
    local i=0 port=$MCU key reply tries
    while [ ! -e "$DIR/stop" ]; do
        i=$((i + 1))
        key=app:billing:w$((i % 5))
        tries=0
        while :; do
            reply=$(timeout 10 redis-cli -p "$port" SET "$key" "$i" 2>&1) || true
            case "$reply" in
                OK)
                    echo "$key $i $port" >>"$DIR/acked"
                    break
                    ;;
                "MISDIRECTED writer is 127.0.0.1:"*) port=${reply##*:} ;;
                *) sleep 0.05 ;;
            esac
            tries=$((tries + 1))
            if [ "$tries" -gt 400 ]; then
                echo "$key $i gave up: $reply" >>"$DIR/refused"
                break
            fi
        done
    done
}
# The node that accepts a write of $1 now: its port, or the replies.
acceptors() {
    local got=() p
    for p in $MCU $P1 $P2; do
        [ "$(cli $p SET "$1" probe)" = OK ] && got+=("$p")
    done
    echo "${got[*]}"
}
# Every node's reply to SET $1, once: "port:reply" each.
verdicts() {
    local p
    for p in $MCU $P1 $P2; do printf '%s=%s;' "$p" "$(cli $p SET "$1" probe)"; done
}

step "one acceptor per scope, MISDIRECTED to it from the others"
check "MCU    SET app:billing:1 x" OK "$(cli $MCU SET app:billing:1 x)"
check "eu-1   SET app:billing:1 x" "$(mis $MCU)" "$(cli $P1 SET app:billing:1 x)"
check "auth-1 SET app:billing:1 x" "$(mis $MCU)" "$(cli $P2 SET app:billing:1 x)"
check "auth-1 SET app:auth:1 y" OK "$(cli $P2 SET app:auth:1 y)"
check "eu-1   SET app:auth:1 y" "$(mis $P2)" "$(cli $P1 SET app:auth:1 y)"
check "MCU    SET app:auth:1 y" "$(mis $P2)" "$(cli $MCU SET app:auth:1 y)"

step "node-to-node commands need the cluster user"
check "MCU MOVE-SCOPE-EPOCH (default user)" \
    "NOPERM User default has no permissions to run the 'move-scope-epoch' command (it needs the cluster user)" \
    "$(cli $MCU MOVE-SCOPE-EPOCH)"
check "MCU AUTH cluster wrong" "WRONGPASS invalid username-password pair or user is disabled." \
    "$(cli $MCU AUTH cluster wrong)"
check "MCU MOVE-SCOPE-EPOCH as cluster" "EPOCH 0" \
    "$(timeout 5 redis-cli --user cluster --pass "$CLUSTER_PASS" --no-auth-warning -p $MCU MOVE-SCOPE-EPOCH 2>&1)"
check "MCU MOVE-SCOPE (default user)" \
    "NOPERM User default has no permissions to run the 'move-scope' command (it needs the admin user)" \
    "$(cli $MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1)"

step "MOVE-SCOPE app:billing: from the MCU to server-eu-1 (the MCU's driver), a client writing throughout"
cli $MCU SET app:billing:2 two >/dev/null
writer &
WRITER=$!
sleep 1
check_re "MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1" "OK [0-9]+" \
    "$(admin $MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1)"
check "MCU    SET app:billing:3 z" "$(mis $P1)" "$(cli $MCU SET app:billing:3 z)"
check "eu-1   GET app:billing:2 (shipped)" two "$(cli $P1 GET app:billing:2)"
check "eu-1   SET app:billing:3 z" OK "$(cli $P1 SET app:billing:3 z)"
sleep 1 # the MCU's news reaches embed-auth-1
check "auth-1 SET app:billing:3 z" "$(mis $P1)" "$(cli $P2 SET app:billing:3 z)"

step "and back: MOVE-SCOPE app:billing: from server-eu-1 to the MCU (the MCU serves the ingest)"
sleep 1
check_re "eu-1 MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1" "OK [0-9]+" \
    "$(admin $P1 MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1)"
sleep 1
touch "$DIR/stop"
wait "$WRITER" || true
rm -f "$DIR/stop"
acked=$(wc -l <"$DIR/acked")
check "writes refused for good during the moves" "" "$(cat "$DIR/refused" 2>/dev/null)"
check_re "acknowledged writes (at the MCU and at server-eu-1)" "[1-9][0-9]*" "$acked"
echo "acknowledged at each port: $(awk '{print $3}' "$DIR/acked" | sort | uniq -c | tr '\n' ' ')"
lost=""
while read -r key value; do
    got=$(cli $MCU GET "$key")
    [ "$got" = "$value" ] || lost+="$key=$value (MCU has '$got') "
done < <(awk '{last[$1] = $2} END {for (k in last) print k, last[k]}' "$DIR/acked")
check "every key holds its last acknowledged value at the MCU" "" "$lost"
check "MCU    GET app:billing:3 (shipped back)" z "$(cli $MCU GET app:billing:3)"
check "MCU    SET app:billing:4 w" OK "$(cli $MCU SET app:billing:4 w)"
check "eu-1   SET app:billing:4 w" "$(mis $MCU)" "$(cli $P1 SET app:billing:4 w)"
sleep 1
check "auth-1 SET app:billing:4 w" "$(mis $MCU)" "$(cli $P2 SET app:billing:4 w)"

step "kill QEMU, restart it on the same flash: the MCU restores its image"
kill -9 "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
start_mcu
wait_up "$MCU"
check "MCU    GET app:billing:4 (acknowledged before the kill)" w "$(cli $MCU GET app:billing:4)"
check "MCU    GET app:billing:3 (ingested before the kill)" z "$(cli $MCU GET app:billing:3)"
check "MCU    SET app:billing:5 v (owned again after the restart)" OK "$(cli $MCU SET app:billing:5 v)"
check "MCU    SET app:auth:2 v" "$(mis $P2)" "$(cli $MCU SET app:auth:2 v)"
check "eu-1   SET app:billing:5 v" "$(mis $MCU)" "$(cli $P1 SET app:billing:5 v)"
check_re "MCU    MOVE-SCOPE to server-eu-1 again, after the restart" "OK [0-9]+" \
    "$(admin $MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1)"
check "eu-1   SET app:billing:6 v" OK "$(cli $P1 SET app:billing:6 v)"
check "eu-1   GET app:billing:4 (shipped after the restart)" w "$(cli $P1 GET app:billing:4)"

step "damaged flash: both image slots rot while the MCU is off"
kill -9 "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
# One byte of each slot's image (src/flash.rs: slots at 256 KiB and 512 KiB, 16-byte header).
for off in $((0x40000 + 16)) $((0x80000 + 16)); do
    printf '\x5a' | dd of="$FLASH" bs=1 seek="$off" conv=notrunc status=none
done
start_mcu
wait_up "$MCU"
# Quarantined until every peer answered MOVE-SCOPE-EPOCH and -FENCE.
got=""
for _ in $(seq 40); do
    got=$(cli $MCU SET app:billing:7 v)
    [ "$got" = "$(mis $P1)" ] && break
    sleep 0.5
done
check "MCU    SET app:billing:7 (recovered: it moved to server-eu-1)" "$(mis $P1)" "$got"
check "MCU    SET app:auth:3" "$(mis $P2)" "$(cli $MCU SET app:auth:3 v)"
grep -q "quarantined" "$DIR/uart.$boot.log" && q=yes || q=no
check "the MCU came back quarantined (UART log)" yes "$q"
check_re "eu-1 MOVE-SCOPE app:billing: back to the recovered MCU" "OK [0-9]+" \
    "$(admin $P1 MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1)"
check "MCU    SET app:billing:7 v" OK "$(cli $MCU SET app:billing:7 v)"

step "a kill mid-move: MCU -> embed-auth-1 with embed-auth-1 stopped, QEMU killed during the ship"
AUTH_PID=${pids[1]}
kill -STOP "$AUTH_PID"
admin $MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO embed-auth-1 >"$DIR/mid-move.reply" &
MOVER=$!
sleep 2
check "MCU    SET app:billing:8 while the move is in flight" "QUIESCED migrating to 127.0.0.1:$P2" \
    "$(cli $MCU SET app:billing:8 v)"
kill -9 "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
wait "$MOVER" 2>/dev/null || true
kill -CONT "$AUTH_PID"
sleep 1
start_mcu
wait_up "$MCU"
# The restored image holds the move in flight: the driver asks embed-auth-1
# its outcome and resolves it; then every node names the same writer.
final=""
for _ in $(seq 60); do
    v=$(verdicts app:billing:9)
    if [ "$v" = "$MCU=OK;$P1=$(mis $MCU);$P2=$(mis $MCU);" ] ||
        [ "$v" = "$MCU=$(mis $P2);$P1=$(mis $P2);$P2=OK;" ]; then
        final=$v
        break
    fi
    sleep 0.5
done
check_re "one acceptor for app:billing: after the kill mid-move" ".+" "$final"
echo "verdicts: ${final:-$v}"
echo "the operator's reply (the connection died with QEMU): $(cat "$DIR/mid-move.reply")"
for key in app:billing:w1 app:billing:w2; do
    owner=$MCU
    [[ "$final" == *"$P2=OK"* ]] && owner=$P2
    want=$(awk -v k="$key" '$1 == k {v = $2} END {print v}' "$DIR/acked")
    check "GET $key at the writer (port $owner)" "$want" "$(cli "$owner" GET "$key")"
done

for b in $(seq "$boot"); do
    step "MCU UART log, boot $b"
    cat "$DIR/uart.$b.log"
done
step "std node logs (tails)"
tail -n 25 "$DIR/server-eu-1.log" "$DIR/embed-auth-1.log"
if grep -qE 'panic|exception|fatal' "$DIR"/uart.*.log; then
    echo "FAIL  the firmware reported a fault"
    failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all cluster checks passed"
