"""The fault contract (Jepsen's nemesis): inject, heal, and record both in the history.

Times. A fault op's completion carries ``requested_ns`` (when it was asked for), ``returned_ns``
(when the injector returned), ``effective_ns`` (when the effect was *in force*, always within
``[requested_ns, returned_ns]``) and ``effective_by`` (how that time was established, e.g. the
marker a helper printed right after ``iptables-restore``, or Docker's ``State.FinishedAt``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from drillkit.backend.clock import rfc3339_ns
from drillkit.backend.node import Node
from drillkit.history import History, OpType
from drillkit.queries import FAULT_PROCESS

__all__ = [
    "MARKER",
    "Aimable",
    "Effect",
    "Fault",
    "FaultFailed",
    "FaultTopology",
    "NodeFault",
    "combine",
    "docker_time_ns",
    "record",
    "split_markers",
    "wall_to_monotonic_ns",
]

MARKER = "DRILLKIT-EFFECTIVE"
_MARKER_LINE = re.compile(rf"^{MARKER} (\d+)\s*$", re.MULTILINE)


class FaultTopology(Protocol):
    """What a fault may use of a topology: its nodes and its network. Everything a fault does
    to a node goes through the :class:`~drillkit.backend.Node` protocol (helpers included)."""

    nodes: list[Node]

    @property
    def network_name(self) -> str: ...

    def resolve(self, target: str) -> list[Node]:
        """The nodes a role or name designates right now (roles follow failovers)."""
        ...


@runtime_checkable
class Fault(Protocol):
    """One failure, injected and later healed.

    Rules: ``inject`` records an invocation when the fault is *requested* and a completion when it
    *took effect* (with ``requested_ns``, ``effective_ns``, ``effective_by``, ``returned_ns`` and
    the ``evidence`` in ``extra``); a fault that could not be injected completes as ``fail`` and
    raises :class:`FaultFailed`. ``heal`` undoes exactly what ``inject`` did (nothing after a
    failed injection), records ``heal-<kind>``, and is a no-op when nothing is injected, so calling
    it twice is safe. ``expected_latency_s`` (request to effective) lets a schedule request early.
    """

    kind: str

    def inject(self, topology: FaultTopology, history: History) -> None: ...

    def heal(self, topology: FaultTopology, history: History) -> None: ...


@runtime_checkable
class Aimable(Protocol):
    """A fault that can hold its effect until a moment given in advance: the schedule sets
    ``aim_ns`` (monotonic ns; None = at once) before ``inject`` or ``heal`` and requests early.
    Network faults aim: their helper starts early and waits in the namespace for the moment."""

    aim_ns: int | None


@dataclass(frozen=True)
class Effect:
    """What an action did: its evidence, when its effect was in force (monotonic ns; None = when
    the action returned) and how that time was established."""

    evidence: str
    effective_ns: int | None
    how: str


class FaultFailed(RuntimeError):
    """A fault operation failed and its ``fail`` completion is already in the history.

    ``__cause__`` is the original exception; callers must not record the failure again.
    """


def wall_to_monotonic_ns(epoch_ns: int, offset_ns: int | None = None) -> int:
    """A wall-clock time (ns since the epoch) on this host's monotonic clock.

    ``offset_ns`` is ``time.time_ns() - time.monotonic_ns()`` sampled now by default; containers
    share the host kernel's clocks, so a time one of them printed converts the same way.
    """
    if offset_ns is None:
        offset_ns = time.time_ns() - time.monotonic_ns()
    return epoch_ns - offset_ns


def docker_time_ns(stamp: str) -> int | None:
    """Docker's RFC 3339 time as ns since the epoch (None if unset or unreadable)."""
    return rfc3339_ns(stamp)


def split_markers(output: str) -> tuple[str, list[int]]:
    """A helper's output without its ``DRILLKIT-EFFECTIVE <epoch ns>`` lines, and those times."""
    stamps = [int(m) for m in _MARKER_LINE.findall(output)]
    text = "\n".join(ln for ln in output.splitlines() if not _MARKER_LINE.match(ln))
    return text.strip(), stamps


