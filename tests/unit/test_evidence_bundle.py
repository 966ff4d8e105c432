"""The manifest and its detached signature: every added, removed or changed file and every bad
signature is reported, and the verdict of verify is not ok."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drillkit.report.bundle import (
    KEY_ENV,
    KEY_FILE_ENV,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    SigningKeyError,
    current_signing_key,
    generate_key,
    key_fingerprint,
    load_public_key,
    signing,
    write_manifest,
)
from drillkit.report.verify import verify_bundle


def _bundle(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    (d / "nodes").mkdir(parents=True)
    (d / "report.json").write_text('{"verdict": "pass"}\n')
    (d / "history.jsonl").write_text('{"index": 0}\n')
    (d / "nodes" / "pg0.log").write_text("LOG: ready\n")
    return d


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_an_untouched_unsigned_bundle_verifies_and_says_it_is_unsigned(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    write_manifest(d)
    listed = (d / MANIFEST).read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == [
        "history.jsonl",
        "nodes/pg0.log",
        "report.json",
    ]
    check = verify_bundle(d)
    assert check.ok and not check.signed
    assert "unsigned: no signature in the bundle" in check.lines()
    assert not (d / SIGNATURE).exists()


def test_added_removed_and_changed_files_are_each_reported(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    write_manifest(d, Ed25519PrivateKey.generate())
    (d / "extra.txt").write_text("planted")
    (d / "nodes" / "pg0.log").unlink()
    (d / "report.json").write_text('{"verdict": "fail"}\n')
    check = verify_bundle(d)
    assert not check.ok
    assert check.added == ["extra.txt"]
    assert check.removed == ["nodes/pg0.log"]
    assert check.changed == ["report.json"]
    assert check.signature_valid  # the manifest itself is intact
    assert {"added: extra.txt", "removed: nodes/pg0.log", "changed: report.json"} <= set(
        check.lines()
    )


def test_a_rewritten_manifest_breaks_the_signature(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    write_manifest(d, Ed25519PrivateKey.generate())
    signature = (d / SIGNATURE).read_bytes()
    (d / "report.json").write_text('{"verdict": "fail"}\n')
    write_manifest(d)  # an attacker re-hashes the files but cannot sign ...
    (d / SIGNATURE).write_bytes(signature)  # ... so puts the old signature back
    (d / PUBLIC_KEY).write_bytes(b"")
    check = verify_bundle(d)
    assert not check.ok and check.signature_valid is False


def test_a_bad_signature_and_a_wrong_public_key_fail(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    key = Ed25519PrivateKey.generate()
    write_manifest(d, key)
    assert verify_bundle(d, public_key=key.public_key()).key_trusted
    other = Ed25519PrivateKey.generate().public_key()
    wrong = verify_bundle(d, public_key=other)
    assert not wrong.ok and wrong.signature_valid is False
    assert any("bad signature" in p for p in wrong.problems)
    sig = bytearray((d / SIGNATURE).read_bytes())
    sig[0] ^= 1
    (d / SIGNATURE).write_bytes(bytes(sig))
    flipped = verify_bundle(d)
    assert not flipped.ok and flipped.signature_valid is False


def test_an_unsigned_bundle_fails_when_a_signature_is_required(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    write_manifest(d)
    assert not verify_bundle(d, require_signature=True).ok
    assert not verify_bundle(d, public_key=Ed25519PrivateKey.generate().public_key()).ok


def test_a_folder_without_manifest_is_not_ok(tmp_path: Path) -> None:
    check = verify_bundle(_bundle(tmp_path))
    assert not check.ok and "missing: manifest.sha256" in check.problems[0]


def test_signing_key_comes_from_context_then_env_text_then_env_file(tmp_path: Path) -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    key_file = tmp_path / "k.pem"
    key_file.write_text(_pem(b))
    assert current_signing_key({}) is None
    got = current_signing_key({KEY_ENV: _pem(a)})
    assert got is not None and key_fingerprint(got) == key_fingerprint(a)
    got = current_signing_key({KEY_FILE_ENV: str(key_file)})
    assert got is not None and key_fingerprint(got) == key_fingerprint(b)
    with signing(b):
        got = current_signing_key({KEY_ENV: _pem(a)})
        assert got is not None and key_fingerprint(got) == key_fingerprint(b)
    with pytest.raises(SigningKeyError, match="DRILLKIT_SIGNING_KEY: not an unencrypted PEM"):
        current_signing_key({KEY_ENV: "not a key"})
    with pytest.raises(SigningKeyError, match="cannot read"):
        current_signing_key({KEY_FILE_ENV: str(tmp_path / "missing.pem")})


def test_generate_key_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "drillkit.pem"
    public = generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public.name == "drillkit.pem.pub"
    load_public_key(public.read_bytes())
    with pytest.raises(FileExistsError):
        generate_key(path)
