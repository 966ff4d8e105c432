"""Workload: clients that issue operations and record each in the history."""

from drillkit.workload.base import Client, Pacer, Workload
from drillkit.workload.pg_writer import PgWriter

__all__ = ["Client", "Pacer", "PgWriter", "Workload"]
