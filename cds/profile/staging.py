"""Stage and M category read from codes and texts: ``Stage IV``, ``IVB``, ``cIIIA``, ``AJCC stage 2B``
(stage IV or lower) and ``cM1``, ``pM1a``, ``cM0(i+)``, ``T2 N1 M1`` (M1 or M0; ``MX`` is unknown). The
metastatic decision (cds.profile.conditions) weighs what they say."""

from __future__ import annotations

import re
from typing import Literal

from cds.fhir.models import CodeableConcept
from cds.profile.common import Context

StageValue = Literal["iv", "lower"]

_STAGE_RE = re.compile(
    r"(?:^|[^a-z0-9])(?:stage|stadium|ajcc)?\s*[cpy]{0,2}\s*(iv|iii|ii|i|0|is|[1-4])\s*([a-c])?(?:[^a-z0-9]|$)"
)
_M_RE = re.compile(r"(?:^|[^a-z])(?:[cpy]{1,2})?m\s*([01x])(?:[a-d]|\s*\(i\+\))?(?![0-9a-z])")
_ROMAN = {"0": 0, "is": 0, "i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def parse_stage(text: str | None) -> StageValue | None:
    """``Stage IV``, ``IVB``, ``4``, ``cIIIA``, ``AJCC stage 2B`` -> "iv" / "lower"; else None."""
    if not text:
        return None
    low = text.strip().lower().replace("#", " ")
    found = _STAGE_RE.search(low)
    if found is None:
        return None
    number = _ROMAN.get(found.group(1))
    if number is None:
        return None
    return "iv" if number == 4 else "lower"


def parse_m(text: str | None) -> Literal["m1", "m0"] | None:
    """``cM1``, ``pM1a``, ``M1``, ``cM0(i+)``, ``T2 N1 M1`` -> "m1" / "m0" (``MX`` -> None)."""
    if not text:
        return None
    found = _M_RE.search(text.strip().lower())
    if found is None or found.group(1) == "x":
        return None
    return "m1" if found.group(1) == "1" else "m0"


def stage_value(ctx: Context, cc: CodeableConcept | None) -> StageValue | None:
    hit = ctx.match("stage-iv", cc, by_text=False)
    if hit is not None and hit.value in ("iv", "lower"):
        return "iv" if hit.value == "iv" else "lower"
    for system, code, display in ctx.codings(cc):
        sys = (system or "").lower()
        if code and ("cancerstaging" in sys or not sys.startswith("http://snomed")):
            got = parse_stage(code)
            if got:
                return got
        got = parse_stage(display)
        if got:
            return got
    return parse_stage(cc.text if cc is not None else None)


def m_value(ctx: Context, cc: CodeableConcept | None, text: str | None) -> Literal["m1", "m0"] | None:
    if cc is not None:
        hit = ctx.match("m1", cc, by_text=False)
        if hit is not None and hit.value in ("m1", "m0"):
            return "m1" if hit.value == "m1" else "m0"
        for _, code, display in ctx.codings(cc):
            got = parse_m(code) or parse_m(display)
            if got:
                return got
    return parse_m(text)
