#!/usr/bin/env bash
# Local Redis, Postgres and pgbouncer (transaction pooling) on free loopback ports, with their
# data under .local/services (ignored by git). Services already running on the standard ports
# are left alone. REDIS_URL / DATABASE_URL given in the environment are reused instead.
#
#   eval "$(bash scripts/services.sh start)"   start (or find) them and export their URLs
#   bash scripts/services.sh env               print the exports for what is running
#   bash scripts/services.sh stop              stop what this script started
#   bash scripts/services.sh remove            stop them, then delete their data: the services
#                                             folder and its runtime folder under /var/tmp
#   bash scripts/services.sh restart redis|postgres|pgbouncer
#   bash scripts/services.sh crash postgres   stop Postgres as a crash would (pg_ctl stop -m
#                                             immediate); `start` brings it back (crash recovery)
#   bash scripts/services.sh status
#   bash scripts/services.sh running          exit 0 when this script's Redis is up
#   bash scripts/services.sh cluster start|stop  a 3-node Redis Cluster (prints REDIS_CLUSTER_NODES)
#
# SERVICES_PG_DURABLE=1 (at the first start of a services folder; kept in its state): Postgres
# with the production settings (fsync, full_page_writes, synchronous_commit on), for the tests
# that crash it. Without it, Postgres trades durability for speed (see pg_opts).
# SERVICES_PG_SHARED_BUFFERS (default 256MB; read at each start and restart of Postgres, not
# kept): e.g. 2GB, the compose deploy's, to measure a large database as deployed
# (bench/indexer-scale).
#
# Postgres and pgbouncer run as the `postgres` user when this runs as root. When that user
# cannot reach the checkout (a private folder: `mktemp -d`, root's home), their files go to
# /var/tmp/firehose-workers-<hash of the services folder>/, owned by postgres, one per services
# folder; `<services folder>/runtime` links to it. Each such start also deletes the runtime
# folders whose services folder is gone (a checkout deleted without `remove`), unless their
# Postgres or pgbouncer still runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SERVICES_DIR:-$ROOT/.local/services}"
STATE="$DIR/state.env"
DB_NAME="${SERVICES_DB_NAME:-firehose}"
mkdir -p "$DIR"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
# (from /: the postgres user may not be allowed into the current folder)
as_pg() { if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_until N cmd...: run cmd every 0.1 s until it succeeds, at most N times; fails if it never did.
wait_until() {
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}
redis_up() { redis-cli -p "$1" ping >/dev/null 2>&1; }
pgbouncer_up() { psql -h 127.0.0.1 -p "$1" -U postgres -d "$DB_NAME" -tAc 'select 1' >/dev/null 2>&1; }
not_running() { ! alive_pidfile "$1"; }
# Ports are picked below the kernel's ephemeral range (ip_local_port_range, 32768-60999 on
# Debian): a port from inside it can be taken by any outgoing connection between the check and
# the server's bind, or while a test restarts the server on it.
port_range() {
  local low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 0)
  if [ "${low:-0}" -gt 21000 ] 2>/dev/null; then echo "20000 $(( low - 20000 ))"; else echo "20000 30000"; fi
}
# free_port [offset]: a port p such that p + offset is below the ephemeral range too (a Redis
# Cluster node also binds its bus port, p + 10000).
free_port() {
  local p base span offset=${1:-0}
  read -r base span < <(port_range)
  [ "$span" -gt $(( offset + 1000 )) ] && span=$(( span - offset ))
  for _ in $(seq 1 200); do
    p=$(( base + RANDOM % span ))
    if ! port_busy "$p" && ! grep -q "=$p\$" "$STATE" 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

APT_UPDATED=0
apt_install() {
  is_root || die "missing $*; install it (Debian: apt-get install $*) or run as root"
  if [ "$APT_UPDATED" = 0 ]; then log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; APT_UPDATED=1; fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}
ensure_packages() {
  local need=()
  [ -n "${REDIS_URL:-}" ] || command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ -z "${DATABASE_URL:-}" ]; then
    pg_bin >/dev/null || need+=(postgresql postgresql-contrib)
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
  fi
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
}

load_state() { [ -f "$STATE" ] && . "$STATE"; true; }
save_state() {
  cat > "$STATE" <<S
REDIS_PORT=${REDIS_PORT:-}
PG_PORT=${PG_PORT:-}
PGBOUNCER_PORT=${PGBOUNCER_PORT:-}
PG_DATA=${PG_DATA:-}
RUN_DIR=${RUN_DIR:-}
PG_DURABLE=${PG_DURABLE:-}
S
}

