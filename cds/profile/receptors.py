"""ER, PR, hormone-receptor status, HER2 (IHC, ISH, status, HER2-low) and subtype, reconciled.

Readings come from Observations (coded answers, v3 interpretation with any system, percentages in
valueQuantity or components, free-text values such as "Positive (>10%)", "2+", "Score 3+") and from
receptor-status Conditions (SNOMED disorders, ICD-10-CM Z17.x), dated by effective / onset / recorded
date. How they are reconciled:

* Pathology beats the problem list. A receptor-status Condition (Z17.31 "HER2 positive", SNOMED
  427685000, ...) is a summary or a billing code: it counts for a marker only when no Observation result
  for that marker exists (``Fact.note`` then says so); otherwise a Condition that disagrees is named in
  the note and not used.
* Final beats preliminary. Results whose status is ``registered`` or ``preliminary`` are never used for a
  status; one that is newer than the latest final (``final``/``amended``/``corrected``, or another
  status that carries a result) result, or the only result, is a DataIssue of kind ``pending`` naming
  the test and its date, and the status note says it is pending.
* Disagreement on one date is "conflicting" (unknown is not negative) with a DataIssue.
* Disagreement across dates (specimens, re-biopsy) is a named discordance: a DataIssue of kind
  ``discordant`` saying which results disagreed, and ``discordant_markers`` lists the marker. A target
  positive in at least one biopsy stays positive (ESO-ESMO ABC 5, Cardoso et al. Ann Oncol
  2020;31:1623: "it is reasonable to consider use of targeted therapy (ET and/or anti-HER2 therapy)
  when receptors are positive in at least one biopsy, regardless of timing"); otherwise the most recent
  result is used. Results that differ only in degree (ER 90 % then ER 5 %) are not a discordance; the
  most recent is used and the earlier one is named in the note.
* ER/PR (ASCO/CAP 2020, Allison et al. JCO 2020): < 1 % negative, 1-10 % low_positive ("ER-low
  positive"), > 10 % positive; a coded positive without a percentage is "positive". An Allred score
  (0-8) or an H-score (0-300) is a score, never a percentage (see ``score_reading``).
* hormone_receptor_status: positive if ER or PR is positive/low_positive (an ER-low-only result is
  named in the note); negative if both are negative; conflicting if either conflicts (and none is
  positive); otherwise an HR-level result (ER+PR test, or when no ER/PR/HR test exists a Z17.41x /
  417181009 Condition) decides; else unknown. Unknown is never read as negative.
* HER2 (ASCO/CAP 2018, affirmed 2023, Wolff et al.; clinical.md 1.4): positive = IHC 3+ or ISH
  amplified; negative = IHC 0/1+, or 2+ with ISH not amplified, or a coded negative without a score
  (IHC then "unknown"); equivocal = 2+ without ISH. Dual-probe ISH with both the HER2/CEP17 ratio and the
  average HER2 copy number is put in groups 1-5 (``ish_group``). The most recent test date decides; a
  reflex ISH dated after the IHC is paired with the latest IHC before it. Combined texts such as
  "Negative (IHC 2+, FISH not amplified)" give both readings. her2_low: yes = 1+ or 2+/ISH not
  amplified; no = 0 or HER2-positive; else unknown.
* subtype from HR and HER2, "unknown" unless both are known and neither conflicting/equivocal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from cds.profile.common import (
    Coded,
    Context,
    Quantity,
    Value,
    components,
    condition_date,
    evidence,
    interpretations,
    observation_date,
    ref,
    value_of,
)
from cds.profile.dates import DateKey, date_key
from cds.profile.model import (
    Evidence,
    Fact,
    Her2Ihc,
    Her2Ish,
    Her2Status,
    HormoneReceptorStatus,
    PatientProfile,
    ReceptorStatus,
    Subtype,
    YesNoUnknown,
)

_PERCENT_UNITS = frozenset({"%", "percent", "pct", "/100", "{cells}/100", "% cells", "%{cells}"})
# Units that say the number is a score, not a share of cells (UCUM annotations as labs send them).
_SCORE_UNITS = frozenset({"{score}", "score", "{allred}", "{allred score}", "{allred_score}", "{h-score}"})
_PCT_RE = re.compile(r"(<=|>=|<|>|≤|≥)?\s*(\d{1,3}(?:[.,]\d+)?)\s*%")
_SCORE_RE = re.compile(r"(?:^|[^0-9])([0-3])\s*\+")
_SCORE_WORD_RE = re.compile(r"(?:score|ihc|grade)\s*[:=]?\s*([0-3])(?![0-9.,%])")
_SCORE_PAREN_RE = re.compile(r"\(\s*([0-3])\s*\)")
_SCORE_LEAD_RE = re.compile(r"^([0-3])(?:\s*\+)?\s*(?:\(|,|;|$)")  # "0 (no staining)"
_ISH_RATIO_RE = re.compile(r"(?:ratio|/cep17)[^0-9]{0,12}(\d+(?:[.,]\d+)?)")
_ISH_COPIES_RE = re.compile(
    r"(?:copy number|copies|signals)(?:\s*(?:/|per)\s*(?:cell|nucleus))?[^0-9]{0,16}(\d+(?:[.,]\d+)?)"
    r"|(\d+(?:[.,]\d+)?)\s*(?:her2\s*)?(?:copies|signals)"
)
# "greater than 2.2" / "less than 1.8" (Synthea's FISH valueString), "> 2.2", "ratio >= 2.0"
_CMP_NUMBER_RE = re.compile(
    r"(greater than|more than|above|at least|less than|below|>=|<=|≥|≤|>|<)\s*(\d+(?:[.,]\d+)?)"
)
_CMP_WORDS = {
    "greater than": ">",
    "more than": ">",
    "above": ">",
    "at least": ">=",
    "less than": "<",
    "below": "<",
    "≥": ">=",
    "≤": "<=",
}
_BARE_NUMBER_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*$")
# An ISH verdict stated inside a HER2 text: "Negative (IHC 2+, FISH not amplified)"
_ISH_IN_TEXT_RE = re.compile(
    r"\b(?:fish|cish|sish|ddish|ish|in situ hybridi[sz]ation)\b\s*[:=]?\s*"
    r"(not amplified|non-amplified|no amplification|negative|amplified|positive|equivocal)"
)
_ALLRED_RE = re.compile(r"allred(?:\s*score)?\s*[:=]?\s*([0-8])(?![0-9.,])(?:\s*/\s*8)?")
_OUT_OF_8_RE = re.compile(r"(?:^|[^0-9.,])([0-8])\s*/\s*8(?![0-9])")
_HSCORE_RE = re.compile(r"(?:h-score|hscore|h score|histoscore)\s*[:=]?\s*(\d{1,3})(?![0-9.,%])")
_HSCORE_WORDS = ("h-score", "hscore", "h score", "histoscore")
_SEER = {"000": "0", "010": "1+", "020": "2+", "030": "3+"}
_PENDING_STATUSES: Final = ("registered", "preliminary")
_POSITIVE: Final = ("positive", "low_positive")

#: What a clinician reads for each receptor field's values (cards and the demo print these, not the enum).
VALUE_LABELS: Final[dict[str, dict[str, str]]] = {
    "er_status": {
        "positive": "ER-positive",
        "low_positive": "ER-low positive (1-10%)",
        "negative": "ER-negative",
        "unknown": "ER not known",
        "conflicting": "ER results conflict",
    },
    "pr_status": {
        "positive": "PR-positive",
        "low_positive": "PR-positive (1-10%)",
        "negative": "PR-negative",
        "unknown": "PR not known",
        "conflicting": "PR results conflict",
    },
    "hormone_receptor_status": {
        "positive": "HR-positive",
        "negative": "HR-negative",
        "unknown": "HR status not known",
        "conflicting": "HR results conflict",
    },
    "her2_status": {
        "positive": "HER2-positive",
        "negative": "HER2-negative",
        "equivocal": "HER2 equivocal (IHC 2+, ISH needed)",
        "unknown": "HER2 not known",
        "conflicting": "HER2 results conflict",
    },
    "her2_ish": {
        "amplified": "ISH amplified",
        "not_amplified": "ISH not amplified",
        "equivocal": "ISH equivocal",
        "unknown": "ISH not known",
    },
    "subtype": {
        "hr_positive_her2_negative": "HR-positive, HER2-negative",
        "hr_positive_her2_positive": "HR-positive, HER2-positive",
        "hr_negative_her2_positive": "HR-negative, HER2-positive",
        "triple_negative": "Triple-negative",
        "unknown": "Subtype not known",
    },
    "discordant_markers": {"er": "ER", "pr": "PR", "her2": "HER2"},
}


def clinical_label(field: str, value: object) -> str:
    """``value`` of ``field`` in a clinician's words ("ER-low positive (1-10%)"), else the value."""
    return VALUE_LABELS.get(field, {}).get(str(value), str(value).replace("_", " "))


