"""Turn a matched rule into a CDS Hooks card (a plain dict, serialised once with orjson).

All wording comes from the rule file or cards/service.yaml. Patient-derived text is escaped: clients
such as the CDS Hooks Sandbox render card detail as Markdown *with raw HTML*.
"""

from __future__ import annotations

from typing import Any

from cds.pathway.ids import card_uuid
from cds.pathway.knowledge import CompiledRule, Knowledge
from cds.profile.model import FIELDS, Fact, PatientProfile

_MD_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_{}[]()#+!|~"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
)


def escape_md(text: str) -> str:
    """Escape Markdown and HTML so data can never become markup or a link."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def describe_value(value: object) -> str:
    if isinstance(value, frozenset):
        return ", ".join(sorted(str(v).replace("_", " ") for v in value)) or "none recorded"
    if value is None:
        return "unknown"
    return str(value).replace("_", " ")


def _fact_line(name: str, fact: Fact[object]) -> str:
    label = FIELDS[name].label or name
    line = f"- **{label}**: {escape_md(describe_value(fact.value))}"
    if fact.note:
        line += f" ({escape_md(fact.note)})"
    for ev in fact.evidence[:6]:
        when = f", {escape_md(ev.date)}" if ev.date else ""
        line += f"\n  - {escape_md(ev.text)} ({escape_md(ev.reference)}{when})"
    if len(fact.evidence) > 6:
        line += f"\n  - … and {len(fact.evidence) - 6} more"
    return line


def _detail(item: CompiledRule, profile: PatientProfile, knowledge: Knowledge) -> str:
    rule, text = item.rule, knowledge.service
    parts = [rule.card.detail.strip(), f"**{text.why_heading}**"]
    parts.append("\n".join(_fact_line(name, profile.fact(name)) for name in item.fields))
    topics = set(item.fields) | {"data"}
    issues = [i for i in profile.issues if i.topic in topics]
    if issues:
        parts.append(f"**{text.data_issues_heading}**")
        parts.append("\n".join(f"- {escape_md(i.message)}" for i in issues))
    if rule.evidence.beyond_seed_documents:
        trials = f" ({', '.join(rule.evidence.trials)})" if rule.evidence.trials else ""
        parts.append(f"*{text.beyond_seed_notice}*{trials}")
    if rule.evidence.unverified:
        parts.append(f"**{text.unverified_heading}**")
        parts.append("\n".join(f"- {u}" for u in rule.evidence.unverified))
    parts.append(f"**{text.sources_heading}**")
    parts.append("\n".join(f"- [{s.label}]({s.url})" for s in rule.sources))
    parts.append(f"_{text.disclaimer}_")
    return "\n\n".join(parts)


def _suggestions(item: CompiledRule, patient_id: str) -> list[dict[str, Any]]:
    out = []
    for s in item.rule.suggestions:
        resource = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "code": {"coding": [{"system": str(s.code_system), "code": s.code, "display": s.display}]},
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        out.append(
            {
                "label": s.label,
                "uuid": card_uuid(item.rule.id),
                "actions": [{"type": "create", "description": s.label, "resource": resource}],
            }
        )
    return out


def render_card(item: CompiledRule, profile: PatientProfile, knowledge: Knowledge) -> dict[str, Any]:
    rule = item.rule
    first = rule.sources[0]
    reasons = rule.override_reasons or knowledge.service.default_override_reasons
    card: dict[str, Any] = {
        "uuid": card_uuid(rule.id),
        "summary": rule.card.summary,
        "indicator": rule.card.indicator,
        "detail": _detail(item, profile, knowledge),
        "source": {
            "label": first.label,
            "url": str(first.url),
            "topic": {"system": "urn:cds-mbc:rule", "code": rule.id, "display": rule.title},
        },
        "links": [{"label": s.label, "url": str(s.url), "type": "absolute"} for s in rule.sources],
        "overrideReasons": [{"code": r.code, "system": str(r.system), "display": r.display} for r in reasons],
    }
    suggestions = _suggestions(item, profile.patient_id)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    return card


def render_cards(
    items: list[CompiledRule], profile: PatientProfile, knowledge: Knowledge
) -> list[dict[str, Any]]:
    order = {"critical": 0, "warning": 1, "info": 2}
    cards = [render_card(item, profile, knowledge) for item in items]
    return sorted(cards, key=lambda c: order[c["indicator"]])
