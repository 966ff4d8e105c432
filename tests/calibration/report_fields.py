"""Reading report.json (the output under test) without knowing every field's final shape.

Some fields of issue 9 (the incident, per-fault attribution, resolution) are being added while
this suite is written; these helpers find them wherever they land, or say they are absent so the
test can xfail with a reason instead of crashing.
"""

from __future__ import annotations

from typing import Any

from tests.calibration.observer import iso_ns

NS = 1_000_000_000


def find_key(obj: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in ``obj`` (depth first)."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(find_key(v, key))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(find_key(v, key))
    return found


def first_number(value: Any, prefer: tuple[str, ...] = ()) -> float | None:
    """A number, or the first number in a mapping (keys in ``prefer`` first)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        for k in prefer:
            if isinstance(value.get(k), int | float):
                return float(value[k])
        for v in value.values():
            n = first_number(v, prefer)
            if n is not None:
                return n
    return None


def fault_events(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Timeline entries of injections of ``kind`` (not their heals)."""
    return [e for e in report.get("timeline", []) if e.get("event") == f"fault:{kind}"]


def effective_ns(report: dict[str, Any], kind: str) -> int | None:
    """Wall-clock ns at which drillkit says the first ``kind`` fault took effect."""
    for e in fault_events(report, kind):
        t = iso_ns(e.get("effective_at"))
        if t is not None:
            return t
    return None


def check_verdict(report: dict[str, Any], name: str) -> str | None:
    for c in report.get("checks", []):
        if name in str(c.get("name", "")):
            return str(c.get("verdict"))
    return None


def incident(report: dict[str, Any]) -> Any:
    """What the report names as the incident (shape chosen by the checker author), or None."""
    values = [v for v in find_key(report, "incident") if v not in (None, False)]
    # a spec echo of faults[].incident: true is not the report naming the incident
    values = [v for v in values if v is not True]
    return values[0] if values else None


def window_acknowledged(report: dict[str, Any], kind: str) -> float | None:
    """Acknowledged writes during the ``kind`` fault, from per-fault attribution, if reported."""
    for key in ("attribution", "faults", "per_fault"):
        for value in find_key(report.get("measured", {}), key) + find_key(report, key):
            entries = value if isinstance(value, list) else [value]
            for entry in entries:
                if not isinstance(entry, dict) or kind not in str(entry.get("kind", "")):
                    continue
                for k in ("acknowledged", "acknowledged_writes", "acked", "ok_writes"):
                    v = entry.get(k)
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        return float(v)
    return None
