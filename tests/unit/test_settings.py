"""Server settings in drill files: mappings and the team's own files applied over drillkit's
defaults, the settings drillkit controls refused with the file, field and setting named."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from test_spec import drill, error, write
from typer.testing import CliRunner

from drillkit.spec import load_drill
from drillkit.spec.redis import RedisTopology
from drillkit.spec.settings import (
    parse_postgresql_conf,
    parse_redis_conf,
    parse_sentinel_conf,
    pg_conf_text,
)
from drillkit.topology.patroni_provision import dcs_config
from drillkit.topology.redis_config import redis_conf, sentinel_conf

cli = importlib.import_module("drillkit.cli.main")

PROD_CONF = """\
# production postgresql.conf (excerpt)
wal_sender_timeout = 5s          # fast liveness
work_mem = '8MB'
log_line_prefix = 'it''s %m '
synchronous_commit on
"""


def test_a_conf_file_and_a_mapping_are_merged_the_mapping_wins(tmp_path: Path) -> None:
    (tmp_path / "drills").mkdir()
    (tmp_path / "drills" / "prod.conf").write_text(PROD_CONF, encoding="utf-8")
    topology = {
        "kind": "postgres",
        "postgresql_conf_file": "prod.conf",
        "postgresql": {"work_mem": "16MB", "hot_standby_feedback": True},
    }
    spec = load_drill(write(tmp_path, drill(topology=topology)))

    assert spec.topology.postgresql == {
        "wal_sender_timeout": "5s",
        "work_mem": "16MB",
        "log_line_prefix": "it's %m ",
        "synchronous_commit": "on",
        "hot_standby_feedback": "on",
    }
    assert spec.topology.postgresql_conf_file == "prod.conf"


def test_a_conflicting_setting_in_the_conf_file_names_the_file_line_and_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "drills").mkdir()
    (tmp_path / "drills" / "prod.conf").write_text(PROD_CONF + "port = 5433\n", encoding="utf-8")
    path = write(
        tmp_path, drill(topology={"kind": "postgres", "postgresql_conf_file": "prod.conf"})
    )

    result = CliRunner().invoke(cli.app, ["validate", str(path)])

    assert result.exit_code == 2
    assert f"{tmp_path / 'drills' / 'prod.conf'}: line 6: port: port = '5433' conflicts" in (
        result.output
    )
    assert "reach every node on 5432" in result.output


@pytest.mark.parametrize(
    ("topology", "field", "says"),
    [
        (
            {"kind": "postgres", "postgresql": {"archive_command": "cp %p /x"}, "pgbackrest": {}},
            "topology.postgresql.archive_command",
            "pgBackRest's archive-push",
        ),
        (
            {"kind": "postgres", "postgresql": {"synchronous_commit": "off"}},
            "topology.postgresql.synchronous_commit",
            "set topology.synchronous_commit to this value instead",
        ),
        (
            {"kind": "postgres", "postgresql": {"max_wal_senders": 2}, "replicas": 2},
            "topology.postgresql.max_wal_senders",
            "needs a WAL sender",
        ),
        (
            {"kind": "patroni", "postgresql": {"data_directory": "/srv/pg"}},
            "topology.postgresql.data_directory",
            "the container's layout",
        ),
        (
            {"kind": "redis", "redis": {"appendfsync": "always"}, "persistence": "aof-everysec"},
            "topology.redis.appendfsync",
            "use topology.persistence",
        ),
        (
            {"kind": "redis", "sentinel": {"down-after-milliseconds": 1000}},
            "topology.sentinel.down-after-milliseconds",
            "use topology.down_after_ms",
        ),
    ],
)
def test_a_conflicting_setting_in_the_drill_is_refused(
    tmp_path: Path, topology: dict[str, object], field: str, says: str
) -> None:
    e = error(write(tmp_path, drill(topology=topology)))

    assert e.field == field
    assert says in e.problem


def test_accepted_values_of_controlled_settings_pass(tmp_path: Path) -> None:
    topology = {
        "kind": "postgres",
        "postgresql": {"port": 5432, "wal_level": "logical", "max_wal_senders": 20},
    }
    assert load_drill(write(tmp_path, drill(topology=topology))).topology.postgresql["port"] == (
        "5432"
    )


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"work_mem": "8MB\nport = 1"}, "cannot hold a newline"),
        ({"work mem": "8MB"}, "is not a setting name"),
        ({"Work_Mem": "8MB"}, "is not a setting name"),
        ({"work_mem": ["8MB"]}, "expected a string, number or boolean"),
    ],
)
def test_injection_is_refused(tmp_path: Path, settings: dict[str, object], says: str) -> None:
    e = error(write(tmp_path, drill(topology={"kind": "postgres", "postgresql": settings})))

    assert e.field == "topology.postgresql"
    assert says in e.problem


def test_the_user_file_quotes_every_value() -> None:
    text = pg_conf_text({"log_line_prefix": "it's \\ %m", "work_mem": "8MB"})

    assert "log_line_prefix = 'it''s \\\\ %m'\n" in text
    assert parse_postgresql_conf(text)["log_line_prefix"][0] == "it's \\ %m"


def test_a_missing_conf_file_is_named(tmp_path: Path) -> None:
    e = error(
        write(tmp_path, drill(topology={"kind": "postgres", "postgresql_conf_file": "x.conf"}))
    )

    assert e.field == "topology.postgresql_conf_file"
    assert "no such file" in e.problem


def test_patroni_dynamic_configuration_is_lifted_and_applied(tmp_path: Path) -> None:
    topology = {
        "kind": "patroni",
        "patroni": {
            "ttl": 30,
            "loop_wait": 10,
            "retry_timeout": 10,
            "synchronous_mode": True,
            "postgresql": {"parameters": {"wal_sender_timeout": "5s"}},
        },
    }
    spec = load_drill(write(tmp_path, drill(topology=topology))).topology
    dcs = dcs_config(spec)

    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10)
    assert dcs["synchronous_mode"] is True
    assert dcs["postgresql"]["parameters"]["wal_sender_timeout"] == "5s"
    assert dcs["postgresql"]["parameters"]["wal_level"] == "replica"
    assert json.loads(json.dumps(dcs)) == dcs  # the entrypoint embeds it as JSON


def test_patroni_mapping_contradicting_a_field_is_refused(tmp_path: Path) -> None:
    topology = {"kind": "patroni", "ttl": 20, "patroni": {"ttl": 30}}
    e = error(write(tmp_path, drill(topology=topology)))

    assert "patroni.ttl (30) contradicts topology.ttl (20)" in e.problem


def test_redis_and_sentinel_settings_are_written_last() -> None:
    spec = RedisTopology(kind="redis", redis={"maxmemory": "64mb"}, sentinel={"parallel-syncs": 2})
    assert redis_conf(spec, "pw", None).splitlines()[-1] == "maxmemory 64mb"
    assert sentinel_conf(spec, "pw", "10.0.0.2").splitlines()[-1] == (
        "sentinel parallel-syncs drillkit 2"
    )


def test_a_redis_conf_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "drills").mkdir()
    (tmp_path / "drills" / "redis.conf").write_text(
        "# prod\nmaxmemory 2gb\nsave 3600 1\nsave 300 100 60 10000\nmaxmemory-policy allkeys-lru\n",
        encoding="utf-8",
    )
    topology = {"kind": "redis", "redis_conf_file": "redis.conf", "redis": {"maxmemory": "64mb"}}
    spec = load_drill(write(tmp_path, drill(topology=topology))).topology

    assert spec.redis == {
        "maxmemory": "64mb",
        "save": "3600 1 300 100 60 10000",
        "maxmemory-policy": "allkeys-lru",
    }
    assert parse_redis_conf('save ""\n')["save"][0] == '""'


def test_every_controlled_setting_is_documented() -> None:
    from drillkit.spec.settings import PG_CONTROLLED, REDIS_CONTROLLED, SENTINEL_CONTROLLED

    guide = (Path(__file__).resolve().parents[2] / "docs" / "production-config.md").read_text()
    missing = [
        name
        for table in (PG_CONTROLLED, REDIS_CONTROLLED, SENTINEL_CONTROLLED)
        for name in table
        if f"`{name}`" not in guide
    ]
    assert not missing, f"docs/production-config.md does not explain {missing}"


def test_patroni_with_pgbackrest_archives_through_its_parameters(tmp_path: Path) -> None:
    topology = {
        "kind": "patroni",
        "pgbackrest": {"archive_timeout_seconds": 7},
        "postgresql": {"log_statement": "ddl"},
    }
    spec = load_drill(write(tmp_path, drill(topology=topology))).topology

    parameters = dcs_config(spec)["postgresql"]["parameters"]
    assert parameters["archive_mode"] == "on"
    assert parameters["archive_command"] == "pgbackrest archive-push %p"
    assert parameters["archive_timeout"] == "7s"
    assert parameters["log_statement"] == "ddl"
    without = load_drill(write(tmp_path, drill(topology={"kind": "patroni"}))).topology
    assert "archive_command" not in dcs_config(without)["postgresql"]["parameters"]


def test_patroni_with_pgbackrest_refuses_its_own_archive_command(tmp_path: Path) -> None:
    topology = {
        "kind": "patroni",
        "pgbackrest": {},
        "postgresql": {"archive_command": "cp %p /somewhere/%f"},
    }
    e = error(write(tmp_path, drill(topology=topology)))

    assert e.field == "topology.postgresql.archive_command"
    assert "pgBackRest's archive-push" in e.problem


SENTINEL_PROD = """\
# production sentinel.conf, as Sentinel rewrote it
port 26379
sentinel monitor mymaster 10.1.2.3 6379 2
sentinel down-after-milliseconds mymaster 30000
sentinel parallel-syncs mymaster 3
sentinel resolve-hostnames yes
sentinel myid 0123456789abcdef0123456789abcdef01234567
sentinel config-epoch mymaster 7
sentinel known-replica mymaster 10.1.2.4 6379
sentinel current-epoch 7
"""


def _sentinel_drill(tmp_path: Path, conf: str, **topology: object) -> Path:
    (tmp_path / "drills").mkdir(exist_ok=True)
    (tmp_path / "drills" / "sentinel.conf").write_text(conf, encoding="utf-8")
    fields = {"kind": "redis", "sentinel_conf_file": "sentinel.conf", **topology}
    return write(tmp_path, drill(topology=fields))


def test_a_sentinel_conf_file_is_read_as_the_sentinel_mapping(tmp_path: Path) -> None:
    path = _sentinel_drill(tmp_path, SENTINEL_PROD, sentinel={"parallel-syncs": 1})
    spec = load_drill(path).topology

    # the mapping wins; monitor gives the quorum; state Sentinel wrote itself is skipped
    assert spec.sentinel == {
        "port": "26379",
        "quorum": "2",
        "down-after-milliseconds": "30000",
        "parallel-syncs": "1",
        "resolve-hostnames": "yes",
    }
    # written as topology.sentinel is; the quorum stays on drillkit's monitor line
    written = sentinel_conf(spec, "pw", "10.0.0.2").splitlines()
    assert written[-4:] == [
        "port 26379",
        "sentinel down-after-milliseconds drillkit 30000",
        "sentinel parallel-syncs drillkit 1",
        "sentinel resolve-hostnames yes",
    ]
    assert "sentinel monitor drillkit 10.0.0.2 6379 2" in written
    assert not any(line.startswith("sentinel quorum") for line in written)


def test_a_sentinel_conf_file_takes_the_topologys_timings(tmp_path: Path) -> None:
    path = _sentinel_drill(tmp_path, SENTINEL_PROD, down_after_ms=30000)

    assert load_drill(path).topology.sentinel["down-after-milliseconds"] == "30000"


@pytest.mark.parametrize(
    ("conf", "line", "says"),
    [
        (
            SENTINEL_PROD.replace("mymaster 30000", "mymaster 5000"),
            4,
            "down-after-milliseconds: down-after-milliseconds = '5000' conflicts with a setting "
            "drillkit controls (topology.down_after_ms decides it); use topology.down_after_ms",
        ),
        (
            "sentinel monitor mymaster 10.1.2.3 6379 3\n",
            1,
            "quorum: quorum = '3' conflicts with a setting drillkit controls (topology.quorum",
        ),
        ("port 26379\nsentinel auth-pass mymaster s3cret\n", 2, "auth-pass: auth-pass = "),
        ("sentinel notification-script mymaster /x.sh\n", 1, "notification-script"),
    ],
)
def test_a_conflicting_sentinel_conf_line_is_refused_by_file_and_line(
    tmp_path: Path, conf: str, line: int, says: str
) -> None:
    path = _sentinel_drill(tmp_path, conf)

    result = CliRunner().invoke(cli.app, ["validate", str(path)])

    assert result.exit_code == 2
    assert f"{tmp_path / 'drills' / 'sentinel.conf'}: line {line}: {says}" in result.output


@pytest.mark.parametrize(
    ("conf", "says"),
    [
        (
            "sentinel monitor a 10.0.0.1 6379 2\nsentinel parallel-syncs b 1\n",
            "line 2: a second master 'b' (line 1 names 'a'); drillkit's Sentinels monitor one "
            "master: keep its lines only",
        ),
        ("sentinel monitor a 10.0.0.1 2\n", "line 1: expected 'sentinel monitor NAME HOST PORT"),
        ("sentinel parallel-syncs a\n", "line 1: expected 'sentinel parallel-syncs MASTER VALUE'"),
    ],
)
def test_a_malformed_sentinel_conf_is_refused_by_line(tmp_path: Path, conf: str, says: str) -> None:
    path = _sentinel_drill(tmp_path, conf, quorum=2)

    e = error(path)

    assert str(e.path) == str(tmp_path / "drills" / "sentinel.conf")
    assert says in str(e)


def test_parse_sentinel_conf_skips_state_and_keeps_line_numbers() -> None:
    parsed = parse_sentinel_conf(SENTINEL_PROD)

    assert parsed["parallel-syncs"] == ("3", 5)
    assert parsed["quorum"] == ("2", 3)
    assert not {"myid", "config-epoch", "known-replica", "current-epoch"} & set(parsed)
