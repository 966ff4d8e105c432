"""Point-in-time recovery of a Patroni cluster from its pgBackRest repository, the way Patroni
documents it: stop Patroni on every member, remove the cluster from the DCS (``patronictl
remove``), empty every member's data directory, start one member whose ``bootstrap.method`` is
``pgbackrest`` (Patroni's custom bootstrap: ``pgbackrest restore --type=time
--target-action=promote``, recovery settings kept), then the others, which Patroni clones from
the new leader.

Why not restore the leader's data directory under a paused Patroni? The replicas would still
hold WAL past the target on the old timeline; each would need pg_rewind or a reinit by hand, and
Patroni's DCS would still describe the cluster before the restore (its leader, timeline and
history). Rebuilding through the custom bootstrap leaves Patroni owning the result: one
``initialize`` key, the restored system, a new timeline, replicas made by Patroni itself.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import requests

from drillkit.backend.node import Node
from drillkit.topology.pg_storage import run_helper
from drillkit.topology.pgbackrest import BackupRepo, restore_environment
from drillkit.wait import WaitTimeout, is_none, wait_until

__all__ = [
    "SCOPE",
    "RestorableCluster",
    "RestoredCluster",
    "patronictl_remove_script",
    "request_text",
    "restore_cluster",
    "write_request",
]

SCOPE = "drillkit"  # Patroni's scope (the entrypoint's patroni.yml)
REQUEST_DIR = "/run/drillkit"  # the member's secrets directory
REQUEST_FILE = "restore-request"  # sourced by the entrypoint (DK_RESTORE_TYPE, _TARGET)
STOP_TIMEOUT = 30.0


class RestorableCluster(Protocol):
    """What the procedure uses of a Patroni topology (``PatroniCluster``)."""

    nodes: list[Node]
    repo: BackupRepo | None
    restored: list[str]

    @property
    def rest_scheme(self) -> str: ...

    progress: Callable[[str], None]

    def members(self) -> list[Node]: ...

    def leader(self, exclude: tuple[str, ...] = ()) -> Node | None: ...

    def node(self, name: str) -> Node: ...

    def container_name(self, node: str) -> str: ...

    def query(self, node: Node, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...

    def not_ready(self) -> str | None: ...


def patronictl_remove_script(etcd_hosts: list[str], scheme: str) -> str:
    """A shell script that writes a patronictl configuration (the DCS only; with TLS, the etcd
    node's own certificate) and answers ``patronictl remove``'s two confirmations."""
    lines = [f"scope: {SCOPE}", "etcd3:", f"  hosts: {','.join(etcd_hosts)}"]
    if scheme == "https":
        lines += [
            "  protocol: https",
            "  cacert: /run/drillkit/tls-ca.crt",
            "  cert: /run/drillkit/tls-node.crt",
            "  key: /run/drillkit/tls-node.key",
        ]
    config = "/tmp/drillkit-patronictl.yml"
    write = "printf '%s\\n' " + " ".join(shlex.quote(ln) for ln in lines) + f" > {config}"
    answers = f"printf '%s\\n' {SCOPE} 'Yes I am aware'"
    return f"set -e; {write}; {answers} | patronictl -c {config} remove {SCOPE}"


@dataclass(frozen=True)
class RestoredCluster:
    """The member that bootstrapped the cluster, and how long each phase took (seconds)."""

    node: Node
    seconds: dict[str, float]


def restore_cluster(
    cluster: RestorableCluster, *, onto: str, kind: str, target: str | None, timeout: float
) -> RestoredCluster:
    """Rebuild the whole cluster from the repository; ``onto`` (``primary``: the leader now, or a
    member's name) bootstraps it. Returns once that member leads and accepts writes and the other
    members are back as streaming replicas."""
    if cluster.repo is None:
        raise RuntimeError("this topology has no backup repository")
    deadline = time.monotonic() + timeout
    marks = [time.monotonic()]
    env = restore_environment(kind, target)
    members = cluster.members()
    leader = cluster.leader()
    name = (leader.name if leader else members[0].name) if onto == "primary" else onto
    cluster.progress("stopping Patroni on every member")
    _stop_all(members)
    marks.append(time.monotonic())
    cluster.progress(f"removing the cluster '{SCOPE}' from the DCS (patronictl remove)")
    _remove_from_dcs(cluster)
    for member in members:
        run_helper(member, 'find "$1" -mindepth 1 -delete')  # Patroni bootstraps empty dirs only
        # Only the bootstrapping member's configuration names the method (and a stale request
        # from an earlier restore is overwritten).
        write_request(member, env if member.name == name else {})
    marks.append(time.monotonic())
    to = f"to {target}" if target else "every archived segment"
    cluster.progress(f"{name} bootstraps the cluster from the repository ({kind}: {to})")
    node = cluster.node(name)
    node.start()
    cluster.restored.append(name)
    _await(cluster, lambda: _leads(cluster, node), deadline, f"{name} does not lead")
    marks.append(time.monotonic())
    for member in members:
        if member.name != name:
            cluster.progress(f"{member.name} rejoins (Patroni clones it from {name})")
            member.start()
    _await(cluster, cluster.not_ready, deadline, "the rebuilt cluster is not ready")
    marks.append(time.monotonic())
    phases = ("stop_patroni", "remove_from_dcs_and_empty", "bootstrap_to_leader", "replicas")
    seconds = {p: round(b - a, 3) for p, a, b in zip(phases, marks[:-1], marks[1:], strict=True)}
    return RestoredCluster(node, seconds)


def request_text(env: dict[str, str]) -> str:
    """The restore request the entrypoint sources before writing patroni.yml."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


def write_request(node: Node, env: dict[str, str]) -> None:
    """Put the restore request (``DK_RESTORE_*``; empty: none) into the stopped member's
    secrets directory: the operator's edit of ``bootstrap.method`` in patroni.yml. The member
    keeps its container, so its log spans the incident and the restore."""
    data = request_text(env).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"{REQUEST_DIR.rsplit('/', 1)[1]}/{REQUEST_FILE}")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    if not node.put_archive(REQUEST_DIR.rsplit("/", 1)[0] or "/", buffer.getvalue()):
        raise RuntimeError(f"could not write the restore request into {node.name}")


def _stop_all(members: list[Node]) -> None:
    """SIGTERM every member's Patroni at once (it stops PostgreSQL, releases the leader key)."""
    running = [m for m in members if m.status() == "running"]
    for member in running:
        member.kill("SIGTERM")
    for member in running:
        if member.wait_status("exited", STOP_TIMEOUT, poll=0.05) != "exited":
            member.kill("SIGKILL")
            member.wait_status("exited", 10.0, poll=0.05)


def _remove_from_dcs(cluster: RestorableCluster) -> None:
    etcd = [n for n in cluster.nodes if n.role == "etcd" and n.is_running()]
    if not etcd:
        raise RuntimeError("no etcd member is running: the cluster cannot be removed from the DCS")
    hosts = [f"{cluster.container_name(n.name)}:2379" for n in etcd]
    script = patronictl_remove_script(hosts, cluster.rest_scheme)
    result = etcd[0].exec(["sh", "-c", script])
    out = result.output.decode("utf-8", "replace")
    if result.exit_code != 0:
        raise RuntimeError(f"patronictl remove exited {result.exit_code}: {out.strip()[-400:]}")


def _leads(cluster: RestorableCluster, node: Node) -> str | None:
    """None once ``node`` is Patroni's leader and out of recovery; else what it is doing."""
    if node.status() == "exited":
        raise RuntimeError(f"{node.name} exited while bootstrapping: {node.logs(tail=8)}")
    leader = cluster.leader()
    if leader is None or leader.name != node.name:
        return "bootstrapping from the repository"
    try:
        row = cluster.query(node, "SELECT pg_is_in_recovery() AS r")[0]
    except psycopg.Error as e:
        return str(e).strip()
    return "still in recovery" if row["r"] else None


def _await(
    cluster: RestorableCluster,
    problem: Callable[[], str | None],
    deadline: float,
    what: str,
) -> None:
    def attempt() -> str | None:
        try:
            return problem()
        except (psycopg.Error, requests.RequestException) as e:
            return str(e).strip()[:300]

    try:
        wait_until(
            attempt, until=is_none, timeout=max(0.1, deadline - time.monotonic()), interval=0.2
        )
    except WaitTimeout as e:
        raise TimeoutError(f"{what}: {e.last_value}") from None
