"""Germline BRCA1/2.

* ``germline_brca``: "pathogenic" from a gene-specific BRCA test (LOINC list ``brca``) with a positive /
  detected / pathogenic value, from a 69548-6 variant whose gene is BRCA1/2 (HGNC:1100/1101 or the
  symbol), clinical significance pathogenic / likely pathogenic and genomic source germline, from a
  Condition (SNOMED 412734009 / 412738007 / 718220008), or from the value of the ICHOM GermlineMutation
  Observation (SNOMED 55446002 "Genetic mutation": germline by the profile's definition). A somatic-only
  finding is not germline (the note says so); a 69548-6 variant without a genomic source is reported, not
  assumed germline. A gene-specific test without a source is read as germline (these are germline tests)
  with a note. "not_detected" from negative results or SNOMED 445180002 (a Condition or the ICHOM value).
  A germline pathogenic variant does not go away: any pathogenic result wins and a later negative one is
  reported as conflicting.
"""

from __future__ import annotations

from cds.fhir import models
from cds.profile.common import (
    Conditions,
    Context,
    Observations,
    components,
    condition_date,
    evidence,
    observation_date,
    ref,
)
from cds.profile.dates import date_key
from cds.profile.model import Evidence, Fact, GermlineStatus, YesNoUnknown
from cds.profile.values import Value, Valued, interpretations, value_of, variant_parts, written

_ORIGIN_UNKNOWN: Fact[YesNoUnknown] = Fact("unknown")


class _Finding:
    __slots__ = ("evidence", "stated", "value", "when")

    def __init__(self, value: str, when: str | None, evidence: Evidence, *, stated: bool = False) -> None:
        self.value = value  # pathogenic | not_detected
        self.when = when
        self.evidence = evidence
        self.stated = stated  # the result says the variant is germline (a source component, a profile)


def _result(ctx: Context, val: Value, obs: Valued) -> str | None:
    """pathogenic-ish ("positive") / negative-ish / uncertain / None for a BRCA test value."""
    rv = ctx.codes("result-values")
    hit = ctx.match("result-values", val.cc, by_text=False) if val.cc is not None else None
    value = hit.value if hit is not None else None
    if value is None:
        for text in (val.text, *(d for _, _, d in ctx.codings(val.cc))):
            hit_text = rv.match_text(text)
            if hit_text is not None:
                value = hit_text.value
                break
    if value is None and val.boolean is not None:
        value = "positive" if val.boolean else "negative"
    if value is None:
        for interp in interpretations(obs):
            hit_i = ctx.match("result-values", interp)
            if hit_i is not None:
                value = hit_i.value
                break
    return {
        "positive": "pathogenic",
        "detected": "pathogenic",
        "pathogenic": "pathogenic",
        "high": "pathogenic",
        "abnormal": "pathogenic",
        "negative": "not_detected",
        "not_detected": "not_detected",
        "normal": "not_detected",
        "not_pathogenic": "not_pathogenic",
        "uncertain": "uncertain",
    }.get(value or "")


def _source(ctx: Context, obs: models.Observation) -> str | None:
    for comp in components(obs):
        kind = ctx.match("genomic-components", comp.code, by_text=False)
        if kind is not None and kind.value == "source":
            hit = ctx.match("genomic-source", comp.valueCodeableConcept)
            if hit is not None:
                return hit.value
            hit_text = ctx.codes("genomic-source").match_text(comp.valueString)
            if hit_text is not None:
                return hit_text.value
    return None


def _brca_gene(ctx: Context, value: Value) -> str | None:
    hit = ctx.match("brca-genes", value.cc) if value.cc is not None else None
    if hit is None and value.text:
        by_text = ctx.codes("brca-genes").match_text(value.text)
        return by_text.value if by_text is not None else None
    return hit.value if hit is not None else None


def _germline_finding(
    ctx: Context, obs: models.Observation, when: str | None, name: str, notes: list[str]
) -> _Finding | None:
    """The ICHOM GermlineMutation Observation (SNOMED 55446002 "Genetic mutation"): its value a finding
    of GermlineMutationVS (412734009 BRCA1 / 412738007 BRCA2 positive, 445180002 negative), read with
    the code list ``brca-conditions``. The profile says it records a germline mutation, so it is read as
    germline unless a genomic-source component says somatic. Other values (another gene "OTH", 416237000
    not done) are no BRCA result."""
    val = value_of(obs)
    hit = (
        ctx.match("brca-conditions", val.cc)
        if val.cc is not None
        else ctx.codes("brca-conditions").match_text(val.text)
    )
    value = hit.value if hit is not None else None
    if value not in ("pathogenic", "not_detected"):
        return None
    if _source(ctx, obs) == "somatic":
        notes.append(f"{ref(obs)} is a somatic (tumour) BRCA finding, not germline")
        return None
    shown = written(ctx, val) or "no value"
    return _Finding(str(value), when, evidence(obs, when, f"{name} (germline, ICHOM): {shown}"), stated=True)


