"""Turn matched rules into CDS Hooks cards (plain dicts, serialised once with orjson).

All wording comes from the rule file or cards/service.yaml. Patient-derived text is escaped: clients
such as the CDS Hooks Sandbox render card detail as Markdown *with raw HTML*.

What a card says whatever the patient is built once per rule when the knowledge loads
(``CardTemplate``). A call only formats the patient's facts and data issues, each fact once however
many cards list it, and escapes that text together. Texts that recur from chart to chart (values, what
a resource said, notes, data issues) are escaped once and remembered, in a bounded table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

from cds.pathway.ids import card_uuids, uuid_head
from cds.pathway.rules import OrderSuggestion
from cds.profile.model import FIELDS, Fact, PatientProfile

if TYPE_CHECKING:
    from cds.pathway.engine import CompiledRule, Evaluation
    from cds.pathway.knowledge import Knowledge, ServiceText

# The backslash first, and & before < and >, so no replacement is itself replaced by a later one.
_ESCAPES: Final = (
    ("\\", "\\\\"),
    *((c, f"\\{c}") for c in "`*_{}[]()#+!|~"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
)
_MD_SPECIAL = str.maketrans(dict(_ESCAPES))
# Every whitespace character but the space and the newline (none lies above U+3000).
_OTHER_SPACES: Final = tuple(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \n")
_ASCII_SPACES: Final = tuple(c for c in _OTHER_SPACES if c.isascii())
_RANK = {"critical": 0, "warning": 1, "info": 2}  # cards are listed most urgent first
_EVIDENCE_SHOWN = 6  # per fact; more are counted, not listed


def escape_md(text: str) -> str:
    """Escape Markdown and HTML so data can never become markup or a link."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def escape_all(texts: list[str]) -> list[str]:
    """``[escape_md(t) for t in texts]``, done on the texts joined by newlines.

    One ``str.replace`` per special character over the join costs far less than a call per text (a
    call's facts hold some fifty short texts). That is exact when no text needs its spacing collapsed
    (checked on the join, its newlines read as spaces) and none holds a newline (checked by the count).
    Otherwise, which is rare (an empty text counts), each text is escaped on its own.
    """
    joined = "\n".join(texts)
    spaced = joined.replace("\n", " ")
    if spaced.startswith(" ") or spaced.endswith(" ") or "  " in spaced:
        return [escape_md(text) for text in texts]
    for space in _ASCII_SPACES if joined.isascii() else _OTHER_SPACES:  # isascii() reads a flag
        if space in joined:
            return [escape_md(text) for text in texts]
    for char, escaped in _ESCAPES:
        if char in joined:
            joined = joined.replace(char, escaped)
    escaped_texts = joined.split("\n")
    return escaped_texts if len(escaped_texts) == len(texts) else [escape_md(text) for text in texts]


def describe_value(value: object) -> str:
    if isinstance(value, frozenset):
        return ", ".join(sorted(str(v).replace("_", " ") for v in value)) or "none recorded"
    if value is None:
        return "unknown"
    return str(value).replace("_", " ")


# Escaped texts that recur from call to call (fact values, what a resource said, notes, data issues), by
# their text: looking one up costs a fraction of escaping it again. Emptied when full.
_ESCAPED: Final[dict[str, str]] = {}
_ESCAPED_MAX = 4096


