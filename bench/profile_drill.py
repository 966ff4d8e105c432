"""Where a drill's wall time goes: run one drill with in-process timers around its phases.

    .venv/bin/python bench/profile_drill.py [DRILL] [--repeat N] [--logs]

Prints, per run, the wall time of ``run_drill`` beside what the drill declares, then a timeline
(seconds since ``run_drill`` was called, + duration) of the phases: provisioning (containers
started, readiness wait), the steady-state gate, the runbook, the final read, evidence
collection, teardown, judging and the evidence bundle (HTML, summary, report.json, redaction,
manifest). ``--logs`` adds each node's own log lines with the engine's timestamps (the
observer for what happened inside the containers: the primary accepting connections, the base
backup's checkpoint, the replica streaming), read just before teardown.

The numbers are timers around drillkit's own functions, not a model: a phase missing from the
timeline took no measurable time or is not wrapped. Exit status 0 whatever was measured.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from drillkit.drill import run_drill
from drillkit.spec import load_drill

ROOT = Path(__file__).resolve().parent.parent

# (module, class or "", function): wrapped where the drill runner looks them up
PHASES = [
    ("drillkit.platform", "DockerPlatform", "sweep_dead_runs"),
    ("drillkit.platform", "DockerPlatform", "prepare"),
    ("drillkit.topology.containers", "ContainerTopology", "__enter__"),
    ("drillkit.topology.containers", "ContainerTopology", "create_network"),
    ("drillkit.topology.containers", "ContainerTopology", "start_nodes"),
    ("drillkit.topology.containers", "ContainerTopology", "await_ready"),
    ("drillkit.drill", "", "await_steady_state"),
    ("drillkit.drill", "", "run_runbook"),
    ("drillkit.faults.nemesis", "Nemesis", "wait"),
    ("drillkit.drill", "", "_final_read"),
    ("drillkit.drill", "", "collect_system_evidence"),
    ("drillkit.topology.containers", "ContainerTopology", "stop"),
    ("drillkit.platform", "DockerPlatform", "sweep"),
    ("drillkit.drill", "", "analyze"),
    ("drillkit.drill", "", "build_report"),
    ("drillkit.drill", "", "finalize_evidence"),
    ("drillkit.report.finalize", "", "render_html"),
    ("drillkit.report.finalize", "", "render_markdown"),
    ("drillkit.report.finalize", "", "write_report"),
    ("drillkit.report.finalize", "", "_scrub"),
    ("drillkit.report.finalize", "", "write_manifest"),
]

Event = tuple[str, float, float]  # label, start (s since the run began), duration


class Timeline:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.t0_wall = time.time()
        self.events: list[Event] = []

    def wrap(self, module: str, owner: str, name: str) -> None:
        mod = importlib.import_module(module)
        target: Any = getattr(mod, owner) if owner else mod
        fn: Callable[..., Any] = getattr(target, name)
        label = f"{owner}.{name}" if owner else name

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.events.append((label, started - self.t0, time.perf_counter() - started))

        setattr(target, name, timed)

    def mark(self, label: str) -> None:
        self.events.append((label, time.perf_counter() - self.t0, 0.0))

    def node_logs(self, system: Any) -> None:
        """Each node's log lines, dated by the engine, on this timeline."""
        for node in system.nodes:
            container = getattr(node, "container", None)
            if container is None:
                continue
            for line in container.logs(timestamps=True).decode(errors="replace").splitlines():
                stamp, _, text = line.partition(" ")
                try:
                    at = datetime.fromisoformat(stamp[:26] + "+00:00").timestamp()
                except ValueError:
                    continue
                self.events.append((f"{node.name}: {text[:100]}", at - self.t0_wall, 0.0))


def instrument(logs: bool) -> Timeline:
    """Wrap the phases (once per process) and, with ``logs``, read node logs before teardown."""
    timeline = Timeline()
    for module, owner, name in PHASES:
        timeline.wrap(module, owner, name)
    if logs:
        import drillkit.drill as runner

        collect = runner.collect_system_evidence

        def with_logs(system: Any, history: Any) -> None:
            timeline.node_logs(system)
            collect(system, history)

        runner.collect_system_evidence = with_logs
    return timeline


def profile(timeline: Timeline, drill: Path, report_root: Path) -> None:
    timeline.events.clear()
    spec = load_drill(drill)
    timeline.t0, timeline.t0_wall = time.perf_counter(), time.time()
    result = run_drill(
        spec,
        drill_file=str(drill),
        report_root=report_root,
        progress=lambda m: timeline.mark("progress: " + m[:80]),
    )
    wall = time.perf_counter() - timeline.t0
    declared = spec.declared_seconds()
    print(
        f"{drill.name}: wall {wall:.3f} s, declared {declared:g} s, overhead "
        f"{wall - declared:.3f} s (exit {result.exit_code}, RTO {result.rto_seconds})"
    )
    for label, at, took in sorted(timeline.events, key=lambda e: e[1]):
        print(f"  {at:7.3f}  +{took:6.3f}  {label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("drill", nargs="?", default=str(ROOT / "drills/failover.yaml"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--logs", action="store_true", help="add the nodes' own log lines")
    args = parser.parse_args(argv)
    timeline = instrument(args.logs)
    with tempfile.TemporaryDirectory(prefix="drillkit-profile-") as tmp:
        for _ in range(args.repeat):
            profile(timeline, Path(args.drill), Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
