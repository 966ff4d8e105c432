"""evidence verify trusts only keys it is given (issue 11): the fingerprint in report.json, a
stripped signature, symlinks, FIFOs, duplicate and escaping manifest lines, approvals, and the
exit codes of ``drillkit evidence verify`` / ``sign``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from drillkit.cli.main import app
from drillkit.report.bundle import MANIFEST, PUBLIC_KEY, SIGNATURE, key_fingerprint, write_manifest
from drillkit.report.verify import countersign, verify_bundle

runner = CliRunner()


def _bundle(tmp_path: Path, key: Ed25519PrivateKey | None, *, fingerprint: str | None = "") -> Path:
    """A finalized bundle whose report.json records its signing as finalize_evidence does."""
    d = tmp_path / "run"
    (d / "nodes").mkdir(parents=True)
    recorded = key_fingerprint(key) if key is not None and fingerprint == "" else fingerprint
    evidence = {"signed": key is not None, "key_fingerprint": recorded or None}
    (d / "report.json").write_text(json.dumps({"verdict": "pass", "evidence": evidence}))
    (d / "history.jsonl").write_text('{"index": 0}\n')
    (d / "nodes" / "pg0.log").write_text("LOG: ready\n")
    write_manifest(d, key)
    return d


def _public(tmp_path: Path, key: Ed25519PrivateKey, name: str = "signer.pub") -> Path:
    path = tmp_path / name
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evidence", "verify", *args])
    return result.exit_code, result.output


def test_a_signed_bundle_with_no_trusted_key_fails_and_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRILLKIT_TRUSTED_KEYS", raising=False)
    d = _bundle(tmp_path, Ed25519PrivateKey.generate())

    check = verify_bundle(d)
    code, out = _verify(str(d))

    assert not check.ok and check.signature_valid and not check.key_trusted
    assert code == 1 and "FAILED" in out
    assert "--public-key" in out and "--trusted-keys" in out and "--trust-bundle-key" in out


def test_trust_bundle_key_accepts_the_bundled_key_with_a_warning(tmp_path: Path) -> None:
    d = _bundle(tmp_path, Ed25519PrivateKey.generate())

    check = verify_bundle(d, trust_bundle_key=True)
    code, out = _verify(str(d), "--trust-bundle-key")

    assert check.ok and not check.key_trusted and check.warnings
    assert code == 0 and "warning: trusting the bundle's own public key" in out


def test_a_trusted_key_from_a_file_or_the_environment_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, key)
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(
        "# the release team\n"
        + _public(tmp_path, other, "o.pub").read_text()
        + _public(tmp_path, key).read_text()
    )

    assert _verify(str(d), "--public-key", str(_public(tmp_path, key)))[0] == 0
    assert _verify(str(d), "--trusted-keys", str(trusted))[0] == 0
    monkeypatch.setenv("DRILLKIT_TRUSTED_KEYS", str(trusted))
    code, out = _verify(str(d))
    assert code == 0 and "checked against a trusted key" in out
    monkeypatch.setenv("DRILLKIT_TRUSTED_KEYS", str(_public(tmp_path, other, "o.pub")))
    code, out = _verify(str(d))
    assert code == 1 and "bad signature" in out


def test_the_fingerprint_recorded_in_report_json_must_be_the_signers(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, key, fingerprint="sha256:" + "0" * 64)

    check = verify_bundle(d, public_key=key.public_key())

    assert not check.ok
    assert any("report.json names the signing key sha256:000" in p for p in check.problems)


def test_a_stripped_signature_fails_when_the_report_says_signed(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, key)
    (d / SIGNATURE).unlink()
    (d / PUBLIC_KEY).unlink()

    check = verify_bundle(d)

    assert not check.ok
    assert any("says the bundle is signed" in p for p in check.problems)


def test_an_honestly_unsigned_bundle_still_verifies_without_a_key(tmp_path: Path) -> None:
    d = _bundle(tmp_path, None)

    assert verify_bundle(d).ok
    assert _verify(str(d))[0] == 0
    assert _verify(str(d), "--require-signature")[0] == 1


def test_symlinks_and_fifos_are_rejected_not_followed(tmp_path: Path) -> None:
    d = _bundle(tmp_path, None)
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "x.log").write_text("x")
    (d / "history.jsonl").rename(outside / "history.jsonl")
    (d / "history.jsonl").symlink_to(outside / "history.jsonl")  # same content, via a link
    (d / "linked").symlink_to(outside / "sub")
    os.mkfifo(d / "nodes" / "pipe.log")

    check = verify_bundle(d)  # must not hang on the FIFO

    assert not check.ok
    assert "symlink: history.jsonl (a bundle holds only regular files)" in check.problems
    assert "symlink: linked (a bundle holds only regular files)" in check.problems
    assert "not a regular file: nodes/pipe.log" in check.problems
    assert "history.jsonl" in check.removed  # a link is not the file the manifest lists


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("dup", "report.json is listed twice"),
        ("../outside", "'../outside' is not a plain path inside the bundle"),
        ("/etc/passwd", "'/etc/passwd' is not a plain path inside the bundle"),
        ("nodes/../report.json", "is not a plain path inside the bundle"),
        ("manifest.sha256.sig", "manifest.sha256.sig cannot be in the manifest"),
        ("Z" * 64 + "  x", "malformed line"),
    ],
)
def test_duplicate_escaping_and_malformed_manifest_lines_fail(
    tmp_path: Path, line: str, problem: str
) -> None:
    d = _bundle(tmp_path, None)
    manifest = (d / MANIFEST).read_text()
    first = manifest.splitlines()[-1]  # the report.json line
    extra = first if line == "dup" else (line if "  " in line else f"{'a' * 64}  {line}")
    (d / MANIFEST).write_text(manifest + extra + "\n")

    check = verify_bundle(d)

    assert not check.ok
    assert any(problem in p for p in check.problems), check.problems


def test_a_missing_bundle_or_an_unreadable_key_exits_2(tmp_path: Path) -> None:
    d = _bundle(tmp_path, Ed25519PrivateKey.generate())
    (tmp_path / "junk.pem").write_text("not a key")

    code, out = _verify(str(tmp_path / "nope"))
    assert code == 2 and "no such evidence folder" in out
    assert _verify(str(d), "--public-key", str(tmp_path / "missing.pub"))[0] == 2
    assert _verify(str(d), "--trusted-keys", str(tmp_path / "junk.pem"))[0] == 2


def test_an_approver_countersigns_and_verify_checks_the_approval(tmp_path: Path) -> None:
    signer, approver = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, signer)
    signer_pub = _public(tmp_path, signer)
    approver_pub = _public(tmp_path, approver, "approver.pub")
    approver_key = tmp_path / "approver.pem"
    approver_key.write_bytes(
        approver.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(signer_pub.read_text() + approver_pub.read_text())

    signed = runner.invoke(
        app,
        ["evidence", "sign", str(d), "--key", str(approver_key), "--public-key", str(signer_pub)],
    )
    assert signed.exit_code == 0, signed.output

    code, out = _verify(str(d), "--trusted-keys", str(trusted))
    assert code == 0 and f"approved by {key_fingerprint(approver)}" in out
    code, out = _verify(str(d), "--public-key", str(signer_pub))  # approver not trusted
    assert code == 1 and "a key that is not trusted" in out
    (d / "report.json").write_text('{"verdict": "fail"}')
    write_manifest(d, signer)  # re-signing drops the approvals of the old manifest
    assert not list(d.glob("manifest.sha256.approval-*"))


def test_a_forged_approval_fails(tmp_path: Path) -> None:
    signer, approver = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, signer)
    sig = countersign(d, approver)
    sig.write_bytes(bytes(64))

    check = verify_bundle(d, trusted_keys=[signer.public_key(), approver.public_key()])

    assert not check.ok and any("bad countersignature" in p for p in check.problems)


def test_sign_refuses_a_bundle_that_does_not_verify(tmp_path: Path) -> None:
    signer, approver = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, signer)
    (d / "history.jsonl").write_text("{}\n")
    key = tmp_path / "a.pem"
    key.write_bytes(
        approver.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    result = runner.invoke(
        app, ["evidence", "sign", str(d), "--key", str(key), "--trust-bundle-key"]
    )

    assert result.exit_code == 1 and "not countersigned" in result.output
    assert not list(d.glob("manifest.sha256.approval-*"))


def test_an_approval_records_its_role_and_the_role_is_signed(tmp_path: Path) -> None:
    signer, reviewer = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    d = _bundle(tmp_path, signer)
    signer_pub = _public(tmp_path, signer)
    reviewer_pub = _public(tmp_path, reviewer, "reviewer.pub")
    reviewer_key = tmp_path / "reviewer.pem"
    reviewer_key.write_bytes(
        reviewer.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(signer_pub.read_text() + reviewer_pub.read_text())
    args = ["evidence", "sign", str(d), "--key", str(reviewer_key), "--public-key", str(signer_pub)]
    bad = runner.invoke(app, [*args, "--role", "boss"])
    assert bad.exit_code == 2 and "approver, reviewer" in bad.output
    signed = runner.invoke(app, [*args, "--role", "reviewer"])
    assert signed.exit_code == 0, signed.output

    code, out = _verify(str(d), "--trusted-keys", str(trusted))
    assert code == 0 and f"reviewed by {key_fingerprint(reviewer)} (role reviewer" in out
    (role_file,) = d.glob("manifest.sha256.approval-*.role")
    role_file.write_text("approver\n")  # promoting a review to an approval breaks the signature
    code, out = _verify(str(d), "--trusted-keys", str(trusted))
    assert code == 1 and "bad countersignature" in out
