"""The control mapping of a report (``drillkit run --controls soc2,iso27001,...``).

For each control a drill run can be *evidence for*, what this run shows and what it cannot show
(plan approval, scope, management review: decisions and records of people). The wording is kept
factual: a bundle supports an auditor's test of a control, it does not certify one.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.report.model import ControlRow

__all__ = ["FRAMEWORKS", "controls_for", "unknown_frameworks"]


@dataclass(frozen=True)
class _Control:
    framework: str
    control: str
    title: str
    evidences: str
    needs_human: str


_MEASURED = (
    "the recovery procedure in the drill file was executed against the environment named in the "
    "audit fields, with every operation, fault and runbook step recorded with its time "
    "(history.jsonl) and RPO, RTO and lost writes measured from that record: {facts}"
)
_PLAN = (
    "that the drill file matches the approved recovery plan, that the environment stands in for "
    "the in-scope production system, the test frequency, and follow-up of findings"
)

FRAMEWORKS: dict[str, tuple[_Control, ...]] = {
    "soc2": (
        _Control(
            "SOC 2 (TSC 2017)",
            "A1.3",
            "recovery plan procedures are tested",
            _MEASURED,
            _PLAN + "; approval of the recovery plan by management",
        ),
    ),
    "iso27001": (
        _Control(
            "ISO/IEC 27001:2022",
            "A.5.30",
            "ICT readiness for business continuity",
            "ICT recovery was rehearsed and compared with declared targets: {facts}",
            "the business continuity objectives behind the targets, the ICT continuity plans "
            "and their approval, management review of the results",
        ),
        _Control(
            "ISO/IEC 27001:2022",
            "A.8.13",
            "information backup",
            "if the runbook restores from a backup (see its steps), that the restore ran and "
            "what data it brought back; otherwise this run says nothing about backups",
            "the backup policy, coverage of all in-scope data, retention, off-site or immutable "
            "copies",
        ),
        _Control(
            "ISO/IEC 27001:2022",
            "A.8.14",
            "redundancy of information processing facilities",
            "the faults in the report (node loss, partition, ...) were injected and their effect "
            "on availability and acknowledged data measured: {facts}",
            "that the redundancy tested reflects the production architecture and capacity",
        ),
    ),
    "iso22301": (
        _Control(
            "ISO 22301:2019",
            "8.5",
            "exercise programme",
            "one exercise was conducted and its results recorded with timings: {facts}",
            "the exercise programme and its objectives, the post-exercise review and report, "
            "corrective actions",
        ),
    ),
    "dora": (
        _Control(
            "DORA (EU 2022/2554)",
            "Art. 11",
            "response and recovery: testing of ICT business continuity plans",
            _MEASURED,
            "the ICT business continuity policy and its approval by the management body, the "
            "choice of severe but plausible scenarios, reporting of the results",
        ),
        _Control(
            "DORA (EU 2022/2554)",
            "Art. 12",
            "backup policies, restoration and recovery procedures",
            "a restoration or recovery procedure was executed and the data it recovered "
            "checked against every acknowledged write: {facts}",
            "the backup policy, the segregation of backup systems, the recovery objectives "
            "set per function",
        ),
    ),
    "nist": (
        _Control(
            "NIST SP 800-53 Rev. 5",
            "CP-4",
            "contingency plan testing",
            _MEASURED,
            "that the test follows the contingency plan, review of the results and "
            "initiation of corrective actions by the organisation",
        ),
        _Control(
            "NIST SP 800-53 Rev. 5",
            "CP-9",
            "system backup",
            "if the runbook restores from a backup (see its steps), that the backup could be "
            "restored and what it contained; otherwise nothing about backups",
            "the backup frequency, coverage and protection of backups (CP-9 enhancements)",
        ),
        _Control(
            "NIST SP 800-53 Rev. 5",
            "CP-10",
            "system recovery and reconstitution",
            "the system was brought back to a known state after a fault and the time taken "
            "measured: {facts}",
            "that the recovered state meets the organisation's recovery objectives",
        ),
    ),
    "pci": (
        _Control(
            "PCI DSS v4.0",
            "12.10.2",
            "incident response plan reviewed and tested (business recovery, data backup)",
            "the business recovery and data backup elements exercised by this drill: {facts}",
            "the rest of the incident response plan (roles, communication, legal), its annual "
            "review and update",
        ),
    ),
}


def unknown_frameworks(keys: list[str] | tuple[str, ...]) -> list[str]:
    """The keys that name no framework in :data:`FRAMEWORKS`."""
    return [k for k in keys if k not in FRAMEWORKS]


def controls_for(keys: list[str] | tuple[str, ...], facts: str) -> list[ControlRow]:
    """The rows for ``keys`` (in :data:`FRAMEWORKS` order, each once); ``facts`` is one line
    on what this run measured."""
    return [
        ControlRow(
            framework=c.framework,
            control=c.control,
            title=c.title,
            evidences=c.evidences.format(facts=facts),
            needs_human=c.needs_human,
        )
        for key, controls in FRAMEWORKS.items()
        if key in keys
        for c in controls
    ]
