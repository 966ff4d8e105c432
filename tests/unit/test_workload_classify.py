"""classify_error: fail only when the write certainly did not happen, else info."""

from __future__ import annotations

import pytest

from drillkit.history import OpType
from drillkit.workload.pg_writer import classify_error


class FakePgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("error", [OSError("connection refused"), FakePgError("08006")])
def test_a_write_never_sent_failed(error: Exception) -> None:
    assert classify_error(error, sent=False) is OpType.FAIL


@pytest.mark.parametrize(
    "sqlstate",
    [
        "25006",  # read_only_sql_transaction: a standby rejected it
        "23505",  # unique_violation
        "40001",  # serialization_failure
    ],
)
def test_a_server_rejection_failed(sqlstate: str) -> None:
    assert classify_error(FakePgError(sqlstate), sent=True) is OpType.FAIL


@pytest.mark.parametrize(
    "sqlstate",
    [
        "08006",  # connection_failure
        "08003",  # connection_does_not_exist
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "58030",  # io_error
        "XX000",  # internal_error
        None,  # no answer from the server at all
        "",
    ],
)
def test_a_sent_write_without_a_clean_rejection_is_unknown(sqlstate: str | None) -> None:
    assert classify_error(FakePgError(sqlstate), sent=True) is OpType.INFO


def test_an_error_without_sqlstate_after_sending_is_unknown() -> None:
    assert classify_error(TimeoutError(), sent=True) is OpType.INFO
