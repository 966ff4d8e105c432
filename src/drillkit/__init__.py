"""drillkit: chaos and disaster-recovery drills with measured RPO and RTO.

The seams follow Jepsen: ``topology`` provisions nodes, ``workload`` issues operations and records
them in the ``history``, ``faults`` inject and heal, ``runbook`` restores service step by step,
``checkers`` turn the history into RPO, RTO and verdicts, and ``report`` writes the evidence.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
