"""The options cards: the options now, or at progression when the patient is on therapy.

The decision point in the summary ("First line for HR-positive, HER2-negative metastatic disease,
postmenopausal: 3 options"), then the options by the guideline's preference, equal ones in the documented
order of cards/option-order.yaml (cds.pathway.engine). Options of one drug family (``Rule.family``) listed
next to each other are one numbered option, a line for each under it; an option ``listed_as_note`` is a
sentence after the numbered ones. Each option names what decided it ("Why"), the cautions a finding on
record calls for, and its source; each is a suggestion of its own whose uuid names its rule, so a
clinician can mark the option chosen and the feedback maps to the rule (cds.pathway.ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final

from cds.pathway.card_call import NOT_WHY, CardCall, plural
from cds.pathway.engine import CompiledRule, Evaluation, first_holding, relapsed_within_year
from cds.pathway.ids import uuid_head
from cds.pathway.knowledge import CardGroupName
from cds.pathway.labels import DrugNames, option_line
from cds.pathway.rules import AfterProgression
from cds.profile.model import PatientProfile

WHY_SHOWN: Final = 3  # deciding facts named per option
_ORDINALS: Final = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth")


def _disease(call: CardCall) -> str:
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
    unidentified = profile.medicines_unidentified.value == "yes"  # a warning card names the records
    if done == 0 and profile.early_relapse_after.value:
        return "First line after early relapse on (neo)adjuvant therapy,"
    if done == 0:
        if profile.medication_history.value == "yes":
            return "First line (some medicines on record not identified)," if unidentified else "First line"
        if unidentified:
            return "First line, assuming no prior treatment (no medicine on record identified),"
        if profile.medication_history.evidence:  # systemic therapy recorded only as procedures
            return "First line by the medicines recorded (prior therapy sent only as procedures),"
        return "First line, assuming no prior treatment,"
    line = f"{_ORDINALS[done]} line" if done < len(_ORDINALS) else f"Line {done + 1}"
    if _a_break(profile):
        line = f"{line} when needed (no progression recorded)"
    return f"{line} (some medicines on record not identified)," if unidentified else line


def _a_break(profile: PatientProfile) -> bool:
    """The last line ended with no progression and nothing is in use (a course completed): the next line is
    for when the disease needs it, not one to switch to now (review 27, P2-6); except HR-positive disease
    with no endocrine line yet, where endocrine therapy follows induction chemotherapy as maintenance;
    and not when a metastasis was first recorded since that line began (a progression the record may not
    state: the warnings card asks), nor when why the line stopped is not recorded (it may have progressed,
    or stopped for a side effect with the next line due now: the warnings card asks)."""
    ended = profile.last_line_ended_without_progression.value == "yes"
    unexplained = profile.last_line_stopped_unexplained.value == "yes"
    if not ended or unexplained or profile.metastases_new_on_last_line.value:
        return False
    awaiting_endocrine = profile.metastatic_endocrine_lines.value == 0
    return not (str(profile.subtype.value).startswith("hr_positive") and awaiting_endocrine)


def deciding_fields(item: CompiledRule, profile: PatientProfile) -> list[str]:
    """The fields whose conditions decided the rule: the yields_unless group that kept its place
    (first: it is why the option leads), its conditions, and the any_of group that held, not the groups
    that did not (a woman's sex decides nothing a clinician needs told)."""
    kept = first_holding(item.yields_unless, profile) or ()
    held = first_holding(item.any_of, profile) or ()
    names = [c.field for c in (*kept, *item.conditions, *held)]
    implied = NOT_WHY | ({"sex"} if profile.sex.value == "female" else set())
    return list(dict.fromkeys(n for n in names if n not in implied))


def _within(drug: str, classes: AbstractSet[str], drugs: DrugNames) -> bool:
    """``drug`` is one of ``classes`` or an agent of one of them."""
    return drug in classes or not classes.isdisjoint(drugs.broader.get(drug, ()))


def _failed_parts(
    item: CompiledRule, profile: PatientProfile, drugs: DrugNames
) -> tuple[frozenset[str], frozenset[str]]:
    """The drugs of the option's regimen (or of a class in it) stopped for side effects, and those the
    disease progressed on, leaving out the classes its rule is offered after progression on (trastuzumab
    with a new chemotherapy names the chemotherapy the disease progressed on, never trastuzumab)."""
    parts = set(item.rule.regimen)
    expected = item.rule.follows_progression_on
    stopped = frozenset(m for m in profile.stopped_for_toxicity.value if _within(m, parts, drugs))
    progressed = frozenset(
        m for m in profile.progressed_on.value if _within(m, parts, drugs) and not _within(m, expected, drugs)
    )
    return stopped, progressed


def _unexplained_parts(item: CompiledRule, profile: PatientProfile, drugs: DrugNames) -> frozenset[str]:
    """The drugs the last line gave that ended with no reason recorded and nothing after
    (``last_line_unexplained_therapies``: the disease may have progressed on them) that the option gives
    again, itself or as another agent of its class (``CompiledRule.repeats``: palbociclib for ribociclib,
    no randomised evidence for one after the other); not one stopped for side effects, which the other
    cautions name, nor one the rule is offered after progression on."""
    expected = item.rule.follows_progression_on
    toxic = profile.stopped_for_toxicity.value
    return frozenset(
        m
        for m in profile.last_line_unexplained_therapies.value
        if _within(m, item.repeats, drugs) and not _within(m, expected, drugs) and m not in toxic
    )


def _option(item: CompiledRule, profile: PatientProfile, drugs: DrugNames) -> str:
    """The option as listed for this patient (``option_line``); for a rule whose regimen is a choice of
    one drug (``regimen_alternatives``: "capecitabine, a taxane, eribulin"), the drugs the disease
    progressed on are named as not to choose ("; of these, not paclitaxel or eribulin (the disease
    progressed on them)": "of these", so that "or tamoxifen alone; not tamoxifen" reads as no
    contradiction): the engine hides the option only when every alternative failed."""
    line = option_line(item.rule, profile)
    if not item.rule.regimen_alternatives:
        return line
    _, progressed = _failed_parts(item, profile, drugs)
    if not progressed:
        return line
    *others, last = drugs.names(progressed)
    names = f"{', '.join(others)} or {last}" if others else last
    return f"{line}; of these, not {names} (the disease progressed on {'them' if others else 'it'})"


def _caution(item: CompiledRule, profile: PatientProfile, drugs: DrugNames) -> tuple[list[str], list[str]]:
    """What the clinician should know of the option's own drugs, a sentence each, and the facts that say so:
    " Caution: palbociclib stopped for side effects." when a drug of its regimen (or of a class in it)
    was stopped for side effects, " Caution: the disease progressed on capecitabine." when the disease
    progressed on one (for a choice of one drug, the option's line says it: ``_option``), " Caution:
    palbociclib stopped 2025-09-15 with no reason recorded: if the disease progressed on it, this option
    gives it or its class again." for a drug of a last line that ended unexplained (``_unexplained_parts``).
    The option stays: the engine hides it only when a medicine it gives, or every one of its
    alternatives, failed, and guidelines allow another drug of a class after toxicity, or a regimen that
    keeps one drug beyond progression. Then the rule's own cautions that hold (``Rule.cautions``: a
    label's warning for a finding on record, no trial evidence after a related drug)."""
    stopped, progressed = _failed_parts(item, profile, drugs)
    words: list[str] = []
    if stopped:
        words.append(f" Caution: {drugs.listing(stopped)} stopped for side effects.")
    if progressed and not item.rule.regimen_alternatives:
        words.append(f" Caution: the disease progressed on {drugs.listing(progressed)}.")
    facts = [
        name for name, found in (("stopped_for_toxicity", stopped), ("progressed_on", progressed)) if found
    ]
    unexplained = _unexplained_parts(item, profile, drugs)
    if unexplained:
        names = drugs.names(unexplained)
        it, its = ("them", "their") if len(names) > 1 else ("it", "its")
        how = profile.last_line_unexplained_therapies.note or "ended with no reason recorded"
        words.append(
            f" Caution: {drugs.listing(unexplained)} {how}: if the disease "
            f"progressed on {it}, this option gives {it} or {its} class again."
        )
        facts.append("last_line_unexplained_therapies")
    for caution in item.cautions_holding(profile):  # the rule's own: a label warning, no evidence after X
        words.append(f" Caution: {caution.reason}")
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


def _family_lines(head: str, members: list[tuple[str, list[str], str]], said: str) -> list[str]:
    """A family as one numbered option: its line (``head``, what the members share, ``said``: the
    preference and why), then a line for each member (option, cautions, source). A clause every member's
    option ends with, a caution every member carries and a source every member shares are written once,
    on the family's line."""
    shared = _shared_clause([option for option, _, _ in members])
    common = [c for c in members[0][1] if all(c in cautions for _, cautions, _ in members[1:])]
    sources = {source for _, _, source in members}
    once = f" Source: {members[0][2]}" if len(sources) == 1 else ""
    lines = [f"{head}{f' ({shared})' if shared else ''}{said}{''.join(common)}{once}"]
    for option, cautions, source in members:
        own = "" if once else f" Source: {source}"
        caution = "".join(c for c in cautions if c not in common)
        lines.append(f"    - {option.removesuffix(f'; {shared}')}.{caution}{own}")
    return lines


def _shared_clause(options: list[str]) -> str | None:
    """The last clause every member's option ends with ("OFS unless postmenopausal, GnRH analogue in
    men"), said once on the family's line rather than on each member's; None when they differ."""
    last = {option.rsplit("; ", 1)[-1] for option in options if "; " in option}
    return last.pop() if len(last) == 1 and all("; " in option for option in options) else None


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
    call: CardCall,
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
        if not failed and relapsed_within_year(point, profile):  # a relapse the guideline treats as one
            name = "relapse_within_year_after"
            words = call.phrase(name, profile)
        else:
            name = "progressed_on"
            words = f"after progression on {call.drugs.listing(failed or point.after_progression_on)}"
        if words not in why:
            why.append(words)
        if group == "options-now":  # the progression recorded, with its dates and resources
            facts.append((name, profile))
    for name in deciding_fields(item, profile):
        words = call.phrase(name, profile)
        if words not in summary and words not in why:
            why.append(words)
            facts.append((name, profile))
    return facts


def options_card(
    call: CardCall, group: CardGroupName, items: Sequence[CompiledRule], profile: PatientProfile
) -> dict[str, Any]:
    wording = call.text.cards[group]
    listed = _families(items, call.evaluation)
    numbered = len(listed) - _notes(listed)
    options = plural(numbered, "option")
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
        if call.profile.stopped_in_current_line.value:
            facts.append(("stopped_in_current_line", call.profile))
    for n, family in enumerate(listed, 1):
        members: list[tuple[str, list[str], str]] = []  # each member's option, cautions and source
        why: list[str] = []
        for item in family:
            caution, cautioned = _caution(item, profile, call.drugs)
            members.append((_option(item, profile, call.drugs), caution, item.rule.sources[0].label))
            facts += [(name, profile) for name in cautioned]
            facts += _why(call, group, item, profile, summary, why)
        chosen = call.evaluation.preference_of(family[0])
        preference = call.text.preference_labels.get(chosen) if chosen else None
        label = f" ({preference})." if preference else "."
        fits = f" Why: {'; '.join(why[:WHY_SHOWN])}." if why else ""
        if len(family) == 1:
            ((option, caution, source),) = members
            entry = f"**{option}**{label}{''.join(caution)}{fits} Source: {source}"
            if n > numbered:  # a note after the numbered options
                after.append(f"Also: {entry}")
            else:
                lines.append(f"{n}. {entry}")
        else:
            lines += _family_lines(f"{n}. **{family[0].rule.family}**", members, f"{label}{fits}")
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
    suggestions = [(uuid_head(item.rule.id), {"label": _option(item, profile, call.drugs)}) for item in shown]
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
