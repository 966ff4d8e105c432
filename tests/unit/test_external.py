"""Stacks drillkit did not create: what a drill may do to them is decided at validation, discovery
reads only labels and port bindings, the probe table is the run's own, and the password never
leaves the run's secrets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from drillkit.backend.docker.attach import (
    COMPOSE_NUMBER,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    Found,
    attach_node,
    compose_containers,
    named_containers,
    published_port,
)
from drillkit.endpoints import PgEndpoints
from drillkit.errors import InfrastructureError
from drillkit.registry import Capability
from drillkit.secrets import Secrets
from drillkit.spec import DrillFileError, load_drill
from drillkit.spec.external import ComposeTopology, ExternalCredentials
from drillkit.topology.external import read_password
from drillkit.workload.base import Disposable
from drillkit.workload.clients import client_for
from drillkit.workload.pg_writer import PgClient, probe_name


def drill(topology: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "unit",
        "topology": {"kind": "compose", "project": "staging", **(topology or {})},
        "faults": [{"kind": "kill", "target": "primary"}],
        "targets": {"rto_seconds": 5},
        "external": {"confirm": "staging"},
    }
    doc.update(fields)
    return doc


def load(tmp_path: Path, doc: dict[str, Any]) -> Any:
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_drill(path)


def error(tmp_path: Path, doc: dict[str, Any]) -> DrillFileError:
    with pytest.raises(DrillFileError) as info:
        load(tmp_path, doc)
    return info.value


# -- validation: what an external topology provides -----------------------------------------------
def test_a_compose_drill_with_process_faults_and_a_shell_step_is_valid(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        drill(
            {"services": ["db-a", "db-b"], "credentials": {"password_env": "STAGING_PW"}},
            faults=[{"kind": "kill", "target": "primary"}, {"kind": "pause", "target": "db-b"}],
            runbook=[{"step": "shell", "run": "./promote.sh"}],
        ),
    )
    assert spec.topology.kind == "compose"
    assert spec.topology.node_names() == ["db-a", "db-b"]


@pytest.mark.parametrize(
    ("faults", "runbook", "field", "needs"),
    [
        ([{"kind": "drop-table"}], [], "faults[0].kind", "drop-table needs topology.kind"),
        ([{"kind": "wipe-data"}], [], "faults[0].kind", "wipe-data needs topology.kind"),
        ([{"kind": "kill"}], [{"step": "promote"}], "runbook[0].step", "promote needs"),
    ],
)
def test_faults_and_steps_an_external_stack_cannot_serve_are_refused(
    tmp_path: Path, faults: list[Any], runbook: list[Any], field: str, needs: str
) -> None:
    e = error(tmp_path, drill(faults=faults, runbook=runbook))
    assert e.field == field
    assert needs in e.problem


def test_promote_runs_on_an_external_stack_only_when_the_drill_allows_it(tmp_path: Path) -> None:
    e = error(tmp_path, drill(runbook=[{"step": "promote"}]))
    assert e.field == "runbook[0].step"
    assert e.problem == (
        "promote needs permission to promote a replica of your stack: "
        "set topology.allow_promote (allow_promote: true)"
    )
    allowed = load(tmp_path, drill({"allow_promote": True}, runbook=[{"step": "promote"}]))
    assert allowed.runbook[0].step == "promote"


def test_a_target_that_is_no_declared_service_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, drill({"services": ["db"]}, faults=[{"kind": "kill", "target": "cache"}]))
    assert e.field == "faults[0]"
    assert "'cache' is not a node of this topology" in e.problem


def test_containers_are_chosen_by_names_or_by_label(tmp_path: Path) -> None:
    def containers(**fields: Any) -> dict[str, Any]:
        doc = drill()
        doc["topology"] = {"kind": "containers", **fields}
        return doc

    assert "names or by label" in str(error(tmp_path, containers()))
    both = containers(names=["pg"], label="app=staging")
    assert "names or by label" in str(error(tmp_path, both))
    assert "not a label selector" in str(error(tmp_path, containers(label="drillkit.run=x")))
    assert load(tmp_path, containers(label="app=staging")).topology.label == "app=staging"


def test_credentials_come_from_one_source_and_never_drillkits_own_variables(
    tmp_path: Path,
) -> None:
    both = {"credentials": {"password_env": "PW", "password_file": "/run/pw"}}
    assert "not both" in str(error(tmp_path, drill(both)))
    own = {"credentials": {"password_env": "DRILLKIT_SIGNING_KEY"}}
    assert "may read" in str(error(tmp_path, drill(own)))
    inline = {"credentials": {"password": "hunter2"}}
    assert "password" in str(error(tmp_path, drill(inline)))  # no inline password field


# -- credentials --------------------------------------------------------------------------------
def test_the_password_is_read_from_a_file_or_a_variable(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    file.write_text("s3cret-pass\nignored\n")
    assert read_password(ExternalCredentials(password_file=file)) == "s3cret-pass"
    env = ExternalCredentials(password_env="STAGING_PW")
    assert read_password(env, {"STAGING_PW": "from-env"}) == "from-env"
    with pytest.raises(InfrastructureError, match="STAGING_PW is not set"):
        read_password(env, {})
    with pytest.raises(InfrastructureError, match="cannot read"):
        read_password(ExternalCredentials(password_file=tmp_path / "missing"))
    assert read_password(ExternalCredentials()) == ""


def test_a_password_added_to_the_runs_secrets_is_redacted_however_short() -> None:
    secrets = Secrets.generate("postgres")
    secrets.add("external", "pw1")
    assert secrets.redact("password=pw1 host=x") == "password=*** host=x"


# -- discovery (a fake engine: labels and port bindings only) ------------------------------------
def container(name: str, labels: dict[str, str], ports: dict[str, Any] | None = None) -> Any:
    bindings = ports or {}
    return SimpleNamespace(
        name=name,
        id=f"id-{name}",
        status="running",
        attrs={
            "Config": {"Labels": labels},
            "HostConfig": {"PortBindings": bindings},
            "NetworkSettings": {"Ports": bindings, "Networks": {"staging_default": {}}},
        },
    )


class FakeContainers:
    def __init__(self, containers: list[Any]) -> None:
        self.all = containers
        self.asked: list[Any] = []

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[Any]:
        self.asked.append(filters)
        key, _, value = str((filters or {})["label"]).partition("=")
        return [c for c in self.all if c.attrs["Config"]["Labels"].get(key) == value]

    def get(self, name: str) -> Any:
        import docker.errors

        for c in self.all:
            if c.name == name:
                return c
        raise docker.errors.NotFound(name)


def compose(service: str, number: int = 1, project: str = "staging") -> Any:
    labels = {COMPOSE_PROJECT: project, COMPOSE_SERVICE: service, COMPOSE_NUMBER: str(number)}
    port = {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(15432 + number)}]}
    return container(f"{project}-{service}-{number}", labels, port)


def test_a_compose_project_is_found_by_its_label_and_nodes_are_named_after_services() -> None:
    engine = SimpleNamespace(
        containers=FakeContainers(
            [compose("db", 2), compose("db", 1), compose("cache"), compose("db", project="other")]
        )
    )
    found = compose_containers(engine, "staging", [])
    assert [(f.name, f.container.name) for f in found] == [
        ("cache", "staging-cache-1"),
        ("db-1", "staging-db-1"),
        ("db-2", "staging-db-2"),
    ]
    assert [f.name for f in compose_containers(engine, "staging", ["cache"])] == ["cache"]
    assert engine.containers.asked[0] == {"label": f"{COMPOSE_PROJECT}=staging"}


def test_containers_are_found_by_name_or_label() -> None:
    a = container("pg-a", {"team": "payments"})
    b = container("pg-b", {"team": "search"})
    engine = SimpleNamespace(containers=FakeContainers([a, b]))
    assert [f.name for f in named_containers(engine, ["pg-b"], None)] == ["pg-b"]
    assert [f.name for f in named_containers(engine, [], "team=payments")] == ["pg-a"]
    with pytest.raises(LookupError, match="no container named 'pg-c'"):
        named_containers(engine, ["pg-c"], None)


def test_only_ports_reachable_on_loopback_are_used() -> None:
    loopback = container("a", {}, {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "6543"}]})
    anywhere = container("b", {}, {"5432/tcp": [{"HostIp": "0.0.0.0", "HostPort": "6544"}]})
    elsewhere = container("c", {}, {"5432/tcp": [{"HostIp": "10.0.0.5", "HostPort": "6545"}]})
    assert published_port(loopback, 5432) == 6543
    assert published_port(anywhere, 5432) == 6544
    assert published_port(elsewhere, 5432) is None
    assert published_port(loopback, 6379) is None


def test_attaching_reads_ports_and_labels_nothing() -> None:
    c = compose("db")
    labels_before = dict(c.attrs["Config"]["Labels"])
    node = attach_node(
        None,
        Found("db", c),
        role="unknown",
        container_ports=[5432],
        labels={"drillkit.run": "r"},
        helper_image="drillkit/postgres",
    )
    assert (node.port(5432), node.network, node.labels) == (
        15433,
        "staging_default",
        {"drillkit.run": "r"},
    )
    assert c.attrs["Config"]["Labels"] == labels_before
    with pytest.raises(LookupError, match="port 6379 is not published"):
        attach_node(
            None,
            Found("db", c),
            role="unknown",
            container_ports=[6379],
            labels={},
            helper_image="x",
        )


# -- the workload's probe table -----------------------------------------------------------------
def test_the_probe_table_is_the_runs_own_valid_identifier() -> None:
    a = probe_name("external-failover-20261201T034105Z-cb7996")
    b = probe_name("external-failover-20261201T034105Z-cb7997")
    assert a.startswith("drillkit_probe_") and a != b
    assert len(probe_name("x" * 200 + "-abc")) <= 63
    assert probe_name("x" * 200 + "-abc").endswith("_abc")


def _endpoints() -> PgEndpoints:
    return PgEndpoints(client=lambda: "host=a", running_client=lambda: "host=a", node=lambda n: n)


def test_an_external_stack_gets_a_probe_client_that_drops_its_table() -> None:
    client = client_for({Capability.PROBE_TABLE}, _endpoints(), "drill-20261201T000000Z-abcdef")
    assert isinstance(client, PgClient) and isinstance(client, Disposable)
    assert client.table == probe_name("drill-20261201T000000Z-abcdef") and client.drop
    own = client_for({Capability.SQL}, _endpoints())
    assert isinstance(own, PgClient) and own.table == "drillkit_writes" and not own.drop
    assert own.dispose() is None  # drillkit's own topologies: the containers go, not the table


def test_a_probe_table_that_cannot_be_dropped_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from drillkit.workload import pg_writer

    def drop(conninfo: str, only: str | None = None, *, dry_run: bool = False) -> list[str]:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(pg_writer, "drop_probe_tables", drop)
    client = PgClient(_endpoints(), table="drillkit_probe_x", drop=True)
    assert client.dispose() == "probe table drillkit_probe_x left over: connection refused"


def test_a_table_name_that_is_no_plain_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="not a table name"):
        PgClient(_endpoints(), table='x"; DROP TABLE users; --')


def test_compose_topology_names_the_file_only_for_evidence() -> None:
    spec = ComposeTopology(kind="compose", project="staging", file=Path("deploy/compose.yaml"))
    assert spec.file == Path("deploy/compose.yaml") and spec.services == []


# -- endpoints and a shell step's view ----------------------------------------------------------
def _system(environ: dict[str, str], **topology: Any) -> Any:
    from drillkit.topology.external import ExternalPostgres

    spec = ComposeTopology(
        kind="compose",
        project="staging",
        credentials=ExternalCredentials(password_env="PW"),
        **topology,
    )
    system = ExternalPostgres(
        None, spec, run_id="r", labels={}, image="", secrets=Secrets(), environ=environ
    )
    system._password = environ["PW"]
    nodes = []
    for name, port in (("db-a", 15432), ("db-b", 15433)):
        c = compose(name)
        c.name = f"staging-{name}-1"
        node = attach_node(
            None,
            Found(name, c),
            role="replica",
            container_ports=[5432],
            labels={},
            helper_image="",
        )
        node.ports = {5432: port}
        nodes.append(node)
    system.nodes = nodes
    return system


def test_the_client_path_is_the_declared_endpoint_else_every_node_read_write() -> None:
    from psycopg.conninfo import conninfo_to_dict

    system = _system({"PW": "pa:ss"})
    default = conninfo_to_dict(system.endpoints().client())
    assert default["host"] == "127.0.0.1,127.0.0.1" and default["port"] == "15432,15433"
    assert default["target_session_attrs"] == "read-write" and default["password"] == "pa:ss"
    proxied = _system({"PW": "pa:ss"}, client={"port": 6432})
    declared = conninfo_to_dict(proxied.endpoints().client())
    assert (declared["host"], declared["port"]) == ("127.0.0.1", "6432")
    assert declared["target_session_attrs"] == "read-write"


def test_a_shell_step_sees_nodes_and_a_password_file_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    system = _system({"PW": "pa:ss"})
    monkeypatch.setattr(system, "current_primary", lambda: system.nodes[0])
    env = system.shell_environment(inside=False)
    assert env["DK_NODES"] == "db-a db-b"
    assert (env["DK_PRIMARY"], env["DK_PRIMARY_PORT"]) == ("db-a", "15432")
    assert env["DK_DB_B_CONTAINER"] == "staging-db-b-1"
    assert not any("pa:ss" in v for v in env.values())
    inside = system.shell_environment(inside=True)
    assert (inside["DK_DB_B_HOST"], inside["DK_DB_B_PORT"]) == ("staging-db-b-1", "5432")
    pgpass = system.secret_files(inside=False)["pgpass"]
    assert "127.0.0.1:15433:*:postgres:pa\\:ss" in pgpass.splitlines()


# -- the runner disposes of the probe table, also after Ctrl-C ---------------------------------
class _DisposingPlatform:
    """The in-memory platform, whose client owns a probe table it reports left over or not."""

    def __init__(self, leftover: str | None, interrupt: bool) -> None:
        from drillkit.testing import MemoryPlatform

        def stop() -> None:
            raise KeyboardInterrupt

        self.inner = MemoryPlatform(on_promote=stop) if interrupt else MemoryPlatform()
        self.leftover = leftover
        self.disposed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def workload_client(self, system: Any, topology: Any) -> Any:
        client = self.inner.workload_client(system, topology)
        outer = self

        class Probe(type(client)):  # type: ignore[misc]
            def dispose(self) -> str | None:
                outer.disposed += 1
                return outer.leftover

        client.__class__ = Probe
        return client


@pytest.mark.parametrize("interrupt", [False, True])
def test_the_runner_disposes_of_the_probe_table_and_reports_a_leftover(
    tmp_path: Path, interrupt: bool
) -> None:
    import time as _time

    from drillkit.drill import run_drill
    from drillkit.history import read_history
    from drillkit.spec import DrillSpec

    spec = load_drill(Path(__file__).resolve().parents[2] / "drills" / "failover.yaml")
    doc = spec.model_dump(mode="json", exclude_unset=True)
    doc["workload"]["stable_window_seconds"] = 0.05
    platform = _DisposingPlatform("probe table drillkit_probe_x left over: down", interrupt)

    result = run_drill(
        DrillSpec.model_validate(doc),
        drill_file="drills/failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
        sleep=lambda s: _time.sleep(s / 20),
        platform=platform,  # type: ignore[arg-type]
    )

    assert result.interrupted is interrupt
    assert platform.disposed == 1
    ops = read_history(result.report_dir / "history.jsonl")
    leftovers = [o for o in ops if o.f == "dispose"]
    assert [o.error for o in leftovers] == ["probe table drillkit_probe_x left over: down"]


# -- evidence: which engine, which Compose configuration -----------------------------------------
def test_the_engine_is_named_by_its_endpoint_id_and_version() -> None:
    from drillkit.backend.docker.attach import engine_identity

    engine = SimpleNamespace(
        info=lambda: {"ID": "ABCD:EF", "Name": "dockerhost", "DockerRootDir": "/var/lib/docker"},
        version=lambda: {"Version": "20.10.24", "ApiVersion": "1.41"},
    )

    assert engine_identity(engine, {"DOCKER_HOST": "tcp://127.0.0.1:23750"}) == {
        "endpoint": "tcp://127.0.0.1:23750",
        "daemon_id": "ABCD:EF",
        "daemon_name": "dockerhost",
        "daemon_version": "20.10.24",
        "root_dir": "/var/lib/docker",
        "api_version": "1.41",
    }
    assert engine_identity(engine, {})["endpoint"] == "unix:///var/run/docker.sock"


def test_compose_labels_name_the_configuration_compose_ran() -> None:
    from drillkit.backend.docker.attach import compose_labels

    c = compose("db")
    c.attrs["Config"]["Labels"].update(
        {
            "com.docker.compose.config-hash": "9f2c",
            "com.docker.compose.project.config_files": "/srv/staging/compose.yaml",
            "com.docker.compose.version": "1.29.2",
        }
    )

    assert compose_labels(c) == {
        "config_hash": "9f2c",
        "config_files": "/srv/staging/compose.yaml",
        "compose_version": "1.29.2",
    }
    assert compose_labels(container("plain", {})) == {}
