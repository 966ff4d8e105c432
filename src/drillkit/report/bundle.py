"""The evidence bundle's integrity: a SHA-256 manifest of every file and a detached signature.

``manifest.sha256`` lists every file of the bundle in ``sha256sum`` format (so
``sha256sum -c manifest.sha256`` checks it without drillkit). When a signing key is set,
``manifest.sha256.sig`` holds the raw 64-byte Ed25519 signature of the manifest's bytes and
``manifest.sha256.pub`` the public key (PEM), so ``openssl pkeyutl -verify -rawin`` checks it too.

Verification (:func:`verify_bundle`) trusts nothing the bundle says about itself: a signature is
*verified* only against a key the caller trusts (``trusted_keys``: ``drillkit evidence verify
--public-key``/``--trusted-keys``/``DRILLKIT_TRUSTED_KEYS``). The bundled public key only proves
that the bundle is unchanged since whoever holds that key signed it; it is used only when the caller
says so (``trust_bundle_key``, ``--trust-bundle-key``), and the check then carries a warning. The
key fingerprint recorded in ``report.json`` must be the verifying key's, a report that says
"signed" needs a signature, and the bundle may hold nothing but regular files listed once each
under a relative path inside it (no symlink, FIFO, ``..`` or absolute path, no duplicate line).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    "TRUSTED_KEYS_ENV",
    "BundleCheck",
    "SigningKeyError",
    "approval_name",
    "countersign",
    "current_signing_key",
    "generate_key",
    "key_fingerprint",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
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
TRUSTED_KEYS_ENV = "DRILLKIT_TRUSTED_KEYS"  # a file of PEM public keys verify trusts
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


_APPROVAL = re.compile(r"^manifest\.sha256\.approval-[0-9a-f]{16}\.(sig|pub)$")


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


@dataclass
class BundleCheck:
    """What ``verify_bundle`` found. ``ok`` is False on any difference, any problem, a bad or
    untrusted signature."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signed: bool = False
    signature_valid: bool | None = None  # None: unsigned
    key_fingerprint: str | None = None
    key_trusted: bool = False  # verified against a key the caller trusts
    approvals: list[str] = field(default_factory=list)  # fingerprints of valid countersignatures

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
        out += [f"warning: {w}" for w in self.warnings]
        if not self.signed:
            out.append("unsigned: no signature in the bundle")
        elif self.signature_valid:
            who = "a trusted key" if self.key_trusted else "the bundled public key (not trusted)"
            out.append(f"signature valid ({self.key_fingerprint}, checked against {who})")
        out += [f"approved by {fp} (countersignature valid, trusted key)" for fp in self.approvals]
        return out


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _escapes(rel: str) -> bool:
    parts = rel.split("/")
    return (
        rel.startswith("/")
        or "\\" in rel
        or "\0" in rel
        or any(p in ("", ".", "..") for p in parts)
    )


def _parse_manifest(data: bytes, check: BundleCheck) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, raw in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        if not raw and n > data.count(b"\n"):
            continue  # the end of the last line
        digest, sep, rel = raw.partition("  ")
        if not sep or not _HEX64.match(digest) or not rel:
            check.problems.append(f"{MANIFEST}:{n}: malformed line")
        elif _escapes(rel):
            check.problems.append(f"{MANIFEST}:{n}: {rel!r} is not a plain path inside the bundle")
        elif rel in listed:
            check.problems.append(f"{MANIFEST}:{n}: {rel} is listed twice")
        elif _unlisted(rel):
            check.problems.append(f"{MANIFEST}:{n}: {rel} cannot be in the manifest")
        else:
            listed[rel] = digest
    return listed


def _report_evidence(bundle: Path, listed: dict[str, str], check: BundleCheck) -> dict[str, Any]:
    """The ``evidence`` block of report.json, if the report is there and intact."""
    if "report.json" not in listed or "report.json" in check.changed:
        return {}
    try:
        evidence = json.loads((bundle / "report.json").read_text(encoding="utf-8")).get("evidence")
    except (OSError, ValueError, AttributeError):
        return {}
    return evidence if isinstance(evidence, dict) else {}


def _read_key(path: Path, check: BundleCheck) -> Ed25519PublicKey | None:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise SigningKeyError(f"{path.name} is not a regular file")
        return load_public_key(path.read_bytes(), path.name)
    except (OSError, SigningKeyError) as e:
        check.problems.append(f"cannot read the bundled public key: {e}")
        return None


