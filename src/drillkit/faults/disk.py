"""Storage faults: damage a node's data directory on its volume.

Files are changed by a short-lived helper that mounts the node's data volume
(:mod:`drillkit.topology.pg_storage`); helpers carry the run's labels, so a sweep removes one
that a crash left behind. PostgreSQL is stopped while its files change (a running server would
overwrite them from memory) with a *fast* shutdown.

Effective times: ``fill-disk`` and its heal are dated by a ``DRILLKIT-EFFECTIVE`` marker the
helper prints when ``dd`` hit ENOSPC / the file was deleted; the others when the action returned
(the damage is done with the node stopped, and it is in force once the node runs on it).
Overlaps: ``fill-disk`` is exclusive per node (rejected at validation); the other storage faults
have no heal and act once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.backend.node import Node
from drillkit.faults.base import (
    MARKER,
    Effect,
    FaultTopology,
    NodeFault,
    split_markers,
    wall_to_monotonic_ns,
)
from drillkit.faults.data import sql_topology
from drillkit.topology.pg_storage import (
    HelperError,
    data_volume,
    fast_shutdown,
    pgdata,
    run_helper,
    said,
    start_and_watch,
    volume_size,
)

__all__ = [
    "FILL_FILE",
    "Corrupt",
    "DeleteWal",
    "FillDisk",
    "HelperError",
    "WipeData",
]

FILL_FILE = "drillkit-fill"


def _offline(node: Node, work: Callable[[], str]) -> str:
    """Stop the node, change its files, start it again; also start it if the change failed, so a
    failed injection leaves the node as it was."""
    stopped = fast_shutdown(node)
    try:
        done = work()
    except BaseException:
        start_and_watch(node)
        raise
    return f"{node.name}: {stopped}; {done}; {start_and_watch(node)}"


class _VolumeFault(NodeFault):
    """A fault on the data volumes of the nodes its target resolves to at injection time."""

    heal_note = "nothing to undo (restoring is the runbook's job)"


_WIPE = r"""
d="$1"
entries=$(find "$d" -mindepth 1 | wc -l)
bytes=$(du -sb "$d" | cut -f1)
find "$d" -mindepth 1 -delete
left=$(find "$d" -mindepth 1 | wc -l)
[ "$left" -eq 0 ] || { echo "$left entries survived the delete" >&2; exit 3; }
echo "$entries|$bytes"
"""


class WipeData(_VolumeFault):
    """The node's disk is lost: stop it, delete everything in its data directory, leave it down.

    Starting it again would not bring it back as it was: an empty PGDATA makes the entrypoint
    initdb a new, empty primary or clone a replica afresh, which is a restore decision.
    """

    kind = "wipe-data"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        stopped = fast_shutdown(node)
        entries, size = run_helper(node, _WIPE).split("|")
        return (
            f"{node.name}: {stopped}; deleted {entries} files and directories ({size} bytes) "
            f"from {pgdata(node)} on volume {data_volume(node)}; left stopped"
        )


# The newest segments are those up to the latest checkpoint's REDO segment: names beyond it are
# recycled segments waiting for reuse, which hold nothing yet. Sorted by segment, then timeline.
_DELETE_WAL = r"""
d="$1"; n="$2"
control=$(pg_controldata "$d")
state=$(printf '%s\n' "$control" | sed -n 's/^Database cluster state: *//p')
redo=$(printf '%s\n' "$control" | sed -n "s/^Latest checkpoint's REDO WAL file: *//p")
[ -n "$redo" ] || { echo "pg_controldata shows no REDO WAL file" >&2; exit 3; }
cd "$d/pg_wal"
files=$(ls | grep -E '^[0-9A-F]{24}$' | awk -v r="$redo" 'substr($0, 9) <= substr(r, 9)' \
  | sort -k1.9,1.24 -k1.1,1.8 | tail -n "$n")
[ -n "$files" ] || { echo "pg_wal holds no segment up to $redo" >&2; exit 3; }
rm -- $files
echo "$state|$redo|$(echo $files)"
"""


class DeleteWal(_VolumeFault):
    """Delete the newest ``segments`` WAL segment files of a cleanly stopped node, start it again.

    The newest segment holds the checkpoint PostgreSQL must read to start at all.
    """

    kind = "delete-wal"

    def _value(self) -> dict[str, Any]:
        return {**super()._value(), "segments": self.spec.segments}

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        def delete() -> str:
            out = run_helper(node, _DELETE_WAL, str(self.spec.segments))
            state, redo, files = out.split("|")
            return (
                f"cluster state '{state}'; deleted {len(files.split())} WAL segment(s) up to the "
                f"latest checkpoint's REDO segment {redo}: {files}"
            )

        return _offline(node, delete)


_CORRUPT = r"""
d="$1"; rel="$2"; off="$3"; n="$4"
f="$d/$rel"
[ -f "$f" ] || { echo "$rel: no such file in the data directory" >&2; exit 3; }
size=$(stat -c %s "$f")
[ $((off + n)) -le "$size" ] || {
  echo "$rel holds $size bytes: cannot flip $n bytes at offset $off" >&2; exit 3; }
before=$(od -An -v -tx1 -j "$off" -N "$n" "$f" | tr -d ' \n')
esc=$(od -An -v -tu1 -j "$off" -N "$n" "$f" \
  | awk '{ for (i = 1; i <= NF; i++) printf "\\%03o", 255 - $i }')
