"""Fixtures shared by the integration and calibration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The Docker engine, or a skip (a failure under CI=true) when none answers."""
    from drillkit.errors import InfrastructureError
    from drillkit.resources import connect_engine

    try:
        client = connect_engine()
    except InfrastructureError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e}")
        pytest.skip(f"no Docker engine: {e}")
    yield client
    client.close()


# Under pytest-xdist (./scripts/test.sh phase 1: unit tests and the integration files that
# tolerate a busy host, each file on one worker) the workers take files in collection order: the
# long integration files go first, longest first (seconds measured 2026-12-02 with 4 workers),
# and the unit files fill the gaps, so no worker starts a two-minute file last.
LONGEST_FIRST = ("test_tls.py", "test_external.py", "test_packaging.py", "test_evidence.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # a plain run keeps pytest's order: unit tests first, the quick feedback

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = os.path.basename(str(item.fspath))
        if "/integration/" not in str(item.fspath):
            return (2, 0)
        if name in LONGEST_FIRST:
            return (0, LONGEST_FIRST.index(name))
        return (1, 0)

    items.sort(key=rank)  # stable: every worker derives the same order


# Each test file's cost, visible in every run (issue: "keep each integration file's cost
# visible"): setup + call + teardown summed per file, printed after pytest's own --durations.
_FILE_SECONDS: dict[str, float] = {}
_FILE_TESTS: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _FILE_TESTS[path] = _FILE_TESTS.get(path, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    ranked = sorted(_FILE_SECONDS.items(), key=lambda item: item[1], reverse=True)
    terminalreporter.write_sep("=", f"seconds per test file (top 25 of {len(ranked)})")
    for path, seconds in ranked[:25]:
        share = 100 * seconds / total if total else 0.0
        tests = _FILE_TESTS.get(path, 0)
        terminalreporter.write_line(f"{seconds:8.1f} s {share:5.1f} %  {tests:4d} tests  {path}")
    terminalreporter.write_line(f"{total:8.1f} s in all ({len(ranked)} files)")
