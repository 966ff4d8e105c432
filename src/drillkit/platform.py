"""The runner's environment seam: where a drill's topology runs and what is swept afterwards.

:class:`Platform` is everything the runner asks of its environment; :class:`DockerPlatform` is
today's (a Docker engine, the node images, labelled resources and their sweep), and
:mod:`drillkit.testing.memory` has one in memory for tests that must not wait for containers.

Rules every implementation keeps: nothing is created before :meth:`Platform.topology`; a
failure to reach the environment raises :class:`~drillkit.errors.InfrastructureError`;
:meth:`Platform.sweep` removes whatever the run created (a no-op if nothing was) and may be
called whether or not the run got that far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from drillkit.images import ensure_image, image_for
from drillkit.images.catalog import DEFAULT_IMAGES, REDIS_IMAGES
from drillkit.resources import connect_engine, engine_problem, sweep, sweep_dead_runs
from drillkit.topology import TOPOLOGIES
from drillkit.topology.base import System
from drillkit.workload.base import Client
from drillkit.workload.clients import client_for_topology

__all__ = ["DockerPlatform", "EngineProbe", "Platform", "Progress"]

Progress = Callable[[str], None]


@runtime_checkable
class Platform(Protocol):
    """Where a drill runs: prepared once, then one topology, then swept."""

    def secret_names(self, topology: BaseModel) -> tuple[str, ...]:
        """The secrets the topology ``topology`` (a drill file's ``topology``) needs."""
        ...

    def sweep_dead_runs(self) -> str | None:
        """Remove what crashed runs left behind; a one-line summary if anything was removed."""
        ...

    def prepare(self, topology: BaseModel, progress: Progress) -> dict[str, str]:
        """Make sure the topology can be provisioned (images built); versions for the report."""
        ...

    def topology(
        self,
        topology: BaseModel,
        *,
        run_id: str,
        labels: dict[str, str],
        secrets: Any,
        progress: Progress,
    ) -> System:
        """The (not yet entered) system that provisions ``topology``."""
        ...

    def workload_client(self, system: System, topology: BaseModel) -> Client:
        """The workload's client for the entered ``system`` (it owns the data)."""
        ...

    def sweep(self, run_id: str) -> None:
        """Remove every resource of ``run_id``; raises if that failed."""
        ...


@runtime_checkable
class EngineProbe(Protocol):
    """A platform that can tell, at the end of a run, whether its engine still answers."""

    def engine_problem(self) -> str | None:
        """None if the engine answers (or was never reached); else what is wrong."""
        ...


class DockerPlatform:
    """A Docker engine (connected on first use), the node images and the labelled resources."""

    def __init__(self, connect: Callable[[], Any] | None = None) -> None:
        self._connect = connect or connect_engine
        self._client: Any = None
        self._image: str | None = None
        self._extra_images: dict[str, str] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    @staticmethod
    def _system_class(topology: BaseModel) -> Any:
        return TOPOLOGIES[str(getattr(topology, "kind", ""))]

    def secret_names(self, topology: BaseModel) -> tuple[str, ...]:
        return tuple(self._system_class(topology).SECRET_NAMES)

    def sweep_dead_runs(self) -> str | None:
        swept = sweep_dead_runs(self.client)
        return swept.summary() if swept else None

    def prepare(self, topology: BaseModel, progress: Progress) -> dict[str, str]:
        """Build the image of the topology's engine version if it is missing (its Debian suite's
        base first): setup builds only the default versions, another one is built here the
        first time a drill needs it, with progress messages (a few minutes)."""
        cls = self._system_class(topology)
        try:
            spec = image_for(topology)
        except KeyError:  # a stack drillkit did not create: its image runs only the helpers
            spec = DEFAULT_IMAGES[cls.IMAGE]
        self._image, base_id = ensure_image(self.client, spec, allow_pull=False, progress=progress)
        versions = {"base_image_id": base_id, "image": self._image, "debian": spec.suite}
        cache = getattr(topology, "cache", None)
        if cache is not None:  # topology.cache: the cache node runs drillkit's Redis image
            cache_spec = REDIS_IMAGES[(str(cache.engine), int(cache.version))]
            tag, _ = ensure_image(self.client, cache_spec, allow_pull=False, progress=progress)
            self._extra_images["cache"] = tag
            versions["cache_image"] = tag
        return versions

    def topology(
        self,
        topology: BaseModel,
        *,
        run_id: str,
        labels: dict[str, str],
        secrets: Any,
        progress: Progress,
    ) -> System:
        cls = self._system_class(topology)
        if self._image is None:
            raise RuntimeError("DockerPlatform.prepare() must run before topology()")
        system: System = cls(
            self.client,
            topology,
            run_id=run_id,
            labels=labels,
            image=self._image,
            secrets=secrets,
            progress=progress,
            **({"extra_images": dict(self._extra_images)} if self._extra_images else {}),
        )
        return system

    def workload_client(self, system: System, topology: BaseModel) -> Client:
        """Chosen by what the topology provides (see :mod:`drillkit.workload.clients`)."""
        run_id = str(getattr(system, "run_id", ""))  # names a probe table on a foreign stack
        return client_for_topology(topology, system.endpoints(), run_id=run_id)

    def sweep(self, run_id: str) -> None:
        if self._client is None:
            return  # never connected: nothing was created
        sweep(self._client, run_id)

    def engine_problem(self) -> str | None:
        if self._client is None:
            return None  # never connected: a failure to connect is already an error
        return engine_problem(self._client)
