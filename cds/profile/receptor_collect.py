"""Receptor readings from the record: each ER, PR, ER+PR, HER2 IHC, ISH or HER2-status Observation (with
its components: panels, % of cells, ratio and copy number, a HER2 IHC score or ISH result held in a HER2
status) and each receptor-status Condition becomes readings, each with its evidence. A result not yet
final is kept as pending; a value that cannot be read is a DataIssue ("could not be read"), and so is a
value that says the result is unknown (code list ``unknown-values``: NullFlavor UNK, "unknown"), worded as
reported unknown.

One module, about 420 lines: every shape a receptor result arrives in (own Observation, panel
member, component) goes through the same collection, so that one reading decides each result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cds.evidence import DataIssue, Evidence
from cds.fhir import models
from cds.profile.common import (
    Conditions,
    Context,
    Observations,
    components,
    condition_date,
    evidence,
    observation_date,
    ref,
)
from cds.profile.her2_values import IshRead, her2_generic, ihc_score, ish_group, ish_value, stated_ish
from cds.profile.receptor_reading import Reading
from cds.profile.receptor_values import (
    INDETERMINATE,
    indeterminate_note,
    interpretation_value,
    receptor_value,
    score_reading,
)
from cds.profile.values import Value, Valued, interpretations, value_of, written

_PENDING_STATUSES: Final = ("registered", "preliminary")

_TESTS = ("er-tests", "pr-tests", "her2-ish-tests", "her2-ihc-tests")


def _classify(ctx: Context, cc: models.CodeableConcept | None) -> tuple[str, str] | None:
    """("er"|"pr"|"erpr"|"ihc"|"her2"|"ish", sub-kind) for a test code, or None."""
    er = ctx.match("er-tests", cc, by_text=False)
    if er is not None:
        return ("erpr" if er.value == "both" else "er"), er.value or "status"
    pr = ctx.match("pr-tests", cc, by_text=False)
    if pr is not None:
        return "pr", pr.value or "status"
    ish = ctx.match("her2-ish-tests", cc, by_text=False)
    if ish is not None:
        return "ish", ish.value or "ish"
    ihc = ctx.match("her2-ihc-tests", cc, by_text=False)
    if ihc is not None:
        return ("ihc" if ihc.value == "ihc" else "her2"), ihc.value or "status"
    # text fallback (local codes): HER2 first, because "HER2 ... receptor" texts exist
    her2_text = ctx.match("her2-ihc-tests", cc)
    if her2_text is not None:
        ish_text = ctx.match("her2-ish-tests", cc)
        if ish_text is not None:
            return "ish", ish_text.value or "ish"
        lowered = ctx.describe(cc).lower()
        return ("ihc" if "ihc" in lowered or "immun" in lowered else "her2"), "status"
    pr_text = ctx.match("pr-tests", cc)
    if pr_text is not None:
        return "pr", pr_text.value or "status"
    er_text = ctx.match("er-tests", cc)
    if er_text is not None:
        return ("erpr" if er_text.value == "both" else "er"), er_text.value or "status"
    return None


class _Readings:
    """The readings of one Observation, each with its evidence."""

    def __init__(self, obs: models.Observation, when: str | None, name: str, pending: str) -> None:
        self.obs = obs
        self.when = when
        self.name = name
        self.pending = pending
        self.out: list[Reading] = []

    def add(
        self,
        marker: str,
        value: str,
        how: str,
        note: str | None = None,
        ratio: float | None = None,
        copies: float | None = None,
    ) -> None:
        evidence_ = evidence(self.obs, self.when, f"{self.name}: {how}")
        self.out.append(
            Reading(
                marker,
                value,
                self.when,
                evidence_,
                how,
                pending=self.pending,
                note=note,
                ratio=ratio,
                copies=copies,
            )
        )


def _note_texts(obs: models.Observation) -> list[str]:
    return [n.text for n in obs.note or ()]


def _er_pr(
    ctx: Context, element: Valued, marker: str, sub: str, context_texts: Sequence[str]
) -> tuple[str | None, str, str | None] | None:
    """(status | None, how, note) of one ER/PR value (an Observation or a component), or None."""
    name = "ER" if marker == "er" else "PR"
    val = value_of(element)
    score = score_reading(ctx, val, context_texts, name)
    if score is not None:
        value, how, note = score.value, score.how, score.note
    else:
        got = receptor_value(ctx, val, percent_test=sub == "percent")
        if got is None:
            return None
        (value, how), note = got, None
    if value == INDETERMINATE:  # a bound across 1%, alone or beside a score: reported, not read
        return None, how, indeterminate_note(name, how)
    return value, how, note


def _obs_readings(ctx: Context, obs: models.Observation, pending: str = "") -> list[Reading]:
    code = obs.code
    kind = _classify(ctx, code)
    code_texts = [t for t in (ctx.text(code), *(d for _, _, d in ctx.codings(code))) if t]
    notes = _note_texts(obs)
    # components (MII: % cells and intensity as components; panels with ER and PR components;
    # ISH panels with ratio and copy-number components)
    comp_status: dict[str, tuple[str | None, str, str | None]] = {}
    comp_ish: list[IshRead] = []
    # HER2 held in the components of a HER2 result or a panel (MII: the IHC score as component 85319-2 of
    # the 48676-1 status; an ISH verdict beside it): read as if each were its own Observation
    her2_parent = kind is None or kind[0] in ("ihc", "her2")
    comp_her2 = _ComponentHer2()
    for comp in components(obs):
        comp_code = comp.code
        ckind = _classify(ctx, comp_code)
        if ckind is None:
            continue
        marker, sub = ckind
        if marker in ("er", "pr") and sub != "intensity":
            comp_texts = [*code_texts, *(t for t in (ctx.text(comp_code),) if t), *notes]
            got = _er_pr(ctx, comp, marker, sub, comp_texts)
            if got is not None:
                comp_status[marker] = got
        elif marker == "ish" and sub in ("ratio", "copies"):
            ish_got = ish_value(ctx, value_of(comp), kind=sub)
            if ish_got is not None:
                comp_ish.append(ish_got)
        elif marker == "ish" and her2_parent:
            comp_her2.read_ish(ctx, value_of(comp))
        elif marker in ("ihc", "her2") and her2_parent:
            comp_her2.read(ctx, comp, marker)
    if her2_parent:
        comp_her2.ish.extend(comp_ish)  # ratio and copy number beside the score: the reflex ISH
    if kind is None and not comp_status and not comp_her2.found:
        return []  # not a receptor result
    when = observation_date(obs)
    name = ctx.label(code)
    readings = _Readings(obs, when, name, pending)
    out = readings.out
    val = value_of(obs)
    topic = "er_status"

    if kind is None:
        for marker, (value, how, note) in comp_status.items():
            if value is not None:
                readings.add(marker, value, how, note)
            elif note:
                ctx.issue(f"{marker}_status", "missing", f"{ref(obs)}: {note}", evidence(obs, when, how))
        comp_her2.add_to(ctx, obs, when, name, readings)
        return out
    marker, sub = kind
    if marker in ("er", "pr"):
        topic = "er_status" if marker == "er" else "pr_status"
        if sub == "intensity":
            return out
        got = _er_pr(ctx, obs, marker, sub, [*code_texts, *notes])
        component = comp_status.get(marker)
        if component is not None and component[0] is not None:
            got = component  # a % component is more specific than the coded result
        if got is None:
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                got = (interp, f"interpretation {how}", None)
            elif interp == "ambiguous":
                ctx.issue(
                    topic,
                    "unreadable",
                    f"{ref(obs)}: interpretation '{how}' is ambiguous for a receptor result "
                    "and was not used.",
                    evidence(obs, when, f"{name}: interpretation {how}"),
                )
                return out
        if got is not None and got[0] is None:  # a score without a status (H-score alone)
            interp, how = interpretation_value(ctx, obs)
            if interp in ("positive", "negative"):
                note = f"{got[2]} The interpretation '{how}' gives the status." if got[2] else None
                got = (interp, f"interpretation {how} ({got[1]})", note)
            else:
                ctx.issue(topic, "missing", f"{ref(obs)}: {got[2]}", evidence(obs, when, f"{name}: {got[1]}"))
                return out
        if got is None or got[0] is None:
            _unreadable(ctx, obs, when, topic, name, val)
            return out
        readings.add(marker, got[0], got[1], got[2])
        for other, (value, how, note) in comp_status.items():
            if other != marker and value is not None:
                readings.add(other, value, how, note)
    elif marker == "erpr":
        got_hr = receptor_value(ctx, val, percent_test=False)
        if got_hr is None:
            interp, how = interpretation_value(ctx, obs)
            got_hr = (interp, f"interpretation {how}") if interp in ("positive", "negative") else None
        if got_hr is None or got_hr[0] == INDETERMINATE:
            _unreadable(ctx, obs, when, "hormone_receptor_status", name, val)
        elif got_hr[0] == "negative":
            readings.add("er", "negative", got_hr[1] + " (ER+PR test)")
            readings.add("pr", "negative", got_hr[1] + " (ER+PR test)")
        else:
            readings.add("hr", "positive", got_hr[1] + " (ER+PR test)")
    elif marker == "ish":
        _ish_readings(ctx, obs, when, name, val, sub, comp_ish, readings)
    else:  # ihc or generic HER2
        score = ihc_score(ctx, val)
        generic = her2_generic(ctx, val) if score is None else None
        if score is None and generic is None:
            interp, how = interpretation_value(ctx, obs, her2=True)
            if interp in ("positive", "negative"):
                generic = (interp, f"interpretation {how}")
        if score is not None:
            readings.add("ihc", score, f"IHC {score}")
            _stated_ish(ctx, val, readings)
        elif generic is not None:
            readings.add("her2", generic[0], generic[1])
            _stated_ish(ctx, val, readings)
        elif not comp_her2.found:
            _unreadable(ctx, obs, when, "her2_status", name, val)
        comp_her2.add_to(ctx, obs, when, name, readings)
    return out


class _ComponentHer2:
    """The HER2 IHC scores, HER2 statuses and ISH results held in one Observation's components."""

    def __init__(self) -> None:
        self.scores: list[tuple[str, str, str]] = []  # (marker ihc | her2, value, how)
        self.ish: list[IshRead] = []
        self.unread: list[str] = []  # IHC score components whose value is not a score

    @property
    def found(self) -> bool:
        return bool(self.scores or self.ish or self.unread)

    def read(self, ctx: Context, comp: models.ObservationComponent, marker: str) -> None:
        """One IHC score (or, for a component named only "HER2", a HER2 status) component."""
        val = value_of(comp)
        if marker == "her2" and val.cc is None and not val.text:
            return  # a bare number named only "HER2" (signals per cell? % of cells?): not a score
        score = ihc_score(ctx, val)
        if score is not None:
            self.scores.append(("ihc", score, f"IHC {score}"))
            return
        generic = her2_generic(ctx, val) if marker == "her2" else None
        if generic is not None:
            self.scores.append(("her2", *generic))
        elif marker == "ihc" and not val.empty:
            self.unread.append(written(ctx, val) or "no value")

    def read_ish(self, ctx: Context, val: Value) -> None:
        """An ISH result component (MII KDS: 96893-3 'Positive' beside the IHC score)."""
        got = ish_value(ctx, val, kind="ish")
        if got is not None:
            self.ish.append(got)

    def add_to(
        self, ctx: Context, obs: models.Observation, when: str | None, name: str, readings: _Readings
    ) -> None:
        for marker, value, how in self.scores:
            readings.add(marker, value, how)
        if self.ish:
            _ish_readings(ctx, obs, when, name, Value(), "ish", self.ish, readings)
        for shown in self.unread:
            ctx.issue(
                "her2_ihc",
                "unreadable",
                f"{ref(obs)}: the HER2 IHC score in {name} could not be read ('{shown}' is not 0, 1+, 2+ "
                "or 3+); it was not used.",
                evidence(obs, when, f"{name}: IHC score {shown}"),
            )


