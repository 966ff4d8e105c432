"""Network faults: isolate, partition, cut links, drop packets, throttle, hold a replica behind.

Every fault puts its rules in one chain of its own, ``DRILLKIT-<id>``, jumped to from INPUT and
OUTPUT of each node it touches; healing deletes the jumps, flushes and deletes that chain, and
nothing else, so concurrent faults and Docker's own rules are left alone. ``bandwidth`` adds a
``tbf`` root qdisc with a handle of its own and deletes only a qdisc with that handle. The
addresses, rules and scripts are built in :mod:`drillkit.faults.netrules`.

Rules DROP silently, like a real partition: PostgreSQL notices only through its own timeouts
(``wal_sender_timeout`` and ``wal_receiver_timeout``, 60 s by default), after the rules are in.

Effective times: each script prints a ``DRILLKIT-EFFECTIVE`` marker once its change is made; the
harness converts it to the monotonic clock and strips it from the evidence. A fault with rules
on both ends of a link (cut-link, partition, partition-one-way, replication-lag) is in force at
the EARLIEST node's marker (the link is cut once one end drops); single-sided faults (isolate,
cut-client, packet-loss, bandwidth) at the LATEST. A heal is effective at the latest marker (the
rules are gone everywhere). A node that stopped, or was restarted, since the injection took its
rules with its network namespace: its heal is a recorded no-op.

Overlaps: drop faults compose (each has its own chain), so overlapping ones are allowed;
``bandwidth`` is exclusive per node (one root qdisc) and overlapping entries are rejected when the
drill file is validated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from drillkit.backend.node import Node
from drillkit.faults.base import (
    MARKER,
    Effect,
    FaultTopology,
    combine,
    record,
    split_markers,
    wall_to_monotonic_ns,
)
from drillkit.faults.netns import NetnsError, in_parallel, netns_nodes, run_in_netns
from drillkit.faults.netrules import (
    NodeRules,
    blocking,
    burst_bytes,
    cut_between,
    drop,
    gateway,
    held,
    install_chain,
    install_tbf,
    node_address,
    remove_chain,
    remove_tbf,
)
from drillkit.history import History

__all__ = [
    "CHAIN_PREFIX",
    "Bandwidth",
    "CutClient",
    "CutLink",
    "Isolate",
    "OneWayPartition",
    "PacketLoss",
    "Partition",
    "ReplicationLag",
]

CHAIN_PREFIX = "DRILLKIT-"


@dataclass(frozen=True)
class _Change:
    """What one fault does to one node: a script to install it and one that removes it.

    Both scripts print the evidence (what they found or did); ``remove`` is idempotent.
    """

    node: Node
    install: str
    remove: str
    started_at: str = ""  # the node's started_at() when planned: a restart drops the rules


def _apply(
    changes: Sequence[_Change], script: Callable[[_Change], str]
) -> list[tuple[_Change, str | Exception]]:
    """Run one script per change, all in parallel; each change with its output or error."""
    results = in_parallel(changes, lambda c: run_in_netns(c.node, script(c)).strip())
    return list(zip(changes, results, strict=True))


def _node_effect(change: _Change, output: str) -> Effect:
    """One node's evidence (markers stripped), dated by its marker if it printed one."""
    text, stamps = split_markers(output)
    evidence = f"{change.node.name}: {text}"
    if not stamps:
        return Effect(evidence, None, "")
    return Effect(evidence, wall_to_monotonic_ns(stamps[-1]), f"{MARKER} marker")


def _effect(results: Sequence[tuple[_Change, str | Exception]], *, earliest: bool) -> Effect:
    """The effect over every node, or a NetnsError naming every node that failed."""
    failures = [str(r) for _, r in results if isinstance(r, Exception)]
    if failures:
        raise NetnsError("; ".join(failures))
    return combine([_node_effect(c, str(r)) for c, r in results], earliest=earliest)


