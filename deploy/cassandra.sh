#!/usr/bin/env bash
# Single-node Apache Cassandra 5.0 for Shoebox, run straight from Maven Central
# jars: no Docker, no tarball.
#
#   deploy/cassandra.sh install   resolve cassandra-all and its dependencies
#                                 (deploy/cassandra/pom.xml) into a classpath
#   deploy/cassandra.sh start     render the config, start the server, wait
#                                 until it accepts CQL on 127.0.0.1:9042
#   deploy/cassandra.sh stop      SIGTERM the server and wait for it to exit
#   deploy/cassandra.sh status    pid, running or not, CQL port open or not
#   deploy/cassandra.sh purge     stop, then delete all Cassandra state
#
# Everything lives under $SHOEBOX_STATE_DIR/cassandra/: conf/ (rendered on
# every start), data/, commitlog/, saved_caches/, hints/, cdc_raw/, triggers/,
# log/ (system.log, stdout.log), cassandra.pid and the resolved classpath.
# The jars themselves stay in Maven's local repository (~/.m2 by default).
#
# Ports, all on 127.0.0.1: 9042 CQL, 7000 storage (gossip), 7199 local JMX
# (the JVM also opens one random port on 127.0.0.1 for JMX's RMI server).
# Start writes SHOEBOX_CASSANDRA_CONTACT_POINTS and SHOEBOX_CASSANDRA_LOCAL_DC
# to $SHOEBOX_STATE_DIR/stack.env.
#
# Settings read from the environment:
#   SHOEBOX_CASSANDRA_JAVA           java binary to use (must be Java 17)
#   SHOEBOX_CASSANDRA_START_TIMEOUT  seconds to wait for CQL (default 180)

COMPONENT=cassandra
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC_DIR=$SHOEBOX_ROOT/deploy/cassandra
POM=$SRC_DIR/pom.xml
CASS_DIR=$SHOEBOX_STATE_DIR/cassandra
CONF_DIR=$CASS_DIR/conf
LOG_DIR=$CASS_DIR/log
PIDFILE=$CASS_DIR/cassandra.pid
SYSTEM_LOG=$LOG_DIR/system.log
STDOUT_LOG=$LOG_DIR/stdout.log
CLASSPATH_FILE=$CASS_DIR/classpath.txt
# Contains the checksum of the pom the classpath was resolved from.
CLASSPATH_STAMP=$CASS_DIR/classpath.pom.sha256

HOST=127.0.0.1
CQL_PORT=9042
STORAGE_PORT=7000
JMX_PORT=7199
LOCAL_DC=datacenter1
START_TIMEOUT=${SHOEBOX_CASSANDRA_START_TIMEOUT:-180}
STOP_TIMEOUT=60

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 2 bash -c "</dev/tcp/$HOST/$1" 2>/dev/null
}

