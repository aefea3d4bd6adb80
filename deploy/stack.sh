#!/usr/bin/env bash
# Single-host stack: Cassandra, Ceph (mon, mgr, 3 OSDs, RGW), clamd, and the
# Shoebox ingest node. Usage: deploy/stack.sh setup|up|down|status|infra-up|node-up|node-down
#
#   setup      install what is missing (Debian packages, Cassandra jars, npm
#              packages) and build the TypeScript
#   infra-up   start Cassandra, Ceph and clamd, and wait until each responds
#   node-up    start the ingest node and wait for /healthz
#   up         infra-up, then node-up
#   down       stop everything this script started, by PID
#   status     what runs where

COMPONENT=stack
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DEPLOY=$SHOEBOX_ROOT/deploy
NODE_DIR=$SHOEBOX_STATE_DIR/shoebox
NODE_PID=$NODE_DIR/ingest.pid
NODE_LOG=$NODE_DIR/log/ingest.log

setup() {
  # chromium runs the browser upload test (Uppy) headless; jq is used by the README examples.
  apt_install ceph-mon ceph-mgr ceph-osd radosgw ceph-common clamav-daemon clamdscan chromium jq
  "$DEPLOY/ceph.sh" install
  "$DEPLOY/clamd.sh" install
  "$DEPLOY/cassandra.sh" install
  cd "$SHOEBOX_ROOT"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm packages"
    npm ci --no-audit --no-fund >&2
  fi
  log "building TypeScript"
  npx tsc -p tsconfig.json
}

infra_up() {
  # Cassandra's JVM start is the slowest step, so it runs beside Ceph's.
  local cassandra_log=$SHOEBOX_STATE_DIR/cassandra-start.log
  "$DEPLOY/cassandra.sh" start >"$cassandra_log" 2>&1 &
  local cassandra_job=$!
  "$DEPLOY/ceph.sh" start
  "$DEPLOY/clamd.sh" start
  if ! wait "$cassandra_job"; then
    cat "$cassandra_log" >&2
    die "Cassandra did not start (see above)"
  fi
  cat "$cassandra_log" >&2
}

node_up() {
  [ -f "$SHOEBOX_ROOT/dist/nodes/ingest/main.js" ] || die "dist/ is missing; run 'task setup' first"
  start_daemon ingest "$NODE_PID" "$NODE_LOG" node "$SHOEBOX_ROOT/dist/nodes/ingest/main.js"
  local http
  http=$( (grep -E '^SHOEBOX_HTTP_ADDRESS=' "$SHOEBOX_STATE_DIR/stack.env" 2>/dev/null || true) | cut -d= -f2)
  http=${SHOEBOX_HTTP_ADDRESS:-${http:-127.0.0.1:8080}}
  wait_for "ingest node on http://$http" 90 "$NODE_LOG" \
    bash -c "pid_ok() { kill -0 \$(cat '$NODE_PID'); }; pid_ok && curl -fsS http://$http/healthz"
  pid_alive "$NODE_PID" || { tail -n 30 "$NODE_LOG" >&2; die "ingest node exited (log: $NODE_LOG)"; }
}

node_down() {
  stop_daemon ingest "$NODE_PID" 40
}

down() {
  node_down
  "$DEPLOY/clamd.sh" stop || true
  "$DEPLOY/ceph.sh" stop || true
  "$DEPLOY/cassandra.sh" stop || true
}

status() {
  if pid_alive "$NODE_PID"; then echo "ingest     running  pid $(cat "$NODE_PID")  log $NODE_LOG"; else echo "ingest     stopped"; fi
  "$DEPLOY/clamd.sh" status || true
  "$DEPLOY/cassandra.sh" status || true
  "$DEPLOY/ceph.sh" status || true
}

case "${1:-}" in
  setup) setup ;;
  infra-up) infra_up ;;
  node-up) node_up ;;
  node-down) node_down ;;
  up) infra_up; node_up ;;
  down) down ;;
  status) status ;;
  *) die "usage: deploy/stack.sh setup|up|down|status|infra-up|node-up|node-down" ;;
esac
