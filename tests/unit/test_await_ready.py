"""ContainerTopology.await_ready: a short poll interval without an engine round trip per node on
every attempt, and a node that exits still ends the wait."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drillkit.errors import InfrastructureError
from drillkit.secrets import Secrets
from drillkit.topology.containers import ContainerTopology


class FakeNode:
    def __init__(self, name: str, statuses: list[str] | None = None) -> None:
        self.name = name
        self.calls = 0
        self._statuses = statuses or []

    def status(self) -> str:
        self.calls += 1
        return self._statuses.pop(0) if self._statuses else "running"

    def logs(self, tail: int | None = None) -> str:
        return "FATAL: the last words"


def _topology(nodes: list[FakeNode]) -> ContainerTopology:
    topology = ContainerTopology(
        None,
        object(),
        run_id="run-1",
        labels={},
        image="img",
        secrets=Secrets({}),
        ready_timeout=5.0,
    )
    topology.nodes = nodes  # type: ignore[assignment]
    return topology


def test_the_engine_is_asked_at_most_every_status_every_seconds() -> None:
    nodes = [FakeNode("pg0"), FakeNode("pg1")]
    topology = _topology(nodes)
    attempts = 0

    def problem() -> str | None:
        nonlocal attempts
        attempts += 1
        return None if attempts >= 40 else "not yet"

    started = time.monotonic()
    assert topology.await_ready(problem, interval=0.002) is None
    elapsed = time.monotonic() - started
    assert attempts == 40
    most = 1 + int(elapsed / ContainerTopology.STATUS_EVERY) + 1
    assert all(1 <= n.calls <= most for n in nodes), [n.calls for n in nodes]


def test_a_node_that_exits_ends_the_wait_with_its_log() -> None:
    topology = _topology([FakeNode("pg0"), FakeNode("pg1", ["exited"])])
    calls: list[Any] = []
    with pytest.raises(InfrastructureError, match=r"(?s)pg1 exited while starting.*the last words"):
        topology.await_ready(lambda: calls.append(1) or "not yet", interval=0.001)
    assert calls == []  # checked before the first attempt


def test_an_exit_later_in_the_wait_is_seen_within_status_every() -> None:
    node = FakeNode("pg0", ["running", "exited"])
    topology = _topology([node])
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="pg0 exited"):
        topology.await_ready(lambda: "not yet", interval=0.005)
    waited = time.monotonic() - started
    assert ContainerTopology.STATUS_EVERY <= waited < ContainerTopology.STATUS_EVERY + 1.0