# java_bin: print the Java 17 binary to run Cassandra with. Cassandra 5.0
# supports Java 11 and 17 only, and the JVM options file is the Java 17 one.
java_bin() {
  local candidate version
  for candidate in "${SHOEBOX_CASSANDRA_JAVA:-}" \
    "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture 2>/dev/null)/bin/java" \
    "$(command -v java || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    version=$("$candidate" -version 2>&1 || true)
    if [[ $version == *' version "17.'* ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

pom_checksum() {
  sha256sum "$POM" | cut -d' ' -f1
}

# classpath_current: true when the classpath file was resolved from the
# current pom and every jar it names is still in the local Maven repository.
classpath_current() {
  local jars jar
  [ -s "$CLASSPATH_FILE" ] && [ -s "$CLASSPATH_STAMP" ] || return 1
  [ "$(cat "$CLASSPATH_STAMP")" = "$(pom_checksum)" ] || return 1
  IFS=: read -ra jars <"$CLASSPATH_FILE"
  for jar in "${jars[@]}"; do
    [ -f "$jar" ] || return 1
  done
}

cmd_install() {
  java_bin >/dev/null && command -v mvn >/dev/null \
    || apt_install openjdk-17-jre-headless maven
  java_bin >/dev/null || die "Java 17 not found: install openjdk-17-jre-headless or set SHOEBOX_CASSANDRA_JAVA to a Java 17 binary"

  if classpath_current; then
    log "classpath already resolved ($CLASSPATH_FILE)"
    return 0
  fi

  mkdir -p "$CASS_DIR"
  log "resolving $(grep -o '<cassandra.version>[^<]*' "$POM" | cut -d'>' -f2) and its dependencies with Maven"
  local tmp=$CLASSPATH_FILE.tmp mvn_log=$CASS_DIR/mvn.log
  if ! mvn -B -q -f "$POM" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$tmp" >"$mvn_log" 2>&1; then
    tail -n 30 "$mvn_log" >&2
    die "Maven failed to resolve the Cassandra classpath (full output: $mvn_log)"
  fi
  [ -s "$tmp" ] || die "Maven wrote an empty classpath to $tmp (output: $mvn_log)"
  mv "$tmp" "$CLASSPATH_FILE"
  pom_checksum >"$CLASSPATH_STAMP"
  log "classpath written to $CLASSPATH_FILE ($(tr ':' '\n' <"$CLASSPATH_FILE" | wc -l) jars)"
}

# render_config: write conf/ from the templates in deploy/cassandra/.
render_config() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$CASS_DIR"/{data,commitlog,saved_caches,hints,cdc_raw,triggers}
  sed "s#@STATE@#$CASS_DIR#g" "$SRC_DIR/cassandra.yaml" >"$CONF_DIR/cassandra.yaml"
  cp "$SRC_DIR/logback.xml" "$SRC_DIR/jvm17-server.options" "$CONF_DIR/"
}

# ready_since OFFSET: true once the CQL port accepts connections and the
# system.log lines written after byte OFFSET report that the CQL server started.
ready_since() {
  local offset=$1 size
  port_open "$CQL_PORT" || return 1
  size=$(stat -c %s "$SYSTEM_LOG" 2>/dev/null || echo 0)
  # A log that shrank was rotated: search all of it.
  ((size >= offset)) || offset=0
  # Not grep -q, because it stops reading at the first match: tail then dies
  # of SIGPIPE and pipefail turns the match into a failure.
  tail -c +$((offset + 1)) "$SYSTEM_LOG" 2>/dev/null | grep 'Starting listening for CQL clients' >/dev/null
}

# show_logs: print the end of both logs, for start-up failures.
show_logs() {
  local f
  for f in "$SYSTEM_LOG" "$STDOUT_LOG"; do
    [ -s "$f" ] || continue
    log "last lines of $f:"
    tail -n 25 "$f" >&2
  done
}

cmd_start() {
  classpath_current || cmd_install
  local java
  java=$(java_bin) || die "Java 17 not found: install openjdk-17-jre-headless or set SHOEBOX_CASSANDRA_JAVA to a Java 17 binary"

  local log_offset=0
  if pid_alive "$PIDFILE"; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    local port
    for port in "$CQL_PORT" "$STORAGE_PORT" "$JMX_PORT"; do
      if port_open "$port"; then
        die "port $port on $HOST is already in use by a process this script did not start: stop that process first"
      fi
    done
    render_config
    log_offset=$(stat -c %s "$SYSTEM_LOG" 2>/dev/null || echo 0)

    local classpath jars jar jamm='' opts=() line
    classpath=$(cat "$CLASSPATH_FILE")
    # Cassandra measures object sizes with jamm, loaded as a Java agent.
    IFS=: read -ra jars <<<"$classpath"
    for jar in "${jars[@]}"; do
      if [[ $jar == */jamm-*.jar ]]; then
        jamm=$jar
      fi
    done
    [ -n "$jamm" ] || die "jamm jar missing from $CLASSPATH_FILE: delete that file and run $0 install"
    while read -r line; do
      if [[ $line == -* ]]; then
        opts+=("$line")
      fi
    done <"$CONF_DIR/jvm17-server.options"

    # As root, Cassandra's start-up mlockall() succeeds and makes the whole
    # heap resident at once (measured: 1.5 GB RSS instead of 0.6 GB when idle).
    # Without CAP_IPC_LOCK and with a small memlock limit it fails with one
    # "Unable to lock JVM memory" warning, and the heap grows as it is used.
    local no_mlock=()
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && command -v prlimit >/dev/null; then
      no_mlock=(prlimit --memlock=65536 setpriv --bounding-set=-ipc_lock)
    fi

    start_daemon cassandra "$PIDFILE" "$STDOUT_LOG" \
      "${no_mlock[@]}" "$java" "${opts[@]}" \
      "-javaagent:$jamm" \
      "-XX:ErrorFile=$LOG_DIR/hs_err_pid%p.log" \
      "-Dcassandra.config=file://$CONF_DIR/cassandra.yaml" \
      "-Dcassandra.storagedir=$CASS_DIR" \
      "-Dcassandra.logdir=$LOG_DIR" \
      "-Dcassandra.triggers_dir=$CASS_DIR/triggers" \
      "-Dlogback.configurationFile=$CONF_DIR/logback.xml" \
      "-Dcassandra-foreground=yes" \
      -cp "$CONF_DIR:$classpath" \
      org.apache.cassandra.service.CassandraDaemon
  fi

  # Wait for CQL, and give up early when the JVM exits.
  local deadline=$((SECONDS + START_TIMEOUT))
  until ready_since "$log_offset"; do
    if ! pid_alive "$PIDFILE"; then
      show_logs
      rm -f "$PIDFILE"
      die "Cassandra exited during start-up: see $SYSTEM_LOG and $STDOUT_LOG"
    fi
    if ((SECONDS >= deadline)); then
      show_logs
      die "timed out after ${START_TIMEOUT}s waiting for CQL on $HOST:$CQL_PORT. Cassandra is still running (pid $(cat "$PIDFILE")): see $SYSTEM_LOG, and run $0 stop to end it"
    fi
    sleep 0.5
  done
  log "CQL ready on $HOST:$CQL_PORT (data center $LOCAL_DC)"

  env_set SHOEBOX_CASSANDRA_CONTACT_POINTS "$HOST:$CQL_PORT"
  env_set SHOEBOX_CASSANDRA_LOCAL_DC "$LOCAL_DC"
}

cmd_stop() {
  # On SIGTERM Cassandra flushes its memtables before it exits, which takes a
  # few seconds, so lib.sh waits up to a minute before it sends SIGKILL.
  stop_daemon cassandra "$PIDFILE" "$STOP_TIMEOUT"
}

cmd_status() {
  local pid=none state="not running" port="closed" rc=3
  if [ -s "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    if pid_alive "$PIDFILE"; then
      state=running
      rc=0
    else
      state="not running (stale pid file)"
    fi
  fi
  port_open "$CQL_PORT" && port=open
  printf 'cassandra: pid %s, %s, CQL port %s:%s %s\n' "$pid" "$state" "$HOST" "$CQL_PORT" "$port"
  return "$rc"
}

cmd_purge() {
  cmd_stop
  rm -rf "$CASS_DIR"
  log "removed $CASS_DIR"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  *)
    echo "usage: $0 install|start|stop|status|purge" >&2
    exit 2
    ;;
esac
