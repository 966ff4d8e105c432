"""Restore steps for Patroni (wait for a new leader, switchover) and for rejoining a former
primary as a replica on either PostgreSQL topology (pg_rewind by hand, or Patroni's own)."""

from __future__ import annotations

import time
from typing import Any, Protocol, cast, runtime_checkable

import psycopg
import requests

from drillkit.backend.node import Node
from drillkit.history import History
from drillkit.queries import healthy_roles, struck_node
from drillkit.spec.steps import RejoinStep, SwitchoverStep, WaitForLeaderStep
from drillkit.topology.patroni import PatroniCluster
from drillkit.wait import WaitTimeout, wait_until

__all__ = ["Rejoin", "Rejoinable", "Switchover", "WaitForLeader"]


@runtime_checkable
class Rejoinable(Protocol):
    """A topology that can bring a former primary back as a replica of the current one."""

    def rejoin(self, name: str, timeout: float) -> dict[str, Any]: ...


class _Step:
    name = ""

    def __init__(self, spec: Any, topology: Any) -> None:
        self.spec = spec
        self.topology = topology
        self.delay_seconds = spec.delay_seconds
        self.timeout_seconds = spec.timeout_seconds
        self.retries = spec.retries
        self.retry_wait_seconds = spec.retry_wait_seconds


def _patroni(topology: Any, step: str) -> PatroniCluster:
    """``topology`` as a :class:`PatroniCluster`: ``step`` requires "patroni" in the registry,
    so a drill whose topology lacks it was refused at validation."""
    return cast(PatroniCluster, topology)


def await_new_leader(
    cluster: PatroniCluster, previous: tuple[str, int | None] | None, timeout: float
) -> dict[str, Any]:
    """Wait until a member other than ``previous`` leads and the client path takes writes."""
    started = time.monotonic()
    old = previous[0] if previous else ""

    def missing() -> tuple[str | None, Node | None]:
        """(what is still missing or None, the new leader)."""
        leader = cluster.leader(exclude=(old,))  # ask members that can still see the DCS
        if leader is None or leader.name == old:
            return "no leader yet", None
        try:
            with psycopg.connect(cluster.client_conninfo(), autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error as e:
            return f"{leader.name} leads; client path: {str(e).strip()[:200]}", leader
        if row is not None and not row[0]:
            return None, leader
        return f"{leader.name} leads; the client path does not reach it yet", leader

    try:
        _, found = wait_until(missing, until=lambda r: r[0] is None, timeout=timeout, interval=0.1)
    except WaitTimeout as e:
        last = e.last_value[0] if e.last_value else "no leader yet"
        raise TimeoutError(f"no new leader reachable through the client path ({last})") from None
    assert found is not None
    leader = found
    out: dict[str, Any] = {
        "leader": leader.name,
        "timeline": cluster.timeline(leader),
        "previous_leader": old or None,
        "previous_timeline": previous[1] if previous else None,
        "waited_seconds": round(time.monotonic() - started, 3),
    }
    if old:
        out["previous_leader_role"] = cluster.member_role(cluster.node(old))
    return out


class WaitForLeader(_Step):
    """Wait for Patroni to elect a new leader after the fault (see WaitForLeaderStep)."""

    name = "wait-for-leader"

    def __init__(self, spec: WaitForLeaderStep, topology: Any) -> None:
        super().__init__(spec, topology)
        self.cluster = _patroni(topology, self.name)
        self.previous: tuple[str, int | None] | None = None

    def observe(self, history: History) -> None:
        """The leader the fault struck (:func:`~drillkit.history.struck_node`), with the
        timeline the steady-state gate saw it lead on (None if the gate saw another)."""
        ops = history.ops()
        old = struck_node(ops, role="primary")
        roles = healthy_roles(ops)
        timeline = roles.get("timeline") if roles.get("primary") == old else None
        self.previous = None if old is None else (old, timeline)

    def run(self) -> dict[str, Any]:
        return await_new_leader(self.cluster, self.previous, self.timeout_seconds)


class Switchover(_Step):
    """A planned switchover through Patroni's REST API; waits for the new leader."""

    name = "switchover"

    def __init__(self, spec: SwitchoverStep, topology: Any) -> None:
        super().__init__(spec, topology)
        self.cluster = _patroni(topology, self.name)

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        found = self.cluster.leading()
        if found is None:
            raise RuntimeError("no leader to switch over from")
        leader, timeline = found
        previous: tuple[str, int | None] = (leader.name, timeline)
        try:
            answer = self.cluster.switchover(leader, self.spec.candidate)
        except requests.RequestException as e:
            raise RuntimeError(f"switchover request to {leader.name} failed: {e}") from None
        remaining = max(1.0, self.timeout_seconds - (time.monotonic() - started))
        out = await_new_leader(self.cluster, previous, remaining)
        if self.spec.candidate and out["leader"] != self.spec.candidate:
            raise RuntimeError(f"{out['leader']} leads, not the candidate {self.spec.candidate}")
        return {"patroni": answer, **out}


class Rejoin(_Step):
    """Bring a former primary back as a replica (default: the node the first fault struck)."""

    name = "rejoin"
    rejoinable: Rejoinable  # the topology (the registry requires "postgres-replication")

    def __init__(self, spec: RejoinStep, topology: Any) -> None:
        super().__init__(spec, topology)
        self.rejoinable = topology
        self.history: History | None = None

    def observe(self, history: History) -> None:
        self.history = history

    def _struck(self) -> str:
        name = struck_node(self.history.ops() if self.history is not None else [])
        if name is None:
            raise RuntimeError("no fault struck a node: say which node to rejoin")
        return name

    def run(self) -> dict[str, Any]:
        name = self.spec.node or self._struck()
        return self.rejoinable.rejoin(name, self.timeout_seconds)
