"""ER, PR, hormone-receptor status, HER2 (IHC, ISH, status, HER2-low) and subtype.

Readings come from Observations (coded answers, v3 interpretation with any system, percentages in
valueQuantity or components, free-text values such as "Positive (>10%)", "2+", "Score 3+") and from
receptor-status Conditions (SNOMED disorders, ICD-10-CM Z17.x), dated by effective / onset / recorded
date.

* ER/PR (ASCO/CAP 2020): < 1 % negative, 1-10 % low_positive, > 10 % positive; a coded positive without
  a percentage is "positive". The most recent date wins; disagreement on that date gives
  "conflicting" plus a DataIssue; an earlier different result is mentioned in ``Fact.note``.
* hormone_receptor_status: positive if ER or PR is positive/low_positive; negative if both are
  negative; conflicting if either conflicts (and none is positive); otherwise an HR-level record
  (Z17.41x, 417181009, ER+PR test) decides; else unknown. Unknown is never read as negative.
* HER2 (ASCO/CAP 2018/2023): positive = IHC 3+ or ISH amplified; negative = IHC 0/1+, or 2+ with ISH not
  amplified, or a coded negative without a score (IHC then "unknown"); equivocal = 2+ without ISH.
  The most recent test date decides; a reflex ISH dated after the IHC is paired with the latest IHC
  before it. her2_low: yes = 1+ or 2+/ISH not amplified; no = 0 or HER2-positive; else unknown.
* subtype from HR and HER2, "unknown" unless both are known and neither conflicting/equivocal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cds.profile.common import (
    Coded,
    Context,
    Value,
    components,
    condition_date,
    evidence,
    interpretations,
    observation_date,
    ref,
    value_of,
)
from cds.profile.dates import date_key
from cds.profile.model import (
    Evidence,
    Fact,
    Her2Ihc,
    Her2Ish,
    Her2Status,
    HormoneReceptorStatus,
    ReceptorStatus,
    Subtype,
    YesNoUnknown,
)

_PERCENT_UNITS = frozenset({"%", "percent", "pct", "/100", "{cells}/100", "% cells", "%{cells}"})
_PCT_RE = re.compile(r"(<=|>=|<|>|≤|≥)?\s*(\d{1,3}(?:[.,]\d+)?)\s*%")
_SCORE_RE = re.compile(r"(?:^|[^0-9])([0-3])\s*\+")
_SCORE_WORD_RE = re.compile(r"(?:score|ihc|grade)\s*[:=]?\s*([0-3])(?![0-9.,%])")
_SCORE_PAREN_RE = re.compile(r"\(\s*([0-3])\s*\)")
_ISH_RATIO_RE = re.compile(r"(?:ratio|/cep17)[^0-9]{0,12}(\d+(?:[.,]\d+)?)")
_SEER = {"000": "0", "010": "1+", "020": "2+", "030": "3+"}


class Reading:
    __slots__ = ("detail", "evidence", "key", "marker", "value", "when")

    def __init__(
        self, marker: str, value: str, when: str | None, evidence: Evidence, detail: str = ""
    ) -> None:
        self.marker = marker  # er | pr | hr | ihc | ish | her2 (generic status)
        self.value = value
        self.when = when
        self.key = date_key(when)  # once: readings are sorted and grouped by date several times
        self.evidence = evidence
        self.detail = detail

    def __eq__(self, other: object) -> bool:
        # field by field, as the dataclass it was compared (``r not in group``)
        if not isinstance(other, Reading):
            return NotImplemented
        return (self.marker, self.value, self.when, self.evidence, self.detail) == (
            other.marker,
            other.value,
            other.when,
            other.evidence,
            other.detail,
        )

    def __hash__(self) -> int:
        return hash((self.marker, self.value, self.when, self.evidence, self.detail))


class ReceptorFacts:
    __slots__ = (
        "er_status",
        "her2_ihc",
        "her2_ish",
        "her2_low",
        "her2_status",
        "hormone_receptor_status",
        "pr_status",
        "subtype",
    )

    def __init__(
        self,
        er_status: Fact[ReceptorStatus],
        pr_status: Fact[ReceptorStatus],
        hormone_receptor_status: Fact[HormoneReceptorStatus],
        her2_status: Fact[Her2Status],
        her2_ihc: Fact[Her2Ihc],
        her2_ish: Fact[Her2Ish],
        her2_low: Fact[YesNoUnknown],
        subtype: Fact[Subtype],
    ) -> None:
        self.er_status = er_status
        self.pr_status = pr_status
        self.hormone_receptor_status = hormone_receptor_status
        self.her2_status = her2_status
        self.her2_ihc = her2_ihc
        self.her2_ish = her2_ish
        self.her2_low = her2_low
        self.subtype = subtype


# --- value readers ---------------------------------------------------------------------------------


def percent_status(pct: float, comparator: str | None = None) -> str:
    if comparator in ("<", "<=", "≤") and pct <= 1:
        return "negative"
    if comparator in (">", ">=", "≥") and pct >= 10:
        return "positive"
    if pct < 1:
        return "negative"
    if pct <= 10:
        return "low_positive"
    return "positive"


def _is_percent(unit: str) -> bool:
    return unit in _PERCENT_UNITS or unit.startswith("%")


def receptor_value(ctx: Context, val: Value, *, percent_test: bool) -> tuple[str, str] | None:
    """(positive|low_positive|negative, how) for one ER/PR value, or None."""
    q = val.quantity
    if q is not None and (percent_test or _is_percent(q.unit)) and 0 <= q.value <= 100:
        return percent_status(q.value, q.comparator), f"{q.value:g}%"
    text = val.text
    if text:
        found = _PCT_RE.search(text)
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None and hit_text.value == "low_positive":
            return "low_positive", text
        if found is not None:
            try:
                pct = float(found.group(2).replace(",", "."))
            except ValueError:
                pct = -1.0
            if 0 <= pct <= 100:
                return percent_status(pct, found.group(1)), text
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None and hit.value in ("positive", "negative", "detected", "not_detected"):
            return ("positive" if hit.value in ("positive", "detected") else "negative"), hit.display
    displays = [d for _, _, d in ctx.codings(val.cc)] if val.cc is not None else []
    for shown in (text, *displays):
        hit_text = ctx.codes("result-values").match_text(shown)
        if (
            shown
            and hit_text is not None
            and hit_text.value in ("positive", "negative", "detected", "not_detected")
        ):
            return ("positive" if hit_text.value in ("positive", "detected") else "negative"), shown
    return None


def interpretation_value(ctx: Context, obs: Any) -> tuple[str | None, str]:
    """(positive|negative|ambiguous|None, display) from Observation.interpretation (any system)."""
    for interp in interpretations(obs):
        hit = ctx.match("result-values", interp)
        if hit is not None and hit.value in ("positive", "negative", "ambiguous", "detected", "not_detected"):
            v = {"detected": "positive", "not_detected": "negative"}.get(hit.value, hit.value)
            return v, ctx.describe(interp)
    return None, ""


def ihc_score(ctx: Context, val: Value) -> str | None:
    if val.cc is not None:
        hit = ctx.match("her2-ihc-values", val.cc, by_text=False)
        if hit is not None and hit.value:
            return hit.value
        for _, code, display in ctx.codings(val.cc):
            got = _score_text(code) or _score_text(display)
            if got:
                return got
    if val.quantity is not None and not val.quantity.unit and val.quantity.value in (0.0, 1.0, 2.0, 3.0):
        return ["0", "1+", "2+", "3+"][int(val.quantity.value)]
    return _score_text(val.text)


def _score_text(text: str | None) -> str | None:
    if not text:
        return None
    low = text.strip().lower()
    if low in _SEER:
        return _SEER[low]
    if low in ("0", "1+", "2+", "3+"):
        return low
    found = _SCORE_RE.search(low)
    if found is not None:
        return "0" if found.group(1) == "0" else f"{found.group(1)}+"
    found = _SCORE_WORD_RE.search(low) or _SCORE_PAREN_RE.search(low)
    if found is not None:
        return "0" if found.group(1) == "0" else f"{found.group(1)}+"
    return None


def ish_value(ctx: Context, val: Value, *, kind: str) -> tuple[str, str] | None:
    """(amplified|not_amplified|equivocal, how) from an ISH value (ratio, copies, coded, text)."""
    number = val.ratio
    comparator = None
    if number is None and val.quantity is not None and not _is_percent(val.quantity.unit):
        number, comparator = val.quantity.value, val.quantity.comparator
    if number is not None:
        cut = 6.0 if kind == "copies" else 2.0
        shown = f"{comparator or ''}{number:g}" + (" copies/cell" if kind == "copies" else "")
        if comparator in ("<", "<="):  # Synthea: "< 1.8"
            return ("not_amplified", f"ratio {shown}") if number <= cut else None
        if comparator in (">", ">="):  # Synthea: "> 2.2"
            return ("amplified", f"ratio {shown}") if number >= cut else None
        if kind == "copies":
            verdict = "amplified" if number >= 6 else ("not_amplified" if number < 4 else "equivocal")
            return verdict, shown
        return ("amplified" if number >= 2.0 else "not_amplified"), f"ratio {shown}"
    texts = [val.text] if val.text else []
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None:
            mapped = _ISH_MAP.get(hit.value or "")
            if mapped:
                return mapped, hit.display
        texts.extend(d for _, _, d in ctx.codings(val.cc) if d)
    for text in texts:
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None:
            mapped = _ISH_MAP.get(hit_text.value or "")
            if mapped:
                return mapped, text
        found = _ISH_RATIO_RE.search(text.lower())
        if found is not None:
            ratio = float(found.group(1).replace(",", "."))
            return ("amplified" if ratio >= 2.0 else "not_amplified"), text
    return None


_ISH_MAP = {
    "amplified": "amplified",
    "positive": "amplified",
    "detected": "amplified",
    "not_amplified": "not_amplified",
    "negative": "not_amplified",
    "not_detected": "not_amplified",
    "equivocal": "equivocal",
}


def her2_generic(ctx: Context, val: Value) -> tuple[str, str] | None:
    """(positive|negative|equivocal|low|ultralow, how) from a HER2 status value."""
    sources: list[tuple[Any, str | None]] = []
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None and hit.value in _HER2_GENERIC:
            return _HER2_GENERIC[hit.value], hit.display
        sources.extend((None, d) for _, _, d in ctx.codings(val.cc) if d)
    if val.text:
        sources.insert(0, (None, val.text))
    for _, text in sources:
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None and hit_text.value in _HER2_GENERIC:
            return _HER2_GENERIC[hit_text.value], text or ""
    return None


_HER2_GENERIC = {
    "positive": "positive",
    "negative": "negative",
    "equivocal": "equivocal",
    "low": "low",
    "ultralow": "ultralow",
    "amplified": "positive",
    "not_amplified": "negative",
    "detected": "positive",
    "not_detected": "negative",
    "low_positive": "low",
}


# --- reading collection ------------------------------------------------------------------------------


_TESTS = ("er-tests", "pr-tests", "her2-ish-tests", "her2-ihc-tests")


def _classify(ctx: Context, cc: Any) -> tuple[str, str] | None:
    """("er"|"pr"|"erpr"|"ihc"|"her2"|"ish", sub-kind) for a test code, or None."""
    er = ctx.match("er-tests", cc, by_text=False)
    if er is not None:
        return ("erpr" if er.value == "both" else "er"), er.value or "status"
    pr = ctx.match("pr-tests", cc, by_text=False)
    if pr is not None:
        return "pr", pr.value or "status"
    ish = ctx.match("her2-ish-tests", cc, by_text=False)
    if ish is not None:
        return "ish", ish.value or "ish"
    ihc = ctx.match("her2-ihc-tests", cc, by_text=False)
    if ihc is not None:
        return ("ihc" if ihc.value == "ihc" else "her2"), ihc.value or "status"
    # text fallback (local codes): HER2 first, because "HER2 ... receptor" texts exist
    her2_text = ctx.match("her2-ihc-tests", cc)
    if her2_text is not None:
        ish_text = ctx.match("her2-ish-tests", cc)
        if ish_text is not None:
            return "ish", ish_text.value or "ish"
        lowered = ctx.describe(cc).lower()
        return ("ihc" if "ihc" in lowered or "immun" in lowered else "her2"), "status"
    pr_text = ctx.match("pr-tests", cc)
    if pr_text is not None:
        return "pr", pr_text.value or "status"
    er_text = ctx.match("er-tests", cc)
    if er_text is not None:
        return ("erpr" if er_text.value == "both" else "er"), er_text.value or "status"
    return None


class _Readings:
    """The readings of one Observation, each with its evidence.

    A class, not a closure over the list: compiled (mypyc), a closure that is also a local variable
    makes a reference cycle, and every call then left its Observations for the cyclic collector.
    """

    def __init__(self, obs: Any, when: str | None, name: str) -> None:
        self.obs = obs
        self.when = when
        self.name = name
        self.out: list[Reading] = []

    def add(self, marker: str, value: str, how: str) -> None:
        evidence_ = evidence(self.obs, self.when, f"{self.name}: {how}")
        self.out.append(Reading(marker, value, self.when, evidence_, how))


def _obs_readings(ctx: Context, obs: Any) -> list[Reading]:
    code = getattr(obs, "code", None)
    kind = _classify(ctx, code)
    # components (MII: % cells and intensity as components; panels with ER and PR components)
    comp_status: dict[str, tuple[str, str]] = {}
    for comp in components(obs):
        ckind = _classify(ctx, getattr(comp, "code", None))
        if ckind is None:
            continue
        marker, sub = ckind
        if marker in ("er", "pr") and sub != "intensity":
            got = receptor_value(ctx, value_of(comp), percent_test=sub == "percent")
            if got is not None:
                comp_status[marker] = got
    if kind is None and not comp_status:
        return []  # not a receptor result
    when = observation_date(obs)
    name = ctx.label(code)
    readings = _Readings(obs, when, name)
    out = readings.out
    val = value_of(obs)

    if kind is None:
        for marker, (value, how) in comp_status.items():
            readings.add(marker, value, how)
        return out
    marker, sub = kind
    if marker in ("er", "pr"):
        if sub == "intensity":
            return out
        got = receptor_value(ctx, val, percent_test=sub == "percent")
        component = comp_status.get(marker)
        if component is not None:
            got = component  # a percentage is the most specific result
        if got is None:
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                got = (interp, f"interpretation {how}")
            elif interp == "ambiguous":
                ctx.issue(
                    "er_status" if marker == "er" else "pr_status",
                    "unreadable",
                    f"{ref(obs)}: interpretation '{how}' is ambiguous for a receptor result "
                    "and was not used.",
                    evidence(obs, when, f"{name}: interpretation {how}"),
                )
                return out
        if got is None:
            _unreadable(ctx, obs, when, "er_status" if marker == "er" else "pr_status", name, val)
            return out
        readings.add(marker, got[0], got[1])
        for other, (value, how) in comp_status.items():
            if other != marker:
                readings.add(other, value, how)
    elif marker == "erpr":
        got = receptor_value(ctx, val, percent_test=False)
        if got is None:
            interp, how = interpretation_value(ctx, obs)
            got = (interp, f"interpretation {how}") if interp in ("positive", "negative") else None
        if got is None:
            _unreadable(ctx, obs, when, "hormone_receptor_status", name, val)
        elif got[0] == "negative":
            readings.add("er", "negative", got[1] + " (ER+PR test)")
            readings.add("pr", "negative", got[1] + " (ER+PR test)")
        else:
            readings.add("hr", "positive", got[1] + " (ER+PR test)")
    elif marker == "ish":
        got_ish = ish_value(ctx, val, kind=sub)
        if got_ish is None:
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                got_ish = ("amplified" if interp == "positive" else "not_amplified", f"interpretation {how}")
        if got_ish is None:
            _unreadable(ctx, obs, when, "her2_ish", name, val)
        else:
            readings.add("ish", got_ish[0], got_ish[1])
    else:  # ihc or generic HER2
        score = ihc_score(ctx, val)
        if score is not None:
            readings.add("ihc", score, f"IHC {score}")
            return out
        generic = her2_generic(ctx, val)
        if generic is None:
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                generic = (interp, f"interpretation {how}")
        if generic is None:
            _unreadable(ctx, obs, when, "her2_status", name, val)
        else:
            readings.add("her2", generic[0], generic[1])
    return out


def _unreadable(ctx: Context, obs: Any, when: str | None, topic: str, name: str, val: Value) -> None:
    shown = val.text or (ctx.describe(val.cc) if val.cc is not None else None)
    if shown is None and val.quantity is not None:
        shown = f"{val.quantity.value:g} {val.quantity.unit}".strip()
    ctx.issue(
        topic,
        "unreadable",
        f"{ref(obs)}: the result of {name} could not be read ({shown or 'no value'}).",
        evidence(obs, when, f"{name}: {shown or 'no value'}"),
    )


def collect(conditions: Coded, observations: Coded, ctx: Context) -> list[Reading]:
    readings: list[Reading] = []
    for obs in observations.coded_in(_TESTS, in_components=True):  # panels: ER and PR as components
        readings.extend(_obs_readings(ctx, obs))
    for cond in conditions.coded("receptor-conditions"):
        code = getattr(cond, "code", None)
        hit = ctx.match("receptor-conditions", code)
        if hit is None:
            continue
        when = condition_date(cond)
        for marker, value in hit.facts.items():
            readings.append(Reading(marker, value, when, evidence(cond, when, ctx.label(code)), "condition"))
    return readings


# --- decisions -------------------------------------------------------------------------------------


def _latest(readings: Sequence[Reading]) -> tuple[list[Reading], list[Reading]]:
    """(readings on the most recent date, earlier readings newest first)."""
    ordered = sorted(readings, key=lambda r: r.key, reverse=True)
    top = ordered[0].key
    return [r for r in ordered if r.key == top], [r for r in ordered if r.key != top]


def receptor_status(readings: Sequence[Reading], marker: str, ctx: Context) -> Fact[ReceptorStatus]:
    mine = [r for r in readings if r.marker == marker]
    if not mine:
        return Fact("unknown")
    name = "ER" if marker == "er" else "PR"
    group, earlier = _latest(mine)
    values = {r.value for r in group}
    note: str | None = None
    if values == {"positive", "low_positive"}:
        values = {"low_positive"}
        note = (
            f"{name} reported both positive and 1-10 % on the same date; "
            "the percentage (low positive) was used."
        )
    if len(values) > 1:
        ctx.issue(
            f"{marker}_status",
            "conflicting",
            f"{name} results on {group[0].when or 'the same (undated) record'} disagree: "
            + "; ".join(f"{r.evidence.reference} {r.value}" for r in group)
            + ".",
            *(r.evidence for r in group),
        )
        return Fact(
            "conflicting", tuple(r.evidence for r in group), f"{name} results on the same date disagree."
        )
    value = next(iter(values))
    if all(r.detail == "condition" for r in group):
        # A status Condition (Z17.0, 416053008) is a summary, often recorded at a later visit: when the
        # latest test result agrees with it, that result gives the detail (ER-low vs positive).
        tests = [r for r in earlier if r.detail != "condition"]
        if tests and _family(tests[0].value) == _family(value) and tests[0].value != value:
            detail = tests[0]
            note = (
                f"{name} recorded as {value} ({group[0].evidence.reference}); the test result "
                f"{detail.value} ({detail.evidence.reference}, {detail.when or 'undated'}) gives the detail."
            )
            group = [detail, *group]
            value = detail.value
    changed = [r for r in earlier if r not in group and _receptor_family(r.value) != _receptor_family(value)]
    if changed:
        prev = changed[0]
        note = (
            f"Earlier {name} result {prev.value} ({prev.evidence.reference}, {prev.when or 'undated'}); "
            f"the most recent ({group[0].when or 'undated'}) was used."
        )
    status: ReceptorStatus = (
        "positive" if value == "positive" else "low_positive" if value == "low_positive" else "negative"
    )
    return Fact(status, tuple(r.evidence for r in group) + tuple(r.evidence for r in earlier[:2]), note)


def _receptor_family(value: str) -> str:
    return "negative" if value == "negative" else value


def _family(value: str) -> str:
    return "negative" if value == "negative" else "positive"


def hormone_status(
    er: Fact[ReceptorStatus], pr: Fact[ReceptorStatus], readings: Sequence[Reading]
) -> Fact[HormoneReceptorStatus]:
    positive = ("positive", "low_positive")
    ev = er.evidence + pr.evidence
    if er.value in positive or pr.value in positive:
        which = [n for n, f in (("ER", er), ("PR", pr)) if f.value in positive]
        return Fact("positive", ev, f"{' and '.join(which)} positive")
    if er.value == "negative" and pr.value == "negative":
        return Fact("negative", ev, "ER and PR negative")
    if "conflicting" in (er.value, pr.value):
        return Fact("conflicting", ev, "ER or PR results conflict")
    hr = [r for r in readings if r.marker == "hr"]
    if hr:
        group, _ = _latest(hr)
        return Fact("positive", tuple(r.evidence for r in group), "recorded as hormone receptor positive")
    if er.value == "negative" or pr.value == "negative":
        return Fact("unknown", ev, "one receptor is negative and the other is unknown")
    return Fact("unknown")


def _implied(r: Reading) -> str:
    if r.marker == "ihc":
        return {"3+": "positive", "2+": "equivocal"}.get(r.value, "negative")
    if r.marker == "ish":
        return {"amplified": "positive", "not_amplified": "negative"}.get(r.value, "equivocal")
    return {"low": "negative", "ultralow": "negative"}.get(r.value, r.value)


def her2(
    readings: Sequence[Reading], ctx: Context
) -> tuple[Fact[Her2Status], Fact[Her2Ihc], Fact[Her2Ish], Fact[YesNoUnknown]]:
    mine = [r for r in readings if r.marker in ("ihc", "ish", "her2")]
    if not mine:
        return Fact("unknown"), Fact("unknown"), Fact("unknown"), Fact("unknown")
    group, earlier = _latest(mine)
    if all(r.marker == "her2" and r.detail == "condition" for r in group):
        # a later status Condition (Z17.32) that agrees with the latest tests keeps their detail (HER2-low)
        tests = [r for r in earlier if r.marker in ("ihc", "ish")]
        implied = {_implied(r) for r in group}
        if tests and len(implied) == 1:
            sub = her2(tests, Context(ctx.terminology, ctx.today))
            if sub[0].value in implied:
                summary = (
                    f"HER2 recorded as {group[0].value} ({group[0].evidence.reference}); "
                    "the test results give the detail."
                )
                return Fact(sub[0].value, sub[0].evidence + tuple(r.evidence for r in group), summary), *sub[
                    1:
                ]
    ihcs = [r for r in group if r.marker == "ihc"]
    ishs = [r for r in group if r.marker == "ish"]
    generic = [r for r in group if r.marker == "her2"]
    note_parts: list[str] = []
    if ishs and not ihcs:
        prior = [r for r in earlier if r.marker == "ihc"]
        if prior:
            partner = [r for r in prior if r.key == prior[0].key]
            ihcs = partner
            note_parts.append(
                f"ISH ({ishs[0].when or 'undated'}) paired with the IHC of {prior[0].when or 'undated'}"
            )
    conflicts: list[Reading] = []
    ihc_vals = {r.value for r in ihcs}
    ish_vals = {r.value for r in ishs}
    if len(ihc_vals) > 1:
        conflicts.extend(ihcs)
    if len(ish_vals) > 1:
        conflicts.extend(ishs)
    ihc: Her2Ihc = _as_ihc(next(iter(ihc_vals))) if len(ihc_vals) == 1 else "unknown"
    ish: Her2Ish = _as_ish(next(iter(ish_vals))) if len(ish_vals) == 1 else "unknown"
    status: Her2Status
    if ihc == "3+" or ish == "amplified":
        status = "positive"
    elif ihc in ("0", "1+"):
        status = "negative"
    elif ihc == "2+":
        status = "negative" if ish == "not_amplified" else "equivocal"
    elif ish == "not_amplified":
        status = "negative"
    elif ish == "equivocal":
        status = "equivocal"
    else:
        status = "unknown"
    low: YesNoUnknown = "unknown"
    gen_vals = {r.value for r in generic}
    if status == "unknown" and gen_vals:
        implied = {_implied(r) for r in generic}
        if len(implied) > 1:
            conflicts.extend(generic)
        else:
            only = next(iter(implied))
            status = only if only in ("positive", "negative", "equivocal") else "unknown"  # type: ignore[assignment]
    elif gen_vals and status in ("positive", "negative"):
        clash = [r for r in generic if _implied(r) in ("positive", "negative") and _implied(r) != status]
        if clash:
            conflicts.extend(clash + ihcs + ishs)
    if conflicts:
        ctx.issue(
            "her2_status",
            "conflicting",
            "HER2 results on the most recent date disagree: "
            + "; ".join(f"{r.evidence.reference} {r.marker} {r.value}" for r in conflicts)
            + ".",
            *(r.evidence for r in conflicts),
        )
        ev = tuple(r.evidence for r in group)
        return (
            Fact("conflicting", ev, "HER2 results on the same date disagree."),
            Fact(ihc if len(ihc_vals) == 1 else "unknown", tuple(r.evidence for r in ihcs)),
            Fact(ish if len(ish_vals) == 1 else "unknown", tuple(r.evidence for r in ishs)),
            Fact("unknown", ev, "HER2 results conflict."),
        )
    if ihc == "1+" or (ihc == "2+" and ish == "not_amplified") or (ihc == "unknown" and "low" in gen_vals):
        low = "yes"
    elif ihc == "0" or status == "positive" or (ihc == "unknown" and "ultralow" in gen_vals):
        low = "no"
    if ish == "unknown" and ihc == "2+":
        older_ish = [r for r in earlier if r.marker == "ish"]
        if older_ish:
            note_parts.append(
                f"an earlier ISH ({older_ish[0].evidence.reference}, {older_ish[0].when or 'undated'}) "
                "predates the most recent IHC and was not paired with it"
            )
    used = ihcs + ishs + generic
    changed = [
        r
        for r in earlier
        if r not in used and _implied(r) in ("positive", "negative") and _implied(r) != status
    ]
    if changed:
        prev = changed[0]
        note_parts.append(
            f"earlier HER2 result {prev.marker} {prev.value} "
            f"({prev.evidence.reference}, {prev.when or 'undated'}); the most recent was used"
        )
    joined = "; ".join(note_parts)
    note = (joined[:1].upper() + joined[1:] + ".") if note_parts else None
    ev_all = tuple(r.evidence for r in used)
    why_low = {
        "yes": "IHC 1+ or IHC 2+ with ISH not amplified",
        "no": "IHC 0 or HER2-positive",
        "unknown": None,
    }[low]
    return (
        Fact(status, ev_all, note),
        Fact(ihc, tuple(r.evidence for r in ihcs)),
        Fact(ish, tuple(r.evidence for r in ishs)),
        Fact(low, ev_all if low != "unknown" else (), why_low),
    )


def _as_ihc(value: str) -> Her2Ihc:
    return value if value in ("0", "1+", "2+", "3+") else "unknown"  # type: ignore[return-value]


def _as_ish(value: str) -> Her2Ish:
    return value if value in ("amplified", "not_amplified", "equivocal") else "unknown"  # type: ignore[return-value]


def subtype(hr: Fact[HormoneReceptorStatus], her2_status: Fact[Her2Status]) -> Fact[Subtype]:
    ev = hr.evidence + her2_status.evidence
    h, e = hr.value, her2_status.value
    if h == "positive" and e == "negative":
        return Fact("hr_positive_her2_negative", ev)
    if h == "positive" and e == "positive":
        return Fact("hr_positive_her2_positive", ev)
    if h == "negative" and e == "positive":
        return Fact("hr_negative_her2_positive", ev)
    if h == "negative" and e == "negative":
        return Fact("triple_negative", ev)
    return Fact("unknown", (), f"hormone receptor status {h}, HER2 {e}")


def derive_receptors(conditions: Coded, observations: Coded, ctx: Context) -> ReceptorFacts:
    readings = collect(conditions, observations, ctx)
    er = receptor_status(readings, "er", ctx)
    pr = receptor_status(readings, "pr", ctx)
    hr = hormone_status(er, pr, readings)
    status, ihc, ish, low = her2(readings, ctx)
    return ReceptorFacts(er, pr, hr, status, ihc, ish, low, subtype(hr, status))
