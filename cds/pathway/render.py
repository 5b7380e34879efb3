"""Turn an evaluation into CDS Hooks cards: one card per decision, not one per rule.

The cards, in this order, each only when it has something to say:

1. **warnings** (``warning``, or ``critical`` when a rule says so): data-gap rules, options a safety
   finding rules out (naming the finding and the option), and data that could not be read, aggregated
   into a few counted lines however many entries were bad;
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
The five cards stay in this one module (a little over 400 lines) because they share the call's context
(``_Call``: the phrasing, sources and evidence lines), which would otherwise cross module boundaries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from cds.pathway.engine import CompiledRule, Evaluation, RuledOut, first_holding
from cds.pathway.ids import card_uuids, group_head, uuid_head
from cds.pathway.issue_summary import summarize_issues
from cds.pathway.knowledge import CardGroupName, Knowledge, ServiceText
from cds.pathway.labels import DrugNames, phrase
from cds.pathway.markdown import SUMMARY_MAX, escape_all, fit
from cds.pathway.rules import AfterProgression, OrderSuggestion, Rule, SourceRef
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
WHY_SHOWN: Final = 3  # deciding facts named per option
_ORDINALS: Final = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth")
_NOT_WHY: Final = frozenset({"breast_cancer", "metastatic", "on_therapy"})  # implied by every card


@functools.lru_cache(maxsize=1024)
def _short(title: str) -> str:
    head = re.split(r" (?:in|for|at|after|when|with|where|if) |: | — | - ", title, maxsplit=1)[0]
    return head[0].lower() + head[1:] if len(head) > 1 and head[1].islower() else head


def short_title(rule: Rule) -> str:
    """A rule's title up to its qualifiers: "Germline BRCA1/2 testing in HER2-negative ..." -> "Germline
    BRCA1/2 testing" (summaries name several)."""
    return _short(rule.title)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Call:
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
            if name in seen or name in _NOT_WHY:
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


def _warnings_card(call: _Call, evaluation: Evaluation) -> dict[str, Any] | None:
    rules = [item.rule for item in evaluation.warnings]
    ruled_out = _distinct_ruled_out(evaluation.ruled_out)
    issues = summarize_issues(call.profile.issues)
    if not rules and not ruled_out and not issues.count():
        return None
    items = [rule.card.summary for rule in rules]  # each alone reads as a summary
    shorts = [rule.title for rule in rules]  # several are named by their titles
    lines = [f"- **{rule.card.summary}**" for rule in rules]
    facts: list[tuple[str, PatientProfile]] = [
        (n, call.profile) for item in evaluation.warnings for n in item.fields
    ]
    progression = evaluation.progression_profile or call.profile
    by_finding: dict[str, list[str]] = {}  # options one finding rules out are summarised together
    for out in ruled_out:
        option = out.item.rule.option or out.item.rule.title
        finding = "; ".join(call.phrase(name, progression) for name in out.exclusion.fields)
        by_finding.setdefault(finding or out.exclusion.reason, []).append(option)
        lines.append(f"- **{option}** is not offered: {out.exclusion.reason}")
        facts += [(name, progression) for name in out.exclusion.fields]
    for finding, options in by_finding.items():
        named = options[0] if len(options) == 1 else f"{len(options)} options"
        items.append(f"{named} not offered: {finding}")
        shorts.append(items[-1])
    sections = ["\n".join(lines)] if lines else []
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


def _distinct_ruled_out(ruled_out: Sequence[RuledOut]) -> list[RuledOut]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for out in ruled_out:
        key = (out.item.rule.id, out.exclusion.reason)
        if key not in seen:
            seen.add(key)
            kept.append(out)
    return kept


# --- 2 and 3. therapy options -----------------------------------------------------------------------


def _disease(call: _Call) -> str:
    profile = call.profile
    subtype = profile.subtype.value
    if subtype == "unknown":
        return "metastatic breast cancer, subtype not known"
    words = f"{call.phrase('subtype')} metastatic disease"
    if profile.sex.value == "male":
        return f"{words}, male"
    if str(subtype).startswith("hr_positive") and profile.menopausal_status.value in (
        "premenopausal",
        "postmenopausal",
    ):
        words += f", {profile.menopausal_status.value}"
        if profile.ovarian_suppression_current.value == "yes":
            words += " on ovarian suppression"
    return words


def _line(profile: PatientProfile) -> str:
    done = profile.completed_metastatic_lines.value
    if done == 0 and profile.early_relapse_after.value:
        return "First line after early relapse on (neo)adjuvant therapy,"
    if done == 0:
        return (
            "First line"
            if profile.medication_history.value == "yes"
            else "First line, assuming no prior treatment,"
        )
    return f"{_ORDINALS[done]} line" if done < len(_ORDINALS) else f"Line {done + 1}"


