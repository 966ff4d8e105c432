"""compare-config: the drilled settings (read back from the servers) against production dumps
made by one documented command; the settings that decide data loss and recovery are flagged."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from drillkit.report.model import ProductionComparison
from drillkit.report.production import (
    ProductionDumpError,
    compare,
    comparisons,
    read_dump,
    summary_lines,
)

cli = importlib.import_module("drillkit.cli.main")

PG_CONFIGURATION: dict[str, Any] = {
    "kind": "postgres",
    "nodes": {
        "pg0": {
            "role": "primary",
            "status": "exited",  # killed: no read-back
        },
        "pg1": {
            "role": "replica",
            "in_recovery": False,  # promoted: the primary at the end
            "non_default": {
                "wal_sender_timeout": {"value": "5000", "unit": "ms", "default": "60000"},
                "max_connections": {"value": "200", "default": "100"},
                "cluster_name": {"value": "pg1", "default": ""},
                "wal_keep_size": {"value": "256", "unit": "MB", "default": "0"},
            },
        },
    },
}
# psql -c "\copy (SELECT name, setting, unit, boot_val, source FROM pg_settings) TO ... CSV HEADER"
PG_DUMP = """\
name,setting,unit,boot_val,source
cluster_name,prod-a,,,configuration file
max_connections,200,,100,configuration file
synchronous_commit,remote_apply,,on,configuration file
wal_keep_size,0,MB,0,default
wal_sender_timeout,60000,ms,60000,default
work_mem,16384,kB,4096,configuration file
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _by_name(c: ProductionComparison) -> dict[str, tuple[str | None, str | None, bool]]:
    return {d.setting: (d.drilled, d.production, d.critical) for d in c.differences}


def test_postgresql_differences_are_listed_and_critical_ones_flagged(tmp_path: Path) -> None:
    c = compare(PG_CONFIGURATION, read_dump(_write(tmp_path, "prod.csv", PG_DUMP)))

    assert (c.engine, c.node) == ("postgresql", "pg1")
    assert _by_name(c) == {
        "synchronous_commit": ("on", "remote_apply", True),
        "wal_keep_size": ("256", "0", False),
        "wal_sender_timeout": ("5000", "60000", True),
        "work_mem": ("4096", "16384", False),
    }
    assert "cluster_name" in c.not_compared  # a name, not a difference
    text = "\n".join(summary_lines(c))
    assert "drilled with production settings (prod.csv, postgresql, node pg1) except:" in text
    assert "  ! synchronous_commit: drilled 'on', production 'remote_apply'" in text


def test_a_pg_settings_dump_without_defaults_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProductionDumpError, match="needs a boot_val column"):
        read_dump(_write(tmp_path, "prod.csv", "name,setting\nwork_mem,8MB\n"))


def test_redis_config_get_and_sentinel_master_dumps(tmp_path: Path) -> None:
    configuration = {
        "kind": "redis",
        "redis_defaults": {"appendonly": "no", "appendfsync": "everysec", "maxmemory": "0"},
        "nodes": {
            "r0": {
                "role": "replica",
                "replication_role": "master",
                "non_default": {"maxmemory": {"value": "67108864", "default": "0"}},
            },
            "s1": {
                "role": "sentinel",
                "settings": {"down-after-milliseconds": 1000, "quorum": 2, "parallel-syncs": 1},
                "non_default": {},
            },
        },
    }
    redis = read_dump(
        _write(tmp_path, "redis.txt", "appendonly\nyes\nappendfsync\neverysec\nmaxmemory\n0\n")
    )
    sentinel = read_dump(
        _write(
            tmp_path,
            "sentinel.txt",
            "name\nmymaster\nnum-slaves\n2\nquorum\n2\ndown-after-milliseconds\n30000\n"
            "parallel-syncs\n1\n",
        )
    )
    assert _by_name(compare(configuration, redis)) == {
        "appendonly": ("no", "yes", True),
        "maxmemory": ("67108864", "0", False),
    }
    assert _by_name(compare(configuration, sentinel)) == {
        "down-after-milliseconds": ("1000", "30000", True)
    }


def test_patroni_config_dump(tmp_path: Path) -> None:
    configuration = {
        "kind": "patroni",
        "patroni_config": {
            "ttl": 20,
            "loop_wait": 2,
            "retry_timeout": 5,
            "synchronous_mode": False,  # absent from production's /config: Patroni's default
            "postgresql": {"parameters": {"wal_sender_timeout": "5s"}},
        },
        "nodes": {},
    }
    dump = _write(
        tmp_path,
        "patroni.json",
        json.dumps({"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "postgresql": {}}),
    )
    assert _by_name(compare(configuration, read_dump(dump))) == {
        "loop_wait": ("2", "10", True),
        "parameters.wal_sender_timeout": ("5s", None, True),
        "retry_timeout": ("5", "10", True),
        "ttl": ("20", "30", True),
    }


def test_a_dump_of_another_engine_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    dump = read_dump(_write(tmp_path, "redis.txt", "appendonly\nyes\n"))
    made, problems = comparisons(PG_CONFIGURATION, [dump])

    assert made == []
    assert problems == [
        "production comparison: redis.txt: a redis dump, but the drill ran a postgres topology"
    ]


def test_compare_config_command(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "configuration.json").write_text(json.dumps(PG_CONFIGURATION), encoding="utf-8")
    dump = _write(tmp_path, "prod.csv", PG_DUMP)

    result = CliRunner().invoke(cli.app, ["compare-config", str(report), str(dump)])

    assert result.exit_code == 1, result.output  # a critical setting differs
    assert "! wal_sender_timeout: drilled '5000', production '60000'" in result.output

    bad = CliRunner().invoke(cli.app, ["compare-config", str(report), str(tmp_path / "none")])
    assert bad.exit_code == 2
    assert "no such file" in bad.output
