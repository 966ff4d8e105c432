"""Custom steps: a team's own runbook command, run on the harness host or inside a node.

The command learns the topology from its environment (see :class:`ShellTopology`): node names,
hosts and ports as seen from where it runs, the current primary, and ``PGPASSFILE``, the path of a
0600 file holding the credentials. The passwords themselves are never put in the environment, so
``env`` in a script, a CI log of its output, or the recorded output shows none; the output is
redacted anyway before it is recorded. The files live only while the step runs.

A non-zero exit status fails the step. The command is killed when the step's timeout passes
(a process group on the host; ``timeout -s KILL`` inside a node).

On the host the command does **not** inherit drillkit's environment (which may hold
``DRILLKIT_SIGNING_KEY`` or cloud credentials): it gets only the variables named in
:data:`HOST_ENV_ALLOW` (and ``LC_*``) that are set, the host variables the step lists in
``pass_env``, the step's ``env`` and the topology's ``DK_*``/``PG*`` variables.

The step is over when its command exits: a background process it started that still holds the
output open is neither waited for nor killed, and what it writes afterwards is not recorded.
Output is read by a daemon thread, so nothing a step leaves behind can keep drillkit from exiting.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from drillkit.backend.node import Node
from drillkit.secrets import Secrets
from drillkit.spec.steps import ShellStep as ShellStepSpec
from drillkit.tls import CA_FILE

__all__ = [
    "HOST_ENV_ALLOW",
    "OUTPUT_LIMIT",
    "Shell",
    "ShellStepError",
    "ShellTopology",
    "host_env",
    "host_steps",
]

OUTPUT_LIMIT = 4000  # characters of output kept in the history (the end of it)
HOST_ENV_ALLOW = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR")
_NODE_SECRET_ROOT = "/tmp"
_BUFFER_LIMIT = 1 << 20  # bytes of output kept while reading (the end of it)
_DRAIN_SECONDS = 0.5  # how long output is still read after the command exited


def host_steps(runbook: Sequence[object]) -> list[str]:
    """The runbook steps that run a command on the harness host (``runbook[i] shell 'name':
    'command'``): what ``drillkit validate`` lists and ``--no-host-steps`` refuses."""
    out = []
    for i, step in enumerate(runbook):
        if isinstance(step, ShellStepSpec) and step.target == "host":
            command = " ".join(step.run.split())
            command = command if len(command) <= 80 else command[:77] + "..."
            out.append(f"runbook[{i}] shell {step.name!r}: {command!r}")
    return out


def host_env(pass_env: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of drillkit's environment a host step inherits: the allow-listed variables and
    ``LC_*``, plus the names the step passes explicitly. Nothing else (no keys, no tokens)."""
    env = dict(os.environ) if environ is None else environ
    return {
        k: v for k, v in env.items() if k in HOST_ENV_ALLOW or k.startswith("LC_") or k in pass_env
    }


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
        topology = self.topology.shell_environment(inside=inside)
        # topology.tls: libpq verifies servers with the run's CA among the secret files
        tls = {"PGSSLROOTCERT": f"{secret_dir}/{CA_FILE}"} if "PGSSLMODE" in topology else {}
        return {
            **self.spec.env,
            **topology,
            "DK_SECRETS_DIR": secret_dir,
            "PGPASSFILE": f"{secret_dir}/pgpass",
            **tls,
        }

    # -- on the harness host -------------------------------------------------------------------
    def _on_host(self) -> tuple[int, str]:
        secret_dir = tempfile.mkdtemp(prefix="drillkit-step-")  # mode 0700
        try:
            for name, content in self.topology.secret_files(inside=False).items():
                fd = os.open(Path(secret_dir) / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(content)
            env = {
                **host_env(self.spec.pass_env),
                **self._env(inside=False, secret_dir=secret_dir),
            }
            return run_on_host(["bash", "-c", self.spec.run], env, self.timeout_seconds)
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


class _Reader(threading.Thread):
    """Reads a pipe until end of file or until told to stop; keeps the last bytes."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="drillkit-step-output", daemon=True)
        self.fd = fd
        self.data = bytearray()
        self.eof = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                if not ready:
                    continue
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.data += chunk
                if len(self.data) > _BUFFER_LIMIT:
                    del self.data[: len(self.data) - _BUFFER_LIMIT]
        except OSError:
            pass
        finally:
            self.eof.set()

    def finish(self, grace: float) -> str:
        """Wait up to ``grace`` seconds for the end of the output, then stop reading."""
        self.eof.wait(grace)
        self.stop.set()
        self.join(1.0)
        return bytes(self.data).decode("utf-8", "replace")


def run_on_host(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run ``argv`` in its own process group with stdout+stderr captured; return its exit status
    (-9 when killed at ``timeout``) and output. Never waits for more than ``timeout`` plus a
    second: a background child keeping the output open is not waited for."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,  # its own process group, killed whole at the timeout
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reader = _Reader(read_fd)
    reader.start()
    try:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = -9
        return code, reader.finish(_DRAIN_SECONDS)
    finally:
        reader.stop.set()
        reader.join(1.0)
        if not reader.is_alive():
            os.close(read_fd)


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
