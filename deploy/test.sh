#!/usr/bin/env bash
# The test command: lint, unit tests, then integration tests against the real
# Cassandra, Ceph and clamd. Starts whatever part of the stack is not running
# and stops, at the end, only what it started. Arguments go to `node --test`
# (for example --test-name-pattern=corpus).

COMPONENT=test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SHOEBOX_ROOT"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log "typecheck and lint"
npx tsc -p tsconfig.json --noEmit
npx eslint .

log "unit tests"
node --test --test-concurrency=1 "$@" dist/test/unit/

if port_open 9042 && port_open 7480 && port_open 3310; then
  log "stack already running; leaving it running afterwards"
else
  trap '"$SHOEBOX_ROOT/deploy/stack.sh" down' EXIT
  "$SHOEBOX_ROOT/deploy/stack.sh" infra-up
fi

log "integration tests"
# No single test may take more than 5 minutes, so a stuck one fails instead of hanging CI.
node --test --test-concurrency=1 --test-timeout=300000 "$@" dist/test/integration/
