"""Server settings a drill file passes to PostgreSQL, Patroni, Redis and Sentinel, and the few
settings drillkit must control itself.

A drill sets servers' settings with a mapping (``topology.postgresql``, ``topology.redis``,
``topology.sentinel``) or the team's own file (``postgresql_conf_file``, ``redis_conf_file``,
``sentinel_conf_file``, read relative to the drill file by :mod:`drillkit.spec.load`); they are
applied over drillkit's defaults as a file inside each container, never argv or the environment.

A few settings make drillkit work (ports, addresses, data directories, the replication user,
archive_command when pgBackRest is on, ...): each has one :class:`Controlled` entry saying why
and which values it accepts. A user value it does not accept is refused at validation (exit 2),
naming the file, the field and the setting. The TLS work adds its ``ssl*``/``tls-*`` entries
to these tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PG_CONTROLLED",
    "REDIS_CONTROLLED",
    "SENTINEL_CONTROLLED",
    "SENTINEL_GLOBAL",
    "SENTINEL_STATE",
    "Controlled",
    "SettingValue",
    "check_pg_settings",
    "check_redis_settings",
    "parse_postgresql_conf",
    "parse_redis_conf",
    "parse_sentinel_conf",
    "pg_conf_text",
    "problems",
    "redis_conf_lines",
    "setting_text",
]

SettingValue = str | int | float | bool
PG_NAME = re.compile(r"^[a-z_][a-z0-9_.]*$")
REDIS_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_MAX_VALUE = 4096


def setting_text(value: SettingValue, *, redis: bool = False) -> str:
    """A value as the server's file spells it (booleans: on/off, Redis yes/no)."""
    if isinstance(value, bool):
        return ("yes" if value else "no") if redis else ("on" if value else "off")
    return str(value)


def _check(settings: Mapping[str, Any], pattern: re.Pattern[str], redis: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in settings.items():
        if not isinstance(name, str) or not pattern.match(name):
            raise ValueError(
                f"{name!r} is not a setting name (expected {pattern.pattern}); "
                "one setting per key, lowercase"
            )
        if value is None or isinstance(value, (list, dict)):
            raise ValueError(f"setting {name!r}: expected a string, number or boolean")
        text = setting_text(value, redis=redis)
        if any(c in text for c in "\n\r\x00"):
            raise ValueError(f"setting {name!r}: a value cannot hold a newline or NUL")
        if len(text) > _MAX_VALUE:
            raise ValueError(f"setting {name!r}: the value is longer than {_MAX_VALUE} characters")
        out[name] = text
    return out


def check_pg_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """PostgreSQL settings as text; raises ValueError on a bad name or value (injection)."""
    return _check(settings, PG_NAME, redis=False)


def check_redis_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """Redis/Sentinel directives as text; raises ValueError on a bad name or value."""
    return _check(settings, REDIS_NAME, redis=True)


def _pg_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_conf_text(settings: Mapping[str, str]) -> str:
    """``drillkit-user.conf``: one ``name = 'value'`` line per (already checked) setting."""
    head = "# written by drillkit from the drill file's settings\n"
    return head + "".join(f"{k} = {_pg_quote(v)}\n" for k, v in settings.items())


def redis_conf_lines(settings: Mapping[str, str]) -> list[str]:
    """``name value`` directives (a value may hold several arguments, e.g. save points)."""
    return [f"{k} {v}" for k, v in settings.items()]


# -- parsing the team's own files ------------------------------------------------------------
_PG_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=\s*|\s+)(.*?)\s*$")


def _pg_value(raw: str) -> str:
    """The value of a postgresql.conf line: quoted ('' and \\' escapes) or bare, comment cut."""
    if raw.startswith("'"):
        out, i = [], 1
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            if c == "'":
                if raw[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out)
            out.append(c)
            i += 1
        raise ValueError("unterminated quoted value")
    return raw.split("#", 1)[0].strip()


