"""Workload: clients that issue operations and record each in the history."""

from drillkit.workload.base import Pacer, Workload
from drillkit.workload.pg_writer import PgWriter

__all__ = ["Pacer", "PgWriter", "Workload"]
