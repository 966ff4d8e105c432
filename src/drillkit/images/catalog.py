"""Which node image a topology needs: its Dockerfile directory, Debian suite and build arguments.

Pure (no Docker): one table per engine maps the drill file's version fields to an
:class:`ImageSpec`. The drill file's allowed values live in :mod:`drillkit.spec` (they are the
schema); ``tests/unit/test_versions.py`` checks that every value the schema allows has an image
here, so the two tables cannot drift apart.

Each engine version comes from the Debian suite that packages it, so everything in an image
(PostgreSQL, Patroni, pgBackRest, etcd, HAProxy; Redis or Valkey and Sentinel) is one suite's
tested set: bookworm has PostgreSQL 15 and Redis 7, trixie PostgreSQL 17, Redis 8 and Valkey 8.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_IMAGES", "POSTGRES_IMAGES", "REDIS_IMAGES", "ImageSpec", "image_for"]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One node image: ``directory`` (postgres or redis), built on ``suite`` with ``args``."""

    directory: str
    suite: str
    args: tuple[tuple[str, str], ...]
    label: str  # what it runs, in its tag: pg15, pg17, redis7, redis8, valkey8

    @property
    def buildargs(self) -> dict[str, str]:
        return dict(self.args)


POSTGRES_IMAGES: dict[int, ImageSpec] = {
    15: ImageSpec("postgres", "bookworm", (("PG_MAJOR", "15"),), "pg15"),
    17: ImageSpec("postgres", "trixie", (("PG_MAJOR", "17"),), "pg17"),
}
REDIS_IMAGES: dict[tuple[str, int], ImageSpec] = {
    ("redis", 7): ImageSpec("redis", "bookworm", (("ENGINE", "redis"),), "redis7"),
    ("redis", 8): ImageSpec("redis", "trixie", (("ENGINE", "redis"),), "redis8"),
    ("valkey", 8): ImageSpec("redis", "trixie", (("ENGINE", "valkey"),), "valkey8"),
}
# What setup builds and every shipped drill runs (the drill files' defaults).
DEFAULT_IMAGES: dict[str, ImageSpec] = {
    "postgres": POSTGRES_IMAGES[15],
    "redis": REDIS_IMAGES[("redis", 7)],
}


def image_for(topology: object) -> ImageSpec:
    """The image a drill file's ``topology`` runs on (by its kind's engine and version fields)."""
    kind = str(getattr(topology, "kind", ""))
    if kind in ("postgres", "patroni"):
        return POSTGRES_IMAGES[int(getattr(topology, "version", 15))]
    if kind == "redis":
        engine = str(getattr(topology, "engine", "redis"))
        return REDIS_IMAGES[(engine, int(getattr(topology, "version", 7)))]
    raise KeyError(f"no node image for topology kind {kind!r}")
