"""The history: the append-only record that is the only link between running a drill and judging it.

Every operation is written twice: once when it is invoked and once when it completes as
``ok`` (it happened), ``fail`` (it certainly did not happen) or ``info`` (unknown: it may or may
not have happened). Faults and runbook steps are recorded in the same history, by processes named
``fault`` and ``runbook``. Timestamps are monotonic nanoseconds (``time.monotonic_ns``) on the
harness host; ``wall_time`` is kept alongside for humans.

One JSON object per line; the format is documented in docs/evidence.md.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

__all__ = ["History", "Op", "OpType", "TaggedHistory", "read_history"]

Clock = Callable[[], int]
# One encoder for every line: json.dumps with non-default separators builds a new encoder per
# call, a few microseconds on each of the two records every operation writes. Same output.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


class OpType(StrEnum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One line of the history.

    ``index`` is the position in the history; ``process`` names the actor ("writer-0", "fault",
    "runbook", "checker"); ``f`` the function ("write", "read", "kill", "promote"). A completion
    carries the same ``process`` and ``f`` as its invocation and, for writes, the same ``value``.
    """

    index: int
    process: str
    type: OpType
    f: str
    value: Any = None
    time_ns: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "index": self.index,
            "process": self.process,
            "type": self.type.value,
            "f": self.f,
            "value": self.value,
            "time_ns": self.time_ns,
        }
        if self.error is not None:
            doc["error"] = self.error
        if self.extra:
            doc["extra"] = self.extra
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Op:
        return cls(
            index=int(doc["index"]),
            process=str(doc["process"]),
            type=OpType(doc["type"]),
            f=str(doc["f"]),
            value=doc.get("value"),
            time_ns=int(doc["time_ns"]),
            error=doc.get("error"),
            extra=dict(doc.get("extra") or {}),
        )

    @property
    def is_completion(self) -> bool:
        return self.type is not OpType.INVOKE


class History:
    """Thread-safe, append-only history, optionally streamed line by line to a JSONL file.

    Streaming means a drill that crashes still leaves every operation it recorded on disk.
    Writing never raises: the first ``OSError`` (a full disk, ENOSPC) is kept in
    :attr:`write_error`, streaming stops, every op is still kept in memory, and :meth:`close`
    tries once more to write the whole history (the disk may have room again by then).
    """

    def __init__(self, path: Path | None = None, clock: Clock = time.monotonic_ns) -> None:
        self._ops: list[Op] = []
        self._lock = threading.Lock()
        self._clock = clock
        self._file: IO[str] | None = None
        self.write_error: str | None = None  # the first OSError while streaming
        self.rewritten = False  # close() wrote the whole history after a write error
        self.path = path
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("a", encoding="utf-8")
            except OSError as e:
                self.write_error = f"{path}: {e}"

    def _failed(self, e: OSError) -> None:
        """Stop streaming after a write error (called with the lock held)."""
        if self.write_error is None:
            self.write_error = f"{self.path}: {e}"
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def now(self) -> int:
        return self._clock()

    def append(
        self,
        process: str,
        type: OpType,
        f: str,
        value: Any = None,
        *,
        error: str | None = None,
        time_ns: int | None = None,
        **extra: Any,
    ) -> Op:
        """Record an operation now (or at ``time_ns``) and return it with its index."""
        with self._lock:
            op = Op(
                index=len(self._ops),
                process=process,
                type=type,
                f=f,
                value=value,
                time_ns=self._clock() if time_ns is None else time_ns,
                error=error,
                extra=extra,
            )
            self._ops.append(op)
            if self._file is not None:
                try:
                    self._file.write(_ENCODE(op.to_json()) + "\n")
                except OSError as e:
                    self._failed(e)
        return op

    def invoke(self, process: str, f: str, value: Any = None, **extra: Any) -> Op:
        return self.append(process, OpType.INVOKE, f, value, **extra)

    def complete(
        self,
        invocation: Op,
        type: OpType,
        value: Any = None,
        *,
        error: str | None = None,
        time_ns: int | None = None,
        **extra: Any,
    ) -> Op:
        """Record the completion of ``invocation``; ``value`` defaults to the invocation's."""
        return self.append(
            invocation.process,
            type,
            invocation.f,
            invocation.value if value is None else value,
            error=error,
            time_ns=time_ns,
            **extra,
        )

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError as e:
                    self._failed(e)

    def close(self) -> None:
        """Close the file; after a write error, try once to write the complete history."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as e:
                    self._file = None
                    self._failed(e)
                self._file = None
            if self.write_error is not None and self.path is not None:
                self._rewrite(self.path)

    def _rewrite(self, path: Path) -> None:
        """Replace ``path`` with every op (atomically); on failure leave what is there."""
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as fh:
                for op in self._ops:
                    fh.write(_ENCODE(op.to_json()) + "\n")
            partial.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()
            return
        self.rewritten = True

    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def tagged(self, **tags: Any) -> History:
        """A view that appends to this history, merging ``tags`` into every op's ``extra``.

        An op's own extra fields win over a tag of the same name. Reading (``ops``, ``now``,
        ``len``) sees the whole underlying history.
        """
        return TaggedHistory(self, tags)

    @classmethod
    def of(cls, ops: Iterable[Op]) -> History:
        """A detached in-memory history holding ``ops`` (renumbered), for checkers and tests."""
        history = cls()
        history._ops = [replace(op, index=i) for i, op in enumerate(ops)]
        return history


class TaggedHistory(History):
    """:meth:`History.tagged`: the same history, every op it appends carrying the tags."""

    def __init__(self, base: History, tags: dict[str, Any]) -> None:  # no super(): a view
        self._base = base
        self.tags = dict(tags)
        self.path = base.path

    def now(self) -> int:
        return self._base.now()

    def append(
        self,
        process: str,
        type: OpType,
        f: str,
        value: Any = None,
        *,
        error: str | None = None,
        time_ns: int | None = None,
        **extra: Any,
    ) -> Op:
        merged = {**self.tags, **extra}
        return self._base.append(process, type, f, value, error=error, time_ns=time_ns, **merged)

    def flush(self) -> None:
        self._base.flush()

    def close(self) -> None:
        """Closing a view leaves the underlying history open (its owner closes it)."""

    def ops(self) -> list[Op]:
        return self._base.ops()

    def __len__(self) -> int:
        return len(self._base)


def read_history(path: Path) -> list[Op]:
    """Read a history.jsonl file written by :class:`History`. A torn last line is ignored."""
    ops: list[Op] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                ops.append(Op.from_json(json.loads(line)))
            except json.JSONDecodeError:
                break
    return ops
