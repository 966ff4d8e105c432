"""The history: append-only, streamed to JSONL line by line, readable after a crash."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from builders import FAIL, INFO, INVOKE, OK, ms

from drillkit.history import History, Op, read_history


def counting_clock(start_ms: int = 0, step_ms: int = 10):
    ticks = itertools.count(ms(start_ms), ms(step_ms))
    return lambda: next(ticks)


def test_ops_are_indexed_and_timed_by_the_clock() -> None:
    history = History(clock=counting_clock(1000))

    invoke = history.invoke("writer-0", "write", 7)
    done = history.complete(invoke, OK)

    assert invoke == Op(0, "writer-0", INVOKE, "write", 7, ms(1000))
    assert done == Op(1, "writer-0", OK, "write", 7, ms(1010))
    assert history.ops() == [invoke, done]
    assert len(history) == 2
    assert list(history) == [invoke, done]


def test_explicit_time_and_extra_are_kept() -> None:
    history = History(clock=counting_clock())

    op = history.append(
        "fault",
        OK,
        "kill",
        {"node": "pg0"},
        time_ns=ms(1250),
        requested_ns=ms(1000),
        effective_ns=ms(1250),
    )

    assert op.time_ns == ms(1250)
    assert op.extra == {"requested_ns": ms(1000), "effective_ns": ms(1250)}


def test_a_completion_carries_the_invocation_value_unless_given_one() -> None:
    history = History(clock=counting_clock())
    read = history.invoke("final-read", "read")

    done = history.complete(read, OK, value=[[1, 3]], count=3)
    failed = history.complete(history.invoke("writer-0", "write", 8), FAIL, error="rejected")

    assert (done.value, done.extra) == ([[1, 3]], {"count": 3})
    assert (failed.value, failed.error) == (8, "rejected")


def test_each_op_is_on_disk_as_one_json_line_once_flushed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "history.jsonl"
    history = History(path, clock=counting_clock())
    try:
        first = history.invoke("writer-0", "write", 1)
        history.flush()
        assert read_history(path) == [first]

        second = history.complete(first, INFO, error="deadline of 0.5s passed")
        history.flush()
        assert read_history(path) == [first, second]  # still open: readable line by line
        assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    finally:
        history.close()


def test_lines_are_compact_json_without_empty_fields(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path, clock=counting_clock())
    history.append("writer-0", OK, "write", 1, time_ns=5)
    history.close()

    assert path.read_text(encoding="utf-8") == (
        '{"index":0,"process":"writer-0","type":"ok","f":"write","value":1,"time_ns":5}\n'
    )


def test_op_json_round_trip() -> None:
    ops = [
        Op(0, "writer-0", INVOKE, "write", 1, ms(1)),
        Op(1, "writer-0", INFO, "write", 1, ms(501), error="deadline of 0.5s passed"),
        Op(
            2,
            "fault",
            OK,
            "kill",
            {"nodes": ["pg0"]},
            ms(600),
            extra={"requested_ns": ms(550), "effective_ns": ms(600)},
        ),
        Op(3, "final-read", OK, "read", [[1, 1]], ms(900), extra={"count": 1}),
    ]

    for op in ops:
        assert Op.from_json(json.loads(json.dumps(op.to_json()))) == op


def test_read_history_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path, clock=counting_clock())
    ops = [history.invoke("writer-0", "write", 1), history.invoke("writer-0", "write", 2)]
    history.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"index":2,"process":"writer-0","type":"ok","f":"wri')  # crashed mid-write

    assert read_history(path) == ops


def test_history_of_renumbers_ops() -> None:
    history = History.of([Op(7, "a", OK, "x", time_ns=1), Op(9, "b", OK, "y", time_ns=2)])

    assert [(op.index, op.process) for op in history] == [(0, "a"), (1, "b")]
