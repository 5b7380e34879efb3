"""Load and check the knowledge base once at start: service text, rules, code lists.

Any problem raises ``KnowledgeError`` naming the file and the field, and the service does not start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cds.errors import KnowledgeError
from cds.fhir.codes import Terminology
from cds.pathway.conditions import compile_conditions
from cds.pathway.engine import CompiledExclusion, CompiledRule
from cds.pathway.ids import rule_key
from cds.pathway.render import CardTemplate, card_template
from cds.pathway.rules import AfterProgression, CardGroup, OverrideReason, Rule, Text, card_group


class ServiceText(BaseModel):
    """cards/service.yaml: what discovery says and the fixed wording around every card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    title: Text
    description: Text
    usage_requirements: Text
    why_heading: Text
    sources_heading: Text
    data_issues_heading: Text
    beyond_seed_notice: Text
    unverified_heading: Text
    disclaimer: Text
    default_override_reasons: list[OverrideReason]
    observation_codes: list[Text]  # system|code tokens for the observations prefetch template


@dataclass(frozen=True, slots=True)
class Knowledge:
    service: ServiceText
    rules: tuple[CompiledRule, ...]  # active rules only, in file-name order
    all_rules: Mapping[str, Rule]  # every rule by id, including draft and retired
    terminology: Terminology
    rule_by_key: Mapping[str, str]  # card-uuid key -> rule id
    cards: Mapping[str, CardTemplate]  # active rule id -> what its card says whatever the patient

    def rule_for_card(self, card_uuid_key: str | None) -> str | None:
        return self.rule_by_key.get(card_uuid_key) if card_uuid_key else None


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML without YAML 1.1 booleans: a clinician's ``yes``/``no`` stays the word it is."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path) -> Any:
    """Read a knowledge-base YAML file; a problem names the file."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)  # noqa: S506 - safe loader subclass
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(path.name, "(file)", f"cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(path.name, "(file)", f"is not valid YAML: {exc}") from exc


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
    _check_therapy_fields(path.name, rule, group, classes)
    exclusions = tuple(
        CompiledExclusion(
            x.reason,
            checks := compile_conditions(
                path.name, x.conditions, drug_classes=classes, where=f"exclusions[{i}].conditions"
            ),
            x.safety,
            tuple(dict.fromkeys(c.field for c in checks)),
        )
        for i, x in enumerate(rule.exclusions)
    )
    names = [c.field for c in conditions] + [c.field for group in any_of for c in group]
    fields = tuple(dict.fromkeys(names))
    return CompiledRule(
        rule, conditions, any_of, fields, rule.applies_to == "metastatic_breast_cancer", group, exclusions
    )


def _check_therapy_fields(name: str, rule: Rule, group: CardGroup, classes: frozenset[str]) -> None:
    """A therapy rule says where in the journey it applies, how strongly, and what it gives."""
    if group == "therapy":
        for key in ("decision_point", "preference", "option"):
            if getattr(rule, key) is None:
                raise KnowledgeError(name, key, f"a therapy rule ({rule.category}) needs a {key}")
        if not rule.regimen:
            raise KnowledgeError(name, "regimen", "a therapy rule names the classes or agents it gives")
    elif rule.decision_point not in (None, "any_time") or rule.preference or rule.option or rule.regimen:
        raise KnowledgeError(name, "decision_point", "only therapy rules have a decision point or options")
    named = [("regimen", item) for item in rule.regimen]
    if isinstance(rule.decision_point, AfterProgression):
        point = rule.decision_point.after_progression_on
        named += [("decision_point.after_progression_on", item) for item in point]
    for where, item in named:
        if item not in classes:
            raise KnowledgeError(name, where, f"{item!r} is not a drug class or agent in medications.yaml")


def load_knowledge(directory: Path) -> Knowledge:
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
        key = rule_key(rule.id)
        if key in by_key:
            raise KnowledgeError(f"{rule.id}.yaml", "id", f"card-uuid key collides with {by_key[key]}")
        by_id[rule.id] = rule
        by_key[key] = rule.id
    active = tuple(item for item in compiled if item.rule.status == "active")
    cards = {item.rule.id: card_template(item, service) for item in active}
    return Knowledge(service, active, by_id, terminology, by_key, cards)