def derive_brca(
    conditions: Conditions, observations: Observations, ctx: Context
) -> tuple[Fact[GermlineStatus], Fact[YesNoUnknown]]:
    """``germline_brca``, and ``germline_origin_stated``: "yes" when a pathogenic result says the variant
    is germline (a genomic-source component, the ICHOM germline profile), "no" when none of them does (a
    problem-list Condition, a gene test without a source), "unknown" without a pathogenic result."""
    findings: list[_Finding] = []
    notes: list[str] = []
    unread: list[tuple[str, Evidence]] = []  # variants of unstated significance: moot beside a pathogenic one
    for obs in observations.coded("brca"):
        code = obs.code
        test = ctx.match("brca", code)
        if test is None:
            continue
        when = observation_date(obs)
        name = ctx.label(code)
        if test.value == "finding":
            finding = _germline_finding(ctx, obs, when, name, notes)
            if finding is not None:
                findings.append(finding)
            continue
        if test.value == "variant":
            gene, significance = variant_parts(
                ctx, obs, lambda v: _brca_gene(ctx, v), lambda v, comp: _result(ctx, v, comp)
            )
            if gene is None:
                continue  # a variant in another gene
            source = _source(ctx, obs)
            presence = _result(ctx, value_of(obs), obs)
            if presence == "not_detected" and source != "somatic":
                # Genomics Reporting: value LA9634-2 "Absent" = the gene was studied, no variant found
                ev = evidence(obs, when, f"{name}: no {gene.upper()} variant found")
                findings.append(_Finding("not_detected", when, ev))
                continue
            what = (
                f"{gene.upper()} variant, {significance or 'significance not stated'}, "
                f"{source or 'source not stated'}"
            )
            ev = evidence(obs, when, f"{name}: {what}")
            if significance != "pathogenic":
                if significance is None:
                    unread.append((f"{ref(obs)}: {what}; clinical significance could not be read.", ev))
                continue
            if source == "somatic":
                notes.append(f"{ref(obs)} is a somatic (tumour) {gene.upper()} finding, not germline")
                continue
            if source != "germline":
                ctx.issue(
                    "germline_brca",
                    "unreadable",
                    f"{ref(obs)}: pathogenic {gene.upper()} variant without a genomic source class; "
                    "not assumed germline.",
                    ev,
                )
                continue
            findings.append(_Finding("pathogenic", when, ev, stated=True))
            continue
        val = value_of(obs)
        result = _result(ctx, val, obs)
        shown = written(ctx, val) or "no value"
        ev = evidence(obs, when, f"{name}: {shown}")
        source = _source(ctx, obs)
        if result == "pathogenic":
            if source == "somatic":
                notes.append(f"{ref(obs)} is a somatic (tumour) BRCA finding, not germline")
                continue
            findings.append(_Finding("pathogenic", when, ev, stated=source == "germline"))
            if source is None:
                notes.append(
                    f"{ref(obs)}: genomic source not stated; a gene-specific BRCA test is read as germline"
                )
        elif result == "not_detected":
            if source != "somatic":
                findings.append(_Finding("not_detected", when, ev))
        elif result in ("uncertain", "not_pathogenic"):
            notes.append(f"{ref(obs)} reports a variant that is {result.replace('_', ' ')}")
        else:
            ctx.issue(
                "germline_brca", "unreadable", f"{ref(obs)}: the BRCA result could not be read ({shown}).", ev
            )
    for cond in conditions.coded("brca-conditions"):
        hit = ctx.match("brca-conditions", cond.code)
        if hit is None or hit.value not in ("pathogenic", "not_detected"):
            continue
        when = condition_date(cond)
        findings.append(_Finding(hit.value, when, evidence(cond, when, ctx.label(cond.code))))

    pathogenic = [f for f in findings if f.value == "pathogenic"]
    negative = [f for f in findings if f.value == "not_detected"]
    if not pathogenic:  # a germline pathogenic variant settles the status whatever the others are
        for message, ev in unread:
            ctx.issue("germline_brca", "unreadable", message, ev)
    note = "; ".join(notes) + "." if notes else None
    if pathogenic:
        if negative:
            ctx.issue(
                "germline_brca",
                "conflicting",
                "A germline BRCA pathogenic variant is recorded, and another result says none was detected; "
                "the pathogenic finding was used.",
                pathogenic[0].evidence,
                negative[0].evidence,
            )
        pathogenic.sort(key=lambda f: date_key(f.when), reverse=True)
        stated = [f.evidence for f in pathogenic if f.stated]
        origin: Fact[YesNoUnknown] = Fact("yes", tuple(stated)) if stated else Fact("no")
        return Fact("pathogenic", tuple(f.evidence for f in pathogenic), note), origin
    if negative:
        negative.sort(key=lambda f: date_key(f.when), reverse=True)
        return Fact("not_detected", tuple(f.evidence for f in negative), note), _ORIGIN_UNKNOWN
    return Fact("unknown", (), note), _ORIGIN_UNKNOWN
