"""Provisioning a plain PostgreSQL topology: data volumes, node containers, the settings every
node shares, and waiting until the replicas stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row

from drillkit.backend.docker import DEFAULT_LIMITS, run_once, size_bytes, start_detached
from drillkit.backend.docker import create_volume as new_volume
from drillkit.errors import InfrastructureError
from drillkit.spec.settings import pg_conf_text
from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PG_PORT, PGDATA, REPLICATION_STATUS_SQL
from drillkit.topology.pg_cache import CACHE_NODE, CACHE_ROLE, CacheNodes
from drillkit.topology.pg_replication import SYNC_STATES, PgReplication
from drillkit.topology.pgbackrest import BackupRepo, PgBackRestError
from drillkit.topology.rewind import pg_secret_files
from drillkit.topology.tls_conf import pg_ssl_conf, tls_conninfo_env
from drillkit.topology.tls_evidence import replication_tls

__all__ = ["USER_CONF", "PgProvisioning"]

# The drill's own settings, in each node's secrets directory; postgresql.conf includes it last.
USER_CONF = "drillkit-user.conf"


class PgProvisioning(PgReplication):
    """Start a primary and ``spec.replicas`` streaming replicas (and the backup repository)."""

    READY_TIMEOUT = 90.0

    def init_state(self) -> None:
        self._node_env: dict[str, str] = {}
        self.client_path = None
        self.restored: list[str] = []  # nodes made by restores, oldest first
        self.repo: BackupRepo | None = None
        self.cache = CacheNodes(self, self.extra_images.get("cache"))
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
            "DK_EXTRA_CONF": "\n".join(self._extra_conf()),
            **(self.repo.environment() if self.repo else {}),
            **self._tls_env(),
        }
        if self.repo is not None:
            self.repo.create_volume()
        names = ["pg0"] + [f"pg{i}" for i in range(1, self.spec.replicas + 1)]
        # Every node at once: a replica's entrypoint waits for the primary by itself.
        roles = {name: "primary" if name == "pg0" else "replica" for name in names}
        starts: dict[str, Callable[[], Node]] = {
            n: partial(lambda n: self.start_pg_node(n, roles[n], self.create_volume(n)), n)
            for n in names
        }
        if self.cache.wanted:  # in parallel with the database nodes; not one of them
            roles[CACHE_NODE] = CACHE_ROLE
            starts[CACHE_NODE] = self.cache.start
        self.progress("starting " + ", ".join(f"{n} ({r})" for n, r in roles.items()))
        self.start_nodes(starts)
        self.nodes = [n for n in self.nodes if n.role != CACHE_ROLE]
        self.progress(f"waiting for {self.spec.replicas} replica(s) to stream")
        self._wait_ready()
        if self.cache.wanted:
            last = self.await_ready(self.cache.wait_problem, interval=0.05)
            if last is not None:
                raise InfrastructureError(f"the cache node did not answer: {last}")
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
        # TLS as the servers report it once ready, before any fault: the report's proof that
        # replication was encrypted while it mattered (after a failover the walsenders differ)
        self.tls_at_ready = replication_tls(self, self.nodes)

    def start_pg_node(
        self, name: str, role: str, volume: str, extra_env: dict[str, str] | None = None
    ) -> Node:
        """Start one database node on ``volume``; its entrypoint acts on ``role`` if the data
        directory is empty (primary: initdb; replica: base backup; restore: pgbackrest). The
        passwords reach it as files (:func:`pg_secret_files`), never in its environment."""
        size = self.spec.data_volume_size
        return self.start_container(
            name,
            role,
            [PG_PORT],
            {
                **self._node_env,
                "DK_ROLE": role,
                "DK_NODE_NAME": name,
                "DK_PRIMARY_HOST": self.container_name("pg0"),
                **(extra_env or {}),
            },
            volumes={
                volume: {"bind": PGDATA, "mode": "rw"},
                **(self.repo.mount() if self.repo else {}),
            },
            secrets={
                **pg_secret_files(self.secrets.values),
                USER_CONF: pg_conf_text(self.spec.postgresql),
            },
            # tmpfs pages the node writes count against its memory limit
            limits=DEFAULT_LIMITS.plus_memory(size_bytes(size) if size else 0),
        )

    def _extra_conf(self) -> list[str]:
        """postgresql.conf lines every node shares (a replica copies the primary's file)."""
        lines = [f"synchronous_commit = '{self.spec.synchronous_commit}'"]
        return lines + (self.repo.conf_lines() if self.repo else [])

    def _tls_env(self) -> dict[str, str]:
        """topology.tls: the ssl settings (a block of their own in postgresql.conf), hostssl
        in pg_hba.conf, and verify-full for replication. Certificates are secrets files."""
        if self.tls is None:
            return {}
        return {"DK_TLS": "on", "DK_TLS_CONF": "\n".join(pg_ssl_conf()), **tls_conninfo_env()}

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
        """Until every replica streams (``synchronous``: and is a synchronous candidate).

        One connection to the primary, kept between attempts, is asked every 10 ms: a fresh
        connection per attempt (SCRAM, ~10-20 ms) made the wait itself the latency. While the
        primary does not accept connections yet, a new one is tried every 50 ms only (each try
        costs the engine's port proxy and this process CPU the starting nodes need)."""
        primary = self.nodes[0]
        names = {n.name for n in self.nodes if n is not primary}
        conn: psycopg.Connection[Any] | None = None
        retry_at, refused = 0.0, "not connected yet"

        def problem() -> str | None:
            nonlocal conn, retry_at, refused
            if conn is None and time.monotonic() < retry_at:
                return refused
            try:
                if conn is None:
                    retry_at = time.monotonic() + 0.05
                    conn = self.connect(primary)
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(REPLICATION_STATUS_SQL)
                    rows = [
                        r
                        for r in cur.fetchall()
                        if r["state"] == "streaming" and r["application_name"] in names
                    ]
            except psycopg.Error as e:
                if conn is not None:
                    conn.close()
                    conn = None
                refused = str(e).strip()
                return refused
            if synchronous:
                rows = [r for r in rows if r["sync_state"] in SYNC_STATES]
            if len(rows) >= self.spec.replicas:
                return None
            return f"{len(rows)} of {self.spec.replicas} replica(s) streaming"

        try:
            last = self.await_ready(problem, interval=0.01)
        finally:
            if conn is not None:
                conn.close()
        if last is not None:
            raise InfrastructureError(
                f"topology not ready after {self.ready_timeout:.0f} s ({last}); "
                f"primary log:\n{primary.logs(tail=20)}"
            )
