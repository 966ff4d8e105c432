"""The drills and scenarios shipped with drillkit.

They live inside the package, so an installed drillkit runs them from any directory
(``drillkit list``, ``drillkit run failover``) and ``drillkit init`` copies them out for editing.
A checkout has ``drills/`` and ``scenarios/`` at its root (links to these folders).

Lookup rules (documented in docs/drill-files.md):

- drill NAMEs: ``--drills-dir`` (or ``DRILLKIT_DRILLS_DIR``), else ``./drills`` when it exists,
  else the shipped drills;
- ``topology: NAME`` in a drill file: ``<the drill's folder>/../scenarios/NAME.yaml``, else the
  shipped scenario of that name.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

__all__ = ["DRILLS", "SCENARIOS", "copy_shipped", "drills_home", "scenarios_for"]

_ROOT = Path(str(resources.files(__name__)))
DRILLS = _ROOT / "drills"
SCENARIOS = _ROOT / "scenarios"


def drills_home(given: Path | None = None) -> Path:
    """Where drill NAMEs are looked up: ``given``, else ``./drills``, else the shipped drills."""
    if given is not None:
        return given
    local = Path("drills")
    return local if local.is_dir() else DRILLS


def scenarios_for(drill_path: Path, name: object) -> Path:
    """The scenarios folder for ``topology: name`` in ``drill_path``: the one beside the drill's
    folder when it has that scenario (or when nothing else has it), else the shipped one."""
    local = drill_path.resolve().parent.parent / "scenarios"
    if not isinstance(name, str) or _has(local, name):
        return local
    return SCENARIOS if _has(SCENARIOS, name) else local


def _has(folder: Path, name: str) -> bool:
    try:
        return (folder / f"{name}.yaml").is_file()
    except (OSError, ValueError):  # a name no file can have (too long, NUL): the loader says so
        return False


def copy_shipped(target: Path) -> list[Path]:
    """Copy the shipped drills and scenarios into ``target/drills`` and ``target/scenarios``;
    never overwrites a file. Returns what was written."""
    written: list[Path] = []
    for source in (DRILLS, SCENARIOS):
        folder = target / source.name
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.yaml")):
            dest = folder / path.name
            if not dest.exists():
                shutil.copyfile(path, dest)
                written.append(dest)
    return written