# (the pid is the file's first line: Postgres' postmaster.pid has more)
alive_pidfile() { [ -f "$1" ] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

# Where Postgres' data and pgbouncer's files go: the services folder, unless this runs as root
# and the postgres user (which both run as: Postgres refuses root, pgbouncer must read its
# config) cannot write there. Then a folder of this services folder's own under /var/tmp.
runtime_dir() {
  if ! is_root; then echo "$DIR"; return; fi
  local probe="$DIR/.pg-probe"
  mkdir -p "$probe"; chown postgres:postgres "$probe" 2>/dev/null || true
  if runuser -u postgres -- test -w "$probe" 2>/dev/null; then rm -rf "$probe"; echo "$DIR"; return; fi
  rm -rf "$probe"
  sweep_runtime_dirs
  local d; d="/var/tmp/firehose-workers-$(printf '%s' "$DIR" | md5sum | cut -c1-12)"
  mkdir -p "$d"; chmod 0700 "$d"; chown postgres:postgres "$d"
  printf '%s\n' "$DIR" > "$d/services-folder"
  ln -sfn "$d" "$DIR/runtime"
  echo "$d"
}

# The runtime folders under /var/tmp whose services folder no longer exists, and whose Postgres
# and pgbouncer are not running: left by checkouts deleted without `remove` (~50 MB each).
sweep_runtime_dirs() {
  local d owner
  for d in /var/tmp/firehose-workers-*; do
    [ -f "$d/services-folder" ] || continue
    owner=$(head -n 1 "$d/services-folder")
    [ -n "$owner" ] && [ ! -e "$owner" ] || continue
    alive_pidfile "$d/pgbouncer/pgbouncer.pid" || alive_pidfile "$d/pg/postmaster.pid" && continue
    rm -rf "$d" && log "removed $d (its services folder $owner is gone)"
  done
}

# `remove`: stop, then delete this services folder and its runtime folder.
remove_all() {
  stop_all
  local run=""
  if [ -L "$DIR/runtime" ]; then run=$(readlink "$DIR/runtime"); fi
  case "$run" in /var/tmp/firehose-workers-*) rm -rf "$run" ;; esac
  rm -rf "$DIR"
  log "removed $DIR${run:+ and $run}"
}

start_redis() {
  if [ -n "${REDIS_URL:-}" ]; then log "using REDIS_URL from the environment"; return; fi
  if [ -n "${REDIS_PORT:-}" ] && alive_pidfile "$DIR/redis/redis.pid"; then log "redis already running on $REDIS_PORT"; return; fi
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  port_busy "$REDIS_PORT" && REDIS_PORT=$(free_port)
  mkdir -p "$DIR/redis"
  local attempt
  for attempt in 1 2 3 4 5; do
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DIR/redis" \
      --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" \
      --appendonly yes --appendfsync everysec --save "" --protected-mode no >&2
    wait_until 100 redis_up "$REDIS_PORT" && { STARTED+=(redis); break; }
    # taken between the check and the bind (another project's server starting): a new port
    [ "$attempt" = 5 ] && die "redis did not start (see $DIR/redis/redis.log)"
    log "redis did not come up on $REDIS_PORT; trying another port"
    REDIS_PORT=$(free_port)
  done
  log "redis on 127.0.0.1:$REDIS_PORT"
}

# Local, disposable data: durability settings traded for speed (a crash of Postgres or of the
# machine may lose the last acknowledged writes; a clean restart does not). SERVICES_PG_DURABLE=1:
# the production settings instead (every commit flushed before it returns).
pg_opts() {
  local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${PG_DURABLE:-}" = 1 ] && durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
  local buffers=${SERVICES_PG_SHARED_BUFFERS:-256MB}
  [[ $buffers =~ ^[0-9]+(kB|MB|GB)$ ]] || die "SERVICES_PG_SHARED_BUFFERS must be a size such as 256MB or 2GB, got '$buffers'"
  echo "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=$buffers $durability -c max_locks_per_transaction=256"
}

start_postgres() {
  [ -n "${DATABASE_URL:-}" ] && { log "using DATABASE_URL from the environment"; return; }
  local bin; bin=$(pg_bin)
  PG_DATA=${PG_DATA:-$RUN_DIR/pg}
  mkdir -p "$PG_DATA"; is_root && chown postgres:postgres "$PG_DATA"; chmod 0700 "$PG_DATA"
  if [ -n "${PG_PORT:-}" ] && as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then log "postgres already running on $PG_PORT"; return; fi
  PG_PORT=${PG_PORT:-$(free_port)}
  port_busy "$PG_PORT" && PG_PORT=$(free_port)
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
      || as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  local attempt logged opts
  for attempt in 1 2 3 4 5; do
    opts=$(pg_opts) || exit 1
    logged=$(stat -c %s "$PG_DATA/postgres.log" 2>/dev/null || echo 0)
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/postgres.log" -w -t 60 start -o "$opts" >&2 && { STARTED+=(postgres); break; }
    [ "$attempt" = 5 ] && die "postgres did not start (see $PG_DATA/postgres.log)"
    # only a port taken between the check and the bind is worth another try (this attempt's log)
    tail -c +$(( logged + 1 )) "$PG_DATA/postgres.log" 2>/dev/null | grep -q 'Address already in use' \
      || die "postgres did not start (see $PG_DATA/postgres.log)"
    log "port $PG_PORT was taken; trying another"
    PG_PORT=$(free_port)
  done
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE $DB_NAME" >&2
  log "postgres on 127.0.0.1:$PG_PORT"
}

