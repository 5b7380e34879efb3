"""HER2 status, IHC, ISH and HER2-low from the readings (ASCO/CAP 2018, affirmed 2023): the most recent
test date decides, a reflex ISH is paired with the IHC before it, and HER2-positive in at least one
biopsy stays positive (see cds.profile.receptors)."""

from __future__ import annotations

from collections.abc import Sequence

from cds.profile.common import Context
from cds.profile.her2_values import ish_group
from cds.profile.model import Evidence, Fact, Her2Ihc, Her2Ish, Her2Status, YesNoUnknown
from cds.profile.receptor_labels import her2_label
from cds.profile.receptor_reading import (
    Reading,
    as_sentence,
    reading_order,
    report_discordance,
    shown_date,
    split_latest,
    unread_note,
    with_note,
)


def _implied(r: Reading) -> str:
    if r.marker == "ihc":
        return {"3+": "positive", "2+": "equivocal"}.get(r.value, "negative")
    if r.marker == "ish":
        return {"amplified": "positive", "not_amplified": "negative"}.get(r.value, "equivocal")
    return {"low": "negative", "ultralow": "negative"}.get(r.value, r.value)


Her2Facts = tuple[Fact[Her2Status], Fact[Her2Ihc], Fact[Her2Ish], Fact[YesNoUnknown]]


def _ish_in(ishs: Sequence[Reading], note_parts: list[str], with_ihc: bool) -> tuple[set[str], set[int]]:
    """The ISH values of one date, and the ASCO/CAP 2018 dual-probe groups of their numbers; a ratio and a
    copy number given apart are put in their group."""
    ratios = {r.ratio for r in ishs if r.ratio is not None}
    copies = {r.copies for r in ishs if r.copies is not None}
    if len(ratios) == 1 and len(copies) == 1:
        ratio, copy = next(iter(ratios)), next(iter(copies))
        group, verdict = ish_group(ratio, copy)
        said = (
            f"{verdict.replace('_', ' ')} per ASCO/CAP 2018"
            if with_ihc or group in (1, 5)
            else "not settled without HER2 IHC on the same specimen (ASCO/CAP 2018)"
        )
        note_parts.append(
            f"ISH group {group} (HER2/CEP17 ratio {ratio:g}, {copy:g} HER2 signals/cell): {said}"
        )
        numeric = {r.value for r in ishs if r.ratio is not None or r.copies is not None}
        return {verdict} | ({r.value for r in ishs} - numeric), {group}
    groups = {ish_group(r.ratio, r.copies)[0] for r in ishs if r.ratio is not None and r.copies is not None}
    return {r.value for r in ishs}, groups


