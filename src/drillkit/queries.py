"""What every seam may ask of a history: the names of the processes that record in it, the
compact encoding of id sets, and the facts runbook steps need (which node a fault struck, the
roles the steady-state gate saw).

The facts of a run are in its history, never in hidden state on a topology: a step reads them
when it runs, so it can be built before the fault. Checkers' own queries (injections, the
incident) live in :mod:`drillkit.checkers`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drillkit.history import Op, OpType

__all__ = [
    "DRILL_PROCESS",
    "FAULT_PROCESS",
    "FINAL_READ_PROCESS",
    "GATE_PROCESS",
    "NEMESIS_PROCESS",
    "READER_PROCESS",
    "RUNBOOK_PROCESS",
    "Struck",
    "decode_ids",
    "encode_ids",
    "healthy_roles",
    "struck",
    "struck_node",
]

# The processes that record in a history besides the writers (``writer-N``).
DRILL_PROCESS = "drill"  # the runner: start, errors, interruption
GATE_PROCESS = "steady-state"  # the steady-state gate
NEMESIS_PROCESS = "nemesis"  # the fault schedule's start (t0 and tolerance)
FAULT_PROCESS = "fault"  # each injection and heal
RUNBOOK_PROCESS = "runbook"  # each runbook step
FINAL_READ_PROCESS = "final-read"  # the read of every surviving id after recovery
READER_PROCESS = "reader-0"  # the read-back probe


def encode_ids(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as inclusive ``[first, last]`` ranges, to keep the final read compact."""
    ranges: list[list[int]] = []
    for i in sorted(set(ids)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ranges


def decode_ids(ranges: Iterable[Iterable[int]]) -> list[int]:
    out: list[int] = []
    for first, last in ranges:
        out.extend(range(int(first), int(last) + 1))
    return out


@dataclass(frozen=True, slots=True)
class Struck:
    """One injection that took effect, and the nodes its target resolved to at injection."""

    kind: str
    target: str | None  # the role or name the drill file gave (``primary``, ``pg1``, ...)
    nodes: tuple[str, ...]
    incident: bool  # the drill file marked its entry ``incident: true``


def struck(ops: Iterable[Op]) -> list[Struck]:
    """Every fault injection that took effect (``ok``, not a ``heal-*``), in order. The nodes
    are the op's ``value.nodes`` (node faults) or ``value.node`` (operator errors)."""
    out: list[Struck] = []
    for op in ops:
        if op.process != FAULT_PROCESS or op.type is not OpType.OK or op.f.startswith("heal-"):
            continue
        value = op.value if isinstance(op.value, dict) else {}
        names = value.get("nodes") or [value.get("node")]
        target = value.get("target")
        out.append(
            Struck(
                kind=op.f,
                target=None if target is None else str(target),
                nodes=tuple(str(n) for n in names if n),
                incident=op.extra.get("incident") is True,
            )
        )
    return out


def healthy_roles(ops: Iterable[Op]) -> dict[str, Any]:
    """The roles the steady-state gate saw when it found the topology healthy (``primary``, and
    e.g. Patroni's ``timeline``); empty if the gate did not pass."""
    for op in ops:
        if op.process == GATE_PROCESS and op.type is OpType.OK and isinstance(op.value, dict):
            roles = op.value.get("roles")
            return dict(roles) if isinstance(roles, dict) else {}
    return {}


def struck_node(ops: Iterable[Op], *, role: str | None = None) -> str | None:
    """The node the drill's fault struck, from the history alone (None if none is known).

    Without ``role``: the first node of the first injection that took effect and named a node
    (what a rejoin brings back). With a role (``"primary"``): the node the last injection aimed
    at that role struck, up to and including the incident (the injection marked ``incident``,
    else the first), else the node the steady-state gate saw in that role (a fault aimed at a
    name, or at the DCS, strikes the role holder the gate saw).
    """
    ops = list(ops)
    injected = struck(ops)
    if role is None:
        return next((s.nodes[0] for s in injected if s.nodes), None)
    incident = next((i for i, s in enumerate(injected) if s.incident), 0)
    aimed = [s for s in injected[: incident + 1] if s.target == role and s.nodes]
    if aimed:
        return aimed[-1].nodes[0]
    seen = healthy_roles(ops).get(role)
    return None if seen is None else str(seen)
