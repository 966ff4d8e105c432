"""A Redis (or Valkey) + Sentinel stack drillkit did not create: the drill-file fields, what the
registry lets a drill do to it, and the workload's probe key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.endpoints import RedisEndpoints
from drillkit.plan import PlannedNode, plan_drill, render_plan
from drillkit.registry import REGISTRY, Capability
from drillkit.spec import DrillFileError, load_drill
from drillkit.workload.base import Disposable
from drillkit.workload.clients import client_for, client_for_topology
from drillkit.workload.redis_writer import RedisClient, probe_key

SENTINEL = {"nodes": ["sentinel-1", "sentinel-2", "sentinel-3"], "master_name": "shop"}


def drill(topology: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "unit",
        "topology": {
            "kind": "compose",
            "project": "staging",
            "engine": "redis",
            "services": ["cache-a", "cache-b"],
            "sentinel": SENTINEL,
            **(topology or {}),
        },
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


def test_a_redis_stack_is_declared_with_its_sentinels_and_gets_the_redis_port(
    tmp_path: Path,
) -> None:
    spec = load(
        tmp_path,
        drill(
            faults=[
                {"kind": "kill", "target": "primary"},
                {"kind": "pause", "target": "sentinel-2"},
                {"kind": "isolate", "target": "replica"},
            ],
            runbook=[{"step": "shell", "run": "./wait-failover.sh"}],
        ),
    )
    topology = spec.topology
    assert (topology.engine, topology.port) == ("redis", 6379)
    assert (topology.sentinel.port, topology.sentinel.master_name) == (26379, "shop")
    assert topology.node_names() == ["cache-a", "cache-b", *SENTINEL["nodes"]]
    provided = REGISTRY.topologies["compose"].provided(topology)
    assert Capability.PROBE_KEYS in provided
    assert Capability.PROBE_TABLE not in provided


def test_postgres_stays_the_default_engine_with_its_port(tmp_path: Path) -> None:
    doc = drill()
    doc["topology"] = {"kind": "compose", "project": "staging"}
    spec = load(tmp_path, doc)
    assert (spec.topology.engine, spec.topology.port) == ("postgres", 5432)
    assert REGISTRY.topologies["compose"].provided(spec.topology) == {Capability.PROBE_TABLE}


def test_an_explicit_port_wins_over_the_engines_default(tmp_path: Path) -> None:
    assert load(tmp_path, drill({"port": 6380})).topology.port == 6380


@pytest.mark.parametrize(
    ("topology", "problem"),
    [
        ({"sentinel": None}, "engine redis needs sentinel"),
        ({"allow_promote": True}, "allow_promote is PostgreSQL's"),
        ({"client": {"port": 6379}}, "client is PostgreSQL's"),
        ({"services": ["sentinel-1"]}, "both as a data node and as a sentinel"),
        ({"engine": "postgres", "port": 5432}, "sentinel is for engine: redis"),
        ({"engine": "mysql"}, "expected 'postgres' or 'redis'"),
        ({"sentinel": {"nodes": []}}, "at least 1 item"),
        ({"sentinel": {"nodes": ["Bad_Name"]}}, "cannot be a node name"),
    ],
)
def test_inconsistent_redis_fields_are_refused(
    tmp_path: Path, topology: dict[str, Any], problem: str
) -> None:
    doc = drill(topology)
    doc["topology"] = {k: v for k, v in doc["topology"].items() if v is not None}
    e = error(tmp_path, doc)
    assert e.field.startswith("topology")
    assert problem in e.problem


@pytest.mark.parametrize(
    ("faults", "runbook", "field", "needs"),
    [
        ([{"kind": "flushall"}], [], "faults[0].kind", "flushall needs topology.kind: redis"),
        (
            [{"kind": "delete-redis-files"}],
            [],
            "faults[0].kind",
            "delete-redis-files needs topology.kind: redis",
        ),
        ([{"kind": "drop-table"}], [], "faults[0].kind", "drop-table needs topology.kind"),
        (
            [{"kind": "kill"}],
            [{"step": "wait-sentinel-failover"}],
            "runbook[0].step",
            "wait-sentinel-failover needs topology.kind: redis",
        ),
        ([{"kind": "kill"}], [{"step": "redis-promote"}], "runbook[0].step", "redis-promote"),
    ],
)
def test_data_faults_and_drillkit_only_steps_are_refused_on_a_redis_stack(
    tmp_path: Path, faults: list[Any], runbook: list[Any], field: str, needs: str
) -> None:
    e = error(tmp_path, drill(faults=faults, runbook=runbook))
    assert e.field == field
    assert needs in e.problem


def test_the_confirmation_still_names_the_project(tmp_path: Path) -> None:
    e = error(tmp_path, drill(external={"confirm": "prod"}))
    assert "not the Compose project this drill strikes" in e.problem


def test_containers_select_data_nodes_and_sentinels_by_name(tmp_path: Path) -> None:
    doc = drill()
    doc["topology"] = {
        "kind": "containers",
        "names": ["r1", "r2"],
        "engine": "redis",
        "sentinel": {"nodes": ["s1"]},
    }
    spec = load(tmp_path, doc)
    assert spec.topology.node_names() == ["r1", "r2", "s1"]
    assert spec.topology.sentinel.master_name == "mymaster"


def _endpoints() -> RedisEndpoints:
    return RedisEndpoints(
        sentinels=[("127.0.0.1", 26379)],
        master_name="mymaster",
        password="pw",
        publish=lambda host, port: (host, port),
        node=lambda name: ("127.0.0.1", 6379),
        master=lambda: "cache-a",
    )


def test_the_probe_key_is_the_runs_own() -> None:
    assert probe_key("20261201-0700-Ab12") == "drillkit_probe_20261201_0700_ab12:ids"
    with pytest.raises(ValueError, match="cannot name a probe key"):
        probe_key("--")


def test_a_redis_stack_gets_a_probe_client_that_deletes_its_key(tmp_path: Path) -> None:
    spec = load(tmp_path, drill())
    client = client_for_topology(spec.topology, _endpoints(), run_id="r1")
    assert isinstance(client, RedisClient)
    assert (client.key, client.delete) == ("drillkit_probe_r1:ids", True)
    assert isinstance(client, Disposable)
    with pytest.raises(ValueError, match="give run_id"):
        client_for({Capability.PROBE_KEYS}, _endpoints())
    own = client_for({Capability.REDIS}, _endpoints())
    assert isinstance(own, RedisClient)
    assert (own.key, own.delete, own.dispose()) == ("drillkit:ids", False, None)


class _FakeRedis:
    def __init__(self, calls: list[Any], fail: bool) -> None:
        self.calls, self.fail = calls, fail

    def __enter__(self) -> _FakeRedis:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def delete(self, *keys: str) -> int:
        if self.fail:
            raise ConnectionError("master down")
        self.calls.append(("DEL", *keys))
        return 1


def test_dispose_deletes_exactly_the_runs_key_and_reports_a_leftover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    client = RedisClient(_endpoints(), key=probe_key("r1"), delete=True)
    monkeypatch.setattr(client, "_master_client", lambda: _FakeRedis(calls, fail=False))
    assert client.dispose() is None
    assert calls == [("DEL", "drillkit_probe_r1:ids")]
    monkeypatch.setattr(client, "_master_client", lambda: _FakeRedis(calls, fail=True))
    assert client.dispose() == "probe key drillkit_probe_r1:ids left over: master down"


def test_the_plan_of_a_redis_stack_names_master_and_sentinels_and_the_probe_key(
    tmp_path: Path,
) -> None:
    nodes = [
        PlannedNode("cache-a", "primary", "staging-cache-a-1", "a" * 64, "redis", "running", 16379),
        PlannedNode("cache-b", "replica", "staging-cache-b-1", "b" * 64, "redis", "running", 16380),
        *(
            PlannedNode(s, "sentinel", f"staging-{s}-1", "c" * 64, "redis", "running", 26379)
            for s in SENTINEL["nodes"]
        ),
    ]
    spec = load(
        tmp_path,
        drill(
            faults=[
                {"kind": "kill", "target": "primary"},
                {"kind": "pause", "target": "sentinel-2", "duration": 1},
            ]
        ),
    )

    p = plan_drill(spec, file="x.yaml", survey=lambda _t: (nodes, {}))

    kill, pause = p.injections
    assert (kill.nodes, kill.containers) == (["cache-a"], ["staging-cache-a-1"])
    assert (pause.nodes, pause.containers) == (["sentinel-2"], ["staging-sentinel-2-1"])
    assert "\n".join(render_plan(p)).endswith("final read, delete the probe key")


# -- discovery and the address map (a fake engine: labels, ports and networks only) -------------
def _compose(service: str, port: int, ip: str) -> Any:
    from types import SimpleNamespace

    from drillkit.backend.docker.attach import COMPOSE_NUMBER, COMPOSE_PROJECT, COMPOSE_SERVICE

    labels = {COMPOSE_PROJECT: "staging", COMPOSE_SERVICE: service, COMPOSE_NUMBER: "1"}
    bindings = {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port + 10000)}]}
    c = SimpleNamespace(
        name=f"staging-{service}-1",
        id=f"id-{service}",
        status="running",
        attrs={
            "Config": {"Labels": labels},
            "HostConfig": {"PortBindings": bindings},
            "NetworkSettings": {
                "Ports": bindings,
                "Networks": {"staging_default": {"IPAddress": ip, "Aliases": [service]}},
            },
        },
    )
    c.reload = lambda: None
    return c


def _redis_system(monkeypatch: pytest.MonkeyPatch, **topology: Any) -> Any:
    from types import SimpleNamespace

    from test_external import FakeContainers

    from drillkit.secrets import Secrets
    from drillkit.spec.external import ComposeTopology
    from drillkit.topology.external import ExternalStack
    from drillkit.topology.external_redis import ExternalRedis

    containers = [
        _compose("cache-a", 6379, "172.30.0.2"),
        _compose("cache-b", 6379, "172.30.0.3"),
        _compose("sentinel-1", 26379, "172.30.0.4"),
        _compose("app", 8080, "172.30.0.5"),
    ]
    engine = SimpleNamespace(containers=FakeContainers(containers))
    spec = ComposeTopology.model_validate(
        {
            "kind": "compose",
            "project": "staging",
            "engine": "redis",
            "sentinel": {"nodes": ["sentinel-1"]},
            "credentials": {"password_env": "PW"},
            **topology,
        }
    )
    system = ExternalStack(
        engine,
        spec,
        run_id="r",
        labels={},
        image="",
        secrets=Secrets(),
        progress=lambda _m: None,
        environ={"PW": "s3cret"},
    )
    assert isinstance(system, ExternalRedis)
    roles = {"cache-a": ["master", 0, []], "cache-b": ["slave", "172.30.0.2", 6379]}
    monkeypatch.setattr(system, "role", lambda node: roles.get(node.name))
    return system


def test_a_redis_stack_attaches_data_nodes_and_sentinels_and_asks_their_roles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _redis_system(monkeypatch) as system:
        assert [(n.name, n.role) for n in system.nodes] == [
            ("cache-a", "primary"),
            ("cache-b", "replica"),
            ("sentinel-1", "sentinel"),
        ]  # the app service publishes no Redis port: not a node
        assert system.current_primary().name == "cache-a"
        assert [n.name for n in system.resolve("sentinels")] == ["sentinel-1"]
        assert [n.name for n in system.resolve("replicas")] == ["cache-b"]
        # Sentinel announces an IP (or a hostname) on the stack's network: its published port
        assert system.publish("172.30.0.3", 6379) == ("127.0.0.1", 16379)
        assert system.publish("cache-b", 6379) == ("127.0.0.1", 16379)
        with pytest.raises(KeyError):
            system.publish("172.30.0.4", 26379)  # a Sentinel is no data node
        endpoints = system.endpoints()
        assert endpoints.sentinels == [("127.0.0.1", 36379)]
        assert (endpoints.master_name, endpoints.password) == ("mymaster", "s3cret")
        assert "s3cret" not in system.secrets.redact("pw s3cret")
        env = system.shell_environment(inside=False)
        assert (env["DK_PRIMARY"], env["DK_SENTINELS"], env["DK_MASTER_NAME"]) == (
            "cache-a",
            "sentinel-1",
            "mymaster",
        )
        assert "s3cret" not in " ".join(env.values())
        assert system.secret_files(inside=False) == {"redis-auth": "s3cret\n"}


def test_a_declared_sentinel_that_is_missing_refuses_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from drillkit.errors import InfrastructureError

    system = _redis_system(monkeypatch, sentinel={"nodes": ["sentinel-1", "sentinel-9"]})
    with pytest.raises(InfrastructureError, match="has no service sentinel-9"):
        system.__enter__()


def test_cleanup_deletes_only_probe_keys_on_the_master(monkeypatch: pytest.MonkeyPatch) -> None:
    from drillkit import external_cleanup

    deleted: list[Any] = []
    patterns: list[str] = []

    class Fake(_FakeRedis):
        def scan_iter(self, match: str, count: int) -> list[str]:
            patterns.append(match)
            return ["drillkit_probe_r2:ids", "drillkit_probe_r1:ids"]

    def attach(*args: Any, **kwargs: Any) -> Any:
        system = _redis_system(monkeypatch)
        monkeypatch.setattr(system, "redis", lambda node, timeout=1.0: Fake(deleted, fail=False))
        return system

    monkeypatch.setattr(external_cleanup, "ExternalStack", attach)
    keys, _ = external_cleanup.drop_probe_leftovers(None, None, dry_run=True)  # type: ignore[arg-type]
    assert (keys, deleted) == (["drillkit_probe_r1:ids", "drillkit_probe_r2:ids"], [])
    keys, _ = external_cleanup.drop_probe_leftovers(None, None)  # type: ignore[arg-type]
    assert deleted == [("DEL", "drillkit_probe_r1:ids", "drillkit_probe_r2:ids")]
    assert patterns == ["drillkit_probe_*:ids"] * 2
