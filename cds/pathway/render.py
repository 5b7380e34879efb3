"""Turn an evaluation into CDS Hooks cards: one card per decision, not one per rule.

The cards, in this order, each only when it has something to say:

1. **warnings** (``warning``, or ``critical`` when a rule says so): data-gap and safety rules, each with
   its explanation and what would settle it, options a safety finding rules out (naming the finding and
   the option), and data that could not be read, aggregated into a few counted lines however many
   entries were bad;
2. **options now**: the current decision point ("First line for HR-positive, HER2-negative metastatic
   disease, postmenopausal: 3 options"), its options by the guideline's preference, equal ones in the
   documented order of cards/option-order.yaml (cds.pathway.engine); options of one drug family
   (``Rule.family``) listed next to each other are one numbered option, a line for each under it;
3. **at progression**, only when the patient is on therapy: what the guideline offers next;
4. **tests** that could change the options, with their order suggestions;
5. **supportive** care.

Each therapy option is a suggestion of its own (no action: CDS Hooks 2.0 allows that) whose uuid names
its rule, so a clinician can mark the option chosen and the feedback maps to the rule (cds.pathway.ids).
A card's uuid names its group. The card's ``extension`` lists the rules behind it.

All fixed wording comes from cards/service.yaml and the rule files; profile values are written as a
clinician writes them (cds.pathway.labels). Text from the chart (what a resource said, its reference
and date, notes, data issues) is escaped: clients such as the CDS Hooks Sandbox render card detail as
Markdown *with raw HTML*. Sources appear in ``links`` and ``source`` only: a Markdown link in the detail
would navigate the client's own tab away.

The escaping and the summary length are cds.pathway.markdown; the data-issue lines of the warnings
card, cds.pathway.issue_summary; the override reasons' code system, cds.pathway.override_reasons.
The card context (phrasing, sources, the facts each card rests on) is cds.pathway.card_call; the options
cards, cds.pathway.options_card.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cds.pathway.card_call import RULES_EXTENSION, CardCall
from cds.pathway.engine import CompiledRule, Evaluation, RuledOut
from cds.pathway.ids import uuid_head
from cds.pathway.issue_summary import summarize_issues
from cds.pathway.knowledge import CardGroupName, Knowledge
from cds.pathway.markdown import SUMMARY_MAX
from cds.pathway.options_card import deciding_fields, options_card
from cds.pathway.rules import OrderSuggestion, Rule
from cds.profile.model import DataIssue, PatientProfile


@functools.lru_cache(maxsize=1024)
def _short(title: str) -> str:
    head = re.split(r" (?:in|for|at|after|when|with|where|if) |: | — | - ", title, maxsplit=1)[0]
    return head[0].lower() + head[1:] if len(head) > 1 and head[1].islower() else head


def short_title(rule: Rule) -> str:
    """A rule's title up to its qualifiers: "Germline BRCA1/2 testing in HER2-negative ..." -> "Germline
    BRCA1/2 testing" (summaries name several)."""
    return _short(rule.title)


#: Problems reading the treatment history: they matter where a stage 4 therapy is chosen, not for a
#: patient with no breast cancer on record or whose breast cancer is not metastatic.
_JOURNEY_TOPICS = frozenset(
    {"prior_therapies", "current_therapies", "progressed_on", "metastatic_lines", "medication_history"}
)


def _issues_that_matter(profile: PatientProfile) -> Sequence[DataIssue]:
    if profile.breast_cancer.value == "yes" and profile.metastatic.value != "no":
        return profile.issues
    return [issue for issue in profile.issues if issue.topic not in _JOURNEY_TOPICS]


def _warnings_card(call: CardCall, evaluation: Evaluation) -> dict[str, Any] | None:
    rules = [item.rule for item in evaluation.warnings]
    ruled_out = _distinct_ruled_out(evaluation.ruled_out)
    issues = summarize_issues(_issues_that_matter(call.profile))
    if not rules and not ruled_out and not issues.count():
        return None
    items = [rule.card.summary for rule in rules]  # each alone reads as a summary
    shorts = [rule.title for rule in rules]  # several are named by their titles
    # each warning with its explanation and what would settle it, not its summary alone
    sections = [f"**{rule.card.summary}**\n\n{rule.card.detail}" for rule in rules]
    lines: list[str] = []
    facts: list[tuple[str, PatientProfile]] = [
        (n, call.profile) for item in evaluation.warnings for n in item.fields
    ]
    progression = evaluation.progression_profile or call.profile
    by_finding: dict[str, list[str]] = {}  # options one finding rules out are summarised together
    for out in ruled_out:
        option = out.item.rule.option or out.item.rule.title
        finding = "; ".join(call.phrase(name, progression) for name in out.exclusion.fields)
        by_finding.setdefault(finding or out.exclusion.reason, []).append(_named(option))
        lines.append(f"- Not offered: **{_without_clauses(option)}**. {out.exclusion.reason}")
        facts += [(name, progression) for name in out.exclusion.fields]
    for finding, options in by_finding.items():
        named = options[0] if len(options) == 1 else f"{len(options)} options"
        items.append(f"{named} not offered: {finding}")
        shorts.append(items[-1])
    if lines:
        sections.append("\n".join(lines))
    sections.append(call.based_on(facts))
    if issues.lines:
        # a problem on a fact a rule already warns about (HER2 results that conflict; data not read
        # under "some data could not be read") is listed, not counted again in the summary
        covered = {name for name, _ in facts} | ({"data"} if "data_completeness" in dict(facts) else set())
        uncovered = issues.count(covered=covered)
        if uncovered:
            problems = f"{uncovered:,} data problem{'' if uncovered == 1 else 's'}"
            only = issues.only(covered=covered)
            items.append(f"Data to check: {only}" if only else f"{problems} to check")
            shorts.append(problems)
        sections.append(f"**{call.text.data_issues_heading}**\n\n" + "\n".join(issues.lines))
    wording = call.text.cards["warnings"]
    if len(items) == 1 and wording.summary_one:
        summary = wording.summary_one.format(item=items[0])
    else:
        summary = (wording.summary_many or "{items}").format(n=len(items), items="; ".join(shorts))
    critical = any(rule.card.indicator == "critical" for rule in rules)
    return call.card(
        "warnings",
        "critical" if critical else "warning",
        summary,
        sections,
        rules,
        ruled_out=[out.item.rule for out in ruled_out],
    )


