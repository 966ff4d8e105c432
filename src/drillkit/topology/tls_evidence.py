"""What the servers report of TLS, for the report's ``configuration.tls``: read back from the
running servers (``pg_stat_ssl``, ``CONFIG GET``, the negotiated session), never echoed from
the drill file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from redis.exceptions import RedisError

from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PgAdmin

__all__ = ["pg_tls_evidence", "redis_tls_evidence", "replication_tls"]

_PG_SESSION = (
    "SELECT current_setting('ssl') AS ssl,"
    " current_setting('ssl_min_protocol_version') AS ssl_min_protocol_version,"
    " s.ssl AS session_ssl, s.version, s.cipher"
    " FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
)
_PG_REPLICATION = (
    "SELECT r.application_name AS standby, s.ssl, s.version, s.cipher"
    " FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1"
)


def replication_tls(admin: PgAdmin, nodes: list[Node]) -> list[dict[str, Any]] | None:
    """Each walsender of the running ``nodes`` (its standby, ``ssl``, ``version``, ``cipher``);
    None if a node could not be asked. The nodes are asked at once (an engine round trip and a
    connection each, at the end of provisioning)."""

    def walsenders(n: Node) -> list[dict[str, Any]]:
        if not n.is_running():
            return []
        return [{"upstream": n.name, **r} for r in admin.query(n, _PG_REPLICATION)]

    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=min(len(nodes), 8)) as pool:
        futures = [pool.submit(walsenders, n) for n in nodes]
    rows: list[dict[str, Any]] = []
    try:
        for f in futures:
            rows += f.result()
    except psycopg.Error:
        return None
    return rows


def pg_tls_evidence(admin: PgAdmin, nodes: list[Node], *, enabled: bool) -> dict[str, Any]:
    """Per running node: its ``ssl`` setting and what drillkit's own session negotiated; on
    every node with walsenders, whether each standby's replication connection is encrypted."""
    servers: dict[str, Any] = {}
    replication: list[dict[str, Any]] = []

    def ask(n: Node) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        if not n.is_running():
            return None
        try:  # one session: _PG_SESSION describes the connection that asks
            session, walsenders = admin.queries(n, [(_PG_SESSION, ()), (_PG_REPLICATION, ())])
        except psycopg.Error as e:
            return {"error": str(e).strip()}, []
        return session[0], [{"upstream": n.name, **row} for row in walsenders]

    with ThreadPoolExecutor(max_workers=max(1, min(len(nodes), 8))) as pool:
        answers = [(n.name, pool.submit(ask, n)) for n in nodes]  # at once, in nodes' order
    for name, future in answers:
        answer = future.result()
        if answer is not None:
            servers[name], rows = answer
            replication += rows
    return {
        "enabled": enabled,
        "client_sslmode": "verify-full" if enabled else None,
        "servers": servers,
        "replication": replication,
        # the same, read when the topology became ready (before any fault)
        "replication_at_ready": getattr(admin, "tls_at_ready", None),
    }


_REDIS_SETTINGS = ("port", "tls-port", "tls-replication", "tls-auth-clients", "tls-protocols")


def _session(client: Any) -> dict[str, Any]:
    """The protocol and cipher of one redis-py connection (None for a plain one)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.connect()
        sock = getattr(conn, "_sock", None)
        version = getattr(sock, "version", None)
        cipher = getattr(sock, "cipher", None)
        return {
            "version": version() if callable(version) else None,
            "cipher": cipher()[0] if callable(cipher) and cipher() else None,
        }
    finally:
        client.connection_pool.release(conn)


def redis_tls_evidence(roles: Any, *, enabled: bool) -> dict[str, Any]:
    """Per running data node and Sentinel: its TLS settings (``CONFIG GET``; a Sentinel's are
    not readable and only its session is recorded) and what drillkit's session negotiated."""
    servers: dict[str, Any] = {}
    for n in roles.nodes:
        if not n.is_running():
            continue
        try:
            with roles.redis(n) as r:
                info: dict[str, Any] = {"session": _session(r)}
                if n.role != "sentinel":
                    for key in _REDIS_SETTINGS:
                        info.update(r.config_get(key))
            servers[n.name] = info
        except (RedisError, OSError) as e:
            servers[n.name] = {"error": str(e)}
    return {"enabled": enabled, "servers": servers}
