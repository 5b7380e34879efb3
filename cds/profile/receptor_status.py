"""ER, PR and hormone-receptor status from the readings: the latest date decides, one date that disagrees
is conflicting, and a receptor positive in at least one biopsy stays positive (see cds.profile.receptors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cds.profile.common import Context
from cds.profile.model import Evidence, Fact, HormoneReceptorStatus, ReceptorStatus
from cds.profile.receptor_reading import (
    Reading,
    as_sentence,
    by_date,
    reading_order,
    report_discordance,
    shown_date,
    split_latest,
    unread_note,
)

_POSITIVE: Final = ("positive", "low_positive")


def _family(value: str) -> str:
    return "negative" if value == "negative" else "positive"


def _group_value(group: Sequence[Reading]) -> tuple[str, str | None]:
    """The ER/PR value of one date's readings: a value, or "conflicting"; and why."""
    values = {r.value for r in group}
    if values == {"positive", "low_positive"}:
        return (
            "low_positive",
            "positive and 1-10 % reported on the same date; the percentage (ER-low) was used",
        )
    if len(values) > 1:
        return "conflicting", None
    return next(iter(values)), None


def receptor_status(
    readings: Sequence[Reading], marker: str, ctx: Context, unread: Sequence[Evidence] = ()
) -> tuple[Fact[ReceptorStatus], bool]:
    """(the ER or PR fact, whether results over time were discordant). ``unread``: this marker's test
    results that were received but could not be read (receptor_collect.unread_results)."""
    mine = [r for r in readings if r.marker == marker and not r.pending]
    name = "ER" if marker == "er" else "PR"
    tests = [r for r in mine if not r.from_condition]
    conds = [r for r in mine if r.from_condition]
    if not tests and not conds:
        return Fact("unknown"), False
    if not tests and unread:
        return _unread_not_replaced(conds, unread, name, marker, ctx), False
    used = tests or conds
    groups = by_date(used)
    latest = groups[0]
    value, why = _group_value(latest)
    notes: list[str] = [why] if why else []
    if value == "conflicting":
        ctx.issue(
            f"{marker}_status",
            "conflicting",
            f"{name} results on {latest[0].when or 'the same (undated) record'} disagree: "
            + "; ".join(f"{r.evidence.reference} {r.value}" for r in latest)
            + ".",
            *(r.evidence for r in latest),
        )
        if not tests or len(groups) == 1:
            return Fact(
                "conflicting", tuple(r.evidence for r in latest), f"{name} results on the same date disagree."
            ), False
        # with earlier results, the latest date's disagreement is one more discordance between biopsies:
        # its positive results and its negative ones take part in the history below as two groups
        positive = [r for r in latest if r.value in _POSITIVE]
        groups = [positive, [r for r in latest if r.value not in _POSITIVE], *groups[1:]]
        latest = positive
        value = _group_value(positive)[0]
    chosen = latest
    discordant = False
    if tests:
        history = [(g, _group_value(g)[0]) for g in groups]
        positives = [(g, v) for g, v in history if v in _POSITIVE]
        negatives = [(g, v) for g, v in history if v == "negative"]
        if positives and negatives:
            discordant = True
            if value == "negative":
                chosen, value = positives[0][0], positives[0][1]
            report_discordance(ctx, marker, name, positives[0][0], negatives[0][0], value)
            pos, neg = positives[0][0][0], negatives[0][0][0]
            notes.append(
                f"{name} positive in at least one biopsy ({pos.evidence.reference}, {shown_date(pos)}) and "
                f"negative in another ({neg.evidence.reference}, {shown_date(neg)}): discordant results; "
                "positive is kept so that targeted therapy stays an option (ESO-ESMO ABC)"
            )
        else:
            changed = [g for g, v in history[1:] if v not in ("conflicting", value)]
            if changed:
                prev = changed[0][0]
                notes.append(
                    f"Earlier {name} result {prev.value} ({prev.evidence.reference}, {shown_date(prev)}); "
                    f"the most recent ({shown_date(latest[0])}) was used"
                )
        notes.extend(_ignored_conditions(conds, name, value))
    else:
        notes.append(
            f"{name} taken from a problem-list or billing entry ({latest[0].evidence.text}); "
            "no pathology result for it is in the record"
        )
        changed_c = [g for g in groups[1:] if _group_value(g)[0] not in ("conflicting", value)]
        if changed_c:
            prev = changed_c[0][0]
            notes.append(f"earlier entry {prev.value} ({prev.evidence.reference}, {shown_date(prev)})")
    notes.extend(r.note for r in chosen if r.note)
    status: ReceptorStatus = (
        "positive" if value == "positive" else "low_positive" if value == "low_positive" else "negative"
    )
    if status == "low_positive" and marker == "er":
        notes.insert(0, "ER-low positive (1-10%)")
    others = [r for g in groups if g is not chosen for r in g][:2]
    return Fact(
        status, tuple(r.evidence for r in chosen) + tuple(r.evidence for r in others), as_sentence(notes)
    ), discordant


