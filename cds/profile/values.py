"""Reading Observation values: numbers, quantities, coded and text values, genomic variant parts,
interpretations.

Total like the rest of the profile helpers: odd data gives None or empty results, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from cds.profile.common import Context, cc_text, components


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    kind = type(value)
    if kind is float or kind is int:
        # a JSON number: float() gives what the Decimal round trip below gives (a float's repr reads
        # back as itself; both round an int to nearest), only an int too large overflows instead of inf
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        try:
            number = float(Decimal(str(value)))
        except (InvalidOperation, ValueError, TypeError):
            return None
    return number if number == number and abs(number) != float("inf") else None


class Quantity:
    __slots__ = ("comparator", "unit", "value")

    def __init__(self, value: float, unit: str, comparator: str | None = None) -> None:
        self.value = value
        self.unit = unit  # unit or UCUM code, lower-case, "" when absent
        self.comparator = comparator


def quantity(q: Any) -> Quantity | None:
    if q is None:
        return None
    number = to_float(getattr(q, "value", None))
    if number is None:
        return None
    unit = getattr(q, "code", None) or getattr(q, "unit", None) or ""
    return Quantity(number, str(unit).strip().lower(), getattr(q, "comparator", None))


class Value:
    """One observation (or component) value in every shape the profile reads."""

    __slots__ = ("boolean", "cc", "quantity", "ratio", "text")

    def __init__(
        self,
        cc: Any = None,
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


def value_of(element: Any) -> Value:
    cc = getattr(element, "valueCodeableConcept", None)
    text = getattr(element, "valueString", None)
    if text is None and cc is not None:
        text = cc_text(cc)
    q = quantity(getattr(element, "valueQuantity", None))
    if q is None:
        integer = getattr(element, "valueInteger", None)
        if isinstance(integer, int) and not isinstance(integer, bool):
            q = Quantity(float(integer), "")
    ratio = None
    r = getattr(element, "valueRatio", None)
    if r is not None:
        num = quantity(getattr(r, "numerator", None))
        den = quantity(getattr(r, "denominator", None))
        if num is not None and den is not None and den.value:
            ratio = num.value / den.value
    boolean = getattr(element, "valueBoolean", None)
    return Value(
        cc, text if isinstance(text, str) else None, q, boolean if isinstance(boolean, bool) else None, ratio
    )


def variant_parts(
    ctx: Context,
    obs: Any,
    gene_of: Callable[[Value], str | None],
    significance_of: Callable[[Value, Any], str | None],
) -> tuple[str | None, str | None]:
    """(gene, clinical significance) read from a Genomics Reporting variant's components.

    ``gene_of`` names the gene a component's value holds (None: not one of ours, the gene read so far
    stays); ``significance_of`` reads the significance component (value, component). Later ones win.
    """
    gene = significance = None
    for comp in components(obs):
        kind = ctx.match("genomic-components", getattr(comp, "code", None), by_text=False)
        if kind is None:
            continue
        value = value_of(comp)
        if kind.value == "gene":
            gene = gene_of(value) or gene
        elif kind.value == "significance":
            significance = significance_of(value, comp)
    return gene, significance


def interpretations(obs: Any) -> Sequence[Any]:
    """The Observation's interpretations (its own list, not a copy: callers only read it)."""
    found: Sequence[Any] = getattr(obs, "interpretation", None) or ()
    return found
