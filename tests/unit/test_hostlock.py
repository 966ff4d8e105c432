"""The host lock (issue 11): a private directory, a file opened without following symlinks and
never truncated unless ours, mode 0600, keyed by the Docker daemon's ID."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from drillkit.hostlock import (
    LOCK_DIR_ENV,
    LockHeld,
    UnsafeLock,
    lock_dir,
    lock_path,
    private_dir,
    run_lock,
)
from drillkit.resources import daemon_key


def test_a_symlink_planted_as_the_lock_file_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = tmp_path / "drillkit.lock"
    planted.symlink_to(victim)
    with pytest.raises(UnsafeLock, match="symlink"), run_lock(planted):
        pass
    assert victim.read_text() == "precious\n"


def test_a_hard_link_to_another_file_is_never_truncated(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, tmp_path / "drillkit.lock")
    with pytest.raises(UnsafeLock, match="hard links"), run_lock(tmp_path / "drillkit.lock"):
        pass
    assert victim.read_text() == "precious\n"


def test_the_lock_file_is_0600_and_a_loose_one_is_tightened(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.lock"
    with run_lock(fresh):
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    loose = tmp_path / "loose.lock"
    loose.write_text("")
    loose.chmod(0o644)  # any user could take a shared flock on it and block every run
    with run_lock(loose):
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
        assert "pid" in loose.read_text()


def test_the_lock_directory_is_created_0700_and_refused_when_others_can_write(
    tmp_path: Path,
) -> None:
    made = private_dir(tmp_path / "d" / "drillkit")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeLock, match="writable by group or others"):
        private_dir(shared)
    link = tmp_path / "link"
    link.symlink_to(made)
    with pytest.raises(UnsafeLock, match="not a directory"):
        private_dir(link)


def test_a_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(UnsafeLock, match="belongs to uid"):
        private_dir(tmp_path)


def test_the_lock_lives_in_the_private_dir_named_after_the_daemon_id(tmp_path: Path) -> None:
    env = {LOCK_DIR_ENV: str(tmp_path / "locks")}
    path = lock_path("docker:ABCD", env)
    assert path.parent == tmp_path / "locks" and path.name.startswith("daemon-")
    assert lock_path("docker:ABCD", env) == path
    assert lock_path("docker:OTHER", env) != path
    assert lock_dir(env) == tmp_path / "locks"


class _Daemon:
    def __init__(self, daemon_id: str) -> None:
        self.daemon_id = daemon_id

    def info(self) -> dict[str, Any]:
        return {"ID": self.daemon_id}


def test_two_spellings_of_one_daemon_share_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    first = daemon_key(lambda: _Daemon("3f2a-daemon"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/docker.sock")
    second = daemon_key(lambda: _Daemon("3f2a-daemon"))
    assert first == second == "docker:3f2a-daemon"
    with (
        run_lock(key=lambda: first),
        pytest.raises(LockHeld),
        run_lock(key=lambda: second),
    ):
        pass


def test_an_unreachable_daemon_falls_back_to_the_docker_host_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable() -> Any:
        raise OSError("no socket")

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert daemon_key(unreachable) == "host:tcp://127.0.0.1:9"


def test_drillkit_run_refuses_an_unsafe_lock_directory_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from drillkit.cli.run import RunRequest, run_command

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(LOCK_DIR_ENV, str(shared))
    monkeypatch.setattr("drillkit.suite.daemon_key", lambda: "docker:x")
    buf = io.StringIO()
    request = RunRequest("failover", Path(__file__).parents[2] / "drills", tmp_path / "reports")
    code = run_command(
        request, out=Console(file=io.StringIO()), err=Console(file=buf, width=300), progress=print
    )
    assert code == 3 and "writable by group or others" in buf.getvalue()
    assert not (tmp_path / "reports").exists()
