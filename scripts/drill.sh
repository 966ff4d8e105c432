#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run a drill (default: failover).
#   ./scripts/drill.sh [NAME|PATH] [drillkit run options...]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/drillkit run "${1:-failover}" "${@:2}"
