"""Menopausal status, each with its reason in ``Fact.note``.

Order (NCCN "Definition of Menopause" as quoted in clinical.md 1.6; thresholds are settings):

1. an explicit status (Observation 161712005 with a pre/post/perimenopausal value, or any Observation /
   Condition coded with those findings) recorded within the last year wins, but a bilateral oophorectomy
   (surgical menopause is permanent) wins over it, a conflicting entry reported; perimenopausal is
   treated as premenopausal;
2. male patients: "unknown" (not applicable; ``sex`` says male);
3. bilateral oophorectomy (Procedure, or Condition Z90.722) -> postmenopausal;
4. age >= ``age_years`` (default 60) -> postmenopausal;
5. under that age on current ovarian suppression (GnRH agonist) -> indeterminate (status cannot be
   assigned on an LHRH agonist);
6. under that age, most recent FSH >= ``fsh_min_iu_l`` IU/L (= mIU/mL) AND estradiol <=
   ``estradiol_max_pg_ml`` pg/mL (pmol/L / 3.671) -> postmenopausal (also on tamoxifen/toremifene),
   but indeterminate after chemotherapy in the last year (NCCN: chemotherapy-induced amenorrhoea is
   unreliable); the note asks to confirm 12 months of amenorrhoea, which NCCN also requires and coded
   data rarely hold; estradiol above or FSH below the range -> premenopausal, or indeterminate on
   tamoxifen/toremifene;
7. under that age on tamoxifen/toremifene without both labs -> indeterminate;
8. an older explicit status, with a note; otherwise unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cds.fhir import models
from cds.profile.common import (
    Conditions,
    Context,
    Observations,
    cc_text,
    condition_date,
    evidence,
    observation_date,
    procedure_date,
    ref,
)
from cds.profile.dates import NO_DATE, date_key, to_date
from cds.profile.model import Evidence, Fact, MenopausalStatus, Sex
from cds.profile.values import value_of

E2_PMOL_PER_PG = 3.671
EXPLICIT_RECENT_DAYS = 365
_EXPLICIT_RECENT: Final = timedelta(days=EXPLICIT_RECENT_DAYS)
_FSH_UNITS = frozenset({"iu/l", "[iu]/l", "miu/ml", "m[iu]/ml", "u/l", "mu/ml", "iu/l."})
_PG_UNITS = frozenset({"pg/ml", "ng/l"})
_PMOL_UNITS = frozenset({"pmol/l"})


@dataclass(frozen=True)
class MenopauseThresholds:
    """Settings ``CDS_MENOPAUSE_*``. Defaults: FSH >= 30 IU/L and estradiol <= 20 pg/mL (73 pmol/L), the
    operational cut-off suggested in clinical.md 1.6 (NCCN defers to the local laboratory's
    postmenopausal range; AZURE used FSH > 26 IU/L and E2 < 50 pmol/L); age 60 (NCCN)."""

    fsh_min_iu_l: float = 30.0
    estradiol_max_pg_ml: float = 20.0
    age_years: int = 60


class _Lab:
    __slots__ = ("comparator", "evidence", "value", "when")

    def __init__(self, value: float, comparator: str | None, when: str | None, evidence: Evidence) -> None:
        self.value = value  # FSH in IU/L, estradiol in pg/mL
        self.comparator = comparator
        self.when = when
        self.evidence = evidence


def _explicit(
    observations: Observations, conditions: Conditions, ctx: Context
) -> list[tuple[str | None, str, Evidence]]:
    out: list[tuple[str | None, str, Evidence]] = []
    meno = ctx.codes("menopause")
    for obs in observations.coded("menopause"):
        code = obs.code
        hit = ctx.match("menopause", code)
        if hit is None:
            continue
        when = observation_date(obs)
        value = hit.value
        if value == "observable":
            val = value_of(obs)
            got = (
                ctx.match("menopause", val.cc)
                if val.cc is not None
                else (meno.match_text(val.text) if val.text else None)
            )
            value = got.value if got is not None else None
            shown = ctx.describe(val.cc) if val.cc is not None else (val.text or "")
        else:
            boolean = obs.valueBoolean
            if boolean is False:
                continue
            shown = ctx.describe(code)
        if value in ("premenopausal", "postmenopausal", "perimenopausal"):
            out.append((when, value, evidence(obs, when, f"Menopausal status: {shown}")))
    for cond in conditions.coded("menopause"):
        hit = ctx.match("menopause", cond.code)
        if hit is not None and hit.value in ("premenopausal", "postmenopausal", "perimenopausal"):
            when = condition_date(cond)
            out.append((when, hit.value, evidence(cond, when, f"Menopausal status: {ctx.label(cond.code)}")))
    return out


def _oophorectomy(
    procedures: Sequence[models.Procedure], conditions: Conditions, ctx: Context
) -> list[Evidence]:
    found: list[Evidence] = []
    for proc in procedures:
        if proc.status.lower() != "completed":  # not planned, on hold, in progress or not done (review 31)
            continue
        code = proc.code
        hit = ctx.match("oophorectomy", code)
        if hit is None:
            continue
        when = procedure_date(proc)
        if _denies_removal(ctx, code):  # coded, but its text says the ovaries stayed (review 32)
            _not_removed(ctx, proc, when, code)
            continue
        if hit.value == "bilateral":
            found.append(evidence(proc, when, f"Bilateral oophorectomy: {ctx.label(code)}"))
        else:
            ctx.issue(
                "menopausal_status",
                "ignored",
                f"{ref(proc)}: oophorectomy without 'bilateral' was not counted as surgical menopause.",
                evidence(proc, when, ctx.label(code)),
            )
    for cond in conditions.coded("oophorectomy"):
        code = cond.code
        hit = ctx.match("oophorectomy", code)
        if hit is None or hit.value != "bilateral":
            continue
        when = condition_date(cond)
        if _denies_removal(ctx, code):  # Z90.722 with "ovaries conserved" (review 33)
            _not_removed(ctx, cond, when, code)
            continue
        found.append(evidence(cond, when, f"Bilateral oophorectomy: {ctx.label(code)}"))
    return found


def _not_removed(
    ctx: Context,
    record: models.Procedure | models.Condition,
    when: str | None,
    code: models.CodeableConcept | None,
) -> None:
    ctx.issue(
        "menopausal_status",
        "ignored",
        f"{ref(record)}: its text says the ovaries were not removed ({cc_text(code)}): not counted as "
        "surgical menopause.",
        evidence(record, when, ctx.label(code)),
    )


def _denies_removal(ctx: Context, code: models.CodeableConcept | None) -> bool:
    """The concept's text holds one of the oophorectomy list's phrases that say the ovaries were not
    removed ("BSO deferred, ovaries conserved"), whatever its code."""
    text = cc_text(code)
    return text is not None and ctx.codes("oophorectomy").excludes(text)


def _labs(observations: Observations, ctx: Context) -> tuple[_Lab | None, _Lab | None]:
    fsh: list[_Lab] = []
    e2: list[_Lab] = []
    for obs in observations.coded("menopause-labs"):
        code = obs.code
        hit = ctx.match("menopause-labs", code)
        if hit is None:
            continue
        when = observation_date(obs)
        q = value_of(obs).quantity
        if q is None:
            ctx.issue(
                "menopausal_status",
                "unreadable",
                f"{ref(obs)}: {ctx.describe(code)} has no numeric value.",
                evidence(obs, when, ctx.describe(code)),
            )
            continue
        unit = q.unit.replace(" ", "")
        if hit.value == "fsh":
            if unit and unit not in _FSH_UNITS:
                _bad_unit(ctx, obs, when, "FSH", q.unit)
                continue
            fsh.append(_Lab(q.value, q.comparator, when, evidence(obs, when, f"FSH {q.value:g} IU/L")))
        else:
            if unit in _PMOL_UNITS or (not unit and hit.value == "estradiol_molar"):
                value = q.value / E2_PMOL_PER_PG
            elif unit in _PG_UNITS or (not unit and hit.value == "estradiol_mass"):
                value = q.value
            elif unit == "ng/dl":
                value = q.value * 10
            elif unit == "ng/ml":
                value = q.value * 1000
            else:
                _bad_unit(ctx, obs, when, "Estradiol", q.unit)
                continue
            shown = (
                f"estradiol {q.value:g} {q.unit or ('pmol/L' if hit.value == 'estradiol_molar' else 'pg/mL')}"
            )
            e2.append(_Lab(round(value, 1), q.comparator, when, evidence(obs, when, shown)))
    return _latest(fsh), _latest(e2)


def _latest(labs: list[_Lab]) -> _Lab | None:
    """The most recent lab (the first of those on that date), as ``max(labs, key=date)`` would give
    it: a loop, since max() with a key parses its arguments into a tuple and a dict on each call."""
    found: _Lab | None = None
    found_key = NO_DATE
    for lab in labs:
        key = date_key(lab.when)
        if found is None or key > found_key:
            found, found_key = lab, key
    return found


def _bad_unit(ctx: Context, obs: models.Observation, when: str | None, what: str, unit: str) -> None:
    ctx.issue(
        "menopausal_status",
        "unreadable",
        f"{ref(obs)}: {what} unit '{unit or 'none'}' is not one the service can convert; "
        "the value was not used.",
        evidence(obs, when, f"{what} in {unit or 'no unit'}"),
    )


def derive_menopause(
    *,
    age: int | None,
    sex: Sex,
    observations: Observations,
    conditions: Conditions,
    procedures: Sequence[models.Procedure],
    ofs_current: Sequence[Evidence],
    serm_current: Sequence[Evidence],
    thresholds: MenopauseThresholds,
    ctx: Context,
    chemotherapy_recent: Sequence[Evidence],
) -> Fact[MenopausalStatus]:
    explicit = sorted(_explicit(observations, conditions, ctx), key=lambda e: date_key(e[0]), reverse=True)
    latest_explicit = explicit[0] if explicit else None
    ooph = _oophorectomy(procedures, conditions, ctx) if sex != "male" else []
    if ooph:  # surgical menopause is permanent: a "premenopausal" entry beside it is out of date or wrong
        if latest_explicit is not None and latest_explicit[1] != "postmenopausal":
            when, stated, recorded = latest_explicit
            ctx.issue(
                "menopausal_status",
                "conflicting",
                f"Recorded as {stated} on {when or 'an undated record'}, but a bilateral oophorectomy is "
                "recorded: read as postmenopausal.",
                recorded,
                ooph[0],
            )
        return Fact("postmenopausal", tuple(ooph), "bilateral oophorectomy")
    if latest_explicit is not None:
        when_d = to_date(latest_explicit[0])
        if when_d is not None and ctx.today - when_d <= _EXPLICIT_RECENT:
            return _explicit_fact(latest_explicit, recent=True)
    if sex == "male":
        return Fact("unknown", (), "Not applicable: male patient.")
    limit = thresholds.age_years
    if age is not None and age >= limit:
        return Fact("postmenopausal", (), f"age {age} ≥ {limit}")
    if age is None:
        if latest_explicit is not None:
            return _explicit_fact(latest_explicit, recent=False)
        return Fact("unknown", (), "age unknown")
    if ofs_current:
        return Fact(
            "indeterminate",
            tuple(ofs_current),
            f"age {age} < {limit} on ovarian suppression: status cannot be assigned on an LHRH agonist",
        )
    fsh, e2 = _labs(observations, ctx)
    on_serm = bool(serm_current)
    if fsh is not None and e2 is not None:
        post_fsh = fsh.value >= thresholds.fsh_min_iu_l and fsh.comparator not in ("<", "<=")
        post_e2 = e2.value <= thresholds.estradiol_max_pg_ml and e2.comparator not in (">", ">=")
        labs_text = (
            f"FSH {fsh.value:g} IU/L ({fsh.when or 'undated'}) and "
            f"estradiol {e2.value:g} pg/mL ({e2.when or 'undated'})"
        )
        ev = (fsh.evidence, e2.evidence, *serm_current)
        if post_fsh and post_e2 and chemotherapy_recent:
            return Fact(
                "indeterminate",
                (*ev, *chemotherapy_recent),
                f"age {age} < {limit}; {labs_text} in the postmenopausal range, but after chemotherapy in "
                "the last year, when amenorrhoea is unreliable (NCCN): repeat FSH and estradiol, or "
                "ovarian suppression, before an aromatase inhibitor",
            )
        if post_fsh and post_e2:
            return Fact(
                "postmenopausal",
                ev,
                f"age {age} < {limit}; {labs_text} in the postmenopausal range; NCCN also asks for 12 "
                "months of amenorrhoea without chemotherapy, tamoxifen or ovarian suppression: confirm",
            )
        if on_serm:
            return Fact(
                "indeterminate",
                ev,
                f"age {age} < {limit} on tamoxifen/toremifene; {labs_text} not in the postmenopausal range",
            )
        return Fact("premenopausal", ev, f"age {age} < {limit}; {labs_text} not in the postmenopausal range")
    if not on_serm:
        premeno = (fsh is not None and fsh.value < thresholds.fsh_min_iu_l) or (
            e2 is not None and e2.value > thresholds.estradiol_max_pg_ml
        )
        if premeno:
            lab = fsh if fsh is not None else e2
            assert lab is not None  # noqa: S101
            return Fact(
                "premenopausal",
                (lab.evidence,),
                f"age {age} < {limit}; {lab.evidence.text} in the premenopausal range",
            )
    if on_serm:
        return Fact(
            "indeterminate",
            tuple(serm_current),
            f"age {age} < {limit} on tamoxifen/toremifene without FSH and estradiol "
            "in the postmenopausal range",
        )
    if latest_explicit is not None:
        return _explicit_fact(latest_explicit, recent=False)
    return Fact("unknown", (), f"age {age} < {limit} and no FSH/estradiol results")


def _explicit_fact(item: tuple[str | None, str, Evidence], *, recent: bool) -> Fact[MenopausalStatus]:
    when, value, ev = item
    status: MenopausalStatus = "postmenopausal" if value == "postmenopausal" else "premenopausal"
    note = f"recorded as {value} on {when or 'an undated record'}"
    if value == "perimenopausal":
        note += " (perimenopausal is treated as premenopausal)"
    if not recent:
        note += " (more than a year ago; no newer information)"
    return Fact(status, (ev,), note)
