#!/usr/bin/env bash
# Shared helpers for the single-host stack scripts. Source it; do not run it.
#
# Every component keeps all of its state under $SHOEBOX_STATE_DIR/<component>/:
# data, config it renders, logs under log/, and one <daemon>.pid per daemon.
# Scripts write KEY=VALUE lines that Shoebox reads into $SHOEBOX_STATE_DIR/stack.env.

set -euo pipefail

SHOEBOX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOEBOX_STATE_DIR=${SHOEBOX_STATE_DIR:-$SHOEBOX_ROOT/.state}
mkdir -p "$SHOEBOX_STATE_DIR"
SHOEBOX_STATE_DIR=$(cd "$SHOEBOX_STATE_DIR" && pwd)
export SHOEBOX_ROOT SHOEBOX_STATE_DIR

log() { printf '[%s] %s\n' "${COMPONENT:-deploy}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${COMPONENT:-deploy}" "$*" >&2; exit 1; }

# apt_install PKG...: install the Debian packages that are missing.
# apt-get can fail once with "Unable to acquire the dpkg frontend lock" while
# no apt runs, so each step is retried a few times.
apt_install() {
  local missing=() pkg attempt
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  for attempt in 1 2 3 4 5; do
    if [ ! -f "$SHOEBOX_STATE_DIR/.apt-updated" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch "$SHOEBOX_STATE_DIR/.apt-updated" || { sleep 3; continue; }
    fi
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
      return 0
    fi
    log "apt-get install failed (attempt $attempt of 5), retrying"
    sleep 3
  done
  die "could not install Debian packages: ${missing[*]}"
}

# pid_alive PIDFILE: true when the file names a running process.
pid_alive() {
  local pidfile=$1
  [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# start_daemon NAME PIDFILE LOGFILE CMD...: run CMD in the background, detached
# from this shell, and record its PID. Does nothing when it already runs.
start_daemon() {
  local name=$1 pidfile=$2 logfile=$3
  shift 3
  if pid_alive "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return 0
  fi
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "$name started (pid $!, log $logfile)"
}

# stop_daemon NAME PIDFILE [TIMEOUT_S]: SIGTERM the recorded PID, wait, then SIGKILL.
stop_daemon() {
  local name=$1 pidfile=$2 timeout=${3:-30} pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop in ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name stopped (pid $pid)"
}

# wait_for DESCRIPTION TIMEOUT_S LOGFILE CMD...: poll CMD every half second
# until it succeeds; on timeout fail with the log file's last lines.
wait_for() {
  local what=$1 timeout=$2 logfile=$3 deadline
  shift 3
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 2>/dev/null || true
      die "$what is not ready (log: $logfile)"
    fi
    sleep 0.5
  done
}

# env_set KEY VALUE: record a setting for Shoebox in $SHOEBOX_STATE_DIR/stack.env.
# Components start in parallel, so writers take a lock and each uses its own
# temporary file.
env_set() {
  local file=$SHOEBOX_STATE_DIR/stack.env key=$1 value=$2
  touch "$file"
  (
    flock 9
    local tmp
    tmp=$(mktemp "$file.XXXXXX")
    (grep -v "^$key=" "$file" || true) >"$tmp"
    printf '%s=%s\n' "$key" "$value" >>"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$file"
  ) 9>"$file.lock"
}
