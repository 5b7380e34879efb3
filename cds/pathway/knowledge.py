"""Load and check the knowledge base once at start: service text, rules, code lists, option order.

Any problem raises ``KnowledgeError`` naming the file and the field, and the service does not start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from cds.errors import KnowledgeError
from cds.fhir.codes import Terminology
from cds.pathway.conditions import compile_conditions
from cds.pathway.engine import CompiledCaution, CompiledExclusion, CompiledRule
from cds.pathway.ids import group_key, key_of, rule_key
from cds.pathway.labels import DrugNames
from cds.pathway.override_reasons import override_reason_system
from cds.pathway.rules import AfterProgression, CardGroup, Preference, Rule, SourceRef, Text, card_group
from cds.profile.regimens import NEVER_COMBINED
from cds.yaml_files import read_yaml

#: The cards a response can hold, in the order shown (cds.pathway.render).
CardGroupName = Literal["warnings", "options-now", "at-progression", "tests", "supportive"]
CARD_GROUPS: tuple[str, ...] = get_args(CardGroupName)
# The fields a card summary template may use (cds.pathway.render fills them).
_SUMMARY_FIELDS = {
    "item": "",
    "items": "",
    "n": 0,
    "line": "",
    "disease": "",
    "options": "",
    "therapy": "",
    "names": "",
}


class CardWording(BaseModel):
    """One card group's title and summary templates (fields in braces, see cds.pathway.render)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Text
    summary: Text | None = None
    summary_one: Text | None = None
    summary_many: Text | None = None


class ReasonText(BaseModel):
    """An override reason's code and display; its code system is the deployer's (override_reasons.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Text
    display: Text


class ServiceText(BaseModel):
    """cards/service.yaml: what discovery says and the fixed wording around every card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    title: Text
    description: Text
    usage_requirements: Text
    cards: dict[CardGroupName, CardWording]
    based_on_heading: Text
    data_issues_heading: Text
    preference_labels: dict[Preference, Text]
    disclaimer: Text
    data_source: SourceRef
    override_reasons: list[ReasonText]
    observation_codes: list[Text]  # system|code tokens for the observations prefetch template

    @model_validator(mode="after")
    def _every_card_is_worded(self) -> ServiceText:
        missing = set(get_args(CardGroupName)) - set(self.cards)
        if missing:
            raise ValueError(f"cards: no wording for {sorted(missing)}")
        if set(self.preference_labels) != set(get_args(Preference)):
            raise ValueError(f"preference_labels: give one for each of {sorted(get_args(Preference))}")
        for group, wording in self.cards.items():
            for template in (wording.summary, wording.summary_one, wording.summary_many):
                try:
                    (template or "").format(**_SUMMARY_FIELDS)
                except (KeyError, IndexError, ValueError) as exc:
                    raise ValueError(
                        f"cards.{group}: summary field {exc} is not one of {sorted(_SUMMARY_FIELDS)}"
                    ) from exc
        return self


@dataclass(frozen=True, slots=True)
class Knowledge:
    service: ServiceText
    rules: tuple[CompiledRule, ...]  # active rules only: therapy rules in option-order.yaml's order, the
    # others in file-name order
    all_rules: Mapping[str, Rule]  # every rule by id, including draft and retired
    terminology: Terminology
    rule_by_key: Mapping[str, str]  # uuid key -> rule id (suggestion uuids; card uuids of old releases)
    drugs: DrugNames  # drug classes and agents as a clinician names them
    override_reasons: list[dict[str, str]]  # every card's, in the deployer's code system (read at start)
    group_by_key: Mapping[str, str] = field(default_factory=lambda: {group_key(g): g for g in CARD_GROUPS})

    def rule_for_card(self, card_uuid_key: str | None) -> str | None:
        """What a card's feedback is about: its card group (``options-now``...), or the rule of a card
        uuid issued before cards were grouped. None for a uuid this service did not issue."""
        if not card_uuid_key:
            return None
        return self.group_by_key.get(card_uuid_key) or self.rule_by_key.get(card_uuid_key)

    def rule_for_suggestion(self, suggestion_uuid: object) -> str | None:
        """The rule behind a suggestion (a therapy option or a test order), from its uuid."""
        key = key_of(suggestion_uuid)
        return self.rule_by_key.get(key) if key else None


