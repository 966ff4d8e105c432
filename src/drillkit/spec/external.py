"""Drill-file models for stacks drillkit did not create: a Docker Compose project
(``kind: compose``) or containers chosen by name or label (``kind: containers``).

drillkit never starts, removes or labels these containers: it finds them (a Compose project by its
``com.docker.compose.project`` label, drillkit never runs ``compose up``/``down``), discovers the
roles (``pg_is_in_recovery()``), reaches each node at the port it publishes, and writes only into
a probe table of its own that it drops at the end. Credentials come from a file or an
environment variable, never from the drill file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drillkit.errors import EXIT_BAD_INPUT, DrillkitError

__all__ = [
    "ClientEndpoint",
    "ComposeTopology",
    "ContainersTopology",
    "ExternalConfirm",
    "ExternalCredentials",
    "ExternalSentinels",
    "ExternalTopology",
    "UnconfirmedTarget",
    "target_problem",
]

_NODE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_LABEL = re.compile(r"^[A-Za-z0-9._/-]{1,128}(=[^\s]{0,256})?$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_TARGET = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExternalCredentials(_Strict):
    """How drillkit logs in: a user and a password read from a file or an environment variable
    when the drill starts (never stored in the drill file, the history or the evidence)."""

    user: str = Field("postgres", min_length=1, max_length=63, description="database user")
    database: str = Field(
        "postgres", min_length=1, max_length=63, description="database the probe table goes in"
    )
    password_file: Path | None = Field(
        None, description="a file holding the password (its first line)"
    )
    password_env: str | None = Field(
        None, description="name of an environment variable holding the password"
    )

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not _ENV_NAME.match(v) or v.startswith("DRILLKIT_")):
            raise ValueError(f"{v!r} is not an environment variable name drillkit may read")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ExternalCredentials:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        return self


class ClientEndpoint(_Strict):
    """The application's write path as the application sees it (e.g. pgbouncer or HAProxy on a
    port the stack publishes). Default: every node, ``target_session_attrs=read-write``."""

    host: str = Field("127.0.0.1", min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class ExternalSentinels(_Strict):
    """The Sentinels of a Redis/Valkey stack (``engine: redis``): the application finds the
    master through them, and so does drillkit's workload (redis-py's Sentinel client)."""

    nodes: list[str] = Field(
        min_length=1,
        description="the Sentinels: Compose services (kind compose) or container names "
        "(kind containers)",
    )
    master_name: str = Field(
        "mymaster",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="the name the Sentinels monitor the master under",
    )
    port: int = Field(26379, ge=1, le=65535, description="the Sentinels' port in the containers")

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[str]) -> list[str]:
        return _node_names(v, "sentinel")


DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}


class _External(_Strict):
    engine: Literal["postgres", "redis"] = Field(
        "postgres",
        description="what the nodes run: postgres, or redis (Redis or Valkey with Sentinel; "
        "needs sentinel)",
    )
    port: int = Field(
        5432,
        ge=1,
        le=65535,
        description="the nodes' database port inside the containers (default 6379 for redis)",
    )
    sentinel: ExternalSentinels | None = Field(
        None, description="engine redis: the Sentinels and the master's name (required)"
    )
    credentials: ExternalCredentials = ExternalCredentials()
    client: ClientEndpoint | None = Field(
        None, description="the application's endpoint (default: every node, read-write)"
    )
    allow_promote: Literal[True] | None = Field(
        None,
        description="true: the promote step may run pg_promote() on the most advanced replica "
        "(default: refused; restore with your own shell step)",
    )

    @model_validator(mode="before")
    @classmethod
    def _engine_port(cls, data: object) -> object:
        if isinstance(data, dict) and "port" not in data and data.get("engine") in DEFAULT_PORTS:
            return {**data, "port": DEFAULT_PORTS[str(data["engine"])]}
        return data

    @model_validator(mode="after")
    def _engine_fields(self) -> _External:
        if self.engine == "redis":
            if self.sentinel is None:
                raise ValueError(
                    "engine redis needs sentinel: {nodes: [...], master_name: ...}: the "
                    "workload finds the master through the Sentinels, as the application does"
                )
            if self.allow_promote is not None:
                raise ValueError("allow_promote is PostgreSQL's (pg_promote); not for redis")
            if self.client is not None:
                raise ValueError("client is PostgreSQL's; a redis workload goes through sentinel")
            if set(self.sentinel.nodes) & set(self.data_node_names()):
                raise ValueError("a node is listed both as a data node and as a sentinel")
        elif self.sentinel is not None:
            raise ValueError("sentinel is for engine: redis")
        return self

    def sentinel_names(self) -> list[str]:
        return list(self.sentinel.nodes) if self.sentinel is not None else []

    def data_node_names(self) -> list[str]:
        """The declared database nodes (not the Sentinels)."""
        return []

    def node_names(self) -> list[str]:
        """The node names the drill may refer to (declared; discovery finds the rest)."""
        return [*self.data_node_names(), *self.sentinel_names()]

    def describe(self) -> str:
        """What the drill strikes, for messages (``compose project 'staging'``)."""
        return "a stack"

    def confirmation_problem(self, confirm: str | None) -> str | None:
        """Why ``external.confirm`` does not confirm this stack (None: it does)."""
        if confirm is None:
            return (
                f"missing; this drill strikes {self.describe()}, which drillkit did not "
                f"create: add external: {{confirm: {self._example()}}} and run it with "
                f"--target {self._example()}"
            )
        return None

    def _example(self) -> str:
        return "NAME"


def _node_names(names: list[str], what: str) -> list[str]:
    for name in names:
        if not _NODE.match(name):
            raise ValueError(
                f"{what} {name!r} cannot be a node name; use lowercase letters, digits and '-'"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"{what}s are listed twice")
    return names


class ComposeTopology(_External):
    """The database containers of a running Docker Compose project, found by the
    ``com.docker.compose.project`` label; a node is named after its service."""

    kind: Literal["compose"]
    project: str = Field(description="the Compose project name (docker compose ls)")
    file: Path | None = Field(
        None, description="the Compose file, only to name (and hash) it in the evidence"
    )
    services: list[str] = Field(
        default_factory=list,
        description="the services that are database nodes (default: every service that "
        "publishes the database port)",
    )

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not _PROJECT.match(v):
            raise ValueError(f"{v!r} is not a Compose project name")
        return v

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        return _node_names(v, "service")

    def data_node_names(self) -> list[str]:
        return list(self.services)

    def describe(self) -> str:
        return f"compose project {self.project!r}"

    def confirmation_problem(self, confirm: str | None) -> str | None:
        if confirm is not None and confirm != self.project:
            return (
                f"{confirm!r} is not the Compose project this drill strikes; "
                f"write confirm: {self.project} (topology.project)"
            )
        return super().confirmation_problem(confirm)

    def _example(self) -> str:
        return self.project


class ContainersTopology(_External):
    """Existing containers, chosen by name (``names``) or by a label (``label: key=value``); a
    node is named after its container."""

    kind: Literal["containers"]
    names: list[str] = Field(default_factory=list, description="the containers' names")
    label: str | None = Field(None, description="select every container with this label")

    @field_validator("names")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        return _node_names(v, "container name")

    @field_validator("label")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        if v is not None and (not _LABEL.match(v) or v.startswith("drillkit.")):
            raise ValueError(f"{v!r} is not a label selector (key or key=value)")
        return v

    @model_validator(mode="after")
    def _one_selector(self) -> ContainersTopology:
        if bool(self.names) == (self.label is not None):
            raise ValueError("select the containers by names or by label (one of them)")
        return self

    def data_node_names(self) -> list[str]:
        return list(self.names)

    def describe(self) -> str:
        if self.label is not None:
            return f"the containers labelled {self.label!r}"
        return f"the containers {', '.join(self.names)}"


class ExternalConfirm(_Strict):
    """The operator's confirmation that a drill may strike a stack drillkit did not create:
    ``confirm`` names the target (for ``kind: compose``, the project), and ``drillkit run``
    starts only with ``--target`` equal to it."""

    confirm: str = Field(
        pattern=_TARGET,
        description="the target's name: the Compose project (kind compose), or a name you give "
        "the containers (kind containers); drillkit run needs --target with the same name",
    )


class UnconfirmedTarget(DrillkitError):
    """A drill would strike a stack drillkit did not create without a matching ``--target``
    (``target=`` of :func:`~drillkit.drill.run_drill`); nothing was started."""

    exit_code = EXIT_BAD_INPUT


def target_problem(
    path: str, topology: object, confirm: str | None, targets: Sequence[str]
) -> str | None:
    """Why ``drillkit run --target ...`` may not start the drill at ``path`` (None: it may, or the
    topology is drillkit's own and needs no confirmation)."""
    describe = getattr(topology, "describe", None)
    if describe is None:
        return None
    if confirm is None:  # validation refuses this; a DrillSpec built in Python may skip it
        return (
            f"{path}: external.confirm: missing; {describe()} is not drillkit's: "
            "add external: {confirm: NAME}"
        )
    if not targets:
        return (
            f"{path}: external.confirm: this drill strikes {describe()}, which drillkit did not "
            f"create; confirm the target on the command line: --target {confirm}"
        )
    if confirm not in targets:
        given = ", ".join(repr(t) for t in targets)
        return (
            f"{path}: external.confirm is {confirm!r} but --target is {given}; "
            f"run it with --target {confirm} if {describe()} is the stack you mean to strike"
        )
    return None


ExternalTopology = ComposeTopology | ContainersTopology
