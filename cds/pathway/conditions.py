"""Compile a rule's conditions (profile field -> expected value) into checked predicates.

The vocabulary is small and reads like the clinician's sentence it encodes:

    hormone_receptor_status: positive             # equals
    menopausal_status: [premenopausal, indeterminate]   # one of
    metastatic_lines: {at_most: 0}                # integers: at_least / at_most
    prior_therapies: {includes: trastuzumab}      # sets: includes / includes_any / excludes
    her2_status: {not: positive}                  # enums: not (one value or a list)

Unknown is not negative: "unknown" and "conflicting" never satisfy ``not``, and integer tests on an
unknown value fail. A rule that wants to fire on missing data must say ``unknown`` explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cds.errors import KnowledgeError
from cds.profile.model import FIELDS, THERAPY_SETS, FieldSpec

UNSETTLED: Final = frozenset({"unknown", "conflicting"})
Expected = str | int | list[str | int] | dict[str, str | int | list[str | int]]


class Condition:
    """A test on one profile field's value; one subclass per kind of test (enum, integer, set)."""

    def __init__(self, field: str, wording: str) -> None:
        self.field = field
        self.wording = wording  # how the condition reads, e.g. "at most 0", for review tools and debugging

    def holds(self, value: object) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field!r}, {self.wording!r})"


class _OneOf(Condition):
    def __init__(self, field: str, wanted: frozenset[str]) -> None:
        super().__init__(field, f"one of {sorted(wanted)}")
        self.wanted = wanted

    def holds(self, value: object) -> bool:
        return value in self.wanted


class _NoneOf(Condition):
    """Settled and not one of the values: unknown is not negative."""

    def __init__(self, field: str, banned: frozenset[str]) -> None:
        super().__init__(field, f"not {sorted(banned)}")
        self.banned = banned

    def holds(self, value: object) -> bool:
        return isinstance(value, str) and value not in UNSETTLED and value not in self.banned


class _Equals(Condition):
    def __init__(self, field: str, expected: int) -> None:
        super().__init__(field, f"= {expected}")
        self.expected = expected

    def holds(self, value: object) -> bool:
        return value == self.expected


class _Between(Condition):
    """An integer within the bounds given (None: no bound); an unknown value fails."""

    def __init__(self, field: str, lo: int | None, hi: int | None) -> None:
        super().__init__(field, f"between {lo} and {hi}")
        self.lo = lo
        self.hi = hi

    def holds(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


class _SetTest(Condition):
    """A set that includes all of ``includes``, one of ``includes_any`` (when given), none of ``excludes``."""

    def __init__(
        self,
        field: str,
        wording: str,
        includes: frozenset[str],
        includes_any: frozenset[str] | None,
        excludes: frozenset[str],
    ) -> None:
        super().__init__(field, wording)
        self.includes = includes
        self.includes_any = includes_any
        self.excludes = excludes

    def holds(self, value: object) -> bool:
        if not isinstance(value, frozenset):
            return False
        if self.includes_any is not None and not (self.includes_any & value):
            return False
        return self.includes <= value and not (self.excludes & value)


def _as_list(value: object) -> list[str | int]:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str | int):
        return [value]
    raise TypeError(type(value).__name__)


def _check_members(
    file: str, name: str, spec: FieldSpec, values: list[str | int], vocabulary: frozenset[str]
) -> frozenset[str]:
    allowed = spec.values or vocabulary
    out: set[str] = set()
    for value in values:
        text = str(value)
        if allowed and text not in allowed:
            raise KnowledgeError(
                file, f"conditions.{name}", f"{text!r} is not one of {', '.join(sorted(allowed))}"
            )
        out.add(text)
    return frozenset(out)


def _enum(file: str, name: str, spec: FieldSpec, expected: Expected, vocab: frozenset[str]) -> Condition:
    if isinstance(expected, dict):
        if set(expected) != {"not"}:
            raise KnowledgeError(
                file, f"conditions.{name}", "an enum field takes a value, a list, or {not: ...}"
            )
        banned = _check_members(file, name, spec, _as_list(expected["not"]), vocab)
        return _NoneOf(name, banned)
    return _OneOf(name, _check_members(file, name, spec, _as_list(expected), vocab))


def _int(file: str, name: str, expected: Expected) -> Condition:
    if isinstance(expected, int) and not isinstance(expected, bool):
        return _Equals(name, expected)
    if not isinstance(expected, dict) or not expected or set(expected) - {"at_least", "at_most"}:
        raise KnowledgeError(
            file, f"conditions.{name}", "an integer field takes a number or {at_least/at_most: n}"
        )
    low, high = expected.get("at_least"), expected.get("at_most")
    for bound in (low, high):
        if bound is not None and not isinstance(bound, int):
            raise KnowledgeError(file, f"conditions.{name}", f"bound {bound!r} is not an integer")
    lo = low if isinstance(low, int) else None
    hi = high if isinstance(high, int) else None
    return _Between(name, lo, hi)


_SET_OPS = {"includes", "includes_any", "excludes"}


def _set(file: str, name: str, spec: FieldSpec, expected: Expected, vocab: frozenset[str]) -> Condition:
    if not isinstance(expected, dict) or not expected or set(expected) - _SET_OPS:
        raise KnowledgeError(
            file, f"conditions.{name}", "a set field takes {includes|includes_any|excludes: value or list}"
        )
    checked: dict[str, frozenset[str]] = {}
    for op in ("includes", "includes_any", "excludes"):
        if op in expected:
            checked[op] = _check_members(file, name, spec, _as_list(expected[op]), vocab)
    return _SetTest(
        name,
        str(expected),
        includes=checked.get("includes", frozenset()),
        includes_any=checked.get("includes_any"),
        excludes=checked.get("excludes", frozenset()),
    )


def compile_conditions(
    file: str, conditions: Mapping[str, Expected], *, drug_classes: frozenset[str], where: str = "conditions"
) -> tuple[Condition, ...]:
    compiled: list[Condition] = []
    for name, expected in conditions.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise KnowledgeError(file, f"{where}.{name}", "not a profile field (see cds/profile/model.py)")
        vocab = drug_classes if name in THERAPY_SETS else frozenset()
        if spec.kind == "enum":
            compiled.append(_enum(file, name, spec, expected, vocab))
        elif spec.kind == "int":
            compiled.append(_int(file, name, expected))
        else:
            compiled.append(_set(file, name, spec, expected, vocab))
    return tuple(compiled)
