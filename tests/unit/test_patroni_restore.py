"""The pieces of a Patroni point-in-time restore that need no containers: the patronictl
configuration and answers, and the restore request a stopped member's entrypoint sources."""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from typing import Any

from drillkit.topology.patroni_restore import (
    patronictl_remove_script,
    request_text,
    write_request,
)


def test_patronictl_remove_is_answered_and_reaches_etcd() -> None:
    script = patronictl_remove_script(["dk-x-etcd0:2379", "dk-x-etcd1:2379"], "http")

    assert script.endswith("patronictl -c /tmp/drillkit-patronictl.yml remove drillkit")
    assert "'Yes I am aware'" in script
    assert "hosts: dk-x-etcd0:2379,dk-x-etcd1:2379" in script
    assert "protocol: https" not in script


def test_patronictl_remove_over_tls_uses_the_nodes_certificate() -> None:
    script = patronictl_remove_script(["e:2379"], "https")

    assert "protocol: https" in script
    assert "cert: /run/drillkit/tls-node.crt" in script


def test_the_restore_request_is_shell_that_exports_quoted_values() -> None:
    text = request_text({"DK_RESTORE_TYPE": "time", "DK_RESTORE_TARGET": "2026-12-01 05:46:29+00"})
    out = subprocess.run(
        ["bash", "-c", text + 'echo "$DK_RESTORE_TYPE|$DK_RESTORE_TARGET"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert out == "time|2026-12-01 05:46:29+00\n"
    assert request_text({}) == ""
    assert shlex.quote("$(x)") in request_text({"DK_RESTORE_TARGET": "$(x)"})


class _Stopped:
    name = "pg0"

    def __init__(self) -> None:
        self.put: list[tuple[str, bytes]] = []

    def put_archive(self, path: str, data: bytes) -> bool:
        self.put.append((path, data))
        return True


def test_the_request_lands_in_the_secrets_directory() -> None:
    node: Any = _Stopped()
    write_request(node, {"DK_RESTORE_TYPE": "default"})

    ((path, data),) = node.put
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
        content = tar.extractfile(member)
        assert content is not None
        assert (path, member.name) == ("/run", "drillkit/restore-request")
        assert content.read() == b"export DK_RESTORE_TYPE=default\n"
