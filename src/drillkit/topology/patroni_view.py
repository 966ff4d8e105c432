"""Patroni's view of its cluster, through the members' REST API (8008): who leads, on which
timeline, what each member says it is, and which nodes the roles name."""

from __future__ import annotations

from typing import Any

import requests

from drillkit.spec.postgres import PatroniTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PgAdmin

__all__ = ["HAPROXY_PORT", "REST_PORT", "REST_SECRET", "REST_USER", "PatroniView"]

REST_PORT = 8008
HAPROXY_PORT = 5000
_REST_TIMEOUT = 1.0
# Patroni's REST API asks for these on every unsafe request (POST /switchover, ...): the user is
# fixed, the password generated per run under this secret name.
REST_USER = "drillkit"
REST_SECRET = "patroni-rest"


class PatroniView(PgAdmin, ContainerTopology):
    """Members, leader and roles as Patroni reports them; roles are never assumed and never
    remembered (which leader a fault struck is in the history, see
    :func:`drillkit.history.struck_node`)."""

    spec: PatroniTopology

    def members(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "member"]

    @property
    def rest_scheme(self) -> str:
        """``https`` with topology.tls (REST API and etcd), else ``http``."""
        return "https" if self.tls is not None else "http"

    def rest_url(self, node: Node, path: str) -> str:
        return f"{self.rest_scheme}://{node.host}:{node.port(REST_PORT)}{path}"

    @property
    def rest_verify(self) -> str | bool:
        """What requests verifies the REST API's certificate with: the run's CA."""
        return str(self.tls.ca_file) if self.tls is not None else True

    def rest(self, node: Node, path: str, timeout: float = _REST_TIMEOUT) -> requests.Response:
        return requests.get(
            self.rest_url(node, path),
            timeout=timeout,
            auth=self.rest_auth,
            verify=self.rest_verify,
        )

    def rest_post(
        self, node: Node, path: str, body: dict[str, Any], timeout: float = 30.0
    ) -> requests.Response:
        """An authenticated ``POST`` to ``node``'s REST API (e.g. ``/switchover``)."""
        return requests.post(
            self.rest_url(node, path),
            verify=self.rest_verify,
            json=body,
            timeout=timeout,
            auth=self.rest_auth,
        )

    @property
    def rest_auth(self) -> tuple[str, str]:
        """HTTP basic credentials of the REST API (generated per run)."""
        return REST_USER, self.secrets[REST_SECRET]

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

    def leading(self, exclude: tuple[str, ...] = ()) -> tuple[Node, int] | None:
        """The member the DCS names leader and its timeline, as seen by a member not in
        ``exclude``; None if no running member leads."""
        state = self.cluster_state(exclude)
        for member in (state or {}).get("members", []):
            if member.get("role") == "leader" and member.get("state") == "running":
                return self.node(str(member["name"])), int(member.get("timeline") or 0)
        return None

    def leader(self, exclude: tuple[str, ...] = ()) -> Node | None:
        """The member the DCS names leader, as seen by a member not in ``exclude``."""
        found = self.leading(exclude)
        return found[0] if found else None

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

    def streaming(self, leader: Node) -> list[dict[str, Any]]:
        """The other members streaming from ``leader``."""
        return self.streaming_from(
            leader, {m.name for m in self.members() if m.name != leader.name}
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
