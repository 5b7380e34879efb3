"""The treatment journey (cds.profile.journey): what the patient is on, what failed, relapse timing.

Each case is a chart written as EHRs send it (requests, statements and administrations; RxNorm codes,
brand names in text; partial dates), taken from the clinical review that found the old line counting
suggested drugs a patient was on or had progressed on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.pathway.engine import evaluate
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.pathway.render import render_cards
from cds.profile.model import PatientProfile
from cds.settings import default_knowledge_dir
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

LETROZOLE, ANASTROZOLE, FULVESTRANT = b.rx("72965"), b.rx("84857"), b.rx("282357")
RIBOCICLIB, ABEMACICLIB, PALBOCICLIB = b.rx("1873916"), b.rx("1946825"), b.rx("1601374")
PACLITAXEL, CARBOPLATIN, CAPECITABINE = b.rx("56946"), b.rx("40048"), b.rx("194000")
PEMBROLIZUMAB, T_DXD = b.rx("1547545"), b.rx("2267582")
TRASTUZUMAB, PERTUZUMAB, DOCETAXEL = b.rx("224905"), b.rx("1298944"), b.rx("72962")
PHESGO = b.cc(text="Phesgo 1200 mg/600 mg/30,000 units SC")
BONE_MET = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone")
PROGRESSION = b.cc(b.LOINC, "97509-4", "Cancer disease progression")
WORSENED = b.cc(b.SNOMED, "271299001", "Patient's condition worsened (finding)")


def chart(met_onset: str | None = "2024-01-15", *meds: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b.patient("1962-03-01"),
        b.breast_cancer(onset="2019-02-01"),
        b.condition(BONE_MET, onset=met_onset, rid="met-1"),
        *meds,
    ]


def progression(date: str) -> dict[str, Any]:
    return b.observation(PROGRESSION, date=date, value=WORSENED)


def stopped(record: dict[str, Any], reason: str) -> dict[str, Any]:
    concept = {"text": reason}
    record["statusReason"] = concept if record["resourceType"] == "MedicationRequest" else [concept]
    return record


def test_current_therapy_counts_when_metastases_have_no_date(build: Build) -> None:
    """On fulvestrant + abemaciclib, metastasis without onset: the first line now, not 'no line'."""
    profile = build(
        *chart(
            None,
            b.med_statement(FULVESTRANT, start="2024-03-01"),
            b.med_statement(ABEMACICLIB, start="2024-03-01"),
        )
    )
    assert profile.on_therapy.value == "yes"
    assert {"fulvestrant", "abemaciclib", "cdk4_6_inhibitor"} <= profile.current_therapies.value
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0


def test_regimen_started_shortly_before_the_metastasis_was_recorded_is_first_line(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_request(LETROZOLE, authored="2024-01-06"),
            b.med_request(RIBOCICLIB, authored="2024-01-06"),
        )
    )
    assert profile.on_therapy.value == "yes" and "ribociclib" in profile.current_therapies.value
    assert profile.metastatic_lines.value == 1
    assert "letrozole" in profile.metastatic_therapies.value


def test_relapse_during_adjuvant_anastrozole_is_progression_on_it(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(ANASTROZOLE, start="2020-03-01", end="2024-02-01", status="completed"),
        )
    )
    assert {"aromatase_inhibitor", "anastrozole"} <= profile.early_relapse_after.value
    assert "aromatase_inhibitor" in profile.progressed_on.value
    assert profile.endocrine_resistance.value == "secondary"  # on it, after more than 2 years
    assert profile.metastatic_lines.value == 0 and profile.on_therapy.value == "no"


def test_relapse_long_after_adjuvant_therapy_is_not_progression(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(ANASTROZOLE, start="2017-03-01", end="2022-03-01", status="completed"),
        )
    )
    assert profile.early_relapse_after.value == frozenset() and profile.progressed_on.value == frozenset()
    assert profile.endocrine_resistance.value == "sensitive"


def test_an_adjuvant_ai_completed_with_no_end_date_leaves_the_relapse_timing_unknown(
    build: Build, knowledge: Knowledge
) -> None:
    """Review 19 P1-3: anastrozole from 2020-03 'completed' with no end date, relapse 2024-01: it may have
    run into the relapse. Not read as an early relapse, nor as none: the fact says so, and the options
    that an early relapse on an AI would rule out carry a caution."""
    profile = build(
        *chart("2024-01-15", b.med_statement(ANASTROZOLE, start="2020-03-01", status="completed")),
        b.er(b.POSITIVE, date="2019-02-01"),
        b.her2_ihc(b.cc(text="0"), date="2019-02-01"),
        today=date(2024, 2, 1),
    )
    assert profile.early_relapse_after.value == frozenset()
    assert "aromatase_inhibitor" in profile.relapse_timing_unknown_after.value
    assert profile.relapse_timing_unknown_after.note == "relapse 2024-01-15"
    caution = "Caution: the adjuvant aromatase inhibitor has no end date recorded"
    lines = options_now(profile, knowledge)
    ai = [
        line for line in lines if "Aromatase inhibitor + CDK4/6" in line or "Endocrine therapy alone" in line
    ]
    assert len(ai) == 2 and all(caution in line for line in ai), lines
    assert not any(caution in line for line in lines if "Fulvestrant + CDK4/6" in line), lines


@pytest.mark.parametrize(
    ("drug", "er", "her2", "drug_class", "option", "caution"),
    [
        pytest.param(  # review 20 P2-5: as an AI after an AI with no end date
            b.rx("10324", "tamoxifen"),
            b.POSITIVE,
            "0",
            "tamoxifen",
            "Endocrine therapy alone",
            "Caution: the adjuvant tamoxifen has no end date recorded",
            id="tamoxifen",
        ),
        pytest.param(  # review 22 P3-7: T-DM1 (KATHERINE), within ASCO's 12 months or not is unknown
            b.cc(text="Kadcyla (ado-trastuzumab emtansine) 3.6 mg/kg IV"),
            b.NEGATIVE,
            "3+",
            "her2_directed",
            "Pertuzumab + trastuzumab",
            "Caution: the (neo)adjuvant anti-HER2 therapy has no end date recorded",
            id="t-dm1",
        ),
    ],
)
def test_adjuvant_therapy_with_no_end_date_cautions_the_option_an_early_relapse_would_change(
    build: Build,
    knowledge: Knowledge,
    drug: dict[str, Any],
    er: dict[str, Any],
    her2: str,
    drug_class: str,
    option: str,
    caution: str,
) -> None:
    """Adjuvant therapy 'completed' with only a start, relapse years later: whether the relapse came
    soon after it is unknown, and the first-line option an early relapse would rule out or demote says so."""
    profile = build(
        *chart("2024-01-15", b.med_statement(drug, start="2019-03-01", status="completed")),
        b.er(er, date="2019-02-01"),
        b.her2_ihc(b.cc(text=her2), date="2019-02-01"),
        today=date(2024, 2, 1),
    )
    assert drug_class in profile.relapse_timing_unknown_after.value
    lines = options_now(profile, knowledge)
    shown = [line for line in lines if option in line]
    assert len(shown) == 1 and caution in shown[0], lines


def test_an_earlier_adjuvant_order_with_no_end_date_does_not_hide_the_end_of_the_later_one(
    build: Build,
) -> None:
    """Review 20 P1-2: anastrozole 'completed' in 2021 with no end date, then 2022-03 to 2023-06; relapse
    2024-01: the later order's end is the end (7 months before), an early relapse on the AI."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(ANASTROZOLE, start="2021-03-01", status="completed"),
            b.med_statement(ANASTROZOLE, start="2022-03-01", end="2023-06-15", status="completed"),
        ),
        today=date(2024, 2, 1),
    )
    assert "aromatase_inhibitor" in profile.early_relapse_after.value
    assert profile.relapse_timing_unknown_after.value == frozenset()
    assert profile.endocrine_resistance.value == "secondary"


