"""Issue 11 end to end on the in-memory target: a host step that dumps its environment and the
password file during a signed run leaks neither the signing key nor a password into the bundle,
and the bundle verifies only against the signer's key."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drillkit.drill import run_drill
from drillkit.report.verify import verify_bundle
from drillkit.secrets import Secrets, forget_all
from drillkit.spec import DrillSpec, load_drill
from drillkit.testing import MemoryCluster, MemoryPlatform

REPO = Path(__file__).resolve().parents[2]
LEAK = (
    'env; cat "$PGPASSFILE"; cat "$PGPASSFILE" | base64 -w0; echo; echo "${DRILLKIT_SIGNING_KEY:-}"'
)


class ShellMemoryCluster(MemoryCluster):
    """The memory target plus what a custom step needs (as PostgresCluster provides it)."""

    secrets: Secrets

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        return {"DK_NODES": " ".join(n.name for n in self.nodes), "PGUSER": "postgres"}

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        return {"pgpass": "".join(f"*:*:*:{k}:{v}\n" for k, v in self.secrets.values.items())}


class ShellMemoryPlatform(MemoryPlatform):
    def secret_names(self, topology: Any) -> tuple[str, ...]:
        return ("postgres", "replicator")

    def topology(self, topology: Any, *, secrets: Any, **kwargs: Any) -> MemoryCluster:
        cluster = ShellMemoryCluster(topology, labels=kwargs["labels"])
        cluster.secrets = secrets
        self.cluster = cluster
        self.secrets = secrets
        return cluster


def _spec() -> DrillSpec:
    doc = load_drill(REPO / "drills" / "failover.yaml").model_dump(mode="json", exclude_unset=True)
    doc["workload"]["stable_window_seconds"] = 0.05
    doc["runbook"].append({"step": "shell", "name": "leak", "run": LEAK})
    return DrillSpec.model_validate(doc)


def test_a_leaky_host_step_in_a_signed_run_leaves_no_secret_in_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_all()
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    monkeypatch.setenv("DRILLKIT_SIGNING_KEY", pem)
    platform = ShellMemoryPlatform()

    result = run_drill(
        _spec(),
        drill_file="failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
        sleep=lambda s: time.sleep(s / 20),
        platform=platform,
    )

    passwords = list(platform.secrets.values.values())
    assert passwords
    leak_step = next(tmp_path.rglob("runbook/*-leak.json")).read_text()
    assert "DK_NODES=" in leak_step and "***" in leak_step  # it ran, and was redacted
    body = "".join(pem.splitlines()[1:-1])
    for path in result.report_dir.rglob("*"):
        if path.is_file() and path.suffix not in (".sig", ".pub"):
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY" not in text and body not in text, path
            for pw in passwords:
                assert pw not in text, path
                assert base64.b64encode(pw.encode()).decode()[4:28] not in text, path
    assert verify_bundle(result.report_dir, public_key=key.public_key()).ok
    assert not verify_bundle(result.report_dir).ok  # signed: a trusted key is needed
    forget_all()
