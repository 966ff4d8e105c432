"""One way to wait: call something every ``interval`` seconds until its result is good (or it
stops raising), for at most ``timeout`` seconds. Built on tenacity; the clock and the sleep are
parameters, so tests wait in fake time.

    wait_until(lambda: node.status() == "running", timeout=30, interval=0.1)
    rows = wait_until(read_rows, ignore=(psycopg.Error,), timeout=10, interval=0.2)
    wait_until(problem, until=is_none, timeout=60, interval=0.05)  # problem: str | None
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, retry_if_result

__all__ = ["WaitTimeout", "is_none", "wait_until"]

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold within ``timeout`` seconds.

    ``last_value`` is what the last attempt returned (None if it raised); ``last_error`` the
    exception it raised, if it did (one of ``ignore``)."""

    def __init__(
        self, timeout: float, last_value: Any = None, last_error: BaseException | None = None
    ) -> None:
        last = f"{last_error!r}" if last_error is not None else repr(last_value)
        super().__init__(f"not done after {timeout:g}s (last: {last})")
        self.timeout = timeout
        self.last_value = last_value
        self.last_error = last_error


def is_none(value: object) -> bool:
    """``until=`` for a check that returns None when all is well, else what is wrong."""
    return value is None


def _truthy(value: object) -> bool:
    return bool(value)


def wait_until(
    attempt: Callable[[], T],
    *,
    timeout: float,
    interval: float,
    until: Callable[[T], bool] = _truthy,
    ignore: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until ``until(result)`` holds (default: the result is truthy); return
    that result.

    Rules: ``attempt`` runs at once, then every ``interval`` seconds; the last attempt is made
    at the deadline (``timeout`` after the call), never later, then :class:`WaitTimeout` is
    raised. An exception of a type in ``ignore`` counts as "not yet"; any other exception
    propagates at once (e.g. "the node exited: waiting is pointless").
    """
    deadline = clock() + timeout

    def out_of_time(_state: RetryCallState) -> bool:
        return clock() >= deadline

    def pause(_state: RetryCallState) -> float:
        return max(0.0, min(interval, deadline - clock()))

    retrying = Retrying(
        sleep=sleep,
        stop=out_of_time,
        wait=pause,
        retry=retry_if_exception_type(ignore) | retry_if_result(lambda r: not until(r)),
    )
    try:
        return retrying(attempt)
    except RetryError as e:
        outcome = e.last_attempt
        error = outcome.exception()
        value = None if error is not None else outcome.result()
        raise WaitTimeout(timeout, value, error) from None
