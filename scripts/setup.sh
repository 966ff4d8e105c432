#!/usr/bin/env bash
# Prepare this machine for drillkit: a Docker engine, a virtualenv with drillkit installed, and
# drillkit's node images (built locally; no container registry needed on a Debian host).
#   ./scripts/setup.sh         drillkit and its runtime dependencies only (what drills and
#                              scheduled runs need; ./scripts/drill.sh)
#   ./scripts/setup.sh --dev   also the test and lint tools (pytest, ruff, mypy, playwright, ...)
#                              and the Debian packages the evidence tests drive (./scripts/test.sh)
# Idempotent: re-running only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
case "${1:-}" in
  --dev) dev=1 ;;
  "") ;;
  *) printf '[setup] unknown option %s; expected --dev or nothing\n' "$1" >&2; exit 2 ;;
esac

log() { printf '[setup] %s\n' "$*" >&2; }

./scripts/ensure-docker.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1; then
      log "python3-venv missing; installing it"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv
      "$PY" -m venv .venv
    else
      log "cannot create a virtualenv with $PY; install the venv module and retry"; exit 3
    fi
  fi
fi
if [ "$dev" -eq 1 ]; then target=".[dev]" stamp=.venv/.drillkit-dev-installed
else target="." stamp=.venv/.drillkit-installed; fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing drillkit (pip install -e '$target') into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e "$target"
  touch "$stamp"
fi

# Tools the evidence tests drive (Debian packages): headless Chromium opens report.html, a real
# Pushgateway receives metrics, promtool checks the example alert rules (package prometheus,
# ~19 MB download); docker-compose (bookworm: v1.29) starts the stack tests/integration/
# test_external.py drills. Services these packages ship are not started by the tests' set-up.
if [ "$dev" -eq 1 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (evidence and external-stack tests)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          "${missing[@]}" >/dev/null; }; }; then
      log "could not install ${missing[*]}; the tests that need them skip (fail under CI=true)"
    fi
  fi
fi

# Only the default versions (PostgreSQL 15, Redis 7: Debian bookworm). A drill that picks another
# (PostgreSQL 17, Redis 8, Valkey 8: trixie) builds its image the first time it runs; to build
# them all now: .venv/bin/drillkit images build --all
log "building node images for the default versions (first time: ~1-2 min)"
.venv/bin/drillkit images build
