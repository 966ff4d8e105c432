"""Build drillkit's node images from the Dockerfiles shipped in this package.

Each image is tagged with a hash of its build inputs (every file in its directory plus the base
image id), so it is rebuilt only when one of those changes and a run always uses exactly the
image its inputs describe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from drillkit.errors import InfrastructureError
from drillkit.images.base import BaseSource, ensure_base_image

__all__ = ["IMAGES", "NodeImages", "ensure_images", "image_tag"]

IMAGES_DIR = Path(__file__).parent
IMAGES = ("postgres", "redis")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class NodeImages:
    base_id: str
    tags: dict[str, str]

    @property
    def postgres(self) -> str:
        return self.tags["postgres"]

    @property
    def redis(self) -> str:
        return self.tags["redis"]


def image_tag(name: str, base_id: str) -> str:
    """``drillkit/NAME:<12 hex>``, a hash of the image's build context and its base."""
    digest = hashlib.sha256(base_id.encode())
    for path in sorted((IMAGES_DIR / name).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(IMAGES_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return f"drillkit/{name}:{digest.hexdigest()[:12]}"


def _exists(client: Any, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build(client: Any, name: str, tag: str, base_id: str, progress: Progress) -> None:
    progress(f"building {tag} (apt-get install inside the image; about a minute)")
    repo = tag.split(":")[0]
    try:
        stream = client.api.build(
            path=str(IMAGES_DIR / name),
            tag=tag,
            buildargs={"BASE_IMAGE": base_id},
            labels={"drillkit.image": name},
            rm=True,
            forcerm=True,
            decode=True,
        )
        last: list[str] = []
        for chunk in stream:
            if "error" in chunk:
                raise InfrastructureError(
                    f"building {tag} failed: {chunk['error'].strip()}\n" + "".join(last[-10:])
                )
            if "stream" in chunk:
                last.append(chunk["stream"])
                line = chunk["stream"].strip()
                if line.startswith("Step "):
                    progress(f"  {name}: {line}")
    except docker.errors.APIError as e:
        raise InfrastructureError(f"building {tag} failed: {e.explanation}") from None
    client.images.get(tag).tag(repo, "latest")


def ensure_images(
    client: Any,
    *,
    base_source: BaseSource = "auto",
    rebuild: bool = False,
    allow_pull: bool = True,
    progress: Progress = print,
) -> NodeImages:
    """Make sure every node image exists for the current build inputs; build what is missing."""
    base = ensure_base_image(client, base_source, progress, allow_pull=allow_pull)
    tags = {}
    for name in IMAGES:
        tag = image_tag(name, base.id)
        if rebuild or not _exists(client, tag):
            _build(client, name, tag, base.id, progress)
        tags[name] = tag
    return NodeImages(base_id=base.id, tags=tags)
