"""PD-L1 (the 22C3 combined positive score and what is not one).

* ``pd_l1``: PD-L1 tests (LOINC list ``pd-l1-tests``): a combined positive score (CPS) with the 22C3
  assay (or an unnamed assay, said in the note), positive when CPS >= 10 (KEYNOTE-355; see the list's
  source note), or a coded positive / negative answer of a 22C3 or unnamed-assay test. The most recent
  result wins. Assay and score are kept apart (``read_pd_l1``): an SP142 immune-cell (IC) score, a
  tumour proportion score (TPS) or a 28-8 / SP263 result is not a 22C3 CPS; it is named in the note and
  reported ("ignored"), never read as positive or negative.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cds.fhir import models
from cds.profile.common import Context, Observations, components, evidence, observation_date, ref
from cds.profile.dates import date_key
from cds.profile.model import BiomarkerStatus, Evidence, Fact
from cds.profile.values import Value, interpretations, value_of

# A fact without evidence is the same every call (and immutable): made once.
_PD_L1_UNKNOWN: Final[Fact[BiomarkerStatus]] = Fact("unknown")
CPS_THRESHOLD = 10.0  # KEYNOTE-355 (pembrolizumab + chemotherapy, TNBC, 22C3 CPS >= 10)
_CPS_RE = re.compile(
    r"(?:cps|combined positive score)\s*(?:score)?\s*[:=]?\s*(<|>|<=|>=|≥|≤)?\s*(\d+(?:[.,]\d+)?)"
)


# The 22C3 tumour proportion score LOINC (clinical.md 1.5: "83053-9 (cells PD-L1/100 viable tumor cells
# = TPS)"): a percentage on it is a TPS unless the result names a CPS.
_TPS_LOINC = "83053-9"
_IC_RE = re.compile(
    r"\b(?:ic|immune cells?|ic score)\b\s*(?:score)?\s*[:=]?\s*(<=|>=|<|>|≤|≥)?\s*(\d+(?:[.,]\d+)?)\s*%?"
)
_TPS_RE = re.compile(r"\b(?:tps|tumou?r proportion score)\b\s*[:=]?\s*(<=|>=|<|>|≤|≥)?\s*(\d+(?:[.,]\d+)?)?")
_PD_L1_ASSAY_TEXT = (("22c3", "22c3"), ("sp142", "sp142"), ("28-8", "28-8"), ("sp263", "other"))


def _cps(texts: Sequence[str | None]) -> tuple[float, str | None] | None:
    for text in texts:
        if not text:
            continue
        found = _CPS_RE.search(text.lower())
        if found is not None:
            try:
                return float(found.group(2).replace(",", ".")), found.group(1)
            except ValueError:
                return None
    return None


class PdL1Read:
    """One PD-L1 Observation: the assay, the kind of score (22C3 CPS, SP142 IC, TPS), the CPS if any,
    a coded positive/negative answer, and what it said."""

    __slots__ = ("assay", "coded", "cps", "evidence", "kind", "shown", "when")

    def __init__(
        self,
        assay: str,
        kind: str,
        cps: tuple[float, str | None] | None,
        coded: str | None,
        shown: str,
        when: str | None,
        evidence: Evidence,
    ) -> None:
        self.assay = assay  # 22c3 | 28-8 | sp142 | other | unspecified
        self.kind = kind  # 22c3_cps | sp142_ic | tps | other | unknown
        self.cps = cps
        self.coded = coded  # positive | negative | None
        self.shown = shown
        self.when = when
        self.evidence = evidence

    @property
    def label(self) -> str:
        """What was found, in a pathologist's words: "PD-L1 SP142 IC 5%"."""
        assay = {"22c3": "22C3", "sp142": "SP142", "28-8": "28-8", "other": ""}.get(self.assay, "")
        return " ".join(p for p in ("PD-L1", assay, self.shown) if p)


def _pd_l1_texts(ctx: Context, obs: models.Observation, val: Value) -> list[str | None]:
    texts: list[str | None] = [val.text, *(d for _, _, d in ctx.codings(val.cc))]
    for note in obs.note or ():
        texts.append(note.text)
    for comp in components(obs):
        cval = value_of(comp)
        comp_code = comp.code
        ctext = " ".join(
            filter(None, [ctx.text(comp_code), *(d for _, _, d in ctx.codings(comp_code))])
        ).lower()
        if cval.quantity is not None and ("cps" in ctext or "combined positive" in ctext):
            texts.append(f"CPS {cval.quantity.comparator or ''}{cval.quantity.value:g}")
        texts.append(cval.text)
    return texts


