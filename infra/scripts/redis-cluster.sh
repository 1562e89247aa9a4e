#!/usr/bin/env bash
# A local Redis Cluster of 3 primaries (no replicas) from Debian's redis-server, for tests and CI.
#   redis-cluster.sh start             start the nodes, create the cluster, wait until `cluster info` says ok;
#                                      prints the REDIS_URL to use (seed nodes, comma-separated)
#   redis-cluster.sh stop              stop the nodes (SIGTERM, then SIGKILL) and remove the directory
#   redis-cluster.sh status            `cluster info` of the first node; exit 1 when the cluster is not ok
#   redis-cluster.sh url               the REDIS_URL (seed nodes) of the cluster
#   redis-cluster.sh start-node PORT   start one node again (after a kill): same nodes.conf, so it takes back
#                                      its slots, with no data (nothing is saved)
# Environment: REDIS_CLUSTER_PORT first port (default 7101; nodes on PORT..PORT+2, cluster bus on +10000),
# REDIS_CLUSTER_DIR its own directory (default /tmp/mcprt-redis-cluster-PORT: nodes.conf, logs, pid files),
# REDIS_CLUSTER_NODE_TIMEOUT_MS (default 3000: how long a node may be silent before the others mark it failed).
set -euo pipefail
PORT=${REDIS_CLUSTER_PORT:-7101}
DIR=${REDIS_CLUSTER_DIR:-/tmp/mcprt-redis-cluster-$PORT}
NODE_TIMEOUT=${REDIS_CLUSTER_NODE_TIMEOUT_MS:-3000}
PORTS=("$PORT" "$((PORT + 1))" "$((PORT + 2))")

url() { local IFS=,; local u=(); for p in "${PORTS[@]}"; do u+=("redis://127.0.0.1:$p"); done; echo "${u[*]}"; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

start_node() {
  local p=$1
  mkdir -p "$DIR/$p"
  redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$DIR/$p" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT" --save "" --appendonly no \
    --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log"
  for _ in $(seq 1 100); do [ "$(cli "$p" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
  echo "redis node $p did not start; see $DIR/$p/redis.log" >&2
  return 1
}

cluster_ok() { cli "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

wait_ok() {
  for _ in $(seq 1 200); do
    # Every node must see the whole cluster, not only the first one.
    local all=1
    for p in "${PORTS[@]}"; do cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || all=0; done
    [ $all = 1 ] && return 0
    sleep 0.1
  done
  echo "the cluster did not reach cluster_state:ok" >&2
  cli "${PORTS[0]}" cluster info >&2 || true
  return 1
}

stop() {
  for p in "${PORTS[@]}"; do
    local pid
    pid=$(cat "$DIR/$p/redis.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for p in "${PORTS[@]}"; do
    local pid
    pid=$(cat "$DIR/$p/redis.pid" 2>/dev/null || true)
    for _ in $(seq 1 50); do { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; } && break; sleep 0.1; done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
}

case "${1:-}" in
  start)
    command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
    if cluster_ok; then url; exit 0; fi
    stop
    for p in "${PORTS[@]}"; do start_node "$p"; done
    nodes=(); for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 ||
      { cat "$DIR/create.log" >&2; exit 1; }
    wait_ok
    url
    ;;
  start-node) start_node "${2:?port}" ;;
  stop) stop ;;
  status) cli "${PORTS[0]}" cluster info | head -8; cluster_ok ;;
  url) url ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
