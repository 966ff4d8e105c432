"""``--set key=value``: change one field of a drill file from the command line.

The key is a dotted path into the file (``workload.rate``, ``targets.rto_seconds``,
``faults.0.at`` or ``faults[0].at``); the value is a YAML scalar or flow collection (``100``,
``true``, ``null``, ``[a, b]``). Overrides are applied to the file's mapping before validation,
so they are checked exactly like the file, and the run records them (``report.json``
``overrides``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["OverrideError", "apply_overrides", "parse_overrides"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+|\[[0-9]+\])*$")
_MAX_VALUE = 4096


class OverrideError(ValueError):
    """A ``--set`` that is not ``KEY=VALUE`` or does not fit the file; ``str()`` says why."""


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["workload.rate=100"]`` -> ``{"workload.rate": 100}`` (the last of a repeated key wins)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise OverrideError(
                f"--set {item!r}: expected KEY=VALUE with a dotted KEY like workload.rate"
            )
        if len(text) > _MAX_VALUE:
            raise OverrideError(f"--set {key}: value longer than {_MAX_VALUE} characters")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise OverrideError(f"--set {key}: not a YAML value ({e.__class__.__name__})") from None
        out[key.replace("[", ".").replace("]", "")] = value
    return out


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with each dotted key set (missing mappings are created)."""
    result = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise OverrideError(
                        f"--set {key}: {where}: no such item (the list has {len(node)})"
                    )
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise OverrideError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list")
    return result