def parse_postgresql_conf(text: str) -> dict[str, tuple[str, int]]:
    """``{name: (value, line number)}`` of a postgresql.conf or ``ALTER SYSTEM`` dump
    (postgresql.auto.conf); a later line wins, as in the server. Raises ValueError naming the
    line of anything it cannot read."""
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PG_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number}: expected 'name = value'")
        try:
            value = _pg_value(match.group(2))
        except ValueError as e:
            raise ValueError(f"line {number}: {e}") from None
        out[match.group(1).lower()] = (value, number)
    return out


def parse_redis_conf(text: str) -> dict[str, tuple[str, int]]:
    """``{directive: (arguments, line number)}`` of a redis.conf; repeated ``save`` lines add up,
    otherwise a later line wins."""
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, args = stripped.partition(" ")
        name, args = name.lower(), args.strip()
        if name == "save" and name in out and args not in ('""', "''", ""):
            args = f"{out[name][0]} {args}".strip()
        out[name] = (args, number)
    return out


# Global Sentinel directives, written ``sentinel <name> <value>``; every other ``sentinel``
# directive names the master (``sentinel <name> <master> <value>``).
SENTINEL_GLOBAL = frozenset(
    {"resolve-hostnames", "announce-hostnames", "announce-ip", "announce-port"}
    | {"deny-scripts-reconfig", "sentinel-user", "sentinel-pass"}
)
# State Sentinel writes into its own file (CONFIG REWRITE): who it is and what it has seen of
# production, not settings; a sentinel.conf copied from production has them, drillkit skips them.
SENTINEL_STATE = frozenset(
    {"myid", "current-epoch", "config-epoch", "leader-epoch", "known-replica", "known-slave"}
    | {"known-sentinel"}
)


def parse_sentinel_conf(text: str) -> dict[str, tuple[str, int]]:
    """``{directive: (arguments, line number)}`` of a sentinel.conf, named as ``topology.sentinel``
    names them: ``sentinel parallel-syncs mymaster 1`` is ``parallel-syncs: 1``, ``sentinel
    monitor NAME HOST PORT QUORUM`` gives ``quorum`` (the address is production's), state lines
    Sentinel writes itself are skipped. One master only: a second name is refused, by line."""
    out: dict[str, tuple[str, int]] = {}
    master: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].lower() != "sentinel":
            out[words[0].lower()] = (" ".join(words[1:]), number)
            continue
        if len(words) < 3:
            raise ValueError(f"line {number}: expected 'sentinel DIRECTIVE ...', got {line!r}")
        name = words[1].lower()
        if name in SENTINEL_STATE:
            continue
        if name in SENTINEL_GLOBAL:
            out[name] = (" ".join(words[2:]), number)
            continue
        if master is not None and words[2] != master[0]:
            raise ValueError(
                f"line {number}: a second master {words[2]!r} (line {master[1]} names "
                f"{master[0]!r}); drillkit's Sentinels monitor one master: keep its lines only"
            )
        master = master or (words[2], number)
        if name == "monitor":
            if len(words) != 6:
                raise ValueError(
                    f"line {number}: expected 'sentinel monitor NAME HOST PORT QUORUM'"
                )
            out["quorum"] = (words[5], number)
            continue
        if len(words) < 4:
            raise ValueError(f"line {number}: expected 'sentinel {name} MASTER VALUE'")
        out[name] = (" ".join(words[3:]), number)
    return out


# -- what drillkit controls ------------------------------------------------------------------
@dataclass(frozen=True)
class Controlled:
    """A setting drillkit relies on: ``why``, and which user values it ``accepts`` (given the
    topology spec; None accepts none). ``fix`` says what to do instead."""

    why: str
    accepts: Callable[[str, Any], bool] | None = None
    fix: str = "remove it"


def _norm(value: str) -> str:
    v = value.strip().strip("'\"").lower()
    return {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}.get(v, v)


def _equals(expected: str) -> Callable[[str, Any], bool]:
    return lambda value, _spec: _norm(value) == _norm(expected)


