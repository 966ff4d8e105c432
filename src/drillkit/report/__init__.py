"""Report: the evidence written from the history and the verdicts."""

from drillkit.report.console import print_summary
from drillkit.report.evidence import SCHEMA_VERSION, build_report, write_report
from drillkit.report.model import Report, load_report

__all__ = [
    "SCHEMA_VERSION",
    "Report",
    "build_report",
    "load_report",
    "print_summary",
    "write_report",
]