@pytest.mark.parametrize("ai_end", ["2021-03-01", None])
def test_a_relapse_soon_after_tamoxifen_is_not_one_after_an_earlier_aromatase_inhibitor(
    build: Build, ai_end: str | None
) -> None:
    """Review 21 N2: anastrozole from 2018 (ended 2021, or with no end date), then tamoxifen to 2023-06,
    relapse 2024-01: an early relapse after tamoxifen, not after the AI; tamoxifen's end does not date
    the AI, whose timing stays unknown when it has no end."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(ANASTROZOLE, start="2018-03-01", end=ai_end, status="completed"),
            b.med_statement(
                b.rx("10324", "tamoxifen"), start="2021-03-15", end="2023-06-15", status="completed"
            ),
        ),
        today=date(2024, 2, 1),
    )
    assert "tamoxifen" in profile.early_relapse_after.value
    assert "aromatase_inhibitor" not in profile.progressed_on.value
    assert ("aromatase_inhibitor" in profile.relapse_timing_unknown_after.value) == (ai_end is None)


def test_relapse_within_six_months_of_adjuvant_trastuzumab(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(TRASTUZUMAB, start="2022-09-01", end="2023-09-01", status="completed"),
        )
    )
    assert "her2_directed" in profile.early_relapse_after.value
    assert "trastuzumab" in profile.progressed_on.value


@pytest.mark.parametrize(("relapse", "early"), [("2026-11-01", True), ("2027-03-01", False)])
def test_relapse_within_six_months_of_adjuvant_chemotherapy_is_progression_on_that_agent(
    build: Build, relapse: str, early: bool
) -> None:
    """Review 27, P2-3: the Enhertu HER2-low indication counts a recurrence during or within 6 months of
    adjuvant chemotherapy as the prior chemotherapy. Each agent is timed from its own end: capecitabine
    ended 4 months before, the cyclophosphamide of AC a year and a half before."""
    profile = build(
        *chart(
            relapse,
            b.med_statement(CYCLOPHOSPHAMIDE, start="2025-02-01", end="2025-04-01", status="completed"),
            b.med_statement(CAPECITABINE, start="2025-08-01", end="2026-07-01", status="completed"),
        ),
        today=date(2027, 4, 1),
    )
    assert ("capecitabine" in profile.early_relapse_after.value) is early
    assert ("capecitabine" in profile.progressed_on.value) is early
    assert "cyclophosphamide" not in profile.progressed_on.value


@pytest.mark.parametrize(
    ("status", "end", "expected"),
    [("completed", "2024-09-01", "yes"), ("active", None, "no")],
)
def test_a_last_line_ended_without_progression_and_nothing_since_is_said_so(
    build: Build, status: str, end: str | None, expected: str
) -> None:
    """Review 27, P2-6: paclitaxel completed for metastatic disease, no progression, nothing since: the
    next line is for when treatment is needed; while it is given, no."""
    profile = build(
        *chart("2024-01-15", b.med_statement(PACLITAXEL, start="2024-02-01", end=end, status=status))
    )
    fact = profile.last_line_ended_without_progression
    assert fact.value == expected
    assert (fact.note == "line 1, paclitaxel, ended 2024-09-01") is (expected == "yes")


def test_endocrine_therapy_added_to_maintenance_stays_in_the_line_when_all_later_stop_for_progression(
    build: Build,
) -> None:
    """Review 28, P2-4: anastrozole added to trastuzumab + pertuzumab maintenance after docetaxel, all
    stopped for progression a year later: one line that progressed, as while it ran, not two (the stop
    for progression of its records, later than the addition, made the addition the next line)."""

    def until_progression(drug: dict[str, Any], start: str) -> dict[str, Any]:
        record = b.med_statement(drug, start=start, end="2026-10-20", status="stopped")
        return stopped(record, "Disease progression")

    profile = build(
        *chart(
            "2025-01-15",
            until_progression(TRASTUZUMAB, "2025-02-01"),
            until_progression(PERTUZUMAB, "2025-02-01"),
            b.med_statement(DOCETAXEL, start="2025-02-01", end="2025-06-15", status="completed"),
            until_progression(ANASTROZOLE, "2025-07-01"),
        ),
        today=date(2026, 11, 20),
    )
    assert profile.completed_metastatic_lines.value == 1
    assert {"trastuzumab", "anastrozole"} <= profile.progressed_on.value


def test_a_cdk46_inhibitor_switched_for_side_effects_stays_in_the_line_when_it_later_progresses(
    build: Build,
) -> None:
    """Review 30, P2-5: abemaciclib stopped for diarrhoea, palbociclib begun three weeks later on the same
    anastrozole, all stopped for progression two years later: one line, not two (the anastrozole record's
    later stop for progression made the switch a new line)."""
    anastrozole = stopped(
        b.med_statement(ANASTROZOLE, start="2024-09-01", end="2026-11-01", status="stopped"),
        "Disease progression",
    )
    abemaciclib = stopped(
        b.med_statement(
            b.rx("1946825", "abemaciclib"), start="2024-09-01", end="2024-10-10", status="stopped"
        ),
        "Grade 3 diarrhoea",
    )
    palbociclib = stopped(
        b.med_statement(
            b.rx("1601374", "palbociclib"), start="2024-10-31", end="2026-11-01", status="stopped"
        ),
        "Disease progression",
    )
    profile = build(*chart("2024-08-15", anastrozole, abemaciclib, palbociclib), today=date(2026, 11, 20))
    assert profile.completed_metastatic_lines.value == 1
    assert "abemaciclib" in profile.stopped_for_toxicity.value
    assert "palbociclib" in profile.progressed_on.value


def test_without_a_metastatic_date_therapy_around_breast_surgery_is_early(build: Build) -> None:
    surgery = b.procedure(b.cc(b.SNOMED, "64368001", "Partial mastectomy (procedure)"), when="2019-04-01")
    adjuvant = b.med_statement(PACLITAXEL, start="2019-05-01", end="2019-08-01", status="completed")
    unplaced = b.med_statement(CAPECITABINE, start="2022-05-01", end="2022-09-01", status="completed")
    profile = build(*chart(None, surgery, adjuvant, unplaced))
    assert (
        "paclitaxel" in profile.prior_therapies.value
        and "paclitaxel" not in profile.metastatic_therapies.value
    )
    # capecitabine three years after surgery, with no metastatic date: setting unknown, said so
    assert profile.metastatic_lines.value == 0
    [unplaced_issue] = [i for i in profile.issues if "could not be placed" in i.message]
    # the paclitaxel a month after surgery is adjuvant, not "could not be placed"
    assert [e.text.split(" ")[0] for e in unplaced_issue.evidence] == ["RxNorm"] and len(
        unplaced_issue.evidence
    ) == 1
    assert "1 past cancer medicine" in unplaced_issue.message


def test_therapy_after_a_metastatic_line_is_never_adjuvant_even_within_a_year_of_surgery(
    build: Build,
) -> None:
    """Lumpectomy, adjuvant letrozole, then palbociclib + fulvestrant (given only for metastatic disease),
    capecitabine and paclitaxel, all within a year of surgery; the metastasis has no date (review D1:
    the chemotherapy was read as adjuvant, so no chemotherapy line and no sacituzumab govitecan)."""
    surgery = b.procedure(b.cc(b.SNOMED, "392021009", "Lumpectomy of breast (procedure)"), when="2019-03-01")
    profile = build(
        *chart(
            None,
            surgery,
            b.med_statement(LETROZOLE, start="2019-03-15", end="2019-05-15", status="completed"),
            b.med_statement(PALBOCICLIB, start="2019-06-01", end="2019-08-15", status="completed"),
            b.med_statement(FULVESTRANT, start="2019-06-01", end="2019-08-15", status="completed"),
            b.med_statement(CAPECITABINE, start="2019-10-01", end="2019-11-15", status="completed"),
            b.med_statement(PACLITAXEL, start="2020-01-05", end="2020-02-20", status="completed"),
        )
    )
    assert {"capecitabine", "paclitaxel"} <= profile.metastatic_therapies.value
    assert profile.metastatic_lines.value == 3
    assert profile.metastatic_chemotherapy_lines.value == 2
    assert profile.early_systemic_therapies.value == 1  # letrozole, before the first metastatic line
    assert "letrozole" not in profile.metastatic_therapies.value


def test_therapy_after_a_metastatic_only_agent_is_metastatic_before_the_recorded_metastasis_date(
    build: Build,
) -> None:
    """Fulvestrant from 2023-03 (given only for metastatic disease), then capecitabine, months before the
    metastasis Condition's onset (2024-01-15, recorded late): capecitabine is a line, not early therapy."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(FULVESTRANT, start="2023-03-01", end="2023-07-01", status="completed"),
            b.med_statement(CAPECITABINE, start="2023-08-01", end="2023-10-01", status="completed"),
        )
    )
    assert "capecitabine" in profile.metastatic_therapies.value
    assert profile.metastatic_chemotherapy_lines.value == 1 and profile.metastatic_lines.value == 2
    assert profile.early_systemic_therapies.value == 0


def test_letrozole_recorded_the_same_day_as_palbociclib_is_its_partner_in_either_order(build: Build) -> None:
    """Lumpectomy, then letrozole + palbociclib (given only for metastatic disease) six months later, the
    metastasis undated: letrozole is the first line's partner, not adjuvant therapy, whichever record the
    EHR sends first."""
    surgery = b.procedure(b.cc(b.SNOMED, "392021009", "Lumpectomy of breast (procedure)"), when="2019-03-01")
    letrozole = b.med_statement(LETROZOLE, start="2019-09-01", end="2020-03-01", status="completed")
    palbociclib = b.med_statement(PALBOCICLIB, start="2019-09-01", end="2020-03-01", status="completed")
    for records in ([letrozole, palbociclib], [palbociclib, letrozole]):
        profile = build(*chart(None, surgery, *records))
        assert {"letrozole", "palbociclib"} <= profile.metastatic_therapies.value
        assert profile.early_systemic_therapies.value == 0
        assert profile.metastatic_endocrine_lines.value == 1


def test_letrozole_started_two_weeks_before_palbociclib_is_its_partner(build: Build) -> None:
    """An AI begun one cycle or less before the CDK4/6 inhibitor it is given with starts that line (the
    records of one regimen start within 28 days), however soon after surgery."""
    surgery = b.procedure(b.cc(b.SNOMED, "392021009", "Lumpectomy of breast (procedure)"), when="2019-03-01")
    letrozole = b.med_statement(LETROZOLE, start="2019-08-18", end="2020-03-01", status="completed")
    palbociclib = b.med_statement(PALBOCICLIB, start="2019-09-01", end="2020-03-01", status="completed")
    profile = build(*chart(None, surgery, letrozole, palbociclib))
    assert {"letrozole", "palbociclib"} <= profile.metastatic_therapies.value
    assert profile.early_systemic_therapies.value == 0
    assert profile.metastatic_endocrine_lines.value == 1


def test_planned_and_future_orders_are_not_therapy_given(build: Build) -> None:
    plan = b.med_request(T_DXD, authored="2025-05-20", intent="plan")
    future = b.med_request(CAPECITABINE, authored="2025-05-20", bounds=("2025-07-01", None))
    profile = build(*chart("2024-01-15", plan, future))
    assert (
        "t_dxd" not in profile.prior_therapies.value and "capecitabine" not in profile.prior_therapies.value
    )
    assert profile.metastatic_lines.value == 0
    assert any(i.kind == "ignored" and "planned" in i.message for i in profile.issues)


def test_switch_to_subcutaneous_trastuzumab_pertuzumab_continues_the_regimen(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(DOCETAXEL, start="2024-02-01", end="2024-06-01", status="completed"),
            b.med_statement(TRASTUZUMAB, start="2024-02-01", end="2024-09-01", status="completed"),
            b.med_statement(PERTUZUMAB, start="2024-02-01", end="2024-09-01", status="completed"),
            b.med_statement(PHESGO, start="2024-09-15"),
        )
    )
    assert profile.metastatic_lines.value == 1
    assert profile.on_therapy.value == "yes" and profile.completed_metastatic_lines.value == 0


