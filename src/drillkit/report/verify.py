"""Checking an evidence bundle (:func:`verify_bundle`) and approving it (:func:`countersign`).

Verification trusts nothing the bundle says about itself: a signature is *verified* only against
a key the caller trusts (``trusted_keys``: ``drillkit evidence verify --public-key`` /
``--trusted-keys`` / ``DRILLKIT_TRUSTED_KEYS``). The bundled public key only proves that the bundle
is unchanged since whoever holds that key signed it; it is used only when the caller says so
(``trust_bundle_key``, ``--trust-bundle-key``), and the check then carries a warning. The key
fingerprint recorded in ``report.json`` must be the verifying key's, a report that says "signed"
needs a signature, and the bundle may hold nothing but regular files listed once each under a
relative path inside it (no symlink, FIFO, ``..`` or absolute path, no duplicate line).

An approval is a second signer's Ed25519 signature of the same manifest bytes, in
``manifest.sha256.approval-<first 16 hex of its fingerprint>.sig`` beside its ``.pub``. An
approval with a role (``approver``, ``reviewer``) has it in a ``.role`` file, and its signature
covers the manifest bytes followed by ``\ndrillkit-approval-role: <role>\n`` (so the role cannot
be changed without the approver's key).
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drillkit.report.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    SigningKeyError,
    _digest,
    _public_pem,
    _unlisted,
    _walk,
    key_fingerprint,
    load_public_key,
)

__all__ = [
    "ROLES",
    "TRUSTED_KEYS_ENV",
    "BundleCheck",
    "approval_name",
    "countersign",
    "verify_bundle",
]

ROLES = ("approver", "reviewer")

TRUSTED_KEYS_ENV = "DRILLKIT_TRUSTED_KEYS"  # a file of PEM public keys verify trusts


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
    roles: dict[str, str] = field(default_factory=dict)  # fingerprint -> role signed with it

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
        for fp in self.approvals:
            role = self.roles.get(fp, "approver")
            verb = "reviewed" if role == "reviewer" else "approved"
            out.append(f"{verb} by {fp} (role {role}; countersignature valid, trusted key)")
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
        role_path = sig_path.with_suffix(".role")
        role = None
        if role_path.is_file() and not role_path.is_symlink():
            role = role_path.read_text(encoding="utf-8", errors="replace").strip()
            if role not in ROLES:
                check.problems.append(f"{role_path.name}: unknown role {role[:40]!r}")
                continue
        try:
            key.verify(sig_path.read_bytes(), data + _role_suffix(role))
        except InvalidSignature:
            check.problems.append(f"bad countersignature: {sig_path.name} ({fp})")
            continue
        if any(key_fingerprint(t) == fp for t in trusted):
            check.approvals.append(fp)
            check.roles[fp] = role or "approver"
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


def _role_suffix(role: str | None) -> bytes:
    return b"" if role is None else f"\ndrillkit-approval-role: {role}\n".encode()


def countersign(bundle: Path, key: Ed25519PrivateKey, role: str | None = None) -> Path:
    """Add an approver's signature of the manifest (as it is: verify the bundle first); with
    ``role`` (one of :data:`ROLES`) the role is recorded and signed too."""
    if role is not None and role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    data = (bundle / MANIFEST).read_bytes()
    base = bundle / approval_name(key)
    base.with_name(base.name + ".pub").write_bytes(_public_pem(key.public_key()))
    role_path = base.with_name(base.name + ".role")
    if role is not None:
        role_path.write_text(role + "\n", encoding="utf-8")
    else:
        role_path.unlink(missing_ok=True)
    sig = base.with_name(base.name + ".sig")
    sig.write_bytes(key.sign(data + _role_suffix(role)))
    return sig