def _deciding(item: CompiledRule, profile: PatientProfile) -> list[str]:
    """The fields whose conditions decided the option: the yields_unless group that kept its place
    (first: it is why the option leads), its conditions, and the any_of group that held (a woman's sex
    decides nothing a clinician needs told)."""
    kept = first_holding(item.yields_unless, profile) or ()
    held = first_holding(item.any_of, profile) or ()
    names = [c.field for c in (*kept, *item.conditions, *held)]
    implied = _NOT_WHY | ({"sex"} if profile.sex.value == "female" else set())
    return list(dict.fromkeys(n for n in names if n not in implied))


def _caution(item: CompiledRule, profile: PatientProfile, drugs: DrugNames) -> tuple[str, list[str]]:
    """What the clinician should know of the option's own drugs, and the facts that say so:
    " Caution: palbociclib stopped for side effects." when a drug of its regimen (or of a class in it)
    was stopped for side effects, " Caution: the disease progressed on capecitabine." when the disease
    progressed on one. The option stays: the engine hides it only when a medicine it gives, or every one
    of its alternatives, failed, and guidelines allow another drug of a class after toxicity, or a
    regimen that keeps one drug beyond progression (the classes its rule offers it after progression on
    are not named: trastuzumab with a new chemotherapy names the chemotherapy the disease progressed on,
    never trastuzumab). Then the rule's own cautions that hold (``Rule.cautions``: a label's warning for a
    finding on record, no trial evidence after a related drug)."""
    rule = item.rule
    parts = set(rule.regimen)
    point = rule.decision_point
    expected = set(point.after_progression_on) if isinstance(point, AfterProgression) else set()

    def within(drug: str, classes: set[str]) -> bool:
        return drug in classes or not classes.isdisjoint(drugs.broader.get(drug, ()))

    stopped = {m for m in profile.stopped_for_toxicity.value if within(m, parts)}
    progressed = {m for m in profile.progressed_on.value if within(m, parts) and not within(m, expected)}
    words = ""
    if stopped:
        words += f" Caution: {drugs.listing(stopped)} stopped for side effects."
    if progressed:
        words += f" Caution: the disease progressed on {drugs.listing(progressed)}."
    facts = [
        name for name, found in (("stopped_for_toxicity", stopped), ("progressed_on", progressed)) if found
    ]
    for caution in item.cautions_holding(profile):  # the rule's own: a label warning, no evidence after X
        words += f" Caution: {caution.reason}"
        facts += [name for name in caution.fields if name not in facts]
    return words, facts


def _families(items: Sequence[CompiledRule], evaluation: Evaluation) -> list[list[CompiledRule]]:
    """The options as listed: options of one family (``Rule.family``) next to each other with the same
    shown preference are one entry (elacestrant or imlunestrant), every other option an entry of its own."""
    listed: list[list[CompiledRule]] = []
    for item in _numbered_first(items):
        last = listed[-1][-1] if listed else None
        if (
            last is not None
            and item.rule.family
            and item.rule.family == last.rule.family
            and evaluation.preference_of(item) == evaluation.preference_of(last)
        ):
            listed[-1].append(item)
        else:
            listed.append([item])
    return listed


def _numbered_first(items: Sequence[CompiledRule]) -> list[CompiledRule]:
    """The options with those ``listed_as_note`` last (they come last already when other options are
    offered: in certain circumstances)."""
    return sorted(items, key=lambda item: item.rule.listed_as_note)


def _notes(listed: list[list[CompiledRule]]) -> int:
    """How many entries at the end are written as notes: none when every option is one (then the card
    numbers it, not an empty list and a note)."""
    notes = sum(1 for family in listed if family[0].rule.listed_as_note)
    return notes if notes < len(listed) else 0


def _why(
    call: _Call,
    group: CardGroupName,
    item: CompiledRule,
    profile: PatientProfile,
    summary: str,
    why: list[str],
) -> list[tuple[str, PatientProfile]]:
    """Add to ``why`` what decided the option, each once and not what the summary says already; return the
    facts to name under "Based on"."""
    facts: list[tuple[str, PatientProfile]] = []
    point = item.rule.decision_point
    if isinstance(point, AfterProgression):
        # what this patient's disease progressed on, of what the rule names (not "anastrozole,
        # letrozole" for a patient who never had letrozole)
        failed = [c for c in point.after_progression_on if c in profile.progressed_on.value]
        words = f"after progression on {call.drugs.listing(failed or point.after_progression_on)}"
        if words not in why:
            why.append(words)
        if group == "options-now":  # the progression recorded, with its dates and resources
            facts.append(("progressed_on", profile))
    for name in _deciding(item, profile):
        words = call.phrase(name, profile)
        if words not in summary and words not in why:
            why.append(words)
            facts.append((name, profile))
    return facts