class Reading:
    __slots__ = ("copies", "detail", "evidence", "key", "marker", "note", "pending", "ratio", "value", "when")

    def __init__(
        self,
        marker: str,
        value: str,
        when: str | None,
        evidence: Evidence,
        detail: str = "",
        *,
        pending: str = "",
        note: str | None = None,
        ratio: float | None = None,
        copies: float | None = None,
    ) -> None:
        self.marker = marker  # er | pr | hr | ihc | ish | her2 (generic status)
        self.value = value
        self.when = when
        self.key = date_key(when)  # once: readings are sorted and grouped by date several times
        self.evidence = evidence
        self.detail = detail  # how it was read; "condition" for a receptor-status Condition
        self.pending = pending  # "" for a result, else the Observation status (registered | preliminary)
        self.note = note  # how a score was read (Allred, H-score), for the status note
        self.ratio = ratio  # ISH: HER2/CEP17 ratio, when given as a number
        self.copies = copies  # ISH: average HER2 copy number per cell, when given as a number

    @property
    def from_condition(self) -> bool:
        return self.detail == "condition"

    def _fields(self) -> tuple[object, ...]:
        return (self.marker, self.value, self.when, self.evidence, self.detail, self.pending, self.note)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reading):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())


class ReceptorFacts:
    __slots__ = (
        "discordant_markers",
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
        discordant_markers: Fact[frozenset[str]] | None = None,
    ) -> None:
        self.er_status = er_status
        self.pr_status = pr_status
        self.hormone_receptor_status = hormone_receptor_status
        self.her2_status = her2_status
        self.her2_ihc = her2_ihc
        self.her2_ish = her2_ish
        self.her2_low = her2_low
        self.subtype = subtype
        self.discordant_markers = discordant_markers if discordant_markers is not None else _NO_DISCORDANCE


_NO_DISCORDANCE: Final[Fact[frozenset[str]]] = Fact(frozenset())


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


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


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
            pct = _number(found.group(2))
            if pct is not None and 0 <= pct <= 100:
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


class ScoreRead:
    """A receptor result read as a score: its status (None: not decidable) and why."""

    __slots__ = ("how", "note", "value")

    def __init__(self, value: str | None, how: str, note: str) -> None:
        self.value = value
        self.how = how
        self.note = note


