"""How far the drilled system's settings are from production's.

A production dump is made by one command against production (docs/production-config.md):

- PostgreSQL: ``psql -c "\\copy (SELECT name, setting, unit, boot_val, source FROM pg_settings)
  TO 'prod-pg.csv' CSV HEADER"``
- Redis: ``redis-cli CONFIG GET '*' > prod-redis.txt``; Sentinel: ``redis-cli -p 26379
  SENTINEL MASTER <name> > prod-sentinel.txt``
- Patroni: ``curl -s http://<member>:8008/config > prod-patroni.json``

:func:`compare` sets it against the drill's configuration fingerprint (``configuration.json``:
what the running servers reported) and returns every difference, flagging the settings that
decide data loss and recovery time (:data:`drillkit.upstream.CRITICAL`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit.errors import EXIT_BAD_INPUT, DrillkitError
from drillkit.report.model import ProductionComparison, SettingDifference
from drillkit.spec.reader import InputRejected, read_text
from drillkit.upstream import CRITICAL, PATRONI_DEFAULTS, SENTINEL_DEFAULTS, parse_config_get

__all__ = [
    "NOT_COMPARED",
    "ProductionDump",
    "ProductionDumpError",
    "compare",
    "comparisons",
    "current_production",
    "production_config",
    "read_dump",
    "summary_lines",
]

# Settings that differ between any two hosts by design (paths, names, addresses, secrets, the
# commands drillkit's containers run): listed as not compared, never as differences.
NOT_COMPARED: dict[str, frozenset[str]] = {
    "postgresql": frozenset(
        {
            "data_directory",
            "config_file",
            "hba_file",
            "ident_file",
            "external_pid_file",
            "cluster_name",
            "unix_socket_directories",
            "listen_addresses",
            "port",
            "primary_conninfo",
            "primary_slot_name",
            "archive_command",
            "restore_command",
            "application_name",
            "client_encoding",
            "transaction_deferrable",
            "transaction_isolation",
            "transaction_read_only",
            "server_version",
            "server_version_num",
            "server_encoding",
            "lc_collate",
            "lc_ctype",
            "lc_messages",
            "lc_monetary",
            "lc_numeric",
            "lc_time",
            "log_timezone",
            "TimeZone",
            "DateStyle",
            "default_text_search_config",
            "shared_memory_size",
            "shared_memory_size_in_huge_pages",
            "ssl_cert_file",
            "ssl_key_file",
            "ssl_ca_file",
            "ssl_crl_file",
        }
    ),
    "redis": frozenset(
        {
            "port",
            "bind",
            "dir",
            "requirepass",
            "masterauth",
            "masteruser",
            "replicaof",
            "slaveof",
            "unixsocket",
            "pidfile",
            "logfile",
            "daemonize",
            "dbfilename",
            "appenddirname",
            "replica-announce-ip",
            "cluster-config-file",
            "tls-cert-file",
            "tls-key-file",
            "tls-ca-cert-file",
        }
    ),
    "sentinel": frozenset(),
    "patroni": frozenset(),
}
_DUMP_HELP = (
    "expected a pg_settings CSV (\\copy ... CSV HEADER), redis-cli CONFIG GET '*' or SENTINEL "
    "MASTER output, or Patroni's /config JSON (docs/production-config.md)"
)


class ProductionDumpError(DrillkitError):
    """A production dump that cannot be read or does not fit the drill (exit 2)."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class ProductionDump:
    """Production's settings of one engine: ``postgresql``, ``redis``, ``sentinel`` or
    ``patroni``; ``defaults`` are the engine's own (pg_settings.boot_val) where the dump has
    them."""

    source: str
    engine: str
    settings: dict[str, str]
    defaults: dict[str, str]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "" if value is None else str(value)