def test_pembrolizumab_added_45_days_into_chemotherapy_joins_the_line(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_request(PACLITAXEL, authored="2024-02-01"),
            b.med_request(PEMBROLIZUMAB, authored="2024-03-17"),
        )
    )
    assert profile.metastatic_lines.value == 1
    assert {"paclitaxel", "pembrolizumab"} <= profile.current_therapies.value


def test_a_progression_result_on_the_current_line_makes_the_next_decision_now(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_request(LETROZOLE, authored="2024-02-01"),
            b.med_request(RIBOCICLIB, authored="2024-02-01"),
            progression("2025-04-20"),
        )
    )
    assert profile.on_therapy.value == "no"
    assert {"letrozole", "ribociclib"} <= profile.progressed_on.value
    assert profile.completed_metastatic_lines.value == 1
    assert any(e.reference.startswith("Observation/") for e in profile.progressed_on.evidence)


def test_synthea_worsening_is_progression_and_an_unread_status_is_reported(build: Build) -> None:
    """Synthea codes a response as 230993007 'Worsening': read, it was dropped and palbociclib offered
    again. A status the service cannot read is named, not dropped in silence."""
    meds = (
        b.med_request(LETROZOLE, authored="2024-02-01"),
        b.med_request(PALBOCICLIB, authored="2024-02-01"),
    )
    worsening = b.cc(b.SNOMED, "230993007", "Worsening (qualifier value)")
    profile = build(
        *chart("2024-01-15", *meds, b.observation(PROGRESSION, date="2025-04-20", value=worsening))
    )
    assert {"letrozole", "palbociclib"} <= profile.progressed_on.value
    unknown = b.cc(b.SNOMED, "709137006", "Patient condition undetermined (finding)")
    profile = build(*chart("2024-01-15", *meds, b.observation(PROGRESSION, date="2025-04-20", value=unknown)))
    assert profile.progressed_on.value == frozenset() and profile.on_therapy.value == "yes"
    issues = [i for i in profile.issues if i.topic == "progressed_on"]
    assert len(issues) == 1 and issues[0].kind == "unreadable"
    assert "Patient condition undetermined" in issues[0].evidence[0].text


MII_VERLAUF = b.cc(b.SNOMED, "396432002", "Status of regression of tumor (observable entity)")
OBDS_OVERALL = "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/mii-cs-onko-verlauf-gesamtbeurteilung"


