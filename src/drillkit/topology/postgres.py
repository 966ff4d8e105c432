"""A PostgreSQL primary with N asynchronous streaming replicas, on a private network per run."""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

import drillkit.topology.pg_recovery as pg_recovery
from drillkit.backend.docker import create_volume as new_volume
from drillkit.backend.docker import run_once, start_detached
from drillkit.backend.node import Node, NodeError
from drillkit.errors import InfrastructureError
from drillkit.history import History
from drillkit.spec import PostgresTopology, SteadyState
from drillkit.spec import Workload as WorkloadSpec
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import start_node
from drillkit.topology.pg_admin import PgAdmin
from drillkit.topology.pgbackrest import BackupRepo, PgBackRestError
from drillkit.workload.base import Workload
from drillkit.workload.pg_writer import PgWriter, create_table, read_ids

__all__ = ["PG_PORT", "SYNC_STATES", "PostgresCluster", "sync_standby_names"]

PG_PORT = 5432
# Settings recorded in the evidence: together they decide what an acknowledged commit survives.
DATA_LOSS_SETTINGS = (
    "server_version",
    "synchronous_commit",
    "synchronous_standby_names",
    "fsync",
    "full_page_writes",
    "wal_level",
    "wal_log_hints",
    "data_checksums",
    "archive_mode",
    "archive_timeout",
    "max_wal_senders",
    "wal_keep_size",
    "hot_standby",
)
Progress = Callable[[str], None]
SYNC_STATES = ("sync", "quorum")  # pg_stat_replication.sync_state of a standby commits wait for
_NODE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def sync_standby_names(standbys: list[str], num_sync: int) -> str:
    """``ANY n ("a", "b")``: any ``n`` of the named standbys confirm a commit; '' for none."""
    for name in standbys:
        if not _NODE_NAME.match(name):
            raise ValueError(f"{name!r} cannot be named in synchronous_standby_names")
    if not standbys:
        return ""
    quoted = ", ".join(f'"{n}"' for n in standbys)
    return f"ANY {min(num_sync, len(standbys))} ({quoted})"