def _at_least(count: Callable[[Any], int]) -> Callable[[str, Any], bool]:
    return lambda value, spec: value.strip().isdigit() and int(value) >= count(spec)


def _no_backup_repo(_value: str, spec: Any) -> bool:
    return getattr(spec, "pgbackrest", None) is None


_LAYOUT = "the container's layout: the data volume is mounted at /var/lib/postgresql/data"
PG_CONTROLLED: dict[str, Controlled] = {
    "port": Controlled(
        "clients, replicas, faults and health checks reach every node on 5432", _equals("5432")
    ),
    "listen_addresses": Controlled(
        "replicas and the harness connect over the run's network", _equals("*")
    ),
    **{
        name: Controlled(_LAYOUT)
        for name in ("data_directory", "config_file", "hba_file", "ident_file")
    },
    "external_pid_file": Controlled(_LAYOUT),
    "unix_socket_directories": Controlled(
        "drillkit's in-container commands connect through /var/run/postgresql",
        _equals("/var/run/postgresql"),
    ),
    "cluster_name": Controlled(
        "each node's name: synchronous_standby_names and pg_stat_replication refer to standbys "
        "by it"
    ),
    "primary_conninfo": Controlled("each replica streams from the node drillkit points it at"),
    "primary_slot_name": Controlled("each replica's slot is created by drillkit"),
    "restore_command": Controlled(
        "set when pgBackRest is on (archive-get) and by restore steps", _no_backup_repo
    ),
    "synchronous_standby_names": Controlled(
        "set from the topology's replication mode and sync_standbys",
        fix="use topology.replication: sync (and sync_standbys)",
    ),
    "synchronous_commit": Controlled(
        "the drill file's synchronous_commit field decides it (and is checked against sync)",
        lambda value, spec: _norm(value) == _norm(str(spec.synchronous_commit)),
        fix="set topology.synchronous_commit to this value instead",
    ),
    "archive_mode": Controlled(
        "pgBackRest (topology.pgbackrest) archives every segment", _no_backup_repo
    ),
    "archive_command": Controlled(
        "pgBackRest's archive-push, when pgbackrest is on", _no_backup_repo
    ),
    "archive_timeout": Controlled(
        "pgbackrest.archive_timeout_seconds sets it when pgBackRest is on",
        _no_backup_repo,
        fix="use topology.pgbackrest.archive_timeout_seconds",
    ),
    "wal_level": Controlled(
        "streaming replicas need replica or logical",
        lambda value, _spec: _norm(value) in ("replica", "logical"),
    ),
    "hot_standby": Controlled(
        "replicas answer the steady-state and role queries while in recovery", _equals("on")
    ),
    "max_wal_senders": Controlled(
        "each replica and each base backup (2 each while it runs) needs a WAL sender",
        _at_least(lambda spec: int(getattr(spec, "replicas", 1)) + 2),
    ),
    "max_replication_slots": Controlled(
        "each replica streams through a slot",
        _at_least(lambda spec: int(getattr(spec, "replicas", 1)) + 1),
    ),
    "password_encryption": Controlled(
        "the replication user's password and pg_hba.conf use scram-sha-256",
        _equals("scram-sha-256"),
    ),
    **{
        name: Controlled("it reads files from outside the container")
        for name in ("include", "include_dir", "include_if_exists")
    },
}