def _gone(change: _Change) -> str | None:
    """Why ``change``'s rules are gone by themselves (None: they may still be in force)."""
    status = change.node.status()
    if status not in ("running", "paused"):
        return f"{status}, its rules went with its network namespace (nothing to remove)"
    if change.started_at and change.node.started_at() != change.started_at:
        return "restarted since the injection, its rules went with its network namespace"
    return None


def _possibly_in_force(result: str | Exception) -> bool:
    """An install that succeeded, or failed after its helper started (it may have got in)."""
    return not isinstance(result, NetnsError) or result.started


class _NetworkFault:
    """A fault that changes the network namespaces of the nodes it resolves to at injection.

    ``heal`` removes the changes that were (or may have been) installed, on nodes whose namespace
    still holds them; a node whose removal fails stays pending for the next heal.
    """

    kind = ""
    both_ends = False  # rules on both ends of a link: in force once the first end drops
    # helper start-up + iptables-restore took 115-260 ms here; the helper then waits for its aim
    expected_latency_s = 0.3

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.id = secrets.token_hex(3)
        self.changes: list[_Change] = []
        self.value: dict[str, Any] = {}
        self.aim_ns: int | None = None  # hold the next inject/heal until then (Aimable)

    @property
    def chain(self) -> str:
        return f"{CHAIN_PREFIX}{self.id}"

    def inject(self, topology: FaultTopology, history: History) -> None:
        if self.changes:
            raise RuntimeError(f"{self.kind} {self.id} is already injected; heal it first")
        planned = self._plan(topology)
        netns_nodes([c.node for c in planned])
        changes = [replace(c, started_at=c.node.started_at()) for c in planned]
        request = self.spec.model_dump(exclude={"kind", "at", "duration", "repeat", "incident"})
        self.value = {**request, "nodes": [c.node.name for c in changes], "id": self.id}

        aim, self.aim_ns = self.aim_ns, None

        def install() -> Effect:
            results = _apply(changes, lambda c: held(aim, c.install))
            self.changes = [c for c, r in results if _possibly_in_force(r)]
            return _effect(results, earliest=self.both_ends)

        record(history, self.kind, self.value, install)

    def heal(self, topology: FaultTopology, history: History) -> None:
        if not self.changes:
            return
        aim, self.aim_ns = self.aim_ns, None
        record(history, f"heal-{self.kind}", self.value, lambda: self._remove(aim))

    def _remove(self, aim: int | None = None) -> Effect:
        gone = [(c, _gone(c)) for c in self.changes]
        noops = [Effect(f"{c.node.name}: {why}", None, "") for c, why in gone if why is not None]
        results = _apply([c for c, why in gone if why is None], lambda c: held(aim, c.remove))
        self.changes = [c for c, r in results if isinstance(r, Exception)]
        if not results:
            return combine(noops)
        removed = _effect(results, earliest=False)
        evidence = "; ".join([removed.evidence, *(n.evidence for n in noops)])
        return Effect(evidence, removed.effective_ns, removed.how)

    def _plan(self, topology: FaultTopology) -> list[_Change]:
        raise NotImplementedError


class _DropFault(_NetworkFault):
    """A fault made of DROP rules in the fault's chain on some nodes."""

    def _plan(self, topology: FaultTopology) -> list[_Change]:
        return [
            _Change(r.node, install_chain(self.chain, r.rules, r.note), remove_chain(self.chain))
            for r in self._rules(topology)
        ]

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        raise NotImplementedError


def _resolve_all(topology: FaultTopology, targets: Iterable[str]) -> list[Node]:
    nodes: dict[str, Node] = {}
    for target in targets:
        nodes.update((n.name, n) for n in topology.resolve(target))
    return list(nodes.values())


def _disjoint(groups: Sequence[Sequence[Node]]) -> None:
    seen: dict[str, int] = {}
    for i, group in enumerate(groups):
        for node in group:
            if seen.setdefault(node.name, i) != i:
                raise ValueError(f"{node.name} is in groups {seen[node.name]} and {i} at once")