def _check_signature(
    bundle: Path,
    data: bytes,
    check: BundleCheck,
    trusted: list[Ed25519PublicKey],
    trust_bundle_key: bool,
) -> None:
    signature = (bundle / SIGNATURE).read_bytes()
    bundled = _read_key(bundle / PUBLIC_KEY, check) if (bundle / PUBLIC_KEY).exists() else None
    for key in trusted:
        with contextlib.suppress(InvalidSignature):
            key.verify(signature, data)
            check.signature_valid, check.key_trusted = True, True
            check.key_fingerprint = key_fingerprint(key)
            return
    if trusted:
        names = ", ".join(key_fingerprint(k) for k in trusted)
        check.signature_valid = False
        check.problems.append(
            f"bad signature: {SIGNATURE} verifies against no trusted key ({names})"
        )
        return
    if bundled is None:
        check.signature_valid = False
        return
    check.key_fingerprint = key_fingerprint(bundled)
    try:
        bundled.verify(signature, data)
        check.signature_valid = True
    except InvalidSignature:
        check.signature_valid = False
        check.problems.append(
            f"bad signature: {SIGNATURE} does not verify against {check.key_fingerprint}"
        )
        return
    if trust_bundle_key:
        check.warnings.append(
            f"trusting the bundle's own public key {check.key_fingerprint}: this proves the "
            "bundle is unchanged since that key signed it, not who signed it"
        )
    else:
        check.problems.append(
            f"signed by {check.key_fingerprint}, but no trusted key was given: pass "
            f"--public-key FILE or --trusted-keys FILE (or set {TRUSTED_KEYS_ENV}), or "
            "--trust-bundle-key to accept the bundled key (integrity only)"
        )


def _check_approvals(
    bundle: Path,
    data: bytes,
    check: BundleCheck,
    trusted: list[Ed25519PublicKey],
    trust_bundle_key: bool,
) -> None:
    for sig_path in sorted(bundle.glob("manifest.sha256.approval-*.sig")):
        key = _read_key(sig_path.with_suffix(".pub"), check)
        if key is None:
            continue
        fp = key_fingerprint(key)
        if not sig_path.name.endswith(f"-{fp[7:23]}.sig"):
            check.problems.append(f"{sig_path.name}: its public key is {fp}")
            continue
        try:
            key.verify(sig_path.read_bytes(), data)
        except InvalidSignature:
            check.problems.append(f"bad countersignature: {sig_path.name} ({fp})")
            continue
        if any(key_fingerprint(t) == fp for t in trusted):
            check.approvals.append(fp)
        elif trust_bundle_key:
            check.warnings.append(f"countersigned by {fp}, a key that is not trusted")
        else:
            check.problems.append(f"countersigned by {fp}, a key that is not trusted")


def verify_bundle(
    bundle: Path,
    *,
    public_key: Ed25519PublicKey | None = None,
    trusted_keys: list[Ed25519PublicKey] | None = None,
    trust_bundle_key: bool = False,
    require_signature: bool = False,
) -> BundleCheck:
    """Compare the bundle with its manifest and check the signature and any approvals.

    A signature counts only against a trusted key (``public_key``, ``trusted_keys``); given any,
    a signature is required. Without, a signed bundle fails unless ``trust_bundle_key`` accepts
    the bundled public key (with a warning). ``report.json``'s ``evidence.signed`` and
    ``evidence.key_fingerprint`` must agree with what verified.
    """
    trusted = [*([public_key] if public_key is not None else []), *(trusted_keys or [])]
    check = BundleCheck()
    manifest = bundle / MANIFEST
    if not manifest.is_file() or manifest.is_symlink():
        check.problems.append(f"missing: {MANIFEST} (not an evidence bundle, or not finalized)")
        return check
    data = manifest.read_bytes()
    listed = _parse_manifest(data, check)
    tree = _walk(bundle)
    check.problems += tree.odd
    present = {rel for rel in tree.files if not _unlisted(rel)}
    check.added = sorted(present - listed.keys())
    check.removed = sorted(listed.keys() - present)
    check.changed = [
        rel for rel in sorted(present & listed.keys()) if _digest(bundle / rel) != listed[rel]
    ]
    claimed = _report_evidence(bundle, listed, check)
    sig_path = bundle / SIGNATURE
    check.signed = sig_path.is_file() and not sig_path.is_symlink()
    if not check.signed:
        if claimed.get("signed"):
            check.problems.append(
                f"report.json says the bundle is signed ({claimed.get('key_fingerprint')}) "
                f"but {SIGNATURE} is missing"
            )
        elif trusted or require_signature:
            check.problems.append(f"missing: {SIGNATURE} (the bundle is unsigned)")
        return check
    _check_signature(bundle, data, check, trusted, trust_bundle_key)
    recorded = claimed.get("key_fingerprint")
    if check.signature_valid and recorded != check.key_fingerprint:
        check.problems.append(
            f"report.json names the signing key {recorded}, but the signature is by "
            f"{check.key_fingerprint}"
        )
    _check_approvals(bundle, data, check, trusted, trust_bundle_key)
    return check


def approval_name(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """``manifest.sha256.approval-<first 16 hex of the fingerprint>`` (+ ``.sig``/``.pub``)."""
    return f"{MANIFEST}.approval-{key_fingerprint(key)[7:23]}"


def countersign(bundle: Path, key: Ed25519PrivateKey) -> Path:
    """Add an approver's signature of the manifest (as it is: verify the bundle first)."""
    data = (bundle / MANIFEST).read_bytes()
    base = bundle / approval_name(key)
    base.with_name(base.name + ".pub").write_bytes(_public_pem(key.public_key()))
    sig = base.with_name(base.name + ".sig")
    sig.write_bytes(key.sign(data))
    return sig
