"""Redis persistence files as a restore handles them: AOF commands, tar archives, backup names.

Pure functions on bytes, unit-tested without containers. The AOF of Redis 7 is a directory
(``appendonlydir``) holding a manifest, a base file (an RDB preamble, or commands) and
incremental files of commands in RESP; a ``FLUSHALL`` is one command in the newest incremental
file. Removing it and replaying the rest is Redis's documented way to undo one.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FLUSH_COMMANDS",
    "ArchivedFile",
    "backup_candidates",
    "build_archive",
    "read_archive",
    "strip_flushes",
]

FLUSH_COMMANDS = (b"FLUSHALL", b"FLUSHDB")


@dataclass(frozen=True)
class ArchivedFile:
    """A regular file from a node's archive: its path inside the archive, bytes and owner."""

    path: str
    data: bytes
    uid: int
    gid: int
    mtime: float = 0.0


def _command_end(aof: bytes, start: int) -> tuple[int, bytes] | None:
    """Where the RESP array at ``start`` ends and its command name, or None if truncated."""
    line_end = aof.find(b"\r\n", start)
    if line_end < 0:
        return None
    count = int(aof[start + 1 : line_end])
    pos = line_end + 2
    name = b""
    for i in range(count):
        if aof[pos : pos + 1] != b"$":
            raise ValueError(f"not a RESP bulk string at byte {pos}")
        len_end = aof.find(b"\r\n", pos)
        if len_end < 0:
            return None
        length = int(aof[pos + 1 : len_end])
        data_start = len_end + 2
        if data_start + length + 2 > len(aof):
            return None
        if i == 0:
            name = aof[data_start : data_start + length].upper()
        pos = data_start + length + 2
    return pos, name


def strip_flushes(aof: bytes) -> tuple[bytes, int]:
    """The AOF commands with every FLUSHALL and FLUSHDB left out, and how many were.

    Annotation lines (``#TS:...``) are kept; a truncated last command (a crash mid-write) is kept
    as it is, for Redis's ``aof-load-truncated`` to handle.
    """
    out = bytearray()
    removed = 0
    pos = 0
    while pos < len(aof):
        marker = aof[pos : pos + 1]
        if marker == b"#":
            end = aof.find(b"\n", pos)
            end = len(aof) if end < 0 else end + 1
            out += aof[pos:end]
            pos = end
            continue
        if marker != b"*":
            raise ValueError(f"not an AOF command at byte {pos}: {aof[pos : pos + 16]!r}")
        found = _command_end(aof, pos)
        if found is None:
            out += aof[pos:]
            break
        end, name = found
        if name in FLUSH_COMMANDS:
            removed += 1
        else:
            out += aof[pos:end]
        pos = end
    return bytes(out), removed


def read_archive(chunks: Iterable[bytes]) -> list[ArchivedFile]:
    """The regular files of a tar stream (as ``docker get_archive`` returns it)."""
    buffer = io.BytesIO(b"".join(chunks))
    files: list[ArchivedFile] = []
    with tarfile.open(fileobj=buffer, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            assert fh is not None
            files.append(ArchivedFile(member.name, fh.read(), member.uid, member.gid, member.mtime))
    return files


def build_archive(directory: str, files: Iterable[ArchivedFile], uid: int, gid: int) -> bytes:
    """A tar holding ``directory/`` (owned by uid:gid) and ``files`` under it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        root = tarfile.TarInfo(directory)
        root.type, root.mode, root.uid, root.gid = tarfile.DIRTYPE, 0o755, uid, gid
        tar.addfile(root)
        for f in files:
            info = tarfile.TarInfo(f"{directory}/{f.path}")
            info.size, info.mode, info.uid, info.gid = len(f.data), 0o644, uid, gid
            info.mtime = int(f.mtime)
            tar.addfile(info, io.BytesIO(f.data))
    return buffer.getvalue()


def backup_candidates(files: Iterable[ArchivedFile]) -> list[ArchivedFile]:
    """Backup copies (``dump-<ns>.rdb``), newest first."""
    named = [f for f in files if f.path.rsplit("/", 1)[-1].startswith("dump-")]
    return sorted(named, key=lambda f: f.path.rsplit("/", 1)[-1], reverse=True)
