#!/usr/bin/env bash
# Mailpit, a real SMTP server with a web UI and an HTTP API, for local use and tests; built from the Go module
# proxy (the version is pinned here) into .cache/bin.   deploy/mailpit.sh install|start|stop|status
# SMTP on 127.0.0.1:$MAILPIT_SMTP_PORT (1025), UI and API (/api/v1/messages) on 127.0.0.1:$MAILPIT_HTTP_PORT (8025);
# mail is kept in $STATE/mailpit.db across restarts. MAILPIT_FLAGS adds flags (tests: --smtp-allowed-recipients).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=v1.33.1
SMTP_PORT=${MAILPIT_SMTP_PORT:-1025}
HTTP_PORT=${MAILPIT_HTTP_PORT:-8025}
BIN=$ROOT/.cache/bin/mailpit-$VERSION
STATE=${VELKOMMEN_DATA_DIR:-$ROOT/.data}/mailpit
PIDFILE=$STATE/mailpit.pid

log() { echo "[mailpit] $*" >&2; }

install() {
  [ -x "$BIN" ] && return
  log "building Mailpit $VERSION from the Go module proxy (once, about a minute)"
  local gobin; gobin=$(mktemp -d)
  GOBIN=$gobin go install "github.com/axllent/mailpit@$VERSION"
  mkdir -p "$(dirname "$BIN")"
  mv "$gobin/mailpit" "$BIN"
  rmdir "$gobin"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  install
  if running; then log "already running (pid $(cat "$PIDFILE"))"; return; fi
  for port in "$SMTP_PORT" "$HTTP_PORT"; do
    if port_open "$port"; then log "port $port already in use by another process"; exit 1; fi
  done
  mkdir -p "$STATE"
  log "starting: SMTP 127.0.0.1:$SMTP_PORT, web UI and API http://127.0.0.1:$HTTP_PORT"
  # shellcheck disable=SC2086 # MAILPIT_FLAGS is a list of flags
  nohup "$BIN" --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$HTTP_PORT" --database "$STATE/mailpit.db" \
    --max 100000 ${MAILPIT_FLAGS:-} >"$STATE/mailpit.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if port_open "$SMTP_PORT" && port_open "$HTTP_PORT"; then log "ready"; return; fi
    running || { log "exited; see $STATE/mailpit.log"; tail -20 "$STATE/mailpit.log" >&2; exit 1; }
    sleep 0.25
  done
  log "not ready after 15 s; see $STATE/mailpit.log"; exit 1
}

stop() {
  if ! running; then log "not running"; rm -f "$PIDFILE"; return; fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; return; }; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
}

status() {
  if running; then echo "mailpit running (pid $(cat "$PIDFILE")): SMTP 127.0.0.1:$SMTP_PORT, http://127.0.0.1:$HTTP_PORT"
  else echo "mailpit stopped"; return 1; fi
}

case "${1:-}" in
  install) install ;; start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
