#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run the whole test suite
# (unit tests and integration tests against real containers). Extra arguments go to pytest,
# e.g. ./scripts/test.sh -m "not integration" for the unit tests alone.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --dev
echo "[test] ruff check + mypy --strict" >&2
.venv/bin/ruff check src tests bench examples
.venv/bin/mypy src/drillkit
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests (exit 5); treating as failure: a test run must test something" >&2
  exit 1
fi
exit "$rc"
