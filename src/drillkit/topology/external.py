"""A PostgreSQL stack drillkit did not create: a Compose project or chosen containers.

Entering *attaches* (finds the containers, reads their published ports, discovers the primary
with ``pg_is_in_recovery()``); leaving does nothing to them. drillkit never creates, removes,
restarts or labels these containers; only the faults and steps a drill declares act on them, and
their helpers (drillkit's, labelled with the run) are the only containers it starts. The
password is read from a file or an environment variable when the drill starts and added to the
run's secrets, so it is redacted from everything drillkit writes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.conninfo import make_conninfo

from drillkit.backend.docker.attach import (
    Found,
    attach_node,
    compose_containers,
    compose_labels,
    engine_identity,
    named_containers,
    published_port,
)
from drillkit.backend.docker.node import LOOPBACK
from drillkit.endpoints import PgEndpoints
from drillkit.errors import InfrastructureError
from drillkit.secrets import Secrets
from drillkit.spec import SteadyState
from drillkit.spec.external import ComposeTopology, ContainersTopology, ExternalCredentials
from drillkit.topology.base import Health
from drillkit.topology.node import Node, NodeLookup
from drillkit.topology.pg_admin import PgSession

__all__ = ["ExternalPostgres", "ExternalStack", "Surveyed", "read_password"]

Progress = Callable[[str], None]


def read_password(
    credentials: ExternalCredentials, environ: Mapping[str, str] | None = None
) -> str:
    """The password ``credentials`` point at ('' if none is configured: trust or peer auth)."""
    if credentials.password_file is not None:
        try:
            text = credentials.password_file.expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise InfrastructureError(
                f"credentials.password_file: cannot read {credentials.password_file}: {e.strerror}"
            ) from None
        return text.splitlines()[0] if text else ""
    if credentials.password_env is not None:
        env = os.environ if environ is None else environ
        if credentials.password_env not in env:
            raise InfrastructureError(
                f"credentials.password_env: {credentials.password_env} is not set"
            )
        return env[credentials.password_env]
    return ""


@dataclass(frozen=True)
class Surveyed:
    """One container of the stack as ``drillkit plan`` sees it (read-only)."""

    name: str
    container: str
    container_id: str
    image: str
    status: str
    role: str  # primary, replica, or unknown (with ``note`` saying why)
    host_port: int | None
    note: str = ""


class ExternalPostgres(PgSession, NodeLookup):
    """The :class:`~drillkit.topology.base.System` of an existing PostgreSQL stack."""

    SECRET_NAMES: tuple[str, ...] = ()
    IMAGE = "postgres"  # drillkit's image, for helpers only (it has iptables)
    READY_TIMEOUT = 30.0

    def __init__(
        self,
        client: Any,
        spec: ComposeTopology | ContainersTopology,
        *,
        run_id: str,
        labels: dict[str, str],
        image: str,
        secrets: Secrets,
        progress: Progress = print,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.run_id = run_id
        self.labels = labels
        self.image = image
        self.secrets = secrets
        self.progress = progress
        self.environ = environ
        self.nodes: list[Node] = []
        self.keep = False  # nothing to keep or remove: the stack is not drillkit's
        self.ready_seconds: float | None = 0.0
        self._password = ""
        self._network = ""

    # -- attaching (System: entering provisions, leaving removes; here neither) ---------------
    def __enter__(self) -> Self:
        self._password = read_password(self.spec.credentials, self.environ)
        if self._password:
            self.secrets.add("external", self._password)
        found = self._find()
        if not found:
            raise InfrastructureError(f"{self._describe()}: no container found")
        for f in found:
            status = str(f.container.status)
            if status != "running":
                raise InfrastructureError(f"{f.name} ({f.container.name}) is {status}, not running")
            try:
                node = attach_node(
                    self.client,
                    f,
                    role="unknown",
                    container_ports=[self.spec.port],
                    labels=self.labels,
                    helper_image=self.image,
                )
            except LookupError as e:
                raise InfrastructureError(str(e)) from None
            self.nodes.append(node)
        self._network = next((n.network for n in self.nodes if n.network), "")  # type: ignore[attr-defined]
        self._discover_roles()
        names = ", ".join(f"{n.name} ({n.role})" for n in self.nodes)
        self.progress(f"attached to {self._describe()}: {names}")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Nothing: drillkit removes only what it created (its helpers, swept by run label)."""

    def _describe(self) -> str:
        if isinstance(self.spec, ComposeTopology):
            return f"compose project {self.spec.project!r}"
        if self.spec.label is not None:
            return f"containers labelled {self.spec.label!r}"
        return f"containers {', '.join(self.spec.names)}"

    def _find(self) -> list[Found]:
        if isinstance(self.spec, ComposeTopology):
            found = compose_containers(self.client, self.spec.project, self.spec.services)
            missing = set(self.spec.services) - {f.group for f in found}
            if missing:
                raise InfrastructureError(
                    f"{self._describe()} has no service {', '.join(sorted(missing))}"
                )
            if not self.spec.services:  # every service that publishes the database port
                found = [f for f in found if published_port(f.container, self.spec.port)]
            return found
        try:
            return named_containers(self.client, self.spec.names, self.spec.label)
        except LookupError as e:
            raise InfrastructureError(str(e)) from None

    def survey(self) -> list[Surveyed]:
        """The containers a run would attach to, each with its state and (when running and
        reachable) its role, for ``drillkit plan``: read-only Docker calls (list, inspect) and
        read-only SQL (``pg_is_in_recovery()``); nothing is attached, started or written. A
        missing password or an unreachable node leaves the role unknown, with a note."""
        try:
            self._password = read_password(self.spec.credentials, self.environ)
            if self._password:
                self.secrets.add("external", self._password)
            credentials = ""
        except InfrastructureError as e:
            credentials = str(e)
        out = []
        for f in self._find():
            c = f.container
            status, port = str(c.status), published_port(c, self.spec.port)
            role, note = "unknown", credentials
            if status != "running":
                note = f"{status}: a run would refuse to start"
            elif port is None:
                note = f"port {self.spec.port} not published on 127.0.0.1: a run would refuse"
            elif not credentials:
                role, note = self._survey_role(f, port)
            image = str((c.attrs.get("Config") or {}).get("Image", ""))
            out.append(Surveyed(f.name, str(c.name), str(c.id), image, status, role, port, note))
        return out

    def _survey_role(self, found: Found, port: int) -> tuple[str, str]:
        conninfo = self._conninfo(LOOPBACK, str(port), connect_timeout=2)
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.read_only = True
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error as e:
            return "unknown", self.secrets.redact(f"cannot query: {str(e).strip()}")
        return ("replica" if row and row[0] else "primary"), ""

    def _discover_roles(self) -> None:
        for n in self.nodes:
            try:
                recovering = self.query(n, "SELECT pg_is_in_recovery() AS r")[0]["r"]
            except psycopg.Error as e:
                raise InfrastructureError(
                    f"{n.name}: cannot query PostgreSQL at {n.host}:{n.port(self.spec.port)} "
                    f"as {self.spec.credentials.user}: {str(e).strip()}"
                ) from None
            n.role = "replica" if recovering else "primary"

    # -- admin access ----------------------------------------------------------------------------
    def conninfo(self, nodes: list[Node], **params: Any) -> str:
        """A libpq connection string for ``nodes`` (several: a multi-host string)."""
        return self._conninfo(
            ",".join(n.host for n in nodes),
            ",".join(str(n.port(self.spec.port)) for n in nodes),
            **params,
        )

    def _conninfo(self, host: str, port: str, **params: Any) -> str:
        credentials = self.spec.credentials
        if self._password:
            params["password"] = self._password
        return make_conninfo(
            host=host, port=port, user=credentials.user, dbname=credentials.database, **params
        )

    # -- what faults, steps and the runner see ---------------------------------------------------
    @property
    def network_name(self) -> str:
        return self._network

    @property
    def helper_image(self) -> str:
        return self.image

    def current_primary(self) -> Node | None:
        """The running node that is not in recovery (None if none is, or several are)."""
        return self.sole_primary(self.running())

    def endpoints(self) -> PgEndpoints:
        return PgEndpoints(
            client=self.client_conninfo,
            running_client=self._running_client_conninfo,
            node=lambda name: self.conninfo([self.node(name)], connect_timeout=2),
            replicas=self.replica_names,
        )

    def client_conninfo(self) -> str:
        """The application's endpoint if declared, else every node (read-write wins)."""
        declared = self.spec.client
        if declared is not None:
            return self._conninfo(
                declared.host,
                str(declared.port),
                connect_timeout=2,
                target_session_attrs="read-write",
            )
        return self.conninfo(self.nodes, target_session_attrs="read-write", connect_timeout=2)

    def _running_client_conninfo(self) -> str:
        if self.spec.client is not None:
            return self.client_conninfo()
        nodes = self.running()
        if not nodes:
            raise RuntimeError("no node of the stack is running")
        return self.conninfo(nodes, target_session_attrs="read-write", connect_timeout=2)

    def prepare(self) -> None:
        """Nothing: the stack runs its own background work."""

    def health(self, spec: SteadyState) -> Health:
        primary = self.current_primary()
        if primary is None:
            return Health("no single primary")
        expected = len(self.nodes) - 1
        try:
            rows = self.query(
                primary,
                "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint"
                " AS lag_bytes FROM pg_stat_replication",
            )
        except psycopg.Error as e:
            return Health(
                f"cannot read pg_stat_replication: {e}".strip(), {"primary": primary.name}
            )
        streaming = [r for r in rows if r["state"] == "streaming"]
        problem = None
        if len(streaming) < expected:
            problem = f"{len(streaming)} of {expected} replica(s) streaming"
        else:
            lag = max((int(r["lag_bytes"] or 0) for r in streaming), default=0)
            if lag > spec.max_replica_lag_bytes:
                problem = f"replica lag {lag} bytes > max_replica_lag_bytes"
        return Health(problem, {"primary": primary.name})

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for n in self.running():
            try:
                out["postgresql"] = str(self.query(n, "SHOW server_version")[0]["server_version"])
                break
            except psycopg.Error:
                continue
        return out

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        return [f"{self._describe()} is not drillkit's: it is left as it is"]

    # -- custom steps (runbook.custom.ShellTopology) ---------------------------------------------
    def _address(self, node: Node, *, inside: bool) -> tuple[str, int]:
        if inside:
            return str(node.container.name), self.spec.port  # type: ignore[attr-defined]
        return node.host, node.port(self.spec.port)

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """``DK_*`` variables (nodes, containers, the primary), ``PGUSER``, ``PGDATABASE``."""
        primary = self.current_primary()
        env = {
            "DK_RUN_ID": self.run_id,
            "DK_NETWORK": self._network,
            "DK_NODES": " ".join(n.name for n in self.nodes),
            "DK_PRIMARY": primary.name if primary else "",
            "PGUSER": self.spec.credentials.user,
            "PGDATABASE": self.spec.credentials.database,
        }
        for n in self.nodes:
            key = "DK_" + n.name.upper().replace("-", "_")
            host, port = self._address(n, inside=inside)
            env[f"{key}_HOST"], env[f"{key}_PORT"] = host, str(port)
            env[f"{key}_CONTAINER"] = str(n.container.name)  # type: ignore[attr-defined]
        if primary is not None:
            host, port = self._address(primary, inside=inside)
            env["DK_PRIMARY_HOST"], env["DK_PRIMARY_PORT"] = host, str(port)
        return env

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """A libpq password file for the drill's user on every node."""
        user = self.spec.credentials.user
        password = self._password.replace("\\", "\\\\").replace(":", "\\:")
        lines = []
        for n in self.nodes:
            host, port = self._address(n, inside=inside)
            lines.append(f"{host}:{port}:*:{user}:{password}")
        return {"pgpass": "\n".join(lines) + "\n"}

    # -- evidence ----------------------------------------------------------------------------
    def evidence(self, directory: Path) -> dict[str, Any]:
        """The target, precisely: project (and file hash), containers, image digests, the
        daemon; each node's log under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        nodes: dict[str, Any] = {}
        for n in self.nodes:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            container = n.container  # type: ignore[attr-defined]
            status = n.status()
            info: dict[str, Any] = {
                "role": n.role,
                "status": status,
                "container": str(container.name),
                "container_id": str(container.id),
            }
            if status != "removed":
                info["image"] = str(container.attrs["Config"].get("Image", ""))
                info["image_id"] = n.image_id()
                info["image_digests"] = list(container.image.attrs.get("RepoDigests") or [])
                info["created"] = str(container.attrs.get("Created", ""))
                info["started_at"] = str((container.attrs.get("State") or {}).get("StartedAt", ""))
                info.update(compose_labels(container))
            nodes[n.name] = info
        out: dict[str, Any] = {"kind": self.spec.kind, "nodes": nodes}
        if isinstance(self.spec, ComposeTopology):
            out["project"] = self.spec.project
            if self.spec.file is not None:
                out["file"] = str(self.spec.file)
                try:
                    out["file_sha256"] = hashlib.sha256(self.spec.file.read_bytes()).hexdigest()
                except OSError as e:
                    out["file_sha256"] = f"unreadable: {e.strerror}"
        try:
            out["docker"] = engine_identity(self.client)
        except Exception as e:  # evidence never fails the run
            out["docker"] = {"error": str(e)}
        return out


class ExternalStack:
    """The registry's implementation of ``kind: compose`` and ``kind: containers``: an
    :class:`ExternalPostgres`, or an ``ExternalRedis`` for ``engine: redis``."""

    SECRET_NAMES: tuple[str, ...] = ()
    IMAGE = "postgres"  # drillkit's image, for helpers only (it has iptables)

    def __new__(cls, client: Any, spec: ComposeTopology | ContainersTopology, **kw: Any) -> Any:
        if spec.engine == "redis":
            from drillkit.topology.external_redis import ExternalRedis

            return ExternalRedis(client, spec, **kw)
        return ExternalPostgres(client, spec, **kw)
