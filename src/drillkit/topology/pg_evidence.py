"""The configuration fingerprint of a PostgreSQL node for the evidence: the settings that decide
what an acknowledged commit survives, as the server reports them or as its files set them."""

from __future__ import annotations

import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from drillkit.backend.node import NodeError
from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PGDATA, PgAdmin

__all__ = ["DATA_LOSS_SETTINGS", "NON_DEFAULT_SQL", "configured_settings", "node_settings"]

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


# Every setting whose value is not the server's built-in (upstream) default, as the running server
# reports it: the proof that what a drill file (or the team's postgresql.conf) said took effect.
# Settings of drillkit's own admin session (source client/session) describe the connection, not
# the server. ``sourcefile`` says which file set it (drillkit-user.conf: the drill's settings).
NON_DEFAULT_SQL = (
    "SELECT name, setting, unit, boot_val, source, sourcefile FROM pg_settings"
    " WHERE source NOT IN ('default', 'client', 'session')"
    " AND setting IS DISTINCT FROM boot_val ORDER BY name"
)


def _non_default(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        r["name"]: {
            "value": r["setting"],
            "unit": r["unit"],
            "default": r["boot_val"],
            "source": r["source"],
            "file": r["sourcefile"],
        }
        for r in rows
    }


def node_settings(admin: PgAdmin, n: Node, status: str) -> dict[str, Any]:
    """Data-loss settings as the server reports them, or as configured if it is down; a running
    node also lists every setting that differs from PostgreSQL's default (``non_default``)."""
    if status == "running":
        try:
            rows, recovery, non_default = admin.queries(
                n,
                [
                    (
                        "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                        (list(DATA_LOSS_SETTINGS),),
                    ),
                    ("SELECT pg_is_in_recovery() AS r", ()),
                    (NON_DEFAULT_SQL, ()),
                ],
            )
            return {
                "settings": {r["name"]: r["setting"] for r in rows},
                "in_recovery": recovery[0]["r"],
                "non_default": _non_default(non_default),
            }
        except psycopg.Error as e:
            return {"settings_error": str(e).strip()}
    if status in ("exited", "created", "dead"):
        return {
            "settings": configured_settings(n),
            "settings_source": (
                "postgresql.conf + postgresql.auto.conf (node not running; "
                "settings left at their defaults are absent)"
            ),
        }
    return {}


def configured_settings(node: Node) -> dict[str, str]:
    """The data-loss settings a stopped node's config files set (files can be read from a
    stopped node); ``postgresql.auto.conf`` (ALTER SYSTEM) overrides ``postgresql.conf``."""
    names = ("postgresql.conf", "postgresql.auto.conf")
    with ThreadPoolExecutor(max_workers=len(names)) as pool:  # two engine round trips at once
        texts = list(pool.map(lambda name: _read_file(node, name), names))
    found: dict[str, str] = {}
    for text in texts:
        if text is None:
            continue
        for line in text.splitlines():
            key, sep, value = line.split("#", 1)[0].partition("=")
            if sep and key.strip() in DATA_LOSS_SETTINGS:
                found[key.strip()] = value.strip().strip("'")
    return found


def _read_file(node: Node, name: str) -> str | None:
    """A file of the node's data directory (None if it cannot be read)."""
    try:
        data = node.get_archive(f"{PGDATA}/{name}")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(name)
            return member.read().decode("utf-8", "replace") if member else ""
    except (NodeError, tarfile.TarError, KeyError):
        return None
