"""Run a shell script inside a node's network namespace, from a short-lived helper.

The node's backend starts the helper (:meth:`drillkit.backend.NetnsNode.run_in_netns`; with
Docker, a container joining the node's namespace with ``NET_ADMIN`` only, never ``privileged``).
It carries the run's labels, so a sweep removes it if the harness dies mid-run, and it is removed
as soon as its output is read. One run costs about 0.2 s here with Docker (create, start, wait,
logs, remove), which is why callers batch a node's commands into one script and run the helpers
of several nodes in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from drillkit.backend.node import HELPER_LABEL, HelperRefused, NetnsNode, Node

__all__ = ["HELPER_LABEL", "NetnsError", "in_parallel", "netns_nodes", "run_in_netns"]

T = TypeVar("T")
R = TypeVar("R")


class NetnsError(RuntimeError):
    """A helper script failed; the message carries the node, the exit code and its stderr.

    ``started`` is False when the backend refused to start the helper (the script never ran).
    """

    def __init__(self, message: str, *, started: bool = True) -> None:
        super().__init__(message)
        self.started = started


def netns_nodes(nodes: Sequence[Node]) -> list[NetnsNode]:
    """``nodes`` as nodes whose namespace a helper can join, or a TypeError naming one that
    cannot (before anything is recorded)."""
    out: list[NetnsNode] = []
    for node in nodes:
        if not isinstance(node, NetnsNode):
            raise TypeError(f"{node.name}: its backend cannot run a helper in its namespace")
        out.append(node)
    return out


def run_in_netns(node: Node, script: str, *, timeout: float = 30.0) -> str:
    """Run ``script`` with bash as root in ``node``'s network namespace; return its stdout.

    Raises :class:`NetnsError` with stderr when the script exits non-zero or overruns ``timeout``.
    """
    (netns,) = netns_nodes([node])
    try:
        result = netns.run_in_netns(script, timeout=timeout)
    except HelperRefused as e:
        raise NetnsError(
            f"{node.name}: cannot start a helper in its namespace: {e}", started=False
        ) from None
    if result.status is None:
        raise NetnsError(f"{node.name}: helper did not finish within {timeout:g}s")
    if not result.ok:
        raise NetnsError(
            f"{node.name}: helper exited with {result.status}: {result.stderr.strip()[:400]}"
        )
    return result.stdout


def in_parallel(items: Sequence[T], work: Callable[[T], R]) -> list[R | Exception]:
    """``work`` applied to every item at once; each result or the exception it raised, in order.

    A fault spanning nodes should take effect on all of them at about the same moment, and a
    failure on one node must not stop the others (heal in particular must try every node).
    """
    if not items:
        return []

    def attempt(item: T) -> R | Exception:
        try:
            return work(item)
        except Exception as e:
            return e

    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="drillkit-netns") as pool:
        return list(pool.map(attempt, items))