@pytest.mark.parametrize(
    ("value", "progressed"),
    [
        (b.cc(OBDS_OVERALL, "P"), True),  # the code alone, as oBDS exports send it
        (b.cc(b.SNOMED, "419835002", "Tumor progression (finding)"), True),
        (b.cc(OBDS_OVERALL, "T", "Teilremission (partial remission, PR)"), False),
        (b.cc(OBDS_OVERALL, "K"), False),
    ],
)
def test_a_german_obds_course_assessment_of_progression_is_read(
    build: Build, value: dict[str, Any], progressed: bool
) -> None:
    """The German MII Onkologie 'Verlauf' Observation (oBDS 17: SNOMED 396432002, overall assessment P =
    progression) is how German registries record progression; unread, the line was offered again."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_request(LETROZOLE, authored="2024-02-01"),
            b.med_request(PALBOCICLIB, authored="2024-02-01"),
            b.observation(MII_VERLAUF, date="2025-04-20", value=value),
        )
    )
    assert ({"letrozole", "palbociclib"} <= profile.progressed_on.value) is progressed
    assert (profile.on_therapy.value == "yes") is not progressed
    assert not [i for i in profile.issues if i.topic == "progressed_on"]


@pytest.mark.parametrize(
    "reason",
    [
        "Stopped due to hand-foot syndrome (toxicity)",
        # a count or a symptom alone, as the reason is often written (review 24)
        "ANC 0.6 on day 1 of cycle 4",
        "Low counts",
        "Myelosuppression",
        "Grade 2 mucositis",
        "Nausea and vomiting",
        "Prolonged QTcF (510 ms) - ribociclib discontinued",  # review 30
        "Prolonged QTc on ECG - stop ribociclib",
    ],
)
def test_stopped_for_side_effects_is_not_progression(build: Build, reason: str) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            stopped(
                b.med_statement(CAPECITABINE, start="2024-02-01", end="2024-04-01", status="stopped"),
                reason,
            ),
        )
    )
    assert "capecitabine" in profile.stopped_for_toxicity.value
    assert "capecitabine" not in profile.progressed_on.value
    assert profile.on_therapy.value == "no"


@pytest.mark.parametrize(
    ("reason", "read"),
    [
        # a QTc value charted beside another reason is no QT stop (review 31, P1-1)
        ("Patient choice - wishes to stop (pill burden). QTc normal.", "unexplained"),
        ("QTc not prolonged; stopped at patient preference", "unexplained"),
        # a new lesion is progression (RECIST 1.1), whatever count or QTc stands beside it (review 31)
        ("New bone lesions on CT; ECG QTc 450 ms", "progression"),
        ("New liver lesions on CT; ANC 1.1", "progression"),
        # a new lesion called a flare, not progression: the stated side effect stands (review 32)
        ("Grade 3 diarrhoea. New lesion on bone scan felt to be flare, not progression.", "toxicity"),
        ("Not progression - stopped for grade 3 fatigue", "toxicity"),  # review 33
        ("Pneumonitis grade 2; new lung lesions on CT were inflammatory", "toxicity"),
        # progression named beside a flare or a disease name (review 33)
        ("Progressive disease after initial flare on bone scan", "progression"),
        ("Inflammatory breast cancer progression", "progression"),
        ("Progression with bone scan flare excluded", "progression"),
        # a flare or healing vetoes only a new lesion, not a side effect (review 33)
        ("Grade 3 diarrhoea flare", "toxicity"),
        ("Grade 3 rash now healing", "toxicity"),
    ],
)
def test_a_count_or_a_qtc_value_or_a_flare_beside_another_reason_is_read_as_that_reason(
    build: Build, reason: str, read: str
) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            stopped(
                b.med_statement(RIBOCICLIB, start="2024-02-01", end="2024-04-01", status="stopped"), reason
            ),
        )
    )
    assert ("ribociclib" in profile.stopped_for_toxicity.value) is (read == "toxicity")
    assert ("ribociclib" in profile.progressed_on.value) is (read == "progression")
    assert (profile.last_line_stopped_unexplained.value == "yes") is (read == "unexplained")


def test_a_long_history(build: Build) -> None:
    """Adjuvant therapy, relapse, three metastatic lines, the third current."""
    meds = [
        b.med_statement(LETROZOLE, start="2019-04-01", end="2022-06-01", status="completed"),
        b.med_statement(FULVESTRANT, start="2024-01-20", end="2024-10-01", status="completed"),
        b.med_statement(ABEMACICLIB, start="2024-01-20", end="2024-10-01", status="completed"),
        stopped(
            b.med_statement(PACLITAXEL, start="2024-10-15", end="2025-02-01", status="stopped"),
            "disease progression",
        ),
        b.med_request(CAPECITABINE, authored="2025-02-20"),
    ]
    profile = build(*chart("2024-01-15", *meds))
    assert profile.metastatic_lines.value == 3 and profile.completed_metastatic_lines.value == 2
    assert profile.on_therapy.value == "yes" and "capecitabine" in profile.current_therapies.value
    assert {"fulvestrant", "abemaciclib", "paclitaxel"} <= profile.progressed_on.value
    assert "letrozole" not in profile.progressed_on.value  # relapse 19 months after it ended
    assert profile.metastatic_chemotherapy_lines.value == 2 and profile.metastatic_endocrine_lines.value == 1
    later = profile.at_progression()
    assert "capecitabine" in later.progressed_on.value and later.completed_metastatic_lines.value == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_order_and_unrelated_resources_never_change_the_journey(build: Build, rnd: random.Random) -> None:
    meds = [
        b.med_statement(FULVESTRANT, start="2024-01-20", end="2024-10-01", status="completed", rid="f"),
        b.med_statement(ABEMACICLIB, start="2024-01-20", end="2024-10-01", status="completed", rid="a"),
        b.med_request(CAPECITABINE, authored="2025-02-20", rid="c"),
    ]
    unrelated = [b.observation(b.cc(b.LOINC, "2243-4", "Estradiol"), quantity=(12, "pg/mL"), rid="e2")]
    base = build(*chart("2024-01-15", *meds))
    shuffled = meds + unrelated
    rnd.shuffle(shuffled)
    other = build(*chart("2024-01-15", *shuffled))
    for name in (
        "on_therapy",
        "current_therapies",
        "progressed_on",
        "metastatic_lines",
        "completed_metastatic_lines",
    ):
        assert getattr(other, name).value == getattr(base, name).value, name


def test_a_three_weekly_clinic_regimen_given_as_administrations_is_one_line(build: Build) -> None:
    """Each administration is a record of one day; three weeks apart they are still one regimen."""
    days = ["2024-02-01", "2024-02-22", "2024-03-14", "2024-04-04", "2024-04-25"]
    given = [b.med_admin(DOCETAXEL, when=d) for d in days] + [b.med_admin(TRASTUZUMAB, when=d) for d in days]
    profile = build(*chart("2024-01-15", *given), today=date(2024, 5, 10))
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0
    assert profile.progressed_on.value == frozenset()


def test_side_effects_stop_only_the_medicine_that_caused_them(build: Build) -> None:
    """Palbociclib stopped for neutropenia, letrozole stopped the same day at the patient's request:
    palbociclib is not tolerated; letrozole is not; no line has failed."""
    meds = [
        b.med_statement(LETROZOLE, start="2024-02-01", end="2024-05-18", status="stopped"),
        stopped(
            b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-05-18", status="stopped"),
            "Grade 4 neutropenia",
        ),
    ]
    profile = build(*chart("2024-01-15", *meds))
    assert "palbociclib" in profile.stopped_for_toxicity.value
    assert "letrozole" not in profile.stopped_for_toxicity.value
    assert profile.completed_metastatic_lines.value == 0 and profile.progressed_on.value == frozenset()


def test_a_bone_agent_beside_the_line_is_not_what_the_disease_progresses_on(build: Build) -> None:
    """On weekly paclitaxel (text only) after anastrozole and capecitabine, with denosumab every 4 weeks
    (Xgeva by brand, administrations) and zoledronic acid given before it: at progression the disease
    has progressed on paclitaxel, not on denosumab, which goes on beside the next line."""
    xgeva = b.cc(text="Xgeva 120 mg SC every 4 weeks")
    meds = [
        b.med_statement(ANASTROZOLE, start="2023-02-01", end="2024-04-20", status="completed"),
        b.med_request(CAPECITABINE, authored="2024-05-01", status="stopped"),
        b.med_request(b.cc(text="PACLitaxel 80 mg/m2 IV weekly"), authored="2025-01-10"),
        b.med_admin(b.rx("77655", "zoledronic acid"), when="2023-02-10"),
        b.med_admin(xgeva, when="2025-04-20"),
        b.med_admin(xgeva, when="2025-05-18"),
    ]
    profile = build(*chart("2023-01-20", *meds))
    assert profile.on_therapy.value == "yes"
    assert {"paclitaxel", "bone_modifying"} <= profile.current_therapies.value
    assert profile.current_non_line_therapies.value == {"bone_modifying"}
    later = profile.at_progression()
    assert "paclitaxel" in later.progressed_on.value
    assert "bone_modifying" not in later.progressed_on.value
    assert not any("Xgeva" in e.text for e in later.progressed_on.evidence)  # nor among its reasons
    assert later.current_therapies.value == {"bone_modifying"}  # still given: no option repeats it
    assert later.completed_metastatic_lines.value == profile.completed_metastatic_lines.value + 1


def test_ovarian_suppression_goes_on_beside_the_next_line(build: Build) -> None:
    """Premenopausal, on goserelin (3-monthly depot) with letrozole and ribociclib: at progression on
    letrozole and ribociclib, goserelin stays current and is not a therapy the disease progressed on."""
    meds = [
        b.med_admin(b.rx("50610", "goserelin"), when="2025-05-01"),
        b.med_request(LETROZOLE, authored="2024-02-01"),
        b.med_request(RIBOCICLIB, authored="2024-02-01"),
    ]
    profile = build(*chart("2024-01-20", *meds))
    later = profile.at_progression()
    assert {"letrozole", "ribociclib"} <= later.progressed_on.value
    assert "ovarian_suppression" not in later.progressed_on.value
    assert later.current_therapies.value == {"ovarian_suppression"}


# --- systemic therapies for early breast cancer (early_systemic_therapies) ---------------------------

DOXORUBICIN, CYCLOPHOSPHAMIDE, OLAPARIB = b.rx("3639"), b.rx("3002"), b.rx("1597582")
ZOLEDRONIC_ACID = b.rx("77655", "zoledronic acid")
CURATIVE = b.cc(b.SNOMED, "373808002", "Curative - procedure intent (qualifier value)")
LIVER_MET = b.cc(b.SNOMED, "94381002", "Secondary malignant neoplasm of liver (disorder)")


def tnbc_chart(met_onset: str, *meds: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b.patient("1981-05-14"),
        b.breast_cancer(onset="2020-02-01"),
        b.condition(LIVER_MET, onset=met_onset, rid="met-liver"),
        *meds,
    ]


def weekly_paclitaxel(first: str, weeks: int) -> list[dict[str, Any]]:
    """Paclitaxel 80 mg/m2 given weekly, one MedicationAdministration a dose (text only, as many
    infusion systems send it)."""
    start = date.fromisoformat(first)
    return [
        b.med_admin(
            b.cc(text="PACLitaxel 80 mg/m2 in NS 250 mL IV"), when=(start + timedelta(weeks=w)).isoformat()
        )
        for w in range(weeks)
    ]


def test_ac_then_weekly_paclitaxel_is_one_early_therapy(build: Build) -> None:
    """Adjuvant doxorubicin + cyclophosphamide (statements, RxNorm) then 12 weekly paclitaxel infusions:
    one (neo)adjuvant therapy, not two; relapse four years later; first line olaparib."""
    meds = [
        b.med_statement(DOXORUBICIN, start="2020-04-15", end="2020-06-20", status="completed"),
        b.med_statement(CYCLOPHOSPHAMIDE, start="2020-04-15", end="2020-06-20", status="completed"),
        *weekly_paclitaxel("2020-07-01", 12),
        stopped(
            b.med_statement(OLAPARIB, start="2024-06-20", end="2025-04-20", status="stopped"),
            "Disease progression",
        ),
    ]
    profile = build(*tnbc_chart("2024-06-05", *meds))
    fact = profile.early_systemic_therapies
    assert fact.value == 1
    assert fact.note is not None and "doxorubicin + cyclophosphamide + paclitaxel" in fact.note
    assert "months before the metastatic relapse" in fact.note  # the interval ASCENT asked about
    assert fact.evidence and fact.evidence[0].reference.startswith("MedicationStatement/")
    assert profile.completed_metastatic_lines.value == 1  # olaparib: the (neo)adjuvant regimen is no line


def test_keynote_522_in_its_two_phases_is_one_early_therapy(build: Build) -> None:
    """Neoadjuvant pembrolizumab + carboplatin + paclitaxel, AC + pembrolizumab from week 13 (a
    fortnight's delay: day 92), then adjuvant pembrolizumab to a year: one perioperative therapy."""
    meds = [
        b.med_statement(PEMBROLIZUMAB, start="2022-03-01", end="2023-02-15", status="completed"),
        b.med_statement(CARBOPLATIN, start="2022-03-01", end="2022-05-20", status="completed"),
        b.med_statement(PACLITAXEL, start="2022-03-01", end="2022-05-20", status="completed"),
        b.med_statement(DOXORUBICIN, start="2022-06-01", end="2022-08-10", status="completed"),
        b.med_statement(CYCLOPHOSPHAMIDE, start="2022-06-01", end="2022-08-10", status="completed"),
    ]
    profile = build(*tnbc_chart("2024-06-05", *meds))
    assert profile.early_systemic_therapies.value == 1
    note = profile.early_systemic_therapies.note or ""
    assert note.startswith("2022-03-01 ") and "ended 2023-02-15, 16 months before" in note


def test_neoadjuvant_chemotherapy_then_adjuvant_capecitabine_are_two(build: Build) -> None:
    """Neoadjuvant carboplatin + paclitaxel (requests marked curative), surgery, then adjuvant
    capecitabine for residual disease seven months later (named by brand in text): two therapies."""
    meds = [
        b.med_request(CARBOPLATIN, authored="2020-03-02", status="completed", intent_ext=CURATIVE),
        b.med_request(PACLITAXEL, authored="2020-03-02", status="completed", intent_ext=CURATIVE),
        b.med_request(
            b.cc(text="Xeloda 500 mg tablets, adjuvant"),
            authored="2020-10-05",
            status="completed",
            bounds=("2020-10-05", "2021-03-20"),
        ),
    ]
    profile = build(*tnbc_chart("2024-06-05", *meds))
    assert profile.early_systemic_therapies.value == 2
    assert profile.metastatic_lines.value == 0


def test_an_early_record_without_a_start_date_still_counts_as_therapy_given(build: Build) -> None:
    """Adjuvant chemotherapy recorded with a curative intent but only the year of diagnosis in its
    text, no dates: therapy was given (one), though its timing cannot be told."""
    record = b.med_statement(DOXORUBICIN, start=None, status="completed")
    record["extension"] = [
        {
            "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-treatment-intent",
            "valueCodeableConcept": CURATIVE,
        }
    ]
    profile = build(*tnbc_chart("2024-06-05", record))
    assert profile.early_systemic_therapies.value == 1
    assert profile.early_systemic_therapies.note == "1 record(s) without a start date, counted as one"


def test_no_early_therapy_de_novo_or_only_a_bone_agent(build: Build) -> None:
    """Near misses: de novo metastatic disease treated with paclitaxel (a metastatic line, not early
    therapy), and adjuvant zoledronic acid alone (bone-modifying, not a systemic anticancer therapy)."""
    de_novo = build(*tnbc_chart("2020-02-10", b.med_request(PACLITAXEL, authored="2020-03-01")))
    assert de_novo.early_systemic_therapies.value == 0 and de_novo.metastatic_lines.value == 1
    bone_only = build(
        *tnbc_chart(
            "2024-06-05",
            b.med_admin(ZOLEDRONIC_ACID, when="2020-09-01"),
            b.med_admin(ZOLEDRONIC_ACID, when="2021-03-01"),
        )
    )
    assert bone_only.early_systemic_therapies.value == 0


# --- two agents of a class never given together (cds.profile.regimens.NEVER_COMBINED) ---------------
# They are a switch, not one
# regimen of both: the MITRE trial-matching patient recorded abemaciclib and ribociclib as active together
# and was shown "on fulvestrant + ribociclib + abemaciclib" without a word (third-party review, D6).


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


def test_chemotherapy_after_a_cdk46_inhibitor_is_the_next_line_however_soon(build: Build) -> None:
    """Capecitabine a month after palbociclib + fulvestrant never joins them (CDK4/6 and PI3K/AKT/mTOR
    inhibitors are labelled with endocrine therapy only): it is line 2, and line 1 progressed."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(FULVESTRANT, start="2024-02-01", status="completed"),
            b.med_statement(PALBOCICLIB, start="2024-02-01", status="completed"),
            b.med_statement(CAPECITABINE, start="2024-03-10"),
        )
    )
    assert profile.metastatic_lines.value == 2
    assert profile.metastatic_chemotherapy_lines.value == 1
    assert "capecitabine" in profile.current_therapies.value
    assert not {"palbociclib", "fulvestrant"} & profile.current_therapies.value
    assert {"palbociclib", "fulvestrant"} <= profile.progressed_on.value


# --- systemic therapy recorded only as a procedure (third-party patients round 3, D5) ------------------
CHEMO_CARE = b.cc(b.SNOMED, "385786002", "Chemotherapy care (regime/therapy)")
OPS_CHEMO = b.cc("http://fhir.de/CodeSystem/bfarm/ops", "8-54", "Chemotherapie")


def test_a_chemotherapy_recorded_only_as_a_procedure_is_reported(build: Build) -> None:
    profile = build(*chart("2024-01-15", b.procedure(CHEMO_CARE, when="2024-02-01", rid="chemo-1")))
    [issue] = b.issues_of(profile, "prior_therapies", "missing")
    assert "sent as procedures" in issue.message and "may be incomplete" in issue.message
    assert [e.reference for e in issue.evidence] == ["Procedure/chemo-1"]


def test_a_german_ops_chemotherapy_procedure_is_reported_by_its_name(build: Build) -> None:
    profile = build(*chart("2024-01-15", b.procedure(OPS_CHEMO, when="2024-02-01")))
    assert b.issues_of(profile, "prior_therapies", "missing")


def test_a_chemotherapy_procedure_with_its_medicines_recorded_is_not_reported(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.procedure(CHEMO_CARE, when="2024-02-01"),
            b.med_request(PACLITAXEL, authored="2024-02-03"),
        )
    )
    assert not b.issues_of(profile, "prior_therapies", "missing")
    # a medicine months away from the procedure does not account for it
    later = build(
        *chart(
            "2024-01-15",
            b.procedure(CHEMO_CARE, when="2024-02-01"),
            b.med_request(PACLITAXEL, authored="2024-09-03"),
        )
    )
    assert b.issues_of(later, "prior_therapies", "missing")


# --- undated records marked active (third-party patients round 3, D6) --------------------------------


def test_undated_active_records_of_a_medicine_given_before_are_not_read_as_current(build: Build) -> None:
    """PACIO's sample patient: chemotherapy of 2018 (dated records) still "active" with no date, beside
    the palbociclib ordered in 2024. Read as current it was a line begun today, and palbociclib, the
    therapy she is on, read as progressed on."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(PACLITAXEL, start="2018-03-01", end="2018-06-01", status="completed"),
            b.med_request(LETROZOLE, authored="2024-02-01"),
            b.med_request(PALBOCICLIB, authored="2024-02-01"),
            b.med_statement(PACLITAXEL, start=None, rid="old-paclitaxel"),
        )
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert "paclitaxel" not in profile.current_therapies.value
    assert "palbociclib" not in profile.progressed_on.value
    [issue] = b.issues_of(profile, "current_therapies", "conflicting")
    assert "no date (paclitaxel)" in issue.message
    assert [e.reference for e in issue.evidence] == ["MedicationStatement/old-paclitaxel"]


