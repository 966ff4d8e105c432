"""Unit tests never touch the user's real lock directory (heartbeats, host lock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.hostlock import LOCK_DIR_ENV


@pytest.fixture(autouse=True)
def _private_lock_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    directory = tmp_path_factory.mktemp("lockdir")
    directory.chmod(0o700)
    monkeypatch.setenv(LOCK_DIR_ENV, str(directory))
    return directory
