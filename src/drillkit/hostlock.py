"""The host lock: one drillkit run (or cleanup) at a time per Docker daemon and user.

The lock is an ``fcntl.flock`` on a file in a directory drillkit creates and owns with mode
0700 (:func:`lock_dir`): ``/run/drillkit`` for root, else ``$XDG_RUNTIME_DIR/drillkit``, else
``<temp dir>/drillkit-<uid>``. A directory that is a symlink, not ours, or writable by group or
others is refused, so nobody else can plant a file in it or hold its lock. The file is opened
with ``O_NOFOLLOW | O_CREAT`` and mode 0600, and is only ever truncated (to name its holder)
after checking it is a regular file we own with a single link.

The file is named after the Docker daemon's ID (``docker info`` → ``ID``), so every spelling of
one daemon (``unix:///var/run/docker.sock``, ``/run/docker.sock``, ``tcp://...``) shares a lock;
if the daemon does not answer, the ``DOCKER_HOST`` string stands in (the run then fails with
exit 3 anyway). The kernel drops the lock when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from drillkit.errors import EXIT_LOCKED, DrillkitError, InfrastructureError

__all__ = [
    "LOCK_DIR_ENV",
    "LOCK_ENV",
    "LockHeld",
    "UnsafeLock",
    "lock_dir",
    "lock_path",
    "private_dir",
    "run_lock",
]

LOCK_ENV = "DRILLKIT_LOCK_FILE"  # an explicit lock file (same checks on the file itself)
LOCK_DIR_ENV = "DRILLKIT_LOCK_DIR"  # an explicit lock directory (same checks)
DaemonKey = Callable[[], str]


class LockHeld(DrillkitError):
    """Another drillkit run holds the lock on this Docker host."""

    exit_code = EXIT_LOCKED


class UnsafeLock(InfrastructureError):
    """The lock directory or file is not safely ours (symlink, other owner, writable by others)."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing; refuse it unless it is a real directory owned by
    this user and not writable by group or others."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as e:
        raise UnsafeLock(f"cannot create the lock directory {path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeLock(f"lock directory {path} is not a directory (a symlink?); remove it")
    if st.st_uid != os.geteuid():
        raise UnsafeLock(
            f"lock directory {path} belongs to uid {st.st_uid}, not to this user "
            f"(uid {os.geteuid()}); remove it or set {LOCK_DIR_ENV}"
        )
    if st.st_mode & 0o022:
        raise UnsafeLock(
            f"lock directory {path} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 700 it"
        )
    return path


def lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the lock and the runs' heartbeats live (created and checked, see the module doc)."""
    env = os.environ if environ is None else environ
    if env.get(LOCK_DIR_ENV):
        return private_dir(Path(env[LOCK_DIR_ENV]))
    candidates: list[Path] = []
    if os.geteuid() == 0:
        candidates.append(Path("/run/drillkit"))
    elif env.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(env["XDG_RUNTIME_DIR"]) / "drillkit")
    candidates.append(Path(tempfile.gettempdir()) / f"drillkit-{os.geteuid()}")
    for candidate in candidates[:-1]:
        if candidate.parent.is_dir() and os.access(candidate.parent, os.W_OK | os.X_OK):
            return private_dir(candidate)
    return private_dir(candidates[-1])


def docker_host_key(environ: Mapping[str, str] | None = None) -> str:
    """The fallback key when the daemon cannot be asked for its ID: the DOCKER_HOST string."""
    env = os.environ if environ is None else environ
    return "host:" + (env.get("DOCKER_HOST") or "unix:///var/run/docker.sock")


def lock_path(key: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$DRILLKIT_LOCK_FILE``, else ``<lock dir>/daemon-<hash of key>.lock``."""
    env = os.environ if environ is None else environ
    if env.get(LOCK_ENV):
        return Path(env[LOCK_ENV])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return lock_dir(env) / f"daemon-{digest}.lock"


def _open_owned(path: Path) -> int:
    """Open (creating 0600) a lock file without following a symlink; refuse one not ours."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        raise UnsafeLock(
            f"cannot open the lock file {path}: {e.strerror} (a symlink is refused)"
        ) from None
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif st.st_uid != os.geteuid():
        problem = f"belongs to uid {st.st_uid}, not to this user"
    elif st.st_nlink != 1:
        problem = f"has {st.st_nlink} hard links"
    if problem is not None:
        os.close(fd)
        raise UnsafeLock(f"lock file {path} {problem}; refusing to use it")
    if stat.S_IMODE(st.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown process"


@contextlib.contextmanager
def run_lock(
    path: Path | None = None,
    *,
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    key: DaemonKey = docker_host_key,
) -> Iterator[Path]:
    """Hold the exclusive lock for the block; raise :class:`LockHeld` (naming the holder) if it
    is still taken after ``wait_seconds``. ``key`` names the daemon (called only when ``path``
    is not given). The kernel drops the lock if the process dies."""
    path = path or lock_path(key())
    fd = _open_owned(path)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    raise LockHeld(f"another drillkit run holds {path} ({holder})") from None
                sleep(0.5)
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with contextlib.suppress(OSError):  # naming the holder is a courtesy (disk full: skip)
            os.ftruncate(fd, 0)  # ours (checked in _open_owned) and locked by us
            os.pwrite(fd, f"pid {os.getpid()} since {since}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock
