"""PostgreSQL under Patroni: members pg0..pgN, a 3-member etcd cluster as the DCS, and HAProxy
routing clients to whichever member Patroni's REST API calls the primary.

The harness reaches each member's PostgreSQL and REST API (8008) and HAProxy's port through
ports published on 127.0.0.1; etcd is reached only by the members, on the run's network. Roles
are never assumed: "primary" is the member Patroni reports as leader at the moment a fault or a
step asks, so roles follow failovers.

The class composes :mod:`~drillkit.topology.patroni_view` (Patroni's view: leader, timelines,
roles) and :mod:`~drillkit.topology.patroni_provision` (etcd, members, HAProxy, readiness); what
stays here is what the drill runner, the runbook and a kept topology's user see.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from drillkit.endpoints import PgEndpoints
from drillkit.spec import SteadyState
from drillkit.topology.base import Health
from drillkit.topology.containers import write_private_file
from drillkit.topology.node import Node
from drillkit.topology.patroni_provision import PatroniProvisioning
from drillkit.topology.patroni_restore import restore_cluster
from drillkit.topology.patroni_view import HAPROXY_PORT, REST_PORT, REST_SECRET
from drillkit.topology.pg_admin import PG_PORT
from drillkit.topology.pg_evidence import node_settings
from drillkit.topology.pgbackrest import archiving_problem
from drillkit.topology.tls_evidence import pg_tls_evidence
from drillkit.upstream import patroni_non_default
from drillkit.wait import WaitTimeout, wait_until

__all__ = ["HAPROXY_PORT", "REST_PORT", "PatroniCluster"]


class PatroniCluster(PatroniProvisioning):
    """Provision, reach and tear down a Patroni cluster; the harness's only view of it."""

    SECRET_NAMES = ("postgres", "replicator", REST_SECRET)
    IMAGE = "postgres"

    def switchover(self, leader: Node, candidate: str | None) -> str:
        """Ask Patroni (on the leader's REST API) for a planned switchover; its answer."""
        body = {"leader": leader.name, **({"candidate": candidate} if candidate else {})}
        response = self.rest_post(leader, "/switchover", body)
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

        def joined() -> tuple[Node | None, dict[str, Any]]:
            """(the leader, once ``name`` is a running replica streaming on its timeline)."""
            found = self.leading()
            state = self.cluster_state() or {}
            me: dict[str, Any] = next(
                (m for m in state.get("members", []) if m.get("name") == name), {}
            )
            if (
                found is not None
                and found[0].name != name
                # A replica's state: "running" under Patroni 3.0, "streaming" under Patroni 4.
                and me.get("state") in ("running", "streaming")
                and me.get("timeline") == found[1]
                and name in {r["application_name"] for r in self.streaming(found[0])}
            ):
                return found[0], me
            return None, me

        try:
            leader, me = wait_until(
                joined,
                until=lambda r: r[0] is not None,
                timeout=deadline - time.monotonic(),
                interval=0.2,
            )
        except WaitTimeout as e:
            last = e.last_value[1] if e.last_value else {}
            message = f"{name} is not a streaming replica after {timeout:g}s: {last}"
            raise TimeoutError(message) from None
        assert leader is not None
        rewound = [ln.strip() for ln in node.logs(tail=400).splitlines() if "pg_rewind" in ln]
        return {
            "node": name,
            "started": started,
            "leader": leader.name,
            "timeline": me.get("timeline"),
            "role": me.get("role"),
            "pg_rewind": rewound[-1][-200:] if rewound else "not needed",
        }

    def prepare(self) -> None:
        """Start pgBackRest's incremental backups on the leader of the moment, if scheduled."""
        if self.repo is not None:
            self.repo.start_schedule(self.current_primary)

    def before_stop(self) -> None:
        if self.repo is not None:
            self.repo.stop_schedule()

    def restore(self, *, onto: str, kind: str, target: str | None, timeout: float) -> Node:
        """Rebuild the cluster from the repository; see :func:`patroni_restore.restore_cluster`."""
        done = restore_cluster(self, onto=onto, kind=kind, target=target, timeout=timeout)
        self._restore_phases[done.node.name] = done.seconds
        return done.node

    def restore_phases(self, node: str) -> dict[str, float]:
        """How long each phase of the restore that made ``node`` took (for the step's value)."""
        return dict(self._restore_phases.get(node, {}))

    def endpoints(self) -> PgEndpoints:
        """The client path (HAProxy, or every member) and each member's own conninfo."""
        return PgEndpoints(
            client=self.client_conninfo,
            running_client=self.client_conninfo,
            node=lambda name: self.conninfo([self.node(name)], connect_timeout=2),
            replicas=self.replica_names,
        )

    def health(self, spec: SteadyState) -> Health:
        """Ready, a leader, replicas within the lag; the roles name the leader and its
        timeline (what ``wait-for-leader`` later reads from the history)."""
        try:
            problem = self.not_ready()
            if problem:
                return Health(problem)
            found = self.leading()
            if found is None:
                return Health("no leader")
            leader, timeline = found
            roles = {"primary": leader.name, "timeline": timeline}
            lag = max((int(r["lag_bytes"] or 0) for r in self.streaming(leader)), default=0)
        except (psycopg.Error, requests.RequestException) as e:
            return Health(f"cannot check the cluster: {e}".strip())
        if lag > spec.max_replica_lag_bytes:
            lagging = (
                f"replica lag {lag} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
            )
            return Health(lagging, roles)
        if self.repo is not None:
            return Health(archiving_problem(self.query, leader), roles)
        return Health(None, roles)

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}  # the runner adds the image
        for n in self.running():
            try:
                out["postgresql"] = str(self.query(n, "SHOW server_version")[0]["server_version"])
                out["patroni"] = str(self.rest(n, "/patroni").json()["patroni"]["version"])
                break
            except (psycopg.Error, requests.RequestException, ValueError, KeyError):
                continue
        if self.repo is not None:
            out["pgbackrest_backups"] = "; ".join(
                f"{b.type} {b.label} on {b.node} in {b.seconds:.1f}s" for b in self.repo.backups
            )
        return out

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Every node's container log under ``directory``; Patroni's view of the cluster."""
        nodes = self.node_evidence(
            directory,
            lambda n, status: node_settings(self, n, status) if n in self.members() else {},
        )
        return {
            "kind": "patroni",
            "ttl": self.spec.ttl,
            "loop_wait": self.spec.loop_wait,
            "retry_timeout": self.spec.retry_timeout,
            "cluster": self.cluster_state(),
            **self.dynamic_configuration(),
            "nodes": nodes,
            "tls": {
                **pg_tls_evidence(self, self.members(), enabled=self.tls is not None),
                "rest_api": self.rest_scheme,
                "etcd": self.rest_scheme,
            },
        }

    def dynamic_configuration(self) -> dict[str, Any]:
        """Patroni's ``/config`` as a member serves it, and what in it differs from Patroni's
        defaults (``patroni_non_default``); ``patroni_config_error`` if no member answered."""
        for n in self.running():
            if n not in self.members():
                continue
            try:
                config = self.rest(n, "/config").json()
            except (requests.RequestException, ValueError):
                continue
            if isinstance(config, dict):
                return {
                    "patroni_config": config,
                    "patroni_non_default": patroni_non_default(config),
                }
        return {"patroni_config_error": "no member answered GET /config"}

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """For custom runbook steps (runbook.custom.ShellTopology)."""
        members = self.members()
        env = self.node_environment(members, lambda _n: PG_PORT, self.leader(), inside=inside)
        for n in members:
            key = "DK_" + n.name.upper().replace("-", "_")
            host, port = self.address(n, REST_PORT, inside=inside)
            env[f"{key}_REST"] = f"{self.rest_scheme}://{host}:{port}"
        if self.spec.haproxy:
            host, port = self.address(self.node("haproxy"), HAPROXY_PORT, inside=inside)
            env["DK_CLIENT_HOST"], env["DK_CLIENT_PORT"] = host, str(port)
        return {**env, "PGUSER": "postgres", "PGDATABASE": "postgres", **self.tls_step_env()}

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        lines = []
        targets = [(n, PG_PORT) for n in self.members()]
        if self.spec.haproxy:
            targets.append((self.node("haproxy"), HAPROXY_PORT))
        for n, port in targets:
            host, p = self.address(n, port, inside=inside)
            lines.append(f"{host}:{p}:*:postgres:{self.secrets['postgres']}")
            lines.append(f"{host}:{p}:*:replicator:{self.secrets['replicator']}")
        user, password = self.rest_auth  # a curl config: curl -K "$DK_SECRETS_DIR/patroni-rest"
        return {
            "pgpass": "\n".join(lines) + "\n",
            REST_SECRET: f'user = "{user}:{password}"\n',
            **self.tls_step_files(),
        }

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        path = write_private_file(
            credentials_dir / f"{self.run_id}.pgpass", self.secret_files(inside=False)["pgpass"]
        )
        lines = [
            f"{n.name} ({n.status()}): PGPASSFILE={path} psql -h {n.host} -p {n.port(PG_PORT)} "
            f"-U postgres; REST {self.rest_scheme}://{n.host}:{n.port(REST_PORT)}/cluster"
            for n in self.members()
        ]
        if self.spec.haproxy:
            h = self.node("haproxy")
            lines.append(f"haproxy: PGPASSFILE={path} psql -h {h.host} -p {h.port(HAPROXY_PORT)}")
        return lines
