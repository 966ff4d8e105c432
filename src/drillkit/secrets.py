"""Per-run generated secrets, and the redaction that keeps them out of every log and report.

Two kinds of secret are redacted: a run's generated passwords (:class:`Secrets`) and the secrets of
the drillkit process itself, registered with :func:`remember` when they are loaded (the signing
key's PEM text and raw key bytes, see :mod:`drillkit.report.bundle`). For each secret its plain
form, its JSON-escaped form, its URL-encoded forms, its hex form and its base64 forms (standard and
URL-safe, at each of the three byte alignments it can have inside a longer encoded text) are
replaced by ``***``. Any PEM private-key block is replaced too, known or not, including one whose
newlines are JSON-escaped (as in ``history.jsonl``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets as _random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Secrets", "forget_all", "redact_text", "remember"]

MASK = "***"
_MIN_FRAGMENT = 8  # an encoded form shorter than this is not searched for (false positives)

# A PEM private-key block, with real or JSON-escaped newlines; a block cut off before its END line
# (truncated output) is redacted up to the first character that cannot be part of it.
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:[A-Za-z0-9+/=:, \t\r\n]|\\[nrt])*"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
)

_process_lock = threading.Lock()
_process_secrets: set[bytes] = set()


def remember(secret: str | bytes) -> None:
    """Redact ``secret`` (and its encodings) from everything drillkit writes from now on.
    A value shorter than 8 bytes is ignored: it is no key, and redacting it would maul reports."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw.strip()) >= _MIN_FRAGMENT:
        with _process_lock:
            _process_secrets.add(raw)
        _pattern.cache_clear()


def forget_all() -> None:
    """Forget the process secrets registered with :func:`remember` (for tests)."""
    with _process_lock:
        _process_secrets.clear()
    _pattern.cache_clear()


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 characters that encode only ``raw``'s bytes, whatever precedes it (0, 1 or 2
    bytes modulo 3), in the standard and URL-safe alphabets."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-8 * offset // 6)  # first character made of secret bits only
        end = (8 * (offset + len(raw))) // 6  # characters up to the last complete one
        core = encoded[start:end]
        out.update({core, core.replace("+", "-").replace("/", "_")})
    return out


def _forms(raw: bytes) -> set[str]:
    forms = _base64_forms(raw)
    forms.add(raw.hex())
    text = raw.decode("utf-8", "replace")
    if "\ufffd" not in text:
        for line in text.splitlines():  # each line of a multi-line secret (a PEM body) alone
            if len(line.strip()) >= 16:
                forms.add(line.strip())
        forms.update({text, json.dumps(text)[1:-1], quote(text, safe=""), quote_plus(text)})
        forms.add(text.strip())
    forms = {f for f in forms if len(f) >= _MIN_FRAGMENT}
    if "\ufffd" not in text and text.strip():
        forms.add(text)  # the plain secret itself, however short
    return forms


class _Pattern:
    """One compiled alternation of every form of a set of secrets (longest first)."""

    def __init__(self) -> None:
        self._cache: dict[frozenset[bytes], re.Pattern[str] | None] = {}

    def cache_clear(self) -> None:
        self._cache.clear()

    def __call__(self, raws: frozenset[bytes]) -> re.Pattern[str] | None:
        if raws not in self._cache:
            forms: set[str] = set()
            for raw in raws:
                forms |= _forms(raw)
            ordered = sorted(forms, key=len, reverse=True)
            self._cache[raws] = re.compile("|".join(map(re.escape, ordered))) if forms else None
            if len(self._cache) > 64:  # one entry per run's set of passwords; keep it small
                self._cache.pop(next(iter(self._cache)))
        return self._cache[raws]


_pattern = _Pattern()


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every PEM private-key block, every process secret and every one of
    ``extra`` (in all their encoded forms) replaced by ``***``."""
    with _process_lock:
        raws = frozenset(_process_secrets | {e.encode() for e in extra if e})
    text = _PEM.sub(MASK, text)
    pattern = _pattern(raws)
    return text if pattern is None else pattern.sub(MASK, text)


@dataclass(frozen=True)
class Secrets:
    """Passwords generated for one run. ``repr`` never shows them."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, *names: str) -> Secrets:
        return cls({name: _random.token_urlsafe(24) for name in names})

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def add(self, name: str, value: str) -> None:
        """Add a secret the run did not generate (an external stack's password, read when the
        drill starts): from now on it is redacted like the generated ones."""
        self.values[name] = value

    def redact(self, text: str) -> str:
        """Replace every secret (this run's passwords, the process secrets, any PEM private key),
        plain or encoded, in ``text`` with ``***``."""
        return redact_text(text, self.values.values())
