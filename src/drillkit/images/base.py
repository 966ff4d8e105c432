"""The Debian base image, obtained without a container registry when possible.

Sources, in order for ``auto``: an image already present locally; on a Debian host, a
``debootstrap`` from the package mirror the host's apt already uses (never a hard-coded host),
imported with ``docker import``; otherwise a pull of the official image. Pulling happens only
here, never implicitly while a drill runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import docker.errors

from drillkit.errors import InfrastructureError

__all__ = ["BASE_TAG", "BaseSource", "apt_mirror", "base_tag", "ensure_base_image"]

SUITE = "bookworm"  # the default suite (PostgreSQL 15, Redis 7)
BASE_REPO = "drillkit/debian-base"
BASE_TAG = f"{BASE_REPO}:{SUITE}"


def base_tag(suite: str) -> str:
    """``drillkit/debian-base:SUITE``."""
    return f"{BASE_REPO}:{suite}"


def _official(suite: str) -> tuple[str, str]:
    return ("debian", f"{suite}-slim")


BaseSource = Literal["auto", "local", "debootstrap", "pull"]
Progress = Callable[[str], None]


def _one_line_sources(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if m and not m.group(2).endswith(("-security", "-updates", "-backports")):
            uris.append(m.group(1))
    return uris


def _deb822_sources(text: str) -> list[str]:
    uris = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        suites = fields.get("suites", "").split()
        if suites and all(s.endswith(("-security", "-updates", "-backports")) for s in suites):
            continue
        uris += fields.get("uris", "").split()
    return uris


def apt_mirror(root: Path = Path("/")) -> str | None:
    """The first Debian archive URI in the host's apt sources, or None if there is none."""
    os_release = root / "etc/os-release"
    if not os_release.is_file() or not re.search(
        r"^ID=\"?debian\"?$", os_release.read_text(), re.MULTILINE
    ):
        return None
    candidates: list[str] = []
    main_list = root / "etc/apt/sources.list"
    if main_list.is_file():
        candidates += _one_line_sources(main_list.read_text())
    parts = root / "etc/apt/sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                candidates += _one_line_sources(path.read_text())
            elif path.suffix == ".sources":
                candidates += _deb822_sources(path.read_text())
    for uri in candidates:
        if uri.startswith(("http://", "https://")) and "security" not in uri:
            return uri.rstrip("/")
    return None


def _local(client: Any, suite: str) -> Any | None:
    for ref in (base_tag(suite), ":".join(_official(suite))):
        try:
            return client.images.get(ref)
        except docker.errors.ImageNotFound:
            continue
    return None


def _debootstrap(client: Any, suite: str, progress: Progress) -> Any:
    mirror = apt_mirror()
    if mirror is None:
        raise InfrastructureError(
            "debootstrap needs a Debian host whose apt sources name a Debian mirror; "
            "use --base-source pull, or load a Debian image locally"
        )
    if shutil.which("debootstrap") is None:
        raise InfrastructureError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="drillkit-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        progress(f"bootstrapping Debian {suite} from {mirror} (debootstrap, ~30-40 s)")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-5:] + proc.stderr.splitlines()[-5:])
            raise InfrastructureError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        tarball = Path(tmp) / "rootfs.tar"
        progress("importing the root filesystem into Docker")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        shutil.rmtree(rootfs, ignore_errors=True)
        client.api.import_image_from_file(str(tarball), repository=BASE_REPO, tag=suite)
    return client.images.get(base_tag(suite))


def _pull(client: Any, suite: str, progress: Progress) -> Any:
    official = ":".join(_official(suite))
    progress(f"pulling {official}")
    try:
        image = client.images.pull(*_official(suite))
    except docker.errors.APIError as e:
        raise InfrastructureError(f"could not pull {official}: {e.explanation}") from None
    image.tag(BASE_REPO, suite)
    return image


def ensure_base_image(
    client: Any,
    source: BaseSource = "auto",
    progress: Progress = print,
    *,
    allow_pull: bool = True,
    suite: str = SUITE,
) -> Any:
    """Return the Debian ``suite`` base image, creating it from ``source`` if needed (pulling
    only if allowed)."""
    if source in ("auto", "local"):
        image = _local(client, suite)
        if image is not None:
            return image
        if source == "local":
            raise InfrastructureError(
                f"no local base image ({base_tag(suite)} or {':'.join(_official(suite))}); "
                "use --base-source debootstrap or pull"
            )
    if source == "debootstrap" or (source == "auto" and apt_mirror() is not None):
        return _debootstrap(client, suite, progress)
    if not allow_pull:
        raise InfrastructureError(
            f"no Debian {suite} base image and no Debian mirror to bootstrap one; run "
            "'drillkit images build --base-source pull' first"
        )
    return _pull(client, suite, progress)
