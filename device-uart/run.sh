#!/usr/bin/env bash
# Builds the embed-billing-1 UART firmware and its socket chip (chip/, a
# host program), boots the firmware on QEMU's lm3s6965evb (Cortex-M3)
# under the chip (UART0 on QEMU's stdin and stdout, framed: src/frame.rs),
# the chip listening on a free loopback port, and checks what clients
# get, byte for byte:
#
#   PING                        -> PONG
#   SET/GET app:billing:1       -> OK, x         (this node's scope)
#   SET app:auth:1 y            -> -MISDIRECTED writer is 127.0.0.1:7002
#   MOVE-SCOPE-EPOCH            -> -NOPERM ... (it needs the cluster user)
#   AUTH cluster + the same     -> EPOCH 0
#   malformed / oversized       -> -ERR Protocol error: ..., the next client served
#   a client after one that logged in and left mid-request: not logged in,
#   the half request gone
#   two clients at once, interleaved: each its own login and buffer;
#   four redis-cli at once; a seventh client waits while six hold the sockets
#   kill -9 of QEMU, a restart on the same flash file: acknowledged keys back
#
# then prints the firmware's flash and RAM and redis-benchmark figures
# (informational, never checked). Exits 0 only when every check matched.
#
#   bash device-uart/run.sh             the first free port from 16420
#   PORT=26379 bash device-uart/run.sh  the first free port from 26379
set -euo pipefail
cd "$(dirname "$0")"

TARGET=thumbv7m-none-eabi
BIN=embed-billing-uart
ELF=target/$TARGET/release/$BIN
HOST=$(rustc -vV | sed -n 's/^host: //p')
CHIP=chip/target/$HOST/release/kevy-uart-chip
RUN=target/run
LOG=$RUN/uart1.log
FLASH=$PWD/$RUN/flash.bin

step() { printf '\n==> %s\n' "$*"; }

