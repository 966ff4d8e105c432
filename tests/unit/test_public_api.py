"""The curated public API: every exported name resolves, and importing drillkit stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import drillkit


@pytest.mark.parametrize("name", drillkit.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(drillkit, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        drillkit.nope  # noqa: B018


def test_exit_codes_and_errors_live_in_one_place() -> None:
    from drillkit.spec import DrillFileError
    from drillkit.suite import LockHeld

    assert (drillkit.EXIT_BAD_INPUT, drillkit.EXIT_LOCKED, drillkit.EXIT_INTERRUPTED) == (
        2,
        75,
        130,
    )
    assert DrillFileError("f.yaml", "name", "bad").exit_code == drillkit.EXIT_BAD_INPUT
    assert LockHeld().exit_code == drillkit.EXIT_LOCKED
    assert issubclass(drillkit.InfrastructureError, drillkit.DrillkitError)


def test_importing_drillkit_and_validating_loads_no_docker_or_database_client() -> None:
    code = (
        "import sys, drillkit, drillkit.spec; "
        "print(sorted(m for m in ('docker', 'psycopg', 'redis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
