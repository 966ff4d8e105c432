"""A pgBackRest repository for a PostgreSQL topology: archiving, backups, restores.

The repository is a Docker volume of its own, mounted at the same path in every database node
(a posix repository): it stands for the backup server or bucket that survives the loss of every
database node. Only the primary archives (``archive_mode = on``), so nodes never write the same
file. pgBackRest is configured through ``PGBACKREST_*`` environment variables, which
``archive_command`` inherits from the postmaster and ``docker exec`` from the container.

Backups and checks run inside a node with ``docker exec``, each bounded by ``timeout``. A
restore starts a node whose entrypoint runs ``pgbackrest restore`` into an empty data directory
and then PostgreSQL, which replays archived WAL to the target and promotes.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from drillkit.backend.docker import create_volume
from drillkit.backend.node import Node
from drillkit.spec.postgres import PgBackRestOptions
from drillkit.topology.pg_admin import PGDATA

__all__ = [
    "REPO_PATH",
    "STANZA",
    "Backup",
    "BackupRepo",
    "PgBackRestError",
    "archive_parameters",
    "archiving_problem",
    "restore_environment",
    "restore_seconds",
    "restored_backup_set",
]

REPO_PATH = "/var/lib/pgbackrest"
STANZA = "main"
_ARCHIVED = re.compile(r"WAL segment (\S+) successfully archived")
_RESTORE_SECONDS = re.compile(r"drillkit: pgbackrest restore took ([0-9.]+)s")
_BACKUP_SET = re.compile(r"restore backup set (\S+)")


class PgBackRestError(RuntimeError):
    """A pgBackRest command failed; the message carries its exit status and last output."""


@dataclass(frozen=True)
class Backup:
    """One backup taken during the run (label as pgBackRest names it)."""

    type: str
    label: str
    node: str
    seconds: float
    started_ns: int  # monotonic, like the history

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": self.label,
            "node": self.node,
            "seconds": round(self.seconds, 3),
        }


def restore_environment(kind: str, target: str | None) -> dict[str, str]:
    """What the entrypoint's restore role needs: ``time`` + target, or ``latest``."""
    if kind == "time":
        if not target:
            raise ValueError("a point-in-time restore needs a target time")
        return {"DK_RESTORE_TYPE": "time", "DK_RESTORE_TARGET": target}
    return {"DK_RESTORE_TYPE": "default"}


def restore_seconds(log: str) -> float | None:
    """How long ``pgbackrest restore`` (the copy) took, as the entrypoint logged it."""
    found = _RESTORE_SECONDS.search(log)
    return float(found.group(1)) if found else None


def restored_backup_set(log: str) -> str | None:
    """The backup set ``pgbackrest restore`` chose (a full or an incremental label)."""
    found = _BACKUP_SET.search(log)
    return found.group(1).rstrip(",") if found else None


def archive_parameters(spec: PgBackRestOptions) -> dict[str, str]:
    """Archive every completed segment and switch at least every ``archive_timeout_seconds``
    (under Patroni: its ``postgresql.parameters``, which only the leader acts on)."""
    return {
        "archive_mode": "on",
        "archive_command": "pgbackrest archive-push %p",
        "archive_timeout": f"{spec.archive_timeout_seconds}s",
    }


