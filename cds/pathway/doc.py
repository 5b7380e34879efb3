"""The whole pathway on one page, for clinical review: ``docs/pathway.md``, generated from ``cards/``.

    python -m cds.pathway.doc > docs/pathway.md     # write it
    python -m cds.pathway.doc --check               # exit 1 if docs/pathway.md is not current

One table per subtype; rows are decision points (first line, at progression on a named therapy, any
line), options of equal preference in the order of ``cards/option-order.yaml`` (the cards' order),
each option with its preference, its conditions in plain words, what rules it out, and its sources.
Tests, warnings and supportive care follow, then the retired rules (kept so that feedback on
their cards still maps).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.pathway.labels import option_line
from cds.pathway.rules import AfterProgression, ConditionValue, Rule, card_group
from cds.profile.model import FIELDS, THERAPY_SETS
from cds.settings import default_knowledge_dir
from cds.yaml_files import read_yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "pathway.md"

SUBTYPES: tuple[tuple[str, str], ...] = (
    ("hr_positive_her2_negative", "HR-positive, HER2-negative"),
    ("her2_positive", "HER2-positive (HR-positive or HR-negative)"),
    ("triple_negative", "Triple-negative"),
)
_PREFERENCE = {
    "preferred": "Preferred",
    "other_recommended": "Other recommended",
    "certain_circumstances": "Useful in certain circumstances",
}
_PREFERENCE_ORDER = {name: i for i, name in enumerate(_PREFERENCE)}
_VALUE_WORDS = {
    "hr_positive_her2_negative": "HR-positive, HER2-negative",
    "hr_positive_her2_positive": "HR-positive, HER2-positive",
    "hr_negative_her2_positive": "HR-negative, HER2-positive",
    "triple_negative": "triple-negative",
    "altered": "altered",
    "not_detected": "not detected",
    "low_positive": "low positive",
}


def _class_names(knowledge_dir: Path) -> dict[str, str]:
    data = read_yaml(knowledge_dir / "codes" / "medications.yaml")
    classes: Mapping[str, Mapping[str, object]] = data["classes"]
    return {name: str(entry.get("display", name)) for name, entry in classes.items()}


class _Words:
    """Profile conditions as a clinician reads them."""

    def __init__(self, class_names: Mapping[str, str]) -> None:
        self.class_names = class_names

    def value(self, field: str, value: object) -> str:
        if field in THERAPY_SETS:
            return self.class_names.get(str(value), str(value))
        text = str(value)
        return _VALUE_WORDS.get(text, text.replace("_", " "))

    def values(self, field: str, value: object) -> str:
        items = value if isinstance(value, list) else [value]
        return " or ".join(self.value(field, v) for v in items)

    def condition(self, field: str, expected: ConditionValue) -> str:
        label = FIELDS[field].label or field
        if isinstance(expected, dict):
            parts = []
            for op, operand in expected.items():
                if op == "not":
                    parts.append(f"not {self.values(field, operand)}")
                elif op == "at_least":
                    parts.append(f"at least {operand}")
                elif op == "at_most":
                    parts.append(f"at most {operand}")
                elif op == "includes":
                    parts.append(f"includes {self.values(field, operand).replace(' or ', ' and ')}")
                elif op == "includes_any":
                    parts.append(f"includes {self.values(field, operand)}")
                elif op == "excludes":
                    parts.append(f"excludes {self.values(field, operand)}")
            return f"{label}: {', '.join(parts)}"
        return f"{label}: {self.values(field, expected)}"

    def conditions(self, conditions: Mapping[str, ConditionValue]) -> str:
        return "; ".join(self.condition(f, v) for f, v in conditions.items())

    def rule(self, rule: Rule) -> str:
        text = self.conditions(rule.conditions)
        if rule.any_of:
            groups = " | ".join(f"({self.conditions(group)})" for group in rule.any_of)
            text = f"{text}; and one of {groups}" if text else f"one of {groups}"
        return text

    def decision_point(self, rule: Rule) -> str:
        point = rule.decision_point
        if isinstance(point, AfterProgression):
            names = " or ".join(_lower_first(self.class_names.get(n, n)) for n in point.after_progression_on)
            relapse = " (or a relapse within 12 months of it as (neo)adjuvant therapy)"
            return f"At progression on {names}{relapse if point.or_relapse_within_year else ''}"
        if point == "first_line":
            return "First line (no completed line for metastatic disease)"
        if point == "initial_endocrine":
            return "Initial endocrine-based therapy (first line, or no endocrine line yet)"
        return "Any line"


def _lower_first(name: str) -> str:
    """'Chemotherapy' -> 'chemotherapy' inside a sentence; 'HER2-directed therapy' stays."""
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def _subtypes(rule: Rule) -> set[str]:
    """The subtype sections a rule belongs to, from its conditions (all sections when it names none)."""
    found: set[str] = set()
    for group in [rule.conditions, *rule.any_of]:
        subtype = group.get("subtype")
        for value in subtype if isinstance(subtype, list) else [subtype] if subtype else []:
            found.add("her2_positive" if str(value).endswith("her2_positive") else str(value))
        her2 = group.get("her2_status")
        if her2 == "positive":
            found.add("her2_positive")
        elif her2 == "negative":
            receptors = group.get("hormone_receptor_status")
            if receptors == "positive":
                found.add("hr_positive_her2_negative")
            elif receptors == "negative":
                found.add("triple_negative")
    if not found and rule.conditions.get("hormone_receptor_status") == "positive":
        found.add("hr_positive_her2_negative")
    if not found and rule.conditions.get("her2_status") == "negative":
        found |= {"hr_positive_her2_negative", "triple_negative"}
    return found or {key for key, _ in SUBTYPES}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _sources(rule: Rule) -> str:
    return "<br>".join(f"[{_cell(s.label)}]({s.url})" for s in rule.sources)


def _exclusions(rule: Rule, given: frozenset[str], words: _Words) -> str:
    lines = [f"{'**Safety:** ' if x.safety else ''}{_cell(x.reason)}" for x in rule.exclusions]
    lines += [
        f"**Caution, shown with the option{' (not put first while it holds)' if c.demotes else ''}:** "
        f"{_cell(c.reason)}"
        for c in rule.cautions
    ]
    if rule.continues_current:
        lines.append("May continue a current therapy (the guideline says so)")
        return "<br>".join(lines)
    every = "every part of the regimen is current, progressed on or stopped for side effects"
    if given:
        names = " or ".join(words.value("progressed_on", m) for m in sorted(given))
        lines.append(f"Never when on or progressed on {names}, nor when {every}")
    else:
        lines.append(f"Never when {every}")
    return "<br>".join(lines)


def _preference(rule: Rule, words: _Words) -> str:
    text = _PREFERENCE.get(rule.preference or "", "")
    if rule.yields_to:
        after = ", ".join(f"`{other}`" for other in rule.yields_to)
        text += f"<br>listed after {after} when offered too (other recommended at best)"
    if rule.yields_unless:
        unless = " | ".join(f"({_cell(words.conditions(group))})" for group in rule.yields_unless)
        text += f", unless one of {unless}"
    if rule.replaced_by:
        text += (
            "<br>not shown when " + " or ".join(f"`{other}`" for other in rule.replaced_by) + " is offered"
        )
    if rule.listed_as_note:
        text += "<br>written after the numbered options as a note, when other options are offered"
    if rule.family:
        text += f'<br>listed under "{_cell(rule.family)}" with the others of that family offered with it'
    return text


def _point_key(rule: Rule) -> tuple[int, str]:
    point = rule.decision_point
    if point in ("first_line", "initial_endocrine"):
        return (0, "")
    if isinstance(point, AfterProgression):
        return (1, ",".join(point.after_progression_on))
    return (2, "")


def _therapy_table(rules: Sequence[Rule], words: _Words, given: Mapping[str, frozenset[str]]) -> list[str]:
    out = [
        "| Decision point | Option | Preference | When | Not when | Sources | Rule |",
        "|---|---|---|---|---|---|---|",
    ]
    place = {rule.id: i for i, rule in enumerate(rules)}  # option-order.yaml's (cds.pathway.knowledge)
    ordered = sorted(
        rules, key=lambda r: (_point_key(r), _PREFERENCE_ORDER.get(r.preference or "", 9), place[r.id])
    )
    for rule in ordered:
        out.append(
            "| "
            + " | ".join(
                [
                    words.decision_point(rule),
                    _cell(option_line(rule) if rule.option else ""),
                    _preference(rule, words),
                    _cell(words.rule(rule)),
                    _exclusions(rule, given[rule.id], words),
                    _sources(rule),
                    f"`{rule.id}`",
                ]
            )
            + " |"
        )
    return out


def _other_table(rules: Iterable[Rule], words: _Words) -> list[str]:
    kinds = {"warning": "Warning", "test": "Test", "supportive": "Supportive care"}
    out = ["| Card | Kind | When | Sources | Rule |", "|---|---|---|---|---|"]
    for rule in sorted(rules, key=lambda r: (list(kinds).index(card_group(r.category)), r.id)):
        out.append(
            f"| {_cell(rule.card.summary)} | {kinds[card_group(rule.category)]} | {_cell(words.rule(rule))}"
            f" | {_sources(rule)} | `{rule.id}` |"
        )
    return out


def render(knowledge: Knowledge, knowledge_dir: Path) -> str:
    words = _Words(_class_names(knowledge_dir))
    active = [item.rule for item in knowledge.rules]
    given = {item.rule.id: item.medicines_given for item in knowledge.rules}
    therapy = [r for r in active if card_group(r.category) == "therapy"]
    lines = [
        "# The metastatic breast cancer pathway",
        "",
        "Generated from `cards/` by `python -m cds.pathway.doc > docs/pathway.md`; do not edit by hand",
        "(`python -m cds.pathway.doc --check` fails when this page is out of date).",
        "",
        "How to read it: a patient on therapy for metastatic disease gets no new option now; the options",
        "are weighed as if the disease progressed on the current therapy and shown as *at progression*.",
        "Otherwise the options are for the patient's next line as the record stands. *First line* means",
        "no completed line for metastatic disease (relapse on or soon after (neo)adjuvant therapy counts",
        "as progression on it). Unknown is never read as negative. Preferences are the cited guideline's;",
        "options of equal preference are listed, here and on the cards, in the order of",
        "`cards/option-order.yaml`, whose comments say why each option stands where it does.",
        "",
    ]
    for key, title in SUBTYPES:
        rules = [r for r in therapy if key in _subtypes(r)]
        lines += [f"## {title}", "", *_therapy_table(rules, words, given), ""]
    others = [r for r in active if card_group(r.category) != "therapy"]
    lines += ["## Tests, warnings and supportive care (all subtypes)", "", *_other_table(others, words), ""]
    retired = sorted((r for r in knowledge.all_rules.values() if r.status == "retired"), key=lambda r: r.id)
    lines += ["## Retired rules", "", "| Rule | Why |", "|---|---|"]
    lines += [f"| `{r.id}` | {_cell(r.evidence.note)} |" for r in retired]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/pathway.md is not current")
    args = parser.parse_args(argv)
    knowledge_dir = default_knowledge_dir()
    text = render(load_knowledge(knowledge_dir), knowledge_dir)
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC} is out of date: run python -m cds.pathway.doc > docs/pathway.md", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
