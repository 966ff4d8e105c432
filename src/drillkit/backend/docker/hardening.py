"""What every container drillkit creates is confined by, and how secrets reach it.

Every container drops every Linux capability (a node runs as its image's unprivileged user and
needs none; the network-fault helper gets ``NET_ADMIN`` back, nothing else), may not gain
privileges (``no-new-privileges``: setuid binaries stay unprivileged) and runs under a process
and a memory limit, so a runaway node cannot exhaust the host.

Secrets never travel in the environment (``docker inspect`` shows it to anyone who may talk to
the daemon): they are written, before the container starts, as files of mode 0600 owned by the
container's user in a 0700 directory :data:`SECRETS_DIR` of the container's own filesystem --
not on a data volume, and still there when a killed node is started again.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_LIMITS",
    "HELPER_LIMITS",
    "SECRETS_DIR",
    "Limits",
    "confinement",
    "put_secrets",
    "secrets_archive",
    "size_bytes",
]

SECRETS_DIR = "/run/drillkit"


@dataclass(frozen=True)
class Limits:
    """Resources one container may use: memory in bytes (page cache and tmpfs pages it
    writes count too) and processes plus threads."""

    memory: int
    pids: int

    def plus_memory(self, extra: int) -> Limits:
        return Limits(self.memory + extra, self.pids)


MIB = 1024 * 1024
# A node: PostgreSQL with max_connections 200 and 128 MB shared_buffers, Patroni, Redis, etcd.
DEFAULT_LIMITS = Limits(memory=1024 * MIB, pids=1024)
# A short-lived helper: a shell script, iptables, pg_rewind, a file copy.
HELPER_LIMITS = Limits(memory=512 * MIB, pids=256)


_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(size: str) -> int:
    """A tmpfs size such as ``256m`` (``data_volume_size``) in bytes."""
    size = size.strip().lower()
    if size and size[-1] in _UNITS:
        return int(size[:-1]) * _UNITS[size[-1]]
    return int(size)


def confinement(
    limits: Limits = DEFAULT_LIMITS, cap_add: list[str] | None = None
) -> dict[str, Any]:
    """docker SDK create()/run() arguments: no capability but ``cap_add``, no new privileges,
    ``limits``."""
    return {
        "cap_drop": ["ALL"],
        "cap_add": list(cap_add or []),
        "security_opt": ["no-new-privileges"],
        "pids_limit": limits.pids,
        "mem_limit": limits.memory,
    }


def secrets_archive(files: dict[str, str], uid: int, gid: int) -> bytes:
    """A tar of ``SECRETS_DIR``'s last component (0700) holding ``files`` (0600), all owned by
    ``uid``:``gid``, to extract in ``SECRETS_DIR``'s parent."""
    name = SECRETS_DIR.rsplit("/", 1)[1]
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, 0o700, uid, gid, now
        tar.addfile(info)
        for filename, text in sorted(files.items()):
            if "/" in filename or filename in ("", ".", ".."):
                raise ValueError(f"{filename!r} is not a plain file name")
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{filename}")
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o600, uid, gid, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _user_ids(container: Any, user: str) -> tuple[int, int]:
    """The uid and gid ``user`` (a name, a uid, ``uid:gid`` or '' for root) has in the
    container, read from its /etc/passwd (the container need not be running)."""
    name, _, group = user.partition(":")
    if not name or name == "root":
        return 0, int(group) if group.isdigit() else 0
    if name.isdigit() and (not group or group.isdigit()):
        return int(name), int(group or name)
    image = str(container.attrs.get("Image") or "")  # an image id: its content never changes
    known = _IDS_BY_IMAGE.get((image, user)) if image else None
    if known is not None:
        return known
    stream, _ = container.get_archive("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("passwd")
        passwd = member.read().decode() if member else ""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name:
            ids = int(fields[2]), int(group) if group.isdigit() else int(fields[3])
            if image:
                _IDS_BY_IMAGE[(image, user)] = ids
            return ids
    raise RuntimeError(f"user {name!r} is not in the image's /etc/passwd")


# (image id, user) -> (uid, gid): reading /etc/passwd is an engine round trip (~80 ms here) on
# every node's start; a process that starts many topologies (a sweep, --all, a test session)
# reads it once per image.
_IDS_BY_IMAGE: dict[tuple[str, str], tuple[int, int]] = {}


def put_secrets(container: Any, files: dict[str, str]) -> None:
    """Write ``files`` into ``SECRETS_DIR`` of a created (not yet started) container, readable
    only by the user it runs as."""
    if not files:
        return
    user = str(container.attrs.get("Config", {}).get("User") or "")
    uid, gid = _user_ids(container, user)
    parent = SECRETS_DIR.rsplit("/", 1)[0] or "/"
    if not container.put_archive(parent, secrets_archive(files, uid, gid)):
        raise RuntimeError(f"could not write secrets into {container.name}")
