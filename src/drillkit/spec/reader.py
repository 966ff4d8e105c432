"""Reading untrusted YAML (drill, scenario and suite files) within fixed limits.

A file is read only if it is a regular file of at most :data:`MAX_FILE_BYTES`; it must be UTF-8;
its YAML may not repeat a key in one mapping, nest deeper than :data:`MAX_DEPTH`, use more than
:data:`MAX_ALIASES` aliases or expand (aliases counted as copies) to more than
:data:`MAX_NODES` nodes, nor hold an integer of more than :data:`MAX_INT_DIGITS` digits. Every
refusal is a :class:`~drillkit.spec.load.DrillFileError`-style ``(field, problem)`` raised as
:class:`InputRejected`; the caller names the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "InputRejected",
    "read_text",
    "read_yaml",
]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 10_000
MAX_INT_DIGITS = 20


class InputRejected(Exception):
    """A file breaks a limit or is not YAML: ``field`` (often ``line N``) and ``problem``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def _line(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the limits above enforced while composing and constructing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner keeps a possible key per open bracket and rechecks them all per token:
        # stop at the depth limit before that grows quadratic.
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise InputRejected(f"line {mark.line + 1}", f"nested deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise InputRejected(
                    f"line {mark.line + 1}",
                    f"more than {MAX_ALIASES} aliases (*name); write the values out",
                )
            return super().compose_node(parent, index)
        self._depth += 1
        self._nodes += 1
        try:
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise InputRejected(
                    f"line {mark.line + 1}", f"more than {MAX_NODES} values; a drill file is small"
                )
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise InputRejected(
                    f"line {mark.line + 1}", f"nested deeper than {MAX_DEPTH} levels"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise InputRejected(
                    _line(key_node), "a mapping key must be a plain value"
                ) from None
            if first is not None:
                raise InputRejected(
                    _line(key_node),
                    f"duplicate key {_short(key)} (first at {_line(first)}); "
                    "a key may appear once in a mapping",
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(c.isalnum() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise InputRejected(
                _line(node), f"a number of {digits} digits; at most {MAX_INT_DIGITS} are allowed"
            )
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _short(value: object, limit: int = 60) -> str:
    return _clip(repr(value), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expanded_size(root: Node) -> None:
    """Count nodes as if every alias were a copy; refuse a graph above :data:`MAX_NODES` or one
    that contains itself (a recursive alias)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                raise InputRejected(
                    _line(node),
                    f"expands to more than {MAX_NODES} values (aliases copied); write it out",
                )
            continue
        if key in sizes:
            continue
        if key in active:
            raise InputRejected(_line(node), "a recursive alias (a value that contains itself)")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
        for c in children:
            if id(c) in active:
                raise InputRejected(_line(c), "a recursive alias (a value that contains itself)")


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_FILE_BYTES`; raises
    :class:`InputRejected` otherwise."""
    return _read_text(path)


def _read_text(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputRejected("", "no such file") from None
    except OSError as e:
        raise InputRejected("", f"cannot read: {e.strerror}") from None
    except ValueError:  # a NUL in the name
        raise InputRejected("", "not a file name (it holds a NUL character)") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputRejected("", "is a directory; expected a YAML file")
        if not stat.S_ISREG(mode):
            raise InputRejected(
                "", "not a regular file (a pipe, device or socket); expected a file"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise InputRejected("", f"cannot read: {e.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise InputRejected("", f"larger than {MAX_FILE_BYTES // 1024} KiB; a drill file is small")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputRejected(
            "", f"not UTF-8 text (byte {e.start}); save the file as UTF-8"
        ) from None


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path`` (None when empty), or :class:`InputRejected`."""
    text = _read_text(path)
    try:
        loader = _Loader(text)  # checks the characters first
    except yaml.YAMLError as e:
        raise InputRejected("", f"not valid YAML: {_clip(str(e), 200)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise InputRejected(where, f"not valid YAML: {_clip(str(problem), 200)}") from None
    except RecursionError:  # a limit above should always come first; never a traceback
        raise InputRejected("", f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
