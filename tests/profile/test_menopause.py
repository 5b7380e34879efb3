"""Menopausal status by each route, the indeterminate cases, and configurable thresholds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.derive import MenopauseThresholds
from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]
# TODAY in conftest is 2025-06-01
AGE_45 = "1980-01-15"
AGE_59 = "1966-01-15"
AGE_60 = "1965-05-30"
AGE_67 = "1958-01-15"


def fsh(value: float, unit: str = "[IU]/L", **kw: Any) -> dict[str, Any]:
    return b.observation(
        b.cc(b.LOINC, "15067-2", "Follitropin [Units/volume] in Serum or Plasma"),
        quantity=(value, unit),
        date=kw.pop("date", "2025-03-01"),
        **kw,
    )


def e2(value: float, unit: str = "pg/mL", **kw: Any) -> dict[str, Any]:
    code = "14715-7" if unit == "pmol/L" else "2243-4"
    return b.observation(
        b.cc(b.LOINC, code, "Estradiol (E2)"), quantity=(value, unit), date=kw.pop("date", "2025-03-01"), **kw
    )


def status_obs(value_code: str, date: str = "2025-04-01") -> dict[str, Any]:
    return b.observation(
        b.cc(b.SNOMED, "161712005", "Menopause, function"), value=b.cc(b.SNOMED, value_code), date=date
    )


GOSERELIN = b.rx("50610", "goserelin")
LATER, EARLIER = "2025-05-20", "2024-11-02"  # than the status observation of 2025-04-01
TAMOXIFEN = b.rx("198240", "tamoxifen 10 MG Oral Tablet")
PACLITAXEL = b.rx("56946", "paclitaxel")


def paclitaxel(start: str, end: str) -> dict[str, Any]:
    return b.med_statement(PACLITAXEL, start=start, end=end, status="completed")


@pytest.mark.parametrize(
    ("resources", "expected", "reason"),
    [
        # explicit status
        ([b.patient(AGE_45), status_obs("76498008")], "postmenopausal", "recorded as postmenopausal"),
        ([b.patient(AGE_45), status_obs("22636003")], "premenopausal", "recorded as premenopausal"),
        ([b.patient(AGE_45), status_obs("307429007")], "postmenopausal", "recorded"),
        ([b.patient(AGE_45), status_obs("303111005")], "premenopausal", "perimenopausal"),
        (
            [b.patient(AGE_45), b.condition(b.cc(b.SNOMED, "76498008", "Postmenopausal state"))],
            "postmenopausal",
            "recorded",
        ),
        (
            [
                b.patient(AGE_45),
                b.observation(b.cc(text="Menopausal status"), value=b.cc(text="Postmenopausal")),
            ],
            "postmenopausal",
            "recorded",
        ),
        ([b.patient(AGE_67), status_obs("22636003")], "premenopausal", "recorded"),
        # old explicit status: age decides, else it is used with a note
        ([b.patient(AGE_67), status_obs("22636003", date="2010-01-01")], "postmenopausal", "age 67"),
        (
            [b.patient(AGE_45), status_obs("22636003", date="2020-01-01")],
            "premenopausal",
            "more than a year ago",
        ),
        # oophorectomy
        (
            [b.patient(AGE_45), b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"))],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        (
            [b.patient(AGE_45), b.procedure(b.cc(text="Laparoscopic bilateral salpingo-oophorectomy"))],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        (
            [b.patient(AGE_45), b.condition(b.cc(b.ICD10CM, "Z90.722"))],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        (
            [b.patient(AGE_45), b.procedure(b.cc(b.SNOMED, "29827000"), status="not-done")],
            "unknown",
            "no FSH",
        ),
        ([b.patient(AGE_45), b.procedure(b.cc(text="Left oophorectomy"))], "unknown", "no FSH"),
        # not done: on hold, in progress, or the text says the ovaries stayed (review 31, P1-2)
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(
                    b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), when=None, status="on-hold"
                ),
            ],
            "premenopausal",
            "recorded as premenopausal",
        ),
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), status="in-progress"),
            ],
            "premenopausal",
            "recorded as premenopausal",
        ),
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(b.cc(text="Total abdominal hysterectomy; BSO deferred, ovaries conserved")),
            ],
            "premenopausal",
            "recorded as premenopausal",
        ),
        (  # coded, but its text says the ovaries stayed (review 32)
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(
                    b.cc(
                        b.SNOMED, "29827000", "Bilateral oophorectomy", text="BSO deferred, ovaries conserved"
                    )
                ),
            ],
            "premenopausal",
            "recorded as premenopausal",
        ),
        (  # a condition coded as the absence of both ovaries, its text saying they stayed (review 33)
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.condition(
                    b.cc(b.ICD10CM, "Z90.722", text="S/p total abdominal hysterectomy, ovaries conserved")
                ),
            ],
            "premenopausal",
            "recorded as premenopausal",
        ),
        (  # an excluded word elsewhere in the text does not undo a removal (review 32)
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(
                    b.cc(text="Bilateral salpingo-oophorectomy (ovaries removed). Retained surgical clips.")
                ),
            ],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        # a recent premenopausal status and a bilateral oophorectomy, after it (review 29, P2-2), before it
        # or undated (review 30, P2-4): surgical menopause is permanent
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), when=LATER),
            ],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), when=EARLIER),
            ],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        (
            [
                b.patient(AGE_45),
                status_obs("22636003"),
                b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), when=None),
            ],
            "postmenopausal",
            "bilateral oophorectomy",
        ),
        # age
        ([b.patient(AGE_60)], "postmenopausal", "age 60 ≥ 60"),
        ([b.patient(AGE_67)], "postmenopausal", "age 67 ≥ 60"),
        ([b.patient(AGE_59)], "unknown", "age 59 < 60 and no FSH/estradiol"),
        ([b.patient(None)], "unknown", "age unknown"),
        # ovarian suppression
        ([b.patient(AGE_45), b.med_request(GOSERELIN, authored="2025-01-10")], "indeterminate", "LHRH"),
        (
            [b.patient(AGE_45), b.med_admin(b.rx("42375", "leuprolide"), when="2025-04-20")],
            "indeterminate",
            "LHRH",
        ),
        (
            [
                b.patient(AGE_45),
                b.med_request(GOSERELIN, status="completed", authored="2019-01-10"),
                fsh(5),
                e2(80),
            ],
            "premenopausal",
            "not in the postmenopausal range",
        ),
        ([b.patient(AGE_45), b.med_request(GOSERELIN), fsh(80), e2(10)], "indeterminate", "LHRH"),
        # labs
        (
            [b.patient(AGE_45), fsh(58), e2(12)],
            "postmenopausal",
            "FSH 58 IU/L (2025-03-01) and estradiol 12 pg/mL",
        ),
        ([b.patient(AGE_45), fsh(58, "mIU/mL"), e2(30, "pmol/L")], "postmenopausal", "estradiol 8.2 pg/mL"),
        ([b.patient(AGE_45), fsh(58), e2(150, "pmol/L")], "premenopausal", "not in the postmenopausal range"),
        # ng/mL, as some laboratories report estradiol: 0.012 ng/mL = 12 pg/mL
        ([b.patient(AGE_45), fsh(58), e2(0.012, "ng/mL")], "postmenopausal", "estradiol 12 pg/mL"),
        ([b.patient(AGE_45), fsh(58), e2(0.15, "ng/mL")], "premenopausal", "not in the postmenopausal range"),
        ([b.patient(AGE_45), fsh(4), e2(10)], "premenopausal", "not in the postmenopausal range"),
        ([b.patient(AGE_45), fsh(4)], "premenopausal", "premenopausal range"),
        ([b.patient(AGE_45), fsh(80)], "unknown", "no FSH/estradiol"),
        ([b.patient(AGE_45), fsh(10, date="2020-01-01"), fsh(70), e2(5)], "postmenopausal", "FSH 70"),
        ([b.patient(AGE_45), e2(5, comparator="<"), fsh(70)], "postmenopausal", "FSH 70"),
        # tamoxifen under 60
        ([b.patient(AGE_45), b.med_statement(TAMOXIFEN, start="2024-01-01")], "indeterminate", "tamoxifen"),
        (
            [b.patient(AGE_45), b.med_statement(TAMOXIFEN, start="2024-01-01"), fsh(60), e2(8)],
            "postmenopausal",
            "postmenopausal range",
        ),
        (
            [b.patient(AGE_45), b.med_statement(TAMOXIFEN, start="2024-01-01"), fsh(6), e2(90)],
            "indeterminate",
            "tamoxifen",
        ),
        (
            [
                b.patient(AGE_45),
                b.med_statement(TAMOXIFEN, start="2020-01-01", end="2023-01-01", status="completed"),
            ],
            "unknown",
            "no FSH",
        ),
        ([b.patient(AGE_67), b.med_statement(TAMOXIFEN, start="2024-01-01")], "postmenopausal", "age 67"),
        # labs alone under 60: NCCN also asks for 12 months of amenorrhoea, which the note asks to confirm
        ([b.patient(AGE_45), fsh(58), e2(12)], "postmenopausal", "12 months of amenorrhoea"),
        # chemotherapy in the last year (the labs in March, weekly paclitaxel ended in February; TODAY is
        # 2025-06-01): amenorrhoea after chemotherapy is unreliable (NCCN)
        (
            [b.patient(AGE_45), paclitaxel("2024-11-01", "2025-02-14"), fsh(58), e2(12)],
            "indeterminate",
            "after chemotherapy in the last year",
        ),
        (
            [b.patient(AGE_45), b.med_request(PACLITAXEL, authored="2025-05-01"), fsh(58), e2(12)],
            "indeterminate",
            "after chemotherapy in the last year",
        ),
        # chemotherapy that ended more than a year ago leaves the labs to decide
        (
            [b.patient(AGE_45), paclitaxel("2023-01-10", "2023-05-01"), fsh(58), e2(12)],
            "postmenopausal",
            "postmenopausal range",
        ),
    ],
)
def test_menopausal_status(build: Build, resources: list[dict[str, Any]], expected: str, reason: str) -> None:
    profile = build(*resources)
    assert profile.menopausal_status.value == expected
    assert profile.menopausal_status.note and reason in profile.menopausal_status.note


def test_a_premenopausal_entry_beside_an_oophorectomy_is_reported_for_the_record_to_be_reconciled(
    build: Build,
) -> None:
    """Review 30, P2-4: the status reads postmenopausal, and the conflicting entry is named."""
    oophorectomy = b.procedure(b.cc(b.SNOMED, "29827000", "Bilateral oophorectomy"), when=EARLIER)
    profile = build(b.patient(AGE_45), status_obs("22636003"), oophorectomy)
    [issue] = [i for i in profile.issues if i.topic == "menopausal_status"]
    assert issue.kind == "conflicting"
    assert "Recorded as premenopausal on 2025-04-01, but a bilateral oophorectomy" in issue.message
    quiet = build(b.patient(AGE_45), status_obs("76498008"), oophorectomy)  # postmenopausal: no conflict
    assert not [i for i in quiet.issues if i.topic == "menopausal_status"]


def test_male(build: Build) -> None:
    profile = build(b.patient(AGE_67, gender="male"))
    assert profile.sex.value == "male"
    assert profile.menopausal_status.value == "unknown"
    assert "male" in (profile.menopausal_status.note or "")


def test_thresholds_are_configurable(build: Build) -> None:
    resources = (b.patient(AGE_45), fsh(45), e2(18))
    assert build(*resources).menopausal_status.value == "postmenopausal"
    strict = MenopauseThresholds(fsh_min_iu_l=50, estradiol_max_pg_ml=15, age_years=55)
    assert build(*resources, thresholds=strict).menopausal_status.value == "premenopausal"
    assert build(b.patient(AGE_59), thresholds=strict).menopausal_status.note == "age 59 ≥ 55"


def test_wrong_unit_is_reported_not_used(build: Build) -> None:
    profile = build(b.patient(AGE_45), fsh(58, "ng/mL"), e2(10))
    assert profile.menopausal_status.value == "unknown"
    assert any(i.topic == "menopausal_status" and i.kind == "unreadable" for i in profile.issues)


def test_entered_in_error_lab_is_ignored(build: Build) -> None:
    profile = build(b.patient(AGE_45), fsh(58, status="entered-in-error"), e2(10))
    assert profile.menopausal_status.value == "unknown"


def test_ovarian_suppression_current(build: Build) -> None:
    assert build(b.patient(AGE_45), b.med_request(GOSERELIN)).ovarian_suppression_current.value == "yes"
    stopped = b.med_request(GOSERELIN, status="stopped", authored="2020-01-01")
    assert build(b.patient(AGE_45), stopped).ovarian_suppression_current.value == "no"
    assert build(b.patient(AGE_45)).ovarian_suppression_current.value == "unknown"


def test_partial_birth_date_uses_youngest_age(build: Build) -> None:
    profile = build(b.patient("1965"))
    assert profile.age.value == 59
    assert profile.age.note and "partial" in profile.age.note
    assert profile.menopausal_status.value == "unknown"
