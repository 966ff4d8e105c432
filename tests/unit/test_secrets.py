"""Secrets never reach a log or a report: redact replaces them, repr hides them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drillkit.report.bundle import load_private_key
from drillkit.secrets import Secrets, forget_all, redact_text, remember


def test_redact_replaces_every_occurrence_of_every_value() -> None:
    secrets = Secrets({"postgres": "pw-one", "replicator": "pw-two"})

    text = "postgres:pw-one@pg0 replicator:pw-two@pg1 again pw-one"

    assert secrets.redact(text) == "postgres:***@pg0 replicator:***@pg1 again ***"


def test_redact_leaves_text_without_secrets_alone() -> None:
    assert Secrets({"postgres": "pw-one"}).redact("nothing here") == "nothing here"
    assert Secrets().redact("nothing here") == "nothing here"


def test_repr_and_str_do_not_leak() -> None:
    secrets = Secrets({"postgres": "pw-one"})

    assert "pw-one" not in repr(secrets)
    assert "pw-one" not in str(secrets)
    assert "pw-one" not in f"{secrets!r} {secrets}"


def test_generate_makes_distinct_unguessable_values() -> None:
    secrets = Secrets.generate("postgres", "replicator")

    assert set(secrets.values) == {"postgres", "replicator"}
    assert secrets["postgres"] != secrets["replicator"]
    assert len(secrets["postgres"]) >= 32
    assert secrets.redact(f"password={secrets['postgres']}") == "password=***"


PASSWORD = "Zk3v-9_pQ2rT7wX1yL5nB8mC4dF6gH0j"


@pytest.fixture(autouse=True)
def _no_process_secrets() -> Iterator[None]:
    forget_all()
    yield
    forget_all()


def _pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "user:"])
@pytest.mark.parametrize("alphabet", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_base64_encoded_password_is_redacted_at_any_alignment(prefix: str, alphabet: Any) -> None:
    encoded = alphabet(f"{prefix}{PASSWORD}\n".encode()).decode()  # echo "$P" | base64

    redacted = Secrets({"postgres": PASSWORD}).redact(f"Authorization: Basic {encoded}")

    core = encoded[len(prefix) * 4 // 3 + 4 : -8]  # the middle, made of password bits only
    assert core not in redacted and "***" in redacted


def test_url_encoded_json_escaped_and_hex_forms_are_redacted() -> None:
    password = "p@ss/w0rd with spaces&more"
    secrets = Secrets({"postgres": password})

    for form in (quote(password, safe=""), quote_plus(password), password.encode().hex()):
        assert secrets.redact(f"dsn=postgres://u:{form}@h/db") == "dsn=postgres://u:***@h/db"


def test_any_pem_private_key_block_is_redacted_even_unknown_or_json_escaped() -> None:
    pem = _pem()
    escaped = json.dumps({"output": f"env:\nKEY={pem}\nDONE"})

    assert redact_text(f"KEY={pem.strip()} tail") == "KEY=*** tail"
    assert "PRIVATE KEY" not in redact_text(escaped)
    assert json.loads(redact_text(escaped))["output"].endswith("KEY=***\n\nDONE")
    truncated = pem[: len(pem) // 2]  # output cut off inside the block
    assert redact_text(f"x {truncated}") == "x ***"
    assert redact_text("-----BEGIN PUBLIC KEY-----") == "-----BEGIN PUBLIC KEY-----"


def test_a_loaded_signing_key_is_redacted_in_every_form_from_then_on() -> None:
    pem = _pem()
    body = "".join(pem.splitlines()[1:-1])
    seed = load_private_key(pem.encode()).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )

    for leaked in (
        body,  # the PEM body without its armour lines
        base64.b64encode(pem.encode()).decode(),
        quote(pem, safe=""),
        seed.hex(),
        base64.b64encode(seed).decode(),
    ):
        assert leaked not in Secrets().redact(f"leak: {leaked} end"), leaked


def test_a_short_junk_value_given_as_a_key_is_not_remembered() -> None:
    remember("1")  # DRILLKIT_SIGNING_KEY=1 must not turn every digit of a report into ***

    assert redact_text('{"rto_seconds": 1.1}') == '{"rto_seconds": 1.1}'