def _model_error(name: str, exc: ValidationError) -> KnowledgeError:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "(file)"
    return KnowledgeError(name, where, str(err["msg"]))


def load_rule(path: Path, terminology: Terminology) -> CompiledRule:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise KnowledgeError(path.name, "(file)", "must be a mapping of rule fields")
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        raise _model_error(path.name, exc) from exc
    if rule.id != path.stem:
        raise KnowledgeError(path.name, "id", f"{rule.id!r} must equal the file name {path.stem!r}")
    if rule.evidence.beyond_seed_documents == bool(rule.evidence.seed_documents):
        raise KnowledgeError(
            path.name,
            "evidence",
            "say either seed_documents (CCS/DO) or beyond_seed_documents: true, not both or neither",
        )
    if not rule.conditions and not rule.any_of:
        raise KnowledgeError(path.name, "conditions", "a rule needs at least one condition")
    classes = terminology.drug_classes()
    conditions = compile_conditions(path.name, rule.conditions, drug_classes=classes)
    any_of = tuple(
        compile_conditions(path.name, group, drug_classes=classes, where=f"any_of[{i}]")
        for i, group in enumerate(rule.any_of)
    )
    group = card_group(rule.category)
    if rule.applies_to == "any" and group != "warning":
        raise KnowledgeError(
            path.name, "applies_to", "only a data-gap (warning) rule can apply to any patient"
        )
    _check_therapy_fields(path.name, rule, group, classes)
    exclusions = tuple(
        CompiledExclusion(
            x.reason,
            compile_conditions(
                path.name, x.conditions, drug_classes=classes, where=f"exclusions[{i}].conditions"
            ),
            x.safety,
        )
        for i, x in enumerate(rule.exclusions)
    )
    cautions = tuple(
        CompiledCaution(
            c.reason,
            compile_conditions(
                path.name, c.conditions, drug_classes=classes, where=f"cautions[{i}].conditions"
            ),
            c.demotes,
        )
        for i, c in enumerate(rule.cautions)
    )
    yields_unless = tuple(
        compile_conditions(path.name, group, drug_classes=classes, where=f"yields_unless[{i}]")
        for i, group in enumerate(rule.yields_unless)
    )
    if rule.yields_unless and not rule.yields_to:
        raise KnowledgeError(
            path.name, "yields_unless", "only a rule that yields_to others can keep its place"
        )
    names = [c.field for c in conditions] + [c.field for group in any_of for c in group]
    fields = tuple(dict.fromkeys(names))
    return CompiledRule(
        rule,
        conditions,
        any_of,
        fields,
        rule.applies_to == "metastatic_breast_cancer",
        group,
        exclusions,
        yields_unless,
        _medicines_given(rule, terminology),
        cautions,
        any_patient=rule.applies_to == "any",
        repeats=_repeats(rule, terminology),
    )


def _medicines_given(rule: Rule, terminology: Terminology) -> frozenset[str]:
    """The regimen's medicines that the patient must not be on or have progressed on: the parts that
    name one medicine (alpelisib, fulvestrant; not a class such as a CDK4/6 inhibitor or a taxane, which
    leaves the choice of medicine open), given together (not ``regimen_alternatives``), and not a medicine
    the decision point follows progression on (trastuzumab continued with tucatinib after progression on
    anti-HER2 therapy). None when the guideline says to continue the current therapy."""
    if rule.regimen_alternatives or rule.continues_current:
        return frozenset()
    after = rule.follows_progression_on
    given: set[str] = set()
    for part in rule.regimen:
        drugs = [d for d in terminology.drugs if part in d.classes]
        if not drugs:
            continue
        medicines = frozenset.intersection(*(terminology.agents[d.name] for d in drugs))
        classes = frozenset.intersection(*(frozenset(d.classes) for d in drugs))
        if len(medicines) == 1 and after.isdisjoint(classes):
            given.add(part)
    return frozenset(given)


