"""Which rules apply to a profile. Pure: no I/O, no card wording."""

from __future__ import annotations

from cds.pathway.knowledge import CompiledRule, Knowledge
from cds.profile.model import PatientProfile


def _in_scope(item: CompiledRule, profile: PatientProfile) -> bool:
    """No breast cancer: nothing. Not (known to be) metastatic: no stage 4 therapy rule."""
    if profile.breast_cancer.value != "yes":
        return False
    return item.rule.applies_to == "breast_cancer" or profile.metastatic.value == "yes"


def _holds(item: CompiledRule, profile: PatientProfile) -> bool:
    # getattr, not profile.fact: a condition's field was checked against FIELDS when the rules were
    # compiled (cds.pathway.conditions), and fact() is interpreted Python (~70 calls a call)
    if not all(c.holds(getattr(profile, c.field).value) for c in item.conditions):
        return False
    return not item.any_of or any(
        all(c.holds(getattr(profile, c.field).value) for c in group) for group in item.any_of
    )


def evaluate(profile: PatientProfile, knowledge: Knowledge) -> list[CompiledRule]:
    """Active rules whose conditions all hold, in knowledge-base order."""
    return [item for item in knowledge.rules if _in_scope(item, profile) and _holds(item, profile)]
