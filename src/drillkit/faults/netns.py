"""Run a shell script inside a node's network namespace, from a short-lived helper container.

The helper joins the node's namespace (``network_mode=container:<id>``) with ``NET_ADMIN`` only,
never ``privileged``, so it works whatever the node image contains, with a remote engine too, and
without root on the harness host. It carries the run's labels, so a sweep removes it if the
harness dies mid-run, and it is removed as soon as its output is read. One run costs about 0.2 s
here (create, start, wait, logs, remove), which is why callers batch a node's commands into one
script and run the helpers of several nodes in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

import docker.errors

from drillkit.topology.helper import run_helper_container
from drillkit.topology.node import Node

__all__ = ["HELPER_LABEL", "HelperHost", "NetnsError", "helper_host", "in_parallel", "run_in_netns"]

HELPER_LABEL = "drillkit.helper"
T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class HelperHost(Protocol):
    """What starting a helper needs of a topology: Docker, an image with iptables and iproute2,
    and the run's labels (a helper without them would escape the sweep)."""

    client: Any
    labels: dict[str, str]

    @property
    def helper_image(self) -> str: ...


class NetnsError(RuntimeError):
    """A helper script failed; the message carries the node, the exit code and its stderr.

    ``started`` is False when Docker refused to start the helper (the script never ran).
    """

    def __init__(self, message: str, *, started: bool = True) -> None:
        super().__init__(message)
        self.started = started


def helper_host(topology: object) -> HelperHost:
    """``topology`` as a :class:`HelperHost`, or a TypeError: unlabelled helpers are refused."""
    if not isinstance(topology, HelperHost):
        raise TypeError(
            f"{type(topology).__name__} has no client, labels and helper_image; network faults "
            "need them to start labelled helper containers"
        )
    return topology


def run_in_netns(host: HelperHost, node: Node, script: str, *, timeout: float = 30.0) -> str:
    """Run ``script`` with bash as root in ``node``'s network namespace; return its stdout.

    Raises :class:`NetnsError` with stderr when the script exits non-zero or overruns ``timeout``.
    """
    try:
        result = run_helper_container(
            host.client,
            host.helper_image,
            timeout=timeout,
            entrypoint=["/bin/bash", "-c", script],
            user="root",
            network_mode=f"container:{node.container.id}",
            cap_add=["NET_ADMIN"],
            labels={**host.labels, HELPER_LABEL: node.name},
        )
    except docker.errors.APIError as e:
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