REDIS_CONTROLLED: dict[str, Controlled] = {
    "port": Controlled("clients, replicas and Sentinels reach every node on 6379", _equals("6379")),
    "bind": Controlled("replicas, Sentinels and the harness connect over the run's network"),
    "dir": Controlled("the data volume is mounted at /data (restores read it there)"),
    "dbfilename": Controlled("restore steps read dump.rdb", _equals("dump.rdb")),
    "appenddirname": Controlled("restore steps read appendonlydir", _equals("appendonlydir")),
    "requirepass": Controlled("the password is generated per run and kept secret"),
    "masterauth": Controlled("the password is generated per run and kept secret"),
    "masteruser": Controlled("replicas authenticate with the run's password"),
    "replicaof": Controlled("drillkit makes r0 the first master and the others its replicas"),
    "slaveof": Controlled("drillkit makes r0 the first master and the others its replicas"),
    "appendonly": Controlled(
        "topology.persistence decides it",
        lambda value, spec: _norm(value) == ("on" if spec.persistence.startswith("aof") else "off"),
        fix="use topology.persistence (none, rdb, aof-everysec, aof-always)",
    ),
    "appendfsync": Controlled(
        "topology.persistence decides it (aof-everysec, aof-always)",
        lambda value, spec: (
            not spec.persistence.startswith("aof")
            or _norm(value) == ("always" if spec.persistence == "aof-always" else "everysec")
        ),
        fix="use topology.persistence: aof-everysec or aof-always",
    ),
    "save": Controlled(
        "topology.save (with persistence: rdb) decides it",
        lambda value, spec: " ".join(value.strip("\"'").split()) == spec.save_config,
        fix="use topology.save and topology.persistence",
    ),
    "min-replicas-to-write": Controlled(
        "topology.min_replicas_to_write decides it",
        lambda value, spec: value.strip() == str(spec.min_replicas_to_write),
        fix="use topology.min_replicas_to_write",
    ),
    "min-replicas-max-lag": Controlled(
        "topology.min_replicas_max_lag decides it",
        lambda value, spec: value.strip() == str(spec.min_replicas_max_lag),
        fix="use topology.min_replicas_max_lag",
    ),
    "daemonize": Controlled("the server is the container's process", _equals("no")),
    "logfile": Controlled("the container log is the node's log in the evidence", _equals('""')),
    "rename-command": Controlled("drillkit's steps use CONFIG, REPLICAOF, SHUTDOWN, ..."),
    "include": Controlled("it reads files from outside the container"),
    "loadmodule": Controlled("it loads code from outside the container"),
}

SENTINEL_CONTROLLED: dict[str, Controlled] = {
    "port": Controlled("clients reach every Sentinel on 26379", _equals("26379")),
    "dir": Controlled("Sentinel rewrites its configuration in /data"),
    "requirepass": Controlled("the password is generated per run and kept secret"),
    "monitor": Controlled("drillkit names the master (drillkit) and its address"),
    "auth-pass": Controlled("the password is generated per run and kept secret"),
    "sentinel-pass": Controlled("the password is generated per run and kept secret"),
    "quorum": Controlled(
        "topology.quorum decides it",
        lambda value, spec: value.strip() == str(spec.quorum),
        fix="use topology.quorum",
    ),
    "down-after-milliseconds": Controlled(
        "topology.down_after_ms decides it",
        lambda value, spec: value.strip() == str(spec.down_after_ms),
        fix="use topology.down_after_ms",
    ),
    "failover-timeout": Controlled(
        "topology.failover_timeout_ms decides it",
        lambda value, spec: value.strip() == str(spec.failover_timeout_ms),
        fix="use topology.failover_timeout_ms",
    ),
    "notification-script": Controlled("scripts would run commands drillkit does not record"),
    "client-reconfig-script": Controlled("scripts would run commands drillkit does not record"),
    "include": Controlled("it reads files from outside the container"),
    "loadmodule": Controlled("it loads code from outside the container"),
}


def problems(
    settings: Mapping[str, str], controlled: Mapping[str, Controlled], spec: Any
) -> Iterator[tuple[str, str]]:
    """(setting, problem) for each user value a controlled setting does not accept."""
    for name, value in settings.items():
        rule = controlled.get(name)
        if rule is None or (rule.accepts is not None and rule.accepts(value, spec)):
            continue
        yield (
            name,
            (
                f"{name} = {value!r} conflicts with a setting drillkit controls ({rule.why}); "
                f"{rule.fix} (docs/production-config.md#settings-drillkit-controls)"
            ),
        )