def _unread_not_replaced(
    conds: Sequence[Reading], unread: Sequence[Evidence], name: str, marker: str, ctx: Context
) -> Fact[ReceptorStatus]:
    """ER or PR with an unread test result and a receptor-status Condition: unknown, not the Condition's
    value (unknown is not negative, and it is not the problem list's positive either)."""
    note = unread_note(conds, unread, name)
    c = max(conds, key=reading_order)
    ctx.issue(f"{marker}_status", "ignored", f"{name} not known: {note}.", *unread[:2], c.evidence)
    return Fact("unknown", (*unread[:2], c.evidence), note[0].upper() + note[1:] + ".")


def _ignored_conditions(conds: Sequence[Reading], name: str, value: str) -> list[str]:
    """Notes for receptor-status Conditions that disagree with the pathology result (not used)."""
    clash = [c for c in conds if _family(c.value) != _family(value)]
    if not clash:
        return []
    c = max(clash, key=reading_order)
    return [
        f"the problem-list entry {c.evidence.text} ({c.evidence.reference}) says {name} {c.value}; "
        "the pathology result was used"
    ]


def hormone_status(
    er: Fact[ReceptorStatus], pr: Fact[ReceptorStatus], readings: Sequence[Reading], unread: bool = False
) -> Fact[HormoneReceptorStatus]:
    """HR status from ER and PR; ``unread``: an ER or PR test result was received but not read, so an
    HR-status Condition does not stand in for it."""
    ev = er.evidence + pr.evidence
    if er.value in _POSITIVE or pr.value in _POSITIVE:
        which = [n for n, f in (("ER", er), ("PR", pr)) if f.value in _POSITIVE]
        note = f"{' and '.join(which)} positive"
        if er.value == "low_positive" and pr.value not in _POSITIVE:
            note = (
                "HR-positive on ER-low positive (1-10%) alone: ASCO/CAP 2020 - limited data on the benefit "
                "of endocrine therapy, and such tumours often behave like ER-negative (triple-negative) "
                "disease"
            )
        elif er.value == "low_positive":
            note = "ER-low positive (1-10%) and PR positive"
        elif er.value in ("unknown", "conflicting"):  # PR alone: endocrine therapy is chosen on ER
            note = f"PR positive; ER {'not known' if er.value == 'unknown' else 'results conflict'}"
        return Fact("positive", ev, note)
    if er.value == "negative" and pr.value == "negative":
        return Fact("negative", ev, "ER and PR negative")
    if "conflicting" in (er.value, pr.value):
        return Fact("conflicting", ev, "ER or PR results conflict")
    results = [r for r in readings if not r.pending]
    hr_tests = [r for r in results if r.marker == "hr" and not r.from_condition]
    any_test = unread or any(r.marker in ("er", "pr", "hr") and not r.from_condition for r in results)
    hr = hr_tests or ([] if any_test else [r for r in results if r.marker == "hr"])
    if hr:
        group, _ = split_latest(hr)
        source = "" if hr_tests else " (problem-list or billing entry; no ER/PR test result in the record)"
        return Fact(
            "positive", tuple(r.evidence for r in group), f"recorded as hormone receptor positive{source}"
        )
    if er.value == "negative" or pr.value == "negative":
        return Fact("unknown", ev, "one receptor is negative and the other is unknown")
    return Fact("unknown")
