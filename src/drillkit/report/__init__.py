"""Report: the evidence written from the history and the verdicts."""

from drillkit.report.console import print_summary
from drillkit.report.evidence import SCHEMA_VERSION, build_report, write_report

__all__ = ["SCHEMA_VERSION", "build_report", "print_summary", "write_report"]
