"""Property-based fuzzing of drill files through ``drillkit validate``: whatever the file holds
(mutations of the shipped drills, text-level damage, random structures), validation never
raises, never prints a traceback, exits 0 or 2, stays short and fast. About 15 s in all."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "drills").glob("*.yaml"))
cli_main = importlib.import_module("drillkit.cli.main")
TIME_LIMIT_S = 3.0
# CI runs the same 150 examples per test every time (derandomized, ~10 s in all); set
# DRILLKIT_FUZZ_EXAMPLES=5000 to explore with fresh random examples.
EXPLORE = int(os.environ.get("DRILLKIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXPLORE or 150,
    deadline=None,  # the time bound is asserted per example, with a clearer message
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not EXPLORE,
    database=None,
)

# Values a hostile or careless author might put anywhere.
NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["", "[/x]", "[red]", "\x1b[2J", "../../etc/passwd", "/etc/passwd", "a" * 300, "on", "~"]
    ),
    st.text(max_size=40),
)
JSONISH = st.recursive(
    NASTY,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def layout() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="drillkit-fuzz-"))
    (root / "drills").mkdir()
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    yield root / "drills"
    shutil.rmtree(root, ignore_errors=True)


def validate(drills: Path, content: str | bytes) -> None:
    path = drills / "fuzz.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    result = CliRunner().invoke(cli_main.app, ["validate", str(path)])
    elapsed = time.monotonic() - started
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{output}"
    )
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 2), output
    assert "\x1b" not in output
    assert len(output) < 5000, f"{len(output)} characters"
    assert elapsed < TIME_LIMIT_S, f"{elapsed:.1f} s"


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(doc[head], rest, value, delete)
        return copy
    copy = list(doc)
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = _replace(doc[head], rest, value, delete)
    return copy


@st.composite
def mutated_drill(draw: st.DrawFn) -> str:
    """A shipped drill with a few of its values replaced, deleted or joined by new keys."""
    doc = yaml.safe_load(draw(st.sampled_from(SHIPPED)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        choice = draw(st.sampled_from(["replace", "delete", "add"]))
        if choice == "add":
            target = doc
            for p in path:
                target = target[p]
            if isinstance(target, dict):
                value = draw(JSONISH)
                key = draw(st.text(max_size=12))
                doc = _replace(doc, path, {**target, key: value}, False)
                continue
        doc = _replace(doc, path, draw(JSONISH), choice == "delete" and bool(path))
    return yaml.safe_dump(doc, allow_unicode=True)


@st.composite
def damaged_text(draw: st.DrawFn) -> str:
    """A shipped drill's text with lines duplicated, dropped or spliced with odd characters."""
    lines = draw(st.sampled_from(SHIPPED)).read_text().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["dup", "drop", "splice", "anchor"]))
        if action == "dup":
            lines.insert(i, lines[i])
        elif action == "drop" and len(lines) > 1:
            del lines[i]
        elif action == "splice":
            j = draw(st.integers(0, len(lines[i])))
            junk = draw(st.sampled_from(["[", "{", "&a ", "*a", ": ", "- ", "\t", "'", "!!", "%"]))
            lines[i] = lines[i][:j] + junk + lines[i][j:]
        else:
            lines.append(f"x{i}: &b{i} [*b{i - 1}, *b{i - 1}]" if i else "x0: &b0 [1, 2]")
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=mutated_drill())
def test_mutated_shipped_drills_never_crash_validate(layout: Path, text: str) -> None:
    validate(layout, text)


@FUZZ
@given(text=damaged_text())
def test_damaged_drill_text_never_crashes_validate(layout: Path, text: str) -> None:
    validate(layout, text)


@FUZZ
@given(doc=JSONISH)
def test_random_structures_never_crash_validate(layout: Path, doc: Any) -> None:
    validate(layout, yaml.safe_dump(doc, allow_unicode=True))


@settings(FUZZ, max_examples=EXPLORE or 60)
@given(data=st.binary(max_size=400))
def test_random_bytes_never_crash_validate(layout: Path, data: bytes) -> None:
    validate(layout, data)


@pytest.fixture(scope="module")
def no_runs() -> Iterator[None]:
    """A suite that got past validation would start containers: fail instead."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fuzzed suite got past validation")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importlib.import_module("drillkit.cli.run"), "run_suite", refuse)
        yield


SUITE_VALUES = st.one_of(
    JSONISH,
    st.builds(lambda names: {"drills": names}, st.lists(NASTY, max_size=4)),
)


@settings(FUZZ, max_examples=EXPLORE or 60)
@given(doc=SUITE_VALUES)
def test_random_suite_files_never_crash_run(layout: Path, no_runs: None, doc: Any) -> None:
    suites = layout.parent / "suites"  # no drill files here: nothing valid to name
    suites.mkdir(exist_ok=True)
    path = suites / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    args = ["run", "--suite", str(path), "--drills-dir", str(suites)]
    result = CliRunner().invoke(cli_main.app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
