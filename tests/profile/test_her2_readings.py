"""HER2 readings a pathology review found wrong: digits of "HER2"/"CEP17" read as ISH numbers, ISH groups 2-4
without IHC read as final, an earlier positive erased by a newer unsettled result, and IHC 0 with 1+ on one
date read as a HER2 conflict (ASCO/CAP 2018, affirmed 2023; ESO-ESMO ABC 5)."""

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
