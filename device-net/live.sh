#!/usr/bin/env bash
# The three-node cluster of cluster.sh (the MCU under QEMU on
# 127.0.0.1:MCU_PORT, server-eu-1 on :7001, embed-auth-1 on :7002), left
# running in the foreground: a banner of redis-cli commands to type in
# another terminal, then the MCU's UART log. Ctrl-C (or SIGTERM) stops
# QEMU and both std nodes.
#
#   bash device-net/live.sh                    until Ctrl-C
#   LIVE_SECONDS=30 bash device-net/live.sh    check mode: runs the
#       banner's commands itself, keeps the cluster up for 30 s, and exits
#       0 only when every reply matched
#
# Files (passwords, configs, flash, logs) in device-net/target/live/.
set -euo pipefail
cd "$(dirname "$0")"
. ./cluster_lib.sh

LIVE_SECONDS=${LIVE_SECONDS:-}
if [ -n "$LIVE_SECONDS" ] && ! [[ "$LIVE_SECONDS" =~ ^[0-9]+$ ]]; then
    echo "LIVE_SECONDS must be a number of seconds" >&2
    exit 2
fi

cluster_preflight
cluster_build
cluster_init target/live
TAIL_PID=
stop_all() {
    if [ -n "$TAIL_PID" ]; then kill "$TAIL_PID" 2>/dev/null || true; fi
    TAIL_PID=
    cluster_stop
}
trap stop_all EXIT
trap 'echo; echo "stopping the cluster"; exit 130' INT
trap 'exit 143' TERM
cluster_start
started=$SECONDS

PASS="--user admin --pass \"\$(cat $(printf %q "$DIR/admin.pass"))\" --no-auth-warning"
# The banner's commands: the command line, what it answers (an extended
# regex), and whether it may be retried until it matches (the moves'
# news takes a moment to reach the third node).
cmds=(
    "redis-cli -p $MCU SET app:billing:1 x" "OK" retry
    "redis-cli -p $P1 SET app:billing:1 x" "$(mis $MCU)" retry
    "redis-cli -p $P2 SET app:billing:1 x" "$(mis $MCU)" retry
    "redis-cli -p $MCU GET app:billing:1" "x" retry
    "redis-cli -p $P2 SET app:auth:1 y" "OK" retry
    "redis-cli -p $MCU SET app:auth:1 y" "$(mis $P2)" retry
    "redis-cli -p $P1 SET app:auth:1 y" "$(mis $P2)" retry
    "redis-cli -p $MCU MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1"
    "NOPERM User default has no permissions to run the 'move-scope' command \(it needs the admin user\)" once
    "redis-cli -p $MCU $PASS MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1" "OK [0-9]+" once
    "redis-cli -p $MCU SET app:billing:1 x2" "$(mis $P1)" retry
    "redis-cli -p $P1 GET app:billing:1" "x" retry
    "redis-cli -p $P1 SET app:billing:1 x2" "OK" retry
    "redis-cli -p $P2 SET app:billing:1 x2" "$(mis $P1)" retry
    "redis-cli -p $P1 $PASS MOVE-SCOPE app:billing: FROM server-eu-1 TO embed-billing-1" "OK [0-9]+" once
    "redis-cli -p $MCU GET app:billing:1" "x2" retry
    "redis-cli -p $MCU SET app:billing:1 x3" "OK" retry
    "redis-cli -p $P1 SET app:billing:1 x3" "$(mis $MCU)" retry
    "redis-cli -p $P2 SET app:billing:1 x3" "$(mis $MCU)" retry
)

cat <<BANNER

==> the cluster is up
    embed-billing-1 (the MCU, QEMU)  127.0.0.1:$MCU   UART log $DIR/uart.1.log
    server-eu-1     (kevy-node)      127.0.0.1:$P1    log $DIR/server-eu-1.log
    embed-auth-1    (kevy-node)      127.0.0.1:$P2    log $DIR/embed-auth-1.log
    app:billing: -> embed-billing-1 (fallback server-eu-1), app:auth: -> embed-auth-1
    admin password: $DIR/admin.pass (cluster password: $DIR/cluster.pass)

Try, in another terminal (expected replies after #):

BANNER
for ((i = 0; i < ${#cmds[@]}; i += 3)); do
    want=${cmds[i + 1]//\\/}
    printf '  %s\n      # %s\n' "${cmds[i]}" "${want/\[0-9\]+/<keys shipped>}"
done
cat <<BANNER

  or log in inside redis-cli -p $MCU:  AUTH admin <the password in $DIR/admin.pass>

BANNER

if [ -z "$LIVE_SECONDS" ]; then
    echo "==> the MCU's UART log (Ctrl-C stops the cluster)"
    tail -n +1 -f "$DIR/uart.1.log" &
    TAIL_PID=$!
    wait "$TAIL_PID" || true
    exit 0
fi

echo "==> check mode: the banner's commands, the cluster up for $LIVE_SECONDS s"
tail -n +1 -f "$DIR/uart.1.log" > >(sed -u 's/^/    uart| /') &
TAIL_PID=$!
for ((i = 0; i < ${#cmds[@]}; i += 3)); do
    line=${cmds[i]} want=${cmds[i + 1]} mode=${cmds[i + 2]}
    for try in $(seq 10); do
        got=$(timeout 20 bash -c "$line" 2>&1 || true)
        [[ "$got" =~ ^$want$ ]] && break
        [ "$mode" = once ] && break
        sleep 0.5
    done
    check_re "$line" "$want" "$got"
done
left=$((LIVE_SECONDS - (SECONDS - started)))
[ "$left" -gt 0 ] && sleep "$left"
if grep -qE 'panic|exception|fatal' "$DIR"/uart.*.log; then
    echo "FAIL  the firmware reported a fault"
    failures=$((failures + 1))
fi
echo "==> up for $((SECONDS - started)) s"
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all live checks passed"
