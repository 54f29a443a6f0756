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
# every check matched. Then, on a fresh cluster, the e2e test (e2e/:
# kevy-cluster-rw writers while app:billing: moves, QEMU killed mid-move).
#
#   bash device-net/cluster.sh           MCU_PORT=16380 by default
set -euo pipefail
cd "$(dirname "$0")"

. ./cluster_lib.sh

cluster_preflight
cluster_build
cluster_init target/cluster
trap cluster_stop EXIT
cluster_start

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
check "MCU    GET app:billing:2 (handed over: no copy left)" "" "$(cli $MCU GET app:billing:2)"
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

# kevy's cluster client (device-net/e2e, kevy-cluster-rw 1.32.0) on a
# fresh cluster (the MCU's store holds 16 keys: the checks above filled
# it): three writers while app:billing: moves MCU -> server-eu-1 (QEMU
# killed a few ms in and restarted), back, and app:billing:sub: to
# embed-auth-1; then one acceptor, one hop and no lost write per key.
step "e2e: kevy-cluster-rw writers while app:billing: moves, the MCU killed mid-move (fresh cluster)"
cluster_stop
cluster_init target/cluster/e2e
cluster_start
export KEVY_MCU_PORT=$MCU KEVY_EU_PORT=$P1 KEVY_AUTH_PORT=$P2
export KEVY_ADMIN_PASS_FILE=$DIR/admin.pass KEVY_MCU_BOOT=$DIR/qemu.sh KEVY_MCU_PID_FILE=$DIR/qemu.pid
export KEVY_EU_PID=${pids[0]} KEVY_AUTH_PID=${pids[1]}
HOST=$(rustc -vV | sed -n 's/^host: //p')
t0=$SECONDS
if (cd e2e && CARGO_TARGET_DIR=$PWD/../target/e2e \
    cargo test --release --target "$HOST" -q -- --nocapture 2>&1); then
    echo "ok    e2e (device-net/e2e) in $((SECONDS - t0)) s"
else
    echo "FAIL  e2e (device-net/e2e) after $((SECONDS - t0)) s"
    failures=$((failures + 1))
fi
for log in "$DIR"/uart.*.log; do
    step "MCU UART log (e2e), $(basename "$log")"
    tail -n 15 "$log"
done
if grep -qE 'panic|exception|fatal' "$DIR"/uart.*.log; then
    echo "FAIL  the firmware reported a fault (e2e)"
    failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all cluster checks passed"
