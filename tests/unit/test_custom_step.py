"""Custom runbook steps on the harness host: environment, credentials file, output, failures,
timeouts, retries. No Docker: the topology is a fake that describes itself as PostgresCluster does.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from builders import ms

from drillkit.backend.docker import DockerNode
from drillkit.backend.node import Node
from drillkit.history import History, OpType
from drillkit.runbook import make_step, run_runbook
from drillkit.runbook.custom import HOST_ENV_ALLOW, Shell, ShellStepError, ShellTopology
from drillkit.secrets import Secrets
from drillkit.spec.steps import ShellStep

PASSWORD = "s3cret-Pa55word-xyz"


@dataclass
class FakeContainer:
    name: str = "dk-x-pg1"
    archives: list[tuple[str, bytes]] = field(default_factory=list)
    execs: list[tuple[list[str], dict[str, str] | None]] = field(default_factory=list)
    output: bytes = b"done\n"
    exit_code: int = 0

    def put_archive(self, path: str, data: bytes) -> bool:
        self.archives.append((path, data))
        return True

    def exec_run(self, cmd: list[str], environment: dict[str, str] | None = None, **_: Any) -> Any:
        self.execs.append((cmd, environment))
        if cmd[:2] == ["sh", "-c"]:
            return _Result(0, b"102\n104\n")
        return _Result(self.exit_code, self.output)


@dataclass
class _Result:
    exit_code: int
    output: bytes


class FakeTopology:
    def __init__(self) -> None:
        self.client = None
        self.secrets = Secrets({"postgres": PASSWORD})
        self.nodes = [
            DockerNode("pg0", "primary", FakeContainer("dk-x-pg0")),
            DockerNode("pg1", "replica", FakeContainer()),
        ]

    def resolve(self, target: str) -> list[Node]:
        return [n for n in self.nodes if target in (n.name, n.role)]

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        host = "dk-x-pg0" if inside else "127.0.0.1"
        return {
            "DK_NODES": "pg0 pg1",
            "DK_PRIMARY": "pg0",
            "DK_PRIMARY_HOST": host,
            "DK_PRIMARY_PORT": "5432" if inside else "54321",
            "PGUSER": "postgres",
        }

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        host = "dk-x-pg0" if inside else "127.0.0.1"
        return {"pgpass": f"{host}:*:*:postgres:{PASSWORD}\n"}


def shell(run: str, **fields: Any) -> Shell:
    step = make_step(ShellStep(step="shell", run=run, **fields), FakeTopology())
    assert isinstance(step, Shell)
    return step


@pytest.fixture
def history() -> History:
    ticks = itertools.count(0, ms(10))
    return History(clock=lambda: next(ticks))


def test_the_fake_describes_itself_like_a_shell_topology() -> None:
    assert isinstance(FakeTopology(), ShellTopology)


def test_the_command_sees_the_topology_and_a_0600_password_file_but_no_password() -> None:
    result = shell(
        'echo "nodes=$DK_NODES primary=$DK_PRIMARY@$DK_PRIMARY_HOST:$DK_PRIMARY_PORT"; '
        'echo "mode=$(stat -c %a "$PGPASSFILE") dir=$(stat -c %a "$DK_SECRETS_DIR")"; '
        'echo "team=$TEAM_VAR"; env',
        env={"TEAM_VAR": "blue"},
    ).run()

    out = result["output"]
    assert "nodes=pg0 pg1 primary=pg0@127.0.0.1:54321" in out
    assert "mode=600 dir=700" in out
    assert "team=blue" in out
    assert PASSWORD not in out  # the full environment dump holds only the file's path
    assert result["exit_status"] == 0 and result["on"] == "host"


def test_the_password_file_is_usable_and_gone_after_the_step() -> None:
    result = shell('cut -d: -f5 "$PGPASSFILE"; echo "path=$PGPASSFILE"').run()

    # The script could read the password (libpq would); the recorded output is redacted.
    assert PASSWORD not in result["output"]
    assert "***" in result["output"]
    path = next(ln for ln in result["output"].splitlines() if ln.startswith("path="))[5:]
    assert not Path(path).exists()
    assert not Path(path).parent.exists()


def test_a_failing_command_fails_the_step_with_its_status_and_output_redacted() -> None:
    with pytest.raises(ShellStepError) as info:
        shell(f'echo "connecting as postgres/{PASSWORD}"; echo boom >&2; exit 3').run()

    message = str(info.value)
    assert "exited 3" in message and "boom" in message
    assert PASSWORD not in message


def test_a_failing_step_ends_the_runbook_and_the_history_names_it(history: History) -> None:
    steps = [
        shell("true", name="check-primary"),
        shell("exit 4", name="fence-old-primary"),
        shell("true", name="never-runs"),
    ]

    result = run_runbook(steps, history, sleep=lambda _s: None)

    assert (result.completed, result.failed_step) == (["check-primary"], "fence-old-primary")
    assert [(op.type, op.f) for op in history] == [
        (OpType.INVOKE, "check-primary"),
        (OpType.OK, "check-primary"),
        (OpType.INVOKE, "fence-old-primary"),
        (OpType.FAIL, "fence-old-primary"),
    ]
    assert "exited 4" in (history.ops()[-1].error or "")


def test_output_is_recorded_with_the_step(history: History) -> None:
    run_runbook([shell("echo restored 42 rows", name="verify")], history, sleep=lambda _s: None)

    done = history.ops()[-1]
    assert done.type is OpType.OK
    assert done.value["output"] == "restored 42 rows\n"


def test_the_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()

    with pytest.raises(ShellStepError, match="killed at its timeout"):
        shell(f"sleep 30 & echo $! > {pid_file}; wait", timeout_seconds=0.5).run()

    assert time.monotonic() - started < 5
    child = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    time.sleep(0.1)
    # Gone, or a zombie waiting for its new parent to reap it: either way no longer running.
    assert not child.exists() or child.read_text().split(") ")[1].startswith("Z")


def test_retries_run_the_command_again_within_the_step(history: History, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    script = (
        f"n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}; [ $n -ge 3 ]"
    )
    slept: list[float] = []

    result = run_runbook(
        [shell(script, retries=4, retry_wait_seconds=2)], history, sleep=slept.append
    )

    assert result.ok
    assert counter.read_text().strip() == "3"
    assert slept == [2, 2]  # waits between attempts use the injected sleep
    done = history.ops()[-1]
    assert done.extra["attempts"] == 3
    assert len(done.extra["attempt_errors"]) == 2


def test_retries_give_up_after_the_last_attempt(history: History) -> None:
    result = run_runbook(
        [shell("exit 1", retries=2, retry_wait_seconds=0)], history, sleep=lambda _s: None
    )

    assert result.failed_step == "shell"
    assert history.ops()[-1].extra["attempts"] == 3


def test_inside_a_node_the_files_are_0600_and_the_environment_uses_network_names() -> None:
    topology = FakeTopology()
    step = make_step(
        ShellStep(step="shell", run="psql -c 'select 1'", target="replica", timeout_seconds=7),
        topology,
    )

    result = step.run()

    container = topology.nodes[1].container
    assert result == {
        "on": "pg1",
        "command": "psql -c 'select 1'",
        "exit_status": 0,
        "seconds": result["seconds"],
        "output": "done\n",
    }
    ((parent, data),) = container.archives
    assert parent == "/tmp"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    directory = next(m for m in members.values() if m.isdir())
    assert (directory.mode, directory.uid, directory.gid) == (0o700, 102, 104)
    pgpass = members[f"{directory.name}/pgpass"]
    assert (pgpass.mode, pgpass.uid) == (0o600, 102)
    command, env = container.execs[1]
    assert command[:4] == ["timeout", "-s", "KILL", "7"]
    assert env is not None
    assert env["DK_PRIMARY_HOST"] == "dk-x-pg0"
    assert env["PGPASSFILE"] == f"/tmp/{directory.name}/pgpass"
    assert PASSWORD not in repr(env)
    assert container.execs[-1][0] == ["rm", "-rf", f"/tmp/{directory.name}"]


def test_a_failing_command_inside_a_node_fails_the_step() -> None:
    topology = FakeTopology()
    topology.nodes[0].container.exit_code = 2
    step = make_step(ShellStep(step="shell", run="false", target="primary"), topology)

    with pytest.raises(ShellStepError, match="on pg0 exited 2"):
        step.run()


def test_a_host_step_inherits_only_the_allow_list_and_what_it_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRILLKIT_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nAAAA\n")
    monkeypatch.setenv("DRILLKIT_SIGNING_KEY_FILE", "/etc/drillkit/signing.pem")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloud-token-123")
    monkeypatch.setenv("TEAM_ENDPOINT", "https://example.invalid")
    monkeypatch.setenv("LC_TIME", "C")

    out = shell("env", pass_env=["TEAM_ENDPOINT"]).run()["output"]

    names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    assert "DRILLKIT_SIGNING_KEY" not in names and "DRILLKIT_SIGNING_KEY_FILE" not in names
    assert "AWS_SECRET_ACCESS_KEY" not in names and "cloud-token-123" not in out
    assert {"PATH", "LC_TIME", "TEAM_ENDPOINT", "DK_PRIMARY", "PGPASSFILE"} <= names
    assert names <= {*HOST_ENV_ALLOW, "LC_TIME", "TEAM_ENDPOINT", "PWD", "SHLVL", "_"} | {
        n for n in names if n.startswith(("DK_", "PG"))
    }


@pytest.mark.parametrize("name", ["DRILLKIT_SIGNING_KEY", "DK_PRIMARY", "PGPASSWORD", "1X"])
def test_pass_env_refuses_drillkits_own_and_secret_names(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ShellStep(step="shell", run="env", pass_env=[name])


def test_pass_env_is_for_host_steps_only() -> None:
    with pytest.raises(ValueError, match="pass_env"):
        ShellStep(step="shell", run="env", target="primary", pass_env=["HOME"])


def test_a_background_child_holding_the_output_does_not_make_the_step_time_out(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    try:
        result = shell(f"sleep 30 & echo $! > {pid_file}; echo started", timeout_seconds=10).run()
        took = time.monotonic() - started
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)

    assert result["exit_status"] == 0
    assert result["output"] == "started\n"
    assert took < 3  # the step's own exit, plus at most the drain grace


def test_a_failing_step_with_a_background_child_reports_its_own_exit(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    try:
        with pytest.raises(ShellStepError, match="exited 3"):
            shell(f"sleep 30 & echo $! > {pid_file}; exit 3", timeout_seconds=10).run()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_the_output_reader_is_a_daemon_thread_and_is_gone_after_the_step() -> None:
    shell("echo hi").run()

    assert not [t for t in threading.enumerate() if t.name == "drillkit-step-output"]