def archiving_problem(
    query: Callable[[Node, str], list[dict[str, Any]]], primary: Node
) -> str | None:
    """What is wrong with WAL archiving on ``primary`` (``pg_stat_archiver``), if anything."""
    try:
        row = query(
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


class BackupRepo:
    """The repository volume, the settings that archive into it, and the commands that use it."""

    def __init__(
        self,
        client: Any,
        spec: PgBackRestOptions,
        *,
        volume_name: str,
        labels: dict[str, str],
        progress: Callable[[str], None] = lambda _m: None,
        command_timeout: float = 300.0,
    ) -> None:
        self.client = client
        self.spec = spec
        self.volume_name = volume_name
        self.labels = labels
        self.progress = progress
        self.command_timeout = command_timeout
        self.backups: list[Backup] = []
        self.schedule_errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def create_volume(self) -> None:
        create_volume(self.client, self.volume_name, self.labels)

    def mount(self) -> dict[str, dict[str, str]]:
        return {self.volume_name: {"bind": REPO_PATH, "mode": "rw"}}

    def environment(self) -> dict[str, str]:
        return {
            "PGBACKREST_STANZA": STANZA,
            "PGBACKREST_PG1_PATH": PGDATA,
            "PGBACKREST_REPO1_PATH": REPO_PATH,
            "PGBACKREST_REPO1_RETENTION_FULL": "4",
            "PGBACKREST_COMPRESS_TYPE": self.spec.compress_type,
            "PGBACKREST_START_FAST": "y",
            "PGBACKREST_LOG_LEVEL_FILE": "off",
            "PGBACKREST_LOG_LEVEL_CONSOLE": "warn",
            "PGBACKREST_LOG_LEVEL_STDERR": "warn",
        }

    def archive_parameters(self) -> dict[str, str]:
        return archive_parameters(self.spec)

    def conf_lines(self) -> list[str]:
        """postgresql.conf: :meth:`archive_parameters`, and let any recovery fetch from the
        repository what pg_wal lacks."""
        return [f"{k} = '{v}'" for k, v in self.archive_parameters().items()] + [
            "restore_command = 'pgbackrest archive-get %f \"%p\"'",
        ]

    def init(self, primary: Node) -> Backup:
        """Create the stanza and take the full backup every restore starts from."""
        self.run(primary, "stanza-create")
        return self.backup(primary, "full")

    def run(
        self, node: Node, *args: str, timeout: float | None = None, log_level: str = "info"
    ) -> str:
        """``pgbackrest ARGS`` inside ``node``; its output, or PgBackRestError."""
        seconds = max(1, int(timeout or self.command_timeout))
        command = ["pgbackrest", f"--log-level-console={log_level}", *args]
        result = node.exec(["timeout", "-s", "KILL", str(seconds), *command], user="postgres")
        out = result.output.decode("utf-8", "replace")
        if result.exit_code != 0:
            status = "timed out" if result.exit_code == 137 else f"exited {result.exit_code}"
            tail = " | ".join(ln.strip() for ln in out.strip().splitlines()[-4:])
            raise PgBackRestError(f"pgbackrest {' '.join(args)} on {node.name} {status}: {tail}")
        return out

    def backup(self, node: Node, kind: str) -> Backup:
        started_ns = time.monotonic_ns()
        started = time.monotonic()
        self.run(node, "backup", f"--type={kind}")
        seconds = time.monotonic() - started
        labels = [b["label"] for b in self.info(node).get("backup", [])]
        backup = Backup(kind, labels[-1] if labels else "?", node.name, seconds, started_ns)
        self.backups.append(backup)
        self.progress(f"pgbackrest {kind} backup {backup.label} on {node.name}: {seconds:.1f}s")
        return backup

    def info(self, node: Node) -> dict[str, Any]:
        """The stanza's entry of ``pgbackrest info --output=json``."""
        out = self.run(node, "info", "--output=json", log_level="warn")
        stanzas = json.loads(out[out.index("[") :])
        return dict(stanzas[0]) if stanzas else {}

    def flush(self, primary: Node) -> str:
        """Switch WAL on the primary and wait until that segment is archived
        (``pgbackrest check``); return the segment's name."""
        out = self.run(primary, "check", timeout=60)
        found = _ARCHIVED.search(out)
        return found.group(1) if found else "(segment not reported)"

    def start_schedule(self, primary: Callable[[], Node | None]) -> None:
        """Take an incremental backup every ``incremental_every_seconds`` on the primary of the
        moment, until :meth:`stop_schedule` (a failed backup is noted, not fatal)."""
        every = self.spec.incremental_every_seconds
        if every is None or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every):
                node = primary()
                if node is None:
                    self.schedule_errors.append("no primary for an incremental backup")
                    continue
                try:
                    self.backup(node, "incr")
                except PgBackRestError as e:
                    self.schedule_errors.append(str(e))

        self._thread = threading.Thread(target=loop, name="drillkit-pgbackrest", daemon=True)
        self._thread.start()

    def stop_schedule(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.command_timeout)
            self._thread = None
