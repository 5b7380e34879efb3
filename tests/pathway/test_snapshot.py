"""Every fixture patient's card set, through the real knowledge base: few cards in a stable order, each
option traceable to its rule, the CDS Hooks card rules, and a reviewable snapshot of the summaries."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cds.demo import SNAPSHOT_PATH, fixture_cards, snapshot
from cds.pathway.ids import key_of
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.pathway.render import card_rules
from cds.settings import default_knowledge_dir
from tests.spec_checks import ORDER, check_card_rules

ANSWERS = fixture_cards()
ANSWERED = [(name, cards) for name, cards, _ in ANSWERS if cards is not None]


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(default_knowledge_dir())


def test_the_snapshot_of_card_summaries_is_current() -> None:
    """docs/card-summaries.txt is what the cards say now: a change to it is reviewed in its diff."""
    current = snapshot()
    assert SNAPSHOT_PATH.read_text(encoding="utf-8") == current, (
        "the cards changed: run `python -m cds.demo --write-snapshot` and review the diff of "
        "docs/card-summaries.txt"
    )


def test_fixture_patients_get_few_cards() -> None:
    counts = {name: len(cards) for name, cards in ANSWERED}
    assert max(counts.values()) <= 6, counts
    assert sum(counts.values()) / len(counts) <= 4, counts


@pytest.mark.parametrize(("name", "cards"), ANSWERED, ids=[name for name, _ in ANSWERED])
def test_fixture_card_set(name: str, cards: list[dict[str, Any]], knowledge: Knowledge) -> None:
    check_card_rules(cards)
    groups = [card["source"]["topic"]["code"] for card in cards]
    assert groups == [g for g in ORDER if g in groups] and len(groups) == len(set(groups)), groups
    assert not {"options-now", "at-progression"} <= set(groups)
    labels = [s["label"] for card in cards for s in card.get("suggestions", [])]
    assert len(labels) == len(set(labels)), labels
    for card in cards:
        assert knowledge.rule_for_card(key_of(card["uuid"])) == card["source"]["topic"]["code"]
        rules = card_rules(card)
        assert set(rules) <= {item.rule.id for item in knowledge.rules}
        if card.get("selectionBehavior") == "at-most-one":  # one option per rule, in preference order
            traced = [knowledge.rule_for_suggestion(s["uuid"]) for s in card["suggestions"]]
            assert traced == rules
            order = ["preferred", "other_recommended", "certain_circumstances"]
            # each numbered option's preference, once for each rule under it (a family: one line each)
            entries = re.findall(
                r"^\d+\. \*\*.*\*\*(?: \([^)]*\))? \(([^)]*)\)\..*\n((?:    - .*\n?)*)",
                card["detail"],
                re.MULTILINE,
            )
            shown = [label for label, members in entries for _ in range(members.count("    - ") or 1)]
            shown += re.findall(r"^Also: \*\*.*\*\* \(([^)]*)\)\.", card["detail"], re.MULTILINE)  # notes
            wording = {text: key for key, text in knowledge.service.preference_labels.items()}
            ranks = [order.index(wording[label]) for label in shown]
            assert len(ranks) == len(rules) and ranks == sorted(ranks), shown
            for rule_id, rank in zip(rules, ranks, strict=True):  # at most its guideline's category
                assert rank >= order.index(knowledge.all_rules[rule_id].preference or "")
