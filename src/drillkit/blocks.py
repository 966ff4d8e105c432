"""A drill's building blocks, usable on their own: in a test, a script or a notebook.

    import time
    import drillkit
    from drillkit.spec import Targets

    with drillkit.deployment("pg-async-pair") as pg:        # a scenario name, a mapping or a model
        with pg.workload(rate=200) as writer:                # writes recorded in pg.history
            time.sleep(1)
            with pg.fault("pause", target="primary"):      # injected now, healed on leaving
                time.sleep(2)
            time.sleep(2)
        pg.final_read()                                      # what survived, into the history
        analysis = pg.analyze(Targets(rto_seconds=5))        # the same checkers as a drill

Everything is labelled and swept like a ``drillkit run`` (also when the block raises), faults
heal exactly what they injected, and the history is the same record a drill writes, so
:func:`drillkit.analyze` judges it. The pytest plugin's ``drillkit_deployment`` fixture wraps
:func:`deployment`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from drillkit.backend.node import Node
from drillkit.checkers import Analysis, analyze
from drillkit.faults import make_fault
from drillkit.faults.base import Fault
from drillkit.history import History, OpType
from drillkit.ownership import Heartbeat
from drillkit.platform import DockerPlatform, Platform
from drillkit.queries import FINAL_READ_PROCESS, encode_ids
from drillkit.resources import labels_for
from drillkit.secrets import Secrets
from drillkit.shipped import SCENARIOS
from drillkit.spec import FaultSpec, Targets, WorkloadSpec, scenario_model
from drillkit.spec.reader import read_yaml
from drillkit.topology.base import System
from drillkit.wait import WaitTimeout, wait_until
from drillkit.workload.base import Client, Workload

__all__ = ["Deployment", "deployment"]

_log = logging.getLogger("drillkit")


def _topology_model(topology: str | Path | Mapping[str, Any] | BaseModel) -> BaseModel:
    """A topology model from a scenario name (``./scenarios`` then the shipped ones), a scenario
    file, a mapping (``{"kind": "postgres", "replicas": 1}``) or a model."""
    if isinstance(topology, BaseModel):
        return topology
    if isinstance(topology, Mapping):
        data: Any = {"topology": dict(topology)}
    else:
        path = Path(topology)
        if path.suffix not in (".yaml", ".yml"):
            local = Path("scenarios") / f"{topology}.yaml"
            path = local if local.is_file() else SCENARIOS / f"{topology}.yaml"
        scenario = read_yaml(path)
        data = {"topology": scenario.get("topology") if isinstance(scenario, dict) else None}
    try:
        model: BaseModel = scenario_model().model_validate(data).topology  # type: ignore[attr-defined]
    except ValidationError as e:
        raise ValueError(f"not a topology: {e.errors()[0]['msg']}") from None
    return model


@dataclass
class Deployment:
    """A provisioned topology and its history; see the module's example."""

    system: System
    run_id: str
    topology: BaseModel
    platform: Platform
    history: History = field(default_factory=History)
    _client: Client | None = None

    @property
    def nodes(self) -> list[Node]:
        return list(self.system.nodes)

    def endpoints(self) -> Any:
        """How a client reaches it (:mod:`drillkit.endpoints`)."""
        return self.system.endpoints()

    def client(self) -> Client:
        """The workload's client (it owns the data it writes); created on first use."""
        if self._client is None:
            self._client = self.platform.workload_client(self.system, self.topology)
            self._client.prepare()
            self.system.prepare()
        return self._client

    @contextmanager
    def workload(self, **params: Any) -> Iterator[Workload]:
        """Write (and read back) while the block runs; ``params`` are the drill file's
        ``workload`` fields (``rate``, ``writers``, ``op_timeout_seconds``, ...)."""
        writer = self.client().make_workload(self.history, WorkloadSpec(**params))
        writer.start()
        writer.start_reads()
        try:
            yield writer
        finally:
            writer.stop()

    @contextmanager
    def fault(self, kind: str, **params: Any) -> Iterator[Fault]:
        """Inject fault ``kind`` (the drill file's parameters, e.g. ``target="primary"``) now;
        heal exactly what was injected when the block ends."""
        spec = TypeAdapter(FaultSpec).validate_python({"kind": kind, **params})
        fault = make_fault(spec)
        fault.inject(self.system, self.history)
        try:
            yield fault
        finally:
            fault.heal(self.system, self.history)

    def final_read(self, timeout: float = 15.0) -> list[int]:
        """Every surviving id, recorded in the history as a drill's final read."""
        read = self.history.invoke(FINAL_READ_PROCESS, "read")
        try:
            ids = wait_until(
                self.client().read_ids,
                until=lambda _ids: True,
                ignore=(Exception,),
                timeout=timeout,
                interval=0.2,
            )
        except WaitTimeout as e:
            self.history.complete(read, OpType.FAIL, error=str(e.last_error or e))
            raise
        self.history.complete(read, OpType.OK, value=encode_ids(ids), count=len(ids))
        return ids

    def analyze(self, targets: Targets, stable_window_seconds: float = 1.0) -> Analysis:
        """The history judged by the drill's checkers."""
        return analyze(self.history.ops(), targets, stable_window_seconds)


@contextmanager
def deployment(
    topology: str | Path | Mapping[str, Any] | BaseModel,
    *,
    platform: Platform | None = None,
    name: str = "deployment",
    keep: bool = False,
    progress: Callable[[str], None] = _log.info,
) -> Iterator[Deployment]:
    """Provision ``topology`` and yield a :class:`Deployment`; removed on leaving (unless
    ``keep``), whatever happened inside."""
    platform = DockerPlatform() if platform is None else platform
    model = _topology_model(topology)
    run_id = f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    heartbeat = Heartbeat(run_id).start()
    labels = labels_for(run_id, name, keep=keep, owner=heartbeat.labels())
    run_secrets = Secrets.generate(*platform.secret_names(model))
    swept = False
    try:
        platform.prepare(model, progress)
        started = time.monotonic()
        with platform.topology(
            model, run_id=run_id, labels=labels, secrets=run_secrets, progress=progress
        ) as system:
            progress(f"{run_id} ready in {time.monotonic() - started:.1f}s")
            system.keep = keep
            yield Deployment(system, run_id, model, platform)
    finally:
        if not keep:
            platform.sweep(run_id)
            swept = True
        heartbeat.stop(forget=swept)