# --- tools (installed only when missing) -------------------------------
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ ${#missing[@]} -eq 0 ] || bash ../scripts/apt_install.sh "${missing[@]}"

# --- build ---------------------------------------------------------------
step "host tests: link frames, command line, flash file ($HOST)"
cargo test --lib --target "$HOST"

step "clippy (firmware, the library with its tests on the host, the chip)"
cargo clippy --release -- -D warnings
cargo clippy --lib --tests --target "$HOST" -- -D warnings
(cd chip && cargo clippy --release --target "$HOST" -- -D warnings)

step "build ($TARGET, release; the chip for $HOST)"
cargo build --release --bin "$BIN"
(cd chip && cargo build --release --target "$HOST")

# --- QEMU ------------------------------------------------------------------
mkdir -p "$RUN"
: >"$LOG"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${PORT:-16420}
for _ in $(seq 100); do
    port_free "$PORT" && break
    PORT=$((PORT + 1))
done
port_free "$PORT" || { echo "no free port found" >&2; exit 1; }

# The flash file: the config block (cluster and admin passwords), the
# rest blank (zeros: no image, no store).
CLUSTER_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
head -c 20480 /dev/zero >"$FLASH"
printf 'KEVY1 %s %s\n' "$CLUSTER_PASS" "$ADMIN_PASS" | dd of="$FLASH" conv=notrunc status=none

QEMU_PID=
CHIP_PID=
# The chip starts QEMU with UART0 on its stdin and stdout and writes
# QEMU's pid to $RUN/qemu.pid.
boot() {
    rm -f "$RUN/qemu.pid"
    "$CHIP" --listen "127.0.0.1:$PORT" --pid-file "$RUN/qemu.pid" -- \
        qemu-system-arm -machine lm3s6965evb -cpu cortex-m3 -display none -monitor none \
        -semihosting-config enable=on,target=native \
        -serial stdio -serial "file:$LOG.part" \
        -kernel "$ELF" -append "port=$PORT flash=$FLASH" >"$RUN/qemu.out" 2>&1 &
    CHIP_PID=$!
    local up=no
    for _ in $(seq 60); do
        kill -0 "$CHIP_PID" 2>/dev/null || break
        if [ "$(timeout 2 redis-cli -p "$PORT" PING 2>/dev/null)" = PONG ]; then
            up=yes
            break
        fi
        sleep 0.25
    done
    if [ "$up" != yes ]; then
        echo "the node did not answer on port $PORT; QEMU said:" >&2
        cat "$RUN/qemu.out" "$LOG.part" >&2 || true
        exit 1
    fi
    # The chip wrote it before QEMU could answer.
    QEMU_PID=$(cat "$RUN/qemu.pid")
}
stop_qemu() {
    # Killing the chip does not stop QEMU: QEMU by its pid (from the
    # chip's pid file when boot() ended before reading it).
    [ -n "$QEMU_PID" ] || [ -z "$CHIP_PID" ] || QEMU_PID=$(cat "$RUN/qemu.pid" 2>/dev/null || true)
    [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
    [ -z "$CHIP_PID" ] || { kill "$CHIP_PID" 2>/dev/null || true; wait "$CHIP_PID" 2>/dev/null || true; }
    QEMU_PID=
    CHIP_PID=
}
# Each boot's log is appended to $LOG when it ends.
keep_log() { [ -f "$LOG.part" ] && cat "$LOG.part" >>"$LOG" && rm -f "$LOG.part"; }
trap 'stop_qemu; keep_log || true' EXIT

step "QEMU $(qemu-system-arm --version | head -n 1 | awk '{print $4}'): lm3s6965evb, UART0 = the chip (-serial stdio), clients on 127.0.0.1:$PORT, UART1 = $LOG"
boot

# --- checks ----------------------------------------------------------------
failures=0
check() { # name, expected, got
    if [ "$2" = "$3" ]; then
        printf 'ok    %-52s %q\n' "$1" "$3"
    else
        printf 'FAIL  %-52s got %q, want %q\n' "$1" "$3" "$2"
        failures=$((failures + 1))
    fi
}
cli() { timeout 5 redis-cli -p "$PORT" "$@" 2>&1 || true; }
# A raw client reads the bytes it expects (or for `wait` seconds), then
# closes itself.
# raw FORMAT WANT [WAIT]: sends printf FORMAT on a new connection, prints
# up to ${#WANT} bytes of the answer (CR shown as \r).
show() { sed 's/\r/\\r/g'; }
raw() {
    local n
    n=$(printf '%b' "${2//%/%%}" | wc -c)
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    # shellcheck disable=SC2059
    printf "$1" >&3
    # dd bs=1 passes each byte on as it comes (head would lose what it
    # buffered when the timeout stops it).
    timeout "${3:-3}" dd bs=1 count="$n" status=none <&3 | show || true
    exec 3<&-
}
# The expected text of raw(): printf's escapes, CR shown as \r.
want() { printf '%b' "$1" | show; }

NOPERM="NOPERM User default has no permissions to run the 'move-scope-epoch' command (it needs the cluster user)"

step "redis-cli -p $PORT"
check "PING" "PONG" "$(cli PING)"
check "SET app:billing:1 x" "OK" "$(cli SET app:billing:1 x)"
check "GET app:billing:1" "x" "$(cli GET app:billing:1)"
# redis-cli prints an error reply without its '-' when not on a terminal.
check "SET app:auth:1 y" "MISDIRECTED writer is 127.0.0.1:7002" "$(cli SET app:auth:1 y)"
check "GET app:auth:1 (not stored)" "" "$(cli GET app:auth:1)"
check "MOVE-SCOPE-EPOCH, not logged in" "$NOPERM" "$(cli MOVE-SCOPE-EPOCH)"
reply='-WRONGPASS invalid username-password pair or user is disabled.\r\n'
check "AUTH cluster <wrong password>" "$(want "$reply")" "$(raw 'AUTH cluster nope\r\n' "$reply")"
check "AUTH cluster <password>, MOVE-SCOPE-EPOCH" "EPOCH 0" \
    "$(cli --user cluster --pass "$CLUSTER_PASS" --no-auth-warning MOVE-SCOPE-EPOCH)"
check "MOVE-SCOPE, not logged in" \
    "NOPERM User default has no permissions to run the 'move-scope' command (it needs the admin user)" \
    "$(cli MOVE-SCOPE app:billing: FROM embed-billing-1 TO server-eu-1)"
check "AUTH admin <password>" OK "$(cli AUTH admin "$ADMIN_PASS")"

step "the wire, byte for byte (raw TCP)"
reply='-MISDIRECTED writer is 127.0.0.1:7002\r\n+OK\r\n'
check "SET app:auth:1 y (RESP array), SET app:billing:2 z" "$(want "$reply")" \
    "$(raw '*3\r\n$3\r\nSET\r\n$10\r\napp:auth:1\r\n$1\r\ny\r\nSET app:billing:2 z\r\n' "$reply")"
reply='-ERR Protocol error: invalid length\r\n'
check "malformed: *1 \$abc" "$(want "$reply")" "$(raw '*1\r\n$abc\r\n' "$reply")"
reply='-ERR Protocol error: bulk string not terminated by CRLF\r\n'
check "malformed: bulk not ended by CRLF" "$(want "$reply")" "$(raw '*1\r\n$4\r\nPINGxx' "$reply")"
reply='-ERR Protocol error: request too large (max 1536 bytes)\r\n'
check "oversized: 1600 bytes, no newline" "$(want "$reply")" \
    "$(raw "$(printf 'a%.0s' $(seq 1600))" "$reply")"
# As Redis, the node closes the connection after a protocol error: the
# rest of what the client sent is not answered.
check "after the error, the same client's PING unanswered" "$(want '-ERR Protocol error: invalid length\r\n')" \
    "$(raw '*1\r\n$abc\r\nPING\r\n' '-ERR Protocol error: invalid length\r\n+PONG\r\n' 3)"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf '*1\r\n$abc\r\n' >&3
closed=open
timeout 3 cat <&3 >/dev/null && closed=closed
exec 3<&-
check "the connection closed after the error (EOF within 3 s)" closed "$closed"
check "PING, the next client" "PONG" "$(cli PING)"

step "one client after another"
# A logs in as cluster, sends half a request and leaves; B must find
# neither the login nor the half request.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'AUTH cluster %s\r\n' "$CLUSTER_PASS" >&3
check "A: AUTH cluster <password>" "$(want '+OK\r\n')" "$(timeout 3 head -c 5 <&3 | show || true)"
printf 'MOVE-SCOPE-EPOCH\r\n' >&3
check "A: MOVE-SCOPE-EPOCH" "$(want '+EPOCH 0\r\n')" "$(timeout 3 head -c 10 <&3 | show || true)"
printf '*2\r\n$3\r\nGET' >&3
sleep 0.3
exec 3<&-
reply="-$NOPERM\r\n+PONG\r\n"
check "B after A left mid-request: not logged in, clean" "$(want "$reply")" \
    "$(raw 'MOVE-SCOPE-EPOCH\r\nPING\r\n' "$reply")"
check "C (redis-cli), logged in as cluster" "EPOCH 0" \
    "$(cli --user cluster --pass "$CLUSTER_PASS" --no-auth-warning MOVE-SCOPE-EPOCH)"
check "D (redis-cli) after C" "$NOPERM" "$(cli MOVE-SCOPE-EPOCH)"

step "clients at once"
# A and B connected together, their requests interleaved: A logs in and
# sends half a GET; B, not logged in, is refused and served while A's
# half waits; A's GET completes; each keeps its own login.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'AUTH cluster %s\r\n' "$CLUSTER_PASS" >&3
check "A: AUTH cluster <password>" "$(want '+OK\r\n')" "$(timeout 3 head -c 5 <&3 | show || true)"
printf '*2\r\n$3\r\nGET' >&3
sleep 0.2
printf 'MOVE-SCOPE-EPOCH\r\n' >&4
check "B (A's half GET pending): MOVE-SCOPE-EPOCH" "$(want "-$NOPERM\r\n")" \
    "$(timeout 3 head -c $((${#NOPERM} + 3)) <&4 | show || true)"
printf '\r\n$13\r\napp:billing:1\r\n' >&3
check "A: the rest of its GET app:billing:1" "$(want '$1\r\nx\r\n')" "$(timeout 3 head -c 7 <&3 | show || true)"
printf 'SET app:billing:b bb\r\n' >&4
printf 'MOVE-SCOPE-EPOCH\r\n' >&3
check "B: SET app:billing:b bb" "$(want '+OK\r\n')" "$(timeout 3 head -c 5 <&4 | show || true)"
check "A: MOVE-SCOPE-EPOCH (still logged in)" "$(want '+EPOCH 0\r\n')" "$(timeout 3 head -c 10 <&3 | show || true)"
exec 3<&- 4<&-
# Four redis-cli at once, each its own keys.
clients=()
for i in 1 2 3 4; do
    (for j in 1 2 3 4 5; do cli SET "app:billing:p$i" "v$i.$j" >/dev/null; done
        cli GET "app:billing:p$i" >"$RUN/p$i.out") &
    clients+=($!)
done
wait "${clients[@]}"
for i in 1 2 3 4; do
    check "client $i of 4 at once: its last SET" "v$i.5" "$(cat "$RUN/p$i.out")"
    cli DEL "app:billing:p$i" >/dev/null
done
# Six clients hold the six client sockets: a seventh waits in the listen
# backlog until one leaves.
for fd in 5 6 7 8 9 10; do
    eval "exec $fd<>/dev/tcp/127.0.0.1/$PORT"
done
sleep 0.3
check "a 7th client while 6 hold the sockets (1 s)" "" "$(timeout 1 redis-cli -p "$PORT" PING 2>&1 || true)"
exec 5<&-
check "the 7th client once one left" PONG "$(cli PING)"
exec 6<&- 7<&- 8<&- 9<&- 10<&-

# Random bytes (0 to 400 of them), each from a new client that reads what
# comes for 0.3 s and closes: answered or ignored, never a fault.
for _ in $(seq 20); do
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    { head -c $((RANDOM % 401)) /dev/urandom; printf '\r\n'; } >&3 2>/dev/null || true
    timeout 0.3 cat <&3 >/dev/null || true
    exec 3<&-
done
check "PING after 20 clients of random bytes" "PONG" "$(cli PING)"
check "MOVE-SCOPE-EPOCH after them: not logged in" "$NOPERM" "$(cli MOVE-SCOPE-EPOCH)"
check "GET app:billing:1 after them" "x" "$(cli GET app:billing:1)"

step "kill -9 of QEMU, then a boot on the same flash file"
check "SET app:billing:k v1 (acknowledged)" "OK" "$(cli SET app:billing:k v1)"
kill -9 "$QEMU_PID"
# The chip ends with QEMU (its clients see their connections close).
wait "$CHIP_PID" 2>/dev/null || true
QEMU_PID=
CHIP_PID=
keep_log
boot
check "GET app:billing:k after the restart" "v1" "$(cli GET app:billing:k)"
check "GET app:billing:1 after the restart" "x" "$(cli GET app:billing:1)"
check "GET app:billing:2 after the restart" "z" "$(cli GET app:billing:2)"

# --- figures (informational) ---------------------------------------------------
step "size -A $ELF"
size -A "$ELF" | awk 'NR <= 2 || $1 ~ /^\.(vector_table|text|rodata|data|bss|uninit)$/'
read -r FLASH_USED RAM_USED < <(size -A "$ELF" | awk '
    $1 ~ /^\.(vector_table|text|rodata)$/ { f += $2 }
    $1 == ".data" { f += $2; r += $2 }
    $1 == ".bss" { r += $2 }
    END { print f, r }')
echo "flash (.vector_table + .text + .rodata + .data): $FLASH_USED B of 262144 (256 KiB)"
echo "static RAM (.data + .bss): $RAM_USED B of 65536 (64 KiB); the rest is the stack, which holds the node, the store and the buffers"

for c in 1 4; do
    step "redis-benchmark -c $c"
    out=$(timeout 40 redis-benchmark -p "$PORT" -c "$c" -n 2000 -t set,get -q 2>&1 | tr '\r' '\n' |
        grep -E 'requests per second|rror' | sed 's/^ *//') || true
    echo "${out:-no result within 40 s}"
done
check "PING after the benchmark" "PONG" "$(cli PING)"
# QEMU's CPU time over 2 s with no client (utime + stime, in clock ticks).
ticks() { awk '{ print $14 + $15 }' "/proc/$QEMU_PID/stat"; }
t0=$(ticks)
sleep 2
t1=$(ticks)
echo "QEMU idle (no client, 2 s): $(((t1 - t0) * 100 / (2 * $(getconf CLK_TCK)))) % of a host core"

stop_qemu
keep_log
step "UART1 log (both boots)"
cat "$LOG"
grep -E 'stack high-water' "$LOG" | sort -n -k4 | tail -n 1 | sed 's/^/deepest: /' || true
if grep -qE 'panic|fault|fatal' "$LOG"; then
    echo "FAIL  the firmware reported a fault"
    failures=$((failures + 1))
fi

trap - EXIT
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
