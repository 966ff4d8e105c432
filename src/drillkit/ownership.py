"""Who owns a run's resources, and whether that owner is still alive: a token and a heartbeat.

Every run gets a random owner token, put on each resource it creates (``drillkit.owner``), and a
heartbeat file ``<lock dir>/runs/<run id>.json`` holding the same token, whose modification time
a daemon thread refreshes every :data:`HEARTBEAT_SECONDS` while the run is alive. A run is

- ``kept`` if its resources carry ``drillkit.keep=1`` (``drillkit run --keep``);
- ``alive`` if its heartbeat carries its token and was refreshed in the last
  :data:`STALE_SECONDS`;
- ``dead`` if its heartbeat is older than that (the harness was killed: SIGKILL, OOM, power
  loss), or if its host rebooted since (the boot id on its resources is not this boot's);
- ``unknown`` otherwise: no heartbeat here (another user's lock directory, another host talking
  to the same daemon, a run from before heartbeats existed). Unknown runs are never removed
  unless named (``drillkit cleanup --run ID`` or ``--all``).

This replaces guessing from host name and pid, which is wrong across PID namespaces (a live run
looked dead) and after pid reuse (a dead run looked alive).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from drillkit.errors import InfrastructureError
from drillkit.hostlock import lock_dir, private_dir

__all__ = [
    "BOOT_LABEL",
    "HEARTBEAT_SECONDS",
    "HOST_LABEL",
    "KEEP_LABEL",
    "OWNER_LABEL",
    "PID_LABEL",
    "STALE_SECONDS",
    "Heartbeat",
    "Liveness",
    "RunState",
    "boot_id",
    "heartbeat_dir",
    "liveness",
]

OWNER_LABEL = "drillkit.owner"  # the run's random owner token
HOST_LABEL = "drillkit.owner_host"
BOOT_LABEL = "drillkit.owner_boot"  # the kernel boot id of the harness host
PID_LABEL = "drillkit.owner_pid"  # for people and tools finding a process's runs; never liveness
KEEP_LABEL = "drillkit.keep"
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 30.0


def boot_id(path: Path = Path("/proc/sys/kernel/random/boot_id")) -> str:
    """This kernel boot's id ("" where there is none): a reboot changes it."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def heartbeat_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``<lock dir>/runs`` (private, like the lock directory)."""
    return private_dir(lock_dir(environ) / "runs")


class Heartbeat:
    """A run's proof of life (see the module doc). Never raises: if the file cannot be written
    the run goes on without one, and its resources are then ``unknown``, never ``dead``."""

    def __init__(
        self,
        run_id: str,
        directory: Path | None = None,
        *,
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.run_id = run_id
        self.token = secrets.token_hex(16)
        self.interval = interval
        self.problem: str | None = None
        self.path: Path | None = None
        self._directory = directory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def labels(self) -> dict[str, str]:
        """What goes on every resource of the run."""
        return {
            OWNER_LABEL: self.token,
            HOST_LABEL: socket.gethostname(),
            BOOT_LABEL: boot_id(),
            PID_LABEL: str(os.getpid()),
        }

    def start(self) -> Heartbeat:
        try:
            directory = self._directory or heartbeat_dir()
            path = directory / f"{self.run_id}.json"
            doc = {"token": self.token, "pid": os.getpid(), "host": socket.gethostname()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc) + "\n")
        except (OSError, InfrastructureError) as e:
            self.problem = f"no heartbeat for {self.run_id}: {e}"
            return self
        self.path = path
        self._thread = threading.Thread(target=self._beat, name="drillkit-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            if self.path is not None:
                with contextlib.suppress(OSError):
                    os.utime(self.path)

    def stop(self, *, forget: bool = True) -> None:
        """Stop beating; remove the file if ``forget`` (the run's resources are gone or kept),
        else leave it to go stale, so the next sweep knows the leftovers are dead."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1.0)
        if forget and self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


class RunState(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    KEPT = "kept"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Liveness:
    state: RunState
    reason: str


def liveness(
    run_id: str,
    labels: Mapping[str, str],
    directory: Path | None,
    *,
    now: Callable[[], float] = time.time,
    stale_after: float = STALE_SECONDS,
) -> Liveness:
    """Whether the run that labelled a resource with ``labels`` is alive (module doc)."""
    if labels.get(KEEP_LABEL) == "1":
        return Liveness(RunState.KEPT, "kept with --keep")
    token = labels.get(OWNER_LABEL)
    path = directory / f"{run_id}.json" if directory is not None else None
    try:
        if path is None:
            raise FileNotFoundError
        age = now() - path.lstat().st_mtime
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        boot = labels.get(BOOT_LABEL)
        if labels.get(HOST_LABEL) == socket.gethostname() and boot and boot != boot_id():
            return Liveness(RunState.DEAD, "its host rebooted since the run started")
        return Liveness(
            RunState.UNKNOWN, "no heartbeat here (another user or host, or an older drillkit)"
        )
    if token is None or not isinstance(doc, dict) or doc.get("token") != token:
        return Liveness(RunState.UNKNOWN, "the heartbeat here belongs to another owner")
    if age > stale_after:
        return Liveness(RunState.DEAD, f"heartbeat {age:.0f}s old")
    return Liveness(RunState.ALIVE, f"heartbeat {max(age, 0.0):.1f}s ago (pid {doc.get('pid')})")
