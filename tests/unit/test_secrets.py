"""Secrets never reach a log or a report: redact replaces them, repr hides them."""

from __future__ import annotations

from drillkit.secrets import Secrets


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