def test_an_undated_active_record_joins_the_dated_line_in_use_now(build: Build) -> None:
    """Review 8 (F1): letrozole on a reconciled medication list (active, no date) beside dated palbociclib
    is the partner of the line in use now; set aside, the patient read as on palbociclib alone and an
    aromatase inhibitor was offered at progression."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start=None, rid="letrozole-list"),
            b.med_request(PALBOCICLIB, authored="2024-02-01"),
        )
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert not profile.progressed_on.value
    assert profile.metastatic_lines.value == 1
    [issue] = b.issues_of(profile, "current_therapies", "missing")
    assert "from 2024-02-01 (palbociclib)" in issue.message


def test_an_undated_active_record_alone_is_still_the_current_therapy(build: Build) -> None:
    profile = build(*chart("2024-01-15", b.med_statement(LETROZOLE, start=None)))
    assert "letrozole" in profile.current_therapies.value
    assert not b.issues_of(profile, "current_therapies", "conflicting")


def test_a_chemotherapy_infusion_procedure_within_a_recorded_course_is_not_reported(build: Build) -> None:
    """Review 8 (F4): US EHRs send one chemotherapy-administration procedure (CPT 96413) per infusion,
    beside the orders; one dated two months into weekly paclitaxel is that course, not a missing one."""
    infusion = b.cc(
        "http://www.ama-assn.org/go/cpt", "96413", "Chemotherapy administration, intravenous infusion"
    )
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(PACLITAXEL, start="2024-02-01", end="2024-06-01", status="completed"),
            b.procedure(infusion, when="2024-04-03"),
        )
    )
    assert not b.issues_of(profile, "prior_therapies", "missing")


def test_no_medication_records_but_a_therapy_procedure_says_prior_treatment_is_not_known(
    build: Build,
) -> None:
    """Review 8 (F7): the card said "No medication records were received (none given, or not sent)" beside
    an adjuvant chemotherapy recorded as a procedure."""
    profile = build(*chart("2024-01-15", b.procedure(CHEMO_CARE, when="2023-02-01", rid="chemo-1")))
    history = profile.medication_history
    assert history.value == "unknown"
    assert history.note and "1 systemic therapy procedure(s) were" in history.note
    assert [e.reference for e in history.evidence] == ["Procedure/chemo-1"]


def test_an_undated_copy_of_a_dated_current_record_is_not_reported(build: Build) -> None:
    profile = build(
        *chart(
            "2024-01-15",
            b.med_request(LETROZOLE, authored="2024-02-01"),
            b.med_request(PALBOCICLIB, authored="2024-02-01"),
            b.med_statement(LETROZOLE, start=None),  # the medication list's copy of the order
        )
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert not [i for i in profile.issues if i.topic == "current_therapies"]


# --- an agent added to a regimen still given, later than JOIN_DAYS (review 12, P1-1) ------------------
# It was read as the next line, and the regimen it joined as progressed on: letrozole added to
# trastuzumab + pertuzumab maintenance gave "progressed on trastuzumab, pertuzumab, docetaxel" and a
# second-line T-DXd "now"; palbociclib added four months into letrozole gave "primary endocrine resistance".


EVEROLIMUS, ALPELISIB = b.rx("141704", "everolimus"), b.rx("2169285", "alpelisib")


def hp_after_docetaxel(*added: dict[str, Any]) -> list[dict[str, Any]]:
    """HR+/HER2+: six cycles of docetaxel with trastuzumab + pertuzumab, which go on as maintenance."""
    return chart(
        "2024-01-10",
        b.med_statement(DOCETAXEL, start="2024-02-01", end="2024-07-01", status="completed"),
        b.med_statement(TRASTUZUMAB, start="2024-02-01"),
        b.med_statement(PERTUZUMAB, start="2024-02-01"),
        *added,
    )


def test_letrozole_added_to_hp_maintenance_is_the_same_line(build: Build) -> None:
    """ASCO HER2+ 2022: for HR-positive disease endocrine therapy may join the maintenance."""
    profile = build(*hp_after_docetaxel(b.med_statement(LETROZOLE, start="2024-07-15")))
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0
    assert profile.progressed_on.value == frozenset()
    assert profile.on_therapy.value == "yes"
    assert {"trastuzumab", "pertuzumab", "letrozole"} <= profile.current_therapies.value
    assert profile.metastatic_her2_lines.value == 1 and profile.metastatic_endocrine_lines.value == 1


@pytest.mark.parametrize("added", [[], [b.med_statement(LETROZOLE, start="2024-07-15")]])
def test_a_course_completed_while_the_rest_of_the_line_goes_on_is_not_named_as_current(
    build: Build, added: list[dict[str, Any]]
) -> None:
    """Review 13 P3-1: docetaxel completed 2024-07-01 read 'on letrozole + trastuzumab + pertuzumab +
    docetaxel'. The current therapy names the records still given; the line is still one line."""
    profile = build(*hp_after_docetaxel(*added))
    current = profile.current_therapies
    assert not {"docetaxel", "chemotherapy"} & current.value
    assert {"trastuzumab", "pertuzumab"} <= current.value
    assert current.note == " + ".join(["trastuzumab", "pertuzumab", *(["letrozole"] if added else [])])
    assert profile.on_therapy.note is not None and "docetaxel" not in profile.on_therapy.note
    assert profile.metastatic_lines.value == 1 and profile.metastatic_chemotherapy_lines.value == 1


def test_monthly_refills_without_an_end_are_still_given(build: Build) -> None:
    """A record with no end recorded (a refill order) is not a finished course."""
    refills = [
        b.med_request(LETROZOLE, authored=f"2025-{m:02d}-10", status="completed") for m in range(1, 12)
    ]
    profile = build(
        *chart("2025-01-05", *refills, b.med_request(PALBOCICLIB, authored="2025-05-15")),
        today=date(2025, 12, 1),
    )
    assert profile.current_therapies.note == "letrozole + palbociclib"


def test_letrozole_added_to_hp_maintenance_and_stopped_for_arthralgia_leaves_the_line_going_on(
    build: Build,
) -> None:
    profile = build(
        *hp_after_docetaxel(
            stopped(
                b.med_statement(LETROZOLE, start="2024-07-15", end="2024-10-01", status="stopped"),
                "Stopped due to adverse reaction (arthralgia)",
            )
        )
    )
    assert profile.progressed_on.value == frozenset()
    assert profile.on_therapy.value == "yes"
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0
    assert "letrozole" in profile.stopped_for_toxicity.value
    # letrozole is no longer taken, and a progression on the maintenance is no progression on it
    assert {"trastuzumab", "pertuzumab"} <= profile.current_therapies.value
    assert not {"letrozole", "aromatase_inhibitor"} & profile.current_therapies.value
    assert profile.current_therapies.note == "trastuzumab + pertuzumab"
    assert not {"letrozole", "aromatase_inhibitor"} & profile.at_progression().progressed_on.value