class _Pieces:
    """Text as a list of pieces: fixed wording, and chart texts that ``escape`` escapes all at once."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.texts: list[int] = []  # which pieces are chart texts, still to escape
        self.recurring: list[int] = []  # which of those texts recur: to remember in _ESCAPED

    def fixed(self, wording: str) -> None:
        self.pieces.append(wording)

    def text(self, wording: str, text: str) -> None:
        """Fixed wording, then a text of this chart only (a reference, a date)."""
        self.pieces.append(wording)
        self.texts.append(len(self.pieces))
        self.pieces.append(text)

    def recurring_text(self, wording: str, text: str) -> None:
        """Fixed wording, then a chart text that other charts hold too (escaped once, then remembered)."""
        safe = _ESCAPED.get(text)
        if safe is None:
            self.recurring.append(len(self.texts))
            self.text(wording, text)
        else:
            self.pieces.append(wording)
            self.pieces.append(safe)

    def escape(self) -> None:
        pieces = self.pieces
        texts = [pieces[i] for i in self.texts]
        safe = escape_all(texts)
        for n, i in enumerate(self.texts):
            pieces[i] = safe[n]
        if len(_ESCAPED) + len(self.recurring) > _ESCAPED_MAX:
            _ESCAPED.clear()
        for n in self.recurring:
            _ESCAPED[texts[n]] = safe[n]

    def join(self, start: int, end: int) -> str:
        return "".join(self.pieces[start:end])


# How each field's line starts in a card's "why" list.
_FACT_HEADS: Final = {name: f"- **{spec.label or name}**: " for name, spec in FIELDS.items()}


@dataclass(frozen=True, slots=True)
class _PatientLines:
    """One call's escaped patient text: the fact line of each field a card lists, and the data issues."""

    facts: dict[str, str]
    issues: list[tuple[str, str]]  # (topic, line)

    @classmethod
    def of(cls, profile: PatientProfile, names: Collection[str]) -> _PatientLines:
        # One pass over the facts: each line is written as pieces, its chart texts escaped together after.
        lines = _Pieces()
        ends: list[int] = []  # where each fact's line ends among the pieces, then each issue's
        for name in names:
            # getattr, not profile.fact (interpreted Python): a card's fields are profile fields, checked
            # against FIELDS when the rules were compiled (cds.pathway.conditions)
            fact: Fact[object] = getattr(profile, name)
            lines.recurring_text(_FACT_HEADS[name], describe_value(fact.value))
            note = fact.note
            if note:
                lines.recurring_text(" (", note)
                lines.fixed(")")
            evidence = fact.evidence
            for ev in evidence[:_EVIDENCE_SHOWN]:
                lines.recurring_text("\n  - ", ev.text)
                lines.text(" (", ev.reference)
                date = ev.date
                if date:
                    lines.text(", ", date)
                lines.fixed(")")
            if len(evidence) > _EVIDENCE_SHOWN:
                lines.fixed(f"\n  - … and {len(evidence) - _EVIDENCE_SHOWN} more")
            ends.append(len(lines.pieces))
        for issue in profile.issues:
            lines.recurring_text("- ", issue.message)
            ends.append(len(lines.pieces))
        lines.escape()
        facts: dict[str, str] = {}
        issues: list[tuple[str, str]] = []
        start = n = 0
        for name in names:
            facts[name] = lines.join(start, ends[n])
            start, n = ends[n], n + 1
        for issue in profile.issues:
            issues.append((issue.topic, lines.join(start, ends[n])))
            start, n = ends[n], n + 1
        return cls(facts, issues)


@dataclass(frozen=True, slots=True)
class CardTemplate:
    """A rule's card without the patient: everything here comes from the rule and service.yaml."""

    rule_id: str
    rank: int  # position of the indicator in _RANK
    summary: str
    indicator: str
    fields: tuple[str, ...]  # the facts listed under the "why" heading, in order
    issue_topics: frozenset[str]  # the data issues shown: those on the card's fields, and general ones
    detail_head: str  # the rule's detail text and the "why" heading
    issues_heading: str  # between the facts and the data issues, when there are any
    detail_tail: str  # beyond-seed notice, statements still unverified, sources and disclaimer
    # The card members that depend on the rule alone: shared by all its cards, so never changed.
    source: dict[str, Any]
    links: list[dict[str, str]]
    override_reasons: list[dict[str, str]]
    suggestions: tuple[OrderSuggestion, ...]
    uuid_heads: tuple[str, ...]  # how its uuids begin (ids.uuid_head): the card's, then each suggestion's

    def render(self, patient: _PatientLines, patient_id: str, uuids: Iterator[str]) -> dict[str, Any]:
        """The card for one call: new except for the rule's source, links and override reasons.

        ``uuids`` are the call's fresh uuids (ids.card_uuids of each card's ``uuid_heads``), this card's next.
        """
        facts = "\n".join([patient.facts[name] for name in self.fields])
        shown = [line for topic, line in patient.issues if topic in self.issue_topics]
        issues = self.issues_heading + "\n".join(shown) if shown else ""
        card: dict[str, Any] = {
            "uuid": next(uuids),
            "summary": self.summary,
            "indicator": self.indicator,
            "detail": f"{self.detail_head}{facts}{issues}{self.detail_tail}",
            "source": self.source,
            "links": self.links,
            "overrideReasons": self.override_reasons,
        }
        if self.suggestions:
            card["suggestions"] = [_suggestion(s, patient_id, next(uuids)) for s in self.suggestions]
            card["selectionBehavior"] = "any"
        return card


