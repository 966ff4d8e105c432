"""The cache's own failover (``topology.cache`` with Sentinels): ``wait-cache-failover``.

The Redis topology's step (:class:`~drillkit.runbook.redis_steps.WaitSentinelFailover`) run
against the cache's nodes and Sentinels: done once at least the quorum of Sentinels (and every
one that answers) names one new cache master and that node answers ``ROLE`` as master.
"""

from __future__ import annotations

from typing import Any

from drillkit.history import History
from drillkit.queries import struck_node
from drillkit.runbook.redis_steps import SentinelView, WaitSentinelFailover
from drillkit.spec.postgres import CACHE_MASTER, CACHE_NODE, CACHE_QUORUM
from drillkit.spec.steps import WaitCacheFailoverStep

__all__ = ["WaitCacheFailover"]


class WaitCacheFailover(WaitSentinelFailover):
    """Until the cache's Sentinels announce a new master that answers ROLE as master."""

    name = "wait-cache-failover"
    spec: WaitCacheFailoverStep  # type: ignore[assignment]
    struck_role = CACHE_MASTER

    def __init__(self, spec: Any, topology: Any) -> None:
        super().__init__(spec, topology)
        self._cache: SentinelView = topology.cache

    @property
    def view(self) -> SentinelView:
        """The cache's nodes and Sentinels (``topology.cache``)."""
        return self._cache

    @property
    def quorum(self) -> int:
        return CACHE_QUORUM

    @property
    def converge(self) -> bool:
        return False

    def observe(self, history: History) -> None:
        """The cache master the fault struck: the holder of ``cache-master`` at the incident,
        else the cache node a fault named, else cache0 (the master the cache starts with)."""
        ops = history.ops()
        old = struck_node(ops, role=CACHE_MASTER)
        if old is None:
            first = struck_node(ops)
            data = {n.name for n in self.view.data_nodes}
            old = first if first in data else CACHE_NODE
        self.old = old
