"""Which rules apply to a profile, grouped by the decision they serve. Pure: no I/O, no card wording.

* A deceased patient: nothing. No breast cancer: only the warnings that apply to any patient
  (``applies_to: any``: metastatic cancer recorded but no breast cancer diagnosis found).
* Not (known to be) metastatic, or metastases that may belong to another primary cancer: only the rules
  that apply to any breast cancer (data gaps, the warning that says why no stage 4 option is shown).
* Therapy rules are weighed at one decision point of the journey:
  - the patient is not on therapy for metastatic disease (or it is not known): the options **now**, for
    the next line as the profile stands;
  - the patient is on therapy: no new option now (the current therapy continues); the options **at
    progression**, weighed on the journey as it would stand if the disease progressed on the current
    therapy (``PatientProfile.at_progression``), with the tests that progression would call for and
    that are not called for now (ESR1 testing at each progression on endocrine therapy).
* A therapy rule holds when its conditions hold, its decision point is reached (``first_line``: no
  completed line for metastatic disease; ``initial_endocrine``: that, or no endocrine line for
  metastatic disease yet, as after first-line chemotherapy (labels: "initial endocrine-based
  therapy"); ``after_progression_on``: the disease progressed on one of the
  named classes or agents), and nothing excludes it: neither the journey (the patient is on or progressed
  on one of the medicines it gives, or every part of its regimen is current, progressed on or stopped for
  side effects, unless the guideline says to continue it: ``CompiledRule.medicines_given``) nor one of
  its exclusions. A safety exclusion is kept, so the warnings card can name the finding.
* The options are listed by the cited guideline's preference (preferred, other recommended, in certain
  circumstances). An option the guideline puts after another one offered too (``Rule.yields_to``:
  chemotherapy alone after pembrolizumab with chemotherapy) is listed after it, as other recommended at
  best, unless one of its ``yields_unless`` groups holds (T-DXd before chemotherapy stays first for
  endocrine-resistant disease); outside those groups it is other recommended at best even when nothing
  it yields to is offered. An option whose place another offered option takes
  (``Rule.replaced_by``) is not shown, unless each such option carries a caution for this patient.
  Options still equal are listed in the order of ``cards/option-order.yaml``, which says why each option
  stands where it does (not the guideline's order: guidelines rarely rank options of equal preference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cds.pathway.conditions import Condition
from cds.pathway.rules import AfterProgression, CardGroup, Preference, Rule
from cds.profile.model import PatientProfile


@dataclass(frozen=True, slots=True)
class CompiledFinding:
    """A rule's exclusion or caution: the reason shown for it and its conditions, compiled."""

    reason: str
    conditions: tuple[Condition, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The profile fields its conditions read, in order: the facts named with it."""
        return tuple(dict.fromkeys(c.field for c in self.conditions))


@dataclass(frozen=True, slots=True)
class CompiledExclusion(CompiledFinding):
    safety: bool


@dataclass(frozen=True, slots=True)
class CompiledCaution(CompiledFinding):
    demotes: bool = False  # while it holds, the option is not put first


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule as the engine reads it: its conditions compiled against the profile's fields."""

    rule: Rule
    conditions: tuple[Condition, ...]
    any_of: tuple[tuple[Condition, ...], ...]
    fields: tuple[str, ...]  # profile fields the rule reads, in order: its "why" list
    metastatic_only: bool  # applies to metastatic breast cancer only (rule.applies_to)
    group: CardGroup
    exclusions: tuple[CompiledExclusion, ...] = ()
    yields_unless: tuple[tuple[Condition, ...], ...] = ()
    medicines_given: frozenset[str] = frozenset()  # on or progressed on one of them: not offered
    cautions: tuple[CompiledCaution, ...] = ()
    any_patient: bool = False  # weighed also when no breast cancer is found (rule.applies_to: any)
    # what it gives again to a patient who had it: its regimen's parts and their interchangeable classes
    # (a CDK4/6 inhibitor for ribociclib), not what its decision point follows progression on
    repeats: frozenset[str] = frozenset()

    def cautions_holding(self, profile: PatientProfile) -> list[CompiledCaution]:
        return [c for c in self.cautions if _all_hold(c.conditions, profile)]

    def keeps_place(self, profile: PatientProfile) -> bool:
        """One of the rule's ``yields_unless`` groups holds: its ``yields_to`` do not apply."""
        return first_holding(self.yields_unless, profile) is not None


@dataclass(frozen=True, slots=True)
class RuledOut:
    """A therapy option that would fit but for a safety finding."""

    item: CompiledRule
    exclusion: CompiledExclusion


@dataclass(slots=True)
class Evaluation:
    """The matched rules by card group; ``at_progression`` holds the options weighed for progression."""

    profile: PatientProfile
    warnings: list[CompiledRule] = field(default_factory=list)
    now: list[CompiledRule] = field(default_factory=list)
    at_progression: list[CompiledRule] = field(default_factory=list)
    tests: list[CompiledRule] = field(default_factory=list)
    supportive: list[CompiledRule] = field(default_factory=list)
    ruled_out: list[RuledOut] = field(default_factory=list)
    progression_profile: PatientProfile | None = None
    # tests that the progression would call for and that are not called for now (ESR1 at each progression)
    tests_at_progression: list[CompiledRule] = field(default_factory=list)
    yielded: set[str] = field(default_factory=set)  # options listed after one the guideline prefers
    # options that would fit but give again a medicine the disease progressed on (is on), with it
    not_again: list[tuple[CompiledRule, frozenset[str]]] = field(default_factory=list)

    def preference_of(self, item: CompiledRule) -> Preference | None:
        """The option's preference for this patient: other recommended at best when an option its
        guideline prefers to it is offered too, or when its ``yields_unless`` population is not this
        patient's."""
        preference = item.rule.preference
        if preference == "preferred" and item.rule.id in self.yielded:
            return "other_recommended"
        return preference

    def all_rules(self) -> list[CompiledRule]:
        return [*self.warnings, *self.now, *self.at_progression, *self.tests, *self.supportive]


def _all_hold(conditions: tuple[Condition, ...], profile: PatientProfile) -> bool:
    return all(c.holds(profile.fact(c.field).value) for c in conditions)


def first_holding(
    groups: tuple[tuple[Condition, ...], ...], profile: PatientProfile
) -> tuple[Condition, ...] | None:
    """The first group of conditions (``any_of``, ``yields_unless``) that holds for the profile."""
    return next((group for group in groups if _all_hold(group, profile)), None)


def _holds(item: CompiledRule, profile: PatientProfile) -> bool:
    if not _all_hold(item.conditions, profile):
        return False
    return not item.any_of or first_holding(item.any_of, profile) is not None


def _at_decision_point(rule: Rule, profile: PatientProfile) -> bool:
    point = rule.decision_point
    if isinstance(point, AfterProgression):
        return not profile.progressed_on.value.isdisjoint(point.after_progression_on) or relapsed_within_year(
            point, profile
        )
    if point == "first_line":
        return profile.completed_metastatic_lines.value == 0
    if point == "initial_endocrine":
        return profile.completed_metastatic_lines.value == 0 or profile.metastatic_endocrine_lines.value == 0
    return True


def relapsed_within_year(point: AfterProgression, profile: PatientProfile) -> bool:
    """The decision point holds by a relapse within 12 months of (neo)adjuvant therapy it names."""
    return point.or_relapse_within_year and not profile.relapse_within_year_after.value.isdisjoint(
        point.after_progression_on
    )


def _journey_excludes(item: CompiledRule, given: frozenset[str], failed: frozenset[str]) -> bool:
    """The patient is on or progressed on (``given``) one of the medicines the option gives (alpelisib +
    fulvestrant after progression on fulvestrant), or every part of the regimen is current, progressed on
    or stopped for side effects (``failed``: a taxane, capecitabine or eribulin after all three)."""
    rule = item.rule
    if not rule.regimen or rule.continues_current:
        return False
    if not given.isdisjoint(item.medicines_given):
        return True
    return all(part in failed for part in rule.regimen)


def _given_again(item: CompiledRule, given: frozenset[str]) -> frozenset[str]:
    """The medicines of a combination the patient is on or progressed on (``given``), when another part of
    it is new (alpelisib + fulvestrant after fulvestrant: {fulvestrant}); empty for a regimen wholly
    failed."""
    again = item.medicines_given & given
    return again if any(part not in given for part in item.rule.regimen) else frozenset()


def _therapy(items: list[CompiledRule], profile: PatientProfile, result: Evaluation) -> list[CompiledRule]:
    chosen: list[CompiledRule] = []
    given = profile.current_therapies.value | profile.progressed_on.value  # on it now, or progressed on it
    failed = given | profile.stopped_for_toxicity.value
    for item in items:
        rule = item.rule
        if not _holds(item, profile) or not _at_decision_point(rule, profile):
            continue
        excluded = [x for x in item.exclusions if _all_hold(x.conditions, profile)]
        if _journey_excludes(item, given, failed):
            again = _given_again(item, given)
            if again and not excluded:  # named on the card: a partner the clinician may not expect
                result.not_again.append((item, again))
            continue
        if not excluded:
            chosen.append(item)
            continue
        result.ruled_out.extend(RuledOut(item, x) for x in excluded if x.safety)
    # an option with a caution on record may not suit this patient: the one it would replace stays
    # (fulvestrant alone beside capivasertib + fulvestrant with a caution for hyperglycaemia)
    replacing = {item.rule.id for item in chosen if not item.cautions_holding(profile)}
    chosen = [item for item in chosen if replacing.isdisjoint(item.rule.replaced_by)]
    offered = {item.rule.id: item for item in chosen}
    kept = frozenset(item.rule.id for item in chosen if item.keeps_place(profile))
    depth = {item.rule.id: _below(item, offered, kept) for item in chosen}
    result.yielded.update(rule_id for rule_id, n in depth.items() if n)
    # outside the population its yields_unless names, the guideline does not put it first, whether or not
    # the options it yields to are offered (T-DXd before chemotherapy without endocrine resistance)
    result.yielded.update(item.rule.id for item in chosen if item.yields_unless and item.rule.id not in kept)
    # the last line ended with no reason recorded and may have progressed: an option that gives one of its
    # drugs or classes again is not put first (the options card's caution says why; review 14)
    ended = profile.last_line_unexplained_therapies.value - profile.stopped_for_toxicity.value
    result.yielded.update(item.rule.id for item in chosen if not ended.isdisjoint(item.repeats))
    # a caution that says the guideline prefers another option here (a relapse within 12 months of
    # adjuvant anti-HER2 therapy: the second-line options, ASCO HER2+ 2022) keeps it from being put first
    result.yielded.update(
        item.rule.id for item in chosen if any(c.demotes for c in item.cautions_holding(profile))
    )
    # the shown preference, then the depth of yielding, then the guideline's own preference (a preferred
    # option demoted by yielding stays above an other-recommended one listed at the same depth), then the
    # place in cards/option-order.yaml: ``items`` come in that order (cds.pathway.knowledge)
    place = {item.rule.id: i for i, item in enumerate(items)}
    return sorted(
        chosen,
        key=lambda item: (
            _PREFERENCE[result.preference_of(item)],
            depth[item.rule.id],
            _PREFERENCE[item.rule.preference],
            place[item.rule.id],
        ),
    )


def _below(item: CompiledRule, offered: dict[str, CompiledRule], kept: frozenset[str]) -> int:
    """How many offered options it is listed under: 0 (also when it keeps its place), or one more than
    the deepest it yields to (the knowledge base has no cycle of yields_to, cds.pathway.knowledge). A
    module function, not a closure: a recursive closure is a reference cycle, left to the collector on
    every call."""
    if item.rule.id in kept:
        return 0
    above = [offered[other] for other in item.rule.yields_to if other in offered]
    return 1 + max(_below(other, offered, kept) for other in above) if above else 0


_PREFERENCE = {"preferred": 0, "other_recommended": 1, "certain_circumstances": 2, None: 3}


class RuleSet(Protocol):
    @property
    def rules(self) -> tuple[CompiledRule, ...]:  # the active rules, in knowledge-base order
        ...


def evaluate(profile: PatientProfile, knowledge: RuleSet) -> Evaluation:
    """The active rules that hold for the profile, by card group (see the module docstring)."""
    result = Evaluation(profile)
    if profile.deceased.value == "yes":
        return result
    if profile.breast_cancer.value != "yes":
        # only the warnings that say why there is no advice (breast cancer not found next to metastases)
        result.warnings.extend(item for item in knowledge.rules if item.any_patient and _holds(item, profile))
        return result
    stage4 = profile.metastatic.value == "yes" and profile.other_primary_cancer.value != "yes"
    usable = [item for item in knowledge.rules if stage4 or not item.metastatic_only]
    groups = {"warning": result.warnings, "test": result.tests, "supportive": result.supportive}
    for item in usable:
        if item.group != "therapy" and _holds(item, profile):
            groups[item.group].append(item)
    therapy = [item for item in usable if item.group == "therapy"]
    if profile.on_therapy.value == "yes":
        result.progression_profile = later = profile.at_progression()
        result.at_progression.extend(_therapy(therapy, later, result))
        now = {item.rule.id for item in result.tests}
        tests = [item for item in usable if item.group == "test" and item.rule.id not in now]
        result.tests_at_progression.extend(item for item in tests if _holds(item, later))
    else:
        result.now.extend(_therapy(therapy, profile, result))
    return result
