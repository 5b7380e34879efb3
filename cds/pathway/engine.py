"""Which rules apply to a profile. Pure: no I/O, no card wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds.pathway.conditions import Condition
from cds.pathway.rules import Rule
from cds.profile.model import PatientProfile

if TYPE_CHECKING:
    from cds.pathway.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """An active rule as the engine reads it (a compiled class: its members are read directly)."""

    rule: Rule
    conditions: tuple[Condition, ...]
    any_of: tuple[tuple[Condition, ...], ...]
    fields: tuple[str, ...]  # profile fields the rule reads, in order: its "why" list
    metastatic_only: bool  # applies to metastatic breast cancer only (rule.applies_to)


def _all_hold(conditions: tuple[Condition, ...], profile: PatientProfile) -> bool:
    # getattr, not profile.fact: a condition's field was checked against FIELDS when the rules were
    # compiled (cds.pathway.conditions), and fact() is interpreted Python (~70 calls a call)
    return all(c.holds(getattr(profile, c.field).value) for c in conditions)  # a loop, compiled


def _holds(item: CompiledRule, profile: PatientProfile) -> bool:
    if not _all_hold(item.conditions, profile):
        return False
    return not item.any_of or any(_all_hold(group, profile) for group in item.any_of)


def evaluate(profile: PatientProfile, knowledge: Knowledge) -> list[CompiledRule]:
    """Active rules whose conditions all hold, in knowledge-base order.

    No breast cancer: nothing. Not (known to be) metastatic: no stage 4 therapy rule.
    """
    if profile.breast_cancer.value != "yes":
        return []
    metastatic = profile.metastatic.value == "yes"
    return [
        item for item in knowledge.rules if (metastatic or not item.metastatic_only) and _holds(item, profile)
    ]