printf "$esc" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
after=$(od -An -v -tx1 -j "$off" -N "$n" "$f" | tr -d ' \n')
echo "$size|$before|$after"
"""


def _check_flipped(before: str, after: str) -> None:
    old, new = bytes.fromhex(before), bytes.fromhex(after)
    if len(old) != len(new) or any(a ^ 0xFF != b for a, b in zip(old, new, strict=True)):
        raise HelperError(f"bytes were not flipped: {before[:64]} -> {after[:64]}")


class Corrupt(_VolumeFault):
    """Flip every bit of ``bytes`` bytes at ``offset`` in a table's first data file.

    CHECKPOINT first so the file holds the table's current pages; then a clean stop, so nothing
    in memory or in WAL rewrites the damaged page before someone reads it. With data checksums
    on, PostgreSQL reports the page on read; with them off it may return damaged rows silently.
    """

    kind = "corrupt"

    def _value(self) -> dict[str, Any]:
        spec = self.spec
        return {**super()._value(), "table": spec.table, "offset": spec.offset, "bytes": spec.bytes}

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        db = sql_topology(topology, self.kind)
        with db.connect(node) as conn:
            row = conn.execute(
                "SELECT pg_relation_filepath(%s::regclass), current_setting('data_checksums')",
                (self.spec.table,),
            ).fetchone()
            conn.execute("CHECKPOINT")
        assert row is not None
        relpath, checksums = str(row[0]), str(row[1])
        offset, count = self.spec.offset, self.spec.bytes

        def flip() -> str:
            out = run_helper(node, _CORRUPT, relpath, str(offset), str(count))
            size, before, after = out.split("|")
            _check_flipped(before, after)
            return (
                f"flipped bytes {offset}..{offset + count - 1} of {relpath} ({size} bytes, "
                f"table {self.spec.table}, block {offset // 8192}): {before[:32]} -> "
                f"{after[:32]}; data_checksums={checksums}"
            )

        return _offline(node, flip)


_FILL = r"""
d="$1"; f="$d/$2"
if dd if=/dev/zero of="$f" bs=1M 2>/tmp/dd.err; then
  echo "dd ended without filling the volume" >&2; exit 3
fi
echo "DRILLKIT-EFFECTIVE $(date +%s%N)"
grep -q "No space left on device" /tmp/dd.err || { cat /tmp/dd.err >&2; exit 3; }
echo "$(stat -c %s "$f")|$(df -B1 --output=avail "$d" | tail -n 1 | tr -d ' ')"
"""

_FREE = r"""
d="$1"; f="$d/$2"
size=0
if [ -e "$f" ]; then size=$(stat -c %s "$f"); fi
rm -f "$f"
echo "DRILLKIT-EFFECTIVE $(date +%s%N)"
data=no
if [ -s "$d/PG_VERSION" ]; then data=yes; fi
echo "$size|$data|$(df -B1 --output=avail "$d" | tail -n 1 | tr -d ' ')"
"""

_ENOSPC = "No space left on device"


def _marked(output: str) -> tuple[str, int | None]:
    """A helper's output without its marker, and the marker's time on the monotonic clock."""
    text, stamps = split_markers(output)
    return text, (wall_to_monotonic_ns(stamps[-1]) if stamps else None)


class FillDisk(_VolumeFault):
    """Fill the node's data volume with one file until 'No space left on device'.

    Refused unless the volume is size-limited (``topology.data_volume_size``): on an ordinary
    volume it would fill the Docker host's disk. Heal deletes exactly that file and, if
    PostgreSQL went down for want of space, starts the node again.
    """

    kind = "fill-disk"
    expected_latency_s = 0.5

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        volume = data_volume(node)
        size = volume_size(node)
        if size is None:
            raise RuntimeError(
                f"{node.name}'s data volume {volume} has no size limit; filling it would fill "
                "the Docker host's disk (set topology.data_volume_size)"
            )
        output, effective = _marked(run_helper(node, _FILL, FILL_FILE))
        written, free = output.split("|")
        return Effect(
            f"{node.name}: wrote {written} bytes to {pgdata(node)}/{FILL_FILE} until "
            f"'{_ENOSPC}' (volume limit {size}); {free} bytes free",
            effective,
            f"{MARKER} marker (dd hit ENOSPC)",
        )

    def _heal(self, topology: FaultTopology, node: Node) -> Effect:
        output, effective = _marked(run_helper(node, _FREE, FILL_FILE))
        how = f"{MARKER} marker (file deleted)"
        return Effect(self._restart_if_full(node, output), effective, how)

    def _restart_if_full(self, node: Node, output: str) -> str:
        freed, has_data, free = output.split("|")
        done = f"{node.name}: deleted {FILL_FILE} ({freed} bytes; {free} bytes free now)"
        status = node.status()
        if status != "exited":
            return f"{done}; PostgreSQL is {status}"
        lines = node.logs(tail=50).splitlines()
        down = f"PostgreSQL had exited with status {node.exit_code()}: {said(lines)}"
        if _ENOSPC not in node.logs(tail=200):
            return f"{done}; {down}; not for want of space, so left stopped"
        if has_data != "yes":
            return f"{done}; {down}; its data directory is empty, so left stopped"
        return f"{done}; {down}; {start_and_watch(node)}"
