"""The content rules of the FHIR R4 primitives the read models declare (cds.fhir.models).

msgspec checks JSON types while decoding; these rules (the regexes from the FHIR R4 datatypes page,
anchored, with real calendar dates) run afterwards, only for the resources the profile keeps
(cds.fhir.check). Codes and URIs, most of a chart's strings, are checked without the regex when they
hold no whitespace at all: ``str.isprintable`` is false for every whitespace character but the space.
"""

from __future__ import annotations

import re
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
_DATE: Final = 4  # YYYY, YYYY-MM or YYYY-MM-DD
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
