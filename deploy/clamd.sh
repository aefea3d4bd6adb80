#!/usr/bin/env bash
# ClamAV daemon (clamd) for the single-host stack: deploy/clamd.sh install|start|stop|status|purge
#
# clamd listens on TCP 127.0.0.1:$SHOEBOX_CLAMD_PORT (default 3310) for Shoebox's INSTREAM
# scans, and on the unix socket $SHOEBOX_STATE_DIR/clamd/clamd.sock for local tools.
# freshclam is not used: clamd loads only the small test-signature database shipped in
# deploy/clamav/ (EICAR and ClamAV's clam.exe test program), so it detects test files, not
# real malware.
#
# State lives in $SHOEBOX_STATE_DIR/clamd/: clamd.conf (rendered from
# deploy/clamav/clamd.conf.in), db/, tmp/, clamd.sock, clamd.pid, log/.
set -euo pipefail
# shellcheck disable=SC2034 # COMPONENT prefixes the messages of log and die in lib.sh.
COMPONENT=clamd
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLAMD_DIR=$SHOEBOX_STATE_DIR/clamd
CLAMD_CONF=$CLAMD_DIR/clamd.conf
CLAMD_PIDFILE=$CLAMD_DIR/clamd.pid
# clamd writes CLAMD_LOG itself (LogFile in clamd.conf). Running in the foreground, it also
# prints every line to the console, which start_daemon sends to CLAMD_CONSOLE_LOG. Only the
# console log has the errors from before LogFile is open, such as a bad clamd.conf.
CLAMD_LOG=$CLAMD_DIR/log/clamd.log
CLAMD_CONSOLE_LOG=$CLAMD_DIR/log/clamd.console.log
CLAMD_HOST=127.0.0.1
CLAMD_PORT=${SHOEBOX_CLAMD_PORT:-3310}
# The shipped database loads in well under a second. The timeout leaves room for larger
# databases, such as ClamAV's official ones, which take much longer to load.
CLAMD_START_TIMEOUT_S=${CLAMD_START_TIMEOUT_S:-60}
SIGNATURE_DIR=$SHOEBOX_ROOT/deploy/clamav

usage() {
  cat >&2 <<EOF
usage: deploy/clamd.sh install|start|stop|status|purge
  install  install the Debian packages clamav-daemon and clamdscan
  start    render clamd.conf, copy the signature database, start clamd and wait for PONG
  stop     stop the clamd started by start (by its recorded PID)
  status   print whether clamd runs and responds to PING; exit 3 when it does not run
  purge    stop, then delete $CLAMD_DIR
EOF
  exit 2
}

# clamd_bin: print the path of clamd. Debian installs it in /usr/sbin, which a non-login
# shell may not have on PATH.
clamd_bin() {
  command -v clamd 2>/dev/null || { [ -x /usr/sbin/clamd ] && echo /usr/sbin/clamd; } ||
    die "clamd not found; run deploy/clamd.sh install"
}

# clamd_ping: true when a server on $CLAMD_HOST:$CLAMD_PORT replies PONG to PING.
# Uses the n-prefixed command form (newline-terminated) of the clamd protocol.
clamd_ping() {
  local reply=
  (
    exec 3<>"/dev/tcp/$CLAMD_HOST/$CLAMD_PORT" || exit 1
    printf 'nPING\n' >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    [ "$reply" = PONG ]
  ) 2>/dev/null
}