def score_reading(ctx: Context, val: Value, context_texts: Sequence[str], name: str) -> ScoreRead | None:
    """An Allred score (0-8) or H-score (0-300) in this ER/PR value, read as a score; None if neither.

    Allred (Harvey JM, Clark GM, Osborne CK, Allred DC. J Clin Oncol 1999;17:1474-1481): proportion
    score 0-5 plus intensity score 0-3; a total of 0-2 is negative, 3-8 positive. An Allred total does
    not give the share of stained cells, so ER-low (1-10 %) cannot be told from it (said in the note).
    H-score (0-300): no standard cut-off for ER/PR positivity exists, so an H-score alone gives no status;
    a positive/negative answer or percentage reported with it is used. A stated percentage always wins.
    """
    q = val.quantity
    if q is not None and _is_percent(q.unit):
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
        number = q.value if q is not None and not _is_percent(unit) else None
        if found is not None:
            number = float(found.group(1))
    elif "allred" in low_all or unit in ("{allred}", "{allred score}", "{allred_score}"):
        found = _ALLRED_RE.search(low_value) or _OUT_OF_8_RE.search(low_value)
        if found is not None:
            kind, number = "allred", float(found.group(1))
        elif q is not None and not _is_percent(unit) and 0 <= q.value <= 8:
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
            stated = _number(pct.group(2))
            if stated is not None and 0 <= stated <= 100:
                return ScoreRead(percent_status(stated, pct.group(1)), f"{stated:g}% ({shown})", shown)
        if number != int(number):
            return ScoreRead(None, shown, f"{shown} is not a whole number; not read.")
        value = "negative" if number <= 2 else "positive"
        note = f"{name} {shown}, read as {value} (Allred 0-2 negative, 3-8 positive)"
        if value == "positive":
            note += "; the share of stained cells is not given, so ER-low (1-10%) cannot be excluded"
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
    found = _SCORE_WORD_RE.search(low) or _SCORE_LEAD_RE.match(low)
    if found is None and not _ISH_IN_TEXT_RE.search(low):
        found = _SCORE_PAREN_RE.search(low)
    if found is not None:
        return "0" if found.group(1) == "0" else f"{found.group(1)}+"
    return None


class IshRead:
    """One ISH value: verdict (amplified | not_amplified | equivocal | undecided), how, and its numbers."""

    __slots__ = ("copies", "how", "ratio", "verdict")

    def __init__(
        self, verdict: str, how: str, ratio: float | None = None, copies: float | None = None
    ) -> None:
        self.verdict = verdict
        self.how = how
        self.ratio = ratio
        self.copies = copies


def ish_group(ratio: float, copies: float) -> tuple[int, str]:
    """ASCO/CAP 2018 (affirmed 2023) dual-probe ISH group and its result before/after the workup.

    Group 1: ratio >= 2.0 and >= 4.0 HER2 signals/cell: positive. Group 2: ratio >= 2.0, < 4.0: negative
    (after the concurrent IHC workup, unless IHC 3+). Group 3: ratio < 2.0, >= 6.0: positive (after the
    workup; negative with concurrent IHC 0/1+). Group 4: ratio < 2.0, 4.0 to < 6.0: negative (unless IHC
    3+). Group 5: ratio < 2.0, < 4.0: negative. Source: clinical.md 1.4 (Wolff et al. JCO 2023).
    """
    if ratio >= 2.0:
        return (1, "amplified") if copies >= 4.0 else (2, "not_amplified")
    if copies >= 6.0:
        return 3, "amplified"
    if copies >= 4.0:
        return 4, "not_amplified"
    return 5, "not_amplified"


def _from_number(number: float, comparator: str | None, kind: str) -> IshRead:
    """An ISH verdict from a ratio (or, for ``kind`` "copies", an average copy number)."""
    copies = kind == "copies"
    shown = f"{comparator or ''}{number:g}" + (" copies/cell" if copies else "")
    shown = shown if copies else f"ratio {shown}"
    if comparator in ("<", "<="):  # Synthea: "less than 1.8"
        limit = 4.0 if copies else 2.0
        return IshRead("not_amplified" if number <= limit else "undecided", shown)
    if comparator in (">", ">="):  # Synthea: "greater than 2.2"
        limit = 6.0 if copies else 2.0
        return IshRead("amplified" if number >= limit else "undecided", shown)
    if copies:  # single-probe ISH (ASCO/CAP 2018): >= 6 positive, < 4 negative, 4 to < 6 equivocal
        verdict = "amplified" if number >= 6 else ("not_amplified" if number < 4 else "equivocal")
        return IshRead(verdict, shown, copies=number)
    return IshRead("amplified" if number >= 2.0 else "not_amplified", shown, ratio=number)


def _text_numbers(text: str, kind: str) -> IshRead | None:
    low = text.lower()
    bounded = _CMP_NUMBER_RE.search(low)  # "ratio < 2.0": a bound, not a measured ratio
    bound_at = bounded.start(2) if bounded is not None else -1
    ratio_found = _ISH_RATIO_RE.search(low)
    copies_found = _ISH_COPIES_RE.search(low)
    ratio = copies = None
    if ratio_found is not None and ratio_found.start(1) != bound_at:
        ratio = _number(ratio_found.group(1))
    copies_group = 0
    if copies_found is not None:
        copies_group = 1 if copies_found.group(1) is not None else 2
        if copies_found.start(copies_group) != bound_at:
            copies = _number(copies_found.group(copies_group))
    if ratio is not None and copies is not None:
        return IshRead(ish_group(ratio, copies)[1], text, ratio=ratio, copies=copies)
    if ratio is not None:
        return IshRead("amplified" if ratio >= 2.0 else "not_amplified", text, ratio=ratio)
    if copies is not None:
        got = _from_number(copies, None, "copies")
        return IshRead(got.verdict, text, copies=copies)
    if bounded is not None:
        number = _number(bounded.group(2))
        if number is not None:
            comparator = _CMP_WORDS.get(bounded.group(1), bounded.group(1))
            of_copies = copies_found is not None and copies_found.start(copies_group) == bound_at
            got = _from_number(number, comparator, "copies" if of_copies else kind)
            return IshRead(got.verdict, text)
    bare = _BARE_NUMBER_RE.match(low)
    if bare is not None:
        number = _number(bare.group(1))
        if number is not None:
            return _from_number(number, None, kind)
    return None