def _without_clauses(option: str) -> str:
    """The option up to its first clause after "; " outside brackets ("Trastuzumab deruxtecan (after
    trastuzumab and a taxane, DESTINY-Breast03; also after T-DM1)" keeps its bracket whole)."""
    depth = 0
    for i, char in enumerate(option):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and option.startswith("; ", i):
            return option[:i]
    return option


def _named(option: str) -> str:
    """An option as the warnings summary names it, without its qualifiers: "Ribociclib + AI or +
    fulvestrant after AI relapse", not its clauses after "; " (which read as if they were what is
    withheld); "Inavolisib + palbociclib + fulvestrant", not its population in brackets (which cut the
    reason off); "Trastuzumab emtansine", not what follows its colon ("after T-DXd, or if T-DXd is not
    suitable not offered" read as one phrase). The card's detail keeps the brackets."""
    head = _without_clauses(option)
    return re.sub(r" \([^()]*\)", "", head).split(": ", 1)[0].strip() or head


def _distinct_ruled_out(ruled_out: Sequence[RuledOut]) -> list[RuledOut]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for out in ruled_out:
        key = (out.item.rule.id, out.exclusion.reason)
        if key not in seen:
            seen.add(key)
            kept.append(out)
    return kept


# --- 4. tests, 5. supportive care -------------------------------------------------------------------


def _order(s: OrderSuggestion, patient_id: str) -> dict[str, Any]:
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{"system": s.code_system, "code": s.code, "display": s.display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    return {"label": s.label, "actions": [{"type": "create", "description": s.label, "resource": resource}]}


def _listing_card(call: CardCall, group: CardGroupName, items: Sequence[CompiledRule]) -> dict[str, Any]:
    wording = call.text.cards[group]
    template = wording.summary or "{names}"
    summary = template.format(names=", ".join(short_title(item.rule) for item in items))
    if len(summary) > SUMMARY_MAX:
        summary = template.format(names=f"{short_title(items[0].rule)} and {len(items) - 1} more")
    lines = [f"- {item.rule.card.summary}" for item in items]
    facts = [(name, call.profile) for item in items for name in deciding_fields(item, call.profile)]
    suggestions = [
        (uuid_head(item.rule.id), _order(s, call.profile.patient_id))
        for item in items
        for s in item.rule.suggestions
    ]
    return call.card(
        group,
        "info",
        summary,
        ["\n".join(lines), call.based_on(facts)],
        [item.rule for item in items],
        suggestions=suggestions,
        selection="any",
    )


def render_cards(
    evaluation: Evaluation, profile: PatientProfile, knowledge: Knowledge
) -> list[dict[str, Any]]:
    """The response's cards, one per decision, in the order of the module docstring."""
    call = CardCall(profile, knowledge, evaluation)
    cards = [_warnings_card(call, evaluation)]
    if evaluation.now:
        cards.append(options_card(call, "options-now", evaluation.now, profile))
    if evaluation.at_progression:
        later = evaluation.progression_profile or profile
        cards.append(options_card(call, "at-progression", evaluation.at_progression, later))
    if evaluation.tests:
        cards.append(_listing_card(call, "tests", evaluation.tests))
    if evaluation.supportive:
        cards.append(_listing_card(call, "supportive", evaluation.supportive))
    return [card for card in cards if card is not None]


def card_rules(card: dict[str, Any]) -> list[str]:
    """The ids of the rules behind a card (its ``extension``)."""
    extension = card.get("extension") or {}
    return list(extension.get(RULES_EXTENSION, ()))


def shown_ids(cards: Iterable[dict[str, Any]]) -> list[str]:
    """What a response showed, for the "shown" counters: each card's group, then each rule behind it."""
    ids: list[str] = []
    for card in cards:
        ids.append(card["source"]["topic"]["code"])
        ids += card_rules(card)
    return ids
