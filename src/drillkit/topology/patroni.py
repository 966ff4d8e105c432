"""PostgreSQL under Patroni: members pg0..pgN, a 3-member etcd cluster as the DCS, and HAProxy
routing clients to whichever member Patroni's REST API calls the primary.

The harness reaches each member's PostgreSQL and REST API (8008) and HAProxy's port through
ports published on 127.0.0.1; etcd is reached only by the members, on the run's network. Roles
are never assumed: "primary" is the member Patroni reports as leader at the moment a fault or a
step asks, so roles follow failovers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.conninfo import make_conninfo

from drillkit.backend.docker import create_volume
from drillkit.errors import InfrastructureError
from drillkit.history import History
from drillkit.spec import SteadyState
from drillkit.spec import Workload as WorkloadSpec
from drillkit.spec_postgres import PatroniTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import Node, start_node
from drillkit.topology.pg_admin import PgAdmin
from drillkit.workload.base import Workload
from drillkit.workload.pg_writer import PgWriter, create_table, read_ids

__all__ = ["HAPROXY_PORT", "REST_PORT", "PatroniCluster"]

PG_PORT = 5432
REST_PORT = 8008
HAPROXY_PORT = 5000
ETCD_MEMBERS = 3
Progress = Callable[[str], None]
_REST_TIMEOUT = 1.0


class PatroniCluster(PgAdmin, ContainerTopology):
    """Provision, reach and tear down a Patroni cluster; the harness's only view of it."""

    SECRET_NAMES = ("postgres", "replicator")
    IMAGE = "postgres"

    READY_TIMEOUT = 120.0
    spec: PatroniTopology

    def init_state(self) -> None:
        self.last_leader: tuple[str, int] | None = None  # (member, timeline) last seen leading

    def _start(
        self, name: str, role: str, ports: list[int], env: dict[str, str], **kw: Any
    ) -> Node:
        node = start_node(
            self.client,
            name=name,
            role=role,
            image=self.image,
            network=self.network.name,
            labels=self.labels,
            container_ports=ports,
            environment={"DK_NODE_NAME": name, "DK_ADVERTISE": self.container_name(name), **env},
            container_name=self.container_name(name),
            **kw,
        )
        self.nodes.append(node)
        return node

    def start(self) -> None:
        started = time.monotonic()
        self.create_network()
        etcd = [f"etcd{i}" for i in range(ETCD_MEMBERS)]
        initial = ",".join(f"{e}=http://{self.container_name(e)}:2380" for e in etcd)
        for name in etcd:
            self.progress(f"starting {name} (etcd)")
            self._start(
                name,
                "etcd",
                [],
                {
                    "DK_SERVICE": "etcd",
                    "DK_ETCD_INITIAL_CLUSTER": initial,
                    "DK_ETCD_TOKEN": self.run_id,
                },
            )
        member_env = {
            "DK_SERVICE": "patroni",
            "DK_ETCD_HOSTS": ",".join(f"{self.container_name(e)}:2379" for e in etcd),
            "DK_SUPERUSER_PASSWORD": self.secrets["postgres"],
            "DK_REPLICATION_PASSWORD": self.secrets["replicator"],
            "DK_TTL": str(self.spec.ttl),
            "DK_LOOP_WAIT": str(self.spec.loop_wait),
            "DK_RETRY_TIMEOUT": str(self.spec.retry_timeout),
            "DK_MAXIMUM_LAG_ON_FAILOVER": str(self.spec.maximum_lag_on_failover),
            "DK_SYNCHRONOUS_MODE": "true" if self.spec.replication == "sync" else "false",
            "DK_SYNCHRONOUS_COMMIT": self.spec.synchronous_commit,
        }
        for name in self.spec.member_names():
            volume = create_volume(self.client, f"{self._prefix}-{name}-data", self.labels)
            self.progress(f"starting {name} (Patroni member)")
            self._start(
                name,
                "member",
                [PG_PORT, REST_PORT],
                member_env,
                volumes={volume: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
            )
        if self.spec.haproxy:
            members = " ".join(f"{m}={self.container_name(m)}" for m in self.spec.member_names())
            self.progress("starting haproxy (routes to the leader: GET /primary)")
            self._start(
                "haproxy",
                "haproxy",
                [HAPROXY_PORT],
                {"DK_SERVICE": "haproxy", "DK_PATRONI_MEMBERS": members},
            )
        self.progress("waiting for a leader and every replica streaming")
        self._wait_ready()
        self.ready_seconds = time.monotonic() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "not tried"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.status() not in ("running", "created"):
                    raise InfrastructureError(
                        f"{node.name} exited while starting; last log lines:\n{node.logs(tail=20)}"
                    )
            try:
                last = self._not_ready() or ""
                if not last:
                    return
            except (psycopg.Error, requests.RequestException) as e:
                last = str(e).strip()[:300]
            time.sleep(0.2)
        logs = "\n".join(f"--- {n.name}\n{n.logs(tail=10)}" for n in self.members())
        raise InfrastructureError(
            f"Patroni topology not ready after {self.ready_timeout:.0f} s ({last}):\n{logs}"
        )

    def _not_ready(self) -> str | None:
        leader = self.leader()
        if leader is None:
            return "no leader yet"
        streaming = self._streaming(leader)
        if len(streaming) < self.spec.replicas:
            return f"{len(streaming)} of {self.spec.replicas} replica(s) streaming"
        with psycopg.connect(self.client_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is None or row[0]:
                return "the client path does not reach the leader yet"
        return None

    # -- Patroni's view --------------------------------------------------------------------------
    def members(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "member"]

    def rest(self, node: Node, path: str, timeout: float = _REST_TIMEOUT) -> requests.Response:
        return requests.get(f"http://{node.host}:{node.port(REST_PORT)}{path}", timeout=timeout)

    def cluster_state(self, exclude: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """``GET /cluster`` from the first member that answers (skipping ``exclude``)."""
        for node in self.members():
            if node.name in exclude or not node.is_running():
                continue
            try:
                response = self.rest(node, "/cluster")
                if response.ok:
                    return dict(response.json())
            except (requests.RequestException, ValueError):
                continue
        return None

    def leader(self, exclude: tuple[str, ...] = ()) -> Node | None:
        """The member the DCS names leader, as seen by a member not in ``exclude``."""
        state = self.cluster_state(exclude)
        for member in (state or {}).get("members", []):
            if member.get("role") == "leader" and member.get("state") == "running":
                node = self.node(str(member["name"]))
                self.last_leader = (node.name, int(member.get("timeline") or 0))
                return node
        return None

    def member_role(self, node: Node) -> str:
        """What the member itself says it is (``GET /patroni``), or why it cannot say."""
        try:
            return str(self.rest(node, "/patroni").json().get("role", "unknown"))
        except (requests.RequestException, ValueError) as e:
            return f"unreachable ({type(e).__name__})"

    def timeline(self, node: Node) -> int | None:
        try:
            return int(self.rest(node, "/patroni").json().get("timeline"))
        except (requests.RequestException, ValueError, TypeError):
            return None

    def _streaming(self, leader: Node) -> list[dict[str, Any]]:
        names = {m.name for m in self.members() if m.name != leader.name}
        rows = self.query(
            leader,
            "SELECT application_name, state, sync_state,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes"
            " FROM pg_stat_replication",
        )
        return [r for r in rows if r["state"] == "streaming" and r["application_name"] in names]

    # -- reaching nodes --------------------------------------------------------------------------
    def conninfo(self, nodes: list[Node], port: int = PG_PORT, **params: Any) -> str:
        return make_conninfo(
            host=",".join(n.host for n in nodes),
            port=",".join(str(n.port(port)) for n in nodes),
            user="postgres",
            password=self.secrets["postgres"],
            dbname="postgres",
            **params,
        )

    def client_conninfo(self) -> str:
        """Through HAProxy when there is one (as production apps connect), else every member
        with ``target_session_attrs=read-write``."""
        if self.spec.haproxy:
            return self.conninfo(
                [self.node("haproxy")],
                HAPROXY_PORT,
                target_session_attrs="read-write",
                connect_timeout=2,
            )
        return self.conninfo(self.members(), target_session_attrs="read-write", connect_timeout=2)

    def role_pool(self) -> list[Node]:
        return self.members()

    def current_primary(self) -> Node | None:
        """Whoever Patroni names leader now (the DCS decides, not pg_is_in_recovery)."""
        return self.leader()

    def resolve_special(self, target: str) -> list[Node] | None:
        if target == "all":  # every member; etcd and HAProxy are named, or ``etcd``
            return self.members()
        if target == "etcd":  # the whole DCS: every etcd member
            return [n for n in self.nodes if n.role == "etcd"]
        return None

    # -- runbook operations ----------------------------------------------------------------------
    def switchover(self, leader: Node, candidate: str | None) -> str:
        """Ask Patroni (on the leader's REST API) for a planned switchover; its answer."""
        body = {"leader": leader.name, **({"candidate": candidate} if candidate else {})}
        url = f"http://{leader.host}:{leader.port(REST_PORT)}/switchover"
        response = requests.post(url, json=body, timeout=30)
        if not response.ok:
            raise RuntimeError(f"switchover refused ({response.status_code}): {response.text}")
        return response.text.strip()

    def rejoin(self, name: str, timeout: float) -> dict[str, Any]:
        """Start a stopped member again; Patroni rewinds it (use_pg_rewind) onto the leader's
        timeline and it streams. Wait until Patroni lists it as a running replica there."""
        deadline = time.monotonic() + timeout
        node = self.node(name)
        started = node.status() != "running"
        if started:
            node.start()
        while True:
            leader = self.leader()
            state = self.cluster_state() or {}
            me: dict[str, Any] = next(
                (m for m in state.get("members", []) if m.get("name") == name), {}
            )
            if (
                leader is not None
                and leader.name != name
                and me.get("state") == "running"
                and me.get("timeline") == (self.last_leader or ("", -1))[1]
                and name in {r["application_name"] for r in self._streaming(leader)}
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} is not a streaming replica after {timeout:g}s: {me}")
            time.sleep(0.2)
        rewound = [ln.strip() for ln in node.logs(tail=400).splitlines() if "pg_rewind" in ln]
        return {
            "node": name,
            "started": started,
            "leader": leader.name,
            "timeline": me.get("timeline"),
            "role": me.get("role"),
            "pg_rewind": rewound[-1][-200:] if rewound else "not needed",
        }

    # -- what the drill runner needs (topology.base.System) --------------------------------------
    def prepare(self) -> None:
        create_table(self.client_conninfo())

    def make_workload(self, history: History, spec: WorkloadSpec) -> PgWriter:
        return PgWriter(self.client_conninfo, history, spec)

    def read_ids(self) -> list[int]:
        try:
            return read_ids(self.client_conninfo())
        except psycopg.errors.UndefinedTable:
            return []

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        try:
            problem = self._not_ready()
            if problem:
                return problem
            leader = self.leader()
            assert leader is not None
            lag = max((int(r["lag_bytes"] or 0) for r in self._streaming(leader)), default=0)
        except (psycopg.Error, requests.RequestException) as e:
            return f"cannot check the cluster: {e}".strip()
        if lag > spec.max_replica_lag_bytes:
            return f"replica lag {lag} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
        if workload.ok_count < spec.min_ok_writes:
            return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
        return None

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}  # the runner adds the image
        for n in self.running():
            try:
                out["postgresql"] = str(self.query(n, "SHOW server_version")[0]["server_version"])
                out["patroni"] = str(self.rest(n, "/patroni").json()["patroni"]["version"])
                break
            except (psycopg.Error, requests.RequestException, ValueError, KeyError):
                continue
        return out

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Every node's container log under ``directory``; Patroni's view of the cluster."""
        nodes = self.node_evidence(directory, lambda _node, _status: {})
        return {
            "kind": "patroni",
            "ttl": self.spec.ttl,
            "loop_wait": self.spec.loop_wait,
            "retry_timeout": self.spec.retry_timeout,
            "cluster": self.cluster_state(),
            "nodes": nodes,
        }

    # -- custom runbook steps (runbook.custom.ShellTopology) --------------------------------------
    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        members = self.members()
        env = self.node_environment(members, lambda _n: PG_PORT, self.leader(), inside=inside)
        for n in members:
            key = "DK_" + n.name.upper().replace("-", "_")
            env[f"{key}_REST"] = "http://{}:{}".format(*self.address(n, REST_PORT, inside=inside))
        if self.spec.haproxy:
            host, port = self.address(self.node("haproxy"), HAPROXY_PORT, inside=inside)
            env["DK_CLIENT_HOST"], env["DK_CLIENT_PORT"] = host, str(port)
        return {**env, "PGUSER": "postgres", "PGDATABASE": "postgres"}

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        lines = []
        targets = [(n, PG_PORT) for n in self.members()]
        if self.spec.haproxy:
            targets.append((self.node("haproxy"), HAPROXY_PORT))
        for n, port in targets:
            host, p = self.address(n, port, inside=inside)
            lines.append(f"{host}:{p}:*:postgres:{self.secrets['postgres']}")
            lines.append(f"{host}:{p}:*:replicator:{self.secrets['replicator']}")
        return {"pgpass": "\n".join(lines) + "\n"}

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        path = credentials_dir / f"{self.run_id}.pgpass"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.secret_files(inside=False)["pgpass"])
        lines = [
            f"{n.name} ({n.status()}): PGPASSFILE={path} psql -h {n.host} -p {n.port(PG_PORT)} "
            f"-U postgres; REST http://{n.host}:{n.port(REST_PORT)}/cluster"
            for n in self.members()
        ]
        if self.spec.haproxy:
            h = self.node("haproxy")
            lines.append(f"haproxy: PGPASSFILE={path} psql -h {h.host} -p {h.port(HAPROXY_PORT)}")
        return lines
