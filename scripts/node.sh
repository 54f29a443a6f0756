#!/usr/bin/env bash
# The example kevy node (node/, a crate of its own).
#
#   scripts/node.sh cluster [first-port]  three nodes on 127.0.0.1 (ports first-port..+2,
#                                         default 7001) in the foreground; Ctrl-C stops them
#   scripts/node.sh test                  format, lints, unit tests and the integration test
#                                         (redis-cli installed with apt when missing)
#   scripts/node.sh bench                 node/bench.sh: throughput beside redis-server
set -euo pipefail
cd "$(dirname "$0")/../node"

ensure_redis_cli() {
    command -v redis-cli >/dev/null || bash ../scripts/apt_install.sh redis-tools
}

# Where cargo puts this crate's builds (CARGO_TARGET_DIR honoured).
target_dir() {
    cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4
}

# A secret of 32 hex digits in FILE (kept when FILE exists), readable by
# its owner only.
secret() {
    [ -s "$1" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$1")
}

# Three nodes, each started from a kevy config file written here, with
# generated passwords for the cluster's two users.
cluster() {
    local first=${1:-7001} dir=${KEVY_NODE_DIR:-/tmp/kevy-node-cluster}
    local scopes="app:a:=n1|n3, app:b:=n2, app:c:=n3"
    local peers="n1@127.0.0.1:$first, n2@127.0.0.1:$((first + 1)), n3@127.0.0.1:$((first + 2))"
    cargo build --release -q --bin kevy-node
    local node
    node="$(target_dir)/release/kevy-node"
    mkdir -p "$dir"
    secret "$dir/cluster.pass"
    secret "$dir/admin.pass"
    local pids=()
    trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
    for i in 1 2 3; do
        cat >"$dir/n$i.toml" <<EOF
[server]
threads = 2
data_dir = "$dir/n$i"

[cluster]
node_id = "n$i"
scopes = "$scopes"
peers = "$peers"

[auth]
cluster_password_file = "$dir/cluster.pass"
admin_password_file = "$dir/admin.pass"
EOF
        # $! is the node's PID (its log goes through sed, prefixed).
        "$node" --config "$dir/n$i.toml" > >(sed -u "s/^/[n$i] /") 2>&1 &
        pids+=($!)
    done
    sleep 0.5
    local admin="--user admin --pass \$(cat $dir/admin.pass) --no-auth-warning"
    cat <<EOF

Three kevy nodes on loopback (data, configs and passwords in $dir):
  scopes: $scopes
  peers:  $peers
  users:  default (data commands, no password);
          cluster (node-to-node commands; password in $dir/cluster.pass);
          admin (MOVE-SCOPE, SCOPE-LIFT-QUARANTINE; password in $dir/admin.pass)
Try:
  redis-cli -p $((first + 2)) SET app:a:1 x                     # -MISDIRECTED writer is 127.0.0.1:$first
  redis-cli -p $first SET app:a:1 x                             # OK
  redis-cli -p $first MOVE-SCOPE app:a: FROM n1 TO n2           # -NOPERM ... (needs the admin user)
  redis-cli $admin -p $first MOVE-SCOPE app:a: FROM n1 TO n2
                                                                # OK 1
  redis-cli -p $((first + 2)) SET app:a:1 y                     # -MISDIRECTED writer is 127.0.0.1:$((first + 1))
  redis-cli -p $((first + 1)) SCOPE-STATUS
Ctrl-C stops the three nodes.
EOF
    wait
}

case "${1:-}" in
    cluster)
        cluster "${2:-}"
        ;;
    test)
        ensure_redis_cli
        cargo fmt --check
        cargo clippy --release --all-targets -- -D warnings
        cargo test --release
        ;;
    bench)
        bash bench.sh
        ;;
    *)
        echo "usage: $0 cluster [first-port] | test | bench" >&2
        exit 2
        ;;
esac
