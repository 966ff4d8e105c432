"""The reference under docs/reference/ is generated from the code and must be current."""

from __future__ import annotations

from pathlib import Path

from drillkit import docgen

ROOT = Path(__file__).resolve().parents[2]


def test_generated_reference_is_current() -> None:
    stale = docgen.stale(ROOT)
    assert not stale, (
        f"{', '.join(stale)} out of date with the code; regenerate with "
        "`PYTHONPATH=src python -m drillkit docs --write` (or `drillkit docs --write`) and commit"
    )


def test_fault_reference_names_every_kind_and_its_parameters() -> None:
    from drillkit.spec.faults import FAULT_SPECS

    text = docgen.render_faults()
    for kind in FAULT_SPECS:
        assert f"## `kind: {kind}`" in text
    assert "| `faults[].percent` | float, > 0, <= 100 | required |" in text
    assert "| `faults[].at` | float, >= 0, <= 86400 | 0 |" in text


def test_drill_file_reference_has_nested_fields_and_step_kinds() -> None:
    text = docgen.render_drill_file()
    assert "| `workload.rate` | float, >= 0, <= 100000 | 500 |" in text
    assert "| `topology.pgbackrest.archive_timeout_seconds` |" in text
    assert "### `step: redis-restore`" in text
    assert '| `runbook[].source` | one of "aof", "rdb", "backup" | required |' in text


def test_write_then_check(tmp_path: Path) -> None:
    assert sorted(docgen.stale(tmp_path)) == sorted(docgen.GENERATED)
    assert sorted(docgen.write(tmp_path)) == sorted(docgen.GENERATED)
    assert docgen.stale(tmp_path) == []
    (tmp_path / "docs/reference/faults.md").write_text("edited by hand\n", encoding="utf-8")
    assert docgen.stale(tmp_path) == ["docs/reference/faults.md"]
