"""A medicine held or dose-reduced for a side effect and given again is no stop for side effects, and a
last record that says the medicine is held keeps it in the line (cds.profile.regimens.mark_pauses;
reviews 20 and 21). Charts as EHRs write them: monthly orders with only authoredOn, statements with a
period, statusReason as text or a SNOMED code, a 100 mg order named in text after a 125 mg one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

LETROZOLE, PALBOCICLIB, CAPECITABINE = b.rx("72965"), b.rx("1601374"), b.rx("194000")
T_DXD = b.rx("2267582")
PALBOCICLIB_100 = b.rx("1601374", "palbociclib", text="palbociclib 100 mg capsule")
FULVESTRANT = b.rx("282357")
BONE_MET = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone")
NOT_TOLERATED = b.cc(b.SNOMED, "407563006", "Treatment not tolerated (situation)")
TODAY = date(2025, 12, 1)


def chart(*meds: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b.patient("1958-03-01"),
        b.breast_cancer(onset="2019-02-01"),
        b.condition(BONE_MET, onset="2024-08-10", rid="met-1"),
        *meds,
    ]


def why(record: dict[str, Any], reason: str | dict[str, Any]) -> dict[str, Any]:
    concept = {"text": reason} if isinstance(reason, str) else reason
    record["statusReason"] = concept if record["resourceType"] == "MedicationRequest" else [concept]
    return record


def monthly_orders(drug: dict[str, Any], months: list[str]) -> list[dict[str, Any]]:
    """Monthly refills, each 'completed', dated by authoredOn only (review 21 A2)."""
    return [b.med_request(drug, authored=f"{m}-08", status="completed") for m in months]


def months(first: int, last: int, year: int = 2025) -> list[str]:
    return [f"{year}-{m:02d}" for m in range(first, last + 1)]


# --- a stop for side effects followed by the same medicine again: a hold or a dose change ---------


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(  # review 21 A2: a held order, then 100 mg orders with only authoredOn
            lambda: why(
                b.med_request(PALBOCICLIB, authored="2025-04-22", status="stopped"),
                "Grade 3 neutropenia - held, resume at 100 mg",
            ),
            id="request-text-held-resume",
        ),
        pytest.param(  # no hold wording at all: the later orders, after its end, say it went on
            lambda: why(
                b.med_request(PALBOCICLIB, bounds=("2025-04-01", "2025-04-28"), status="stopped"),
                "Grade 3 neutropenia",
            ),
            id="request-text-neutropenia-only",
        ),
        pytest.param(  # review 20 A2: a statement with its period, "dose reduced"
            lambda: why(
                b.med_statement(PALBOCICLIB, start="2024-09-01", end="2025-05-01", status="stopped"),
                "Grade 3 neutropenia - dose reduced to 100 mg",
            ),
            id="statement-text-dose-reduced",
        ),
        pytest.param(  # the reason coded only (SNOMED, mCODE's termination reasons)
            lambda: why(
                b.med_statement(PALBOCICLIB, start="2024-09-01", end="2025-05-01", status="stopped"),
                NOT_TOLERATED,
            ),
            id="statement-snomed-not-tolerated",
        ),
    ],
)
def test_a_stop_for_side_effects_then_the_same_medicine_again_is_no_stop_for_side_effects(
    build: Build, stop: Callable[[], dict[str, Any]]
) -> None:
    """Palbociclib stopped for neutropenia and then ordered again each month at 100 mg, beside letrozole:
    the journey says she is on letrozole + palbociclib, nothing stopped for side effects, and that
    palbociclib was held for side effects and then given again; at the next progression palbociclib is
    what the disease progressed on, not a medicine she did not tolerate."""
    profile = build(
        *chart(
            b.med_request(LETROZOLE, authored="2024-09-01"),
            *monthly_orders(PALBOCICLIB, months(9, 12, 2024) + months(1, 3)),
            stop(),
            *monthly_orders(PALBOCICLIB_100, months(5, 11)),
        ),
        today=TODAY,
    )
    assert profile.stopped_for_toxicity.value == frozenset()
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert "palbociclib held for side effects" in (profile.current_therapies.note or "")
    assert "then given again" in (profile.current_therapies.note or "")
    assert "palbociclib" in profile.at_progression().progressed_on.value


@pytest.mark.parametrize(
    ("restart", "toxic"),
    [
        pytest.param(None, True, id="nothing-after-the-stop"),
        # a refill written the same day as the stop order, within its supply: no restart (review 22)
        pytest.param("2025-04-22", True, id="a-refill-the-same-day"),
        pytest.param("2025-05-20", False, id="a-later-order"),
    ],
)
def test_a_stop_for_side_effects_with_nothing_given_after_it_stays_one(
    build: Build, restart: str | None, toxic: bool
) -> None:
    """The near miss: palbociclib stopped for neutropenia with no later order of it is a stop for side
    effects, as before; she is on letrozole alone."""
    later = [b.med_request(PALBOCICLIB, authored=restart, status="completed")] if restart else []
    profile = build(
        *chart(
            b.med_request(LETROZOLE, authored="2024-09-01"),
            *monthly_orders(PALBOCICLIB, months(9, 12, 2024) + months(1, 3)),
            why(
                b.med_request(PALBOCICLIB, bounds=("2025-04-22", "2025-05-19"), status="stopped"),
                "Grade 3 neutropenia",
            ),
            *later,
        ),
        today=TODAY,
    )
    assert ("palbociclib" in profile.stopped_for_toxicity.value) is toxic
    if restart != "2025-04-22":  # the same-day refill with no end is the latest record (review 22)
        assert ("palbociclib" in profile.current_therapies.value) is not toxic


@pytest.mark.parametrize(
    "reason", ["Grade 2 pneumonitis", "Grade 1 pneumonitis - held, restart when resolved"]
)
def test_a_course_order_stopped_for_side_effects_with_its_administrations_stays_a_stop(
    build: Build, reason: str
) -> None:
    """Trastuzumab deruxtecan ordered once for the course (authoredOn only) and given as administrations
    every three weeks, the order stopped for pneumonitis on a day not recorded (even one saying it is
    held): the administrations during the course are no restart, so it stays stopped for side effects."""
    given = [b.med_admin(T_DXD, when=day) for day in ("2025-01-10", "2025-01-31", "2025-02-21", "2025-03-14")]
    profile = build(
        *chart(why(b.med_request(T_DXD, authored="2025-01-08", status="stopped"), reason), *given),
        today=TODAY,
    )
    assert "t_dxd" in profile.stopped_for_toxicity.value


def test_a_medicine_stopped_for_side_effects_in_one_line_and_given_in_a_later_one_stays_stopped(
    build: Build,
) -> None:
    """A rechallenge in a later line is not a hold: capecitabine stopped for hand-foot syndrome, then
    paclitaxel, then capecitabine again after progression; the first stop stays a stop for side effects."""
    profile = build(
        *chart(
            why(
                b.med_statement(CAPECITABINE, start="2024-09-01", end="2024-12-01", status="stopped"),
                "Grade 3 hand-foot syndrome - not tolerated",
            ),
            b.med_statement(b.rx("56946"), start="2025-01-05", end="2025-06-01", status="completed"),
            b.med_statement(CAPECITABINE, start="2025-07-01"),
        ),
        today=TODAY,
    )
    assert "capecitabine" in profile.stopped_for_toxicity.value


# --- the last record held: the medicine is still part of the line --------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "held"),
    [
        pytest.param(
            "stopped", "Cycle held - ANC 0.9, restart next week", True, id="held-restart"
        ),  # review 20 A8
        pytest.param("stopped", "Grade 3 neutropenia - held, resume at 100 mg", True, id="held-for-toxicity"),
        pytest.param("stopped", "Dose interruption for grade 3 neutropenia", True, id="dose-interruption"),
        pytest.param("on-hold", "Grade 3 neutropenia", True, id="on-hold-status"),
        # denials: a stop, as before
        pytest.param("stopped", "Not held - patient choice", False, id="not-held"),
        pytest.param("stopped", "Cycle held, no plan to restart", False, id="no-plan-to-restart"),
        pytest.param("stopped", "Held then permanently discontinued", False, id="discontinued"),
        pytest.param("stopped", "Patient choice", False, id="no-hold-wording"),
        # review 23, H2: words that rule out a restart
        pytest.param("stopped", "Held indefinitely at patient request", False, id="indefinitely"),
        pytest.param("stopped", "Held - will not be restarted", False, id="will-not-be-restarted"),
        pytest.param("stopped", "Held; patient declined to resume", False, id="declined-to-resume"),
        pytest.param("stopped", "Held, resume not recommended", False, id="resume-not-recommended"),
        pytest.param("stopped", "On hold - enrolled in hospice", False, id="hospice"),
        # review 24: comfort that is not comfort care
        pytest.param(
            "stopped",
            "Held for patient comfort during radiotherapy, resume after",
            True,
            id="comfort-not-care",
        ),
    ],
)
def test_a_last_order_held_beside_letrozole_keeps_palbociclib_in_the_line(
    build: Build, status: str, reason: str, held: bool
) -> None:
    """Review 20 A8: monthly palbociclib orders, the last one stopped 'Cycle held - ANC 0.9, restart next
    week', letrozole still given: she is on letrozole + palbociclib, palbociclib held (the reason quoted),
    nothing stopped for side effects. A reason that denies the hold, or says nothing of one, stays a stop
    of palbociclib while letrozole goes on, as before."""
    last = why(b.med_request(PALBOCICLIB, bounds=("2025-10-02", "2025-10-29"), status=status), reason)
    profile = build(
        *chart(
            b.med_request(LETROZOLE, authored="2024-09-01"),
            *monthly_orders(PALBOCICLIB, months(9, 12, 2024) + months(1, 9)),
            last,
        ),
        today=TODAY,
    )
    assert ("palbociclib" in profile.current_therapies.value) is held
    assert "letrozole" in profile.current_therapies.value
    if held:
        assert f'palbociclib held 2025-10-29 ("{reason}")' in (profile.current_therapies.note or "")
        assert profile.stopped_for_toxicity.value == frozenset()
        assert profile.stopped_in_current_line.value == frozenset()
    else:
        assert "cdk4_6_inhibitor" in profile.stopped_in_current_line.value
        assert f'palbociclib stopped 2025-10-29 ("{reason}")' == profile.stopped_in_current_line.note


@pytest.mark.parametrize(
    ("reason", "side_effect"),
    [("Cycle held - ANC 0.9, restart next week", True), ("Cycle held, restart next week", False)],
)
def test_a_hold_longer_than_two_cycles_with_nothing_given_since_is_a_stop(
    build: Build, reason: str, side_effect: bool
) -> None:
    """Review 23, H1: palbociclib 'Cycle held - ANC 0.9, restart next week' in October and never given
    again, letrozole still taken in February: palbociclib is not current, it stopped beside letrozole, as
    any hold more than RUNNING_GAP (42 days) old with the medicine not given since: for side effects
    when the reason names one (its earlier refills not read as a stop "with no reason recorded"), else
    with its reason quoted."""
    last = why(b.med_request(PALBOCICLIB, bounds=("2025-10-02", "2025-10-29"), status="stopped"), reason)
    medicines = chart(
        b.med_request(LETROZOLE, authored="2024-09-01"),
        *monthly_orders(PALBOCICLIB, months(9, 12, 2024) + months(1, 9)),
        last,
    )
    assert "palbociclib" in build(*medicines, today=date(2025, 12, 10)).current_therapies.value
    later = build(*medicines, today=date(2025, 12, 11))
    assert "letrozole" in later.current_therapies.value
    assert "palbociclib" not in later.current_therapies.value
    assert ("palbociclib" in later.stopped_for_toxicity.value) is side_effect
    quoted = f'palbociclib stopped 2025-10-29 ("{reason}")'
    assert later.stopped_in_current_line.note == (None if side_effect else quoted)


def test_an_order_on_hold_whose_period_runs_on_is_a_pause_however_long_ago_it_was_written(
    build: Build,
) -> None:
    """Review 24, N1: an 'on-hold' palbociclib order (FHIR: expected to continue) written in June with
    'Grade 3 neutropenia', no end, letrozole still taken in December: a pause in force, not a stop for
    side effects (the recency test of a stopped hold is not for an order still on hold)."""
    held = why(b.med_request(PALBOCICLIB, authored="2025-06-10", status="on-hold"), "Grade 3 neutropenia")
    profile = build(
        *chart(
            b.med_request(LETROZOLE, authored="2024-09-01"), *monthly_orders(PALBOCICLIB, months(1, 5)), held
        ),
        today=TODAY,
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert profile.stopped_for_toxicity.value == frozenset()


def test_an_order_on_hold_whose_period_ended_long_ago_is_no_longer_taken(build: Build) -> None:
    """Review 25, Q5: a palbociclib order 'on-hold' for neutropenia whose period ended in June, never taken
    up again, letrozole still taken in December: palbociclib is not current (before, the line going on
    kept it as taken)."""
    held = why(
        b.med_request(PALBOCICLIB, bounds=("2025-05-10", "2025-06-06"), status="on-hold"),
        "Grade 3 neutropenia",
    )
    profile = build(
        *chart(
            b.med_request(LETROZOLE, authored="2024-09-01"), *monthly_orders(PALBOCICLIB, months(1, 4)), held
        ),
        today=TODAY,
    )
    assert "letrozole" in profile.current_therapies.value
    assert "palbociclib" not in profile.current_therapies.value


def test_a_line_on_hold_for_a_side_effect_is_the_therapy_she_is_on_not_one_she_stopped(build: Build) -> None:
    """Both orders of the line 'on-hold' (FHIR: to continue later) 'Grade 3 neutropenia - hold until ANC
    recovers': she is on letrozole + palbociclib, held, and nothing was stopped for side effects (before,
    the journey said both 'on' and 'stopped for side effects: palbociclib')."""
    held = [
        why(
            b.med_request(drug, authored="2025-11-20", status="on-hold"),
            "Grade 3 neutropenia - hold until ANC recovers",
        )
        for drug in (LETROZOLE, PALBOCICLIB)
    ]
    profile = build(
        *chart(*monthly_orders(PALBOCICLIB, months(9, 12, 2024) + months(1, 10)), *held), today=TODAY
    )
    assert profile.on_therapy.value == "yes"
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert profile.stopped_for_toxicity.value == frozenset()
    assert "palbociclib held 2025-11-20" in (profile.current_therapies.note or "")


def test_a_stop_for_progression_that_mentions_a_hold_stays_a_progression(build: Build) -> None:
    """'PD on CT - hold pending biopsy' on both medicines of the line is a progression, not a pause."""
    records = [
        why(
            b.med_statement(drug, start="2024-09-01", end="2025-10-01", status="stopped"),
            "PD on CT - hold pending biopsy",
        )
        for drug in (LETROZOLE, PALBOCICLIB)
    ]
    profile = build(*chart(*records), today=TODAY)
    assert {"letrozole", "palbociclib"} <= profile.progressed_on.value
    assert profile.on_therapy.value == "no"


def test_a_last_line_ended_with_no_reason_does_not_quote_the_reason_of_a_pause(build: Build) -> None:
    """Review 23, H3: T-DXd stopped for 'Grade 2 pneumonitis', given again, then its orders simply end
    with nothing after: the line ended with no reason recorded, and the note must not quote the
    pneumonitis of the pause as why it ended."""
    profile = build(
        *chart(
            b.med_request(T_DXD, bounds=("2025-01-10", "2025-03-01"), status="completed"),
            why(
                b.med_request(T_DXD, bounds=("2025-03-02", "2025-03-20"), status="stopped"),
                "Grade 2 pneumonitis",
            ),
            b.med_request(T_DXD, bounds=("2025-05-01", "2025-07-01"), status="completed"),
        ),
        today=TODAY,
    )
    assert profile.last_line_stopped_unexplained.value == "yes"
    assert "with no reason recorded" in (profile.last_line_stopped_unexplained.note or "")
    assert "pneumonitis" not in (profile.last_line_stopped_unexplained.note or "")


# --- the endocrine backbone replaced for side effects while the partner goes on -----------------------

WORSENED = b.observation(
    b.cc(b.LOINC, "97509-4", "Cancer disease progression"),
    date="2025-08-20",
    value=b.cc(b.SNOMED, "271299001", "Patient's condition worsened (finding)"),
)


@pytest.mark.parametrize(
    ("reason", "ended", "fulvestrant_from", "extra", "same_line"),
    [
        pytest.param("Arthralgia", "2025-09-01", "2025-09-01", [], True, id="same-day"),
        pytest.param("Arthralgia", "2025-09-01", "2025-10-06", [], True, id="35-days-later"),  # review 25 Q4
        pytest.param("Arthralgia", None, "2025-09-01", [], True, id="stop-undated"),  # review 25 Q4
        # a new line, as before: no reason recorded, or a progression result before the switch (Q1)
        pytest.param(None, "2025-09-01", "2025-09-01", [], False, id="no-reason"),
        pytest.param("Arthralgia", "2025-09-01", "2025-09-01", [WORSENED], False, id="progression-before"),
    ],
)
def test_an_aromatase_inhibitor_replaced_for_side_effects_beside_palbociclib_is_the_same_line(
    build: Build,
    reason: str | None,
    ended: str | None,
    fulvestrant_from: str,
    extra: list[dict[str, Any]],
    same_line: bool,
) -> None:
    """Review 24, N2: letrozole stopped for arthralgia, fulvestrant begun, palbociclib still given: she is
    on fulvestrant + palbociclib in her first line, letrozole stopped for side effects, nothing progressed
    (before, a new line after a presumed progression on letrozole + palbociclib, palbociclib dropped).
    With no reason recorded, or a progression result before the switch, it stays the next line after a
    progression on letrozole + palbociclib (review 25, Q1)."""
    letrozole = b.med_statement(LETROZOLE, start="2025-01-10", end=ended, status="stopped")
    profile = build(
        *chart(
            why(letrozole, reason) if reason else letrozole,
            b.med_statement(PALBOCICLIB, start="2025-01-10"),
            b.med_statement(FULVESTRANT, start=fulvestrant_from),
            *extra,
        ),
        today=TODAY,
    )
    assert "fulvestrant" in profile.current_therapies.value
    if same_line:
        assert "palbociclib" in profile.current_therapies.value
    assert (profile.progressed_on.value == frozenset()) is same_line
    assert ("fulvestrant" in profile.progressed_on.value) is False
    assert profile.completed_metastatic_lines.value == (0 if same_line else 1)
