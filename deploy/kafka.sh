#!/usr/bin/env bash
# Apache Kafka (official jars from Maven Central), single node KRaft, without Docker.
#   deploy/kafka.sh install|start|stop|status
# Jars are cached in .cache/kafka/lib; data and logs live in .data/kafka (both git-ignored).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KAFKA_PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
LIB=$ROOT/.cache/kafka/lib
STATE=${VELKOMMEN_DATA_DIR:-$ROOT/.data}/kafka
PIDFILE=$STATE/kafka.pid
CONF=$STATE/server.properties

log() { echo "[kafka] $*" >&2; }

install() {
  if [ -f "$LIB/.complete" ]; then return; fi
  log "resolving Apache Kafka jars from Maven Central (once)"
  rm -rf "$LIB"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIB" -DincludeScope=runtime
  touch "$LIB/.complete"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  install
  if running; then log "already running (pid $(cat "$PIDFILE"))"; return; fi
  if port_open "$KAFKA_PORT"; then log "port $KAFKA_PORT already in use by another process"; exit 1; fi
  mkdir -p "$STATE/data" "$STATE/logs"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$STATE/data#g" "$ROOT/deploy/kafka/server.properties.in" > "$CONF"
  # The serial collector (KAFKA_GC_OPTS overrides it): on our 2-core machines the broker's CPU per registration
  # at 50/s was 4.3 and 5.0 ms with it against 5.2 and 5.5 with G1 (bench.flow e2e, two runs each); with a 512 MB
  # heap its pauses stay short. A production Kafka is not started by this script.
  local java_opts=(-Xms256m -Xmx512m ${KAFKA_GC_OPTS:--XX:+UseSerialGC} -Djava.awt.headless=true
    "-Dkafka.logs.dir=$STATE/logs" "-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.properties")
  if [ ! -f "$STATE/data/meta.properties" ]; then
    log "formatting storage"
    # A fixed-format id that cannot start with '-' (StorageTool would read it as an option).
    local cluster_id="Vk$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
    java "${java_opts[@]}" -cp "$LIB/*" kafka.tools.StorageTool format \
      --cluster-id="$cluster_id" --config "$CONF" --ignore-formatted >"$STATE/logs/format.log" 2>&1 \
      || { cat "$STATE/logs/format.log" >&2; exit 1; }
  fi
  log "starting broker on 127.0.0.1:$KAFKA_PORT"
  : >"$STATE/logs/server.log"
  nohup java "${java_opts[@]}" -cp "$LIB/*" kafka.Kafka "$CONF" >"$STATE/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$STATE/logs/server.log" 2>/dev/null && port_open "$KAFKA_PORT"; then
      log "ready"; return
    fi
    running || { log "broker exited; see $STATE/logs"; tail -20 "$STATE/logs/stdout.log" "$STATE/logs/server.log" >&2; exit 1; }
    sleep 0.5
  done
  log "not ready after 60 s; see $STATE/logs"; exit 1
}

stop() {
  if ! running; then log "not running"; rm -f "$PIDFILE"; return; fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; return; }; sleep 0.5; done
  log "did not stop in 30 s; killing"; kill -9 "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
}

status() { if running; then echo "kafka running (pid $(cat "$PIDFILE")) on 127.0.0.1:$KAFKA_PORT"; else echo "kafka stopped"; return 1; fi; }

case "${1:-}" in
  install) install ;; start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