def _stated_ish(ctx: Context, val: Value, readings: _Readings) -> None:
    """An ISH result stated in a HER2 text: "Negative (IHC 2+, FISH not amplified)"."""
    for text in (val.text, *(d for _, _, d in ctx.codings(val.cc))):
        if not text:
            continue
        verdict = stated_ish(text)
        if verdict is not None:
            readings.add("ish", verdict, f"ISH {verdict.replace('_', ' ')} (stated in '{text}')")
            return


def _ish_readings(
    ctx: Context,
    obs: models.Observation,
    when: str | None,
    name: str,
    val: Value,
    sub: str,
    comp_ish: list[IshRead],
    readings: _Readings,
) -> None:
    got = ish_value(ctx, val, kind=sub) if not val.empty or val.ratio is not None else None
    ratio = next((c.ratio for c in comp_ish if c.ratio is not None), None)
    copies = next((c.copies for c in comp_ish if c.copies is not None), None)
    if got is not None:
        ratio = got.ratio if got.ratio is not None else ratio
        copies = got.copies if got.copies is not None else copies
    if ratio is not None and copies is not None:
        _, verdict = ish_group(ratio, copies)
        readings.add("ish", verdict, f"ratio {ratio:g}, {copies:g} copies/cell", ratio=ratio, copies=copies)
        return
    if got is None and comp_ish:
        got = comp_ish[0]
    if got is None:
        interp, how = interpretation_value(ctx, obs, her2=True)
        if interp in ("positive", "negative"):
            got = IshRead("amplified" if interp == "positive" else "not_amplified", f"interpretation {how}")
    if got is None:
        _unreadable(ctx, obs, when, "her2_ish", name, val)
    elif got.verdict == "undecided":
        ctx.issue(
            "her2_ish",
            "unreadable",
            f"{ref(obs)}: {name} '{got.how}' does not say whether the HER2/CEP17 ratio reaches 2.0 "
            "(ASCO/CAP 2018 cut-off); not used.",
            evidence(obs, when, f"{name}: {got.how}"),
        )
    else:
        readings.add("ish", got.verdict, got.how, ratio=got.ratio, copies=got.copies)