class Isolate(_DropFault):
    """Drop everything between the target and every other node; the harness still reaches it."""

    kind = "isolate"

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        network = topology.network_name
        return [blocking(n, topology.nodes, network) for n in topology.resolve(self.spec.target)]


class Partition(_DropFault):
    """Split the nodes into groups (names or roles) that cannot reach each other.

    Nodes named in no group keep reaching everyone.
    """

    kind = "partition"
    both_ends = True

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        groups = [_resolve_all(topology, group) for group in self.spec.groups]
        _disjoint(groups)
        pairs = [
            (a, b)
            for i, group in enumerate(groups)
            for other in groups[i + 1 :]
            for a in group
            for b in other
        ]
        return cut_between(topology.network_name, pairs)


class OneWayPartition(_DropFault):
    """Packets from ``source`` never reach ``dest``; dest's packets still reach source.

    The rule sits on ``dest`` (INPUT drops what source sends). TCP needs both directions, so
    connections between them fail either way; datagrams from dest still arrive.
    """

    kind = "partition-one-way"
    both_ends = True

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        network = topology.network_name
        sources = topology.resolve(self.spec.source)
        dests = topology.resolve(self.spec.dest)
        _disjoint([sources, dests])
        return [blocking(dest, sources, network, outbound=False) for dest in dests]


class CutLink(_DropFault):
    """Cut only the link between two nodes (e.g. replication); their other links still work."""

    kind = "cut-link"
    both_ends = True

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        ends = [topology.resolve(name) for name in self.spec.between]
        _disjoint(ends)
        return cut_between(topology.network_name, [(a, b) for a in ends[0] for b in ends[1]])


class CutClient(_DropFault):
    """Cut the harness's path to the target (traffic from and to the gateway); peers still work."""

    kind = "cut-client"

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        network = topology.network_name
        return [
            NodeRules(n, drop([gateway(n, network)])) for n in topology.resolve(self.spec.target)
        ]


class PacketLoss(_DropFault):
    """Drop ``percent`` of the packets between the target and its peers, in each direction.

    Like isolate, the harness's own path is spared, so 100 % behaves like isolation while the
    probe still sees the node.
    """

    kind = "packet-loss"

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        network = topology.network_name
        chance = f"-m statistic --mode random --probability {self.spec.percent / 100:.4f} "
        return [
            blocking(n, topology.nodes, network, match=chance)
            for n in topology.resolve(self.spec.target)
        ]


class ReplicationLag(_DropFault):
    """Hold a replica behind: cut the link between the current primary and the target replica.

    The primary is resolved at injection, so the fault follows a failover. Its duration is
    required by the spec; the schedule heals it and the replica catches up.
    """

    kind = "replication-lag"
    both_ends = True

    def _rules(self, topology: FaultTopology) -> list[NodeRules]:
        primary = topology.resolve("primary")[0]
        replicas = topology.resolve(self.spec.target)
        if any(r.name == primary.name for r in replicas):
            raise ValueError(
                f"replication-lag needs a replica target; {primary.name} is the primary"
            )
        return cut_between(topology.network_name, [(primary, r) for r in replicas])


class Bandwidth(_NetworkFault):
    """Limit the target's outgoing bandwidth with a token bucket (tc tbf on eth0).

    The qdisc gets a handle derived from the fault's id; heal deletes only a root qdisc with
    that handle, and a second bandwidth fault on the same node fails instead of replacing it.
    """

    kind = "bandwidth"

    @property
    def handle(self) -> str:
        return f"{0x1000 + int(self.id[:3], 16):x}"

    def _plan(self, topology: FaultTopology) -> list[_Change]:
        rate = self.spec.rate
        burst = burst_bytes(rate)
        changes: list[_Change] = []
        for node in topology.resolve(self.spec.target):
            address = node_address(node, topology.network_name)
            if address is None:
                raise ValueError(f"{node.name} is not running; it has no link to throttle")
            install = install_tbf(self.handle, rate, burst, address)
            changes.append(_Change(node, install, remove_tbf(self.handle)))
        return changes
