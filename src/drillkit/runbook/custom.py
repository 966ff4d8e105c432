"""Custom steps: a team's own runbook command, run on the harness host or inside a node.

The command learns the topology from its environment (see :class:`ShellTopology`): node names,
hosts and ports as seen from where it runs, the current primary, and ``PGPASSFILE``, the path of a
0600 file holding the credentials. The passwords themselves are never put in the environment, so
``env`` in a script, a CI log of its output, or the recorded output shows none; the output is
redacted anyway before it is recorded. The files live only while the step runs.

A non-zero exit status fails the step. The command is killed when the step's timeout passes
(a process group on the host; ``timeout -s KILL`` inside a node).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from drillkit.backend.node import Node
from drillkit.secrets import Secrets
from drillkit.spec.postgres import ShellStep as ShellStepSpec

__all__ = ["OUTPUT_LIMIT", "Shell", "ShellStepError", "ShellTopology"]

OUTPUT_LIMIT = 4000  # characters of output kept in the history (the end of it)
_NODE_SECRET_ROOT = "/tmp"


@runtime_checkable
class ShellTopology(Protocol):
    """What a custom step needs of a topology."""

    nodes: list[Node]
    secrets: Secrets

    def resolve(self, target: str) -> list[Node]: ...

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """Variables describing the topology, addresses as seen from the host or from inside
        the run's network. Never a password."""
        ...

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """File name -> content of the credential files (``pgpass`` at least), same view."""
        ...


class ShellStepError(RuntimeError):
    """The command exited non-zero or ran over its time; the message ends with its output."""


def _tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


class Shell:
    """Run ``spec.run`` with bash on the host or in a node; record exit status and output."""

    def __init__(self, spec: ShellStepSpec, topology: ShellTopology) -> None:
        if not isinstance(topology, ShellTopology):
            raise TypeError(f"{type(topology).__name__} cannot run custom steps")
        self.spec = spec
        self.topology = topology
        self.name = spec.name
        self.delay_seconds = spec.delay_seconds
        self.timeout_seconds = spec.timeout_seconds
        self.retries = spec.retries
        self.retry_wait_seconds = spec.retry_wait_seconds

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        if self.spec.target == "host":
            where, code, output = "host", *self._on_host()
        else:
            node = self._node()
            where, code, output = node.name, *self._in_node(node)
        redact = self.topology.secrets.redact
        output = redact(output)
        if code != 0:
            reason = "was killed at its timeout" if code in (-9, 137) else f"exited {code}"
            raise ShellStepError(
                redact(f"{self.spec.run!r} on {where} {reason}; output: {_tail(output)}")
            )
        return {
            "on": where,
            "command": redact(self.spec.run),
            "exit_status": code,
            "seconds": round(time.monotonic() - started, 3),
            "output": _tail(output),
        }

    def _node(self) -> Node:
        nodes = self.topology.resolve(self.spec.target)
        if not nodes:
            raise ShellStepError(f"{self.spec.target!r} designates no node right now")
        return nodes[0]

    def _env(self, *, inside: bool, secret_dir: str) -> dict[str, str]:
        return {
            **self.spec.env,
            **self.topology.shell_environment(inside=inside),
            "DK_SECRETS_DIR": secret_dir,
            "PGPASSFILE": f"{secret_dir}/pgpass",
        }

    # -- on the harness host -------------------------------------------------------------------
    def _on_host(self) -> tuple[int, str]:
        secret_dir = tempfile.mkdtemp(prefix="drillkit-step-")  # mode 0700
        try:
            for name, content in self.topology.secret_files(inside=False).items():
                fd = os.open(Path(secret_dir) / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(content)
            env = {**os.environ, **self._env(inside=False, secret_dir=secret_dir)}
            proc = subprocess.Popen(
                ["bash", "-c", self.spec.run],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole at the timeout
            )
            try:
                out, _ = proc.communicate(timeout=self.timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                return -9, out.decode("utf-8", "replace")
            return proc.returncode, out.decode("utf-8", "replace")
        finally:
            shutil.rmtree(secret_dir, ignore_errors=True)

    # -- inside a node -------------------------------------------------------------------------
    def _in_node(self, node: Node) -> tuple[int, str]:
        secret_dir = f"{_NODE_SECRET_ROOT}/drillkit-step-{os.urandom(4).hex()}"
        _put_files(node, secret_dir, self.topology.secret_files(inside=True))
        try:
            seconds = max(1, int(self.timeout_seconds))
            result = node.exec(
                ["timeout", "-s", "KILL", str(seconds), "bash", "-c", self.spec.run],
                environment=self._env(inside=True, secret_dir=secret_dir),
            )
            return result.exit_code, result.output.decode("utf-8", "replace")
        finally:
            node.exec(["rm", "-rf", secret_dir])


def _put_files(node: Node, directory: str, files: dict[str, str]) -> None:
    """Create ``directory`` (0700) holding ``files`` (0600), owned by the node's user."""
    ids = node.exec(["sh", "-c", "id -u; id -g"]).output.split()
    uid, gid = int(ids[0]), int(ids[1])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        top = tarfile.TarInfo(directory.rsplit("/", 1)[1])
        top.type, top.mode, top.uid, top.gid = tarfile.DIRTYPE, 0o700, uid, gid
        tar.addfile(top)
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(f"{top.name}/{name}")
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, uid, gid
            tar.addfile(info, io.BytesIO(data))
    if not node.put_archive(directory.rsplit("/", 1)[0], buf.getvalue()):
        raise ShellStepError(f"could not write the credential files into {node.name}")
