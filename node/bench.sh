#!/usr/bin/env bash
# Throughput of kevy-node beside a stock redis-server (Debian), on this
# machine, in the same run. A benchmark, not a test: it asserts nothing.
#
#   bash node/bench.sh            # every figure, median of RUNS runs each
#   RUNS=1 bash node/bench.sh     # quicker
#
# - redis-benchmark -t set,get, 50 clients, not pipelined and -P 16, against
#   redis-server (its defaults, RDB snapshots off; the ratios are to it),
#   redis-server with appendonly everysec (kevy-node's durability), and kevy-node n1
#   with 1 and 2 connection threads; every key (key:...) is in a scope n1
#   owns, so every SET takes the crate's write verdict and is logged.
# - refused writes: examples/pipe_load.rs pipelines N SETs to kevy-node n2,
#   which answers every one -MISDIRECTED (redis-benchmark stops at the first
#   error reply); the same load accepted by n1 and by redis-server, for
#   scale; and the same SETs to n2 through redis-cli --pipe.
#
# Missing redis-tools / redis-server are installed with apt. Every process
# started here is stopped by its PID on exit; loopback only.
set -euo pipefail
cd "$(dirname "$0")"

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
PIPELINED_REQUESTS=${PIPELINED_REQUESTS:-1000000}
PIPE_SETS=${PIPE_SETS:-1000000}
CLIENTS=50

if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
    bash ../scripts/apt_install.sh redis-tools redis-server
fi
cargo build --release -q --bin kevy-node --example pipe_load
# CARGO_TARGET_DIR honoured.
BUILD=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)/release
NODE=$BUILD/kevy-node

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return; sleep 0.05; done; echo "port $1 never answered" >&2; exit 1; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" >/dev/null 2>&1 &
PIDS+=($!)
wait_up "$REDIS_PORT"
# The same with its append-only file (fsync every second): the durability
# kevy-node gives, shown beside the anchor.
mkdir "$WORK/aof"
REDIS_AOF_PORT=$(free_port)
redis-server --port "$REDIS_AOF_PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec \
    --dir "$WORK/aof" --logfile "$WORK/redis-aof.log" >/dev/null 2>&1 &
PIDS+=($!)
wait_up "$REDIS_AOF_PORT"

# start_node ID THREADS PORT: a node of a two-node cluster where n1 owns
# key: (n1's peer entry names P1; the 2-thread n1 listens on its own port).
P1=$(free_port)
P1B=$(free_port)
P2=$(free_port)
# The nodes log in to each other as the cluster user.
printf '[auth]\ncluster_password = "%s"\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
    >"$WORK/auth.toml"
start_node() {
    local id=$1 threads=$2 port=$3
    "$NODE" --config "$WORK/auth.toml" --node-id "$id" --scopes "key:=n1" --peers "n1@127.0.0.1:$P1, n2@127.0.0.1:$P2" \
        --threads "$threads" --port "$port" --dir "$WORK/$id-$threads" >>"$WORK/$id-$threads.log" 2>&1 &
    PIDS+=($!)
    wait_up "$port"
}
start_node n1 1 "$P1"
start_node n1 2 "$P1B"
start_node n2 2 "$P2"

# bench PORT PIPELINE TEST -> requests per second of one run
bench() {
    local port=$1 pipeline=$2 test=$3 n=$REQUESTS
    [ "$pipeline" -gt 1 ] && n=$PIPELINED_REQUESTS
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -r 100000 -P "$pipeline" \
        -t "$test" --csv 2>/dev/null | awk -F'"' -v t="${test^^}" '$2 == t {print $4}'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "redis-benchmark: $CLIENTS clients, -r 100000, $REQUESTS requests (-P 16: $PIPELINED_REQUESTS), median of $RUNS runs, servers taken in turn"
declare -A RUNS_OF
for run in $(seq "$RUNS"); do
    for server in redis:"$REDIS_PORT" redis_aof:"$REDIS_AOF_PORT" node1:"$P1" node2:"$P1B"; do
        for pipeline in 1 16; do
            for test in set get; do
                RUNS_OF[${server%%:*},$pipeline,$test]+="$(bench "${server##*:}" "$pipeline" "$test") "
            done
        done
    done
    echo "run $run of $RUNS done" >&2
done
declare -A RPS
for key in "${!RUNS_OF[@]}"; do RPS[$key]=$(median <<<"${RUNS_OF[$key]}"); done

printf '\n| server | test | -P 1 (req/s) | ratio | -P 16 (req/s) | ratio |\n| --- | --- | --- | --- | --- | --- |\n'
for server in redis redis_aof node1 node2; do
    case $server in
        redis) name="redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)" ;;
        redis_aof) name="redis-server, appendonly everysec" ;;
        node1) name="kevy-node, 1 thread" ;;
        node2) name="kevy-node, 2 threads" ;;
    esac
    for test in set get; do
        printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${test^^}" \
            "${RPS[$server,1,$test]}" "$(ratio "${RPS[$server,1,$test]}" "${RPS[redis,1,$test]}")" \
            "${RPS[$server,16,$test]}" "$(ratio "${RPS[$server,16,$test]}" "${RPS[redis,16,$test]}")"
    done
done

# Refused writes: every SET to n2 answers -MISDIRECTED writer is 127.0.0.1:P1.
# examples/pipe_load.rs pipelines PIPE_SETS SETs on one connection and counts
# the replies (redis-cli --pipe prints every error reply, which bounds it).
median_pipe() { # PORT -> "req/s ..." of the median run
    for _ in $(seq "$RUNS"); do "$BUILD/examples/pipe_load" "$1" "$PIPE_SETS"; done |
        sort -g | awk '{v[NR]=$0} END {print v[int((NR+1)/2)]}'
}
printf '\n%s SETs pipelined on one connection (examples/pipe_load.rs), median of %s runs:\n' "$PIPE_SETS" "$RUNS"
for target in "kevy-node n2, 2 threads, every SET refused:$P2" "kevy-node n1, 2 threads, every SET accepted:$P1B" \
    "redis-server:$REDIS_PORT"; do
    printf '  %-46s %s\n' "${target%:*}" "$(median_pipe "${target##*:}")"
done

python3 - "$PIPE_SETS" >"$WORK/sets.resp" <<'EOF'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"key:%012d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n" % (len(k), k))
EOF
start=$(date +%s.%N)
redis-cli -h 127.0.0.1 -p "$P2" --pipe <"$WORK/sets.resp" >"$WORK/pipe.out" 2>&1 || true
end=$(date +%s.%N)
printf '\nredis-cli --pipe, the same SETs to n2: %s; %.0f req/s (redis-cli prints each error reply)\n' \
    "$(tail -n 1 "$WORK/pipe.out")" "$(awk -v n="$PIPE_SETS" -v s="$start" -v e="$end" 'BEGIN {print n / (e - s)}')"
echo "a sample refusal: $(redis-cli -h 127.0.0.1 -p "$P2" SET key:1 x)"