def _repeats(rule: Rule, terminology: Terminology) -> frozenset[str]:
    """What the option gives again to a patient who had it (``CompiledRule.repeats``): its regimen's
    parts, and the ``NEVER_COMBINED`` classes every drug of a part belongs to (ribociclib: a CDK4/6
    inhibitor), less the classes its decision point follows progression on."""
    found = set(rule.regimen)
    for part in rule.regimen:
        drugs = [d for d in terminology.drugs if part in d.classes]
        if drugs:
            found |= frozenset.intersection(*(frozenset(d.classes) for d in drugs)) & NEVER_COMBINED
    return frozenset(found - rule.follows_progression_on)


def _check_therapy_fields(name: str, rule: Rule, group: CardGroup, classes: frozenset[str]) -> None:
    """A therapy rule says where in the journey it applies, how strongly, and what it gives."""
    if group == "therapy":
        for key in ("decision_point", "preference", "option"):
            if getattr(rule, key) is None:
                raise KnowledgeError(name, key, f"a therapy rule ({rule.category}) needs a {key}")
        if not rule.regimen:
            raise KnowledgeError(name, "regimen", "a therapy rule names the classes or agents it gives")
        if rule.regimen_alternatives and len(rule.regimen) < 2:
            raise KnowledgeError(name, "regimen_alternatives", "alternatives need two or more parts")
    elif rule.decision_point not in (None, "any_time") or any(
        (
            rule.preference,
            rule.option,
            rule.suppression,
            rule.family,
            rule.listed_as_note,
            rule.regimen,
            rule.yields_to,
            rule.replaced_by,
            rule.cautions,
        )
    ):
        raise KnowledgeError(name, "decision_point", "only therapy rules have a decision point or options")
    named = [("regimen", item) for item in rule.regimen]
    if isinstance(rule.decision_point, AfterProgression):
        point = rule.decision_point.after_progression_on
        named += [("decision_point.after_progression_on", item) for item in point]
    for where, item in named:
        if item not in classes:
            raise KnowledgeError(name, where, f"{item!r} is not a drug class or agent in medications.yaml")


def _check_links(active: Sequence[CompiledRule], name: Literal["yields_to", "replaced_by"]) -> None:
    """Each ``yields_to`` (``replaced_by``) names another active therapy rule, and no option ends up
    listed under (replaced by) itself."""
    links = {item.rule.id: getattr(item.rule, name) for item in active if item.group == "therapy"}
    for item in active:
        for other in getattr(item.rule, name):
            if other not in links or other == item.rule.id:
                raise KnowledgeError(
                    f"{item.rule.id}.yaml", name, f"{other!r} is not another active therapy rule"
                )

    def under(rule_id: str, path: tuple[str, ...]) -> None:
        for other in links[rule_id]:
            if other in path:
                cycle = " -> ".join((*path[path.index(other) :], other))
                raise KnowledgeError(f"{other}.yaml", name, f"{name} in a circle: {cycle}")
            under(other, (*path, other))

    for rule_id in links:
        under(rule_id, (rule_id,))


OPTION_ORDER = "option-order.yaml"


