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

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cds.errors import KnowledgeError
from cds.profile.model import FIELDS, FieldSpec

UNSETTLED = frozenset({"unknown", "conflicting"})
Predicate = Callable[[object], bool]
Expected = str | int | list[str | int] | dict[str, str | int | list[str | int]]


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    test: Predicate
    wording: str  # how the condition reads, e.g. "at most 0", for review tools and debugging

    def holds(self, value: object) -> bool:
        return self.test(value)


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
        return Condition(
            name,
            lambda v: isinstance(v, str) and v not in UNSETTLED and v not in banned,
            f"not {sorted(banned)}",
        )
    wanted = _check_members(file, name, spec, _as_list(expected), vocab)
    return Condition(name, lambda v: v in wanted, f"one of {sorted(wanted)}")


def _int(file: str, name: str, expected: Expected) -> Condition:
    if isinstance(expected, int) and not isinstance(expected, bool):
        return Condition(name, lambda v: v == expected, f"= {expected}")
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

    def test(v: object) -> bool:
        if not isinstance(v, int):
            return False
        return (lo is None or v >= lo) and (hi is None or v <= hi)

    return Condition(name, test, f"between {lo} and {hi}")


_SET_OPS = {"includes", "includes_any", "excludes"}


def _set(file: str, name: str, spec: FieldSpec, expected: Expected, vocab: frozenset[str]) -> Condition:
    if not isinstance(expected, dict) or not expected or set(expected) - _SET_OPS:
        raise KnowledgeError(
            file, f"conditions.{name}", "a set field takes {includes|includes_any|excludes: value or list}"
        )
    parts: list[Predicate] = []
    if "includes" in expected:
        need = _check_members(file, name, spec, _as_list(expected["includes"]), vocab)
        parts.append(lambda v: isinstance(v, frozenset) and need <= v)
    if "includes_any" in expected:
        some = _check_members(file, name, spec, _as_list(expected["includes_any"]), vocab)
        parts.append(lambda v: isinstance(v, frozenset) and bool(some & v))
    if "excludes" in expected:
        bar = _check_members(file, name, spec, _as_list(expected["excludes"]), vocab)
        parts.append(lambda v: isinstance(v, frozenset) and not (bar & v))
    return Condition(name, lambda v: all(p(v) for p in parts), str(expected))


def compile_conditions(
    file: str, conditions: Mapping[str, Expected], *, drug_classes: frozenset[str], where: str = "conditions"
) -> tuple[Condition, ...]:
    compiled: list[Condition] = []
    for name, expected in conditions.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise KnowledgeError(file, f"{where}.{name}", "not a profile field (see cds/profile/model.py)")
        vocab = drug_classes if name in {"prior_therapies", "metastatic_therapies"} else frozenset()
        if spec.kind == "enum":
            compiled.append(_enum(file, name, spec, expected, vocab))
        elif spec.kind == "int":
            compiled.append(_int(file, name, expected))
        else:
            compiled.append(_set(file, name, spec, expected, vocab))
    return tuple(compiled)
