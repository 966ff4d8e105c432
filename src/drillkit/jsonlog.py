"""Structured logs (``--log-format json``): one JSON object per line, one line per drill event.

Live progress messages are logged as they happen (``event: "progress"``); when a drill ends its
timeline (steady state, each fault with requested and effective times, each runbook step with its
duration, detection, recovery, final read) is logged with the times the history recorded, then
the verdict with the measurements and the evidence path.

``context`` is merged into every event: ``drillkit run`` sets ``drill`` and ``run_id`` while a
drill runs, so progress events say which drill and run they belong to.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from drillkit.report.model import Report

__all__ = ["JsonLog"]


class JsonLog:
    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.context: dict[str, Any] = {}

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {
            "ts": self.clock().isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **self.context,
            **{k: v for k, v in fields.items() if v is not None},
        }
        stream = self.stream or sys.stderr
        stream.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        stream.flush()

    def progress(self, message: str) -> None:
        self.emit("progress", message=message)

    def drill_result(self, report: Report, report_dir: str, exit_code: int) -> None:
        data = report.as_json()  # the fields exactly as report.json has them
        ctx = {"drill": report.drill, "run_id": report.run_id}
        for e in data["timeline"]:
            at = e.get("at") or e.get("finished_at")
            fields = {k: v for k, v in e.items() if k not in ("event", "at")}
            self.emit(str(e["event"]), "info", **ctx, at=at, **fields)
        for check in data["checks"]:
            level = "info" if check["verdict"] == "pass" else "warning"
            self.emit("check", level, **ctx, **check)
        for note in report.notes:
            self.emit("note", "warning", **ctx, message=note)
        if report.error:
            self.emit("error", "error", **ctx, message=report.error)
        evidence = report.evidence
        for problem in evidence.errors if evidence else []:
            self.emit("evidence-error", "error", **ctx, message=problem)
        self.emit(
            "verdict",
            "info" if report.verdict == "pass" else "error",
            **ctx,
            verdict=report.verdict,
            exit_code=exit_code,
            measured=data["measured"],
            targets=data["targets"],
            evidence=report_dir,
            signed=evidence.signed if evidence else None,
        )