def test_letrozole_added_while_trastuzumab_is_still_infused_joins_its_line(build: Build) -> None:
    """Maintenance given as 3-weekly administrations (each a record of one day): the infusion after
    letrozole began shows trastuzumab + pertuzumab still given."""
    days = [(date(2024, 2, 1) + timedelta(days=21 * i)).isoformat() for i in range(22)]
    given = [b.med_admin(drug, when=d) for d in days for drug in (TRASTUZUMAB, PERTUZUMAB)]
    given += [b.med_admin(DOCETAXEL, when=d) for d in days[:6]]
    profile = build(*chart("2024-01-10", *given, b.med_request(LETROZOLE, authored="2024-07-15")))
    assert profile.metastatic_lines.value == 1 and profile.progressed_on.value == frozenset()
    assert {"trastuzumab", "letrozole"} <= profile.current_therapies.value


def test_palbociclib_added_four_months_into_letrozole_is_the_same_line(build: Build) -> None:
    """Palbociclib started once approved, letrozole going on: no progression, no endocrine resistance
    (ESO-ESMO ABC 5: primary resistance is progression in the first 6 months of first-line therapy)."""
    profile = build(
        *chart(
            "2025-01-05",
            b.med_statement(LETROZOLE, start="2025-01-10"),
            b.med_statement(PALBOCICLIB, start="2025-05-15"),
        ),
        today=date(2025, 12, 1),
    )
    assert profile.metastatic_lines.value == 1 and profile.completed_metastatic_lines.value == 0
    assert profile.progressed_on.value == frozenset()
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert profile.endocrine_resistance.value != "primary"
    assert profile.metastatic_lines.note == "line 1: 2025-01-10 letrozole + palbociclib"


def test_palbociclib_ordered_with_a_new_letrozole_order_months_later_is_the_same_line(build: Build) -> None:
    """The clinic re-orders letrozole with palbociclib: the same endocrine agent, an added partner."""
    profile = build(
        *chart(
            "2025-01-05",
            b.med_request(LETROZOLE, authored="2025-01-10", status="completed"),
            b.med_request(LETROZOLE, authored="2025-05-15"),
            b.med_request(PALBOCICLIB, authored="2025-05-15"),
        ),
        today=date(2025, 12, 1),
    )
    assert profile.metastatic_lines.value == 1 and profile.progressed_on.value == frozenset()


def test_palbociclib_added_between_monthly_letrozole_refills_is_the_same_line(build: Build) -> None:
    """Each refill a completed order with no end: the refill after palbociclib began shows letrozole
    still given."""
    refills = [
        b.med_request(LETROZOLE, authored=f"2025-{m:02d}-10", status="completed") for m in range(1, 12)
    ]
    profile = build(
        *chart("2025-01-05", *refills, b.med_request(PALBOCICLIB, authored="2025-05-15")),
        today=date(2025, 12, 1),
    )
    assert profile.metastatic_lines.value == 1 and profile.progressed_on.value == frozenset()
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value


@pytest.mark.parametrize(
    "first",
    [
        # an order left open: nothing shows letrozole still given after palbociclib began
        pytest.param(b.med_request(LETROZOLE, authored="2025-01-10", status="completed"), id="open-order"),
        # a period that ended before palbociclib began
        pytest.param(
            b.med_statement(LETROZOLE, start="2025-01-10", end="2025-04-01", status="completed"), id="ended"
        ),
    ],
)
def test_palbociclib_after_letrozole_without_evidence_it_goes_on_is_the_next_line(
    build: Build, first: dict[str, Any]
) -> None:
    profile = build(
        *chart("2025-01-05", first, b.med_request(PALBOCICLIB, authored="2025-05-15")),
        today=date(2025, 12, 1),
    )
    assert profile.metastatic_lines.value == 2
    assert "letrozole" in profile.progressed_on.value


def test_a_new_endocrine_backbone_is_the_next_line_however_long_the_old_order_stayed_open(
    build: Build,
) -> None:
    """Letrozole's order never closed; fulvestrant + palbociclib 18 months later: the next line,
    presumed after progression on letrozole (another endocrine agent is no add-on)."""
    profile = build(
        *chart(
            "2023-06-01",
            b.med_request(LETROZOLE, authored="2023-06-10"),
            b.med_request(FULVESTRANT, authored="2024-12-10"),
            b.med_request(PALBOCICLIB, authored="2024-12-10"),
        )
    )
    assert profile.metastatic_lines.value == 2 and profile.completed_metastatic_lines.value == 1
    assert "letrozole" in profile.progressed_on.value
    assert {"fulvestrant", "palbociclib"} <= profile.current_therapies.value


@pytest.mark.parametrize(
    ("first", "then"),
    [
        pytest.param(FULVESTRANT, [ANASTROZOLE], id="fulvestrant-then-ai"),
        pytest.param(LETROZOLE, [FULVESTRANT], id="ai-then-fulvestrant"),
        pytest.param(LETROZOLE, [CAPECITABINE], id="chemotherapy"),
        pytest.param(LETROZOLE, [EVEROLIMUS, b.rx("258494", "exemestane")], id="exemestane-everolimus"),
    ],
)
def test_what_follows_letrozole_still_active_is_no_add_on(
    build: Build, first: dict[str, Any], then: list[dict[str, Any]]
) -> None:
    profile = build(
        *chart(
            "2023-06-01",
            b.med_statement(first, start="2023-06-10"),
            *(b.med_statement(drug, start="2024-12-10") for drug in then),
        )
    )
    assert profile.metastatic_lines.value == 2
    assert profile.completed_metastatic_lines.value == 1


def test_an_agent_added_after_a_stop_for_progression_is_the_next_line(build: Build) -> None:
    """Trastuzumab stopped for progression while a pertuzumab record stays active: letrozole then is no
    add-on to a maintenance that failed."""
    profile = build(
        *chart(
            "2024-01-10",
            b.med_statement(DOCETAXEL, start="2024-02-01", end="2024-07-01", status="completed"),
            stopped(
                b.med_statement(TRASTUZUMAB, start="2024-02-01", end="2024-11-20", status="stopped"),
                "Disease progression",
            ),
            b.med_statement(PERTUZUMAB, start="2024-02-01"),
            b.med_statement(LETROZOLE, start="2024-12-01"),
        )
    )
    assert profile.metastatic_lines.value == 2
    assert "trastuzumab" in profile.progressed_on.value


CAPIVASERTIB = b.cc(text="Truqap (capivasertib) 400 mg tablet")


def fulvestrant_then_capivasertib(*records: dict[str, Any]) -> list[dict[str, Any]]:
    """Fulvestrant second line from 2025-01-10, still given; capivasertib added 2025-09-15 (review 13)."""
    return chart(
        "2023-01-15",
        stopped(
            b.med_statement(LETROZOLE, start="2023-02-01", end="2024-12-20", status="completed"),
            "Disease progression",
        ),
        stopped(
            b.med_statement(PALBOCICLIB, start="2023-02-01", end="2024-12-20", status="completed"),
            "Disease progression",
        ),
        b.med_statement(FULVESTRANT, start="2025-01-10"),
        b.med_statement(CAPIVASERTIB, start="2025-09-15"),
        *records,
    )


@pytest.mark.parametrize("found", ["2025-08-20", "2025-09-15", "2025-09-20"])
def test_an_agent_added_after_a_progression_result_is_the_next_line_with_its_partner(
    build: Build, found: str
) -> None:
    """Review 13 P1-1: a restaging that found progression on fulvestrant, then capivasertib with
    fulvestrant continued, is the next line (CAPItello-291's fulvestrant + capivasertib), not an add-on
    that progressed: no 'options now' for a regimen begun weeks ago. A result entered up to a week after
    the new order counts as before it."""
    profile = build(*fulvestrant_then_capivasertib(progression(found)), today=date(2025, 11, 1))
    assert profile.metastatic_lines.value == 3 and profile.completed_metastatic_lines.value == 2
    assert "fulvestrant" in profile.progressed_on.value
    assert "capivasertib" not in profile.progressed_on.value
    assert profile.on_therapy.value == "yes"
    assert {"fulvestrant", "capivasertib"} <= profile.current_therapies.value
    assert profile.current_therapies.note == "capivasertib + fulvestrant"


def test_capivasertib_added_to_fulvestrant_without_a_progression_result_is_an_add_on(build: Build) -> None:
    """No progression recorded between (a result after the grace week is one on the combination): the
    add-on reading stands."""
    profile = build(*fulvestrant_then_capivasertib(progression("2025-10-20")), today=date(2025, 11, 1))
    assert profile.metastatic_lines.value == 2
    assert "capivasertib" in profile.progressed_on.value


def test_t_dxd_after_hp_maintenance_is_the_next_line(build: Build) -> None:
    """Trastuzumab + pertuzumab records left active: T-DXd is what follows a progression, no add-on."""
    profile = build(*hp_after_docetaxel(b.med_statement(T_DXD, start="2025-03-01")))
    assert profile.metastatic_lines.value == 2 and profile.metastatic_her2_lines.value == 2
    assert {"trastuzumab", "pertuzumab"} <= profile.progressed_on.value


def test_a_partner_stopped_for_side_effects_is_not_current_nor_progressed_on(build: Build) -> None:
    """Fulvestrant + alpelisib; alpelisib stopped for grade 3 hyperglycaemia, fulvestrant goes on (review
    12, P3-2): on fulvestrant; a progression on it now is no progression on alpelisib; a progression
    recorded later is not either."""
    meds = [
        b.med_statement(FULVESTRANT, start="2024-02-01"),
        stopped(
            b.med_statement(ALPELISIB, start="2024-02-01", end="2024-04-10", status="stopped"),
            "Stopped due to adverse reaction (grade 3 hyperglycaemia)",
        ),
    ]
    profile = build(*chart("2024-01-15", *meds))
    assert profile.on_therapy.value == "yes"
    assert "fulvestrant" in profile.current_therapies.value
    assert "alpelisib" not in profile.current_therapies.value
    assert "alpelisib" in profile.stopped_for_toxicity.value
    assert "alpelisib" not in profile.at_progression().progressed_on.value
    recorded = build(*chart("2024-01-15", *meds, progression("2025-01-20")))
    assert "fulvestrant" in recorded.progressed_on.value
    assert "alpelisib" not in recorded.progressed_on.value


