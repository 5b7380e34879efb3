"""The content rules of FHIR's date, dateTime and instant: read by hand, they say what the R4 regexes say.

Compiled, ``Format.conforms`` reads these values character by character (cds.fhir.formats._temporal)
rather than with the regexes from the FHIR datatypes page; the regexes stay the reference. Every value
below, valid or not by a single character, gets the same answer both ways, for each of the three types.
"""

from __future__ import annotations

import itertools
import re

import pytest

from cds.fhir import formats

TYPES = [
    (formats.DATE, formats.DATE_RE),
    (formats.DATETIME, formats.DATETIME_RE),
    (formats.INSTANT, formats.INSTANT_RE),
]

# leap-year rules (4, 100, 400), the ends of FHIR's range, and year 0000 (not a year)
YEARS = ["0000", "0001", "0004", "0100", "0400", "1900", "1996", "2000", "2023", "2024", "2100", "9999"]
MONTHS = ["00", "01", "02", "04", "09", "11", "12", "13", "1", "0a"]
DAYS = ["00", "01", "28", "29", "30", "31", "32", "9", "3a"]
TIMES = [
    "T00:00:00Z",
    "T23:59:59Z",
    "T24:00:00Z",
    "T10:60:00Z",
    "T10:30:60Z",  # a leap second: allowed
    "T10:30:61Z",
    "T10:30:00.5Z",
    "T10:30:00.123456789+01:00",
    "T10:30:00.Z",
    "T10:30:00.",
    "T10:30:00+00:00",
    "T10:30:00-13:59",
    "T10:30:00+14:00",
    "T10:30:00-14:00",
    "T10:30:00+14:01",
    "T10:30:00+15:00",
    "T10:30:00+1400",
    "T10:30:00+01:60",
    "T10:30:00z",
    "T10:30:00",
    "T10:30Z",
    "T1:30:00Z",
    "T10:30:00ZZ",
    "T10:30:00+01:00 ",
    " 10:30:00Z",
    "t10:30:00Z",
    "T",
]
ODD = [
    "",
    "2",
    "202",
    "20240",
    "2024-",
    "2024-0",
    "2024-01-",
    "2024-01-0",
    "20240115",
    " 2024",
    "2024 ",
    "2024-01-15\n",
    "\uff12\uff10\uff12\uff14",  # full-width digits: not [0-9]
    "2024-01-15Z",
    "2024/01/15",
    "2024-01-15T10:30:00Z2",
]


def _values() -> list[str]:
    dates = [f"{y}-{m}-{d}" for y, m, d in itertools.product(YEARS, MONTHS, DAYS)]
    partial = YEARS + [f"{y}-{m}" for y, m in itertools.product(YEARS, MONTHS)]
    timed = [d + t for d, t in itertools.product(["2024-02-29", "2023-02-29", "2024-12-31"], TIMES)]
    return dates + partial + timed + ODD


VALUES = _values()


@pytest.mark.parametrize(("fmt", "regex"), TYPES, ids=[f.name for f, _ in TYPES])
def test_dates_by_hand_say_what_the_r4_regexes_say(fmt: formats.Format, regex: str) -> None:
    pattern = re.compile(regex)
    wrong = [
        (value, expected)
        for value in VALUES
        if formats._temporal(value, fmt.kind) is not (expected := pattern.fullmatch(value) is not None)
    ]
    assert not wrong, wrong[:10]
    assert all(fmt.conforms(v) is (pattern.fullmatch(v) is not None) for v in VALUES)


def test_the_values_cover_both_answers_for_each_type() -> None:
    """A corpus that one answer fits would not test the reading."""
    for fmt, regex in TYPES:
        answers = {re.fullmatch(regex, v) is not None for v in VALUES}
        assert answers == {True, False}, fmt.name
