"""What every container topology shares: ownership of its resources, and finding its nodes.

A topology is a context manager: entering provisions (and removes whatever it started if that
fails), leaving removes every container, network and volume carrying the run's label, unless
``keep`` is set (``drillkit run --keep``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from drillkit.backend.docker import create_network
from drillkit.errors import InfrastructureError
from drillkit.resources import sweep
from drillkit.secrets import Secrets
from drillkit.tls import RunTls
from drillkit.topology.node import Node, NodeLookup, start_node
from drillkit.wait import WaitTimeout, is_none, wait_until

__all__ = ["ContainerTopology", "write_private_file"]

Progress = Callable[[str], None]


class ContainerTopology(NodeLookup):
    """Nodes in labelled containers on one private network created for the run."""

    SECRET_NAMES: tuple[str, ...] = ()
    IMAGE = ""  # which of drillkit's images the nodes run
    READY_TIMEOUT = 90.0  # seconds provisioning may take before it is an infrastructure error

    def __init__(
        self,
        client: Any,
        spec: Any,
        *,
        run_id: str,
        labels: dict[str, str],
        image: str,
        secrets: Secrets,
        progress: Progress = print,
        ready_timeout: float | None = None,
        extra_images: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.run_id = run_id
        self.labels = labels
        self.image = image
        self.extra_images = dict(extra_images or {})  # e.g. "cache": the cache node's image
        self.secrets = secrets
        self.progress = progress
        self.ready_timeout = self.READY_TIMEOUT if ready_timeout is None else ready_timeout
        self.nodes: list[Node] = []
        self.network: Any = None
        self.ready_seconds: float | None = None
        self.keep = False  # leave the topology running on exit (drillkit run --keep)
        self._prefix = f"dk-{run_id[-12:]}"
        # topology.tls: the run's CA; every node gets a certificate (start_container)
        self.tls: RunTls | None = RunTls(run_id) if getattr(spec, "tls", False) else None
        self.tls_at_ready: list[dict[str, Any]] | None = None  # replication TLS once ready
        self.init_state()

    def init_state(self) -> None:
        """Set up the topology's own state (called at the end of ``__init__``)."""

    def start(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.keep:
            self.stop()

    def before_stop(self) -> None:
        """Stop background work of the topology's own (e.g. a backup schedule)."""

    def stop(self) -> None:
        """Remove this run's containers, network and volumes (idempotent)."""
        self.before_stop()
        sweep(self.client, self.run_id)
        self.nodes = [n for n in self.nodes if n.status() != "removed"]
        if self.tls is not None:
            self.tls.close()  # the client's CA file and key go with the run

    def create_network(self) -> Any:
        self.network = create_network(self.client, f"{self._prefix}-net", self.labels)
        return self.network

    def start_container(
        self, name: str, role: str, ports: list[int], environment: dict[str, str], **kw: Any
    ) -> Node:
        """A container of this run (its image, on its network, labelled, named after ``name``)
        publishing ``ports`` on 127.0.0.1; ``kw`` goes to the backend (volumes, command,
        secrets). With TLS on, its certificate, key and the CA join its secrets files."""
        if self.tls is not None:
            tls_files = self.tls.node_files(self.container_name(name), [name])
            kw["secrets"] = {**(kw.get("secrets") or {}), **tls_files}
        return start_node(
            self.client,
            name=name,
            role=role,
            image=self.image,
            network=self.network_name,
            labels=self.labels,
            container_ports=ports,
            environment=environment,
            container_name=self.container_name(name),
            **kw,
        )

    def start_nodes(self, starts: dict[str, Callable[[], Node]]) -> list[Node]:
        """Run every ``starts`` callable at once (one thread each) and add the nodes to
        ``self.nodes`` in the order given. The Docker API round trips of a node's start (create,
        secrets, start: ~0.3-0.5 s) then overlap instead of adding up; a node that needs another
        waits for it by itself. If any start fails, the first error is raised once every start
        has returned (a started node is in the run's sweep by its labels)."""
        if not starts:
            return []
        with ThreadPoolExecutor(max_workers=len(starts)) as pool:
            futures = [pool.submit(start) for start in starts.values()]
        nodes = [f.result() for f in futures]
        self.nodes.extend(nodes)
        return nodes

    def container_name(self, node: str) -> str:
        """The container's name, which is also its DNS name on the run's network."""
        return f"{self._prefix}-{node}"

    # How often a readiness wait asks the engine whether a node exited: a round trip per node
    # (~5-10 ms each here), too dear for every attempt of a 10 ms poll.
    STATUS_EVERY = 0.2

    def await_ready(self, problem: Callable[[], str | None], *, interval: float) -> str | None:
        """Poll ``problem`` (None: ready; else what is wrong) every ``interval`` seconds for up
        to ``ready_timeout``; None once ready, else the last problem. A node that exits while
        starting ends the wait with an ``InfrastructureError`` carrying its log (the engine is
        asked at most every ``STATUS_EVERY`` seconds, so ``interval`` can be short)."""
        checked: float | None = None

        def attempt() -> str | None:
            nonlocal checked
            now = time.monotonic()
            if checked is None or now - checked >= self.STATUS_EVERY:
                checked = now
                for node in self.nodes:
                    if node.status() not in ("running", "created"):
                        raise InfrastructureError(
                            f"{node.name} exited while starting; last log lines:\n"
                            f"{node.logs(tail=20)}"
                        )
            return problem()

        try:
            wait_until(attempt, until=is_none, timeout=self.ready_timeout, interval=interval)
        except WaitTimeout as e:
            return str(e.last_value)
        return None

    @property
    def network_name(self) -> str:
        return str(self.network.name)

    @property
    def helper_image(self) -> str:
        return self.image

    def node_evidence(
        self, directory: Path, settings: Callable[[Node, str], dict[str, Any]]
    ) -> dict[str, Any]:
        """Write each node's container log to ``directory/<node>.log``; per node, its role,
        status and image, plus what ``settings(node, status)`` reads of it. Nodes are read at
        once (one thread each: a few engine and database round trips per node, just before
        teardown); the result keeps the nodes' order."""
        directory.mkdir(parents=True, exist_ok=True)

        def one(n: Node) -> dict[str, Any]:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            status = n.status()
            info: dict[str, Any] = {"role": n.role, "status": status, "image": self.image}
            if status != "removed":
                info["image_id"] = n.image_id()
            info.update(settings(n, status))
            return info

        if not self.nodes:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(self.nodes), 8)) as pool:
            futures = [(n.name, pool.submit(one, n)) for n in self.nodes]
        return {name: f.result() for name, f in futures}

    def address(self, node: Node, port: int, *, inside: bool) -> tuple[str, int]:
        """Where ``node``'s ``port`` is reached: by container name from inside the run's network,
        else on 127.0.0.1 at its published port."""
        return (self.container_name(node.name), port) if inside else (node.host, node.port(port))

    def node_environment(
        self,
        nodes: list[Node],
        port_of: Callable[[Node], int],
        primary: Node | None,
        *,
        inside: bool,
    ) -> dict[str, str]:
        """``DK_*`` variables naming the run, its nodes (host, port, container) and the primary."""
        env = {
            "DK_RUN_ID": self.run_id,
            "DK_NETWORK": self.network_name,
            "DK_NODES": " ".join(n.name for n in nodes),
            "DK_PRIMARY": primary.name if primary else "",
        }
        for n in nodes:
            key = "DK_" + n.name.upper().replace("-", "_")
            host, port = self.address(n, port_of(n), inside=inside)
            env[f"{key}_HOST"], env[f"{key}_PORT"] = host, str(port)
            env[f"{key}_CONTAINER"] = self.container_name(n.name)
        if primary is not None:
            host, port = self.address(primary, port_of(primary), inside=inside)
            env["DK_PRIMARY_HOST"], env["DK_PRIMARY_PORT"] = host, str(port)
        return env


def write_private_file(path: Path, text: str) -> Path:
    """``text`` in a file only its owner may read (mode 0600): credentials for a kept topology,
    never part of the evidence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path
