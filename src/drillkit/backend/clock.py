"""Reading the times backends record: RFC 3339 with up to nanosecond fractions."""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["rfc3339_ns"]

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def rfc3339_ns(stamp: str) -> int | None:
    """An RFC 3339 time with up to 9 fractional digits as ns since the epoch (None if the
    stamp is unset, e.g. Docker's ``0001-01-01T00:00:00Z``, or unreadable). ``fromisoformat``
    cannot take nanoseconds, so the fraction is read by hand."""
    match = _RFC3339.match(stamp.strip())
    if match is None:
        return None
    seconds, fraction, zone = match.groups()
    moment = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    if moment.year < 1970:
        return None
    return int(moment.timestamp()) * 10**9 + int((fraction or "0").ljust(9, "0"))
