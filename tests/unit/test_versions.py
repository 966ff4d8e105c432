"""Engine versions in drill files: the fields, their defaults, impossible combinations refused
with the file, the field and the fix, and the image each topology selects."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.images.build import image_tag
from drillkit.images.catalog import (
    DEFAULT_IMAGES,
    POSTGRES_IMAGES,
    REDIS_IMAGES,
    image_for,
)
from drillkit.platform import DockerPlatform
from drillkit.spec import DrillFileError, load_drill
from drillkit.spec.postgres import PG_VERSIONS, PatroniTopology, PostgresTopology
from drillkit.spec.redis import REDIS_ENGINE_VERSIONS, RedisTopology

REPO = Path(__file__).resolve().parents[2]


def drill_file(tmp_path: Path, topology: dict[str, Any]) -> Path:
    doc = {
        "name": "versions",
        "topology": topology,
        "faults": [{"kind": "kill"}],
        "targets": {"rpo_seconds": 1},
    }
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_defaults_are_todays_versions() -> None:
    assert PostgresTopology().version == 15
    assert PatroniTopology(kind="patroni").version == 15
    redis = RedisTopology(kind="redis")
    assert (redis.engine, redis.version) == ("redis", 7)
    assert image_for(PostgresTopology()) == DEFAULT_IMAGES["postgres"]
    assert image_for(redis) == DEFAULT_IMAGES["redis"]


@pytest.mark.parametrize("path", sorted((REPO / "drills").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_drill_runs_on_the_default_images(path: Path) -> None:
    assert image_for(load_drill(path).topology) in DEFAULT_IMAGES.values()


def test_valkey_without_a_version_is_valkey_8(tmp_path: Path) -> None:
    spec = load_drill(drill_file(tmp_path, {"kind": "redis", "engine": "valkey"}))
    assert (spec.topology.engine, spec.topology.version) == ("valkey", 8)
    image = image_for(spec.topology)
    assert (image.suite, image.buildargs, image.label) == (
        "trixie",
        {"ENGINE": "valkey"},
        "valkey8",
    )


def test_postgres_17_selects_the_trixie_image(tmp_path: Path) -> None:
    for kind in ("postgres", "patroni"):
        spec = load_drill(drill_file(tmp_path, {"kind": kind, "version": 17}))
        image = image_for(spec.topology)
        assert (image.directory, image.suite, image.buildargs) == (
            "postgres",
            "trixie",
            {"PG_MAJOR": "17"},
        )


def test_redis_8_selects_trixie_with_redis() -> None:
    image = image_for(RedisTopology(kind="redis", version=8))
    assert (image.suite, image.buildargs) == ("trixie", {"ENGINE": "redis"})


def test_valkey_7_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = drill_file(tmp_path, {"kind": "redis", "engine": "valkey", "version": 7})
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    message = str(info.value)
    assert message.startswith(f"{path}: topology")
    assert "valkey 7 is not available" in message
    assert "set version: 8, or engine: redis for Redis 7" in message


@pytest.mark.parametrize(
    "topology", [{"kind": "postgres", "version": 16}, {"kind": "patroni", "version": 14}]
)
def test_a_postgres_version_without_an_image_is_refused(
    tmp_path: Path, topology: dict[str, Any]
) -> None:
    with pytest.raises(DrillFileError) as info:
        load_drill(drill_file(tmp_path, topology))
    assert "topology.version" in str(info.value)
    assert "15 or 17" in str(info.value)


def test_every_version_the_schema_allows_has_an_image() -> None:
    allowed_pg = typing.get_args(PostgresTopology.model_fields["version"].annotation)
    assert set(allowed_pg) == set(PG_VERSIONS) == set(POSTGRES_IMAGES)
    assert typing.get_args(PatroniTopology.model_fields["version"].annotation) == allowed_pg
    pairs = {(e, v) for e, versions in REDIS_ENGINE_VERSIONS.items() for v in versions}
    assert pairs == set(REDIS_IMAGES)
    assert set(REDIS_ENGINE_VERSIONS) == set(
        typing.get_args(RedisTopology.model_fields["engine"].annotation)
    )


def test_image_tags_name_the_variant_and_differ_by_build_arguments() -> None:
    pg15 = image_tag(POSTGRES_IMAGES[15], "sha256:base")
    pg17 = image_tag(POSTGRES_IMAGES[17], "sha256:base")
    assert pg15.startswith("drillkit/postgres:pg15-") and pg17.startswith("drillkit/postgres:pg17-")
    assert pg15.split("-")[1] != pg17.split("-")[1]
    redis8 = image_tag(REDIS_IMAGES[("redis", 8)], "sha256:base")
    valkey8 = image_tag(REDIS_IMAGES[("valkey", 8)], "sha256:base")
    assert redis8.split("-")[1] != valkey8.split("-")[1]
    assert image_tag(POSTGRES_IMAGES[17], "sha256:other") != pg17


def test_prepare_builds_only_the_image_the_drill_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def ensure_image(client: Any, spec: Any, **kwargs: Any) -> tuple[str, str]:
        built.append((spec, kwargs["allow_pull"]))
        return f"drillkit/{spec.directory}:{spec.label}-x", "sha256:base"

    monkeypatch.setattr("drillkit.platform.ensure_image", ensure_image)
    platform = DockerPlatform(connect=lambda: object())
    versions = platform.prepare(PatroniTopology(kind="patroni", version=17), lambda _m: None)

    assert built == [(POSTGRES_IMAGES[17], False)]
    assert versions == {
        "base_image_id": "sha256:base",
        "image": "drillkit/postgres:pg17-x",
        "debian": "trixie",
    }


class _Info:
    def __init__(self, server: dict[str, str]) -> None:
        self.server = server

    def __enter__(self) -> _Info:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def info(self, _section: str) -> dict[str, str]:
        return self.server


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"redis_version": "7.0.15"}, {"redis": "7.0.15"}),
        # Valkey reports the Redis API it implements as redis_version; its own is valkey_version.
        (
            {"redis_version": "7.2.4", "valkey_version": "8.1.1", "server_name": "valkey"},
            {"valkey": "8.1.1"},
        ),
    ],
)
def test_the_report_names_the_engine_read_from_the_server(
    server: dict[str, str], expected: dict[str, str]
) -> None:
    from drillkit.topology.redis import RedisCluster

    node = type("N", (), {"role": "primary", "name": "r0"})()
    cluster = object.__new__(RedisCluster)
    cluster.image = "drillkit/redis:x"
    cluster.running = lambda: [node]  # type: ignore[method-assign]
    cluster.redis = lambda _n, *a, **k: _Info(server)  # type: ignore[method-assign,assignment,misc]

    assert cluster.versions() == {**expected, "redis_image": "drillkit/redis:x"}
