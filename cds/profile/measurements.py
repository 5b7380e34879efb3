"""Numeric results (HbA1c, LVEF, QTc) read from Observations and their components: each with its date,
the latest of most concern, a number from a Quantity or a text such as "55-60 %" (a range read at its
end of most concern), and whether a reading is recent enough to say "no" (cds.profile.safety)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from cds.fhir.codes import Match
from cds.profile.common import Context, Observations, components, evidence, observation_date, ref
from cds.profile.dates import date_key, to_date
from cds.profile.model import Evidence
from cds.profile.values import Value, Valued, value_of

RECENT: Final = timedelta(days=365)  # a reading older than this cannot say "no"

_NUMBER_RE = re.compile(
    r"(?P<cmp>[<>]=?|≤|≥)?\s*(?P<low>\d+(?:[.,]\d+)?)"
    r"(?:\s*(?:-|\u2013|to)\s*(?P<high>\d+(?:[.,]\d+)?))?\s*(?P<unit>%|mmol/mol|msec|ms|sec|s)?(?![a-z])",
    re.IGNORECASE,
)


class Measurement:
    __slots__ = ("evidence", "key", "shown", "value", "when")

    def __init__(self, value: float, shown: str, when: str | None, evidence: Evidence) -> None:
        self.value = value
        self.shown = shown
        self.when = when
        self.key = date_key(when)
        self.evidence = evidence


Parse = Callable[[Value, str | None], tuple[float, str] | None]


def measurements(
    observations: Observations, codes: str, topic: str, name: str, parse: Parse, ctx: Context
) -> list[Measurement]:
    """Every reading of the test ``codes`` names, from Observations and their components."""
    out: list[Measurement] = []
    for obs in observations.coded(codes, in_components=True):
        when = observation_date(obs)
        own = ctx.match(codes, obs.code)
        elements: list[tuple[Valued, Match]] = [(obs, own)] if own is not None else []
        for comp in components(obs):
            hit = ctx.match(codes, comp.code)
            if hit is not None:
                elements.append((comp, hit))
        for element, hit in elements:
            value = value_of(element)
            if value.empty:
                continue
            got = parse(value, hit.value)
            shown_raw = _raw(value)
            if got is None:
                ctx.issue(
                    topic,
                    "unreadable",
                    f"{ref(obs)}: the {name} value could not be read ({shown_raw}).",
                    evidence(obs, when, f"{name}: {shown_raw}"),
                )
                continue
            number, shown = got
            out.append(Measurement(number, shown, when, evidence(obs, when, f"{name} {shown}")))
    return out


def latest_of_concern(readings: list[Measurement], *, highest: bool) -> Measurement | None:
    """The most recent reading; of one day's readings, the one of most concern (the highest or the
    lowest value)."""
    if not readings:
        return None
    top = max(r.key for r in readings)
    same_day = [r for r in readings if r.key == top]
    if highest:
        return max(same_day, key=lambda r: (r.value, r.evidence.reference))
    return min(same_day, key=lambda r: (r.value, r.evidence.reference))


def number_in(value: Value, *, high: bool) -> tuple[float, str, str] | None:
    """(number, unit, comparator) of a Quantity or a text such as "55-60 %", ">= 8.2%", "0.48 s".

    A range is read at its high end (``high``) or its low end: the end of most concern."""
    q = value.quantity
    if q is not None:
        cmp = q.comparator or ""
        return q.value, q.unit, cmp
    text = value.text
    if not text:
        return None
    found = _NUMBER_RE.search(text)
    if found is None:
        return None
    low = float(found.group("low").replace(",", "."))
    top = found.group("high")
    number = float(top.replace(",", ".")) if top and high else low
    cmp = {"≤": "<=", "≥": ">="}.get(found.group("cmp") or "", found.group("cmp") or "")
    return number, (found.group("unit") or "").lower(), cmp


def edge(number: float, cmp: str) -> float:
    """The value a threshold is compared with: "<50%" is below 50, ">8.0%" is above 8.0."""
    if cmp in ("<", ">"):
        return number - 0.001 if cmp == "<" else number + 0.001
    return number


def _raw(value: Value) -> str:
    if value.quantity is not None:
        return f"{value.quantity.value:g} {value.quantity.unit}".strip()
    return (value.text or "(no value)")[:60]


def recent(when: str | None, ctx: Context) -> bool:
    day = to_date(when)
    return day is not None and ctx.today - day <= RECENT
