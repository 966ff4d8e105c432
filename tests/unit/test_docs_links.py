"""Every relative link in README.md and docs/ points at a file that exists and, with #anchor,
at a heading of that file (GitHub's slug rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Written on a parallel branch; linked before it lands. Remove an entry once the file exists.
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks (a `# comment` there is no heading)."""
    return _FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor: link text kept, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in _HEADING.findall(_prose(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(path: Path) -> list[str]:
    text = _CODE.sub("", _prose(path.read_text(encoding="utf-8")))
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


def test_slug_follows_github() -> None:
    assert slug("Measurements: exact definitions") == "measurements-exact-definitions"
    assert slug("`faults[]`") == "faults"
    assert slug("`kind: crash-restart`") == "kind-crash-restart"
    assert slug("history.jsonl format") == "historyjsonl-format"
    assert slug("PostgreSQL restore procedures and the drills that prove them") == (
        "postgresql-restore-procedures-and-the-drills-that-prove-them"
    )


def test_docs_exist_and_readme_links_them() -> None:
    assert (ROOT / "docs").is_dir()
    readme = links(ROOT / "README.md")
    assert any(t.startswith("docs/") for t in readme)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {dest.name}")
    assert not broken, f"{path.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)
