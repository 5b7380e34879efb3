"""Reading Observation values: numbers, quantities, coded and text values, genomic variant parts (gene,
significance, the protein or DNA change), interpretations.

Total like the rest of the profile helpers: odd data gives None or empty results, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

from cds.fhir import models
from cds.fhir.models import CodeableConcept
from cds.profile.common import Context, cc_text, codings, components

#: What holds a value[x]: an Observation or one of its components.
Valued: TypeAlias = models.Observation | models.ObservationComponent


def to_float(value: float | None) -> float | None:
    """A JSON number as a finite float (None for an int too large for one)."""
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if number == number and abs(number) != float("inf") else None


class Quantity:
    __slots__ = ("comparator", "unit", "value")

    def __init__(self, value: float, unit: str, comparator: str | None = None) -> None:
        self.value = value
        self.unit = unit  # unit or UCUM code, lower-case, "" when absent
        self.comparator = comparator


def quantity(q: models.Quantity | None) -> Quantity | None:
    if q is None:
        return None
    number = to_float(q.value)
    if number is None:
        return None
    unit = q.code or q.unit or ""
    return Quantity(number, unit.strip().lower(), q.comparator)


class Value:
    """One observation (or component) value in every shape the profile reads."""

    __slots__ = ("boolean", "cc", "quantity", "ratio", "text")

    def __init__(
        self,
        cc: CodeableConcept | None = None,
        text: str | None = None,
        quantity: Quantity | None = None,
        boolean: bool | None = None,
        ratio: float | None = None,
    ) -> None:
        self.cc = cc
        self.text = text
        self.quantity = quantity
        self.boolean = boolean
        self.ratio = ratio

    @property
    def empty(self) -> bool:
        return self.cc is None and self.text is None and self.quantity is None and self.boolean is None


def value_of(element: Valued) -> Value:
    cc = element.valueCodeableConcept
    text = element.valueString
    if text is None and cc is not None:
        text = cc_text(cc)
    q = quantity(element.valueQuantity)
    if q is None:
        integer = element.valueInteger
        if integer is not None:
            q = Quantity(float(integer), "")
    ratio = None
    r = element.valueRatio
    if r is not None:
        num = quantity(r.numerator)
        den = quantity(r.denominator)
        if num is not None and den is not None and den.value:
            ratio = num.value / den.value
    return Value(cc, text, q, element.valueBoolean, ratio)


def written(ctx: Context, val: Value) -> str | None:
    """The value as a clinician would quote it: its text, else its coded answer; None when neither."""
    return val.text or (ctx.describe(val.cc) if val.cc is not None else None)


def variant_parts(
    ctx: Context,
    obs: models.Observation,
    gene_of: Callable[[Value], str | None],
    significance_of: Callable[[Value, models.ObservationComponent], str | None],
) -> tuple[str | None, str | None]:
    """(gene, clinical significance) read from a Genomics Reporting variant's components.

    ``gene_of`` names the gene a component's value holds (None: not one of ours, the gene read so far
    stays); ``significance_of`` reads the significance component (value, component). Later ones win.
    """
    gene = significance = None
    for comp in components(obs):
        kind = ctx.match("genomic-components", comp.code, by_text=False)
        if kind is None:
            continue
        value = value_of(comp)
        if kind.value == "gene":
            gene = gene_of(value) or gene
        elif kind.value == "significance":
            significance = significance_of(value, comp)
    return gene, significance


def variant_change(ctx: Context, obs: models.Observation) -> str | None:
    """The variant a Genomics Reporting variant names: its amino acid change (48005-3, pHGVS, e.g.
    "NP_006209.2:p.His1047Arg"), else its DNA change (48004-6, cHGVS), as written (a coding's code or
    display, a text); None when neither is given."""
    changes: dict[str, str] = {}
    for comp in components(obs):
        kind = ctx.match("genomic-components", comp.code, by_text=False)
        if kind is None or kind.value not in ("protein_change", "dna_change"):
            continue
        value = value_of(comp)
        written_as = next(
            (code or display for _, code, display in ctx.codings(value.cc) if code or display), None
        )
        if written_as or value.text:
            changes.setdefault(str(kind.value), str(written_as or value.text).strip())
    return changes.get("protein_change") or changes.get("dna_change")


def interpretations(obs: Valued) -> Sequence[CodeableConcept]:
    """The Observation's (or component's) interpretations (its own list, not a copy: callers only read
    it)."""
    return obs.interpretation or ()


def answer_texts(val: Value) -> list[str]:
    """The value's text and its codings' displays: what a match on written words reads."""
    out = [t for t in (val.text,) if t]
    if val.cc is not None:
        out.extend(d for _, _, d in codings(val.cc) if d)
    return out


def result_value(ctx: Context, val: Value, obs: Valued) -> str | None:
    """positive / negative / pathogenic / uncertain / ... (code list ``result-values``) from a value, by
    code then by its words, a boolean, else from the interpretation."""
    rv = ctx.codes("result-values")
    if val.cc is not None:
        hit = ctx.match("result-values", val.cc, by_text=False)
        if hit is not None and hit.value:
            return hit.value
    for text in answer_texts(val):
        hit_text = rv.match_text(text)
        if hit_text is not None and hit_text.value:
            return hit_text.value
    if val.boolean is not None:
        return "positive" if val.boolean else "negative"
    for interp in interpretations(obs):
        hit_i = ctx.match("result-values", interp)
        if hit_i is not None and hit_i.value:
            return hit_i.value
    return None
