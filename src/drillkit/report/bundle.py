"""The evidence bundle's integrity: a SHA-256 manifest of every file and a detached signature.

``manifest.sha256`` lists every file of the bundle in ``sha256sum`` format (so
``sha256sum -c manifest.sha256`` checks it without drillkit). When a signing key is set,
``manifest.sha256.sig`` holds the raw 64-byte Ed25519 signature of the manifest's bytes and
``manifest.sha256.pub`` the public key (PEM), so ``openssl pkeyutl -verify -rawin`` checks it too.

The bundled public key proves only that the bundle was not changed after signing by whoever holds
that key; who signed is proven by verifying against a public key obtained elsewhere
(``verify_bundle(..., public_key=...)``, ``drillkit evidence verify --public-key``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drillkit.secrets import remember

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MANIFEST",
    "PUBLIC_KEY",
    "SIGNATURE",
    "BundleCheck",
    "SigningKeyError",
    "current_signing_key",
    "generate_key",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "remember_key",
    "signing",
    "verify_bundle",
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
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(bundle: Path) -> list[str]:
    """Every regular file under ``bundle`` (POSIX relative paths, sorted), manifest files aside."""
    out = []
    for path in bundle.rglob("*"):
        rel = path.relative_to(bundle).as_posix()
        if path.is_file() and rel not in _NOT_LISTED:
            out.append(rel)
    return sorted(out)


def write_manifest(bundle: Path, key: Ed25519PrivateKey | None = None) -> Path:
    """Hash every file into ``manifest.sha256``; with ``key``, sign it (detached)."""
    lines = [f"{_digest(bundle / rel)}  {rel}\n" for rel in _files(bundle)]
    manifest = bundle / MANIFEST
    data = "".join(lines).encode()
    manifest.write_bytes(data)
    for stale in (SIGNATURE, PUBLIC_KEY):
        (bundle / stale).unlink(missing_ok=True)
    if key is not None:
        (bundle / SIGNATURE).write_bytes(key.sign(data))
        (bundle / PUBLIC_KEY).write_bytes(_public_pem(key.public_key()))
    return manifest


@dataclass
class BundleCheck:
    """What ``verify_bundle`` found. ``ok`` is False on any difference or a bad signature."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signed: bool = False
    signature_valid: bool | None = None  # None: unsigned
    key_fingerprint: str | None = None
    key_trusted: bool = False  # verified against a public key given by the caller

    @property
    def ok(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.problems
            or self.signature_valid is False
        )

    def lines(self) -> list[str]:
        out = [f"added: {p}" for p in self.added]
        out += [f"removed: {p}" for p in self.removed]
        out += [f"changed: {p}" for p in self.changed]
        out += self.problems
        if not self.signed:
            out.append("unsigned: no signature in the bundle")
        elif self.signature_valid:
            who = "the given public key" if self.key_trusted else "the bundled public key"
            out.append(f"signature valid ({self.key_fingerprint}, checked against {who})")
        return out


def _parse_manifest(data: bytes, check: BundleCheck) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        digest, sep, rel = raw.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            check.problems.append(f"{MANIFEST}:{n}: malformed line")
            continue
        listed[rel] = digest
    return listed


def verify_bundle(
    bundle: Path, *, public_key: Ed25519PublicKey | None = None, require_signature: bool = False
) -> BundleCheck:
    """Compare the bundle with its manifest and check the signature.

    With ``public_key`` the signature must exist and verify against it (authenticity); without,
    a present signature is checked against the bundled public key (integrity since signing).
    """
    check = BundleCheck()
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        check.problems.append(f"missing: {MANIFEST} (not an evidence bundle, or not finalized)")
        return check
    data = manifest.read_bytes()
    listed = _parse_manifest(data, check)
    present = set(_files(bundle))
    check.added = sorted(present - listed.keys())
    check.removed = sorted(listed.keys() - present)
    check.changed = [
        rel for rel in sorted(present & listed.keys()) if _digest(bundle / rel) != listed[rel]
    ]
    sig_path, pub_path = bundle / SIGNATURE, bundle / PUBLIC_KEY
    check.signed = sig_path.is_file()
    if not check.signed:
        if public_key is not None or require_signature:
            check.problems.append(f"missing: {SIGNATURE} (the bundle is unsigned)")
        return check
    key = public_key
    if key is None:
        try:
            key = load_public_key(pub_path.read_bytes(), PUBLIC_KEY)
        except (OSError, SigningKeyError) as e:
            check.problems.append(f"cannot read the bundled public key: {e}")
            check.signature_valid = False
            return check
    check.key_trusted = public_key is not None
    check.key_fingerprint = key_fingerprint(key)
    try:
        key.verify(sig_path.read_bytes(), data)
        check.signature_valid = True
    except InvalidSignature:
        check.signature_valid = False
        check.problems.append(
            f"bad signature: {SIGNATURE} does not verify against {check.key_fingerprint}"
        )
    return check