render_config() {
  local template
  mkdir -p "$CLAMD_DIR/log" "$CLAMD_DIR/tmp"
  template=$(<"$SIGNATURE_DIR/clamd.conf.in")
  template=${template//@CLAMD_DIR@/$CLAMD_DIR}
  template=${template//@CLAMD_PORT@/$CLAMD_PORT}
  printf '%s\n' "$template" >"$CLAMD_CONF"

  # Copy the database afresh on every start, so a signature removed from the repository
  # does not linger in the state directory.
  rm -rf "$CLAMD_DIR/db"
  mkdir -p "$CLAMD_DIR/db"
  cp "$SIGNATURE_DIR"/*.hdb "$SIGNATURE_DIR"/*.ndb "$CLAMD_DIR/db/"
}

cmd_install() {
  apt_install clamav-daemon clamdscan
  # NOTE: clamav-daemon pulls in clamav-freshclam. Where the init system allows it, their
  # package scripts start the system clamd and freshclam services, unless a policy-rc.d that
  # exits 101 (as in many container images) denies that. The system clamd reads
  # /etc/clamav/clamd.conf, which sets a unix socket and no TCP port, so it leaves 3310 free.
  log "installed $("$(clamd_bin)" --version)"
}

# startup_failed CONSOLE_OFFSET MESSAGE: show the errors clamd printed since this start,
# stop it, and exit with MESSAGE.
startup_failed() {
  local offset=$1 message=$2 errors
  errors=$(tail -c +"$((offset + 1))" "$CLAMD_CONSOLE_LOG" 2>/dev/null | grep -E 'ERROR|WARNING' || true)
  if [ -n "$errors" ]; then
    printf '%s\n' "$errors" >&2
  else
    tail -n 20 "$CLAMD_CONSOLE_LOG" >&2 2>/dev/null || true
  fi
  stop_daemon clamd "$CLAMD_PIDFILE" 30
  die "$message"
}

cmd_start() {
  local bin deadline console_offset=0
  bin=$(clamd_bin)

  if pid_alive "$CLAMD_PIDFILE"; then
    log "clamd already running (pid $(cat "$CLAMD_PIDFILE"))"
  else
    # Another server that responds to PING on the port would pass the health check below and
    # hide a failed start.
    if clamd_ping; then
      die "a server on $CLAMD_HOST:$CLAMD_PORT already responds to PING, but the clamd recorded in $CLAMD_PIDFILE is not running; stop that server or set SHOEBOX_CLAMD_PORT to a free port"
    fi
    render_config
    # Errors are looked for only in what this start appends to the console log.
    console_offset=$(stat -c %s "$CLAMD_CONSOLE_LOG" 2>/dev/null || echo 0)
    start_daemon clamd "$CLAMD_PIDFILE" "$CLAMD_CONSOLE_LOG" "$bin" --config-file="$CLAMD_CONF"
  fi

  # Poll instead of using wait_for so that a clamd that exits, or that cannot bind its TCP
  # port (it then keeps running on the unix socket alone), fails at once instead of after
  # the whole timeout.
  deadline=$((SECONDS + CLAMD_START_TIMEOUT_S))
  until clamd_ping; do
    if ! pid_alive "$CLAMD_PIDFILE"; then
      startup_failed "$console_offset" "clamd exited during startup; see $CLAMD_CONSOLE_LOG"
    fi
    if tail -c +"$((console_offset + 1))" "$CLAMD_CONSOLE_LOG" 2>/dev/null | grep -Eq 'ERROR:.*TCP: Cannot bind'; then
      startup_failed "$console_offset" "clamd cannot listen on $CLAMD_HOST:$CLAMD_PORT (port in use?); stopped it. See $CLAMD_LOG"
    fi
    if ((SECONDS >= deadline)); then
      startup_failed "$console_offset" "clamd did not respond to PING on $CLAMD_HOST:$CLAMD_PORT within ${CLAMD_START_TIMEOUT_S}s; stopped it. See $CLAMD_LOG"
    fi
    sleep 0.2
  done

  env_set SHOEBOX_CLAMD_HOST "$CLAMD_HOST"
  env_set SHOEBOX_CLAMD_PORT "$CLAMD_PORT"
  log "clamd ready on $CLAMD_HOST:$CLAMD_PORT and $CLAMD_DIR/clamd.sock (pid $(cat "$CLAMD_PIDFILE"))"
}

cmd_stop() {
  stop_daemon clamd "$CLAMD_PIDFILE" 30
}

cmd_status() {
  if ! pid_alive "$CLAMD_PIDFILE"; then
    echo "clamd: not running"
    return 3
  fi
  if clamd_ping; then
    echo "clamd: running (pid $(cat "$CLAMD_PIDFILE")), responds to PING on $CLAMD_HOST:$CLAMD_PORT"
  else
    echo "clamd: running (pid $(cat "$CLAMD_PIDFILE")), but no PONG on $CLAMD_HOST:$CLAMD_PORT; see $CLAMD_LOG"
    return 1
  fi
}

cmd_purge() {
  cmd_stop
  rm -rf "$CLAMD_DIR"
  log "deleted $CLAMD_DIR"
}

[ $# -eq 1 ] || usage
case $1 in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  *) usage ;;
esac
