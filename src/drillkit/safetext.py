"""Untrusted text made safe to print: drill-file text, error messages, paths, command output.

Everything drillkit prints goes through rich, which reads ``[...]`` as markup: a description
holding ``[/x]`` raised ``MarkupError`` and a path under ``[red]/`` printed wrongly. And a
terminal obeys control characters: an ESC sequence in a description could move the cursor,
retitle the window or hide text. :func:`markup` is the one way to put such text into a string
that rich will render; :func:`plain` only neutralises control characters (for plain output).
"""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["markup", "plain"]

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates that can reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object) -> str:
    """``str(text)`` with every control character shown as an escape (``\\x1b``), so nothing
    reaches the terminal but printable text, tabs and newlines."""
    return _CONTROL.sub(_visible, str(text))


def markup(text: object) -> str:
    """``text`` for a rich markup string: control characters neutralised (:func:`plain`) and
    every ``[`` that rich could read as a tag escaped."""
    return escape(plain(text))
