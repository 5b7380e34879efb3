"""cds.profile.dates reads the usual date shapes in place; the answers are those of the general reader."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from cds.profile import dates
from cds.profile.dates import NO_DATE, DateKey, date_key, fhir_date, to_date

_SOURCE = str(dates.__file__).endswith(".py")


def _reference_key(parts: list[str]) -> DateKey | None:
    """The general reader's key of YYYY[-MM[-DD]] parts (the code before dates were read in place)."""
    try:
        y = int(parts[0])
        m = int(parts[1]) if len(parts) > 1 else 0
        d = int(parts[2]) if len(parts) > 2 else 0
    except ValueError:
        return None
    if not 1 <= y <= 9999 or not 0 <= m <= 12 or not 0 <= d <= 31:
        return None
    if m and d:
        try:
            date(y, m, d)
        except ValueError:
            return None
    return (y, m, d)


def _reference_fhir_date(value: str) -> str | None:
    parts = value.strip()[:10].split("-")
    if not parts or not parts[0].isdigit() or len(parts[0]) != 4:
        return None
    out = [parts[0]]
    for part in parts[1:3]:
        if len(part) != 2 or not part.isdigit():
            break
        out.append(part)
    return "-".join(out) if _reference_key(out) is not None else None


def _reference_date_key(value: str | None) -> DateKey:
    return (_reference_key(value.split("-")) or NO_DATE) if value else NO_DATE


_DIGITS = st.sampled_from("0123456789")
_DATE_LIKE = st.builds(
    lambda y, m, d, rest: f"{y}-{m}-{d}{rest}",
    st.text(_DIGITS, min_size=4, max_size=4)
    | st.sampled_from(["0000", "2024", "1900", "\u0662\u0660\u0662\u0664", " 202"]),
    st.text(_DIGITS, min_size=2, max_size=2) | st.sampled_from(["00", "13", "02", "1", "1a", "\u00b21"]),
    st.text(_DIGITS, min_size=2, max_size=2)
    | st.sampled_from(["00", "29", "30", "31", "32", "3", "\u0661\u0665"]),
    st.sampled_from(["", "T10:00:00Z", "T", "t10:00", " ", "Z", "-01", "T00:00:00+01:00", "  "]),
)


def test_the_usual_shapes() -> None:
    assert fhir_date("2024-02-29") == "2024-02-29" and fhir_date("2023-02-29") is None
    assert fhir_date("2024-04-30T23:59:59Z") == "2024-04-30" and fhir_date("2024-04-31T00:00:00Z") is None
    assert fhir_date("2024-00-00") == "2024-00-00" and date_key("2024-00-00") == (2024, 0, 0)  # as before
    assert (
        fhir_date("2024-05") == "2024-05"
        and fhir_date("2024") == "2024"
        and fhir_date(" 2024-05-01") == "2024-05-01"
    )
    assert fhir_date("2024-05-01 ") == "2024-05-01" and fhir_date("0000-01-01") is None
    assert (
        date_key("2024-06-15") == (2024, 6, 15)
        and date_key("2024-06") == (2024, 6, 0)
        and date_key(None) == NO_DATE
    )
    assert to_date("2024-06-15") == date(2024, 6, 15) and to_date("2024-06") == date(2024, 6, 1)