def read_pd_l1(ctx: Context, obs: models.Observation) -> PdL1Read | None:
    """Read one PD-L1 Observation, keeping assay and score apart (None: not a PD-L1 test)."""
    code = obs.code
    test = ctx.match("pd-l1-tests", code)
    if test is None:
        return None
    when = observation_date(obs)
    val = value_of(obs)
    code_text = " ".join(filter(None, [ctx.text(code), *(d for _, _, d in ctx.codings(code))])).lower()
    texts = _pd_l1_texts(ctx, obs, val)
    everything = " ".join([code_text, *(t.lower() for t in texts if t)])
    assay = test.value or "unspecified"
    if assay == "unspecified":
        assay = next((a for word, a in _PD_L1_ASSAY_TEXT if word in everything), "unspecified")
    cps = _cps(texts)
    q = val.quantity
    if (
        cps is None
        and q is not None
        and ("cps" in q.unit or "cps" in code_text or "combined positive" in code_text)
    ):
        cps = (q.value, q.comparator)
    value_text = " ".join(t.lower() for t in texts if t)
    ic = _IC_RE.search(value_text)
    tps = _TPS_RE.search(value_text)
    tps_code = any(c == _TPS_LOINC for _, c, _ in ctx.codings(code)) or "tumor proportion" in code_text
    kind: str
    shown: str
    if cps is not None:
        kind = "22c3_cps" if assay in ("22c3", "unspecified") else "other"
        shown = f"CPS {cps[1] or ''}{cps[0]:g}"
    elif ic is not None or assay == "sp142":
        kind = "sp142_ic" if assay in ("sp142", "unspecified") else "other"
        shown = f"IC {ic.group(1) or ''}{ic.group(2)}%" if ic is not None else ""
        assay = "sp142" if kind == "sp142_ic" else assay
    elif tps is not None or (tps_code and q is not None and not q.unit.startswith("{")):
        kind = "tps"
        if tps is not None and tps.group(2):
            shown = f"TPS {tps.group(1) or ''}{tps.group(2)}%"
        elif q is not None:
            shown = f"TPS {q.comparator or ''}{q.value:g}%"
        else:
            shown = val.text or "TPS"
    elif assay in ("28-8", "other"):
        kind, shown = "other", ""
    else:
        kind, shown = "unknown", ""
    coded = _pd_l1_coded(ctx, val, obs)
    if not shown:
        shown = (ctx.describe(val.cc) if val.cc is not None else val.text) or (coded or "")
    ev = evidence(obs, when, f"{ctx.label(code)} ({test.value}): {shown or 'unread'}")
    return PdL1Read(assay, kind, cps, coded, shown, when, ev)


def _pd_l1_coded(ctx: Context, val: Value, obs: models.Observation) -> str | None:
    hit = ctx.match("result-values", val.cc, by_text=False) if val.cc is not None else None
    v = hit.value if hit is not None else None
    if v is None and val.text:
        ht = ctx.codes("result-values").match_text(val.text)
        v = ht.value if ht is not None else None
    if v is None:
        for interp in interpretations(obs):
            hi = ctx.match("result-values", interp)
            if hi is not None:
                v = hi.value
                break
    return {
        "positive": "positive",
        "detected": "positive",
        "high": "positive",
        "abnormal": "positive",
        "negative": "negative",
        "not_detected": "negative",
        "normal": "negative",
    }.get(v or "")


def not_a_cps(read: PdL1Read) -> str:
    """Why a PD-L1 result is not used for pembrolizumab: "PD-L1 SP142 IC 5% - not a 22C3 CPS"."""
    return f"{read.label} ({read.evidence.reference}) - not a 22C3 CPS"


def derive_pd_l1(observations: Observations, ctx: Context) -> Fact[BiomarkerStatus]:
    """positive / negative from a 22C3 (or unnamed-assay) CPS, or a coded 22C3 / unnamed-assay answer.

    An SP142 immune-cell score, a tumour proportion score or another assay's result is not a 22C3 CPS:
    it is named in the note and a DataIssue ("ignored"), never read as positive or negative.
    """
    results: list[tuple[str | None, str, Evidence]] = []
    ignored: list[PdL1Read] = []
    notes: list[str] = []
    for obs in observations.coded("pd-l1-tests"):
        read = read_pd_l1(ctx, obs)
        if read is None:
            continue
        if read.kind in ("sp142_ic", "tps", "other"):
            ignored.append(read)
            ctx.issue(
                "pd_l1",
                "ignored",
                f"{not_a_cps(read)}: pembrolizumab with chemotherapy in triple-negative disease is selected "
                "by the 22C3 combined positive score (CPS >= 10, KEYNOTE-355); this result was not used.",
                read.evidence,
            )
            continue
        value: str | None = None
        if read.cps is not None:
            number, comparator = read.cps
            positive = number >= CPS_THRESHOLD and comparator not in ("<", "<=", "≤")
            value = "positive" if positive else "negative"
        elif read.coded is not None:
            value = read.coded
            notes.append(
                f"{read.evidence.reference}: a {read.coded} answer without a CPS; check the cut-off used"
            )
        if value is None:
            ctx.issue(
                "pd_l1",
                "unreadable",
                f"{ref(obs)}: PD-L1 result could not be read as a coded result or a 22C3 CPS "
                "(a tumour proportion score is not used).",
                read.evidence,
            )
            continue
        if read.assay == "unspecified":
            notes.append(f"{read.evidence.reference}: assay not named; read as 22C3")
        results.append((read.when, value, read.evidence))
    ignored_note = "; ".join(not_a_cps(r) for r in ignored)
    if not results:
        if ignored:
            return Fact("unknown", tuple(r.evidence for r in ignored), ignored_note + ".")
        return _PD_L1_UNKNOWN
    results.sort(key=lambda r: (date_key(r[0]), r[2].reference), reverse=True)
    latest = results[0]
    same = [r for r in results if date_key(r[0]) == date_key(latest[0])]
    if len({r[1] for r in same}) > 1:
        ctx.issue("pd_l1", "conflicting", "PD-L1 results on the same date disagree.", *(r[2] for r in same))
        return Fact("unknown", tuple(r[2] for r in same), "PD-L1 results on the same date disagree.")
    status: BiomarkerStatus = "positive" if latest[1] == "positive" else "negative"
    used = {r[2].reference for r in same}
    parts = [n for n in notes if n.split(":", 1)[0] in used]
    older = [r for r in results[len(same) :] if r[1] != latest[1]]
    if older:
        parts.append(
            f"earlier PD-L1 result {older[0][1]} ({older[0][2].reference}); the most recent was used"
        )
    if ignored_note:
        parts.append(ignored_note)
    note = ("; ".join(parts) + ".") if parts else None
    if note:
        note = note[:1].upper() + note[1:]
    return Fact(status, tuple(r[2] for r in same), note)
