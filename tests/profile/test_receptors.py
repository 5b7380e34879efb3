"""ER / PR / HR / HER2 / HER2-low / subtype from every value style, dates and conflicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]
ER_CODE = b.cc(
    b.LOINC, "85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"
)


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        # coded answers
        (b.er(b.POSITIVE), "positive"),
        (b.er(b.NEGATIVE), "negative"),
        (b.er(b.LA_POSITIVE), "positive"),
        (b.er(b.LA_NEGATIVE), "negative"),
        (b.observation(b.cc(b.LOINC, "40556-3"), value=b.POSITIVE), "positive"),
        (b.observation(b.cc(b.LOINC, "16112-5"), value=b.LA_NEGATIVE), "negative"),
        # interpretation only, right and wrong systems
        (b.er(interpretation=b.cc(b.V3_INTERP, "POS")), "positive"),
        (b.er(interpretation=b.cc(b.WRONG_INTERP, "NEG")), "negative"),
        (b.er(interpretation=b.cc(None, "POS")), "positive"),
        (b.er(interpretation=b.cc(b.V3_INTERP, "H")), "positive"),
        # percentages
        (b.er(quantity=(95, "%")), "positive"),
        (b.er(quantity=(5, "%")), "low_positive"),
        (b.er(quantity=(10, "%")), "low_positive"),
        (b.er(quantity=(0, "%")), "negative"),
        (b.er(quantity=(1, "%"), comparator="<"), "negative"),
        (b.observation(b.cc(b.LOINC, "85329-1"), quantity=(80, "%")), "positive"),
        (b.observation(b.cc(b.LOINC, "14228-1"), quantity=(3, "")), "low_positive"),
        # components (MII style)
        (
            b.er(
                b.LA_POSITIVE,
                components=[b.component(b.cc(b.SNOMED, "1234804006"), quantity=(5, "%"))],
            ),
            "low_positive",
        ),
        (
            b.observation(
                b.cc("urn:local", "ERPANEL", text="Estrogen receptor panel"),
                components=[b.component(b.cc(b.SNOMED, "1234804006"), quantity=(60, "%"))],
            ),
            "positive",
        ),
        # strings
        (b.er(value_string="Positive (>10%)"), "positive"),
        (b.er(value_string="Negative (<1%)"), "negative"),
        (b.er(value_string="weakly positive, 5%"), "low_positive"),
        (b.er(value_string="POS"), "positive"),
        (b.er(b.cc(text="Positive 90%")), "positive"),
        (b.er(value_string="ER low positive"), "low_positive"),
        # local code, text only
        (b.observation(b.cc("urn:local", "ER1", "ER status (IHC)"), value_string="Negative"), "negative"),
        (b.observation(b.cc("urn:local", "ER2", "ER IHC"), value_string="90%"), "positive"),
        (b.observation(b.cc(text="Oestrogen receptor"), value=b.cc(text="positive")), "positive"),
    ],
)
def test_er_value_styles(build: Build, obs: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), obs)
    assert profile.er_status.value == expected
    assert profile.er_status.evidence[0].reference == f"Observation/{obs['id']}"


@pytest.mark.parametrize(
    ("code", "expected_er", "expected_pr", "expected_hr", "expected_her2"),
    [
        (b.cc(b.ICD10CM, "Z17.0"), "positive", "unknown", "positive", "unknown"),
        (b.cc(b.ICD10CM, "Z17.1"), "negative", "unknown", "unknown", "unknown"),
        (b.cc(b.ICD10CM, "Z17.21"), "unknown", "positive", "positive", "unknown"),
        (b.cc(b.ICD10CM, "Z17.411"), "unknown", "unknown", "positive", "negative"),
        (b.cc(b.ICD10CM, "Z17.421"), "negative", "negative", "negative", "negative"),
        (b.cc(b.SNOMED, "416053008"), "positive", "unknown", "positive", "unknown"),
        (b.cc(b.SNOMED, "441118006"), "unknown", "negative", "unknown", "unknown"),
        (b.cc(b.SNOMED, "427685000"), "unknown", "unknown", "unknown", "positive"),
        (b.cc(b.SNOMED, "706970001"), "negative", "negative", "negative", "negative"),
        (b.cc(b.SNOMED, "417181009"), "unknown", "unknown", "positive", "unknown"),
    ],
)
def test_receptor_conditions(
    build: Build,
    code: dict[str, Any],
    expected_er: str,
    expected_pr: str,
    expected_hr: str,
    expected_her2: str,
) -> None:
    profile = build(b.patient(), b.condition(code))
    assert profile.er_status.value == expected_er
    assert profile.pr_status.value == expected_pr
    assert profile.hormone_receptor_status.value == expected_hr
    assert profile.her2_status.value == expected_her2


def test_one_negative_other_unknown_is_not_hr_negative(build: Build) -> None:
    profile = build(b.patient(), b.er(b.NEGATIVE))
    assert profile.hormone_receptor_status.value == "unknown"
    assert profile.subtype.value == "unknown"


def test_most_recent_date_wins_with_note(build: Build) -> None:
    # ER 90 % then ER 5 %: both positive, only the degree changed - not a discordance; the most recent
    # result (ER-low) is used and the earlier one named.
    profile = build(
        b.patient(), b.er(quantity=(90, "%"), date="2019-03-01"), b.er(quantity=(5, "%"), date="2024-02-01")
    )
    assert profile.er_status.value == "low_positive"
    assert profile.er_status.note and "Earlier ER result positive" in profile.er_status.note
    assert not [i for i in profile.issues if i.kind in ("conflicting", "discordant")]


def test_er_positive_then_negative_is_a_discordance_and_stays_positive(build: Build) -> None:
    # Changed (issue 18): this used to read "negative" (the most recent date won silently). ER positive
    # on the primary and negative on a later biopsy is a discordance; ESO-ESMO ABC: consider endocrine
    # therapy when the receptor is positive in at least one biopsy.
    first = b.er(b.POSITIVE, date="2019-03-01")
    later = b.er(b.NEGATIVE, date="2024-02-01")
    profile = build(b.patient(), first, later)
    assert profile.er_status.value == "positive"
    assert profile.er_status.evidence[0].reference == f"Observation/{first['id']}"
    assert profile.er_status.note and "at least one biopsy" in profile.er_status.note
    issues = [i for i in profile.issues if i.topic == "er_status" and i.kind == "discordant"]
    assert len(issues) == 1
    assert {e.reference for e in issues[0].evidence} == {
        f"Observation/{first['id']}",
        f"Observation/{later['id']}",
    }
    assert "2019-03-01" in issues[0].message and "2024-02-01" in issues[0].message
    assert not [i for i in profile.issues if i.kind == "conflicting"]


def test_same_date_disagreement_is_conflicting(build: Build) -> None:
    profile = build(b.patient(), b.er(b.POSITIVE, date="2024-02-01"), b.er(b.NEGATIVE, date="2024-02-01"))
    assert profile.er_status.value == "conflicting"
    issues = [i for i in profile.issues if i.topic == "er_status" and i.kind == "conflicting"]
    assert len(issues) == 1 and len(issues[0].evidence) == 2
    assert profile.hormone_receptor_status.value == "conflicting"


def test_same_date_positive_and_percentage_is_low_positive(build: Build) -> None:
    profile = build(b.patient(), b.er(b.POSITIVE), b.observation(b.cc(b.LOINC, "85329-1"), quantity=(4, "%")))
    assert profile.er_status.value == "low_positive"
    assert profile.hormone_receptor_status.value == "positive"


def test_conflicting_er_with_positive_pr_is_hr_positive(build: Build) -> None:
    profile = build(b.patient(), b.er(b.POSITIVE), b.er(b.NEGATIVE), b.pr(b.POSITIVE))
    assert profile.hormone_receptor_status.value == "positive"


def test_ambiguous_interpretation_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.er(interpretation=b.cc(b.V3_INTERP, "L")))
    assert profile.er_status.value == "unknown"
    assert any(i.topic == "er_status" and i.kind == "unreadable" for i in profile.issues)


def test_entered_in_error_result_is_ignored(build: Build) -> None:
    profile = build(b.patient(), b.er(b.POSITIVE, status="entered-in-error"))
    assert profile.er_status.value == "unknown"


@pytest.mark.parametrize(
    "value",
    [
        b.cc(b.LOINC, "417181009", "Hormone receptor positive malignant neoplasm of breast"),
        b.cc(b.SNOMED, "417181009"),
        b.cc("urn:local", "HRP", "Hormone receptor positive"),
    ],
)
def test_synthea_hormone_receptor_positive_value(build: Build, value: dict[str, Any]) -> None:
    obs = b.observation(
        b.cc(b.LOINC, "10480-2", "Estrogen+Progesterone receptor Ag [Presence] in Tissue"), value=value
    )
    assert build(b.patient(), obs).hormone_receptor_status.value == "positive"


def test_panel_whose_code_is_no_receptor_test_is_read_from_its_components(build: Build) -> None:
    # the panel's own code matches no receptor list: only its ER and PR components do
    panel = b.observation(
        b.cc("urn:local", "RP1", text="Receptor panel"),
        components=[
            b.component(b.cc(b.SNOMED, "1234804006"), quantity=(60, "%")),
            b.component(b.cc(b.LOINC, "85325-9"), quantity=(0, "%")),
        ],
    )
    profile = build(b.patient(), panel)
    assert (profile.er_status.value, profile.pr_status.value) == ("positive", "negative")
    assert profile.er_status.evidence[0].reference == f"Observation/{panel['id']}"


def test_er_pr_combined_test(build: Build) -> None:
    combined = b.observation(b.cc(b.LOINC, "10480-2"), value=b.POSITIVE)
    assert build(b.patient(), combined).hormone_receptor_status.value == "positive"
    negative = b.observation(b.cc(b.LOINC, "10480-2"), value=b.NEGATIVE)
    assert build(b.patient(), negative).hormone_receptor_status.value == "negative"


# --- HER2 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "ihc", "status", "low"),
    [
        (b.her2_ihc(value_string="3+"), "3+", "positive", "no"),
        (b.her2_ihc(value_string="Score 3+"), "3+", "positive", "no"),
        (b.her2_ihc(value_string="IHC 1+"), "1+", "negative", "yes"),
        (b.her2_ihc(value_string="0"), "0", "negative", "no"),
        (b.her2_ihc(value_string="2+"), "2+", "equivocal", "unknown"),
        (b.her2_ihc(b.cc(text="2+ (equivocal)")), "2+", "equivocal", "unknown"),
        (b.her2_ihc(value_string="Negative (1+)"), "1+", "negative", "yes"),
        (b.her2_ihc(value_string="030"), "3+", "positive", "no"),
        (b.her2_ihc(value_string="010"), "1+", "negative", "yes"),
        (b.her2_ihc(b.cc("urn:local:her2", "2+", "HER2 2+")), "2+", "equivocal", "unknown"),
        (b.her2_ihc(b.POSITIVE), "unknown", "positive", "no"),
        (b.her2_ihc(b.NEGATIVE), "unknown", "negative", "unknown"),
        (b.observation(b.cc(b.LOINC, "48676-1"), value=b.LA_NEGATIVE), "unknown", "negative", "unknown"),
        (b.observation(b.cc(b.LOINC, "18474-7"), value_string="1+"), "1+", "negative", "yes"),
        (b.her2_ihc(interpretation=b.cc(b.WRONG_INTERP, "POS")), "unknown", "positive", "no"),
        (b.observation(b.cc(text="HER2/neu IHC"), value_string="score 0"), "0", "negative", "no"),
        (b.observation(b.cc(text="HER2-Status"), value=b.cc(text="low")), "unknown", "negative", "yes"),
        (b.observation(b.cc(text="HER2-Status"), value=b.cc(text="ultralow")), "unknown", "negative", "no"),
    ],
)
def test_her2_ihc_styles(build: Build, obs: dict[str, Any], ihc: str, status: str, low: str) -> None:
    profile = build(b.patient(), obs)
    assert profile.her2_ihc.value == ihc
    assert profile.her2_status.value == status
    assert profile.her2_low.value == low


@pytest.mark.parametrize(
    ("ish", "ish_value", "status", "low"),
    [
        (b.her2_ish(b.POSITIVE, date="2024-01-20"), "amplified", "positive", "no"),
        (b.her2_ish(b.NEGATIVE, date="2024-01-20"), "not_amplified", "negative", "yes"),
        (b.her2_ish(value_string="Not amplified", date="2024-01-20"), "not_amplified", "negative", "yes"),
        (b.her2_ish(value_string="AMPLIFIED", date="2024-01-20"), "amplified", "positive", "no"),
        (b.her2_ish(quantity=(2.4, ""), date="2024-01-20"), "amplified", "positive", "no"),
        (b.her2_ish(quantity=(1.3, ""), date="2024-01-20"), "not_amplified", "negative", "yes"),
        (
            b.her2_ish(quantity=(1.8, ""), comparator="<", date="2024-01-20"),
            "not_amplified",
            "negative",
            "yes",
        ),
        (b.her2_ish(quantity=(2.2, ""), comparator=">", date="2024-01-20"), "amplified", "positive", "no"),
        (
            b.observation(b.cc(b.LOINC, "49683-6"), quantity=(2.0, "{ratio}"), date="2024-01-20"),
            "amplified",
            "positive",
            "no",
        ),
        (
            b.observation(
                b.cc(text="HER2 FISH ratio"), value_string="HER2/CEP17 ratio 1.2", date="2024-01-20"
            ),
            "not_amplified",
            "negative",
            "yes",
        ),
    ],
)
def test_her2_2plus_with_reflex_ish(
    build: Build, ish: dict[str, Any], ish_value: str, status: str, low: str
) -> None:
    profile = build(b.patient(), b.her2_ihc(value_string="2+", date="2024-01-12"), ish)
    assert profile.her2_ihc.value == "2+"
    assert profile.her2_ish.value == ish_value
    assert profile.her2_status.value == status
    assert profile.her2_low.value == low


def test_her2_ish_only_amplified(build: Build) -> None:
    profile = build(b.patient(), b.her2_ish(quantity=(3.1, "")))
    assert profile.her2_status.value == "positive"
    assert profile.her2_ihc.value == "unknown"


def test_her2_same_date_conflict(build: Build) -> None:
    profile = build(b.patient(), b.her2_ihc(value_string="3+"), b.her2_ihc(value_string="0"))
    assert profile.her2_status.value == "conflicting"
    assert profile.subtype.value == "unknown"
    assert any(i.topic == "her2_status" and i.kind == "conflicting" for i in profile.issues)


def test_her2_rebiopsy_negative_is_a_discordance_and_stays_positive(build: Build) -> None:
    # Changed (issue 18): this used to read "negative" and HER2-low (the most recent date won silently).
    # HER2 3+ on the primary, then 1+ on a metastasis, is a discordance: anti-HER2 therapy stays an
    # option (ESO-ESMO ABC), with the discordance named.
    primary = b.her2_ihc(value_string="3+", date="2019-01-01")
    liver = b.her2_ihc(value_string="1+", date="2024-05-01")
    profile = build(b.patient(), primary, liver)
    assert profile.her2_status.value == "positive"
    assert profile.her2_ihc.value == "3+"
    assert profile.her2_low.value == "no"
    assert profile.her2_status.note and "at least one biopsy" in profile.her2_status.note
    refs = {e.reference for e in profile.her2_status.evidence}
    assert {f"Observation/{primary['id']}", f"Observation/{liver['id']}"} <= refs
    assert any(i.topic == "her2_status" and i.kind == "discordant" for i in profile.issues)


def test_her2_equivocal_then_negative_is_no_discordance(build: Build) -> None:
    profile = build(
        b.patient(),
        b.her2_ihc(value_string="2+", date="2019-01-01"),
        b.her2_ihc(value_string="1+", date="2024-05-01"),
    )
    assert profile.her2_status.value == "negative"
    assert profile.her2_low.value == "yes"
    assert not [i for i in profile.issues if i.kind == "discordant"]


def test_unreadable_her2_value_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.her2_ihc(value_string="see report"))
    assert profile.her2_status.value == "unknown"
    assert any(i.topic == "her2_status" and i.kind == "unreadable" for i in profile.issues)


@pytest.mark.parametrize(
    ("er", "pr", "her2", "subtype"),
    [
        (b.POSITIVE, b.NEGATIVE, "1+", "hr_positive_her2_negative"),
        (b.POSITIVE, b.POSITIVE, "3+", "hr_positive_her2_positive"),
        (b.NEGATIVE, b.NEGATIVE, "3+", "hr_negative_her2_positive"),
        (b.NEGATIVE, b.NEGATIVE, "0", "triple_negative"),
        (b.NEGATIVE, b.NEGATIVE, "2+", "unknown"),
        (b.NEGATIVE, None, "0", "unknown"),
    ],
)
def test_subtype(
    build: Build, er: dict[str, Any], pr: dict[str, Any] | None, her2: str, subtype: str
) -> None:
    resources = [b.patient(), b.er(er), b.her2_ihc(value_string=her2)]
    if pr is not None:
        resources.append(b.pr(pr))
    assert build(*resources).subtype.value == subtype


def test_later_status_condition_does_not_replace_test_detail(build: Build) -> None:
    # Changed (issue 18): the Condition is no longer merged in as "the latest result"; pathology results
    # decide, and a Condition that agrees adds nothing.
    profile = build(
        b.patient(),
        b.er(quantity=(5, "%"), date="2023-01-12"),
        b.condition(b.cc(b.ICD10CM, "Z17.0"), onset=None, recorded="2024-03-01"),
        b.her2_ihc(value_string="2+", date="2023-01-12"),
        b.her2_ish(b.NEGATIVE, date="2023-01-20"),
        b.condition(b.cc(b.ICD10CM, "Z17.32"), onset=None, recorded="2024-03-01"),
    )
    assert profile.er_status.value == "low_positive"
    assert profile.er_status.note and profile.er_status.note.startswith("ER-low positive (1-10%)")
    assert profile.her2_status.value == "negative"
    assert profile.her2_ihc.value == "2+"
    assert profile.her2_low.value == "yes"
    assert profile.her2_status.note and profile.her2_status.note.startswith(
        "HER2-low (IHC 2+, ISH not amplified)"
    )


def test_later_status_condition_that_disagrees_does_not_override_pathology(build: Build) -> None:
    # Changed (issue 18): a later Z17.1 "ER negative" billing code used to override the ER test.
    profile = build(
        b.patient(),
        b.er(b.POSITIVE, date="2019-01-12"),
        b.condition(b.cc(b.ICD10CM, "Z17.1"), onset=None, recorded="2024-03-01"),
    )
    assert profile.er_status.value == "positive"
    assert profile.er_status.note and "problem-list entry" in profile.er_status.note
