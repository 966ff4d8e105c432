"""Who may import whom (any import, at module level or inside a function): the seams of
docs/architecture.md. A topology knows nodes, endpoints and admin operations, never the
workload's data; a fault never imports a checker or the workload."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "drillkit"

# (modules under this package, may not import anything under these)
RULES = [
    ("topology", ("drillkit.workload", "drillkit.checkers")),
    ("faults", ("drillkit.workload", "drillkit.checkers")),
    ("workload", ("drillkit.topology", "drillkit.checkers", "drillkit.faults")),
]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return out


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_import_rule(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, forbidden) == []


def test_the_rule_finds_an_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from drillkit.workload.pg_writer import TABLE\n")
    assert "drillkit.workload.pg_writer" in _imports(module)


def test_the_data_faults_know_the_workloads_table_without_importing_it() -> None:
    from drillkit.faults.data import WORKLOAD_TABLE, DeleteRange, DropTable
    from drillkit.spec.faults import DeleteRangeFault, DropTableFault
    from drillkit.workload.pg_writer import TABLE

    assert WORKLOAD_TABLE == TABLE == DropTableFault.model_fields["table"].default
    assert DeleteRange(DeleteRangeFault(kind="delete-range")).table == TABLE  # no table field
    assert DropTable(DropTableFault(kind="drop-table", table="t")).table == "t"
