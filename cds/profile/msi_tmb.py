"""Tumour-agnostic immunotherapy markers: MSI / MMR status and tumour mutational burden.

* ``msi_status``: ``high | stable_or_low | unknown``. "high" is MSI-H or mismatch-repair deficiency
  (dMMR), the Keytruda label's "MSI-H or dMMR". Read from an MSI test (code list ``msi-tests``: LOINC
  81695-9, 43368-0, 62862-8 or a local code named "MSI" / "microsatellite instability" / "mismatch
  repair") whose answer is MSI-H / dMMR / loss of MMR protein expression (high) or MSS / MSI-L / pMMR /
  intact expression (stable_or_low; MSI-L is not MSI-H), coded (LOINC LA26203-2, LA26202-4, LA14122-8,
  LA26198-4, LA26197-6; list ``msi-values``) or written; a bare "high" or "low" only as the whole
  answer, and an answer that names both instability and stability ("MSI-H (previously MSS)") is
  reported and not read. A negative / not detected answer on an MSI test reads as stable; "unstable",
  positive or detected without a grade is reported and not read (it may be MSI-L), except "unstable"
  on an immunostain (62862-8, MMR status), which is dMMR. Positive or negative on an immunostain is
  reported and not read: it may mean the proteins are expressed. MMR protein stains (MLH1, MSH2, MSH6,
  PMS2) one by one: loss of any one (or negative staining) is dMMR; intact expression is pMMR only when
  all four are recorded intact (fewer leave the status unknown, said in the note); subclonal or
  heterogeneous loss is reported and not read.
* ``tmb_status``: ``high | low | unknown``. From a TMB test (list ``tmb-tests``: LOINC 94076-7,
  94077-5, or "TMB" / "tumor mutational burden"): a number of mutations per megabase (valueQuantity in
  mut/Mb, "/[Mb]", "{mutations}/[Mb]", "1/1000000{Base}", "mutations per megabase" ..., or text such as
  "12.5 mut/Mb" or "12.5 mutations per megabase"), high
  when 10 or more (the Keytruda label's TMB-H), else low; or, without a number, an interpretation
  "TMB-high" / "high" or "low" (list ``tmb-values``). A number with a unit that is not per megabase, a
  bound that does not settle 10 ("<12", ">8") or a number that disagrees with the report's own
  interpretation is reported and not read; "intermediate" says nothing about 10 (note). A blood (ctDNA)
  TMB is reported and not read: the label's threshold is for tissue.

Unknown is not negative. Results that disagree (MSI-H and MSS, TMB high and low) are reported as
conflicting and the status stays unknown, whatever their dates: the clinician decides which holds.

One module, about 400 lines: MSI, MMR protein stains and TMB share the result reading, the conflict
handling and the rule that a result not read is reported, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar

from cds.evidence import IssueKind
from cds.fhir import models
from cds.fhir.vocabulary import find_phrase, words
from cds.profile.common import Context, Observations, evidence, observation_date, ref
from cds.profile.model import Evidence, Fact, MsiStatus, TmbStatus
from cds.profile.values import Value, Valued, answer_texts, result_value, value_of, written

#: Keytruda US label: TMB-H = 10 or more mutations per megabase (FDA-approved test).
TMB_THRESHOLD: Final = 10.0
_MMR_PROTEINS: Final = ("mlh1", "msh2", "msh6", "pms2")
_PROTEIN_LABEL: Final = {"mlh1": "MLH1", "msh2": "MSH2", "msh6": "MSH6", "pms2": "PMS2"}
_MSI_UNKNOWN: Final[Fact[MsiStatus]] = Fact("unknown")
_TMB_UNKNOWN: Final[Fact[TmbStatus]] = Fact("unknown")
# A unit per megabase, written without spaces, brackets or braces ("{mutations}/[Mb]" -> "mutations/mb",
# "mutations per megabase" -> "mutationspermegabase")
_PER_MB: Final = frozenset(
    {
        "/mb",
        "mut/mb",
        "muts/mb",
        "mutation/mb",
        "mutations/mb",
        "m/mb",
        "1/mb",
        "1/1000000base",
        "/megabase",
        "mut/megabase",
        "mutations/megabase",
        "permb",
        "permegabase",
        "mutpermb",
        "mutationspermb",
        "mutationspermegabase",
    }
)
# a blood TMB (bTMB, from ctDNA) has its own cut-offs: not read against the tissue threshold
_BLOOD: Final = ("blood", "plasma", "ctdna", "btmb", "liquid biopsy", "cell-free", "cfdna")
_UNIT_NOISE: Final = str.maketrans("", "", " []{}")
_TMB_TEXT_RE: Final = re.compile(
    r"(<=|>=|<|>|≤|≥)?\s*(\d+(?:[.,]\d+)?)\s*(?:mut(?:ation)?s?|m)?\s*(?:/|\bper\b)\s*(?:\[?mb\]?|megabase)\b"
)


def _coded(ctx: Context, val: Value, obs: Valued, values: str) -> str | None:
    """The answer in the value list ``values`` (by code, then by its words), else the generic positive /
    negative answer (``result-values``, also from a POS/NEG interpretation)."""
    if val.cc is not None:
        hit = ctx.match(values, val.cc, by_text=False)
        if hit is not None and hit.value:
            return hit.value
    own = ctx.codes(values)
    for text in answer_texts(val):
        hit_text = own.match_text(text)
        if hit_text is not None and hit_text.value:
            return hit_text.value
    return result_value(ctx, val, obs)


_HIGH_ANSWERS: Final = frozenset({"high", "deficient", "unstable", "positive", "detected"})
# MSI words only: a dMMR report that lists the proteins still expressed ("MSH2, MSH6 intact") is not mixed
_STABLE_ANSWERS: Final = frozenset({"stable", "low"})
# loss of expression in part of the tumour only ("subclonal loss of MSH6"): heterogeneous MMR loss, a class
# of its own in breast cancer (Fusco, JNCI Cancer Spectrum 2018, as cited by review 6)
_PARTIAL: Final = ("subclonal", "heterogeneous", "focal", "patchy")


def _mentions(texts: Sequence[str], phrases: Iterable[str]) -> bool:
    """One of the texts holds one of the phrases, as whole words."""
    hays = [words(text) for text in texts]
    return any(find_phrase(hay, phrase) >= 0 for phrase in phrases for hay in hays)


def _also_stable(ctx: Context, val: Value) -> bool:
    """The answer's words also say microsatellite stable or MSI-L ("MSI-H (previously MSS)"): a result
    that names both is not read either way."""
    stable = (e.match for e in ctx.codes("msi-values").text if e.value in _STABLE_ANSWERS)
    return _mentions(answer_texts(val), stable)


def _not_read(
    ctx: Context,
    field: str,
    obs: models.Observation,
    ev: Evidence,
    why: str,
    kind: IssueKind = "unreadable",
) -> tuple[None, Evidence]:
    """A result reported as a data issue on ``field`` (why it is not read) and left unread."""
    ctx.issue(field, kind, f"{ref(obs)}: {why}", ev)
    return None, ev


class _Read:
    __slots__ = ("evidence", "value", "when")

    def __init__(self, value: str, when: str | None, ev: Evidence) -> None:
        self.value = value  # high | stable_or_low | lost | intact (MSI); high | low (TMB)
        self.when = when
        self.evidence = ev


# --- MSI / MMR ---------------------------------------------------------------------------------------

# what an answer means on a test of the whole tumour (MSI, MSI by immunostain, MMR status)
_TUMOUR_ANSWER: Final = {
    "high": "high",
    "deficient": "high",
    "low": "stable_or_low",
    "stable": "stable_or_low",
    "proficient": "stable_or_low",
    "negative": "stable_or_low",
    "not_detected": "stable_or_low",
}
# ... and on one MMR protein's stain: negative staining is loss of expression
_PROTEIN_ANSWER: Final = {
    "deficient": "lost",
    "negative": "lost",
    "not_detected": "lost",
    "proficient": "intact",
    "positive": "intact",
    "detected": "intact",
}


def _msi_result(
    ctx: Context, kind: str, obs: models.Observation, notes: list[str]
) -> tuple[str | None, Evidence]:
    """("high" | "stable_or_low" | "lost" | "intact" | None, the evidence) for one MSI/MMR Observation."""
    val = value_of(obs)
    when = observation_date(obs)
    name = ctx.label(obs.code)
    shown = written(ctx, val) or "no value"
    ev = evidence(obs, when, f"{name}: {shown}")
    answer = _coded(ctx, val, obs, "msi-values")
    bare = (val.text or "").strip().lower()
    if answer is None and bare in ("high", "low"):  # the whole answer, on an MSI test
        answer = bare
    if answer in _HIGH_ANSWERS and _also_stable(ctx, val):
        return _not_read(
            ctx,
            "msi_status",
            obs,
            ev,
            f"the MSI/MMR result names both instability and stability ({shown}); not read.",
        )
    if answer == "indeterminate":
        notes.append(f"{ref(obs)}: {shown}: indeterminate, not read")
        return None, ev
    if answer in ("deficient", "negative") and _mentions(answer_texts(val), _PARTIAL):
        return _not_read(
            ctx,
            "msi_status",
            obs,
            ev,
            f"MMR protein loss reported as subclonal or heterogeneous ({shown}), which is not "
            "the dMMR of the label's trials; an MSI or NGS result would settle it. Not read.",
        )
    if kind in _MMR_PROTEINS:
        got = _PROTEIN_ANSWER.get(answer or "")
    elif answer == "unstable" and kind in ("msi_ihc", "mmr"):  # expression lost or not: no MSI-L
        got = "high"
    elif answer in ("unstable", "positive", "detected") and kind not in ("msi_ihc", "mmr"):
        return _not_read(
            ctx,
            "msi_status",
            obs,
            ev,
            f"MSI reported as {shown}, without a grade (MSI-H or MSI-L); not read.",
        )
    elif kind in ("mmr", "msi_ihc") and answer in ("positive", "negative", "detected", "not_detected"):
        # "positive" on an immunostain: instability, or the proteins' expression kept? Not guessed.
        return _not_read(
            ctx,
            "msi_status",
            obs,
            ev,
            f"MSI/MMR by immunostain reported as {shown}, which may mean the proteins are "
            "expressed; ask for the MLH1, MSH2, MSH6 and PMS2 results or an MSI/NGS result. Not read.",
        )
    else:
        got = _TUMOUR_ANSWER.get(answer or "")
        if answer == "low":
            notes.append(f"{ref(obs)}: MSI-L is not MSI-H")
    if got is None:
        return _not_read(ctx, "msi_status", obs, ev, f"the MSI/MMR result could not be read ({shown}).")
    return got, ev


def derive_msi(observations: Observations, ctx: Context) -> Fact[MsiStatus]:
    """MSI-H / dMMR, or stable / MSI-L / pMMR, or unknown (see the module's docstring)."""
    tumour: list[_Read] = []
    proteins: dict[str, list[_Read]] = {}
    notes: list[str] = []
    for obs in observations.coded("msi-tests"):
        test = ctx.match("msi-tests", obs.code)
        if test is None or not test.value:
            continue
        got, ev = _msi_result(ctx, test.value, obs, notes)
        if got is None:
            continue
        if got in ("lost", "intact"):
            proteins.setdefault(test.value, []).append(_Read(got, observation_date(obs), ev))
        else:
            tumour.append(_Read(got, observation_date(obs), ev))
    if proteins:
        lost = [r for reads in proteins.values() for r in reads if r.value == "lost"]
        if lost:
            names = ", ".join(
                _PROTEIN_LABEL[p] for p in _MMR_PROTEINS if any(r in lost for r in proteins.get(p, ()))
            )
            tumour.extend(_Read("high", r.when, r.evidence) for r in lost)
            notes.append(f"loss of {names} expression (dMMR)")
        elif all(p in proteins for p in _MMR_PROTEINS):
            tumour.extend(
                _Read("stable_or_low", r.when, r.evidence) for reads in proteins.values() for r in reads
            )
            notes.append("MLH1, MSH2, MSH6 and PMS2 expression intact (pMMR)")
        else:
            missing = ", ".join(_PROTEIN_LABEL[p] for p in _MMR_PROTEINS if p not in proteins)
            notes.append(f"MMR stains intact, but {missing} not recorded: MMR status not settled")
    note = "; ".join(notes) + "." if notes else None
    note = note[:1].upper() + note[1:] if note else None
    if not tumour:
        return Fact("unknown", (), note) if note else _MSI_UNKNOWN
    why = "MSI/MMR results disagree (MSI-H or dMMR in one, MSS, MSI-L or pMMR in another)"
    return _decided(ctx, "msi_status", tumour, ("high", "stable_or_low"), why, note)


_Status = TypeVar("_Status", MsiStatus, TmbStatus)


def _decided(
    ctx: Context, field: str, reads: list[_Read], values: tuple[_Status, _Status], why: str, note: str | None
) -> Fact[_Status]:
    """The status the reads give (``values``: the high one, then the other), or, when reads of both
    disagree, unknown with a data issue naming one of each (the clinician decides which holds)."""
    high = [r for r in reads if r.value == values[0]]
    other = [r for r in reads if r.value == values[1]]
    if high and other:
        ctx.issue(
            field, "conflicting", f"{why}; the status is left unknown.", high[0].evidence, other[0].evidence
        )
        return Fact("unknown", (high[0].evidence, other[0].evidence), f"{why}: {note}" if note else f"{why}.")
    chosen = high or other
    return Fact(values[0] if high else values[1], tuple(r.evidence for r in chosen[:6]), note)


# --- TMB ---------------------------------------------------------------------------------------------


def _per_mb(unit: str, kind: str, code_text: str) -> bool:
    """A unit per megabase; no unit counts on the per-megabase LOINC (94076-7) or a test named so."""
    if not unit:
        return kind == "quantity_loinc" or "megabase" in code_text or "/mb" in code_text
    return unit.translate(_UNIT_NOISE) in _PER_MB


def _tmb_number(number: float, comparator: str | None) -> str | None:
    """high / low for a TMB number with its comparator, or None when the bound does not settle 10."""
    if comparator in (None, "", "="):
        return "high" if number >= TMB_THRESHOLD else "low"
    if comparator in (">=", "≥", ">"):
        return "high" if number >= TMB_THRESHOLD else None
    if comparator == "<":
        return "low" if number <= TMB_THRESHOLD else None
    if comparator in ("<=", "≤"):
        return "low" if number < TMB_THRESHOLD else None
    return None


def _tmb_result(
    ctx: Context, kind: str, obs: models.Observation, notes: list[str]
) -> tuple[str | None, Evidence]:
    val = value_of(obs)
    when = observation_date(obs)
    name = ctx.label(obs.code)
    code_text = " ".join(
        filter(None, [ctx.text(obs.code), *(d for _, _, d in ctx.codings(obs.code))])
    ).lower()
    shown = written(ctx, val) or "no value"
    texts = answer_texts(val)
    if _mentions([code_text], _BLOOD):
        ev = evidence(obs, when, f"{name}: {shown}")
        why = "a blood (ctDNA) TMB is not the tissue TMB of the label's threshold; not read."
        return _not_read(ctx, "tmb_status", obs, ev, why)
    q = val.quantity
    number: tuple[float, str | None] | None = None
    if q is not None:
        raw = obs.valueQuantity
        unit = (raw.unit or raw.code or "") if raw is not None else ""
        shown = f"{q.comparator or ''}{q.value:g} {unit}".strip()
        if not _per_mb(q.unit, kind, code_text):
            ev = evidence(obs, when, f"{name}: {shown}")
            return _not_read(
                ctx,
                "tmb_status",
                obs,
                ev,
                f"the TMB result ({shown}) is not in mutations per megabase; not read.",
            )
        number = (q.value, q.comparator)
    else:
        for text in texts:
            found = _TMB_TEXT_RE.search(text.lower())
            if found is not None:
                number = (float(found.group(2).replace(",", ".")), found.group(1))
                break
    ev = evidence(obs, when, f"{name}: {shown}")
    coded = ctx.match("tmb-values", val.cc, by_text=False) if val.cc is not None else None
    verdict: str | None = coded.value if coded is not None else None
    for text in texts if verdict is None else ():
        hit = ctx.codes("tmb-values").match_text(text)
        if hit is not None and hit.value:
            verdict = hit.value
            break
    if number is not None:
        got = _tmb_number(*number)
        if got is None:
            return _not_read(
                ctx,
                "tmb_status",
                obs,
                ev,
                f"the TMB result ({shown}) does not say whether it is 10 mut/Mb or more; not read.",
            )
        if verdict in ("high", "low") and verdict != got:
            return _not_read(
                ctx,
                "tmb_status",
                obs,
                ev,
                f"the TMB result ({shown}) is {got} against 10 mut/Mb (the Keytruda "
                f"threshold) but the report calls it {verdict}; not read.",
                kind="conflicting",
            )
        notes.append(f"TMB {number[1] or ''}{number[0]:g} mut/Mb ({ref(obs)}, {when or 'undated'})")
        return got, ev
    if verdict in ("high", "low"):
        notes.append(
            f"{ref(obs)}: TMB reported {verdict} without a number; the laboratory's cut-off was used"
        )
        return verdict, ev
    if verdict == "intermediate":
        notes.append(f"{ref(obs)}: TMB intermediate without a number (not read against 10 mut/Mb)")
        return None, ev
    return _not_read(ctx, "tmb_status", obs, ev, f"the TMB result could not be read ({shown}).")


def derive_tmb(observations: Observations, ctx: Context) -> Fact[TmbStatus]:
    """TMB-high (10 mut/Mb or more), low, or unknown (see the module's docstring)."""
    reads: list[_Read] = []
    notes: list[str] = []
    for obs in observations.coded("tmb-tests"):
        test = ctx.match("tmb-tests", obs.code)
        if test is None:
            continue
        loinc = any(c == "94076-7" for _, c, _ in ctx.codings(obs.code))
        kind = "quantity_loinc" if loinc else (test.value or "quantity")
        got, ev = _tmb_result(ctx, kind, obs, notes)
        if got is not None:
            reads.append(_Read(got, observation_date(obs), ev))
    note = "; ".join(notes) + "." if notes else None
    if not reads:
        return Fact("unknown", (), note) if note else _TMB_UNKNOWN
    why = "TMB results disagree (10 mut/Mb or more in one, less in another)"
    return _decided(ctx, "tmb_status", reads, ("high", "low"), why, note)
