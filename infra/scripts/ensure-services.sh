#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer at their local default addresses.
#   ensure-services.sh           check; print how to start what is missing; exit 1 if anything is down
#   ensure-services.sh --start   also try to start what is missing on this machine (Debian packages,
#                                as CI does); installs redis-server with apt if it is absent
set -uo pipefail
START=0; [ "${1:-}" = "--start" ] && START=1
PGHOST_=${PGHOST_CHECK:-127.0.0.1}; PGPORT_=${PGPORT_CHECK:-5432}
REDIS_HOST_=${REDIS_HOST_CHECK:-127.0.0.1}; REDIS_PORT_=${REDIS_PORT_CHECK:-6379}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
pg_up() { if command -v pg_isready >/dev/null; then pg_isready -q -h "$PGHOST_" -p "$PGPORT_"; else port_open "$PGHOST_" "$PGPORT_"; fi; }
redis_up() { if command -v redis-cli >/dev/null; then [ "$(redis-cli -h "$REDIS_HOST_" -p "$REDIS_PORT_" ping 2>/dev/null)" = PONG ]; else port_open "$REDIS_HOST_" "$REDIS_PORT_"; fi; }
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 0.5; done; return 1; }

start_pg() {
  if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start 2>/dev/null || true
  elif [ -x /usr/lib/postgresql/15/bin/initdb ] && id postgres >/dev/null 2>&1; then
    # A fresh machine with the binaries but no cluster: initdb refuses root, so run as postgres.
    local data=/var/lib/postgresql/mcprt-data
    if [ ! -s "$data/PG_VERSION" ]; then
      mkdir -p "$data" && chown postgres "$data"
      su postgres -c "/usr/lib/postgresql/15/bin/initdb -D $data --auth=trust -U postgres" >/dev/null
    fi
    su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $data -o '-k /tmp -h 127.0.0.1' -l $data/log start" >/dev/null
  fi
  wait_for pg_up
}

start_redis() {
  if ! command -v redis-server >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing redis-server (apt)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 || true
  fi
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT_" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/mcprt.log >/dev/null 2>&1 || \
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT_" --save "" --appendonly no >/dev/null 2>&1 || true
  fi
  wait_for redis_up
}

ok=0
if pg_up; then echo "postgres: ok ($PGHOST_:$PGPORT_)"
elif [ $START = 1 ] && start_pg; then echo "postgres: started ($PGHOST_:$PGPORT_)"
else ok=1; echo "postgres: NOT reachable at $PGHOST_:$PGPORT_ — start it, e.g. 'docker compose up -d postgres' or 'pg_ctlcluster 15 main start'" >&2
fi
if redis_up; then echo "redis: ok ($REDIS_HOST_:$REDIS_PORT_)"
elif [ $START = 1 ] && start_redis; then echo "redis: started ($REDIS_HOST_:$REDIS_PORT_)"
else ok=1; echo "redis: NOT reachable at $REDIS_HOST_:$REDIS_PORT_ — start it, e.g. 'docker compose up -d redis' or 'redis-server --daemonize yes'" >&2
fi
exit $ok