def _her2_at(readings: Sequence[Reading], ctx: Context) -> Her2Facts:
    """HER2 from the most recent date of ``readings`` (a reflex ISH paired with the IHC before it)."""
    group, earlier = split_latest(readings)
    ihcs = [r for r in group if r.marker == "ihc"]
    ishs = [r for r in group if r.marker == "ish"]
    generic = [r for r in group if r.marker == "her2"]
    note_parts: list[str] = []
    if ishs and not ihcs:
        prior = [r for r in earlier if r.marker == "ihc"]
        if prior:
            partner = [r for r in prior if r.key == prior[0].key]
            ihcs = partner
            note_parts.append(
                f"ISH ({ishs[0].when or 'undated'}) paired with the IHC of {prior[0].when or 'undated'}"
            )
    conflicts: list[Reading] = []
    ihc_vals = {r.value for r in ihcs}
    ish_vals, groups = _ish_in(ishs, note_parts, bool(ihcs))
    # IHC 0 and 1+ on one date (two specimens) are both HER2-negative: only HER2-low is in question
    zero_and_one = ihc_vals == {"0", "1+"}
    if len(ihc_vals) > 1 and not zero_and_one:
        conflicts.extend(ihcs)
    if len(ish_vals) > 1:
        conflicts.extend(ishs)
    ihc: Her2Ihc = _as_ihc(next(iter(ihc_vals))) if len(ihc_vals) == 1 else "unknown"
    ish: Her2Ish = _as_ish(next(iter(ish_vals))) if len(ish_vals) == 1 else "unknown"
    ihc_negative = ihc in ("0", "1+") or zero_and_one
    # ASCO/CAP 2018: dual-probe ISH groups 2-4 are decided with concomitant IHC; without one, not at all
    undecided_group = min(groups & {2, 3, 4}) if groups & {2, 3, 4} and not ihcs else None
    status: Her2Status
    if ihc == "3+":
        status = "positive"
    elif undecided_group is not None:
        status = "unknown"
    elif ish == "amplified" and 3 in groups and ihc_negative:
        status = "negative"  # ASCO/CAP 2018 group 3 with concurrent IHC 0/1+
        note_parts.append("ISH group 3 with IHC 0/1+ is HER2-negative per ASCO/CAP 2018")
    elif ish == "amplified":
        status = "positive"
    elif ihc_negative:
        status = "negative"
    elif ihc == "2+":
        status = "negative" if ish == "not_amplified" else "equivocal"
    elif ish == "not_amplified":
        status = "negative"
    elif ish == "equivocal":
        status = "equivocal"
    else:
        status = "unknown"
    tested = status  # what the IHC and ISH results say, before any HER2 status recorded as such
    low: YesNoUnknown = "unknown"
    gen_vals = {r.value for r in generic}
    if status == "unknown" and gen_vals:
        implied = {_implied(r) for r in generic}
        if len(implied) > 1:
            conflicts.extend(generic)
        else:
            only = next(iter(implied))
            status = only if only in ("positive", "negative", "equivocal") else "unknown"  # type: ignore[assignment]
    elif gen_vals and status in ("positive", "negative"):
        clash = [r for r in generic if _implied(r) in ("positive", "negative") and _implied(r) != status]
        if clash:
            conflicts.extend(clash + ihcs + ishs)
    if conflicts:
        ctx.issue(
            "her2_status",
            "conflicting",
            "HER2 results on the most recent date disagree: "
            + "; ".join(f"{r.evidence.reference} {r.marker} {r.value}" for r in conflicts)
            + ".",
            *(r.evidence for r in conflicts),
        )
        ev = tuple(r.evidence for r in group)
        return (
            Fact("conflicting", ev, "HER2 results on the same date disagree."),
            Fact(ihc if len(ihc_vals) == 1 else "unknown", tuple(r.evidence for r in ihcs)),
            Fact(ish if len(ish_vals) == 1 else "unknown", tuple(r.evidence for r in ishs)),
            Fact("unknown", ev, "HER2 results conflict."),
        )
    if status == "unknown" and undecided_group is not None:
        said = "; ".join(f"{r.evidence.reference} {r.detail}" for r in ishs)
        ctx.issue(
            "her2_status",
            "missing",
            f"Dual-probe ISH group {undecided_group} ({said}) with no HER2 IHC result: ASCO/CAP 2018 decides "
            f"ISH groups 2-4 with concomitant IHC review, so HER2 is not settled until HER2 IHC on the same "
            "specimen is known.",
            *(r.evidence for r in ishs),
        )
    low_why = None
    if status == "negative" and zero_and_one:
        low_why = "IHC 0 and IHC 1+ on the same date: HER2-low depends on which specimen is taken"
        ctx.issue(
            "her2_low",
            "conflicting",
            "HER2 IHC 0 and IHC 1+ on the same date ("
            + "; ".join(f"{r.evidence.reference} IHC {r.value}" for r in ihcs)
            + "): both are HER2-negative, but HER2-low (IHC 1+) is not settled; check which specimen "
            "stands (it decides trastuzumab deruxtecan).",
            *(r.evidence for r in ihcs),
        )
        note_parts.append(low_why)
    elif status == "negative" and (
        ihc == "1+" or (ihc == "2+" and ish == "not_amplified") or (ihc == "unknown" and "low" in gen_vals)
    ):
        low = "yes"
    elif ihc == "0" or status == "positive" or (ihc == "unknown" and "ultralow" in gen_vals):
        low = "no"
    if tested != "unknown":
        _summary_not_used(ctx, generic, status, ihc, ish, low, note_parts)
    if ish == "unknown" and ihc == "2+":
        older_ish = [r for r in earlier if r.marker == "ish"]
        if older_ish:
            note_parts.append(
                f"an earlier ISH ({older_ish[0].evidence.reference}, {older_ish[0].when or 'undated'}) "
                "predates the most recent IHC and was not paired with it"
            )
    used = ihcs + ishs + generic
    changed = [
        r
        for r in earlier
        if r not in used and _implied(r) in ("positive", "negative") and _implied(r) != status
    ]
    if changed:
        prev = changed[0]
        note_parts.append(
            f"earlier HER2 result {prev.marker} {prev.value} "
            f"({prev.evidence.reference}, {prev.when or 'undated'}); the most recent was used"
        )
    if status in ("positive", "negative", "equivocal") and (ihc != "unknown" or ish != "unknown"):
        note_parts.insert(0, her2_label(status, ihc, ish, low))
    ev_all = tuple(r.evidence for r in used)
    why_low = {
        "yes": "IHC 1+ or IHC 2+ with ISH not amplified",
        "no": "IHC 0 or HER2-positive",
        "unknown": low_why,
    }[low]
    return (
        Fact(status, ev_all, as_sentence(note_parts)),
        Fact(ihc, tuple(r.evidence for r in ihcs)),
        Fact(ish, tuple(r.evidence for r in ishs)),
        Fact(low, ev_all if low != "unknown" or low_why else (), why_low),
    )