def combine(effects: Sequence[str | Effect], *, earliest: bool = False) -> Effect:
    """One effect for several nodes: evidence joined; effective = the latest node's (in force
    everywhere), or the earliest with ``earliest`` (e.g. a link is cut once one end drops)."""
    evidence = "; ".join(e.evidence if isinstance(e, Effect) else e for e in effects)
    timed = [e for e in effects if isinstance(e, Effect) and e.effective_ns is not None]
    if not timed or (len(timed) < len(effects) and not earliest):
        return Effect(evidence, None, "when the action returned")
    pick = min if earliest else max
    chosen = pick(timed, key=lambda e: e.effective_ns or 0)
    hows = sorted({e.how for e in timed})
    which = f" ({'earliest' if earliest else 'latest'} node)" if len(timed) > 1 else ""
    how = "; ".join(hows) + which
    return Effect(evidence, chosen.effective_ns, how)


def record(history: History, f: str, value: Any, action: Callable[[], str | Effect]) -> Effect:
    """Run ``action`` as one recorded fault operation; it returns the evidence or an Effect.

    The completion is dated at the effective time, clamped into [requested, returned]. A failure
    is recorded as ``fail`` and raised as :class:`FaultFailed` (already recorded).
    """
    request = history.invoke(FAULT_PROCESS, f, value)
    try:
        result = action()
    except Exception as e:
        message = f"{type(e).__name__}: {e}".strip()[:500]
        history.complete(request, OpType.FAIL, error=message)
        raise FaultFailed(message) from e
    returned = history.now()
    effect = result if isinstance(result, Effect) else Effect(result, None, "")
    effective, how = _clamped(effect, request.time_ns, returned)
    history.complete(
        request,
        OpType.OK,
        time_ns=effective,
        requested_ns=request.time_ns,
        effective_ns=effective,
        effective_by=how,
        returned_ns=returned,
        evidence=effect.evidence,
    )
    return Effect(effect.evidence, effective, how)


def _clamped(effect: Effect, requested: int, returned: int) -> tuple[int, str]:
    if effect.effective_ns is None:
        return returned, effect.how or "when the action returned"
    if effect.effective_ns < requested:
        early = requested - effect.effective_ns
        return requested, f"{effect.how} (clamped up to the request, {early} ns earlier)"
    if effect.effective_ns > returned:
        late = effect.effective_ns - returned
        return returned, f"{effect.how} (clamped down to the return, {late} ns later)"
    return effect.effective_ns, effect.how


class NodeFault:
    """A fault acting on each node its ``target`` resolves to when it is injected.

    Subclasses implement ``_inject`` (and ``_heal`` when there is something to undo) for one node,
    returning the evidence or an :class:`Effect`; ``check`` may refuse a topology or nodes before
    anything is recorded. Only nodes on which ``_inject`` succeeded are healed: a failed injection
    (say a second pause of a paused node) heals nothing, so it cannot undo another fault.
    ``self.now`` is the history's clock while an action runs.
    """

    kind = ""
    heal_note = "nothing to undo"
    expected_latency_s = 0.0

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.nodes: list[Node] = []
        self.acting: list[Node] = []  # the nodes the op being recorded concerns
        self.now: Callable[[], int] = time.monotonic_ns

    def _value(self) -> dict[str, Any]:
        return {"target": self.spec.target, "nodes": [n.name for n in self.acting]}

    def check(self, topology: FaultTopology, nodes: list[Node]) -> None:
        """Raise if this fault cannot act on these nodes (default: it can)."""

    def inject(self, topology: FaultTopology, history: History) -> None:
        nodes = topology.resolve(self.spec.target)
        self.check(topology, nodes)
        self.now = history.now
        self.acting = nodes

        def act() -> Effect:
            effects = []
            for node in nodes:
                effects.append(self._inject(topology, node))
                self.nodes.append(node)  # injected: heal will undo it
            return combine(effects)

        record(history, self.kind, self._value(), act)

    def _inject(self, topology: FaultTopology, node: Node) -> str | Effect:
        raise NotImplementedError

    def heal(self, topology: FaultTopology, history: History) -> None:
        if not self.nodes:
            return
        nodes = self.acting = self.nodes
        value = self._value()
        self.nodes = []
        self.now = history.now
        record(
            history,
            f"heal-{self.kind}",
            value,
            lambda: combine([self._heal(topology, n) for n in nodes]),
        )

    def _heal(self, topology: FaultTopology, node: Node) -> str | Effect:
        return f"{node.name}: {self.heal_note}"
