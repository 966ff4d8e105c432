"""The confinement every container gets and the secrets archive written into it (no Docker)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from drillkit.backend.docker.hardening import (
    DEFAULT_LIMITS,
    HELPER_LIMITS,
    SECRETS_DIR,
    confinement,
    put_secrets,
    secrets_archive,
    size_bytes,
)
from drillkit.topology.redis_config import data_node_command, sentinel_command, server_version
from drillkit.topology.rewind import PASSFILE, pg_secret_files


def test_confinement_drops_every_capability_and_limits_resources() -> None:
    options = confinement()
    assert options["cap_drop"] == ["ALL"]
    assert options["cap_add"] == []
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["pids_limit"] == DEFAULT_LIMITS.pids > 0
    assert options["mem_limit"] == DEFAULT_LIMITS.memory > 0
    helper = confinement(HELPER_LIMITS, ["NET_ADMIN"])
    assert helper["cap_add"] == ["NET_ADMIN"] and helper["cap_drop"] == ["ALL"]


def test_secrets_archive_is_a_0700_dir_of_0600_files_owned_by_the_user() -> None:
    data = secrets_archive({"pgpass": "*:*:*:u:pw\n", "postgres": "pw"}, 101, 103)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"drillkit", "drillkit/pgpass", "drillkit/postgres"}
        assert members["drillkit"].isdir() and members["drillkit"].mode == 0o700
        for name in ("drillkit/pgpass", "drillkit/postgres"):
            assert members[name].mode == 0o600
            assert (members[name].uid, members[name].gid) == (101, 103)
        pgpass = tar.extractfile("drillkit/pgpass")
        assert pgpass is not None and pgpass.read() == b"*:*:*:u:pw\n"
    assert SECRETS_DIR == "/run/drillkit"


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".."])
def test_secrets_archive_refuses_paths(name: str) -> None:
    with pytest.raises(ValueError):
        secrets_archive({name: "x"}, 0, 0)


class _Container:
    """A created container: its user, its /etc/passwd, what was put into it."""

    name = "c"

    def __init__(self, user: str) -> None:
        self.attrs: dict[str, Any] = {"Config": {"User": user}}
        self.put: list[tuple[str, bytes]] = []

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, Any]]:
        assert path == "/etc/passwd"
        text = b"root:x:0:0::/root:/bin/sh\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("passwd")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        return [buf.getvalue()], {}

    def put_archive(self, path: str, data: bytes) -> bool:
        self.put.append((path, data))
        return True


@pytest.mark.parametrize(
    ("user", "ids"), [("postgres", (101, 104)), ("", (0, 0)), ("999:998", (999, 998))]
)
def test_put_secrets_owns_the_files_by_the_container_user(user: str, ids: tuple[int, int]) -> None:
    container = _Container(user)
    put_secrets(container, {"s": "v"})
    ((path, data),) = container.put
    assert path == "/run"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember("drillkit/s")
        assert (member.uid, member.gid) == ids


def test_the_users_ids_are_read_once_per_image() -> None:
    reads: list[str] = []

    class Counting(_Container):
        def get_archive(self, path: str) -> tuple[list[bytes], dict[str, Any]]:
            reads.append(path)
            return super().get_archive(path)

    first, second, other = Counting("postgres"), Counting("postgres"), Counting("postgres")
    first.attrs["Image"] = second.attrs["Image"] = "sha256:test-image-a"
    other.attrs["Image"] = "sha256:test-image-b"
    for container in (first, second, other):
        put_secrets(container, {"s": "v"})
    assert reads == ["/etc/passwd", "/etc/passwd"]  # image a once, image b once
    for container in (first, second, other):
        with tarfile.open(fileobj=io.BytesIO(container.put[0][1])) as tar:
            assert (tar.getmember("drillkit/s").uid, tar.getmember("drillkit/s").gid) == (101, 104)


def test_put_secrets_writes_nothing_without_secrets() -> None:
    container = _Container("postgres")
    put_secrets(container, {})
    assert container.put == []


def test_pg_secret_files_carry_a_passfile_for_both_roles() -> None:
    files = pg_secret_files({"postgres": "su", "replicator": "rep", "other": "x"})
    assert files == {
        "postgres": "su",
        "replicator": "rep",
        "pgpass": "*:*:*:postgres:su\n*:*:*:replicator:rep\n",
    }
    assert f"{SECRETS_DIR}/pgpass" == PASSFILE


def test_redis_nodes_read_their_config_from_the_secrets_dir() -> None:
    assert f"redis-server {SECRETS_DIR}/redis.conf" in data_node_command()[-1]
    assert sentinel_command() == ["redis-sentinel", f"{SECRETS_DIR}/sentinel.conf"]
    # the others 0.25 s apart, still PID 1 (exec): see sentinel_command's docstring
    assert sentinel_command(2) == [
        "sh",
        "-c",
        f"sleep 0.50 && exec redis-sentinel {SECRETS_DIR}/sentinel.conf",
    ]
    assert "DK_REDIS_CONF" not in data_node_command()[-1]


def test_size_bytes() -> None:
    assert size_bytes("256m") == 256 * 1024**2
    assert size_bytes("1g") == 1024**3
    assert size_bytes("64k") == 64 * 1024
    assert size_bytes("4096") == 4096


def test_server_version_names_valkey_by_its_own_version() -> None:
    valkey = {"redis_version": "7.2.4", "valkey_version": "8.1.1"}
    assert server_version(valkey) == ("valkey", "8.1.1")
    assert server_version({"redis_version": "7.0.15"}) == ("redis", "7.0.15")
