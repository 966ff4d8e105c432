"""The evidence bundle's integrity: a SHA-256 manifest of every file and a detached signature.

``manifest.sha256`` lists every file of the bundle in ``sha256sum`` format (so
``sha256sum -c manifest.sha256`` checks it without drillkit). When a signing key is set,
``manifest.sha256.sig`` holds the raw 64-byte Ed25519 signature of the manifest's bytes and
``manifest.sha256.pub`` the public key (PEM), so ``openssl pkeyutl -verify -rawin`` checks it too.

Checking a bundle is :mod:`drillkit.report.verify`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drillkit.secrets import remember

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MANIFEST",
    "PUBLIC_KEY",
    "SIGNATURE",
    "SigningKeyError",
    "current_signing_key",
    "generate_key",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "remember_key",
    "signing",
    "write_manifest",
]

MANIFEST = "manifest.sha256"
SIGNATURE = "manifest.sha256.sig"
PUBLIC_KEY = "manifest.sha256.pub"
KEY_ENV = "DRILLKIT_SIGNING_KEY"  # the PEM text of an Ed25519 private key
KEY_FILE_ENV = "DRILLKIT_SIGNING_KEY_FILE"  # or a path to it
_NOT_LISTED = {MANIFEST, SIGNATURE, PUBLIC_KEY}

_signing_key: ContextVar[Ed25519PrivateKey | None] = ContextVar(
    "drillkit_signing_key", default=None
)


class SigningKeyError(ValueError):
    """A signing or public key could not be read (missing file, not PEM, not Ed25519)."""


def remember_key(key: Ed25519PrivateKey, pem: bytes | None = None) -> None:
    """Redact this private key from everything drillkit writes: the PEM text it came from, its
    PKCS#8 PEM and its raw 32 bytes (plain, hex, base64)."""
    if pem:
        remember(pem)
    remember(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    remember(
        key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    )


def load_private_key(pem: bytes, source: str = "key") -> Ed25519PrivateKey:
    """The Ed25519 key in ``pem``; from now on it is redacted from everything written."""
    remember(pem)  # whatever it turns out to be, the text was meant to be secret
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{source}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{source}: not an Ed25519 key ({type(key).__name__})")
    remember_key(key, pem)
    return key


def load_public_key(pem: bytes, source: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{source}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{source}: not an Ed25519 public key ({type(key).__name__})")
    return key


_PUBLIC_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]*-----END PUBLIC KEY-----")


def load_public_keys(data: bytes, source: str = "trusted keys") -> list[Ed25519PublicKey]:
    """Every PEM public key in ``data`` (text around the blocks is ignored: comments)."""
    blocks = _PUBLIC_PEM.findall(data)
    if not blocks:
        raise SigningKeyError(f"{source}: no PEM public key (-----BEGIN PUBLIC KEY-----) in it")
    return [load_public_key(b, f"{source} (key {n})") for n, b in enumerate(blocks, 1)]


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """``sha256:<hex>`` of the raw public key: names a key in reports without revealing anything."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def generate_key(private_path: Path) -> Path:
    """Write a new Ed25519 private key (PEM, mode 0600) and its public key beside it (``.pub``)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path = private_path.with_name(private_path.name + ".pub")
    public_path.write_bytes(_public_pem(key.public_key()))
    return public_path


@contextlib.contextmanager
def signing(key: Ed25519PrivateKey | None) -> Iterator[None]:
    """Sign every bundle finalized inside the block with ``key`` (used by ``drillkit run``)."""
    if key is not None:
        remember_key(key)
    token = _signing_key.set(key)
    try:
        yield
    finally:
        _signing_key.reset(token)


def current_signing_key(environ: dict[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The key set by :func:`signing`, else ``DRILLKIT_SIGNING_KEY`` (PEM text), else the file
    named by ``DRILLKIT_SIGNING_KEY_FILE``, else None (bundles are then unsigned)."""
    key = _signing_key.get()
    if key is not None:
        return key
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return load_private_key(env[KEY_ENV].encode(), KEY_ENV)
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            return load_private_key(path.read_bytes(), str(path))
        except OSError as e:
            raise SigningKeyError(f"{KEY_FILE_ENV}: cannot read {path}: {e.strerror}") from None
    return None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_APPROVAL = re.compile(r"^manifest\.sha256\.approval-[0-9a-f]{16}\.(sig|pub|role)$")


def _unlisted(rel: str) -> bool:
    """The manifest, its signature and public key, and approvals: not in the manifest."""
    return rel in _NOT_LISTED or bool(_APPROVAL.match(rel))


@dataclass
class _Tree:
    files: list[str] = field(default_factory=list)  # regular files, POSIX relative, sorted
    odd: list[str] = field(default_factory=list)  # symlinks and non-regular files


def _walk(bundle: Path) -> _Tree:
    """Every entry under ``bundle`` without following symlinks or opening anything."""
    tree = _Tree()
    for top, dirs, names in os.walk(bundle, followlinks=False):
        for name in sorted([*dirs, *names]):
            path = Path(top) / name
            rel = path.relative_to(bundle).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                tree.odd.append(f"symlink: {rel} (a bundle holds only regular files)")
            elif stat.S_ISREG(mode):
                tree.files.append(rel)
            elif not stat.S_ISDIR(mode):
                tree.odd.append(f"not a regular file: {rel}")
        dirs[:] = [d for d in dirs if not (Path(top) / d).is_symlink()]
    tree.files.sort()
    return tree


def _files(bundle: Path) -> list[str]:
    """Every regular file under ``bundle`` (POSIX relative paths, sorted), manifest files aside."""
    return [rel for rel in _walk(bundle).files if not _unlisted(rel)]


def write_manifest(bundle: Path, key: Ed25519PrivateKey | None = None) -> Path:
    """Hash every file into ``manifest.sha256``; with ``key``, sign it (detached)."""
    lines = [f"{_digest(bundle / rel)}  {rel}\n" for rel in _files(bundle)]
    manifest = bundle / MANIFEST
    data = "".join(lines).encode()
    manifest.write_bytes(data)
    for stale in (SIGNATURE, PUBLIC_KEY):
        (bundle / stale).unlink(missing_ok=True)
    for path in bundle.glob("manifest.sha256.approval-*"):
        path.unlink()  # approvals were of the old manifest
    if key is not None:
        (bundle / SIGNATURE).write_bytes(key.sign(data))
        (bundle / PUBLIC_KEY).write_bytes(_public_pem(key.public_key()))
    return manifest
