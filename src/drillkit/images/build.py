"""Build drillkit's node images from the Dockerfiles shipped in this package.

Each image is tagged with what it runs and a hash of its build inputs (every file in its
directory, the base image id, the build arguments), e.g. ``drillkit/postgres:pg17-0123456789ab``,
so it is rebuilt only when one of those changes and a run always uses exactly the image its
inputs describe. Setup builds the default versions (``catalog.DEFAULT_IMAGES``);
another version's image (and its Debian suite's base) is built the first time a drill needs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from drillkit.errors import InfrastructureError
from drillkit.hostlock import lock_dir, run_lock
from drillkit.images.base import BaseSource, ensure_base_image
from drillkit.images.catalog import DEFAULT_IMAGES, ImageSpec

__all__ = ["IMAGES", "NodeImages", "ensure_image", "ensure_images", "image_tag"]

IMAGES_DIR = Path(__file__).parent
IMAGES = tuple(DEFAULT_IMAGES)
Progress = Callable[[str], None]
BUILD_LOCK_WAIT_SECONDS = 900.0  # a trixie base + image takes ~3 min here; a stuck build, longer


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


def image_tag(spec: ImageSpec, base_id: str) -> str:
    """``drillkit/DIR:LABEL-<12 hex>``, a hash of the build context, base and build arguments."""
    digest = hashlib.sha256(base_id.encode())
    for key, value in spec.args:
        digest.update(f"\0{key}={value}".encode())
    for path in sorted((IMAGES_DIR / spec.directory).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(IMAGES_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return f"drillkit/{spec.directory}:{spec.label}-{digest.hexdigest()[:12]}"


def _exists(client: Any, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build(client: Any, spec: ImageSpec, tag: str, base_id: str, progress: Progress) -> None:
    progress(f"building {tag} (Debian {spec.suite}, apt-get install inside the image; ~1 min)")
    name = spec.directory
    try:
        stream = client.api.build(
            path=str(IMAGES_DIR / name),
            tag=tag,
            buildargs={"BASE_IMAGE": base_id, **spec.buildargs},
            labels={"drillkit.image": name, "drillkit.image.variant": spec.label},
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
    if DEFAULT_IMAGES.get(name) == spec:
        client.images.get(tag).tag(f"drillkit/{name}", "latest")


def ensure_image(
    client: Any,
    spec: ImageSpec,
    *,
    base_source: BaseSource = "auto",
    rebuild: bool = False,
    allow_pull: bool = True,
    progress: Progress = print,
) -> tuple[str, str]:
    """``(tag, base image id)`` of ``spec``'s image; its base and the image are built if missing.

    Builds are serialised per user on this host (:func:`build_lock`): a second process needing
    the same missing image (two test workers, ``drillkit images build`` beside a run) waits and
    then finds it built, instead of bootstrapping and building it a second time."""
    if not rebuild and base_source in ("auto", "local"):
        with contextlib.suppress(InfrastructureError):
            base = ensure_base_image(client, "local", progress, suite=spec.suite)
            tag = image_tag(spec, base.id)
            if _exists(client, tag):
                return tag, str(base.id)  # the common case: nothing to build, no lock taken
    with build_lock(progress):
        base = ensure_base_image(
            client, base_source, progress, allow_pull=allow_pull, suite=spec.suite
        )
        tag = image_tag(spec, base.id)
        if rebuild or not _exists(client, tag):
            _build(client, spec, tag, base.id, progress)
        return tag, str(base.id)


@contextlib.contextmanager
def build_lock(progress: Progress = print) -> Iterator[None]:
    """One image build at a time per user on this host: an exclusive lock on
    ``<lock dir>/images.lock`` (the host lock's directory and checks, a separate file, so a
    build never waits for a drill). Waits up to :data:`BUILD_LOCK_WAIT_SECONDS`."""
    path = lock_dir() / "images.lock"
    announced: list[bool] = []

    def wait(seconds: float) -> None:
        if not announced:
            progress(f"another process is building images ({path}); waiting for it")
            announced.append(True)
        time.sleep(seconds)

    with run_lock(path, wait_seconds=BUILD_LOCK_WAIT_SECONDS, sleep=wait):
        yield


def ensure_images(
    client: Any,
    *,
    base_source: BaseSource = "auto",
    rebuild: bool = False,
    allow_pull: bool = True,
    progress: Progress = print,
) -> NodeImages:
    """Make sure the default versions' node images exist for the current build inputs; build
    what is missing. Other versions are built on demand (:func:`ensure_image`)."""
    tags = {}
    base_id = ""
    for name, spec in DEFAULT_IMAGES.items():
        tags[name], base_id = ensure_image(
            client,
            spec,
            base_source=base_source,
            rebuild=rebuild,
            allow_pull=allow_pull,
            progress=progress,
        )
    return NodeImages(base_id=base_id, tags=tags)