start_pgbouncer() {
  [ -n "${DATABASE_URL:-}" ] && return
  local d="$RUN_DIR/pgbouncer" bin; bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  if [ -n "${PGBOUNCER_PORT:-}" ] && alive_pidfile "$d/pgbouncer.pid"; then log "pgbouncer already running on $PGBOUNCER_PORT"; return; fi
  PGBOUNCER_PORT=${PGBOUNCER_PORT:-$(free_port)}
  port_busy "$PGBOUNCER_PORT" && PGBOUNCER_PORT=$(free_port)
  mkdir -p "$d"
  cat > "$d/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $d/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
min_pool_size = 0
reserve_pool_size = 10
server_reset_query =
ignore_startup_parameters = extra_float_digits,options,application_name
pidfile = $d/pgbouncer.pid
logfile = $d/pgbouncer.log
admin_users = postgres
INI
  echo '"postgres" ""' > "$d/userlist.txt"
  is_root && chown -R postgres:postgres "$d"
  local attempt
  for attempt in 1 2 3 4 5; do
    sed -i "s/^listen_port = .*/listen_port = $PGBOUNCER_PORT/" "$d/pgbouncer.ini"
    as_pg "$bin" -d "$d/pgbouncer.ini" >&2 || die "pgbouncer did not start (see $d/pgbouncer.log)"
    STARTED+=(pgbouncer)
    wait_until 100 pgbouncer_up "$PGBOUNCER_PORT" && break
    # pgbouncer keeps running when it cannot bind its port (it logs a warning): stop it and move
    if alive_pidfile "$d/pgbouncer.pid"; then kill "$(cat "$d/pgbouncer.pid")" 2>/dev/null || true; fi
    wait_until 50 not_running "$d/pgbouncer.pid" || true
    [ "$attempt" = 5 ] && die "pgbouncer did not answer on $PGBOUNCER_PORT (see $d/pgbouncer.log)"
    log "pgbouncer did not answer on $PGBOUNCER_PORT; trying another port"
    PGBOUNCER_PORT=$(free_port)
  done
  log "pgbouncer (transaction pooling) on 127.0.0.1:$PGBOUNCER_PORT"
}

print_env() {
  load_state
  if [ -n "${REDIS_URL:-}" ]; then echo "export REDIS_URL='$REDIS_URL'"
  elif [ -n "${REDIS_PORT:-}" ]; then echo "export REDIS_URL='redis://127.0.0.1:$REDIS_PORT'"; fi
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "export DATABASE_URL='$DATABASE_URL'"
    echo "export DATABASE_DIRECT_URL='${DATABASE_DIRECT_URL:-${DATABASE_MIGRATION_URL:-$DATABASE_URL}}'"
  elif [ -n "${PGBOUNCER_PORT:-}" ]; then
    echo "export DATABASE_URL='postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/$DB_NAME'"
    echo "export DATABASE_DIRECT_URL='postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME'"
    echo "export PGBOUNCER_ADMIN_URL='postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/pgbouncer'"
  fi
  echo "export SERVICES_STATE='$STATE'"
}

