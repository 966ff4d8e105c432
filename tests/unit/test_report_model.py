"""The typed report model: report.json round-trips exactly, and the checked-in schema is current."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
from evidence_helpers import literal_run

from drillkit.report.model import SCHEMA_ID, Report, report_schema, schema_text


def test_the_checked_in_schema_is_the_one_generated_from_the_model() -> None:
    checked_in = resources.files("drillkit.report").joinpath("report.schema.json").read_text()
    assert checked_in == schema_text(), (
        "report.schema.json is stale: regenerate it with "
        "python -c 'from drillkit.report.model import schema_text; print(schema_text(), end=\"\")'"
        " > src/drillkit/report/report.schema.json"
    )
    schema = report_schema()
    assert schema["$id"] == SCHEMA_ID == "urn:drillkit:report:1"
    assert schema["properties"]["schema_version"]["const"] == 1


def test_report_json_round_trips_through_the_model_byte_for_byte() -> None:
    for survivors in (None, [1, 2, 3, 7, 8, 9, 10, 11, 12]):
        report, _ = literal_run(survivors=survivors)
        text = report.to_json_text()
        jsonschema.validate(json.loads(text), report_schema())
        again = Report.model_validate_json(text)
        assert again == report and again.to_json_text() == text


def test_an_older_report_without_the_newer_optional_fields_still_reads() -> None:
    report, _ = literal_run()
    data = report.as_json()
    for key in ("incident", "faults"):
        del data[key]
    for key in ("write_interval_seconds", "rpo_resolution_seconds", "read_back_probe"):
        del data["measured"][key]
    old = Report.model_validate(data)
    assert old.incident is None and old.faults == [] and not old.measured.read_back_probe
    assert old.as_json() == data  # what was absent stays absent
