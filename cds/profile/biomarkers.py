"""Tumour biomarkers beyond ER/PR/HER2 and germline BRCA: PIK3CA, AKT1, PTEN, ESR1, the PD-L1 CPS and
HER2-ultralow.

* Gene status (``pik3ca_status``, ``akt1_status``, ``pten_status``, ``esr1_status``):
  ``altered | not_detected | unknown``. Read from a gene-specific test (code list ``pik3ca`` / ``pten``
  LOINC codes, or a local code whose text names the gene) with a detected / positive / pathogenic value
  (altered) or a negative / not detected value; or from a 69548-6 variant whose component 48018-6 names
  the gene (HGNC id or symbol): value Present (or no value) with significance pathogenic / likely
  pathogenic = altered; Absent = not_detected. A variant of uncertain significance or benign is not an
  actionable alteration and reads as not_detected (the note says so). A present variant without a stated
  significance is read as altered and reported as a DataIssue to check on the report. PTEN protein IHC
  (81706-4): loss / negative / absent staining = altered, retained / intact / positive = not_detected.
  Germline vs somatic does not matter here (these are usually tumour or ctDNA findings). Any altered
  result wins (mutations are acquired under treatment; a negative ctDNA result does not exclude one) and
  a negative result is mentioned in the note.
* ``esr1_tested_since_progression`` (yes / no / unknown): whether the latest ESR1 result is dated on or
  after the last progression (or early relapse), up to ``ESR1_BEFORE_PROGRESSION_DAYS`` before it (ctDNA
  drawn at the visit that found the progression): ASCO 2023 tests ESR1 at each progression on endocrine
  therapy, as mutations are acquired under treatment, so a "not detected" from before it does not tell
  the status now, and one from since does. Unknown without a dated result or a dated progression.
* ``pd_l1_cps``: the combined positive score as an integer from a 22C3 (or unnamed-assay) PD-L1 result:
  valueQuantity (unit or test naming CPS / combined positive), or text such as "CPS 12" or "CPS >= 10".
  "<N" is kept only when N <= 1 (read as 0); other "<N" values are not a number and stay unknown. The
  most recent result wins; disagreement on the same date gives unknown and a DataIssue. An SP142 IC, a
  TPS or another assay's score never sets it (``genomics.read_pd_l1``); the note says what was found
  ("PD-L1 SP142 IC 5% - not a 22C3 CPS").
* ``pd_l1_assay``: the PD-L1 assay and score type the record holds (``derive_pd_l1_assay``).
* ``her2_ultralow`` (FDA, 27 Jan 2025; DESTINY-Breast06): yes = HER2 IHC 0 whose report states membrane
  staining (faint / barely perceptible, incomplete, in >0 and <=10% of cells, "ultralow"); no = IHC 0
  with "no staining" / "null", or a score other than 0 / HER2-positive; unknown = IHC 0 without a
  statement, or no HER2 IHC score. The statement may be in the value, a note, an interpretation or a
  component of the IHC Observation.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Final

from cds.fhir import models
from cds.profile.common import (
    Context,
    Observations,
    cc_text,
    codings,
    components,
    evidence,
    observation_date,
    ref,
)
from cds.profile.dates import date_key, to_date
from cds.profile.model import Evidence, Fact, GeneStatus, Her2Ihc, Her2Status, PdL1Assay, YesNoUnknown
from cds.profile.pd_l1 import PdL1Read, not_a_cps, read_pd_l1
from cds.profile.values import (
    Value,
    answer_texts,
    interpretations,
    result_value,
    value_of,
    variant_change,
    variant_parts,
)

GENES = ("pik3ca", "akt1", "pten", "esr1")
_GENE_TESTS = ("variant-tests", *GENES)
_GENE_LABEL = {"pik3ca": "PIK3CA", "akt1": "AKT1", "pten": "PTEN", "esr1": "ESR1"}
_ULTRALOW_RANGE_RE = re.compile(r">\s*0\s*%?\s*(?:and|to|-|\u2013)\s*(?:≤|<=|<)?\s*10\s*%")
_PTEN_LOSS = ("loss", "lost", "absent", "negative", "deficient", "no staining", "not detected")
_PTEN_KEPT = ("retained", "intact", "present", "positive", "preserved", "expressed")
# Facts without evidence are the same every call (and immutable): made once.
_GENE_UNKNOWN: Final[Fact[GeneStatus]] = Fact("unknown")
ESR1_BEFORE_PROGRESSION_DAYS: Final = 30
_NO_CPS: Final[Fact[int | None]] = Fact(None)


class _GeneResult:
    __slots__ = ("evidence", "gene", "note", "value", "when")

    def __init__(
        self, gene: str, value: str, when: str | None, evidence: Evidence, note: str | None = None
    ) -> None:
        self.gene = gene
        self.value = value  # altered | not_detected
        self.when = when
        self.evidence = evidence
        self.note = note


# a High or Abnormal flag on a gene test reads as a variant found, Normal as none (result-values.yaml)
_ALTERED = frozenset({"positive", "detected", "pathogenic", "high", "abnormal"})
_NEGATIVE = frozenset({"negative", "not_detected", "normal"})
_NOT_ACTIONABLE = frozenset({"uncertain", "not_pathogenic"})


def _gene_of(ctx: Context, val: Value) -> str | None:
    for gene in GENES:
        hit = ctx.match(gene, val.cc) if val.cc is not None else None
        if hit is None and val.text:
            hit_text = ctx.codes(gene).match_text(val.text)
            if hit_text is not None:
                return gene
        if hit is not None:
            return gene
    return None


def _variant(ctx: Context, obs: models.Observation, when: str | None, name: str) -> _GeneResult | None:
    gene, significance = variant_parts(
        ctx, obs, lambda v: _gene_of(ctx, v), lambda v, comp: result_value(ctx, v, comp)
    )
    if gene is None:
        return None
    symbol = _GENE_LABEL[gene]
    val = value_of(obs)
    presence = result_value(ctx, val, obs) if not val.empty else None
    if presence in _NEGATIVE:
        return _GeneResult(
            gene, "not_detected", when, evidence(obs, when, f"{name}: no {symbol} variant found")
        )
    if significance in _NOT_ACTIONABLE:
        what = "uncertain significance" if significance == "uncertain" else "benign or likely benign"
        ev = evidence(obs, when, f"{name}: {symbol} variant of {what}")
        return _GeneResult(
            gene, "not_detected", when, ev, f"{ref(obs)}: {symbol} variant of {what}, not actionable"
        )
    change = variant_change(ctx, obs)
    variant = f"{symbol} {change}" if change else f"{symbol} variant"
    ev = evidence(obs, when, f"{name}: {variant}, {significance or 'significance not stated'}")
    if significance is None:
        ctx.issue(
            f"{gene}_status",
            "missing",
            f"{ref(obs)}: {variant} reported without its clinical significance; it was read as an "
            "alteration - confirm on the molecular report.",
            ev,
        )
    return _GeneResult(gene, "altered", when, ev)


def _gene_test(
    ctx: Context, gene: str, kind: str, obs: models.Observation, when: str | None, name: str
) -> _GeneResult | None:
    symbol = _GENE_LABEL[gene]
    val = value_of(obs)
    shown = (
        val.text or (ctx.text(val.cc) if val.cc is not None else None) or next(iter(answer_texts(val)), None)
    )
    if kind == "ihc":  # PTEN protein by IHC: negative staining means loss, a Normal flag retained
        low = " ".join(answer_texts(val)).lower()
        got = result_value(ctx, val, obs)
        if any(w in low for w in _PTEN_LOSS) or got in ("negative", "not_detected"):
            return _GeneResult(
                gene, "altered", when, evidence(obs, when, f"{name}: {shown or 'loss'} (PTEN loss)")
            )
        if any(w in low for w in _PTEN_KEPT) or got in ("positive", "detected", "normal"):
            return _GeneResult(
                gene, "not_detected", when, evidence(obs, when, f"{name}: {shown or 'retained'}")
            )
    else:
        got = result_value(ctx, val, obs)
        ev = evidence(obs, when, f"{name}: {shown or got or 'no value'}")
        if got in _ALTERED:
            return _GeneResult(gene, "altered", when, ev)
        if got in _NEGATIVE:
            return _GeneResult(gene, "not_detected", when, ev)
        if got in _NOT_ACTIONABLE:
            return _GeneResult(gene, "not_detected", when, ev, f"{ref(obs)}: {symbol} variant not actionable")
    ctx.issue(
        f"{gene}_status",
        "unreadable",
        f"{ref(obs)}: the {symbol} result could not be read ({shown or 'no value'}).",
        evidence(obs, when, f"{name}: {shown or 'no value'}"),
    )
    return None


def derive_genes(observations: Observations, ctx: Context) -> dict[str, Fact[GeneStatus]]:
    """``{gene: Fact}`` for PIK3CA, AKT1, PTEN and ESR1."""
    results: list[_GeneResult] = []
    for obs in observations.coded_in(_GENE_TESTS):
        code = obs.code
        if ctx.match("variant-tests", code, by_text=False) is not None:
            got = _variant(ctx, obs, observation_date(obs), ctx.label(code))
            if got is not None:
                results.append(got)
            continue
        for gene in GENES:
            hit = ctx.match(gene, code)
            if hit is None:
                continue
            got = _gene_test(ctx, gene, hit.value or "test", obs, observation_date(obs), ctx.label(code))
            if got is not None:
                results.append(got)
            break
    if not results:  # the usual chart: nothing to sort and filter for each gene
        return {gene: _GENE_UNKNOWN for gene in GENES}
    out: dict[str, Fact[GeneStatus]] = {}
    for gene in GENES:
        mine = sorted([r for r in results if r.gene == gene], key=lambda r: date_key(r.when), reverse=True)
        altered = [r for r in mine if r.value == "altered"]
        negative = [r for r in mine if r.value == "not_detected"]
        notes = [r.note for r in mine if r.note]
        if altered:
            if negative:
                notes.append(
                    f"another {_GENE_LABEL[gene]} result found none ({negative[0].evidence.reference}); "
                    "an alteration found once is used"
                )
            out[gene] = Fact("altered", tuple(r.evidence for r in altered), "; ".join(notes) or None)
        elif negative:
            out[gene] = Fact("not_detected", tuple(r.evidence for r in negative), "; ".join(notes) or None)
        else:
            out[gene] = _GENE_UNKNOWN
    return out


# --- PD-L1 combined positive score ---------------------------------------------------------------


def esr1_tested_since(esr1: Fact[GeneStatus], progression: date | None) -> Fact[YesNoUnknown]:
    """Whether the latest ESR1 result is from this progression (module docstring)."""
    dated = [(when, e) for e in esr1.evidence if (when := to_date(e.date)) is not None]
    if esr1.value == "unknown" or progression is None or not dated:
        return Fact("unknown")
    latest = max(when for when, _ in dated)
    shown = tuple(e for when, e in dated if when == latest)
    tested = f"ESR1 tested {latest.isoformat()}"
    if latest >= progression - timedelta(days=ESR1_BEFORE_PROGRESSION_DAYS):
        return Fact("yes", shown, f"{tested}, at or since the progression of {progression.isoformat()}")
    return Fact("no", shown, f"{tested}, before the progression of {progression.isoformat()}")


def _cps_number(number: float, comparator: str | None) -> int | None:
    if comparator in ("<", "<=", "≤"):
        return 0 if number <= 1 else None
    if comparator == ">":
        return math.floor(number) + 1
    return math.floor(number)


def derive_pd_l1_cps(observations: Observations, ctx: Context) -> Fact[int | None]:
    found: list[tuple[str | None, int, Evidence, str]] = []
    not_cps: list[PdL1Read] = []
    for obs in observations.coded("pd-l1-tests"):
        read = read_pd_l1(ctx, obs)
        if read is None:
            continue
        if read.kind != "22c3_cps" or read.cps is None:
            if read.kind in ("sp142_ic", "tps", "other"):
                not_cps.append(read)
            continue
        number = _cps_number(*read.cps)
        if number is None:
            ctx.issue(
                "pd_l1_cps",
                "ignored",
                f"{ref(obs)}: {read.shown} is not a single number; CPS left unknown.",
                read.evidence,
            )
            continue
        found.append((read.when, number, read.evidence, read.assay))
    if not found:
        if not_cps:
            found_note = "; ".join(not_a_cps(r) for r in not_cps) + "."
            return Fact(None, tuple(r.evidence for r in not_cps), found_note)
        return _NO_CPS
    found.sort(key=lambda f: (date_key(f[0]), f[2].reference), reverse=True)
    same = [f for f in found if date_key(f[0]) == date_key(found[0][0])]
    if len({f[1] for f in same}) > 1:
        ctx.issue(
            "pd_l1_cps", "conflicting", "PD-L1 CPS results on the same date disagree.", *(f[2] for f in same)
        )
        return Fact(None, tuple(f[2] for f in same), "PD-L1 CPS results on the same date disagree.")
    parts: list[str] = []
    if any(f[3] == "unspecified" for f in same):
        parts.append("assay not named; the CPS is read as a 22C3 CPS")
    if len(found) > len(same):
        older = found[len(same)]
        parts.append(f"earlier CPS {older[1]} ({older[2].reference}); the most recent was used")
    parts.extend(not_a_cps(r) for r in not_cps)
    joined = "; ".join(parts)
    note = (joined[:1].upper() + joined[1:] + ".") if parts else None
    return Fact(same[0][1], tuple(f[2] for f in same), note)


_ASSAY_UNKNOWN: Final[Fact[PdL1Assay]] = Fact("unknown")
_ASSAY_LABEL = {
    "22c3_cps": "22C3 combined positive score (CPS)",
    "sp142_ic": "SP142 immune-cell score (IC)",
    "tps": "tumour proportion score (TPS)",
    "other": "another PD-L1 assay or score",
    "unknown": "score type not stated",
}


def derive_pd_l1_assay(observations: Observations, ctx: Context) -> Fact[PdL1Assay]:
    """Which PD-L1 assay and score the record holds: "22c3_cps" when a 22C3 (or unnamed-assay) CPS
    exists (the one ``pd_l1_cps`` uses), else the kind of the most recent PD-L1 result; "unknown" when no
    PD-L1 result exists or its score type is not stated. The note lists what was found."""
    reads: list[PdL1Read] = []
    for obs in observations.coded("pd-l1-tests"):
        read = read_pd_l1(ctx, obs)
        if read is not None:
            reads.append(read)
    if not reads:
        return _ASSAY_UNKNOWN
    reads.sort(key=lambda r: (date_key(r.when), r.evidence.reference), reverse=True)
    cps = [r for r in reads if r.kind == "22c3_cps"]
    chosen = cps[0] if cps else reads[0]
    kind: PdL1Assay = chosen.kind  # type: ignore[assignment]
    found = "; ".join(f"{r.label} ({r.evidence.reference}, {r.when or 'undated'})" for r in reads[:4])
    return Fact(kind, (chosen.evidence,), f"{_ASSAY_LABEL[kind]}. Found: {found}.")


# --- HER2-ultralow --------------------------------------------------------------------------------


def _statement_texts(obs: models.Observation) -> list[str]:
    val = value_of(obs)
    out = answer_texts(val)
    for note in obs.note or ():
        out.append(note.text)
    for interp in interpretations(obs):
        out.extend(filter(None, [cc_text(interp), *(d for _, _, d in codings(interp))]))
    for comp in components(obs):
        cval = value_of(comp)
        out.extend(answer_texts(cval))
    return out


def _membrane(ctx: Context, obs: models.Observation) -> tuple[str, str] | None:
    """("ultralow" | "no_staining", the text) when the report states membrane staining at IHC 0."""
    codes = ctx.codes("membrane-staining")
    for text in _statement_texts(obs):
        hit = codes.match_text(text)
        if hit is not None and hit.value:
            return hit.value, text
        if _ULTRALOW_RANGE_RE.search(text):
            return "ultralow", text
    return None


def derive_her2_ultralow(
    observations: Observations, her2_ihc: Fact[Her2Ihc], her2_status: Fact[Her2Status], ctx: Context
) -> Fact[YesNoUnknown]:
    if her2_ihc.value in ("1+", "2+", "3+") or her2_status.value == "positive":
        return Fact("no", her2_ihc.evidence or her2_status.evidence, "not HER2 IHC 0")
    her2_obs = {ref(o): o for o in observations.coded("her2-ihc-tests")}
    if her2_ihc.value == "0":
        refs = [e.reference for e in her2_ihc.evidence]
    elif her2_status.value == "negative":  # no score: a HER2 status reported as "ultralow" (MII) counts
        refs = [e.reference for e in her2_status.evidence]
    else:
        return Fact("unknown")
    for reference in refs:
        obs = her2_obs.get(reference)
        if obs is None:
            continue
        got = _membrane(ctx, obs)
        if got is None:
            continue
        when = observation_date(obs)
        ev = evidence(obs, when, f"{ctx.label(obs.code)}: {got[1]}")
        if got[0] == "ultralow":
            return Fact("yes", (ev,), "IHC 0 with membrane staining stated")
        return Fact("no", (ev,), "IHC 0 with no membrane staining (HER2-null)")
    if her2_ihc.value == "0":
        return Fact("unknown", her2_ihc.evidence, "IHC 0 without a statement on membrane staining")
    return Fact("unknown")