def test_an_add_on_stopped_for_side_effects_does_not_hide_the_progression_before_the_next_line(
    build: Build,
) -> None:
    """Letrozole joined the maintenance and was stopped for arthralgia; months later trastuzumab and
    pertuzumab stop (no reason recorded) and T-DXd begins: the maintenance is presumed progressed, as
    any line a next line follows; the letrozole's stop does not say why the line ended."""
    profile = build(
        *chart(
            "2024-01-10",
            b.med_statement(DOCETAXEL, start="2024-02-01", end="2024-07-01", status="completed"),
            b.med_statement(TRASTUZUMAB, start="2024-02-01", end="2025-02-20", status="completed"),
            b.med_statement(PERTUZUMAB, start="2024-02-01", end="2025-02-20", status="completed"),
            stopped(
                b.med_statement(LETROZOLE, start="2024-07-15", end="2024-10-01", status="stopped"),
                "Stopped due to adverse reaction (arthralgia)",
            ),
            b.med_statement(T_DXD, start="2025-03-01"),
        )
    )
    assert profile.metastatic_lines.value == 2 and profile.completed_metastatic_lines.value == 1
    assert {"trastuzumab", "pertuzumab"} <= profile.progressed_on.value
    assert "letrozole" not in profile.progressed_on.value
    assert "letrozole" in profile.stopped_for_toxicity.value


# --- the last line stopped with no reason recorded (review 12, P2-3) ---------------------------------


def first_line_stopped(status: str, reason: str | None = None) -> list[dict[str, Any]]:
    meds = [
        b.med_statement(LETROZOLE, start="2024-03-01", end="2025-09-15", status=status),
        b.med_statement(PALBOCICLIB, start="2024-03-01", end="2025-09-15", status=status),
    ]
    return chart("2024-02-10", *(stopped(m, reason) if reason else m for m in meds))


def test_a_last_line_stopped_with_no_reason_is_said_so_not_read_as_no_progression(build: Build) -> None:
    profile = build(*first_line_stopped("stopped"), today=date(2026, 12, 1))
    fact = profile.last_line_stopped_unexplained
    assert fact.value == "yes"
    assert fact.note is not None and "letrozole + palbociclib" in fact.note and "2025-09-15" in fact.note
    assert len(fact.evidence) == 2
    assert profile.progressed_on.value == frozenset()  # not presumed either: unknown is not a progression


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param("stopped", "Tumor progression", id="stopped-for-progression"),
        pytest.param("stopped", "Grade 4 neutropenia", id="stopped-for-side-effects"),
    ],
)
def test_a_last_line_stopped_for_a_recorded_reason_or_completed_is_not_unexplained(
    build: Build, status: str, reason: str | None
) -> None:
    profile = build(*first_line_stopped(status, reason), today=date(2026, 12, 1))
    assert profile.last_line_stopped_unexplained.value == "no"


def test_a_last_line_given_until_progression_recorded_completed_with_no_reason_is_unexplained(
    build: Build,
) -> None:
    """Review 13 P1-3: letrozole + palbociclib 'completed' (an expired Epic order) with nothing after is no
    more explained than 'stopped': both are given until progression, never as a fixed course."""
    profile = build(*first_line_stopped("completed"), today=date(2026, 12, 1))
    fact = profile.last_line_stopped_unexplained
    assert fact.value == "yes"
    assert fact.note is not None and "recorded as completed 2025-09-15" in fact.note
    drugs = profile.last_line_unexplained_therapies
    assert {"letrozole", "palbociclib", "cdk4_6_inhibitor"} <= drugs.value
    assert drugs.note == "recorded as completed 2025-09-15 with no reason recorded"
    assert profile.progressed_on.value == frozenset()


def test_a_last_line_stopped_with_no_reason_names_its_drugs(build: Build) -> None:
    profile = build(*first_line_stopped("stopped"), today=date(2026, 12, 1))
    assert {"letrozole", "palbociclib"} <= profile.last_line_unexplained_therapies.value
    assert profile.last_line_unexplained_therapies.note == "stopped 2025-09-15 with no reason recorded"


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param(b.cc(text="Patient choice"), id="text"),
        pytest.param(b.cc(b.SNOMED, "105480006", "Refusal of treatment by patient (situation)"), id="snomed"),
    ],
)
def test_a_last_line_stopped_for_a_reason_not_about_the_disease_quotes_it(
    build: Build, reason: dict[str, Any]
) -> None:
    """Review 16 P2-3: a line stopped for patient choice (text, or mCODE's TreatmentTerminationReasonVS
    code) was said to have "no reason recorded". The reason is quoted; the line still counts as ended
    without a recorded progression or side effect (patient choice does not say whether it progressed)."""
    meds = [
        b.med_statement(LETROZOLE, start="2024-03-01", end="2025-09-15", status="stopped"),
        b.med_statement(PALBOCICLIB, start="2024-03-01", end="2025-09-15", status="stopped"),
    ]
    for med in meds:
        med["statusReason"] = [reason]
    profile = build(*chart("2024-02-10", *meds), today=date(2026, 12, 1))
    said = "Patient choice" if "text" in reason else "Refusal of treatment by patient"
    assert profile.last_line_stopped_unexplained.value == "yes"
    assert profile.last_line_unexplained_therapies.note == (
        f'stopped 2025-09-15 ("{said}": not read as progression or side effects)'
    )
    assert "no reason recorded" not in (profile.last_line_stopped_unexplained.note or "")


def test_a_chemotherapy_course_completed_with_no_reason_is_explained(build: Build) -> None:
    """Paclitaxel (a course) completed with nothing after: it ended as planned."""
    profile = build(
        *chart(
            "2024-02-10",
            b.med_statement(PACLITAXEL, start="2024-03-01", end="2024-08-15", status="completed"),
        ),
        today=date(2026, 12, 1),
    )
    assert profile.last_line_stopped_unexplained.value == "no"
    assert profile.last_line_unexplained_therapies.value == frozenset()


def test_hp_maintenance_completed_after_docetaxel_with_nothing_after_is_unexplained(build: Build) -> None:
    """The docetaxel course completed is explained; trastuzumab + pertuzumab, given until progression,
    'completed' with no reason is not, and only they are named."""
    profile = build(
        *chart(
            "2024-01-10",
            b.med_statement(DOCETAXEL, start="2024-02-01", end="2024-07-01", status="completed"),
            b.med_statement(TRASTUZUMAB, start="2024-02-01", end="2025-06-01", status="completed"),
            b.med_statement(PERTUZUMAB, start="2024-02-01", end="2025-06-01", status="completed"),
        ),
        today=date(2026, 12, 1),
    )
    assert profile.last_line_stopped_unexplained.value == "yes"
    drugs = profile.last_line_unexplained_therapies.value
    assert {"trastuzumab", "pertuzumab"} <= drugs and "docetaxel" not in drugs


def test_a_progression_result_explains_a_stop_with_no_reason(build: Build) -> None:
    profile = build(*first_line_stopped("stopped"), progression("2025-09-01"), today=date(2026, 12, 1))
    assert profile.last_line_stopped_unexplained.value == "no"
    assert "palbociclib" in profile.progressed_on.value


def test_a_line_stopped_with_no_reason_and_another_after_it_is_not_the_last(build: Build) -> None:
    """Then the next line says what happened (progression presumed, said so)."""
    profile = build(
        *first_line_stopped("stopped"),
        b.med_statement(FULVESTRANT, start="2025-10-01"),
        b.med_statement(ABEMACICLIB, start="2025-10-01"),
        today=date(2026, 12, 1),
    )
    assert profile.last_line_stopped_unexplained.value == "no"


def test_without_medication_records_whether_a_line_stopped_unexplained_is_unknown(build: Build) -> None:
    profile = build(*chart("2024-02-10"))
    assert profile.last_line_stopped_unexplained.value == "unknown"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(default_knowledge_dir())


def options_now(profile: PatientProfile, knowledge: Knowledge) -> list[str]:
    """The options-now card's option lines (numbered, or under a family's numbered line)."""
    cards = render_cards(evaluate(profile, knowledge), profile, knowledge)
    card = next(c for c in cards if c["source"]["topic"]["code"] == "options-now")
    return [line for line in card["detail"].splitlines() if re.match(r"\d\. |    - ", line)]


@pytest.mark.parametrize(("status", "how"), [("stopped", "stopped"), ("completed", "recorded as completed")])
def test_options_giving_a_drug_of_a_line_ended_unexplained_again_say_so(
    build: Build, knowledge: Knowledge, status: str, how: str
) -> None:
    """Review 13 P1-3: after letrozole + palbociclib ended with no reason, fulvestrant + a CDK4/6 inhibitor
    and ribociclib (another CDK4/6 inhibitor) read as if nothing had happened. Each names palbociclib and
    what a progression on it would mean; endocrine therapy alone after letrozole (fulvestrant) does not."""
    receptors = [
        b.er(b.POSITIVE, date="2024-02-01"),
        b.pr(b.POSITIVE, date="2024-02-01"),
        b.her2_ihc(b.cc(text="0"), date="2024-02-01"),
    ]
    profile = build(*first_line_stopped(status), *receptors, today=date(2026, 12, 1))
    caution = (
        f"Caution: palbociclib {how} 2025-09-15 with no reason recorded: if the disease progressed on it, "
        "this option gives it or its class again."
    )
    lines = options_now(profile, knowledge)
    # both CDK4/6 options carry it: it is written once, on their family's line
    cdk = [line for line in lines if "CDK4/6 inhibitor + endocrine therapy" in line]
    assert len(cdk) == 1 and caution in cdk[0], lines
    assert not any(caution in line for line in lines if line not in cdk), lines


