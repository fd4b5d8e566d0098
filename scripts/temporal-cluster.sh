#!/usr/bin/env bash
# The Temporal server of cspsync's production topology, run here without
# Docker: PostgreSQL persistence and SQL visibility, configured by
# deploy/temporal/config/cspsync.yaml (the file docker-compose.yml mounts).
# `make cluster` and the cluster tests (internal/testenv) both run it.
#
#   scripts/temporal-cluster.sh up        schema, start (unless it serves already), register
#   scripts/temporal-cluster.sh schema    create and migrate the two databases (idempotent)
#   scripts/temporal-cluster.sh start     start temporal-server in the background and wait until it serves
#   scripts/temporal-cluster.sh register  create the namespace and cspsync's search attributes (idempotent)
#   scripts/temporal-cluster.sh stop      stop the server this script started
#
# Settings come from the environment: those the server configuration reads
# (POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD, DBNAME,
# VISIBILITY_DBNAME, FRONTEND_GRPC_PORT and the other ports, ...; defaults in
# the configuration), and:
#   CLUSTER_DIR         pid file and logs (.data/cluster)
#   TEMPORAL_NAMESPACE  the namespace cspsync uses (default)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CLUSTER_DIR:=.data/cluster}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${POSTGRES_SEEDS:=127.0.0.1}" "${DB_PORT:=5432}" "${POSTGRES_USER:=postgres}" "${POSTGRES_PWD:=}"
: "${DBNAME:=temporal}" "${VISIBILITY_DBNAME:=temporal_visibility}" "${FRONTEND_GRPC_PORT:=7233}"
export POSTGRES_SEEDS DB_PORT POSTGRES_USER POSTGRES_PWD DBNAME VISIBILITY_DBNAME FRONTEND_GRPC_PORT
ADDRESS="127.0.0.1:$FRONTEND_GRPC_PORT"
LOGS="$CLUSTER_DIR/logs"
# The names `cspsync dev` uses: `cspsync dev stop --data-dir $CLUSTER_DIR` stops the server too.
PIDFILE="$CLUSTER_DIR/temporal.pid"
SERVER_LOG="$LOGS/temporal.log"
BIN=.bin
mkdir -p "$LOGS"

# cspsync's search attributes: internal/config.SearchAttributes (the compose
# check holds this list to it).
SEARCH_ATTRIBUTES="PartnerId TenantId CustomerName Relationship ConsentState SyncState"

step() { echo "==> $*"; }
fail() { echo "temporal-cluster: $*" >&2; exit 1; }

need() {
  [ -x "$BIN/$1" ] || fail "$BIN/$1 is missing: build it with \`make $2\`"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

temporal() { "$BIN/temporal" --address "$ADDRESS" "$@"; }

# retry CMD...: the server answers some calls only once its services have
# joined, and a new namespace only once its cache has it.
retry() {
  local log="$LOGS/register.log" n=0
  until "$@" >>"$log" 2>&1; do
    n=$((n + 1))
    [ "$n" -lt 60 ] || fail "giving up after 60 tries: ${*} (see $log)"
    sleep 1
  done
}

# sqltool DB ARGS...: the SQL tool on one database, its output in schema.log.
sqltool() {
  local db=$1 log="$LOGS/schema.log"
  shift
  SQL_PASSWORD="$POSTGRES_PWD" "$BIN/temporal-sql-tool" --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" --db "$db" "$@" >>"$log" 2>&1 ||
    fail "temporal-sql-tool $1 on database $db failed: see $log"
}

schema() {
  need temporal-sql-tool server-tools
  pg_isready -q -h "$POSTGRES_SEEDS" -p "$DB_PORT" ||
    fail "PostgreSQL does not answer on $POSTGRES_SEEDS:$DB_PORT: start it (it is never started or restarted here)"
  local pair db dir
  for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
    db=${pair%%:*} dir=postgresql/v12/${pair#*:}
    step "Database $db: create and migrate ($dir)"
    sqltool "$db" create-database
    sqltool "$db" setup-schema -v 0.0
    sqltool "$db" update-schema --schema-name "$dir"
  done
}

start() {
  need temporal-server server-tools
  need temporal tools
  if running; then
    step "temporal-server already runs (pid $(cat "$PIDFILE"))"
    return
  fi
  # A server just stopped may hold the port for a moment; anything else is in the way.
  local n=0
  while (exec 3<>"/dev/tcp/127.0.0.1/$FRONTEND_GRPC_PORT") 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -lt 20 ] || fail "something else serves $ADDRESS (the demo's dev server? \`make stop\` stops it)"
    sleep 0.5
  done
  step "temporal-server on $ADDRESS (databases $DBNAME, $VISIBILITY_DBNAME; log $SERVER_LOG)"
  setsid "$BIN/temporal-server" --root deploy/temporal --config config --env cspsync --allow-no-auth start \
    >>"$SERVER_LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  n=0
  until temporal operator cluster health >/dev/null 2>&1; do
    running || { tail -n 5 "$SERVER_LOG" >&2; fail "temporal-server exited: see $SERVER_LOG"; }
    n=$((n + 1))
    [ "$n" -lt 120 ] || fail "temporal-server does not serve $ADDRESS after 60s: see $SERVER_LOG"
    sleep 0.5
  done
}

register() {
  need temporal tools
  step "Namespace $TEMPORAL_NAMESPACE and search attributes: $SEARCH_ATTRIBUTES"
  temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1 ||
    retry temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 720h
  local sa
  for sa in $SEARCH_ATTRIBUTES; do
    retry temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$sa" --type Keyword
  done
}

stop() {
  running || { rm -f "$PIDFILE"; return; }
  local pid n=0
  pid=$(cat "$PIDFILE")
  step "Stopping temporal-server (pid $pid)"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -ge 200 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

case "${1:-}" in
  up) schema; start; register ;;
  schema | start | register | stop) "$1" ;;
  *) fail "usage: $0 up|schema|start|register|stop" ;;
esac
