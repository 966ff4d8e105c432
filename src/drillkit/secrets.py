"""Per-run generated secrets, and the redaction that keeps them out of every log and report."""

from __future__ import annotations

import secrets as _random
from dataclasses import dataclass, field

__all__ = ["Secrets"]


@dataclass(frozen=True)
class Secrets:
    """Passwords generated for one run. ``repr`` never shows them."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, *names: str) -> Secrets:
        return cls({name: _random.token_urlsafe(24) for name in names})

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def redact(self, text: str) -> str:
        """Replace every secret value in ``text`` with ``***``."""
        for value in self.values.values():
            text = text.replace(value, "***")
        return text