def read_dump(path: Path) -> ProductionDump:
    """Read and recognise a production dump; raises :class:`ProductionDumpError`."""
    try:
        text = read_text(path)
    except InputRejected as e:
        raise ProductionDumpError(f"{path}: {e.problem}") from None
    name = path.name
    head = text.lstrip()
    if head.startswith("{"):
        try:
            config = json.loads(text)
        except ValueError as e:
            raise ProductionDumpError(f"{path}: not JSON ({e}); {_DUMP_HELP}") from None
        if not isinstance(config, dict):
            raise ProductionDumpError(f"{path}: {_DUMP_HELP}")
        return ProductionDump(name, "patroni", _patroni_settings(config), {})
    first = head.split("\n", 1)[0].strip().lower().split(",")
    if "name" in first and "setting" in first:
        if "boot_val" not in first:
            raise ProductionDumpError(
                f"{path}: the pg_settings CSV needs a boot_val column (the server's defaults): "
                "SELECT name, setting, unit, boot_val, source FROM pg_settings"
            )
        rows = list(csv.DictReader(io.StringIO(head)))
        return ProductionDump(
            name,
            "postgresql",
            {r["name"]: r["setting"] or "" for r in rows if r.get("name")},
            {r["name"]: r.get("boot_val") or "" for r in rows if r.get("name") and "boot_val" in r},
        )
    pairs = parse_config_get(text)
    if not pairs or len(text.strip().splitlines()) % 2:
        raise ProductionDumpError(f"{path}: {_DUMP_HELP}")
    if "down-after-milliseconds" in pairs and "num-slaves" in pairs:
        keep = {*SENTINEL_DEFAULTS, "quorum"}
        return ProductionDump(name, "sentinel", {k: pairs[k] for k in pairs if k in keep}, {})
    return ProductionDump(name, "redis", pairs, {})


def _patroni_settings(config: dict[str, Any]) -> dict[str, str]:
    """Patroni's dynamic settings, and ``postgresql.parameters`` as ``parameters.<name>``."""
    out = {k: _text(v) for k, v in config.items() if not isinstance(v, (dict, list))}
    params = (config.get("postgresql") or {}).get("parameters") or {}
    out.update({f"parameters.{k}": _text(v) for k, v in params.items()})
    return out


