"""The fault contract (Jepsen's nemesis): inject, heal, and record both in the history."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from drillkit.history import History
from drillkit.topology.node import Node

__all__ = ["Fault", "TargetResolver"]


class TargetResolver(Protocol):
    """Whatever can turn a role ('primary', 'replica') into a node at injection time."""

    def resolve(self, target: str) -> Node: ...


@runtime_checkable
class Fault(Protocol):
    """One failure, injected and later healed.

    Rules: ``inject`` records an invocation when the fault is *requested* and a completion when it
    *took effect*, with ``effective_ns`` and the evidence in ``extra``; a fault that could not be
    injected completes as ``fail``. ``heal`` undoes exactly what ``inject`` did (or records that
    there is nothing to undo) and must be safe to call twice and after a failed injection.
    """

    kind: str

    def inject(self, topology: TargetResolver, history: History) -> None: ...

    def heal(self, topology: TargetResolver, history: History) -> None: ...
