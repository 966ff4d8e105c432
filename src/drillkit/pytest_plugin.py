"""drillkit's pytest plugin: drills as tests (registered as the ``drillkit`` ``pytest11`` entry
point, so installing drillkit makes it available; ``-p no:drillkit`` turns it off).

- ``@pytest.mark.drill("failover")`` runs that drill (a NAME looked up like ``drillkit run`` does,
  or a path) for the test; the ``drill_result`` fixture is its :class:`~drillkit.drill.DrillResult`
  and the test **fails when the verdict is not pass** (``expect="fail"`` inverts it for a drill that
  demonstrates a known weakness; ``expect=None`` leaves judging to the test's own asserts).
- ``drillkit_run(name_or_path_or_spec)`` runs a drill from inside any test and returns its result.
- ``drillkit_deployment(topology)`` provisions a topology for the test (a scenario name, a mapping
  or a model) and returns a :class:`~drillkit.blocks.Deployment`: ``with dep.workload(...)``,
  ``with dep.fault("pause", target="primary")``, ``dep.final_read()``, ``dep.analyze(targets)``;
  removed when the test ends.
- Every result is attached to the JUnit XML as properties (``drillkit_verdict``,
  ``drillkit_rto_seconds``, ``drillkit_rpo_seconds``, ``drillkit_lost_writes``,
  ``drillkit_evidence``).
- ``--drillkit-reports DIR`` keeps the evidence there (default: the test's temporary directory);
  ``--drillkit-drills-dir DIR`` is where NAMEs are looked up. Override the ``drillkit_platform``
  fixture to run against another platform (e.g. :class:`drillkit.testing.MemoryPlatform`).

Drillkit itself is imported only when a drill runs, so the plugin costs nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from drillkit.blocks import Deployment
    from drillkit.drill import DrillResult
    from drillkit.spec import DrillSpec

__all__ = ["drill_result", "drillkit_deployment", "drillkit_platform", "drillkit_run"]

_RESULTS = pytest.StashKey[list["DrillResult"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillkit", "drillkit drills as tests")
    group.addoption(
        "--drillkit-reports",
        default=None,
        help="keep drill evidence folders here (default: each test's temporary directory)",
    )
    group.addoption(
        "--drillkit-drills-dir",
        default=None,
        help="where drill NAMEs are looked up (default: ./drills, else the shipped drills)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "drill(name_or_path, expect='pass'): run this drill for the test (fixture drill_result); "
        "the test fails unless the verdict is `expect` (None: the test judges)",
    )


@pytest.fixture
def drillkit_platform() -> Any:
    """Where drills run: None means Docker (drillkit's default). Override to change it."""
    return None


@pytest.fixture
def drillkit_run(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    drillkit_platform: Any,
) -> Callable[..., DrillResult]:
    """``drillkit_run(drill)``: run a drill (NAME, path or DrillSpec); its DrillResult."""
    config = request.config

    def run(drill: str | Path | DrillSpec, **kwargs: Any) -> DrillResult:
        from drillkit.drill import run_drill
        from drillkit.shipped import drills_home
        from drillkit.spec import DrillSpec, load_drill, resolve_drill_path

        if isinstance(drill, DrillSpec):
            spec, origin = drill, f"<{drill.name}>"
        else:
            given = config.getoption("--drillkit-drills-dir")
            path = resolve_drill_path(str(drill), drills_home(Path(given) if given else None))
            spec, origin = load_drill(path), str(path)
        reports = config.getoption("--drillkit-reports")
        kwargs.setdefault("report_root", Path(reports) if reports else tmp_path / "reports")
        kwargs.setdefault("platform", drillkit_platform)
        kwargs.setdefault("progress", lambda _message: None)
        result = run_drill(spec, drill_file=origin, **kwargs)
        measured = result.model.measured
        record_property("drillkit_verdict", result.verdict.value)
        record_property("drillkit_rto_seconds", measured.rto_seconds)
        record_property("drillkit_rpo_seconds", measured.rpo_seconds)
        record_property("drillkit_lost_writes", measured.lost_writes)
        record_property("drillkit_evidence", str(result.report_dir))
        request.node.stash.setdefault(_RESULTS, []).append(result)
        return result

    return run


@pytest.fixture
def drillkit_deployment(drillkit_platform: Any) -> Iterator[Callable[..., Deployment]]:
    """``drillkit_deployment(topology, **kwargs)``: a provisioned topology, removed at teardown
    (see :func:`drillkit.blocks.deployment` for ``kwargs``)."""
    from drillkit.blocks import deployment

    with ExitStack() as stack:

        def make(topology: Any, **kwargs: Any) -> Deployment:
            kwargs.setdefault("platform", drillkit_platform)
            kwargs.setdefault("name", "pytest")
            made: Deployment = stack.enter_context(deployment(topology, **kwargs))
            return made

        yield make


@pytest.fixture
def drill_result(request: pytest.FixtureRequest, drillkit_run: Callable[..., Any]) -> DrillResult:
    """The result of the drill named by the test's ``@pytest.mark.drill(...)``."""
    marker = request.node.get_closest_marker("drill")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: drill_result needs @pytest.mark.drill('NAME or path')"
        )
    result: DrillResult = drillkit_run(marker.args[0])
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body: a marked drill whose verdict is not the expected one fails it."""
    yield
    marker = item.get_closest_marker("drill")
    results = item.stash.get(_RESULTS, [])
    if marker is None or not results:
        return
    expect = marker.kwargs.get("expect", "pass")
    result = results[0]
    if expect is not None and result.verdict.value != expect:
        notes = "; ".join(result.model.notes[:3]) if result.model.notes else ""
        raise AssertionError(
            f"drill {result.model.drill}: verdict {result.verdict.value}, expected {expect} "
            f"(evidence {result.report_dir}){': ' + notes if notes else ''}"
        )
