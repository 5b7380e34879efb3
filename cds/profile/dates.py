"""FHIR dates as the profile uses them: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` strings.

The read models (cds.fhir.models) keep dates as the strings FHIR sent. Everything here is total: an
unreadable value becomes ``None``, never an exception. Ordering treats a partial date as the first day
of its period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Final

from cds.fhir import models

DateKey = tuple[int, int, int]
NO_DATE: DateKey = (0, 0, 0)


def fhir_date(value: str | None) -> str | None:
    """A FHIR ``date``/``dateTime``/``instant`` string as ``YYYY[-MM[-DD]]``, or None when unreadable."""
    if value is None:
        return None
    return _from_text(value.strip()[:10])


# Several topics read the same resource's date, and sorting asks for the same dates again and again:
# the parsers of short strings remember their answers (bounded; these are pure functions).
_CACHE_MAX: Final = 8192


@lru_cache(maxsize=_CACHE_MAX)
def _from_text(text: str) -> str | None:
    parts = text.split("-")
    if not parts or not parts[0].isdigit() or len(parts[0]) != 4:
        return None
    out = [parts[0]]
    for part in parts[1:3]:
        if len(part) != 2 or not part.isdigit():
            break
        out.append(part)
    key = _key(out)
    if key is None:
        return None
    return "-".join(out)


def _key(parts: list[str]) -> DateKey | None:
    try:
        y = int(parts[0])
        m = int(parts[1]) if len(parts) > 1 else 0
        d = int(parts[2]) if len(parts) > 2 else 0
    except ValueError:
        return None
    return (y, m, d) if _valid(y, m, d) else None


def _valid(y: int, m: int, d: int) -> bool:
    if not 1 <= y <= 9999 or not 0 <= m <= 12 or not 0 <= d <= 31:
        return False
    if m and d > 28:  # every month has the 1st to the 28th
        try:
            date(y, m, d)
        except ValueError:
            return False
    return True


def date_key(value: str | None) -> DateKey:
    """Sort key for a ``fhir_date`` value; undated sorts first (oldest)."""
    if not value:
        return NO_DATE
    return _date_key(value)


@lru_cache(maxsize=_CACHE_MAX)
def _date_key(value: str) -> DateKey:
    return _key(value.split("-")) or NO_DATE


def to_date(value: str | None) -> date | None:
    """The first day of the (possibly partial) date, or None."""
    if not value:
        return None
    y, m, d = date_key(value)
    return date(y, m or 1, d or 1) if y else None


def is_partial(value: str | None) -> bool:
    return bool(value) and len(value or "") < 10


def first_date(*values: str | None) -> str | None:
    """The first readable date among the candidates (in the order FHIR prefers them)."""
    return first_date_in(values)


def first_date_in(values: Sequence[str | None]) -> str | None:
    """The first readable date among the candidates, as a sequence."""
    for value in values:
        got = fhir_date(value) if value is not None else None
        if got:
            return got
    return None


def period_start(period: models.Period | None) -> str | None:
    return period.start if period is not None else None


def period_end(period: models.Period | None) -> str | None:
    return period.end if period is not None else None


def years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