def _agrees(summary: str, status: str, low: str) -> bool:
    """Whether a HER2 status recorded as such says what the IHC and ISH results of its date say."""
    if summary == "low":
        return status == "negative" and low == "yes"
    if summary == "ultralow":
        return status == "negative" and low != "yes"
    return summary == status


def _summary_not_used(
    ctx: Context,
    generic: Sequence[Reading],
    status: Her2Status,
    ihc: Her2Ihc,
    ish: Her2Ish,
    low: YesNoUnknown,
    note_parts: list[str],
) -> None:
    """A HER2 status recorded beside the IHC score (MII: "HER2-low" with the score as a component) that the
    score does not bear out: the score is the result and is used; the summary is named, not silently
    dropped. An IHC 2+ with no ISH is equivocal whatever the summary says (ASCO/CAP 2018, affirmed 2023);
    a positive summary against a negative score (or the reverse) is a conflict, reported before this."""
    unused = [r for r in generic if not _agrees(r.value, status, low)]
    if not unused:
        return
    r = unused[0]
    said = f"HER2 recorded as '{r.detail or r.value}' ({r.evidence.reference}, {shown_date(r)})"
    tests = her2_label(status, ihc, ish, low)
    if status == "equivocal":
        why = (
            "IHC 2+ with no ISH result is equivocal whatever the summary says"
            if ihc == "2+" and ish == "unknown"
            else f"the test results of that date read {tests}"
        )
        note_parts.append(f"{said} is not used: {why}")
        ctx.issue(
            "her2_status",
            "missing",
            f"{said}, but {why}: HER2 IHC 2+ needs reflex in situ hybridisation (ASCO/CAP 2018, affirmed "
            "2023). If an ISH result exists, enter it.",
            r.evidence,
        )
        return
    note_parts.append(f"{said} is not used: the IHC score of that date reads {tests}")
    ctx.issue(
        "her2_low",
        "conflicting",
        f"{said}, but the IHC score of that date reads {tests}: HER2-low is read from the score. Check the "
        "report (HER2-low decides trastuzumab deruxtecan).",
        r.evidence,
    )


