"""FHIR dates as the profile uses them: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` strings.

The read models (cds.fhir.models) keep dates as the validated strings FHIR sent; R4B models (used in
tests and with full validation) give ``date``/``datetime`` objects for full dates; both are read here.
Everything here is total: an unreadable value becomes ``None``, never an
exception. Ordering treats a partial date as the first day of its period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

DateKey = tuple[int, int, int]
NO_DATE: DateKey = (0, 0, 0)


def fhir_date(value: Any) -> str | None:
    """A ``date``/``datetime``/FHIR string as ``YYYY[-MM[-DD]]``, or None when unreadable."""
    if isinstance(value, str):
        try:
            return _DATES[value]
        except KeyError:
            pass
        got = _from_text(value.strip()[:10])
        if len(value) <= 64:
            _remember(_DATES, value, got)
        return got
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


# Several topics read the same resource's date, and sorting asks for the same dates again and again:
# the parsers remember their answers (pure functions of short strings) in plain dicts, cheaper to
# ask from compiled code than an lru_cache; a full cache starts again.
_CACHE_MAX: Final = 8192
_DATES: Final[dict[str, str | None]] = {}  # as sent -> fhir_date
_KEYS: Final[dict[str, DateKey]] = {}  # fhir_date -> date_key
_FIRST_DAYS: Final[dict[str, date | None]] = {}  # fhir_date -> to_date


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


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
    try:
        return _KEYS[value]
    except KeyError:
        pass
    key = _key(value.split("-")) or NO_DATE
    _remember(_KEYS, value, key)
    return key




def to_date(value: str | None) -> date | None:
    """The first day of the (possibly partial) date, or None."""
    if not value:
        return None
    try:
        return _FIRST_DAYS[value]
    except KeyError:
        pass
    y, m, d = date_key(value)
    first = date(y, m or 1, d or 1) if y else None
    _remember(_FIRST_DAYS, value, first)
    return first


def is_partial(value: str | None) -> bool:
    return bool(value) and len(value or "") < 10


def first_date(*values: Any) -> str | None:
    """The first readable date among the candidates (in the order FHIR prefers them)."""
    return first_date_in(values)


def first_date_in(values: Sequence[Any]) -> str | None:
    """``first_date(*values)`` (compiled, a call with ``*values`` goes through the Python-level entry)."""
    for value in values:
        got = fhir_date(value) if value is not None else None
        if got:
            return got
    return None


def period_start(period: Any) -> Any:
    return getattr(period, "start", None) if period is not None else None


def period_end(period: Any) -> Any:
    return getattr(period, "end", None) if period is not None else None


def years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