def _suggestion(s: OrderSuggestion, patient_id: str, uuid: str) -> dict[str, Any]:
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": s.code_system, "code": s.code, "display": s.display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    return {
        "label": s.label,
        "uuid": uuid,
        "actions": [{"type": "create", "description": s.label, "resource": resource}],
    }


def card_template(item: CompiledRule, text: ServiceText) -> CardTemplate:
    rule, evidence = item.rule, item.rule.evidence
    tail = []
    if evidence.beyond_seed_documents:
        trials = f" ({', '.join(evidence.trials)})" if evidence.trials else ""
        tail.append(f"*{text.beyond_seed_notice}*{trials}")
    if evidence.unverified:
        tail.append(f"**{text.unverified_heading}**")
        tail.append("\n".join(f"- {u}" for u in evidence.unverified))
    tail.append(f"**{text.sources_heading}**")
    tail.append("\n".join(f"- [{s.label}]({s.url})" for s in rule.sources))
    tail.append(f"_{text.disclaimer}_")
    first = rule.sources[0]
    reasons = rule.override_reasons or text.default_override_reasons
    return CardTemplate(
        rule_id=rule.id,
        rank=_RANK[rule.card.indicator],
        summary=rule.card.summary,
        indicator=rule.card.indicator,
        fields=item.fields,
        issue_topics=frozenset(item.fields) | {"data"},
        detail_head=f"{rule.card.detail.strip()}\n\n**{text.why_heading}**\n\n",
        issues_heading=f"\n\n**{text.data_issues_heading}**\n\n",
        detail_tail="\n\n" + "\n\n".join(tail),
        source={
            "label": first.label,
            "url": first.url,
            "topic": {"system": "urn:cds-mbc:rule", "code": rule.id, "display": rule.title},
        },
        links=[{"label": s.label, "url": s.url, "type": "absolute"} for s in rule.sources],
        override_reasons=[{"code": r.code, "system": r.system, "display": r.display} for r in reasons],
        suggestions=tuple(rule.suggestions),
        uuid_heads=(uuid_head(rule.id),) * (1 + len(rule.suggestions)),
    )


def render_cards(
    evaluation: Evaluation, profile: PatientProfile, knowledge: Knowledge
) -> list[dict[str, Any]]:
    """The cards of the matched rules, most urgent first.

    Read-only: a card's ``source``, ``links`` and ``overrideReasons`` are the rule's own objects, shared
    by every card of that rule (the route only reads the rule id and serialises the cards).
    """
    cards = knowledge.cards
    templates = sorted([cards[item.rule.id] for item in evaluation.all_rules()], key=attrgetter("rank"))
    names: dict[str, None] = {}  # the fields the cards list, each once, in order
    heads: list[str] = []
    for template in templates:
        for name in template.fields:
            names[name] = None
        heads += template.uuid_heads
    patient = _PatientLines.of(profile, names)
    uuids = iter(card_uuids(heads))
    return [template.render(patient, profile.patient_id, uuids) for template in templates]