def _options_card(
    call: _Call, group: CardGroupName, items: Sequence[CompiledRule], profile: PatientProfile
) -> dict[str, Any]:
    wording = call.text.cards[group]
    listed = _families(items, call.evaluation)
    numbered = len(listed) - _notes(listed)
    options = _plural(numbered, "option")
    if group == "at-progression":
        known = call.knowledge.terminology.classes
        line = frozenset(
            c for c in call.profile.current_therapies.value if c not in known or known[c].counts_as_line
        )
        therapy = call.drugs.regimen(line) or "the current therapy"  # the line, not a bone agent beside it
        summary = (wording.summary or "").format(therapy=therapy, options=options)
    else:
        summary = (wording.summary or "").format(
            line=_line(call.profile), disease=_disease(call), options=options
        )
    lines: list[str] = []  # the numbered options
    after: list[str] = []  # paragraphs after the list: notes, the tests at that progression, not offered
    # the facts the summary states come first: the receptor results, menopause, the current therapy
    facts: list[tuple[str, PatientProfile]] = []
    if call.phrase("subtype") in summary:
        facts += [("er_status", call.profile), ("pr_status", call.profile), ("her2_status", call.profile)]
    if call.phrase("menopausal_status") in summary:
        facts.append(("menopausal_status", call.profile))
    if group == "at-progression":
        facts.append(("current_therapies", call.profile))
    for n, family in enumerate(listed, 1):
        members: list[tuple[str, str, str]] = []  # each member's option, cautions and source
        why: list[str] = []
        for item in family:
            caution, cautioned = _caution(item, profile, call.drugs)
            members.append((item.rule.option or item.rule.title, caution, item.rule.sources[0].label))
            facts += [(name, profile) for name in cautioned]
            facts += _why(call, group, item, profile, summary, why)
        chosen = call.evaluation.preference_of(family[0])
        preference = call.text.preference_labels.get(chosen) if chosen else None
        label = f" ({preference})." if preference else "."
        fits = f" Why: {'; '.join(why[:WHY_SHOWN])}." if why else ""
        if len(family) == 1:
            ((option, caution, source),) = members
            entry = f"**{option}**{label}{caution}{fits} Source: {source}"
            if n > numbered:  # a note after the numbered options
                after.append(f"Also: {entry}")
            else:
                lines.append(f"{n}. {entry}")
        else:  # one numbered option, each member a line under it with its own source
            lines.append(f"{n}. **{family[0].rule.family}**{label}{fits}")
            lines += [f"    - {option}.{caution} Source: {source}" for option, caution, source in members]
    tests = call.evaluation.tests_at_progression if group == "at-progression" else []
    for item in tests:  # not ordered now: the options above depend on them when the disease progresses
        after.append(f"At that progression: {item.rule.card.summary}")
        facts += [(name, profile) for name in item.fields]
    again = call.evaluation.not_again
    if again:  # say why a fitting option is missing: the oncologist may know the progression otherwise
        medicines = frozenset().union(*(m for _, m in again))
        names = "; ".join((item.rule.option or item.rule.title).split(" (")[0] for item, _ in again)
        gives = "it gives" if len(again) == 1 else "they give"
        pronoun = "it" if len(medicines) == 1 else "them"
        after.append(
            f"Not offered, as {gives} {call.drugs.listing(medicines)} again after progression on "
            f"{pronoun}: {names}."
        )
        facts.append(("progressed_on", profile))
    shown = [item for family in listed for item in family]  # the order the detail lists them in
    suggestions = [
        (uuid_head(item.rule.id), {"label": item.rule.option or item.rule.title}) for item in shown
    ]
    return call.card(
        group,
        "info",
        summary,
        ["\n".join(lines), *after, call.based_on(facts)],
        [item.rule for item in shown],
        suggestions=suggestions,
        selection="at-most-one",
        tests_later=[item.rule for item in tests],
        not_again=[item.rule for item, _ in again],
    )


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


def _listing_card(call: _Call, group: CardGroupName, items: Sequence[CompiledRule]) -> dict[str, Any]:
    wording = call.text.cards[group]
    template = wording.summary or "{names}"
    summary = template.format(names=", ".join(short_title(item.rule) for item in items))
    if len(summary) > SUMMARY_MAX:
        summary = template.format(names=f"{short_title(items[0].rule)} and {len(items) - 1} more")
    lines = [f"- {item.rule.card.summary}" for item in items]
    facts = [(name, call.profile) for item in items for name in item.fields]
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
    call = _Call(profile, knowledge, evaluation)
    cards = [_warnings_card(call, evaluation)]
    if evaluation.now:
        cards.append(_options_card(call, "options-now", evaluation.now, profile))
    if evaluation.at_progression:
        later = evaluation.progression_profile or profile
        cards.append(_options_card(call, "at-progression", evaluation.at_progression, later))
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