stop_redis() { if [ -n "${REDIS_PORT:-}" ] && alive_pidfile "$DIR/redis/redis.pid"; then redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || kill "$(cat "$DIR/redis/redis.pid")"; log "redis stopped"; fi; }
stop_postgres() { if [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 && log "postgres stopped"; fi; true; }
stop_pgbouncer() {
  local f="${RUN_DIR:-$DIR}/pgbouncer/pgbouncer.pid"
  if alive_pidfile "$f"; then kill "$(cat "$f")" && log "pgbouncer stopped"; fi; true
}

stop_all() {
  load_state
  stop_pgbouncer; stop_postgres; stop_redis
  cluster_stop
}

# A start that fails stops what it started itself (not what was running before it).
STARTED=()
stop_started_on_failure() {
  local code=$? s
  [ "$code" = 0 ] && return
  for s in pgbouncer postgres redis; do
    if [[ " ${STARTED[*]:-} " == *" $s "* ]]; then log "set-up failed: stopping the $s it started"; "stop_$s" || true; fi
  done
  exit "$code"
}

restart_one() {
  load_state
  RUN_DIR=${RUN_DIR:-$DIR}
  case "$1" in
    redis)
      local pid; pid=$(cat "$DIR/redis/redis.pid")
      redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
      start_redis ;;
    postgres)
      local opts; opts=$(pg_opts) || exit 1
      # (-l: the restarted server logs where `start` has it log, not to pg_ctl's stdout)
      as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/postgres.log" -m fast -w restart -o "$opts" >/dev/null
      log "postgres restarted" ;;
    pgbouncer)
      local pid; pid=$(cat "$RUN_DIR/pgbouncer/pgbouncer.pid")
      kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
      start_pgbouncer ;;
    *) die "restart what? redis|postgres|pgbouncer" ;;
  esac
}

# Postgres killed as a crash or an OOM kill would (no checkpoint, no flush): its next start
# runs crash recovery from the WAL.
crash_one() {
  load_state
  case "$1" in
    postgres) as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null; log "postgres stopped (immediate)" ;;
    *) die "crash what? postgres" ;;
  esac
}

cluster_start() {
  local cdir="$DIR/cluster" ports=() p nodes=""
  mkdir -p "$cdir"
  # Test files that need the cluster start it concurrently: one at a time, the later ones reuse
  # it (without the lock each started its own, and all but the last recorded one leaked). The
  # nodes must not inherit the lock's descriptor (9>&- below), or they would hold it.
  exec 9>"$cdir/.lock"; flock 9
  if [ -f "$cdir/nodes.env" ]; then . "$cdir/nodes.env"
    if redis-cli -p "${CLUSTER_PORTS%% *}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
      echo "export REDIS_CLUSTER_NODES='$REDIS_CLUSTER_NODES'"; return; fi
  fi
  for i in 1 2 3; do
    p=$(free_port 10000); ports+=("$p"); mkdir -p "$cdir/$p"; rm -f "$cdir/$p"/*
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$cdir/$p" --cluster-enabled yes \
      --cluster-config-file nodes.conf --pidfile "$cdir/$p/redis.pid" --logfile "$cdir/$p/redis.log" --save "" --appendonly no --protected-mode no >&2 9>&-
    nodes="$nodes${nodes:+,}127.0.0.1:$p"
  done
  for p in "${ports[@]}"; do wait_until 50 redis_up "$p" || true; done
  redis-cli --cluster create $(for p in "${ports[@]}"; do printf '127.0.0.1:%s ' "$p"; done) --cluster-replicas 0 --cluster-yes >&2
  for _ in $(seq 1 100); do redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1; done
  printf "CLUSTER_PORTS='%s'\nREDIS_CLUSTER_NODES='%s'\n" "${ports[*]}" "$nodes" > "$cdir/nodes.env"
  log "redis cluster on $nodes"
  echo "export REDIS_CLUSTER_NODES='$nodes'"
}
cluster_stop() {
  local cdir="$DIR/cluster" f stopped=""
  [ -d "$cdir" ] || return 0
  exec 9>"$cdir/.lock"; flock 9
  # every node started here, by its pidfile (also those of an earlier start no longer recorded)
  for f in "$cdir"/*/redis.pid; do
    if alive_pidfile "$f"; then kill "$(cat "$f")" 2>/dev/null && stopped=1; fi
  done
  rm -f "$cdir/nodes.env"; [ -z "$stopped" ] || log "redis cluster stopped"
}

cmd="${1:-start}"
case "$cmd" in
  start)
    trap stop_started_on_failure EXIT
    ensure_packages
    load_state
    PG_DURABLE=${PG_DURABLE:-${SERVICES_PG_DURABLE:-}}
    [ -n "${DATABASE_URL:-}" ] || RUN_DIR=${RUN_DIR:-$(runtime_dir)}
    start_redis; start_postgres; start_pgbouncer
    save_state
    print_env ;;
  env) print_env ;;
  stop) stop_all ;;
  remove) remove_all ;;
  restart) restart_one "${2:-}" ;;
  crash) crash_one "${2:-}" ;;
  status) load_state; cat "$STATE" 2>/dev/null; print_env ;;
  running) alive_pidfile "$DIR/redis/redis.pid" ;;
  cluster) case "${2:-start}" in start) command -v redis-server >/dev/null || apt_install redis-server; cluster_start ;; stop) cluster_stop ;; esac ;;
  *) die "usage: services.sh start|env|stop|status|restart <svc>|crash postgres|cluster start|stop" ;;
esac