def _unreadable(
    ctx: Context, obs: models.Observation, when: str | None, topic: str, name: str, val: Value
) -> None:
    shown = written(ctx, val)
    if shown is None and val.quantity is not None:
        shown = f"{val.quantity.value:g} {val.quantity.unit}".strip()
    if shown is None and obs.hasMember and not obs.component:
        return  # a panel (a pathology report's section): its members carry the results
    if shown is None and obs.dataAbsentReason is not None:
        shown = f"no value: {ctx.describe(obs.dataAbsentReason)}"
    if shown is None:
        flags = [ctx.describe(interp) for interp in interpretations(obs)]
        shown = f"no value; interpretation {', '.join(flags)} only" if flags else None
    said_unknown = (
        ctx.match("unknown-values", val.cc)
        if val.cc is not None
        else ctx.codes("unknown-values").match_text(val.text)
    )
    if said_unknown is not None:
        # an explicit unknown (NullFlavor UNK, "unknown"): read, and it says there is no result
        shown = ctx.label(val.cc) if val.cc is not None else (val.text or "")
        ctx.issue(
            topic,
            "missing",
            f"{ref(obs)}: {name} was reported as unknown: {shown}. There is no result to use.",
            evidence(obs, when, f"{name}: reported as unknown"),
        )
        return
    ctx.issue(
        topic,
        "unreadable",
        f"{ref(obs)}: the result of {name} could not be read ({shown or 'no value'}).",
        evidence(obs, when, f"{name}: {shown or 'no value'}"),
    )


