"""Two agents of a class never given together (cds.profile.regimens.NEVER_COMBINED) are a switch, not one
regimen of both: the MITRE trial-matching patient recorded abemaciclib and ribociclib as active together
and was shown "on fulvestrant + ribociclib + abemaciclib" without a word (third-party review, D6)."""

from __future__ import annotations

from collections.abc import Callable

from cds.profile.model import PatientProfile
from tests.profile import builders as b
from tests.profile.test_journey import (
    ABEMACICLIB,
    FULVESTRANT,
    LETROZOLE,
    PALBOCICLIB,
    chart,
    progression,
    stopped,
)

Build = Callable[..., PatientProfile]
ANASTROZOLE = b.rx("84857")


def test_two_cdk46_inhibitors_recorded_active_together_are_a_switch_and_a_data_issue(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(FULVESTRANT, start="2024-02-01", status="completed"),
            b.med_statement(ABEMACICLIB, start="2024-02-01"),
            b.med_statement(FULVESTRANT, start="2024-04-01"),
            b.med_statement(b.rx("1873980", "ribociclib Oral Product"), start="2024-04-01"),
        )
    )
    assert {"ribociclib", "fulvestrant"} <= profile.current_therapies.value
    assert "abemaciclib" not in profile.current_therapies.value
    [issue] = [i for i in profile.issues if i.kind == "conflicting" and i.topic == "prior_therapies"]
    assert "abemaciclib and ribociclib" in issue.message and "CDK4/6 inhibitor" in issue.message
    assert len(issue.evidence) == 2
    # a switch is no progression, and the same line goes on
    assert profile.progressed_on.value == frozenset()
    assert profile.metastatic_lines.value == 1 and profile.metastatic_endocrine_lines.value == 1
    assert profile.completed_metastatic_lines.value == 0


def test_switch_of_cdk46_inhibitor_keeps_the_endocrine_partner_and_raises_no_issue(build: Build) -> None:
    """Palbociclib + letrozole; palbociclib ends (neutropenia, no reason recorded) and abemaciclib starts
    two weeks later with the same letrozole: on abemaciclib + letrozole, one line, no data problem."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-03-20", status="completed"),
            b.med_statement(ABEMACICLIB, start="2024-04-05"),
        )
    )
    assert {"abemaciclib", "letrozole"} <= profile.current_therapies.value
    assert "palbociclib" not in profile.current_therapies.value
    assert not [i for i in profile.issues if i.kind == "conflicting"]
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0
    assert profile.progressed_on.value == frozenset()


def test_progression_after_a_switch_is_progression_on_the_line_from_its_start(build: Build) -> None:
    """Palbociclib + letrozole from 2024-02-01, switched to abemaciclib 2024-04-05, progression recorded
    2024-06-01: four months into the first endocrine line, primary endocrine resistance (ESO-ESMO ABC 5),
    on abemaciclib + letrozole; the switch is said in the lines' note."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-03-20", status="completed"),
            b.med_statement(ABEMACICLIB, start="2024-04-05"),
            progression("2024-06-01"),
        )
    )
    assert profile.endocrine_resistance.value == "primary"
    assert {"abemaciclib", "letrozole"} <= profile.progressed_on.value
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 1
    assert profile.metastatic_lines.note is not None
    assert "line 1 switched 2024-04-05 to abemaciclib + letrozole" in profile.metastatic_lines.note


def test_a_second_cdk46_inhibitor_after_progression_is_the_next_line(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01", end="2024-03-20", status="stopped"),
            stopped(
                b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-03-20", status="stopped"),
                "Disease progression",
            ),
            b.med_statement(FULVESTRANT, start="2024-04-05"),
            b.med_statement(ABEMACICLIB, start="2024-04-05"),
        )
    )
    assert profile.metastatic_lines.value == 2 and profile.completed_metastatic_lines.value == 1
    assert {"palbociclib", "letrozole"} <= profile.progressed_on.value
    assert "palbociclib" not in profile.current_therapies.value


def test_two_aromatase_inhibitors_active_together_in_the_early_setting_are_a_data_issue(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(ANASTROZOLE, start="2020-03-01", end="2022-03-01", status="completed"),
            b.med_statement(LETROZOLE, start="2021-06-01", end="2023-06-01", status="completed"),
        )
    )
    [issue] = [i for i in profile.issues if i.kind == "conflicting" and i.topic == "prior_therapies"]
    assert "anastrozole and letrozole" in issue.message and "Aromatase inhibitor" in issue.message


def test_a_cdk46_switch_after_progression_keeps_the_endocrine_partner_in_the_next_line(build: Build) -> None:
    """Letrozole goes on; palbociclib is stopped for progression and abemaciclib started: the next line
    (abemaciclib + letrozole from its own start), the first one progressed."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            stopped(
                b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-03-20", status="stopped"),
                "Disease progression",
            ),
            b.med_statement(ABEMACICLIB, start="2024-04-05"),
        )
    )
    assert profile.metastatic_lines.value == 2 and profile.completed_metastatic_lines.value == 1
    assert profile.metastatic_lines.note is not None
    assert "line 2: 2024-04-05 abemaciclib + letrozole" in profile.metastatic_lines.note
    assert {"abemaciclib", "letrozole"} <= profile.current_therapies.value
    assert "palbociclib" in profile.progressed_on.value
