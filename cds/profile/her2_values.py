"""Reading one HER2 value: an IHC score (0 to 3+), an ISH result (HER2/CEP17 ratio, copy number, ASCO/CAP
2018 groups, or a coded or written verdict), and a HER2 status stated as such."""

from __future__ import annotations

import re

from cds.profile.common import Context, plain_display
from cds.profile.receptor_values import is_percent, to_number
from cds.profile.values import Quantity, Value

_SCORE_RE = re.compile(r"(?:^|[^0-9])([0-3])\s*\+")
_SCORE_WORD_RE = re.compile(r"(?:score|ihc|grade)\s*[:=]?\s*([0-3])(?![0-9.,%])")
_SCORE_PAREN_RE = re.compile(r"\(\s*([0-3])\s*\)")
_SCORE_LEAD_RE = re.compile(r"^([0-3])(?:\s*\+)?\s*(?:\(|,|;|$)")  # "0 (no staining)"
# The digits that end a word ("HER2", "CEP17") are part of the word: skipped between a label and its
# number, never read as the ratio or the copy number ("Ratio of HER2 to CEP17: 1.3", "HER2 signals 4.5").
_GAP = r"(?:[^0-9]|(?<=[a-z])\d+)"
_NUMBER = r"(?<![a-z0-9])(\d+(?:[.,]\d+)?)"
_ISH_RATIO_RE = re.compile(rf"(?:ratio|/cep17){_GAP}{{0,24}}?{_NUMBER}")
_ISH_COPIES_RE = re.compile(  # HER2 signals, not the CEP17 (chromosome 17) signals
    rf"(?<!cep17 )(?<!cep17)(?:copy number|copies|signals)(?:\s*(?:/|per)\s*(?:cell|nucleus))?"
    rf"{_GAP}{{0,16}}?{_NUMBER}"
    rf"|{_NUMBER}\s*(?:her2\s*)?(?:copies|signals)"
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
_SEER = {"000": "0", "010": "1+", "020": "2+", "030": "3+"}


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
    """One ISH value: verdict (amplified | not_amplified | equivocal | undecided | contradicted), how, and its
    numbers. "undecided": a bound that does not reach a cut-off; "contradicted": the numbers and the verdict
    written in the same text disagree (the HER2 decision reports it and does not use it)."""

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
        ratio = to_number(ratio_found.group(1))
    copies_group = 0
    if copies_found is not None:
        copies_group = 1 if copies_found.group(1) is not None else 2
        if copies_found.start(copies_group) != bound_at:
            copies = to_number(copies_found.group(copies_group))
    if ratio is not None and copies is not None:
        return IshRead(ish_group(ratio, copies)[1], text, ratio=ratio, copies=copies)
    if ratio is not None:
        return IshRead("amplified" if ratio >= 2.0 else "not_amplified", text, ratio=ratio)
    if copies is not None:
        got = _from_number(copies, None, "copies")
        return IshRead(got.verdict, text, copies=copies)
    if bounded is not None:
        number = to_number(bounded.group(2))
        if number is not None:
            comparator = _CMP_WORDS.get(bounded.group(1), bounded.group(1))
            of_copies = copies_found is not None and copies_found.start(copies_group) == bound_at
            got = _from_number(number, comparator, "copies" if of_copies else kind)
            return IshRead(got.verdict, text)
    bare = _BARE_NUMBER_RE.match(low)
    if bare is not None:
        number = to_number(bare.group(1))
        if number is not None:
            return _from_number(number, None, kind)
    return None


def ish_value(ctx: Context, val: Value, *, kind: str) -> IshRead | None:
    """The verdict of one ISH value (ratio, copies, coded, text), or None."""
    number = val.ratio
    comparator = None
    q: Quantity | None = val.quantity
    if number is None and q is not None and not is_percent(q.unit):
        number, comparator = q.value, q.comparator
    if number is not None:
        return _from_number(number, comparator, kind)
    texts = [val.text] if val.text else []
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None:
            mapped = _ISH_MAP.get(hit.value or "")
            if mapped:
                return IshRead(mapped, plain_display(hit.display))
        texts.extend(d for _, _, d in ctx.codings(val.cc) if d)
    for text in texts:
        numbers = _text_numbers(text, kind)
        if numbers is not None and (numbers.ratio is not None or numbers.copies is not None):
            verdict = _VERDICT_RE.search(text.lower())
            stated = _ISH_WORDS[verdict.group(1)] if verdict is not None else numbers.verdict
            if stated != numbers.verdict:
                return IshRead(
                    "contradicted",
                    f"'{text}': the numbers read as {_numbers_said(numbers)}, the report says "
                    f"{stated.replace('_', ' ')}",
                )
            return numbers
        hit_text = ctx.codes("result-values").match_text(text)
        if hit_text is not None:
            mapped = _ISH_MAP.get(hit_text.value or "")
            if mapped:
                return IshRead(mapped, text)
        if numbers is not None:
            return numbers
    return None


def _numbers_said(read: IshRead) -> str:
    parts = [f"HER2/CEP17 ratio {read.ratio:g}"] if read.ratio is not None else []
    parts += [f"{read.copies:g} HER2 signals/cell"] if read.copies is not None else []
    if read.ratio is not None and read.copies is not None:
        parts.append(f"ISH group {ish_group(read.ratio, read.copies)[0]}")
    return f"{', '.join(parts)} ({read.verdict.replace('_', ' ')})"


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


# A verdict written beside the numbers ("Not amplified (ISH group 4). Ratio ..."); negations first. Not
# "amplification", which names the test as often as the result ("HER2 amplification by FISH: ratio 1.3").
_VERDICT_RE = re.compile(r"\b(" + "|".join(_ISH_WORDS) + r")\b")


def stated_ish(text: str) -> str | None:
    """The ISH verdict a HER2 text states ("Negative (IHC 2+, FISH not amplified)"), or None."""
    found = _ISH_IN_TEXT_RE.search(text.lower())
    return _ISH_WORDS[found.group(1)] if found is not None else None


def her2_generic(ctx: Context, val: Value) -> tuple[str, str] | None:
    """(positive|negative|equivocal|low|ultralow, how) from a HER2 status value."""
    sources: list[tuple[None, str | None]] = []
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None and hit.value in _HER2_GENERIC:
            return _HER2_GENERIC[hit.value], plain_display(hit.display)
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