class PostgresCluster(PgAdmin, ContainerTopology):
    """Provision, reach and tear down a primary plus replicas; the harness's only view of them."""

    SECRET_NAMES = ("postgres", "replicator")
    IMAGE = "postgres"  # which of drillkit's images the nodes run

    READY_TIMEOUT = 90.0
    spec: PostgresTopology

    def init_state(self) -> None:
        self._node_env: dict[str, str] = {}
        self.client_path: list[str] | None = None  # nodes the client connects to; None: all
        self.restored: list[str] = []  # nodes made by restores, oldest first
        self.repo: BackupRepo | None = None
        if self.spec.pgbackrest is not None:
            self.repo = BackupRepo(
                self.client,
                self.spec.pgbackrest,
                volume_name=f"{self._prefix}-pgbackrest",
                labels=self.labels,
                progress=self.progress,
            )

    def start(self) -> None:
        started = time.monotonic()
        self.create_network()
        self._node_env = {
            "DK_SUPERUSER_PASSWORD": self.secrets["postgres"],
            "DK_REPLICATION_PASSWORD": self.secrets["replicator"],
            "DK_EXTRA_CONF": "\n".join(self._extra_conf()),
            **(self.repo.environment() if self.repo else {}),
        }
        if self.repo is not None:
            self.repo.create_volume()
        names = ["pg0"] + [f"pg{i}" for i in range(1, self.spec.replicas + 1)]
        for name in names:
            role = "primary" if name == "pg0" else "replica"
            self.progress(f"starting {name} ({role})")
            self.nodes.append(self.start_pg_node(name, role, self.create_volume(name)))
        self.progress(f"waiting for {self.spec.replicas} replica(s) to stream")
        self._wait_ready()
        if self.spec.replication == "sync":
            quorum = self.configure_sync(self.nodes[0])
            self.progress(f"synchronous_standby_names = '{quorum}'")
            self._wait_ready(synchronous=True)
        if self.repo is not None:
            self.progress("pgbackrest: stanza-create and a full backup")
            try:
                self.repo.init(self.nodes[0])
            except PgBackRestError as e:
                raise InfrastructureError(f"the backup repository did not come up: {e}") from None
        self.ready_seconds = time.monotonic() - started

    def start_pg_node(
        self, name: str, role: str, volume: str, extra_env: dict[str, str] | None = None
    ) -> Node:
        """Start one database node on ``volume``; its entrypoint acts on ``role`` if the data
        directory is empty (primary: initdb; replica: base backup; restore: pgbackrest)."""
        return start_node(
            self.client,
            name=name,
            role=role,
            image=self.image,
            network=self.network.name,
            labels=self.labels,
            container_ports=[PG_PORT],
            environment={
                **self._node_env,
                "DK_ROLE": role,
                "DK_NODE_NAME": name,
                "DK_PRIMARY_HOST": self.container_name("pg0"),
                **(extra_env or {}),
            },
            volumes={
                volume: {"bind": "/var/lib/postgresql/data", "mode": "rw"},
                **(self.repo.mount() if self.repo else {}),
            },
            container_name=self.container_name(name),
        )

    def _extra_conf(self) -> list[str]:
        """postgresql.conf lines every node shares (a replica copies the primary's file)."""
        lines = [f"synchronous_commit = '{self.spec.synchronous_commit}'"]
        return lines + (self.repo.conf_lines() if self.repo else [])

    def create_volume(self, node: str) -> str:
        """The name of the node's data volume: a Docker volume, or a size-limited tmpfs when
        ``data_volume_size`` is set, so fill-disk reaches 'no space left on device' without
        filling the host's disk.

        A tmpfs volume lives only while some container mounts it: stopping the node would
        discard its data, which no real disk does. A keeper container mounts it for the volume's
        whole life, so a stopped or crashed node finds its data again, as on a disk.
        """
        name = f"{self._prefix}-{node}-data"
        size = self.spec.data_volume_size
        if size is None:
            return new_volume(self.client, name, self.labels)
        uid, gid = self._image_user_ids()
        options = f"size={size},uid={uid},gid={gid},mode=0700"
        volume = new_volume(self.client, name, self.labels, tmpfs_options=options)
        start_detached(
            self.client,
            self.image,
            entrypoint=["sleep", "infinity"],
            name=f"{self._prefix}-{node}-keeper",
            network_mode="none",
            labels={**self.labels, "drillkit.keeps": name},
            volumes={volume: {"bind": "/keep", "mode": "ro"}},
        )
        return volume

    def _image_user_ids(self) -> tuple[int, int]:
        """The uid and gid the image runs PostgreSQL as: a tmpfs root must belong to them."""
        out = run_once(
            self.client,
            self.image,
            entrypoint=["sh", "-c", 'echo "$(id -u) $(id -g)"'],
            network_mode="none",
            labels=self.labels,
        )
        uid, gid = out.split()
        return int(uid), int(gid)

    def before_stop(self) -> None:
        if self.repo is not None:
            self.repo.stop_schedule()

    def _wait_ready(self, *, synchronous: bool = False) -> None:
        """Until every replica streams (``synchronous``: and is a synchronous candidate)."""
        deadline = time.monotonic() + self.ready_timeout
        primary = self.nodes[0]
        last_error = "not tried"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.status() not in ("running", "created"):
                    raise InfrastructureError(
                        f"{node.name} exited while starting; last log lines:\n{node.logs(tail=20)}"
                    )
            try:
                rows = self._streaming_replicas(primary)
                if synchronous:
                    rows = [r for r in rows if r["sync_state"] in SYNC_STATES]
                if sum(1 for r in rows if r["state"] == "streaming") >= self.spec.replicas:
                    return
                last_error = f"{len(rows)} of {self.spec.replicas} replica(s) streaming"
            except psycopg.Error as e:
                last_error = str(e).strip()
            time.sleep(0.05)
        raise InfrastructureError(
            f"topology not ready after {self.ready_timeout:.0f} s ({last_error}); "
            f"primary log:\n{primary.logs(tail=20)}"
        )

    # -- reaching nodes ----------------------------------------------------------------------
    def conninfo(self, nodes: list[Node] | None = None, **params: Any) -> str:
        """A libpq connection string; several nodes give a multi-host string, as real apps use."""
        nodes = nodes or self.nodes
        return make_conninfo(
            host=",".join(n.host for n in nodes),
            port=",".join(str(n.port(PG_PORT)) for n in nodes),
            user="postgres",
            password=self.secrets["postgres"],
            dbname="postgres",
            **params,
        )

    def client_conninfo(self) -> str:
        """What the workload uses: the client path (default: every node), first one that
        accepts writes wins."""
        return self.conninfo(
            self.client_nodes(), target_session_attrs="read-write", connect_timeout=2
        )

    def client_nodes(self) -> list[Node]:
        """The nodes the application's connection string names (see :meth:`repoint`)."""
        if self.client_path is None:
            return list(self.nodes)
        return [self.node(name) for name in self.client_path]

    def repoint(self, names: list[str]) -> list[str]:
        """Re-point the client path (the workload's and the final read's) at ``names``."""
        for name in names:
            self.node(name)  # KeyError for a node that does not exist
        self.client_path = list(names)
        return self.client_path

    def _streaming_replicas(self, primary: Node) -> list[dict[str, Any]]:
        """Replicas streaming under their own name (a base backup's WAL stream does not count)."""
        names = {n.name for n in self.nodes if n is not primary}
        return [
            r
            for r in self.replication_status(primary)
            if r["state"] == "streaming" and r["application_name"] in names
        ]

    def replication_status(self, primary: Node) -> list[dict[str, Any]]:
        return self.query(
            primary,
            "SELECT application_name, state, sync_state,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes"
            " FROM pg_stat_replication",
        )

    def configure_sync(self, primary: Node, standbys: list[str] | None = None) -> str:
        """Name ``standbys`` (default: every other node) as ``primary``'s synchronous quorum.

        ``ALTER SYSTEM`` on the primary only: a replica cloned earlier does not inherit the
        setting, so a promoted replica starts without synchronous standbys until told.
        An empty list clears the setting (commits then wait for no standby).
        """
        if standbys is None:
            standbys = [n.name for n in self.nodes if n.name != primary.name]
        names = sync_standby_names(standbys, self.spec.sync_standbys)
        with self.connect(primary) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
            conn.execute("SELECT pg_reload_conf()")
        return names

    def streaming_standbys(self, primary: Node) -> list[str]:
        """application_name (= cluster_name = node name) of each standby streaming now."""
        return [
            r["application_name"]
            for r in self.replication_status(primary)
            if r["state"] == "streaming"
        ]

    def current_primary(self) -> Node | None:
        """The running node that is not in recovery (None if there is none, or more than one)."""
        primaries = []
        for n in self.running():
            try:
                if not self.query(n, "SELECT pg_is_in_recovery() AS r")[0]["r"]:
                    primaries.append(n)
            except psycopg.Error:
                continue
        return primaries[0] if len(primaries) == 1 else None

    # -- what the drill runner needs (topology.base.System) ------------------------------------
    def prepare(self) -> None:
        create_table(self.conninfo([self.nodes[0]], connect_timeout=2))
        if self.repo is not None:
            self.repo.start_schedule(self.current_primary)

    def make_workload(self, history: History, spec: WorkloadSpec) -> PgWriter:
        return PgWriter(self.client_conninfo, history, spec)

    def read_ids(self) -> list[int]:
        """Every surviving id, read through the client path (a dropped table holds none)."""
        nodes = [n for n in self.client_nodes() if n.is_running()]
        if not nodes:
            raise RuntimeError("no node on the client path is running")
        try:
            return read_ids(
                self.conninfo(nodes, target_session_attrs="read-write", connect_timeout=2)
            )
        except psycopg.errors.UndefinedTable:
            return []

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        primary = self.current_primary()
        if primary is None:
            return "no single primary"
        try:
            streaming = self._streaming_replicas(primary)
        except psycopg.Error as e:
            return f"cannot read pg_stat_replication: {e}".strip()
        if len(streaming) < self.spec.replicas:
            return f"{len(streaming)} of {self.spec.replicas} replica(s) streaming"
        if self.spec.replication == "sync":
            sync = [r for r in streaming if r["sync_state"] in SYNC_STATES]
            if len(sync) < self.spec.sync_standbys:
                return (
                    f"{len(sync)} synchronous standby(s) of {self.spec.sync_standbys} needed "
                    f"(sync_state: {', '.join(str(r['sync_state']) for r in streaming)})"
                )
        if self.repo is not None:
            problem = self._archiving_problem(primary)
            if problem:
                return problem
        lag = max((int(r["lag_bytes"] or 0) for r in streaming), default=0)
        if lag > spec.max_replica_lag_bytes:
            return f"replica lag {lag} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
        if workload.ok_count < spec.min_ok_writes:
            return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
        return None

    def _archiving_problem(self, primary: Node) -> str | None:
        """What is wrong with WAL archiving into the repository, if anything."""
        try:
            row = self.query(
                primary,
                "SELECT last_archived_wal, last_failed_wal,"
                " coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'), false)"
                " AS failing FROM pg_stat_archiver",
            )[0]
        except psycopg.Error as e:
            return f"cannot read pg_stat_archiver: {e}".strip()
        if row["failing"]:
            return f"WAL archiving is failing (last failed segment {row['last_failed_wal']})"
        if row["last_archived_wal"] is None:
            return "no WAL segment archived yet"
        return None

    # -- recovery procedures (topology.pg_recovery) -------------------------------------------
    def restore(self, *, onto: str, kind: str, target: str | None, timeout: float) -> Node:
        """Restore from the backup repository; see :func:`pg_recovery.restore`."""
        return pg_recovery.restore(self, onto=onto, kind=kind, target=target, timeout=timeout)

    def rejoin(self, name: str, timeout: float) -> dict[str, Any]:
        """Make a former primary a replica again; see :func:`pg_recovery.rejoin`."""
        return pg_recovery.rejoin(self, name, timeout)

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        pgpass = self.write_pgpass(credentials_dir / f"{self.run_id}.pgpass")
        return [
            f"{n.name} ({n.status()}): PGPASSFILE={pgpass} psql -h {n.host} "
            f"-p {n.port(PG_PORT)} -U postgres"
            for n in self.nodes
        ]

    # -- what custom runbook steps see (runbook.custom.ShellTopology) ---------------------------
    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """Node names, addresses (from the host, or inside the run's network), the current
        primary and libpq defaults. No password: that is in the file PGPASSFILE names."""
        env = self.node_environment(
            self.nodes, lambda _n: PG_PORT, self.current_primary(), inside=inside
        )
        return {**env, "PGUSER": "postgres", "PGDATABASE": "postgres"}

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """A libpq password file for the superuser and the replication role, on every node."""
        lines = []
        for n in self.nodes:
            host, port = self.address(n, PG_PORT, inside=inside)
            lines.append(f"{host}:{port}:*:postgres:{self.secrets['postgres']}")
            lines.append(f"{host}:{port}:*:replicator:{self.secrets['replicator']}")
        return {"pgpass": "\n".join(lines) + "\n"}

    def write_pgpass(self, path: Path) -> Path:
        """A libpq password file (mode 0600) for a kept topology; never part of the evidence."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            for n in self.nodes:
                fh.write(f"{n.host}:{n.port(PG_PORT)}:*:postgres:{self.secrets['postgres']}\n")
        return path

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Write each node's container log under ``directory``; return the configuration
        fingerprint (image ids, server version, the settings that decide data loss) per node.
        A node that is not running is recorded with its status (settings are the same image's)."""
        nodes = self.node_evidence(directory, self._node_settings)
        return {"kind": "postgres", "replication": self.spec.replication, "nodes": nodes}

    def _node_settings(self, n: Node, status: str) -> dict[str, Any]:
        """Data-loss settings as the server reports them, or as configured if it is down."""
        if status == "running":
            try:
                rows = self.query(
                    n,
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                    (list(DATA_LOSS_SETTINGS),),
                )
                return {
                    "settings": {r["name"]: r["setting"] for r in rows},
                    "in_recovery": self.query(n, "SELECT pg_is_in_recovery() AS r")[0]["r"],
                }
            except psycopg.Error as e:
                return {"settings_error": str(e).strip()}
        if status in ("exited", "created", "dead"):
            return {
                "settings": _configured_settings(n),
                "settings_source": (
                    "postgresql.conf + postgresql.auto.conf (node not running; "
                    "settings left at their defaults are absent)"
                ),
            }
        return {}

    def versions(self) -> dict[str, str]:
        """Server version (and backups taken), for the evidence; the runner adds the image."""
        out: dict[str, str] = {}
        for n in self.running():
            try:
                out["postgresql"] = str(self.query(n, "SHOW server_version")[0]["server_version"])
                break
            except psycopg.Error:
                continue
        if self.repo is not None:
            out["pgbackrest_backups"] = "; ".join(
                f"{b.type} {b.label} on {b.node} in {b.seconds:.1f}s" for b in self.repo.backups
            )
        return out


def _configured_settings(node: Node) -> dict[str, str]:
    """The data-loss settings a stopped node's config files set (files can be read from a
    stopped node); ``postgresql.auto.conf`` (ALTER SYSTEM) overrides ``postgresql.conf``."""
    found: dict[str, str] = {}
    for name in ("postgresql.conf", "postgresql.auto.conf"):
        try:
            data = node.get_archive(f"/var/lib/postgresql/data/{name}")
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = tar.extractfile(name)
                text = member.read().decode("utf-8", "replace") if member else ""
        except (NodeError, tarfile.TarError, KeyError):
            continue
        for line in text.splitlines():
            key, sep, value = line.split("#", 1)[0].partition("=")
            if sep and key.strip() in DATA_LOSS_SETTINGS:
                found[key.strip()] = value.strip().strip("'")
    return found
