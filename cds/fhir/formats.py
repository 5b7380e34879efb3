"""The content rules of the FHIR R4 primitives the read models declare (cds.fhir.models).

msgspec checks JSON types while decoding; these rules (the regexes from the FHIR R4 datatypes page,
anchored, with real calendar dates) run afterwards, only for the resources the profile keeps
(cds.fhir.check). Codes and URIs, most of a chart's strings, are checked without the regex when they
hold no whitespace at all: ``str.isprintable`` is false for every whitespace character but the space.
Compiled (mypyc), dates, dateTimes and instants are read character by character instead (``_temporal``,
about a third of the regex's time; tests/fhir/test_formats.py holds it to the regexes).
"""

from __future__ import annotations

import re
from types import FunctionType
from typing import Any, Final

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
# A full date must also have existed (the R4 regex admits 2024-02-30): month lengths, and 29 February
# in leap years only (divisible by 4; of the centuries, those divisible by 400).
_MONTH_DAY = (
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_FULL_DATE = rf"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
DATE_RE: Final = rf"^({_YEAR}(-{_MONTH})?|{_FULL_DATE})$"
DATETIME_RE: Final = rf"^({_YEAR}(-{_MONTH})?|{_FULL_DATE}(T{_TIME}{_ZONE})?)$"
INSTANT_RE: Final = rf"^{_FULL_DATE}T{_TIME}{_ZONE}$"
CODE_RE: Final = r"^[^\s]+(\s[^\s]+)*$"
ID_RE: Final = r"^[A-Za-z0-9\-.]{1,64}$"
URI_RE: Final = r"^\S*$"

# how a value is checked (Format.kind)
_NON_EMPTY: Final = 0
_INT32: Final = 1
_NO_SPACE_OR_REGEX: Final = 2  # no whitespace at all passes; else the regex decides
_REGEX: Final = 3
_DATE: Final = 4  # the regex, or compiled, _temporal: YYYY, YYYY-MM or YYYY-MM-DD
_DATETIME: Final = 5  # ... or a full date with a time and a zone
_INSTANT: Final = 6  # a full date with a time and a zone only
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


class Format:
    """A FHIR primitive's content rule, as a marker in a read model's type (msgspec ignores it)."""

    def __init__(self, name: str, kind: int, pattern: str | None, message: str) -> None:
        self.name = name
        self.kind = kind
        self.pattern: re.Pattern[str] | None = re.compile(pattern) if pattern else None
        self.message = message
        self.may_be_empty = pattern is not None and re.fullmatch(pattern, "") is not None

    def conforms(self, value: Any) -> bool:
        """True when a primitive value (msgspec has checked its JSON type) meets the rule."""
        kind = self.kind
        if kind == _NON_EMPTY:
            text: str = value
            return len(text) > 0
        if kind == _INT32:
            number: int = value
            return _INT32_MIN <= number <= _INT32_MAX
        text = value
        if kind == _NO_SPACE_OR_REGEX and text.isprintable() and " " not in text:
            return self.may_be_empty or len(text) > 0
        if kind >= _DATE and _BY_HAND:
            return _temporal(text, kind)
        pattern = self.pattern
        return pattern is not None and pattern.fullmatch(text) is not None

    def __repr__(self) -> str:
        return f"Format({self.name})"


STRING: Final = Format("string", _NON_EMPTY, None, "must not be empty")
INTEGER: Final = Format("integer", _INT32, None, "is outside the 32-bit range of a FHIR integer")
CODE: Final = Format("code", _NO_SPACE_OR_REGEX, CODE_RE, "is not a FHIR code")
URI: Final = Format("uri", _NO_SPACE_OR_REGEX, URI_RE, "is not a FHIR uri")
ID: Final = Format("id", _REGEX, ID_RE, "is not a FHIR id")
DATE: Final = Format("date", _DATE, DATE_RE, "is not a FHIR date")
DATETIME: Final = Format("dateTime", _DATETIME, DATETIME_RE, "is not a FHIR dateTime")
INSTANT: Final = Format("instant", _INSTANT, INSTANT_RE, "is not a FHIR instant")


# --- dates, dateTimes and instants by hand --------------------------------------------------------


def _temporal(text: str, kind: int) -> bool:
    """What DATE_RE, DATETIME_RE or INSTANT_RE (``kind``) says of ``text``, read in place."""
    n = len(text)
    year = ascii_number(text, 0, 4) if n >= 4 else -1
    if year < 1:  # 0001-9999
        return False
    if n == 4:
        return kind != _INSTANT
    if n < 7 or text[4] != "-":
        return False
    month = ascii_number(text, 5, 7)
    if month < 1 or month > 12:
        return False
    if n == 7:
        return kind != _INSTANT
    if n < 10 or text[7] != "-":
        return False
    day = ascii_number(text, 8, 10)
    if day < 1 or day > _days_in(year, month):
        return False
    if n == 10:
        return kind != _INSTANT
    return kind != _DATE and text[10] == "T" and _time_and_zone(text, 11)


def _time_and_zone(text: str, i: int) -> bool:
    """``text[i:]`` is ``hh:mm:ss[.f+]`` and a zone, ``Z`` or ``+hh:mm``/``-hh:mm`` up to 14:00."""
    n = len(text)
    if n < i + 9 or text[i + 2] != ":" or text[i + 5] != ":":
        return False
    hour = ascii_number(text, i, i + 2)
    minute = ascii_number(text, i + 3, i + 5)
    second = ascii_number(text, i + 6, i + 8)
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 60:
        return False
    i += 8
    if text[i] == ".":
        i += 1
        start = i
        while i < n and 48 <= ord(text[i]) <= 57:
            i += 1
        if i in (start, n):
            return False
    sign = text[i]
    if sign == "Z":
        return i + 1 == n
    if (sign != "+" and sign != "-") or n != i + 6 or text[i + 3] != ":":
        return False
    zone_hour = ascii_number(text, i + 1, i + 3)
    zone_minute = ascii_number(text, i + 4, i + 6)
    if zone_hour < 0 or zone_minute < 0 or zone_minute > 59:
        return False
    return zone_hour <= 13 or (zone_hour == 14 and zone_minute == 0)


def ascii_number(text: str, start: int, end: int) -> int:
    """The number ``text[start:end]`` writes in ASCII digits, or -1 (cds.profile.dates reads dates
    with it too)."""
    number = 0
    for i in range(start, end):
        digit = ord(text[i]) - 48
        if digit < 0 or digit > 9:
            return -1
        number = number * 10 + digit
    return number


_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month]


# Compiled, _temporal costs about a third of the regex; interpreted, several times more. Each build takes
# its faster way (the answers are the same: tests/fhir/test_formats.py).
_BY_HAND: Final = not isinstance(_temporal, FunctionType)