@pytest.mark.parametrize(("tested", "expected"), [("2025-09-25", "yes"), ("2025-03-01", "no")])
def test_an_esr1_result_since_a_line_ended_unexplained_counts_as_from_that_possible_progression(
    build: Build, tested: str, expected: str
) -> None:
    """The end of a last line stopped with no reason may be a progression: an ESR1 result drawn since is
    from it (ESR1 testing is not asked for again), one from during the line is not (ASCO 2023: ESR1
    mutations are acquired under treatment)."""
    gene = b.component(b.cc(b.LOINC, "48018-6", "Gene studied [ID]"), value=b.cc(b.HGNC, "HGNC:3467", "ESR1"))
    esr1 = b.observation(
        b.cc(b.LOINC, "69548-6", "Genetic variant assessment"),
        date=tested,
        value=b.cc(b.LOINC, "LA9634-2", "Absent"),
    )
    esr1["component"] = [gene]
    profile = build(*first_line_stopped("stopped"), esr1, today=date(2026, 12, 1))
    assert profile.esr1_status.value == "not_detected"
    assert profile.esr1_tested_since_progression.value == expected


def test_a_drug_given_until_progression_whose_order_completed_beside_its_partner_is_still_given(
    build: Build,
) -> None:
    """Review 14: palbociclib's order recorded 'completed' while letrozole goes on is not a finished
    course (only chemotherapy is): the patient is on letrozole + palbociclib, and a CDK4/6 inhibitor at
    progression is one she had."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-11-01", status="completed"),
        )
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert "palbociclib" in profile.at_progression().progressed_on.value


def test_a_progression_result_entered_weeks_after_an_agent_was_added_is_the_line_before(build: Build) -> None:
    """Review 14: fulvestrant from 2024-03, capivasertib added 2024-10-01, the progression result that led
    to it entered 2024-10-15: the progression was on fulvestrant, capivasertib + fulvestrant is the line
    now and not progressed on."""
    capivasertib = b.cc(text="Truqap (capivasertib) 400 mg tablet")
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(FULVESTRANT, start="2024-03-01"),
            b.med_statement(capivasertib, start="2024-10-01"),
            progression("2024-10-15"),
        )
    )
    assert "capivasertib" in profile.current_therapies.value
    assert "capivasertib" not in profile.progressed_on.value
    assert profile.on_therapy.value == "yes"


def test_a_partner_stopped_with_no_reason_read_still_counts_at_the_next_progression(build: Build) -> None:
    """Review 16: palbociclib stopped ('Patient choice, disease stable') while letrozole goes on: a
    progression on the line is a progression after a CDK4/6 inhibitor."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            stopped(
                b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-11-01", status="stopped"),
                "Patient choice, disease stable",
            ),
        )
    )
    assert "palbociclib" in profile.at_progression().progressed_on.value
    # review 18 P2-5: she is on letrozole, not "letrozole + palbociclib"; the stop and its reason are said
    assert "palbociclib" not in profile.current_therapies.value
    assert profile.current_therapies.note == "letrozole"
    halted = profile.stopped_in_current_line
    assert "cdk4_6_inhibitor" in halted.value
    assert halted.note == 'palbociclib stopped 2024-11-01 ("Patient choice, disease stable")'


def test_a_partner_whose_order_completed_or_stopped_in_the_middle_of_refills_is_still_taken(
    build: Build,
) -> None:
    """Monthly palbociclib orders, each 'completed', the last one open: she still takes it. A stopped order
    followed by a later one is not a stop either."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-03-01", status="stopped"),
            b.med_statement(PALBOCICLIB, start="2024-03-01", end="2024-11-01", status="completed"),
        )
    )
    assert "palbociclib" in profile.current_therapies.value
    assert profile.stopped_in_current_line.value == frozenset()


@pytest.mark.parametrize(
    ("onset", "new"),
    [
        pytest.param("2024-02-20", False, id="staging-at-the-start-of-the-line"),
        pytest.param("2024-09-01", True, id="months-into-the-line"),
        pytest.param("2023-12-01", False, id="before-the-line"),
    ],
)
def test_a_metastasis_first_recorded_months_into_the_current_line_is_new_on_it(
    build: Build, onset: str, new: bool
) -> None:
    """Review 19 P2-1: a liver metastasis first recorded while letrozole + palbociclib ran is new on the
    line (it may be a progression the record does not state); one found by the staging in the month
    before or after the line began is not."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01"),
            b.condition(LIVER_MET, onset=onset, rid="met-liver"),
        ),
        today=date(2024, 12, 1),
    )
    fact = profile.metastases_new_on_last_line
    assert fact.value == (frozenset({"liver"}) if new else frozenset())
    if new:
        assert fact.note == "first recorded liver 2024-09-01, after letrozole + palbociclib began 2024-02-01"


def test_a_partner_stopped_for_a_dose_reduction_then_refilled_is_still_taken(build: Build) -> None:
    """Review 20 P2-1: palbociclib 125 mg stopped ('dose reduced to 100 mg'), then 100 mg refills each
    'completed' with only a start: the latest record is the last refill, so she still takes it."""
    refills = [
        b.med_statement(PALBOCICLIB, start=f"2024-{month:02d}-01", status="completed")
        for month in range(5, 12)
    ]
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            stopped(
                b.med_statement(PALBOCICLIB, start="2024-02-01", end="2024-04-20", status="stopped"),
                "Dose reduced to 100 mg",
            ),
            *refills,
        ),
        today=date(2024, 12, 1),
    )
    assert "palbociclib" in profile.current_therapies.value
    assert profile.stopped_in_current_line.value == frozenset()


def test_monthly_orders_of_a_partner_stopped_at_the_last_are_one_stop(build: Build) -> None:
    """Review 20 P2-2: monthly palbociclib orders, each stopped at its end, the last for patient choice:
    one entry, the last order's day and reason, not one a refill."""
    orders = [
        b.med_statement(PALBOCICLIB, start=f"2024-{m:02d}-01", end=f"2024-{m:02d}-28", status="stopped")
        for m in range(2, 7)
    ]
    stopped(orders[-1], "Patient choice")
    profile = build(
        *chart("2024-01-15", b.med_statement(LETROZOLE, start="2024-02-01"), *orders),
        today=date(2024, 12, 1),
    )
    assert profile.stopped_in_current_line.note == 'palbociclib stopped 2024-06-28 ("Patient choice")'


@pytest.mark.parametrize(("onset", "new"), [("2024-08-20", True), ("2024-05-01", False)])
def test_a_site_is_new_at_a_progression_only_when_found_with_it(build: Build, onset: str, new: bool) -> None:
    """Review 20 P2-4: liver first recorded three weeks before the progression of 2024-09-10 came with it;
    one recorded four months before was known while the line still worked."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01"),
            b.condition(LIVER_MET, onset=onset, rid="met-liver"),
            progression("2024-09-10"),
        ),
        today=date(2024, 12, 1),
    )
    assert profile.metastases_new_on_last_line.value == (frozenset({"liver"}) if new else frozenset())


@pytest.mark.parametrize("written", ["2024-10-15", "2024-09-28"])
def test_a_stop_order_written_within_the_last_refills_supply_is_the_last_record(
    build: Build, written: str
) -> None:
    """Review 21 N6: the last palbociclib refill runs 2024-09-28 to 2024-10-28; a stop order written
    2024-10-15, or the same day as the refill (review 22), ('Patient choice') with no end: the stop is the
    latest record, she no longer takes it."""
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-09-28", end="2024-10-28", status="completed"),
            stopped(b.med_statement(PALBOCICLIB, start=written, status="stopped"), "Patient choice"),
        ),
        today=date(2024, 12, 1),
    )
    assert "palbociclib" not in profile.current_therapies.value
    assert "Patient choice" in (profile.stopped_in_current_line.note or "")


@pytest.mark.parametrize(
    ("restaged", "new"),
    [
        pytest.param("2024-10-01", False, id="a-later-stable-result-settles-it"),  # review 20 P2-3
        pytest.param("2024-09-01", True, id="one-the-same-day-contradicts-it"),  # review 21 N4
    ],
)
def test_a_new_site_is_settled_only_by_a_later_stable_restaging(
    build: Build, restaged: str, new: bool
) -> None:
    """A liver metastasis first recorded months into the line, and a disease-status result 'stable': a
    later one settled it (not a site that may be a progression the record does not state); one the same
    day contradicts it (RECIST 1.1: a new lesion is a progression), so the site stays new on the line."""
    stable = b.cc(b.SNOMED, "359746009", "Patient's condition stable (finding)")
    profile = build(
        *chart(
            "2024-01-15",
            b.med_statement(LETROZOLE, start="2024-02-01"),
            b.med_statement(PALBOCICLIB, start="2024-02-01"),
            b.condition(LIVER_MET, onset="2024-09-01", rid="met-liver"),
            b.observation(PROGRESSION, date=restaged, value=stable),
        ),
        today=date(2024, 12, 1),
    )
    assert profile.metastases_new_on_last_line.value == (frozenset({"liver"}) if new else frozenset())


def test_a_relapse_nine_months_after_adjuvant_t_dm1_is_within_the_year_and_not_put_first(
    build: Build, knowledge: Knowledge
) -> None:
    """Review 22: T-DM1 (KATHERINE) ended 9 months before the relapse: not within DESTINY-Breast03's 6
    months, but within ASCO HER2+ 2022 Recommendation 5.0's 12: the first-line HER2 options carry the
    caution and none is put first."""
    t_dm1 = b.cc(text="Kadcyla (ado-trastuzumab emtansine) 3.6 mg/kg IV")
    profile = build(
        *chart(
            "2024-01-15", b.med_statement(t_dm1, start="2022-05-01", end="2023-04-15", status="completed")
        ),
        b.er(b.NEGATIVE, date="2021-12-01"),
        b.her2_ihc(b.cc(text="3+"), date="2021-12-01"),
        today=date(2024, 2, 1),
    )
    assert profile.early_relapse_after.value == frozenset()
    assert "her2_directed" in profile.relapse_within_year_after.value
    lines = options_now(profile, knowledge)
    caution = "Caution: the relapse came within 12 months of (neo)adjuvant anti-HER2 therapy"
    first = [line for line in lines if "Pertuzumab + trastuzumab" in line]
    assert first and caution in first[0] and "(preferred)" not in first[0], lines
