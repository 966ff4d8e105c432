"""Small formatting helpers shared by the renderers (console, Markdown, HTML)."""

from __future__ import annotations

__all__ = ["NS", "cell", "fmt"]

NS = 1_000_000_000  # nanoseconds per second: the history's monotonic times are in ns


def fmt(value: object, unit: str = "") -> str:
    """``-`` for a value not measured, three decimals for a float, else the value; then ``unit``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
