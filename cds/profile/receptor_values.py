"""Reading one ER/PR value: a percentage (ASCO/CAP 2020 cut-offs), a coded or written answer, an Allred
score or an H-score, and the Observation's interpretation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cds.fhir import models
from cds.profile.common import Context, plain_display
from cds.profile.values import Value, interpretations

_PERCENT_UNITS = frozenset({"%", "percent", "pct", "/100", "{cells}/100", "% cells", "%{cells}"})
# Units that say the number is a score, not a share of cells (UCUM annotations as labs send them).
_SCORE_UNITS = frozenset({"{score}", "score", "{allred}", "{allred score}", "{allred_score}", "{h-score}"})
_PCT_RE = re.compile(
    r"(<=|>=|<|>|≤|≥|less than|fewer than|below|under|greater than|more than|above|over)?\s*"
    r"(\d{1,3}(?:[.,]\d+)?)\s*%",
    re.IGNORECASE,
)
_BELOW: Final = frozenset({"<", "<=", "≤", "less than", "fewer than", "below", "under"})
_ABOVE: Final = frozenset({">", ">=", "≥", "greater than", "more than", "above", "over"})
#: a bound that does not tell ER-negative (<1%) from ER-low (1-10%), e.g. "Negative (<10%)" written to an
#: older 10% cut-off: no status is read from it (the caller reports it)
INDETERMINATE: Final = "indeterminate"
_ALLRED_RE = re.compile(r"allred(?:\s*score)?\s*[:=]?\s*([0-8])(?![0-9.,])(?:\s*/\s*8)?")
_OUT_OF_8_RE = re.compile(r"(?:^|[^0-9.,])([0-8])\s*/\s*8(?![0-9])")
_HSCORE_RE = re.compile(r"(?:h-score|hscore|h score|histoscore)\s*[:=]?\s*(\d{1,3})(?![0-9.,%])")
_HSCORE_WORDS = ("h-score", "hscore", "h score", "histoscore")


def percent_status(pct: float, comparator: str | None = None) -> str:
    """negative, low_positive or positive by ASCO/CAP 2020 (<1%, 1-10%, >10%), or INDETERMINATE for a
    bound such as "<10%" that straddles the 1% cut-off."""
    comparator = comparator.lower() if comparator else None
    if comparator in _BELOW:
        return "negative" if pct <= 1 else INDETERMINATE
    if comparator in _ABOVE and pct >= 10:
        return "positive"
    if pct < 1:
        return "negative"
    if pct <= 10:
        return "low_positive"
    return "positive"


def indeterminate_note(name: str, how: str) -> str:
    return (
        f"{name} '{how}' does not say whether under 1% (negative) or 1-10% (low positive) of nuclei "
        "stained (ASCO/CAP 2020 cut-offs); not read - the percentage of stained nuclei settles it."
    )


def is_percent(unit: str) -> bool:
    return unit in _PERCENT_UNITS or unit.startswith("%")


def to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def receptor_value(ctx: Context, val: Value, *, percent_test: bool) -> tuple[str, str] | None:
    """(positive|low_positive|negative|INDETERMINATE, how) for one ER/PR value, or None."""
    q = val.quantity
    if q is not None and (percent_test or is_percent(q.unit)) and 0 <= q.value <= 100:
        return percent_status(q.value, q.comparator), f"{q.comparator or ''}{q.value:g}%"
    text = val.text
    if text:
        found = _PCT_RE.search(text)
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None and hit_text.value == "low_positive":
            return "low_positive", text
        if found is not None:
            pct = to_number(found.group(2))
            if pct is not None and 0 <= pct <= 100:
                return percent_status(pct, found.group(1)), text
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None and hit.value in ("positive", "negative", "detected", "not_detected"):
            status = "positive" if hit.value in ("positive", "detected") else "negative"
            return status, plain_display(hit.display)
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


class ScoreRead:
    """A receptor result read as a score: its status (None: not decidable; INDETERMINATE: a percentage
    bound beside it straddles 1%, reported by the caller as ``receptor_value``'s is) and why."""

    __slots__ = ("how", "note", "value")

    def __init__(self, value: str | None, how: str, note: str) -> None:
        self.value = value
        self.how = how
        self.note = note


def score_reading(ctx: Context, val: Value, context_texts: Sequence[str], name: str) -> ScoreRead | None:
    """An Allred score (0-8) or H-score (0-300) in this ER/PR value, read as a score; None if neither.

    Allred (Harvey JM, Clark GM, Osborne CK, Allred DC. J Clin Oncol 1999;17:1474-1481): proportion
    score 0-5 (none, <1 %, 1-10 %, 11-33 %, 34-66 %, 67 % or more of nuclei; NAACCR/SEER ER Allred SSDI)
    plus intensity score 0-3. Read against the ASCO/CAP 2020 cut-offs (1 % positive, 1-10 % ER-low): a
    total of 0-2 is negative; 3 or 4 can be a proportion score of 1 (<1 %, negative) as well as 2 or 3,
    so it gives no status (the percentage settles it); 5 is positive, ER-low not excluded (2 + 3); 6-8
    needs a proportion score of 3 or more, i.e. more than 10 %.
    H-score (0-300): no standard cut-off for ER/PR positivity exists, so an H-score alone gives no status;
    a positive/negative answer or percentage reported with it is used. A stated percentage always wins.
    """
    q = val.quantity
    if q is not None and is_percent(q.unit):
        return None  # a share of cells sent as such is read as a percentage, whatever the text says
    texts = [t for t in (val.text, *(d for _, _, d in ctx.codings(val.cc))) if t]
    low_value = " ".join(texts).lower()
    low_all = " ".join([low_value, *(t.lower() for t in context_texts if t)])
    unit = q.unit if q is not None else ""
    kind: str | None = None
    number: float | None = None
    if any(w in low_all for w in _HSCORE_WORDS) or unit == "{h-score}":
        kind = "hscore"
        found = _HSCORE_RE.search(low_value)
        number = q.value if q is not None and not is_percent(unit) else None
        if found is not None:
            number = float(found.group(1))
    elif "allred" in low_all or unit in ("{allred}", "{allred score}", "{allred_score}"):
        found = _ALLRED_RE.search(low_value) or _OUT_OF_8_RE.search(low_value)
        if found is not None:
            kind, number = "allred", float(found.group(1))
        elif q is not None and not is_percent(unit) and 0 <= q.value <= 8:
            kind, number = "allred", q.value
    elif q is not None and unit in _SCORE_UNITS:
        # a "{score}" on a %-of-cells code: 0-8 is an Allred total, larger numbers an H-score
        kind = "allred" if 0 <= q.value <= 8 else "hscore"
        number = q.value
    else:
        found = _OUT_OF_8_RE.search(low_value)
        if found is not None:
            kind, number = "allred", float(found.group(1))
    if kind is None:
        return None
    pct = _PCT_RE.search(low_value)
    if kind == "allred" and number is not None:
        shown = f"Allred score {number:g}/8"
        if pct is not None:
            stated = to_number(pct.group(2))
            if stated is not None and 0 <= stated <= 100:
                status = percent_status(stated, pct.group(1))
                return ScoreRead(status, f"{pct.group(0).strip()} ({shown})", shown)
        if number != int(number):
            return ScoreRead(None, shown, f"{shown} is not a whole number; not read.")
        if number in (3, 4):
            note = (
                f"{name} {shown} can mean fewer than 1% of nuclei stained (proportion score 1: negative "
                "by ASCO/CAP 2020) as well as 1% or more; not read - the percentage of stained nuclei "
                "settles it."
            )
            return ScoreRead(None, shown, note)
        value = "negative" if number <= 2 else "positive"
        note = f"{name} {shown}, read as {value} (Allred 0-2 negative, 5-8 at least 1% of nuclei)"
        if number == 5:
            note += "; the share of stained cells is not given, so low positive (1-10%) cannot be excluded"
        return ScoreRead(value, shown, note)
    if kind == "allred":
        return ScoreRead(None, "Allred score", f"{name}: an Allred score without a readable number.")
    shown = f"H-score {number:g}" if number is not None else "H-score"
    plain = Value(val.cc, val.text, None, val.boolean)  # the answer or percentage beside the score
    got = receptor_value(ctx, plain, percent_test=False) if not plain.empty else None
    if got is not None:
        note = f"{name} {shown} reported with '{got[1]}'; the status comes from that answer"
        return ScoreRead(got[0], f"{got[1]} ({shown})", note)
    note = (
        f"{name} reported only as {shown}: an H-score has no standard cut-off for positivity, so the "
        "status is left unknown - see the pathology report for the percentage of stained cells."
    )
    return ScoreRead(None, shown, note)


# What an interpretation says about a receptor result. The range flags (High, Abnormal, Normal) read as
# present or absent for ER and PR; HER2-positive needs IHC 3+ or ISH amplification (ASCO/CAP 2018), which
# a High or Abnormal flag does not say, so for HER2 they are ambiguous.
_INTERPRETED: Final = {
    "positive": "positive",
    "detected": "positive",
    "negative": "negative",
    "not_detected": "negative",
    "ambiguous": "ambiguous",
    "high": "positive",
    "abnormal": "positive",
    "normal": "negative",
}
_INTERPRETED_HER2: Final = {**_INTERPRETED, "high": "ambiguous", "abnormal": "ambiguous"}


def interpretation_value(
    ctx: Context, obs: models.Observation, *, her2: bool = False
) -> tuple[str | None, str]:
    """(positive|negative|ambiguous|None, display) from Observation.interpretation (any system)."""
    meaning = _INTERPRETED_HER2 if her2 else _INTERPRETED
    for interp in interpretations(obs):
        hit = ctx.match("result-values", interp)
        if hit is not None and hit.value in meaning:
            return meaning[hit.value], ctx.describe(interp)
    return None, ""
