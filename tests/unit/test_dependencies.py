"""What a runtime install brings (issue 11): every third-party module drillkit imports is declared,
floors sit above versions with known advisories, and the test and lint tools stay out of the
runtime install that ./scripts/drill.sh (and scheduled runs) make."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


RUNTIME = {_norm(Requirement(r).name): Requirement(r) for r in PROJECT["dependencies"]}
DEV_TOOLS = {"pytest", "ruff", "mypy", "playwright", "jsonschema", "hypothesis", "types-pyyaml"}


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "drillkit").rglob("*.py"):
        if path.name == "pytest_plugin.py":
            continue  # loaded by pytest only, where pytest is installed
        if path.name == "pdf.py":
            continue  # `drillkit report pdf` only: without playwright it says how to install it
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"drillkit", "__future__"}


def test_every_imported_third_party_module_is_a_declared_runtime_dependency() -> None:
    dists = packages_distributions()
    missing = {
        module
        for module in _imported_top_levels()
        if not {_norm(d) for d in dists.get(module, [module])} & RUNTIME.keys()
    }
    assert not missing, f"imported but not in [project].dependencies: {sorted(missing)}"


def test_runtime_floors_are_above_known_vulnerable_versions() -> None:
    floors = {
        "cryptography": "44.0.1",
        "requests": "2.32.4",
        "urllib3": "2.5",
        "pyyaml": "6.0.1",
        "redis": "5.0",
    }
    for name, floor in floors.items():
        (spec,) = RUNTIME[name].specifier
        assert spec.operator == ">=" and Version(spec.version) >= Version(floor), name


def test_dev_tools_are_extras_not_runtime_dependencies() -> None:
    assert not DEV_TOOLS & RUNTIME.keys()
    dev = {_norm(Requirement(r).name) for r in PROJECT["optional-dependencies"]["dev"]}
    assert {"pytest", "ruff", "mypy", "playwright"} <= dev


def test_drill_sh_installs_the_runtime_only_and_test_sh_the_dev_tools() -> None:
    drill = (ROOT / "scripts" / "drill.sh").read_text()
    test = (ROOT / "scripts" / "test.sh").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(r"^\./scripts/setup\.sh$", drill, re.M)
    assert re.search(r"^\./scripts/setup\.sh --dev$", test, re.M)
    installs = re.findall(r'pip install -q -e "(\$\w+)"', setup)
    assert installs == ["$target"]
    assert 'target="."' in setup and 'target=".[dev]"' in setup
    assert '"$dev" -eq 1 ] && command -v apt-get' in setup  # test-only Debian packages too
