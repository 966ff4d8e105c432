"""A catalog of hostile drill and suite files, each run through the real CLI (``drillkit
validate`` / ``drillkit run --suite``): the exit code, a fragment of the message, no traceback,
bounded time and memory. Nothing here starts a container: a suite that got past validation
would fail the test (``run_suite`` is replaced)."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drillkit.cli import run as cli_run
from drillkit.cli.main import app

REPO = Path(__file__).resolve().parents[2]
BASE = "name: unit\ntopology: {kind: postgres}\nfaults: [{kind: kill}]\ntargets: {rpo_seconds: 1}\n"
TIME_LIMIT_S = 5.0
MEMORY_LIMIT = 64 * 1024 * 1024

Make = Callable[[Path], Path]  # given the drills dir, create the file and return its path


@dataclass(frozen=True)
class Case:
    id: str
    content: str | bytes | Make
    exit: int
    fragment: str
    suite: bool = False


def base(**replace: str) -> str:
    """BASE with top-level lines replaced (``name="name: x"``) or added."""
    lines = dict(line.split(":", 1) for line in BASE.splitlines())
    for key, value in replace.items():
        lines[key] = value
    return "".join(f"{k}:{v}\n" for k, v in lines.items())


def alias_bomb(levels: int, width: int = 9) -> str:
    rows = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        rows.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(rows) + f"\n{BASE}description: *a{levels - 1}\n"


def literal_bomb(levels: int) -> str:
    """The issue's shape: the alias expanded into a literal field, whose error message used to
    repeat the whole expansion (483 bytes: 3.5 s, 310 MB; 537 bytes: still running at 30 s)."""
    text = alias_bomb(levels).split("\nname: unit")[0]
    return text + f"\n{base(topology=f' {{kind: postgres, replication: *a{levels - 1}}}')}"


def fifo(d: Path) -> Path:
    path = d / "fifo.yaml"
    os.mkfifo(path)
    return path


def directory(d: Path) -> Path:
    path = d / "dir.yaml"
    path.mkdir()
    return path


def symlink_to(target: str) -> Make:
    def make(d: Path) -> Path:
        path = d / "link.yaml"
        path.symlink_to(target)
        return path

    return make


def in_dir(name: str) -> Make:
    def make(d: Path) -> Path:
        path = d / name / "drill.yaml"
        path.parent.mkdir()
        path.write_text("name: a\nname: b\n")
        return path

    return make


def fixed(path: str) -> Make:
    return lambda d: Path(path)


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return base(description=" " + open_ * depth + close * depth)


def deep_mapping(depth: int) -> str:
    return base(description=" " + "{a: " * depth + "1" + "}" * depth)


def deep_block(depth: int) -> str:
    lines = [f"{'  ' * i}k{i}:" for i in range(depth)]
    return BASE + "extra:\n" + "\n".join("  " + line for line in lines) + " 1\n"


def fault(text: str) -> str:
    return base(faults=f" [{text}]")


def shell(text: str) -> str:
    return base(runbook=f" [{{step: shell, {text}}}]")


LONG = "a" * 300
DRILL_CASES = [
    # -- what the file is -------------------------------------------------------------------
    Case("fifo", fifo, 2, "not a regular file"),
    Case("dev-zero", fixed("/dev/zero"), 2, "not a regular file"),
    Case("dev-null", fixed("/dev/null"), 2, "not a regular file"),
    Case("directory", directory, 2, "is a directory"),
    Case("missing", fixed("/nonexistent/drill.yaml"), 2, "no such file"),
    Case("symlink-to-dev-zero", symlink_to("/dev/zero"), 2, "not a regular file"),
    Case("symlink-to-a-drill", symlink_to(str(REPO / "drills/failover.yaml")), 0, "ok (drill"),
    Case("over-1-MiB", BASE + "#" * (1024 * 1024) + "\n", 2, "larger than 1024 KiB"),
    Case("name-too-long-for-the-os", fixed("/tmp/" + "x" * 300 + ".yaml"), 2, "cannot read"),
    Case("path-under-[red]", in_dir("[red]"), 2, "/[red]/drill.yaml: line 2: duplicate key"),
    # -- encoding and syntax ----------------------------------------------------------------
    Case(
        "latin-1",
        BASE.replace("unit", "unit\ndescription: caf\xe9").encode("latin-1"),
        2,
        "not UTF-8",
    ),
    Case("binary-junk", bytes(range(256)) * 4, 2, "not UTF-8"),
    Case("nul-in-text", BASE + "description: a\x00b\n", 2, "not valid YAML"),
    Case("empty", "", 2, "must be a YAML mapping"),
    Case("only-a-comment", "# nothing\n", 2, "must be a YAML mapping"),
    Case("a-list-at-top-level", "- name: unit\n", 2, "must be a YAML mapping"),
    Case("a-scalar-at-top-level", "failover\n", 2, "must be a YAML mapping"),
    Case("two-documents", BASE + "---\n" + BASE, 2, "but found another document"),
    Case("tab-indentation", "faults:\n\t- kind: kill\n", 2, "not valid YAML"),
    Case("unterminated-quote", 'name: "unit\n', 2, "not valid YAML"),
    Case(
        "python-object-tag",
        base(description=' !!python/object/apply:os.system ["id"]'),
        2,
        "could not determine a constructor",
    ),
    Case("complex-key", BASE + "? [a, b]\n: c\n", 2, "a mapping key must be a plain value"),
    # -- aliases, nesting --------------------------------------------------------------------
    Case("alias-bomb-486-bytes", alias_bomb(7), 2, "expands to more than 10000 values"),
    Case("alias-bomb-580-bytes", alias_bomb(9), 2, "expands to more than 10000 values"),
    Case("alias-bomb-in-a-literal-483-bytes", literal_bomb(7), 2, "expands to more than"),
    Case("alias-bomb-in-a-literal-537-bytes", literal_bomb(8), 2, "expands to more than"),
    Case("recursive-alias", base(description=" &x [*x]"), 2, "recursive alias"),
    Case(
        "too-many-aliases",
        "a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n" + BASE,
        2,
        "more than 100 aliases",
    ),
    Case(
        "a-few-aliases-are-fine",
        base(targets=" &t {rpo_seconds: 1}", description=" x") + "x-unused: *t\n",
        2,
        "unknown field",
    ),
    Case("merge-key", base(targets=" {<<: {rpo_seconds: 1}, rto_seconds: 2}"), 0, "ok (drill"),
    Case("nesting-20000-lists", nested(20000), 2, "nested deeper than 64 levels"),
    Case("nesting-500000-lists", nested(500_000), 2, "nested deeper than 64 levels"),
    Case("nesting-20000-mappings", deep_mapping(20000), 2, "nested deeper than 64 levels"),
    Case("nesting-200-block", deep_block(200), 2, "nested deeper than 64 levels"),
    # -- duplicate keys ---------------------------------------------------------------------
    Case(
        "duplicate-name",
        BASE + "name: other\n",
        2,
        "line 5: duplicate key 'name' (first at line 1)",
    ),
    Case(
        "duplicate-in-a-fault",
        fault("{kind: kill, target: primary, target: replica}"),
        2,
        "duplicate key 'target'",
    ),
    Case(
        "duplicate-target",
        base(targets=" {rpo_seconds: 1, rpo_seconds: 100}"),
        2,
        "duplicate key 'rpo_seconds'",
    ),
    Case("duplicate-numeric-key", BASE + "1: a\n1: b\n", 2, "duplicate key 1"),
    # -- numbers ----------------------------------------------------------------------------
    Case("rpo-inf", base(targets=" {rpo_seconds: .inf}"), 2, "finite number"),
    Case("rpo-nan", base(targets=" {rpo_seconds: .nan}"), 2, "finite number"),
    Case("rto-minus-inf", base(targets=" {rto_seconds: -.inf}"), 2, "finite number"),
    Case("rate-nan", base(workload=" {rate: .nan}"), 2, "finite number"),
    Case("fault-at-inf", fault("{kind: kill, at: .inf}"), 2, "finite number"),
    Case(
        "repeat-every-nan",
        fault("{kind: pause, duration: 1, repeat: {every: .nan, times: 2}}"),
        2,
        "finite number",
    ),
    Case("float-overflow-1e400", base(targets=" {rto_seconds: 1e400}"), 2, "finite number"),
    Case(
        "int-5000-digits",
        base(targets=" {max_lost_writes: " + "9" * 5000 + "}"),
        2,
        "a number of 5000 digits",
    ),
    Case(
        "int-4000-digits",
        base(targets=" {max_lost_writes: " + "9" * 4000 + "}"),
        2,
        "a number of 4000 digits",
    ),
    Case("hex-int-30-digits", base(targets=" {max_lost_writes: 0x" + "f" * 30 + "}"), 2, "digits"),
    Case(
        "int-above-bound",
        base(targets=" {max_lost_writes: 10000000000000000}"),
        2,
        "less than or equal to",
    ),
    Case("rpo-a-year", base(targets=" {rpo_seconds: 31536000}"), 2, "less than or equal to"),
    Case("negative-at", fault("{kind: kill, at: -1}"), 2, "greater than or equal to 0"),
    Case("rows-huge", fault("{kind: delete-range, rows: 99999999999}"), 2, "less than or equal"),
    # -- names and references ---------------------------------------------------------------
    Case("scenario-name-300-chars", base(topology=" " + LONG), 2, "is not a scenario name"),
    Case("scenario-dotdot", base(topology=" ../../etc/passwd"), 2, "is not a scenario name"),
    Case("scenario-absolute", base(topology=" /etc/passwd"), 2, "is not a scenario name"),
    Case("scenario-with-slash", base(topology=" sub/x"), 2, "is not a scenario name"),
    Case("scenario-nul", base(topology=' "a\\0b"'), 2, "is not a scenario name"),
    Case("scenario-unknown", base(topology=" nope"), 2, "no scenario 'nope'"),
    Case("scenario-known", base(topology=" pg-async-pair"), 0, "ok (drill"),
    Case("drill-name-300-chars", base(name=" " + LONG), 2, "name: String should match pattern"),
    Case("drill-name-timestamp", base(name=" 2001-01-01"), 2, "valid string"),
    Case("step-name-300-chars", shell(f"name: {LONG}, run: 'true'"), 2, "is not a step name"),
    Case("shell-run-nul", shell('run: "a\\0b"'), 2, "NUL"),
    Case("shell-env-nul", shell('run: "true", env: {A: "x\\0"}'), 2, "NUL"),
    Case("huge-kind", fault("{kind: " + "k" * 100_000 + "}"), 2, "is not a fault"),
    Case("big-description-is-fine", base(description=" " + "d" * 200_000), 0, "ok (drill"),
    Case(
        "too-many-values",
        base(description=" [" + "1," * 400_000 + "1]"),
        2,
        "more than 10000 values",
    ),
    # -- markup and control characters ------------------------------------------------------
    Case("markup-in-description", base(description=' "[/x] [red]boom"'), 0, "ok (drill"),
    Case("esc-in-description", base(description=' "\\e[2J\\e]0;pwned\\a"'), 0, "ok (drill"),
    Case("markup-in-fault-kind", fault("{kind: '[/x]'}"), 2, "'[/x]' is not a fault"),
    Case("markup-in-target", fault("{kind: kill, target: '[bold]x[/]'}"), 2, "is not a target"),
    Case("esc-in-name", base(name=' "\\e[31mred"'), 2, "name: String should match pattern"),
    Case("esc-in-kind", fault('{kind: "\\e[31mkill"}'), 2, "'\\x1b[31mkill' is not a fault"),
    Case("esc-in-the-path", in_dir("\x1b[2J"), 2, "/\\x1b[2J/drill.yaml: line 2: duplicate key"),
    Case("bidi-override-in-kind", fault('{kind: "kill\\u202e"}'), 2, "kill\\u202e"),
    # -- wrong types, unknown fields, the usual ---------------------------------------------
    Case("faults-a-string", base(faults=" kill"), 2, "faults: Input should be a valid list"),
    Case("targets-a-number", base(targets=" 5"), 2, "targets"),
    Case("writers-a-word", base(workload=" {writers: many}"), 2, "valid integer"),
    Case("unknown-top-level-field", BASE + "fualts: []\n", 2, "fualts: unknown field"),
    Case("unknown-fault", fault("{kind: nuke}"), 2, "'nuke' is not a fault"),
    Case(
        "missing-targets",
        "name: unit\ntopology: {kind: postgres}\nfaults: [{kind: kill}]\n",
        2,
        "targets: required field is missing",
    ),
    Case("the-shipped-failover", (REPO / "drills/failover.yaml").read_text(), 0, "ok (drill"),
]


def suite_with(drill: str) -> Make:
    """A suite naming one drill file, written beside it."""

    def make(d: Path) -> Path:
        (d / "hostile.yaml").write_text(drill)
        path = d / "suite.yaml"
        path.write_text("drills: [hostile]\n")
        return path

    return make


SUITE_CASES = [
    Case("suite-latin-1", "drills: [caf\xe9]\n".encode("latin-1"), 2, "not UTF-8", True),
    Case("suite-duplicate-drills", "drills: [a]\ndrills: [b]\n", 2, "duplicate key 'drills'", True),
    Case("suite-empty", "", 2, "expected a non-empty list", True),
    Case("suite-a-list", "- a\n", 2, "expected a non-empty list", True),
    Case("suite-drills-a-string", "drills: failover\n", 2, "expected a non-empty list", True),
    Case("suite-drills-numbers", "drills: [1, 2]\n", 2, "expected a non-empty list", True),
    Case("suite-numeric-key", "drills: [a]\n1: x\nb: y\n", 2, "1: unknown field", True),
    Case("suite-fifo", fifo, 2, "not a regular file", True),
    Case("suite-dev-zero", fixed("/dev/zero"), 2, "not a regular file", True),
    Case("suite-directory", directory, 2, "is a directory", True),
    Case(
        "suite-alias-bomb",
        alias_bomb(7).replace(BASE, "drills: [a]\n"),
        2,
        "expands to more than",
        True,
    ),
    Case("suite-deep", "drills: " + "[" * 20000 + "]" * 20000 + "\n", 2, "nested deeper", True),
    Case("suite-missing-drill", "drills: [nope]\n", 2, "no such file", True),
    Case("suite-drill-name-300", f"drills: [{LONG}]\n", 2, "cannot read", True),
    Case("suite-drill-nul", 'drills: ["a\\0b"]\n', 2, "NUL", True),
    Case("suite-drill-markup", "drills: ['[/x]']\n", 2, "[/x]", True),
    Case("suite-of-a-hostile-drill", suite_with(BASE + "name: x\n"), 2, "duplicate key", True),
    Case("suite-of-an-alias-bomb", suite_with(alias_bomb(9)), 2, "expands to more than", True),
]
CASES = DRILL_CASES + SUITE_CASES


def test_the_catalog_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def _materialise(case: Case, tmp_path: Path) -> Path:
    drills = tmp_path / "drills"
    drills.mkdir()
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "pg-async-pair.yaml").write_text(
        (REPO / "scenarios/pg-async-pair.yaml").read_text()
    )
    if callable(case.content):
        return case.content(drills)
    path = drills / ("suite.yaml" if case.suite else "drill.yaml")
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_file(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a hostile suite got past validation")

    monkeypatch.setattr(cli_run, "run_suite", no_run)
    path = _materialise(case, tmp_path)
    if case.suite:
        args = ["run", "--suite", str(path), "--drills-dir", str(path.parent)]
    else:
        args = ["validate", str(path)]

    tracemalloc.start()
    started = time.monotonic()
    try:
        result = CliRunner().invoke(app, args)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    assert result.exit_code == case.exit, output
    assert case.fragment in output, output
    assert "\x1b" not in output and "\u202e" not in output
    assert len(output) < 2000, f"{len(output)} characters of output"
    assert elapsed < TIME_LIMIT_S, f"{elapsed:.1f} s"
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB"
