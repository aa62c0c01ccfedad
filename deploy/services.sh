#!/usr/bin/env bash
# Runs the four Velkommen services as background processes (uvicorn), without Docker.
#   deploy/services.sh start|stop|status
# Ports: registration 8001, welcome_pack 8002, school_intake 8003, job_match 8004
# (REGISTRATION_PORT, WELCOME_PACK_PORT, SCHOOL_INTAKE_PORT, JOB_MATCH_PORT override them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${VELKOMMEN_DATA_DIR:-$ROOT/.data}/services
PY=${PYTHON:-$ROOT/.venv/bin/python}
SERVICES=(registration welcome_pack school_intake job_match)
# This script runs the services for development: the built-in dev issuer signs logins (see shared/auth.py).
# Production sets AUTH_ISSUER / AUTH_JWKS_URL instead and leaves AUTH_DEV_ISSUER unset (false).
export AUTH_DEV_ISSUER=${AUTH_DEV_ISSUER:-true}
export AUTH_DEV_KEY_FILE=${AUTH_DEV_KEY_FILE:-$ROOT/.data/dev-auth/signing-key.pem}

port_of() {
  case $1 in
    registration) echo "${REGISTRATION_PORT:-8001}" ;; welcome_pack) echo "${WELCOME_PACK_PORT:-8002}" ;;
    school_intake) echo "${SCHOOL_INTAKE_PORT:-8003}" ;; job_match) echo "${JOB_MATCH_PORT:-8004}" ;;
  esac
}
log() { echo "[services] $*" >&2; }
running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  mkdir -p "$STATE"
  cd "$ROOT"
  for s in "${SERVICES[@]}"; do
    if running "$s"; then log "$s already running"; continue; fi
    local port; port=$(port_of "$s")
    # Another process on the port would answer our readiness check and hide that this one failed to bind.
    if port_open "$port"; then log "port $port ($s) is already in use by another process; stop it first"; exit 1; fi
    # No subshell: a parent shell left holding our stdout would keep a caller's pipe open.
    nohup "$PY" -m shared.serve "$s" --host 127.0.0.1 --port "$port" </dev/null >"$STATE/$s.log" 2>&1 &
    echo $! >"$STATE/$s.pid"
    log "$s starting on http://127.0.0.1:$port (log: $STATE/$s.log)"
  done
  for s in "${SERVICES[@]}"; do
    local port; port=$(port_of "$s")
    for i in $(seq 1 240); do
      if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then log "$s ready"; break; fi
      running "$s" || { log "$s exited; last lines of its log:"; tail -20 "$STATE/$s.log" >&2; exit 1; }
      [ "$i" = 240 ] && { log "$s not ready after 120 s; see $STATE/$s.log"; exit 1; }
      sleep 0.5
    done
  done
}

stop() {
  for s in "${SERVICES[@]}"; do
    if running "$s"; then
      local pid; pid=$(cat "$STATE/$s.pid"); kill "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      log "$s stopped"
    fi
    rm -f "$STATE/$s.pid"
  done
}

status() {
  local rc=0
  for s in "${SERVICES[@]}"; do
    if running "$s"; then echo "$s running on http://127.0.0.1:$(port_of "$s")"; else echo "$s stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