def _option_order(directory: Path, active: Sequence[CompiledRule]) -> tuple[CompiledRule, ...]:
    """The active rules with the therapy rules in the order ``option-order.yaml`` lists them: the last
    key options of equal shown preference are sorted on (cds.pathway.engine). Every active therapy rule is
    listed once, and nothing else, so no tie is left to the file names."""
    data = read_yaml(directory / OPTION_ORDER)
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise KnowledgeError(OPTION_ORDER, "(file)", "must be a list of therapy rule ids")
    therapy = {item.rule.id: item for item in active if item.group == "therapy"}
    seen: set[str] = set()
    for i, rule_id in enumerate(data):
        if rule_id in seen:
            raise KnowledgeError(OPTION_ORDER, f"[{i}]", f"{rule_id!r} is listed twice")
        if rule_id not in therapy:
            raise KnowledgeError(OPTION_ORDER, f"[{i}]", f"{rule_id!r} is not an active therapy rule")
        seen.add(rule_id)
    missing = [rule_id for rule_id in therapy if rule_id not in seen]
    if missing:
        raise KnowledgeError(
            OPTION_ORDER, "(file)", f"active therapy rules not listed (place each one): {', '.join(missing)}"
        )
    _check_families([therapy[rule_id] for rule_id in data])
    others = tuple(item for item in active if item.group != "therapy")
    return others + tuple(therapy[rule_id] for rule_id in data)


def _check_families(ordered: Sequence[CompiledRule]) -> None:
    """A family (``Rule.family``) has two or more active options, placed next to each other in
    option-order.yaml, so that they are listed together when offered together: a family of one is a typo."""
    places: dict[str, list[int]] = {}
    for i, item in enumerate(ordered):
        if item.rule.family:
            places.setdefault(item.rule.family, []).append(i)
    for family, where in places.items():
        first = ordered[where[0]].rule.id
        if len(where) < 2:
            raise KnowledgeError(f"{first}.yaml", "family", f"{family!r} has no other active option")
        if where[-1] - where[0] != len(where) - 1:
            raise KnowledgeError(
                OPTION_ORDER, "(file)", f"the options of the family {family!r} are not next to each other"
            )


def load_knowledge(directory: Path, *, override_reason_system_uri: str | None = None) -> Knowledge:
    """The knowledge base in ``directory``; the override reasons' code system is
    ``override_reason_system_uri`` when given, else CDS_OVERRIDE_REASON_SYSTEM
    (cds.pathway.override_reasons)."""
    if not directory.is_dir():
        raise KnowledgeError(
            str(directory), "(folder)", "knowledge base folder not found (CDS_KNOWLEDGE_DIR)"
        )
    service_data = read_yaml(directory / "service.yaml")
    try:
        service = ServiceText.model_validate(service_data)
    except ValidationError as exc:
        raise _model_error("service.yaml", exc) from exc
    terminology = Terminology.load(directory / "codes")
    rule_files = sorted((directory / "rules").glob("*.yaml"))
    if not rule_files:
        raise KnowledgeError("rules/", "(folder)", "holds no rule files")
    compiled = [load_rule(path, terminology) for path in rule_files]
    by_id: dict[str, Rule] = {}
    by_key: dict[str, str] = {}
    for item in compiled:
        rule = item.rule
        if rule.id in CARD_GROUPS:
            raise KnowledgeError(f"{rule.id}.yaml", "id", "is the name of a card group: choose another")
        key = rule_key(rule.id)
        if key in by_key or key in {group_key(g) for g in CARD_GROUPS}:
            raise KnowledgeError(
                f"{rule.id}.yaml", "id", f"uuid key collides with {by_key.get(key, 'a card')}"
            )
        by_id[rule.id] = rule
        by_key[key] = rule.id
    active = tuple(item for item in compiled if item.rule.status == "active")
    _check_links(active, "yields_to")
    _check_links(active, "replaced_by")
    active = _option_order(directory, active)
    system = override_reason_system(override_reason_system_uri)  # a bad value stops the start, not a call
    reasons = [{"code": r.code, "system": system, "display": r.display} for r in service.override_reasons]
    return Knowledge(service, active, by_id, terminology, by_key, DrugNames.of(terminology), reasons)
