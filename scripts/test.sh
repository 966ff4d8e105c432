#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run the whole test suite
# (unit tests and integration tests against real containers).
#
# Without arguments (or with output flags only: -v, -q, -x, -rA ...) it runs two phases and
# fails if either fails:
#   1. everything that tolerates a busy host, $DRILLKIT_TEST_WORKERS at a time (pytest-xdist,
#      default 3; each test file stays on one worker): the unit tests and the integration files
#      that do not assert timings, which mostly wait for containers and declared durations;
#   2. the tests marked `quiet`, one at a time: the calibration tests (drillkit's numbers against
#      an independent observer) and the integration files that assert timings (QUIET_FILES in
#      tests/integration/conftest.py). Drills on one host disturb each other's timings.
# Any other arguments mean one plain pytest run with them, e.g.
#   ./scripts/test.sh -m "not integration"        # the unit tests alone
#   ./scripts/test.sh tests/integration/test_tls.py
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --dev
echo "[test] ruff check + mypy --strict" >&2
.venv/bin/ruff check src tests bench examples
.venv/bin/mypy src/drillkit

# pytest's exit 5 (no test collected) is a failure here: a test run must test something.
run_pytest() {
  set +e
  .venv/bin/python -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "[test] pytest collected no tests (exit 5) for: $*; treating as failure" >&2
    rc=1
  fi
  return "$rc"
}

phased=1
for arg in "$@"; do
  case "$arg" in
    -v | -vv | -q | -qq | -x | -r?* | --tb=*) ;;
    *) phased=0 ;;
  esac
done

if [ "$phased" -eq 0 ]; then
  rc=0
  run_pytest "$@" || rc=$?
  exit "$rc"
fi

workers="${DRILLKIT_TEST_WORKERS:-3}"
rc=0
started=$SECONDS
echo "[test] phase 1/2: unit tests and the integration files that tolerate a busy host ($workers at a time)" >&2
run_pytest -m "not quiet" -n "$workers" --dist loadfile "$@" || rc=1
phase1=$((SECONDS - started))
echo "[test] phase 2/2: calibration and timing tests, one at a time (they need a quiet host)" >&2
run_pytest -m quiet "$@" || rc=1
echo "[test] phase 1: ${phase1} s, phase 2: $((SECONDS - started - phase1)) s; exit $rc" >&2
exit "$rc"
