#!/usr/bin/env bash
# FerretDB 1.24 (MongoDB wire protocol over SQLite), built from the Go module proxy into our own small main
# (deploy/ferretdb/main.go, pinned by go.mod/go.sum).   deploy/ferretdb.sh install|start|stop|status
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${FERRETDB_PORT:-27017}
BIN=$ROOT/.cache/bin/ferretdb
STATE=${VELKOMMEN_DATA_DIR:-$ROOT/.data}/ferretdb
PIDFILE=$STATE/ferretdb.pid

log() { echo "[ferretdb] $*" >&2; }

install() {
  local src=$ROOT/deploy/ferretdb f stale=1
  if [ -x "$BIN" ]; then
    stale=0
      for f in "$src"/*.go "$src"/go.mod "$src"/go.sum "$src"/*.patch; do [ "$BIN" -nt "$f" ] || stale=1; done
  fi
  [ "$stale" = 0 ] && return
  log "building FerretDB from the Go module proxy, with the patches of deploy/ferretdb (once)"
  mkdir -p "$(dirname "$BIN")"
  # The pinned module (go.sum checks it) is copied and patched: more of a query's filter reaches SQLite, so
  # reads by an indexed field do not grow with the collection (pushdown.patch says how), without the leak
  # tracking meant for FerretDB's own tests (no-resource-tracking.patch), and an update command of many
  # statements no longer holds a connection per statement until it ends (update-statements.patch: with 100
  # it took the database's whole pool and hung, and every other command with it), its statistics still answer
  # when idindex.go has dropped every index FerretDB lists for a database (stats.patch), and a statement it runs
  # often is prepared once per connection, not for every command (statement-cache.patch).
  local build=$ROOT/.cache/ferretdb-build module
  module=$(cd "$src" && go mod download -json github.com/FerretDB/FerretDB | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$build" && mkdir -p "$build/main"
  cp -r "$module" "$build/FerretDB" && chmod -R u+w "$build/FerretDB"
  for f in "$src"/*.patch; do patch -s -d "$build/FerretDB" -p1 <"$f"; done
  cp "$src"/*.go "$src"/go.mod "$src"/go.sum "$build/main/"
  (cd "$build/main" && go mod edit -replace github.com/FerretDB/FerretDB=../FerretDB && go build -trimpath -o "$BIN" .)
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  install
  if running; then log "already running (pid $(cat "$PIDFILE"))"; return; fi
  if port_open "$PORT"; then log "port $PORT already in use by another process"; exit 1; fi
  mkdir -p "$STATE/data"
  log "starting on 127.0.0.1:$PORT"
  # FERRETDB_DEBUG_ADDR (e.g. 127.0.0.1:6060): Go's profiler, for `go tool pprof` while benchmarking.
  # FERRETDB_SQLITE_SYNCHRONOUS: NORMAL (default here: SQLite's WAL mode then survives any crash of the process,
  # and may lose the last commits only on power loss or an OS crash, like a standalone mongod's 100 ms journal
  # interval) or FULL (an fsync at every commit; measured: the POST's p50 53 -> 30 ms with NORMAL). This database
  # serves development and CI; production runs MongoDB with its own write concern (docker-compose, deploy/k8s).
  # GOGC 400 (Go's default: 100): FerretDB allocates for every document it decodes and encodes; collecting less
  # often took its garbage collector's share of its CPU from ~11 % (pprof, bench at 30 registrations/s) at the
  # cost of more memory, which GOMEMLIMIT caps. FERRETDB_GOGC / FERRETDB_GOMEMLIMIT override them.
  GOGC="${FERRETDB_GOGC:-400}" GOMEMLIMIT="${FERRETDB_GOMEMLIMIT:-1GiB}" nohup "$BIN" --listen-addr "127.0.0.1:$PORT" --data-dir "$STATE/data" ${FERRETDB_DEBUG_ADDR:+--debug-addr "$FERRETDB_DEBUG_ADDR"} \
    --sqlite-synchronous "${FERRETDB_SQLITE_SYNCHRONOUS:-NORMAL}" \
    >"$STATE/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if port_open "$PORT"; then log "ready"; return; fi
    running || { log "exited; see $STATE/ferretdb.log"; tail -20 "$STATE/ferretdb.log" >&2; exit 1; }
    sleep 0.25
  done
  log "not ready after 15 s; see $STATE/ferretdb.log"; exit 1
}

stop() {
  if ! running; then log "not running"; rm -f "$PIDFILE"; return; fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; return; }; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
}

status() { if running; then echo "ferretdb running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"; else echo "ferretdb stopped"; return 1; fi; }

case "${1:-}" in
  install) install ;; start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
