"""HER2 readings a pathology review found wrong: digits of "HER2"/"CEP17" read as ISH numbers, ISH groups 2-4
without IHC read as final, an earlier positive erased by a newer unsettled result, IHC 0 with 1+ on one
date read as a HER2 conflict, and an IHC score held in a component ignored (ASCO/CAP 2018, affirmed 2023;
ESO-ESMO ABC 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]


# --- 1. ISH free text: the digits of "HER2" and "CEP17" are never the ratio or the copy number -------------


@pytest.mark.parametrize(
    ("text", "ish", "status", "low"),
    [
        # ratio 1.3, 4.6 copies: group 4, with IHC 2+ HER2-negative (HER2-low); was read as ratio 2 (group 1)
        (
            "Not amplified (ISH group 4). Ratio of HER2 to CEP17: 1.3; "
            "average HER2 copy number: 4.6 signals/cell",
            "not_amplified",
            "negative",
            "yes",
        ),
        # ratio 3.0, 4.5 copies: group 1, HER2-positive; was read as 2 copies (group 2, HER2-low)
        (
            "Amplified. HER2 signals per cell 4.5, CEP17 signals per cell 1.5, HER2/CEP17 ratio 3.0",
            "amplified",
            "positive",
            "no",
        ),
        # the CEP17 count first: the HER2 count is the copy number (group 4), not "17" nor 3.0
        (
            "Not amplified. CEP17 signals per cell 3.0, HER2 signals per cell 4.5, HER2/CEP17 ratio 1.5",
            "not_amplified",
            "negative",
            "yes",
        ),
        (
            "HER2/CEP17 ratio 1.5, mean HER2 signals/cell 6.4",
            "amplified",
            "positive",
            "no",
        ),  # group 3, IHC 2+
        ("HER2/CEP17 ratio 2.4, Average HER2 copies per cell: 6.4", "amplified", "positive", "no"),  # group 1
    ],
)
def test_ish_text_numbers_skip_the_digits_of_her2_and_cep17(
    build: Build, text: str, ish: str, status: str, low: str
) -> None:
    profile = build(
        b.patient(),
        b.her2_ihc(value_string="2+ (equivocal), reflex ISH ordered", date="2025-09-12"),
        b.her2_ish(value_string=text, date="2025-09-16"),
    )
    assert (profile.her2_ish.value, profile.her2_status.value, profile.her2_low.value) == (ish, status, low)
    assert not b.issues_of(profile, "her2_ish", "conflicting")


@pytest.mark.parametrize(
    "text",
    [
        "Not amplified. HER2/CEP17 ratio 3.1; average HER2 copy number 7.2 signals/cell",  # group 1 numbers
        "Amplified. HER2/CEP17 ratio 1.1; average HER2 copy number 2.3 signals/cell",  # group 5 numbers
    ],
)
def test_ish_text_whose_numbers_and_verdict_disagree_is_not_used(build: Build, text: str) -> None:
    ish = b.her2_ish(value_string=text, date="2025-09-16")
    profile = build(b.patient(), b.her2_ihc(value_string="2+", date="2025-09-12"), ish)
    # the IHC 2+ stands alone: equivocal, so the HER2 warning asks for ISH; neither reading is used silently
    assert (profile.her2_ish.value, profile.her2_status.value) == ("unknown", "equivocal")
    conflicting = b.issues_of(profile, "her2_ish", "conflicting")
    assert len(conflicting) == 1
    assert f"Observation/{ish['id']}" in conflicting[0].message
    assert "the report says" in conflicting[0].message
    # "amplification" naming the test is no verdict
    named = b.her2_ish(value_string="HER2 gene amplification by FISH: ratio 1.3, 2.1 HER2 signals/cell")
    assert build(b.patient(), named).her2_ish.value == "not_amplified"


# --- 4. dual-probe ISH groups 2-4 need concomitant IHC ------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "copies", "group"),
    [(2.3, 3.1, 2), (1.6, 6.4, 3), (1.5, 4.8, 4)],
)
def test_ish_groups_2_to_4_without_ihc_leave_her2_unknown(
    build: Build, ratio: float, copies: float, group: int
) -> None:
    profile = build(b.patient(), b.ish_panel(ratio, copies, date="2025-09-16"))
    assert profile.her2_status.value == "unknown"
    assert profile.subtype.value == "unknown"
    missing = b.issues_of(profile, "her2_status", "missing")
    assert len(missing) == 1
    assert f"group {group}" in missing[0].message and "IHC on the same specimen" in missing[0].message


def test_only_groups_2_to_4_wait_for_ihc(build: Build) -> None:
    def her2(*obs: dict[str, Any]) -> tuple[str, str]:
        profile = build(b.patient(), *obs)
        return profile.her2_status.value, profile.her2_low.value

    assert her2(b.ish_panel(2.4, 4.6, date="2025-09-16")) == ("positive", "no")  # group 1: final
    assert her2(b.ish_panel(1.2, 2.1, date="2025-09-16")) == ("negative", "unknown")  # group 5: final
    assert her2(b.ish_panel(1.6, 6.4, date="2025-09-16")) == ("unknown", "unknown")  # group 3: waits
    reflex = b.her2_ihc(value_string="1+", date="2025-09-12")
    assert her2(reflex, b.ish_panel(1.6, 6.4, date="2025-09-16")) == ("negative", "yes")  # decided with IHC


# --- 5. an earlier positive is not erased by a newer unsettled result ---------------------------------------


def test_her2_positive_then_ihc_2plus_awaiting_ish_stays_positive(build: Build) -> None:
    primary = b.her2_ihc(value_string="3+", date="2025-04-14")
    liver = b.her2_ihc(value_string="2+ (equivocal); reflex ISH to follow", date="2025-09-10")
    profile = build(b.patient(), primary, liver)
    assert profile.her2_status.value == "positive"
    assert profile.her2_ihc.value == "3+"
    assert profile.her2_low.value == "no"
    refs = {e.reference for e in profile.her2_status.evidence}
    assert {f"Observation/{primary['id']}", f"Observation/{liver['id']}"} <= refs
    issues = b.issues_of(profile, "her2_status", "discordant")
    assert len(issues) == 1
    assert f"Observation/{liver['id']}" in issues[0].message and "ISH" in issues[0].message
    # the IHC 2+ alone is equivocal, with no earlier positive to keep
    alone = build(b.patient(), b.her2_ihc(value_string="2+", date="2025-09-10"))
    assert alone.her2_status.value == "equivocal"
    assert not b.issues_of(alone, "her2_status", "discordant")


def test_her2_positive_then_a_same_day_conflict_stays_positive(build: Build) -> None:
    profile = build(
        b.patient(),
        b.her2_ihc(value_string="3+", date="2019-03-01"),
        b.her2_ihc(value_string="3+", date="2024-05-01"),
        b.her2_ihc(value_string="2+", date="2024-05-01"),
    )
    assert profile.her2_status.value == "positive"
    assert b.issues_of(profile, "her2_status", "conflicting")  # the new date's disagreement is still named
    assert b.issues_of(profile, "her2_status", "discordant")


# --- 6. IHC 0 and IHC 1+ on one date are both HER2-negative -------------------------------------------------


def test_ihc_0_and_1plus_on_one_date_are_her2_negative_with_her2_low_unsettled(build: Build) -> None:
    breast = b.her2_ihc(value_string="0", date="2025-09-12")
    node = b.her2_ihc(value_string="1+", date="2025-09-12")
    profile = build(
        b.patient(),
        b.er(quantity=(90, "%"), date="2025-09-12"),
        b.pr(quantity=(60, "%"), date="2025-09-12"),
        breast,
        node,
    )
    assert profile.her2_status.value == "negative"
    assert profile.subtype.value == "hr_positive_her2_negative"  # the HR+/HER2- options are not withheld
    assert profile.her2_low.value == "unknown"  # never HER2-low on a score that another sample contradicts
    assert not b.issues_of(profile, "her2_status", "conflicting")
    low = b.issues_of(profile, "her2_low", "conflicting")
    assert len(low) == 1
    assert "IHC 0" in low[0].message and "IHC 1+" in low[0].message
    assert {f"Observation/{breast['id']}", f"Observation/{node['id']}"} <= {
        e.reference for e in low[0].evidence
    }
    # 1+ and 2+ (equivocal) on one date still conflict
    other = build(
        b.patient(),
        b.her2_ihc(value_string="1+", date="2025-09-12"),
        b.her2_ihc(value_string="2+", date="2025-09-12"),
    )
    assert other.her2_status.value == "conflicting"


def test_her2_low_on_an_earlier_specimen_and_ihc_0_now_is_named(build: Build) -> None:
    """IHC 1+ on the primary, IHC 0 on a later biopsy: HER2-low is read from the latest (no), and the
    earlier HER2-low result is named, since it decides trastuzumab deruxtecan."""
    primary = b.her2_ihc(value_string="1+", date="2020-03-01")
    liver = b.her2_ihc(value_string="0", date="2025-02-01")
    profile = build(b.patient(), primary, liver)
    assert (profile.her2_status.value, profile.her2_low.value) == ("negative", "no")
    issues = b.issues_of(profile, "her2_low", "discordant")
    assert len(issues) == 1
    assert f"Observation/{primary['id']}" in issues[0].message and "IHC 1+" in issues[0].message


# --- 7. A HER2 IHC score held in a component (MII / Senologie) is the result --------------------------------

_MII = "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/"
_LEITLINIE = _MII + "mii-cs-onko-mamma-her2neu-status-leitlinie"
_OBDS = _MII + "mii-cs-onko-mamma-her2neu-status-obds"
_HER2_STATUS = b.cc(b.LOINC, "48676-1", "HER2 [Interpretation] in Tissue")
_IHC_SCORE = b.cc(b.LOINC, "85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain")
_SCORES = {
    "0": b.cc(b.LOINC, "LA6111-4", "0"),
    "2+": b.cc(b.LOINC, "LA11841-6", "2+"),  # Senologie's answer code (MII MTB writes LA11842-4)
    "3+": b.cc(b.LOINC, "LA11843-2", "3+"),
}
_SUMMARIES = {
    "low": [(_LEITLINIE, "low", "HER2-low"), (_OBDS, "N", "negativ")],
    "negativ": [(_LEITLINIE, "negativ", "HER2-negativ"), (_OBDS, "N", "negativ")],
    "positiv": [(_LEITLINIE, "positiv", "HER2-positiv"), (_OBDS, "P", "positiv")],
}


def _mii_her2(summary: str, *components: dict[str, Any], date: str = "2025-01-15") -> dict[str, Any]:
    """MII_PR_Onko_Mamma_Her2neu_Status as the Senologie IG writes it: 48676-1 valued with the guideline
    category and the oBDS code, the IHC score as component 85319-2."""
    value = {"coding": [{"system": s, "code": c, "display": d} for s, c, d in _SUMMARIES[summary]]}
    return b.observation(_HER2_STATUS, value=value, components=list(components), date=date)


def _score(score: str) -> dict[str, Any]:
    return b.component(_IHC_SCORE, value=_SCORES[score])


def _receptors(date: str = "2025-01-15") -> list[dict[str, Any]]:
    return [b.patient(), b.er(quantity=(90, "%"), date=date), b.pr(quantity=(73, "%"), date=date)]


@pytest.mark.parametrize("summary", ["low", "negativ", "positiv"])
def test_ihc_2plus_component_without_ish_is_equivocal_whatever_the_summary_says(
    build: Build, summary: str
) -> None:
    """Senologie Fall 14: "HER2-low" + oBDS "N" with the IHC 2+ only as a component and no ISH was read as
    HER2-negative/HER2-low: the HR+/HER2- options showed and a card asked for the score it had."""
    obs = _mii_her2(summary, _score("2+"))
    profile = build(*_receptors(), obs)
    assert (profile.her2_status.value, profile.her2_ihc.value) == ("equivocal", "2+")
    assert profile.her2_low.value == "unknown"
    assert profile.subtype.value == "unknown"  # no HER2-negative (nor HER2-positive) option
    # the summary is named, not silently dropped, and the service asks for the ISH
    said = b.issues_of(profile, "her2_status", "missing")
    assert len(said) == 1
    assert f"Observation/{obs['id']}" in said[0].message and "in situ hybridisation" in said[0].message
    assert "is not used" in (profile.her2_status.note or "")
    # read as the same score is when it is its own Observation (probe fall14-her2-ihc2-as-own-observation)
    own = build(*_receptors(), b.her2_ihc(value=_SCORES["2+"], date="2025-01-15"))
    assert (own.her2_status.value, own.her2_ihc.value) == ("equivocal", "2+")


def test_ihc_0_and_3plus_components_are_read(build: Build) -> None:
    """Senologie Fall 9 (IHC 0, "HER2-negativ") and MII KDS (3+ with ISH positive as components): the
    scores were asked for again."""
    zero = build(*_receptors(), _mii_her2("negativ", _score("0")))
    assert (zero.her2_status.value, zero.her2_ihc.value, zero.her2_low.value) == ("negative", "0", "no")
    assert not zero.issues
    fish = b.cc(b.LOINC, "96893-3", "ERBB2 gene duplication in Tumor by FISH")
    three = build(*_receptors(), _mii_her2("positiv", _score("3+"), b.component(fish, value=b.LA_POSITIVE)))
    assert (three.her2_status.value, three.her2_ihc.value, three.her2_ish.value) == (
        "positive",
        "3+",
        "amplified",
    )


def test_ish_component_beside_a_2plus_component_settles_her2(build: Build) -> None:
    fish = b.cc(b.LOINC, "96893-3", "ERBB2 gene duplication in Tumor by FISH")
    profile = build(*_receptors(), _mii_her2("low", _score("2+"), b.component(fish, value=b.LA_NEGATIVE)))
    assert (profile.her2_status.value, profile.her2_ish.value, profile.her2_low.value) == (
        "negative",
        "not_amplified",
        "yes",
    )
    assert not b.issues_of(profile, "her2_status", "missing")


def test_a_summary_that_contradicts_the_component_score_is_reported(build: Build) -> None:
    # positive against IHC 0: a conflict, no HER2 option either way
    clash = build(*_receptors(), _mii_her2("positiv", _score("0")))
    assert clash.her2_status.value == "conflicting"
    assert b.issues_of(clash, "her2_status", "conflicting")
    # "HER2-low" against IHC 0: HER2-negative either way; the score decides HER2-low, and the clash is named
    low = build(*_receptors(), _mii_her2("low", _score("0")))
    assert (low.her2_status.value, low.her2_low.value) == ("negative", "no")
    named = b.issues_of(low, "her2_low", "conflicting")
    assert len(named) == 1 and "HER2-low" in named[0].message


@pytest.mark.parametrize(
    "code",
    [
        b.cc(b.LOINC, "18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"),
        b.cc("urn:oid:1.2.276.0.76.3.1.999", "HER2-IHC", text="HER2 IHC score"),  # a local code, by its text
    ],
)
def test_score_components_in_other_codings_and_in_a_panel_are_read(
    build: Build, code: dict[str, Any]
) -> None:
    profile = build(*_receptors(), _mii_her2("negativ", b.component(code, value_string="2+")))
    assert (profile.her2_status.value, profile.her2_ihc.value) == ("equivocal", "2+")
    # a pathology panel whose own code no list knows, with the score as a component
    panel = b.observation(
        b.cc(text="Mammakarzinom Rezeptorstatus"), components=[b.component(code, value_string="1+")]
    )
    in_panel = build(*_receptors(), panel)
    assert (in_panel.her2_status.value, in_panel.her2_ihc.value, in_panel.her2_low.value) == (
        "negative",
        "1+",
        "yes",
    )


def test_component_values_that_are_not_a_score_are_not_read_as_one(build: Build) -> None:
    # MII KDS writes LA11840-8 "Mixed" as the score: not read, reported; the summary stands
    mixed = build(
        *_receptors(),
        _mii_her2("negativ", b.component(_IHC_SCORE, value=b.cc(b.LOINC, "LA11840-8", "Mixed"))),
    )
    assert (mixed.her2_status.value, mixed.her2_ihc.value) == ("negative", "unknown")
    unread = b.issues_of(mixed, "her2_ihc", "unreadable")
    assert len(unread) == 1 and "Mixed" in unread[0].message
    # a bare number in a component named only "HER2" (signals per cell) is not an IHC 3+
    signals = {"code": b.cc(text="HER2 signals per cell"), "valueQuantity": {"value": 3}}
    count = build(*_receptors(), _mii_her2("negativ", signals))
    assert (count.her2_status.value, count.her2_ihc.value) == ("negative", "unknown")


def test_a_negative_primary_then_a_positive_metastasis_is_named_once_in_the_her2_note(build: Build) -> None:
    """Review 8 (F8): the HER2 line named the earlier negative biopsy twice ("earlier HER2 result ... the
    most recent was used" and "HER2-negative in another ..."); the discordance is on the warnings card."""
    primary = b.her2_ihc(value_string="1+", date="2024-03-18")
    metastasis = b.her2_ihc(value_string="3+", date="2026-10-20")
    note = build(b.patient(), primary, metastasis).her2_status.note or ""
    assert note.count(f"Observation/{primary['id']}") == 1, note
    assert "positive in at least one biopsy is kept" in note