_PENDING_MARKER = {"erpr": "hr"}

# the topics under which collect() reports a test result it received but could not read (or that says
# the result is unknown), and the markers that result was for
_UNREAD_TOPICS: Final = {
    "er_status": ("er",),
    "pr_status": ("pr",),
    "hormone_receptor_status": ("er", "pr"),
    "her2_status": ("her2",),
    "her2_ihc": ("her2",),
    "her2_ish": ("her2",),
}


def unread_results(issues: Sequence[DataIssue]) -> dict[str, tuple[Evidence, ...]]:
    """Marker ("er", "pr", "her2") -> the test results for it that were received but not read, from the
    issues ``collect`` raised ("could not be read", a score that gives no status, "reported as unknown").

    A pathology result on record that could not be read leaves the status open: a receptor-status
    Condition (problem list, billing code) must not stand in for it (cds.profile.receptor_status)."""
    out: dict[str, list[Evidence]] = {}
    for issue in issues:
        markers = _UNREAD_TOPICS.get(issue.topic)
        if markers is None or issue.kind not in ("unreadable", "missing"):
            continue
        for ev in issue.evidence:
            if ev.reference.startswith("Observation/"):
                for marker in markers:
                    found = out.setdefault(marker, [])
                    if ev not in found:
                        found.append(ev)
    return {marker: tuple(found) for marker, found in out.items()}


def collect(conditions: Conditions, observations: Observations, ctx: Context) -> list[Reading]:
    readings: list[Reading] = []
    for obs in observations.coded_in(_TESTS, in_components=True):  # panels: ER and PR as components
        status = obs.status.strip().lower()
        if status not in _PENDING_STATUSES:
            readings.extend(_obs_readings(ctx, obs))
            continue
        # A result not yet final: read without reporting it as unreadable (it often has no value yet)
        got = _obs_readings(Context(ctx.terminology, ctx.today), obs, status)
        if not got:
            kind = _classify(ctx, obs.code)
            if kind is None:
                continue
            when = observation_date(obs)
            name = ctx.label(obs.code)
            marker = _PENDING_MARKER.get(kind[0], kind[0])
            got = [
                Reading(
                    marker, "", when, evidence(obs, when, f"{name}: {status}, no result yet"), pending=status
                )
            ]
        readings.extend(got)
    for cond in conditions.coded("receptor-conditions"):
        code = cond.code
        hit = ctx.match("receptor-conditions", code)
        if hit is None:
            continue
        when = condition_date(cond)
        for marker, value in hit.facts.items():
            readings.append(Reading(marker, value, when, evidence(cond, when, ctx.label(code)), "condition"))
    return readings
