"""One call's cards: the patient, the clinician's wording, the facts each card rests on, and the card
itself as CDS Hooks writes it (cds.pathway.render and cds.pathway.options_card write their cards with it).

Text from the chart (what a resource said, its reference and date, notes) is escaped: clients such as the
CDS Hooks Sandbox render card detail as Markdown *with raw HTML*. Sources appear in ``links`` and
``source`` only: a Markdown link in the detail would navigate the client's own tab away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from cds.pathway.engine import Evaluation
from cds.pathway.ids import card_uuids, group_head
from cds.pathway.knowledge import CardGroupName, Knowledge, ServiceText
from cds.pathway.labels import DrugNames, phrase
from cds.pathway.markdown import escape_all, fit
from cds.pathway.rules import Rule, SourceRef
from cds.profile.model import Fact, PatientProfile

TOPIC_SYSTEM: Final = "urn:cds-mbc:card"
#: The card member that lists the rules behind a card (CDS Hooks ``extension``).
RULES_EXTENSION: Final = "cds-mbc-rules"
#: ... and the therapy rules a safety finding ruled out (the warnings card).
RULED_OUT_EXTENSION: Final = "cds-mbc-ruled-out"
#: ... and, on the at-progression card, the test rules it names for that progression (not ordered now).
TESTS_LATER_EXTENSION: Final = "cds-mbc-tests-at-progression"
#: ... and, on an options card, the options not offered because they give again a failed medicine.
NOT_AGAIN_EXTENSION: Final = "cds-mbc-not-offered-again"
EVIDENCE_SHOWN: Final = 2  # resources named per fact; more are counted
NOT_WHY: Final = frozenset({"breast_cancer", "metastatic", "on_therapy"})  # implied by every card


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class CardCall:
    """One call's cards: the patient, the wording, and the facts each card is based on."""

    def __init__(self, profile: PatientProfile, knowledge: Knowledge, evaluation: Evaluation) -> None:
        self.profile = profile
        self.evaluation = evaluation
        self.knowledge = knowledge
        self.text: ServiceText = knowledge.service
        self.drugs: DrugNames = knowledge.drugs
        self.reasons = knowledge.override_reasons  # shared by every card: read, never changed

    # --- facts ------------------------------------------------------------------------------------
    def phrase(self, name: str, profile: PatientProfile | None = None) -> str:
        return phrase(name, getattr(profile or self.profile, name).value, self.drugs)

    def based_on(self, names: Iterable[tuple[str, PatientProfile]]) -> str:
        """The facts a card rests on, each once: its words, why it was decided so, and its resources.

        Each line is written as pieces, its chart texts (by their index in ``texts``) escaped all
        together at the end: one escape_all a card, not one a text."""
        lines: list[list[str | int]] = []
        texts: list[str] = []
        seen: set[str] = set()
        for name, profile in names:
            if name in seen or name in NOT_WHY:
                continue
            seen.add(name)
            fact: Fact[object] = getattr(profile, name)
            line: list[str | int] = [f"- {phrase(name, fact.value, self.drugs)}"]
            if fact.note:
                texts.append(fact.note)
                line += [" (", len(texts) - 1, ")"]
            for n, ev in enumerate(fact.evidence[:EVIDENCE_SHOWN]):
                texts += [ev.text, f"{ev.reference}, {ev.date}" if ev.date else ev.reference]
                line += [": " if n == 0 else "; ", len(texts) - 2, " (", len(texts) - 1, ")"]
            if len(fact.evidence) > EVIDENCE_SHOWN:
                line.append(f"; +{len(fact.evidence) - EVIDENCE_SHOWN} more")
            lines.append(line)
        if not lines:
            return ""
        safe = escape_all(texts)
        written = ["".join(safe[p] if isinstance(p, int) else p for p in line) for line in lines]
        return f"**{self.text.based_on_heading}**\n\n" + "\n".join(written)

    def card(
        self,
        group: CardGroupName,
        indicator: str,
        summary: str,
        sections: Sequence[str],
        rules: Sequence[Rule],
        *,
        suggestions: list[tuple[str, dict[str, Any]]] | None = None,  # (uuid head, suggestion)
        selection: str = "at-most-one",
        ruled_out: Sequence[Rule] = (),
        tests_later: Sequence[Rule] = (),
        not_again: Sequence[Rule] = (),
    ) -> dict[str, Any]:
        wording = self.text.cards[group]
        sources = _sources([*rules, *ruled_out, *tests_later]) or [self.text.data_source]
        first = sources[0]
        detail = "\n\n".join([s for s in sections if s] + [f"_{self.text.disclaimer}_"])
        heads = [group_head(group)] + [head for head, _ in suggestions or ()]
        uuids = card_uuids(heads)
        card: dict[str, Any] = {
            "uuid": uuids[0],
            "summary": fit(summary),
            "indicator": indicator,
            "detail": detail,
            "source": {
                "label": first.label,
                "url": first.url,
                "topic": {"system": TOPIC_SYSTEM, "code": group, "display": wording.title},
            },
            "links": [{"label": s.label, "url": s.url, "type": "absolute"} for s in sources],
            "overrideReasons": self.reasons,
        }
        if suggestions:
            card["suggestions"] = [{**s, "uuid": u} for (_, s), u in zip(suggestions, uuids[1:], strict=True)]
            card["selectionBehavior"] = selection
        extension: dict[str, list[str]] = {}
        if rules:
            extension[RULES_EXTENSION] = list(dict.fromkeys(r.id for r in rules))
        if ruled_out:
            extension[RULED_OUT_EXTENSION] = list(dict.fromkeys(r.id for r in ruled_out))
        if tests_later:
            extension[TESTS_LATER_EXTENSION] = [r.id for r in tests_later]
        if not_again:
            extension[NOT_AGAIN_EXTENSION] = [r.id for r in not_again]
        if extension:
            card["extension"] = extension
        return card


def _sources(rules: Iterable[Rule]) -> list[SourceRef]:
    by_url: dict[str, SourceRef] = {}
    for rule in rules:
        for source in rule.sources:
            by_url.setdefault(source.url, source)
    return list(by_url.values())
