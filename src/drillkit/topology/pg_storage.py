"""A PostgreSQL node's storage: where its data directory is, working on it from a helper that
mounts its volume, and stopping and starting the server around such work.

Used by the storage faults (:mod:`drillkit.faults.disk`) and the recovery procedures
(:mod:`drillkit.topology.pg_recovery`). A helper mounts the node's data volume where the node
mounts it and runs as the node's own user: it needs no privileges, no shell in the node, and
works while the node is stopped. PostgreSQL is stopped with a *fast* shutdown (SIGINT): a
graceful ``stop`` sends SIGTERM, a smart shutdown that waits for every client to leave, and the
workload never leaves.
"""

from __future__ import annotations

import time

from drillkit.backend.node import Node, VolumeNode
from drillkit.topology.pg_admin import PGDATA
from drillkit.wait import WaitTimeout, wait_until

__all__ = [
    "DEFAULT_PGDATA",
    "HelperError",
    "data_volume",
    "fast_shutdown",
    "pgdata",
    "run_helper",
    "said",
    "start_and_watch",
    "volume_node",
    "volume_size",
]

DEFAULT_PGDATA = PGDATA
SHUTDOWN_TIMEOUT = 30.0
START_TIMEOUT = 30.0
HELPER_TIMEOUT = 60.0


class HelperError(RuntimeError):
    """A helper failed; the message carries its exit status and stderr."""


def pgdata(node: Node) -> str:
    """Where the node keeps its data: its PGDATA, else PostgreSQL's image default."""
    return node.env("PGDATA") or DEFAULT_PGDATA


def volume_node(node: Node) -> VolumeNode:
    """``node`` as one whose volumes a helper can mount, or a TypeError."""
    if not isinstance(node, VolumeNode):
        raise TypeError(f"{node.name}: its backend cannot mount its data volume in a helper")
    return node


def data_volume(node: Node) -> str:
    """The name of the volume mounted at the node's data directory."""
    path = pgdata(node)
    volume = volume_node(node).volume_at(path)
    if volume is None:
        raise RuntimeError(f"{node.name} keeps {path} on no Docker volume; no helper can reach it")
    return volume


def volume_size(node: Node) -> str | None:
    """The size limit of the node's data volume (a size-limited tmpfs), else None."""
    return volume_node(node).volume_size_limit(pgdata(node))


def run_helper(node: Node, script: str, *args: str, timeout: float = HELPER_TIMEOUT) -> str:
    """Run ``script`` (sh -eu; ``$1`` is the data directory, then ``args``) in a helper that
    mounts ``node``'s data volume; return its stdout, or raise :class:`HelperError`."""
    path = pgdata(node)
    result = volume_node(node).run_helper_on_volume(
        path, ["/bin/sh", "-euc", script, "drillkit-helper", path, *args], timeout=timeout
    )
    if result.status is None:
        raise HelperError(f"helper on {node.name}'s volume ran over {timeout:g}s")
    if not result.ok:
        raise HelperError(f"helper on {node.name}'s volume exited {result.status}: {result.tail()}")
    return result.stdout.strip()


def fast_shutdown(node: Node, timeout: float = SHUTDOWN_TIMEOUT) -> str:
    """Stop PostgreSQL cleanly (SIGINT: sessions end, a shutdown checkpoint is written)."""
    status = node.status()
    if status in ("exited", "created"):
        return f"was already stopped (exit status {node.exit_code()})"
    if status != "running":
        raise RuntimeError(f"{node.name} is {status}; its files cannot be changed safely")
    node.kill("SIGINT")
    if node.wait_status("exited", timeout, poll=0.05) == "exited":
        return f"fast shutdown (exit status {node.exit_code()})"
    node.kill("SIGKILL")
    node.wait_status("exited", 10.0, poll=0.05)
    return f"fast shutdown ran over {timeout:g}s, killed"


def said(lines: list[str]) -> str:
    """What PostgreSQL said that matters (PANIC, FATAL, ERROR lines), else its last line."""
    notable = [ln for ln in lines if any(w in ln for w in ("PANIC", "FATAL", "ERROR"))]
    picked = (notable or lines[-1:])[-3:]
    return " | ".join(ln.strip()[:240] for ln in picked) or "(no log lines)"


def _ready(node: Node) -> bool:
    try:
        return node.exec(["pg_isready", "-q"]).exit_code == 0
    except Exception:  # it stopped in between: the backend refuses to exec
        return False


def start_and_watch(node: Node, timeout: float = START_TIMEOUT) -> str:
    """Start the node and report what PostgreSQL did: accepted connections, exited, or neither."""
    seen = len(node.logs().splitlines())
    started = time.monotonic()
    node.start()

    def outcome() -> str:
        """What PostgreSQL did, once it did something ('': nothing yet)."""
        elapsed = time.monotonic() - started
        status = node.status()
        if status == "exited":
            lines = node.logs().splitlines()[seen:]
            return (
                f"started again; PostgreSQL exited with status {node.exit_code()} "
                f"after {elapsed:.1f}s: {said(lines)}"
            )
        if status == "running" and _ready(node):
            return f"started again; accepting connections after {elapsed:.1f}s"
        return ""

    try:
        left = timeout - (time.monotonic() - started)  # counted from before node.start()
        return wait_until(outcome, timeout=left, interval=0.1)
    except WaitTimeout:
        lines = node.logs().splitlines()[seen:]
        return f"started again; not accepting connections after {timeout:g}s: {said(lines)}"