def _nodes(configuration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = configuration.get("nodes")
    return nodes if isinstance(nodes, dict) else {}


def _pick(configuration: dict[str, Any], engine: str) -> tuple[str, dict[str, Any]] | None:
    """The node whose settings stand for the drilled system: the primary at the end."""
    candidates = []
    for name, node in _nodes(configuration).items():
        if not isinstance(node, dict) or "non_default" not in node:
            continue
        if (engine == "sentinel") != (node.get("role") == "sentinel"):
            continue
        primary = node.get("in_recovery") is False or node.get("replication_role") == "master"
        candidates.append((not primary, name, node))
    if not candidates:
        return None
    _, name, node = min(candidates, key=lambda c: (c[0], c[1]))
    return name, node


def _drilled(
    configuration: dict[str, Any], dump: ProductionDump
) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """(node, drilled settings, the engine's defaults) for the dump's engine."""
    kind = configuration.get("kind")
    fits = {
        "postgresql": ("postgres", "patroni"),
        "patroni": ("patroni",),
        "redis": ("redis",),
        "sentinel": ("redis",),
    }
    if kind not in fits[dump.engine]:
        raise ProductionDumpError(
            f"{dump.source}: a {dump.engine} dump, but the drill ran a {kind} topology"
        )
    if dump.engine == "patroni":
        config = configuration.get("patroni_config")
        if not isinstance(config, dict):
            raise ProductionDumpError("the report has no Patroni /config read back")
        return None, _patroni_settings(config), {k: _text(v) for k, v in PATRONI_DEFAULTS.items()}
    picked = _pick(configuration, dump.engine)
    if picked is None:
        raise ProductionDumpError(
            f"the report has no {dump.engine} settings read back from a running node"
        )
    name, node = picked
    drilled = {k: _text(v.get("value")) for k, v in node["non_default"].items()}
    if dump.engine == "sentinel":
        settings = node.get("settings") or {}
        drilled = {k: _text(settings.get(k)) for k in dump.settings if k in settings}
        return name, drilled, {}
    defaults = configuration.get("redis_defaults") if dump.engine == "redis" else dump.defaults
    if not defaults:
        raise ProductionDumpError(f"the report has no {dump.engine} defaults to compare with")
    return name, drilled, dict(defaults)


def compare(configuration: dict[str, Any], dump: ProductionDump) -> ProductionComparison:
    """Every setting whose drilled value differs from production's; raises
    :class:`ProductionDumpError` when the dump does not fit the drill."""
    node, drilled, defaults = _drilled(configuration, dump)
    skip = NOT_COMPARED[dump.engine]
    critical = CRITICAL["postgresql" if dump.engine == "postgresql" else dump.engine]
    names = sorted((set(dump.settings) | set(drilled)) - skip)
    differences: list[SettingDifference] = []
    for name in names:
        ours = drilled.get(name, defaults.get(name))
        theirs = dump.settings.get(name, defaults.get(name) if name in drilled else None)
        if ours is None and name not in drilled:
            continue  # production has it, the drilled engine does not know it (other version)
        if ours == theirs:
            continue
        base = name.removeprefix("parameters.")
        differences.append(
            SettingDifference(
                setting=name,
                drilled=ours,
                production=theirs,
                critical=base in critical or base in CRITICAL["postgresql"],
            )
        )
    return ProductionComparison(
        source=dump.source,
        engine=dump.engine,
        node=node,
        compared=len(names),
        not_compared=sorted(skip & (set(dump.settings) | set(drilled))),
        differences=differences,
    )


_CURRENT: ContextVar[tuple[ProductionDump, ...]] = ContextVar("production", default=())


@contextmanager
def production_config(dumps: Sequence[ProductionDump]) -> Iterator[None]:
    """Within this block every drill's evidence compares its settings with ``dumps`` (as
    ``signing`` sets the key the bundles are signed with)."""
    token = _CURRENT.set(tuple(dumps))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_production() -> tuple[ProductionDump, ...]:
    return _CURRENT.get()


def comparisons(
    configuration: dict[str, Any] | None, dumps: Sequence[ProductionDump]
) -> tuple[list[ProductionComparison], list[str]]:
    """The comparison with each dump, and a problem for each that could not be made."""
    out: list[ProductionComparison] = []
    problems: list[str] = []
    for dump in dumps:
        if configuration is None:
            problems.append(f"{dump.source}: no configuration was read back from the servers")
            continue
        try:
            out.append(compare(configuration, dump))
        except ProductionDumpError as e:
            problems.append(f"production comparison: {e}")
    return out, problems


def summary_lines(comparison: ProductionComparison) -> list[str]:
    """Plain text: "drilled with production settings except: ...", critical ones marked '!'."""
    where = f"{comparison.source}, {comparison.engine}" + (
        f", node {comparison.node}" if comparison.node else ""
    )
    if not comparison.differences:
        head = f"drilled with production settings ({where}): no difference"
    else:
        head = f"drilled with production settings ({where}) except:"
    lines = [head]
    for d in sorted(comparison.differences, key=lambda d: (not d.critical, d.setting)):
        mark = "!" if d.critical else " "
        lines.append(
            f"  {mark} {d.setting}: drilled {_shown(d.drilled)}, production {_shown(d.production)}"
        )
    lines.append(
        f"{comparison.compared} settings compared, {len(comparison.critical)} critical "
        f"difference(s) ('!': decides data loss or recovery time); "
        f"{len(comparison.not_compared)} host-specific not compared"
    )
    return lines


def _shown(value: str | None) -> str:
    return "(absent)" if value is None else repr(value)