def ish_value(ctx: Context, val: Value, *, kind: str) -> IshRead | None:
    """The verdict of one ISH value (ratio, copies, coded, text), or None."""
    number = val.ratio
    comparator = None
    q: Quantity | None = val.quantity
    if number is None and q is not None and not _is_percent(q.unit):
        number, comparator = q.value, q.comparator
    if number is not None:
        return _from_number(number, comparator, kind)
    texts = [val.text] if val.text else []
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None:
            mapped = _ISH_MAP.get(hit.value or "")
            if mapped:
                return IshRead(mapped, hit.display)
        texts.extend(d for _, _, d in ctx.codings(val.cc) if d)
    for text in texts:
        numbers = _text_numbers(text, kind)
        if numbers is not None and (numbers.ratio is not None or numbers.copies is not None):
            return numbers
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None:
            mapped = _ISH_MAP.get(hit_text.value or "")
            if mapped:
                return IshRead(mapped, text)
        if numbers is not None:
            return numbers
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
_ISH_WORDS = {
    "not amplified": "not_amplified",
    "non-amplified": "not_amplified",
    "no amplification": "not_amplified",
    "negative": "not_amplified",
    "amplified": "amplified",
    "positive": "amplified",
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
    """The readings of one Observation, each with its evidence."""

    def __init__(self, obs: Any, when: str | None, name: str, pending: str) -> None:
        self.obs = obs
        self.when = when
        self.name = name
        self.pending = pending
        self.out: list[Reading] = []

    def add(
        self,
        marker: str,
        value: str,
        how: str,
        note: str | None = None,
        ratio: float | None = None,
        copies: float | None = None,
    ) -> None:
        evidence_ = evidence(self.obs, self.when, f"{self.name}: {how}")
        self.out.append(
            Reading(
                marker,
                value,
                self.when,
                evidence_,
                how,
                pending=self.pending,
                note=note,
                ratio=ratio,
                copies=copies,
            )
        )


def _note_texts(obs: Any) -> list[str]:
    return [
        t for t in (getattr(n, "text", None) for n in getattr(obs, "note", None) or ()) if isinstance(t, str)
    ]


def _er_pr(
    ctx: Context, element: Any, marker: str, sub: str, context_texts: Sequence[str]
) -> tuple[str | None, str, str | None] | None:
    """(status | None, how, note) of one ER/PR value (an Observation or a component), or None."""
    name = "ER" if marker == "er" else "PR"
    val = value_of(element)
    score = score_reading(ctx, val, context_texts, name)
    if score is not None:
        return score.value, score.how, score.note
    got = receptor_value(ctx, val, percent_test=sub == "percent")
    return (got[0], got[1], None) if got is not None else None


def _obs_readings(ctx: Context, obs: Any, pending: str = "") -> list[Reading]:
    code = getattr(obs, "code", None)
    kind = _classify(ctx, code)
    code_texts = [t for t in (ctx.text(code), *(d for _, _, d in ctx.codings(code))) if t]
    notes = _note_texts(obs)
    # components (MII: % cells and intensity as components; panels with ER and PR components;
    # ISH panels with ratio and copy-number components)
    comp_status: dict[str, tuple[str | None, str, str | None]] = {}
    comp_ish: list[IshRead] = []
    for comp in components(obs):
        comp_code = getattr(comp, "code", None)
        ckind = _classify(ctx, comp_code)
        if ckind is None:
            continue
        marker, sub = ckind
        if marker in ("er", "pr") and sub != "intensity":
            comp_texts = [*code_texts, *(t for t in (ctx.text(comp_code),) if t), *notes]
            got = _er_pr(ctx, comp, marker, sub, comp_texts)
            if got is not None:
                comp_status[marker] = got
        elif marker == "ish" and sub in ("ratio", "copies"):
            ish_got = ish_value(ctx, value_of(comp), kind=sub)
            if ish_got is not None:
                comp_ish.append(ish_got)
    if kind is None and not comp_status:
        return []  # not a receptor result
    when = observation_date(obs)
    name = ctx.label(code)
    readings = _Readings(obs, when, name, pending)
    out = readings.out
    val = value_of(obs)
    topic = "er_status"

    if kind is None:
        for marker, (value, how, note) in comp_status.items():
            if value is not None:
                readings.add(marker, value, how, note)
            elif note:
                ctx.issue(f"{marker}_status", "missing", f"{ref(obs)}: {note}", evidence(obs, when, how))
        return out
    marker, sub = kind
    if marker in ("er", "pr"):
        topic = "er_status" if marker == "er" else "pr_status"
        if sub == "intensity":
            return out
        got = _er_pr(ctx, obs, marker, sub, [*code_texts, *notes])
        component = comp_status.get(marker)
        if component is not None and component[0] is not None:
            got = component  # a % component is more specific than the coded result
        if got is None:
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                got = (interp, f"interpretation {how}", None)
            elif interp == "ambiguous":
                ctx.issue(
                    topic,
                    "unreadable",
                    f"{ref(obs)}: interpretation '{how}' is ambiguous for a receptor result "
                    "and was not used.",
                    evidence(obs, when, f"{name}: interpretation {how}"),
                )
                return out
        if got is not None and got[0] is None:  # a score without a status (H-score alone)
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                note = f"{got[2]} The interpretation '{how}' gives the status." if got[2] else None
                got = (interp, f"interpretation {how} ({got[1]})", note)
            else:
                ctx.issue(topic, "missing", f"{ref(obs)}: {got[2]}", evidence(obs, when, f"{name}: {got[1]}"))
                return out
        if got is None or got[0] is None:
            _unreadable(ctx, obs, when, topic, name, val)
            return out
        readings.add(marker, got[0], got[1], got[2])
        for other, (value, how, note) in comp_status.items():
            if other != marker and value is not None:
                readings.add(other, value, how, note)
    elif marker == "erpr":
        got_hr = receptor_value(ctx, val, percent_test=False)
        if got_hr is None:
            interp, how = interpretation_value(ctx, obs)
            got_hr = (interp, f"interpretation {how}") if interp in ("positive", "negative") else None
        if got_hr is None:
            _unreadable(ctx, obs, when, "hormone_receptor_status", name, val)
        elif got_hr[0] == "negative":
            readings.add("er", "negative", got_hr[1] + " (ER+PR test)")
            readings.add("pr", "negative", got_hr[1] + " (ER+PR test)")
        else:
            readings.add("hr", "positive", got_hr[1] + " (ER+PR test)")
    elif marker == "ish":
        _ish_readings(ctx, obs, when, name, val, sub, comp_ish, readings)
    else:  # ihc or generic HER2
        score = ihc_score(ctx, val)
        if score is not None:
            readings.add("ihc", score, f"IHC {score}")
            _stated_ish(ctx, val, readings)
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
            _stated_ish(ctx, val, readings)
    return out


def _stated_ish(ctx: Context, val: Value, readings: _Readings) -> None:
    """An ISH result stated in a HER2 text: "Negative (IHC 2+, FISH not amplified)"."""
    for text in (val.text, *(d for _, _, d in ctx.codings(val.cc))):
        if not text:
            continue
        found = _ISH_IN_TEXT_RE.search(text.lower())
        if found is not None:
            verdict = _ISH_WORDS[found.group(1)]
            readings.add("ish", verdict, f"ISH {verdict.replace('_', ' ')} (stated in '{text}')")
            return


def _ish_readings(
    ctx: Context,
    obs: Any,
    when: str | None,
    name: str,
    val: Value,
    sub: str,
    comp_ish: list[IshRead],
    readings: _Readings,
) -> None:
    got = ish_value(ctx, val, kind=sub) if not val.empty or val.ratio is not None else None
    ratio = next((c.ratio for c in comp_ish if c.ratio is not None), None)
    copies = next((c.copies for c in comp_ish if c.copies is not None), None)
    if got is not None:
        ratio = got.ratio if got.ratio is not None else ratio
        copies = got.copies if got.copies is not None else copies
    if ratio is not None and copies is not None:
        _, verdict = ish_group(ratio, copies)
        readings.add("ish", verdict, f"ratio {ratio:g}, {copies:g} copies/cell", ratio=ratio, copies=copies)
        return
    if got is None and comp_ish:
        got = comp_ish[0]
    if got is None:
        interp, how = interpretation_value(ctx, obs)
        if interp in ("positive", "negative"):
            got = IshRead("amplified" if interp == "positive" else "not_amplified", f"interpretation {how}")
    if got is None:
        _unreadable(ctx, obs, when, "her2_ish", name, val)
    elif got.verdict == "undecided":
        ctx.issue(
            "her2_ish",
            "unreadable",
            f"{ref(obs)}: {name} '{got.how}' does not say whether the HER2/CEP17 ratio reaches 2.0 "
            "(ASCO/CAP 2018 cut-off); not used.",
            evidence(obs, when, f"{name}: {got.how}"),
        )
    else:
        readings.add("ish", got.verdict, got.how, ratio=got.ratio, copies=got.copies)


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


_PENDING_MARKER = {"erpr": "hr"}


def collect(conditions: Coded, observations: Coded, ctx: Context) -> list[Reading]:
    readings: list[Reading] = []
    for obs in observations.coded_in(_TESTS, in_components=True):  # panels: ER and PR as components
        status = (getattr(obs, "status", None) or "").strip().lower()
        if status not in _PENDING_STATUSES:
            readings.extend(_obs_readings(ctx, obs))
            continue
        # A result not yet final: read without reporting it as unreadable (it often has no value yet)
        got = _obs_readings(Context(ctx.terminology, ctx.today), obs, status)
        if not got:
            kind = _classify(ctx, getattr(obs, "code", None))
            if kind is None:
                continue
            when = observation_date(obs)
            name = ctx.label(getattr(obs, "code", None))
            marker = _PENDING_MARKER.get(kind[0], kind[0])
            got = [
                Reading(
                    marker, "", when, evidence(obs, when, f"{name}: {status}, no result yet"), pending=status
                )
            ]
        readings.extend(got)
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
    ordered = sorted(readings, key=_order, reverse=True)
    top = ordered[0].key
    return [r for r in ordered if r.key == top], [r for r in ordered if r.key != top]


def _order(r: Reading) -> tuple[DateKey, str, str, str, str]:
    """Newest last; on one date by resource and value, so that the order received never matters."""
    return (r.key, r.evidence.reference, r.marker, r.value, r.detail)


def _by_date(readings: Sequence[Reading]) -> list[list[Reading]]:
    """The readings grouped by date, newest date first."""
    groups: list[list[Reading]] = []
    for r in sorted(readings, key=_order, reverse=True):
        if groups and groups[-1][0].key == r.key:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def _family(value: str) -> str:
    return "negative" if value == "negative" else "positive"


def _when(r: Reading) -> str:
    return r.when or "undated"


def _sentence(parts: Sequence[str]) -> str | None:
    joined = "; ".join(p for p in parts if p)
    return (joined[:1].upper() + joined[1:] + ("" if joined.endswith(".") else ".")) if joined else None


def _group_value(group: Sequence[Reading]) -> tuple[str, str | None]:
    """The ER/PR value of one date's readings: a value, or "conflicting"; and why."""
    values = {r.value for r in group}
    if values == {"positive", "low_positive"}:
        return (
            "low_positive",
            "positive and 1-10 % reported on the same date; the percentage (ER-low) was used",
        )
    if len(values) > 1:
        return "conflicting", None
    return next(iter(values)), None


def receptor_status(
    readings: Sequence[Reading], marker: str, ctx: Context
) -> tuple[Fact[ReceptorStatus], bool]:
    """(the ER or PR fact, whether results over time were discordant)."""
    mine = [r for r in readings if r.marker == marker and not r.pending]
    name = "ER" if marker == "er" else "PR"
    tests = [r for r in mine if not r.from_condition]
    conds = [r for r in mine if r.from_condition]
    if not tests and not conds:
        return Fact("unknown"), False
    used = tests or conds
    groups = _by_date(used)
    latest = groups[0]
    value, why = _group_value(latest)
    notes: list[str] = [why] if why else []
    if value == "conflicting":
        ctx.issue(
            f"{marker}_status",
            "conflicting",
            f"{name} results on {latest[0].when or 'the same (undated) record'} disagree: "
            + "; ".join(f"{r.evidence.reference} {r.value}" for r in latest)
            + ".",
            *(r.evidence for r in latest),
        )
        return Fact(
            "conflicting", tuple(r.evidence for r in latest), f"{name} results on the same date disagree."
        ), False
    chosen = latest
    discordant = False
    if tests:
        history = [(g, _group_value(g)[0]) for g in groups]
        positives = [(g, v) for g, v in history if v in _POSITIVE]
        negatives = [(g, v) for g, v in history if v == "negative"]
        if positives and negatives:
            discordant = True
            if value == "negative":
                chosen, value = positives[0][0], positives[0][1]
            _discordance(ctx, marker, name, positives[0][0], negatives[0][0], value)
            pos, neg = positives[0][0][0], negatives[0][0][0]
            notes.append(
                f"{name} positive in at least one biopsy ({pos.evidence.reference}, {_when(pos)}) and "
                f"negative in another ({neg.evidence.reference}, {_when(neg)}): discordant results; "
                "positive is kept so that targeted therapy stays an option (ESO-ESMO ABC)"
            )
        else:
            changed = [g for g, v in history[1:] if v not in ("conflicting", value)]
            if changed:
                prev = changed[0][0]
                notes.append(
                    f"Earlier {name} result {prev.value} ({prev.evidence.reference}, {_when(prev)}); "
                    f"the most recent ({_when(latest[0])}) was used"
                )
        notes.extend(_ignored_conditions(conds, name, value))
    else:
        notes.append(
            f"{name} taken from a problem-list or billing entry ({latest[0].evidence.text}); "
            "no pathology result for it is in the record"
        )
        changed_c = [g for g in groups[1:] if _group_value(g)[0] not in ("conflicting", value)]
        if changed_c:
            prev = changed_c[0][0]
            notes.append(f"earlier entry {prev.value} ({prev.evidence.reference}, {_when(prev)})")
    notes.extend(r.note for r in chosen if r.note)
    status: ReceptorStatus = (
        "positive" if value == "positive" else "low_positive" if value == "low_positive" else "negative"
    )
    if status == "low_positive" and marker == "er":
        notes.insert(0, "ER-low positive (1-10%)")
    others = [r for g in groups if g is not chosen for r in g][:2]
    return Fact(
        status, tuple(r.evidence for r in chosen) + tuple(r.evidence for r in others), _sentence(notes)
    ), discordant


def _ignored_conditions(conds: Sequence[Reading], name: str, value: str) -> list[str]:
    """Notes for receptor-status Conditions that disagree with the pathology result (not used)."""
    clash = [c for c in conds if _family(c.value) != _family(value)]
    if not clash:
        return []
    c = max(clash, key=_order)
    return [
        f"the problem-list entry {c.evidence.text} ({c.evidence.reference}) says {name} {c.value}; "
        "the pathology result was used"
    ]


def _discordance(
    ctx: Context, marker: str, name: str, positive: Sequence[Reading], negative: Sequence[Reading], used: str
) -> None:
    def said(group: Sequence[Reading]) -> str:
        r = group[0]
        return f"{r.detail or r.value} ({r.evidence.reference}, {_when(r)})"

    ctx.issue(
        f"{marker}_status" if marker != "her2" else "her2_status",
        "discordant",
        f"{name} results disagree between biopsies or over time: positive - {said(positive)}; negative - "
        f"{said(negative)}. {name} is taken as {used.replace('_', ' ')}: ESO-ESMO ABC advises considering "
        "targeted therapy when the receptor is positive in at least one biopsy. Check which lesion each "
        "result came from; consider re-biopsy.",
        positive[0].evidence,
        negative[0].evidence,
    )


def hormone_status(
    er: Fact[ReceptorStatus], pr: Fact[ReceptorStatus], readings: Sequence[Reading]
) -> Fact[HormoneReceptorStatus]:
    ev = er.evidence + pr.evidence
    if er.value in _POSITIVE or pr.value in _POSITIVE:
        which = [n for n, f in (("ER", er), ("PR", pr)) if f.value in _POSITIVE]
        note = f"{' and '.join(which)} positive"
        if er.value == "low_positive" and pr.value not in _POSITIVE:
            note = (
                "HR-positive on ER-low positive (1-10%) alone: ASCO/CAP 2020 - limited data on the benefit "
                "of endocrine therapy, and such tumours often behave like ER-negative (triple-negative) "
                "disease"
            )
        elif er.value == "low_positive":
            note = "ER-low positive (1-10%) and PR positive"
        return Fact("positive", ev, note)
    if er.value == "negative" and pr.value == "negative":
        return Fact("negative", ev, "ER and PR negative")
    if "conflicting" in (er.value, pr.value):
        return Fact("conflicting", ev, "ER or PR results conflict")
    results = [r for r in readings if not r.pending]
    hr_tests = [r for r in results if r.marker == "hr" and not r.from_condition]
    any_test = any(r.marker in ("er", "pr", "hr") and not r.from_condition for r in results)
    hr = hr_tests or ([] if any_test else [r for r in results if r.marker == "hr"])
    if hr:
        group, _ = _latest(hr)
        source = "" if hr_tests else " (problem-list or billing entry; no ER/PR test result in the record)"
        return Fact(
            "positive", tuple(r.evidence for r in group), f"recorded as hormone receptor positive{source}"
        )
    if er.value == "negative" or pr.value == "negative":
        return Fact("unknown", ev, "one receptor is negative and the other is unknown")
    return Fact("unknown")


def _implied(r: Reading) -> str:
    if r.marker == "ihc":
        return {"3+": "positive", "2+": "equivocal"}.get(r.value, "negative")
    if r.marker == "ish":
        return {"amplified": "positive", "not_amplified": "negative"}.get(r.value, "equivocal")
    return {"low": "negative", "ultralow": "negative"}.get(r.value, r.value)


Her2Facts = tuple[Fact[Her2Status], Fact[Her2Ihc], Fact[Her2Ish], Fact[YesNoUnknown]]


def her2_label(status: str, ihc: str, ish: str, low: str) -> str:
    """HER2 in a clinician's words: "HER2-low (IHC 2+, ISH not amplified)"."""
    detail = ", ".join(
        p
        for p in (
            f"IHC {ihc}" if ihc != "unknown" else "",
            clinical_label("her2_ish", ish) if ish != "unknown" else "",
        )
        if p
    )
    if status == "negative":
        head = "HER2-low" if low == "yes" else "HER2-negative"
    elif status == "equivocal":
        head = "HER2 equivocal"
    else:
        head = clinical_label("her2_status", status)
    said = f"{head} ({detail})" if detail else head
    return said + ("; ISH needed" if status == "equivocal" and ish == "unknown" else "")


def receptor_summary(profile: PatientProfile) -> str:
    """The receptor profile in one line a clinician reads: "HR-positive (ER-low positive (1-10%)),
    HER2-low (IHC 2+, ISH not amplified)"; discordant and pending results are named."""
    hr = clinical_label("hormone_receptor_status", profile.hormone_receptor_status.value)
    if profile.er_status.value == "low_positive":
        hr += f" ({clinical_label('er_status', 'low_positive')})"
    if profile.her2_ultralow.value == "yes":
        her2 = "HER2-ultralow (IHC 0 with membrane staining)"
    else:
        her2 = her2_label(
            profile.her2_status.value, profile.her2_ihc.value, profile.her2_ish.value, profile.her2_low.value
        )
    parts = [f"{hr}, {her2}"]
    markers = profile.discordant_markers.value
    if markers:
        names = ", ".join(clinical_label("discordant_markers", m) for m in sorted(markers))
        parts.append(f"discordant between biopsies: {names}")
    pending = sorted({i.topic for i in profile.issues if i.kind == "pending"})
    if pending:
        parts.append("pending: " + ", ".join(t.replace("_status", "").upper() for t in pending))
    return "; ".join(parts)


def _ish_in(ishs: Sequence[Reading], note_parts: list[str]) -> set[str]:
    """The ISH values of one date; a ratio and a copy number given apart are put in their ASCO/CAP group."""
    ratios = {r.ratio for r in ishs if r.ratio is not None}
    copies = {r.copies for r in ishs if r.copies is not None}
    if len(ratios) == 1 and len(copies) == 1:
        ratio, copy = next(iter(ratios)), next(iter(copies))
        group, verdict = ish_group(ratio, copy)
        note_parts.append(
            f"ISH group {group} (HER2/CEP17 ratio {ratio:g}, {copy:g} HER2 signals/cell): "
            f"{verdict.replace('_', ' ')} per ASCO/CAP 2018"
        )
        numeric = {r.value for r in ishs if r.ratio is not None or r.copies is not None}
        return {verdict} | ({r.value for r in ishs} - numeric)
    return {r.value for r in ishs}


def _her2_at(readings: Sequence[Reading], ctx: Context) -> Her2Facts:
    """HER2 from the most recent date of ``readings`` (a reflex ISH paired with the IHC before it)."""
    group, earlier = _latest(readings)
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
    ish_vals = _ish_in(ishs, note_parts)
    if len(ihc_vals) > 1:
        conflicts.extend(ihcs)
    if len(ish_vals) > 1:
        conflicts.extend(ishs)
    ihc: Her2Ihc = _as_ihc(next(iter(ihc_vals))) if len(ihc_vals) == 1 else "unknown"
    ish: Her2Ish = _as_ish(next(iter(ish_vals))) if len(ish_vals) == 1 else "unknown"
    group3 = any(r.ratio is not None and r.ratio < 2.0 for r in ishs) and any(
        r.copies is not None and r.copies >= 6.0 for r in ishs
    )
    status: Her2Status
    if ihc == "3+":
        status = "positive"
    elif ish == "amplified" and group3 and ihc in ("0", "1+"):
        status = "negative"  # ASCO/CAP 2018 group 3 with concurrent IHC 0/1+
        note_parts.append("ISH group 3 with IHC 0/1+ is HER2-negative per ASCO/CAP 2018")
    elif ish == "amplified":
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
    if status == "negative" and (
        ihc == "1+" or (ihc == "2+" and ish == "not_amplified") or (ihc == "unknown" and "low" in gen_vals)
    ):
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
    if status in ("positive", "negative", "equivocal") and (ihc != "unknown" or ish != "unknown"):
        note_parts.insert(0, her2_label(status, ihc, ish, low))
    ev_all = tuple(r.evidence for r in used)
    why_low = {
        "yes": "IHC 1+ or IHC 2+ with ISH not amplified",
        "no": "IHC 0 or HER2-positive",
        "unknown": None,
    }[low]
    return (
        Fact(status, ev_all, _sentence(note_parts)),
        Fact(ihc, tuple(r.evidence for r in ihcs)),
        Fact(ish, tuple(r.evidence for r in ishs)),
        Fact(low, ev_all if low != "unknown" else (), why_low),
    )


def her2(readings: Sequence[Reading], ctx: Context) -> tuple[Her2Facts, bool]:
    """(HER2 status, IHC, ISH and HER2-low facts; whether results over time were discordant)."""
    mine = [r for r in readings if r.marker in ("ihc", "ish", "her2") and not r.pending]
    tests = [r for r in mine if not r.from_condition]
    conds = [r for r in mine if r.from_condition]
    if not tests and not conds:
        return (Fact("unknown"), Fact("unknown"), Fact("unknown"), Fact("unknown")), False
    if not tests:
        status, ihc, ish, low = _her2_at(conds, ctx)
        why = (
            f"HER2 taken from a problem-list or billing entry ({_latest(conds)[0][0].evidence.text}); "
            "no HER2 pathology result is in the record."
        )
        return (_with_note(status, why), ihc, ish, low), False
    latest = _her2_at(tests, ctx)
    # each earlier test date, as it read then (quietly: its issues were those of its own time)
    quiet = Context(ctx.terminology, ctx.today)
    keys = sorted({r.key for r in tests}, reverse=True)
    history: list[tuple[Her2Facts, list[Reading]]] = [(latest, [r for r in tests if r.key == keys[0]])]
    for key in keys[1:]:
        history.append(
            (_her2_at([r for r in tests if r.key <= key], quiet), [r for r in tests if r.key == key])
        )
    positives = [h for h in history if h[0][0].value == "positive"]
    negatives = [h for h in history if h[0][0].value == "negative"]
    chosen = latest
    discordant = bool(positives and negatives) and latest[0].value in ("positive", "negative")
    extra: list[str] = []
    if discordant:
        pos_group, neg_group = positives[0][1], negatives[0][1]
        if latest[0].value == "negative":
            chosen = positives[0][0]
        _discordance(ctx, "her2", "HER2", pos_group, neg_group, "positive")
        extra.append(
            f"HER2-positive in at least one biopsy ({pos_group[0].evidence.reference}, "
            f"{_when(pos_group[0])}) and HER2-negative in another ({neg_group[0].evidence.reference}, "
            f"{_when(neg_group[0])}): "
            "discordant results; positive is kept so that anti-HER2 therapy stays an option (ESO-ESMO ABC)"
        )
    clash = [c for c in conds if _implied(c) in ("positive", "negative") and _implied(c) != chosen[0].value]
    if clash and chosen[0].value in ("positive", "negative"):
        c = max(clash, key=_order)
        extra.append(
            f"the problem-list entry {c.evidence.text} ({c.evidence.reference}) says HER2 {c.value}; "
            "the pathology result was used"
        )
    status, ihc, ish, low = chosen
    if discordant:
        # the IHC/ISH facts are those of the positive biopsy; HER2-low does not apply to HER2-positive
        other = negatives[0][1] if chosen is not latest else []
        status = Fact(status.value, status.evidence + tuple(r.evidence for r in other[:1]), status.note)
        low = Fact("no", low.evidence, "HER2-positive in at least one biopsy")
    if extra:
        status = _with_note(status, _sentence(extra) or "")
    return (status, ihc, ish, low), discordant


def _with_note(fact: Fact[Any], note: str) -> Fact[Any]:
    joined = f"{fact.note} {note}" if fact.note else note
    return Fact(fact.value, fact.evidence, joined)


def _as_ihc(value: str) -> Her2Ihc:
    return value if value in ("0", "1+", "2+", "3+") else "unknown"  # type: ignore[return-value]


def _as_ish(value: str) -> Her2Ish:
    return value if value in ("amplified", "not_amplified", "equivocal") else "unknown"  # type: ignore[return-value]


def subtype(hr: Fact[HormoneReceptorStatus], her2_status: Fact[Her2Status]) -> Fact[Subtype]:
    ev = hr.evidence + her2_status.evidence
    h, e = hr.value, her2_status.value
    er_low = hr.note is not None and hr.note.startswith("HR-positive on ER-low")
    if h == "positive" and e == "negative":
        note = (
            "HR-positive on ER-low positive (1-10%) alone: triple-negative options need ER < 1% "
            "(ASCO/CAP 2020); discuss which pathway applies"
            if er_low
            else None
        )
        return Fact("hr_positive_her2_negative", ev, note)
    if h == "positive" and e == "positive":
        return Fact("hr_positive_her2_positive", ev)
    if h == "negative" and e == "positive":
        return Fact("hr_negative_her2_positive", ev)
    if h == "negative" and e == "negative":
        return Fact("triple_negative", ev)
    said = f"{clinical_label('hormone_receptor_status', h)}, {clinical_label('her2_status', e)}"
    return Fact("unknown", (), said)


# --- results not yet final ---------------------------------------------------------------------------


_PENDING_TOPIC = {"er": "er_status", "pr": "pr_status", "hr": "hormone_receptor_status"}
_MARKER_NAME = {"er": "ER", "pr": "PR", "hr": "ER+PR", "ihc": "HER2 IHC", "ish": "HER2 ISH", "her2": "HER2"}


def _pending(
    readings: Sequence[Reading], markers: tuple[str, ...], topic: str, fact: Fact[Any], ctx: Context
) -> Fact[Any]:
    """Report results of ``markers`` that are not final yet (newer than the facts' results, or the only
    ones) as pending, and say so in the fact's note. A preliminary result never replaces a final one."""
    pend = [r for r in readings if r.pending and r.marker in markers]
    if not pend:
        return fact
    finals = [r for r in readings if not r.pending and not r.from_condition and r.marker in markers]
    newest_final = max((r.key for r in finals), default=None)
    shown: list[Reading] = []
    seen: set[str] = set()
    for r in sorted(pend, key=_order, reverse=True):
        if newest_final is not None and r.key < newest_final:
            continue  # an older preliminary report, superseded by a final one
        if r.evidence.reference in seen:
            continue
        seen.add(r.evidence.reference)
        shown.append(r)
    if not shown:
        return fact
    parts = []
    for r in shown:
        what = f": {r.detail}" if r.value else ""
        test = _MARKER_NAME.get(r.marker, r.marker)
        said = f"{test} ({r.evidence.reference}, {_when(r)}) is {r.pending}{what}"
        parts.append(said)
        ctx.issue(
            topic,
            "pending",
            f"{said}; not used until the final report"
            + ("; the last final result is used meanwhile." if finals else "."),
            r.evidence,
        )
    note = "Pending: " + "; ".join(parts) + (" (not used until final)." if parts else "")
    if fact.value == "unknown":
        return Fact(
            fact.value, fact.evidence + tuple(r.evidence for r in shown), _sentence([fact.note or "", note])
        )
    return _with_note(fact, note)


def derive_receptors(conditions: Coded, observations: Coded, ctx: Context) -> ReceptorFacts:
    readings = collect(conditions, observations, ctx)
    er, er_disc = receptor_status(readings, "er", ctx)
    pr, pr_disc = receptor_status(readings, "pr", ctx)
    hr = hormone_status(er, pr, readings)
    (status, ihc, ish, low), her2_disc = her2(readings, ctx)
    kind = subtype(hr, status)
    er = _pending(readings, ("er",), "er_status", er, ctx)
    pr = _pending(readings, ("pr",), "pr_status", pr, ctx)
    hr = _pending(readings, ("hr",), "hormone_receptor_status", hr, ctx)
    status = _pending(readings, ("ihc", "ish", "her2"), "her2_status", status, ctx)
    found = frozenset(m for m, d in (("er", er_disc), ("pr", pr_disc), ("her2", her2_disc)) if d)
    discordant: Fact[frozenset[str]] = _NO_DISCORDANCE
    if found:
        ev = tuple(
            e for m, f in (("er", er), ("pr", pr), ("her2", status)) if m in found for e in f.evidence[:2]
        )
        names = ", ".join(_MARKER_NAME[m] for m in sorted(found))
        discordant = Fact(
            found, ev, f"{names}: results disagree between biopsies or over time (see data issues)."
        )
    return ReceptorFacts(er, pr, hr, status, ihc, ish, low, kind, discordant)