def her2(
    readings: Sequence[Reading], ctx: Context, unread: Sequence[Evidence] = ()
) -> tuple[Her2Facts, bool]:
    """(HER2 status, IHC, ISH and HER2-low facts; whether results over time were discordant).
    ``unread``: HER2 test results received but not read (receptor_collect.unread_results): a HER2-status
    Condition does not stand in for them."""
    mine = [r for r in readings if r.marker in ("ihc", "ish", "her2") and not r.pending]
    for r in mine:
        if r.value == "contradicted":  # an ISH text whose numbers and verdict disagree: not used
            ctx.issue(
                "her2_ish",
                "conflicting",
                f"{r.evidence.reference}: {r.detail}; the result was not used. Check the report.",
                r.evidence,
            )
    mine = [r for r in mine if r.value != "contradicted"]
    tests = [r for r in mine if not r.from_condition]
    conds = [r for r in mine if r.from_condition]
    if not tests and not conds:
        return (Fact("unknown"), Fact("unknown"), Fact("unknown"), Fact("unknown")), False
    if not tests and unread:
        latest_cond = split_latest(conds)[0][0]
        note = unread_note(conds, unread, "HER2") + "."
        ctx.issue("her2_status", "ignored", "HER2 not known: " + note, *unread[:2], latest_cond.evidence)
        note = note[0].upper() + note[1:]
        unknown: Fact[Her2Status] = Fact("unknown", (*unread[:2], latest_cond.evidence), note)
        return (unknown, Fact("unknown"), Fact("unknown"), Fact("unknown")), False
    if not tests:
        status, ihc, ish, low = _her2_at(conds, ctx)
        why = (
            f"HER2 taken from a problem-list or billing entry ({split_latest(conds)[0][0].evidence.text}); "
            "no HER2 pathology result is in the record."
        )
        return (with_note(status, why), ihc, ish, low), False
    latest = _her2_at(tests, ctx)
    # each earlier test date, as it read then (quietly: its issues were those of its own time)
    quiet = Context(ctx.terminology, ctx.today)
    keys = sorted({r.key for r in tests}, reverse=True)
    history: list[tuple[Her2Facts, list[Reading]]] = [(latest, [r for r in tests if r.key == keys[0]])]
    for key in keys[1:]:
        history.append(
            (_her2_at([r for r in tests if r.key <= key], quiet), [r for r in tests if r.key == key])
        )
    positives = [h for h in history if h[0][0].value == "positive"]
    negatives = [h for h in history if h[0][0].value == "negative"]
    chosen = positives[0][0] if positives and latest[0].value != "positive" else latest
    discordant = bool(positives and negatives)
    extra: list[str] = []
    if positives and latest[0].value not in ("positive", "negative"):
        # a newer result that settles nothing (equivocal, conflicting, unknown) does not erase a positive
        pos, new = positives[0][1][0], history[0][1][0]
        said = "; ".join(f"{r.marker.upper()} {r.value}" for r in history[0][1])
        ctx.issue(
            "her2_status",
            "discordant",
            f"The most recent HER2 result ({new.evidence.reference}, {shown_date(new)}: {said}) is "
            f"{latest[0].value}: {_UNSETTLED[latest[0].value]}. HER2-positive from {pos.evidence.reference} "
            f"({shown_date(pos)}) is kept: ESO-ESMO ABC advises considering anti-HER2 therapy when HER2 is "
            "positive in at least one biopsy.",
            new.evidence,
            pos.evidence,
        )
        extra.append(
            f"HER2-positive in an earlier biopsy ({pos.evidence.reference}, {shown_date(pos)}); the most "
            f"recent ({new.evidence.reference}, {shown_date(new)}) is {latest[0].value} "
            "and does not replace it"
        )
    if discordant:
        pos_group, neg_group = positives[0][1], negatives[0][1]
        report_discordance(ctx, "her2", "HER2", pos_group, neg_group, "positive")
        negative = neg_group[0].evidence.reference
        named = negative in (chosen[0].note or "")  # "earlier HER2 result ... (Observation/x)": said once
        where = "" if named else f" ({negative}, {shown_date(neg_group[0])})"
        extra.append(
            f"HER2-negative in another biopsy{where}: positive in at least one biopsy is kept so that "
            "anti-HER2 therapy stays an option (ESO-ESMO ABC)"
        )
    clash = [c for c in conds if _implied(c) in ("positive", "negative") and _implied(c) != chosen[0].value]
    if clash and chosen[0].value in ("positive", "negative"):
        c = max(clash, key=reading_order)
        extra.append(
            f"the problem-list entry {c.evidence.text} ({c.evidence.reference}) says HER2 {c.value}; "
            "the pathology result was used"
        )
    status, ihc, ish, low = chosen
    was_low = next((h for h in history[1:] if h[0][3].value == "yes"), None)
    if low.value == "no" and status.value == "negative" and was_low is not None:
        # HER2-low on an earlier specimen, IHC 0 on the latest: named, not decided (it decides T-DXd)
        then, now = was_low[1][0], history[0][1][0]
        score = was_low[0][1].value
        said = f"IHC {score}" if score != "unknown" else "HER2-low"
        ctx.issue(
            "her2_low",
            "discordant",
            f"HER2-low on an earlier specimen ({then.evidence.reference}, {shown_date(then)}: {said}), "
            f"HER2 IHC {ihc.value} on the most recent ({now.evidence.reference}, {shown_date(now)}): "
            "HER2-low is read from the most recent; check which specimen stands (it decides trastuzumab "
            "deruxtecan).",
            now.evidence,
            then.evidence,
        )
    if chosen is not latest or discordant:
        # the IHC/ISH facts are those of the positive biopsy; HER2-low does not apply to HER2-positive
        other = history[0][1] if chosen is not latest else []
        status = Fact(status.value, status.evidence + tuple(r.evidence for r in other[:1]), status.note)
        low = Fact("no", low.evidence, "HER2-positive in at least one biopsy")
    if extra:
        status = with_note(status, as_sentence(extra) or "")
    return (status, ihc, ish, low), discordant


_UNSETTLED = {
    "equivocal": "the new specimen is not settled yet (ASCO/CAP: IHC 2+ needs reflex ISH; an equivocal ISH "
    "needs the workup with IHC)",
    "conflicting": "the new specimen's results disagree; check which result stands",
    "unknown": "the new specimen does not settle HER2 (see the other data issues)",
}


def _as_ihc(value: str) -> Her2Ihc:
    return value if value in ("0", "1+", "2+", "3+") else "unknown"  # type: ignore[return-value]


def _as_ish(value: str) -> Her2Ish:
    return value if value in ("amplified", "not_amplified", "equivocal") else "unknown"  # type: ignore[return-value]
