"""Regimens and lines of metastatic therapy from the medication records, in order of start, and which of
them the disease progressed on (cds.profile.journey, points 1 and 3: records that start together,
continue or join a running regimen; a stop for progression or side effects; disease-status results).

A second agent of a class whose agents are never given together (``NEVER_COMBINED``: two CDK4/6
inhibitors, two aromatase inhibitors...) neither starts together with nor joins the regimen that has
the first: it is a switch, often for side effects. The switch starts a new regimen that keeps the
partners still running (palbociclib + letrozole, then abemaciclib: abemaciclib + letrozole) and takes
the place of the regimen before it in the same line (its start, no progression presumed). Records of
two such agents whose periods overlap are a data issue (``overlapping_class_agents``). Chemotherapy and
a CDK4/6 or PI3K/AKT/mTOR inhibitor (``ENDOCRINE_PARTNERS``) never join one regimen either: one after the
other is the next line.

An agent added later than ``JOIN_DAYS`` after the regimen began joins it only as an add-on (``_adds_on``):
endocrine therapy added to trastuzumab/pertuzumab maintenance (ASCO HER2+ 2022: for HR-positive disease,
endocrine therapy may join the maintenance), or a CDK4/6 or PI3K/AKT/mTOR inhibitor added to the endocrine
therapy it is given with (palbociclib started four months after letrozole, once it was approved), while
the records show the agents it joins still given after it began. The line goes on; no progression is
presumed. Without that evidence, or when the addition brings another endocrine backbone (letrozole, then
fulvestrant with palbociclib) or anything else, it starts the next line. So does an addition after a
progression recorded while the regimen ran (a record stopped for progression, or a disease-status result
dated after its start and up to ``PROGRESSION_GRACE_DAYS`` after the addition): capivasertib added to
fulvestrant after a restaging that found progression is the next line, fulvestrant + capivasertib, and the
fulvestrant alone before it progressed (``group_regimens`` takes the dated progressions for that).
Another endocrine backbone begun within ``JOIN_DAYS`` of the day the first was stopped for side effects,
while its CDK4/6 or PI3K/AKT/mTOR partner goes on and no progression is recorded between, is a switch in
the same line (``_replaced_backbone``: letrozole stopped for arthralgia, fulvestrant begun, palbociclib
still given).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Final

from cds.evidence import Evidence
from cds.profile.common import Context, Observations, evidence, observation_date
from cds.profile.dates import to_date
from cds.profile.medications import MedUse
from cds.profile.values import value_of, written

JOIN_DAYS: Final = 90
TOGETHER_DAYS: Final = 28  # records starting within one 4-week cycle of each other start together
ASSIGN_PROGRESSION_DAYS: Final = 30  # a progression result up to a month after a regimen's last record
#: A (neo)adjuvant chemotherapy course in two planned phases (AC then a taxane; KEYNOTE-522's
#: carboplatin-paclitaxel-pembrolizumab then AC-pembrolizumab) runs about six months: an agent started
#: while it runs, within this time of its start, is part of it, not another therapy.
EARLY_JOIN_DAYS: Final = 183
#: A progression result dated up to a month after an agent was added still came before it: the scan is
#: often reported, or its result entered, days or weeks after the visit that changed the therapy (review
#: 14: a result entered 14 days after everolimus was added marked everolimus as progressed on). Read the
#: other way, a new regimen would be "progressed on" and the next line offered now; read this way, an
#: early progression on it is missed until the next result, and the options stay "at progression".
PROGRESSION_GRACE_DAYS: Final = 30
RUNNING_GAP: Final = timedelta(days=42)  # two 3-weekly cycles: a clinic regimen's records are single days
#: Drug classes (cards/codes/medications.yaml) whose agents are never given together: each label pairs
#: one CDK4/6 inhibitor with an aromatase inhibitor or fulvestrant (ASCO, Burstein JCO 2021), one
#: PI3K/AKT/mTOR inhibitor with endocrine therapy, one HER2 tyrosine kinase inhibitor with trastuzumab or
#: capecitabine, one PARP inhibitor alone; one aromatase inhibitor or one SERD is the endocrine partner.
NEVER_COMBINED: Final = frozenset(
    {
        "aromatase_inhibitor",
        "serd",
        "cdk4_6_inhibitor",
        "pi3k_akt_mtor_inhibitor",
        "parp_inhibitor",
        "her2_tki",
    }
)

#: Targeted agents given with endocrine therapy, never with chemotherapy (``_apart``).
ENDOCRINE_PARTNERS: Final = frozenset({"cdk4_6_inhibitor", "pi3k_akt_mtor_inhibitor"})
#: The anti-HER2 antibodies of maintenance after first-line taxane + trastuzumab + pertuzumab, which
#: endocrine therapy may join for HR-positive disease (ASCO HER2+ 2022, https://doi.org/10.1200/JCO.22.00519).
HER2_MAINTENANCE: Final = frozenset({"trastuzumab", "pertuzumab"})
ENDOCRINE: Final = "endocrine_therapy"


@dataclass(slots=True)
class Regimen:
    uses: list[MedUse]
    start: date  # the line's start: a switch keeps the start of the regimen it replaced an agent of
    progression: Evidence | None = None
    progression_why: str = ""
    progressed: date | None = None  # when the disease progressed on it, where the records tell
    toxicity: bool = False
    agents: set[str] = field(default_factory=set)
    # began by replacing an agent of a NEVER_COMBINED class of the regimen before, not stopped for
    # progression: the same line of therapy goes on (substituting an agent of its class is no new line)
    switch: bool = False

    @property
    def current(self) -> bool:
        return any(u.current for u in self.uses)

    @property
    def end(self) -> date | None:
        """The last day a record of it ran (None while one is open-ended)."""
        ends = [u.end_date for u in self.uses]
        if self.current or any(e is None for e in ends):
            return None
        return max(e for e in ends if e is not None)

    @property
    def classes(self) -> frozenset[str]:
        return _classes(self.uses)

    def classes_at_progression(self) -> frozenset[str]:
        """What the disease progressed on: not a medicine stopped well before the progression whose place
        another medicine of its class took (fulvestrant stopped after four weeks for letrozole, which ran
        21 months to the progression), nor one stopped for side effects before it (``going_on``); a course
        that ended with nothing of its class after it stays (paclitaxel before pembrolizumab maintenance:
        the line's chemotherapy)."""
        when = self.progressed
        if when is None:
            return self.classes
        late = timedelta(days=ASSIGN_PROGRESSION_DAYS)
        running = [u for u in self.uses if u.end_date is None or u.end_date + late >= when]
        later = _classes(running)
        return _classes(
            u
            for u in self.uses
            if u in running or (later.isdisjoint(u.classes - u.agents) and u.ended_for != "toxicity")
        )

    def going_on(self) -> list[MedUse]:
        """Its records less those of a medicine stopped for side effects while the rest went on (letrozole
        added to trastuzumab + pertuzumab maintenance and stopped for arthralgia; a record of the rest in
        use now, or ending more than ``RUNNING_GAP`` later): that medicine is not taken now, nor what the
        disease progresses on, and its stop is not why the regimen ended. The medicine's last record
        decides, and all its records go: its earlier refills are not a medicine still given (palbociclib
        refilled monthly, then a cycle held for neutropenia and never given again)."""
        return self._without(
            self.uses,
            lambda records: (
                (last := last_record(records)).ended_for == "toxicity"
                and not last.current
                and self._outlived(last)
            ),
        )

    def given_now(self, uses: list[MedUse]) -> list[MedUse]:
        """Of ``uses`` (records of it), those of a medicine still given: not a chemotherapy course whose
        every record ended on a known day while the rest went on past it (``_outlived``: docetaxel
        completed after six cycles while trastuzumab + pertuzumab maintenance goes on). A record in use,
        one with no end recorded (a refill order), and a medicine given until progression, even one whose
        order "completed" or was stopped with no reason read (palbociclib beside letrozole still taken:
        review 14): a progression on the line is one after it too (review 16)."""
        return self._without(
            uses,
            lambda records: all(
                "chemotherapy" in u.classes and not u.current and u.end_date is not None and self._outlived(u)
                for u in records
            ),
        )

    def taken_now(self, uses: list[MedUse]) -> list[MedUse]:
        """Of ``uses`` (what ``given_now`` keeps), those of a medicine the patient still takes: not one
        whose last record was stopped (status "stopped", not for side effects: ``going_on`` drops those)
        while the rest went on past it (palbociclib stopped for patient choice, letrozole still taken;
        review 18 P2-5). The line goes on, and a progression on it is one after that medicine too. A last
        record that is a pause (``mark_pauses``: "Cycle held - ANC 0.9, restart next week") is no stop:
        the medicine is still part of what she takes (review 20 A8)."""
        return self._without(
            uses,
            lambda records: (
                not any(u.current for u in records)
                and (last := last_record(records)).stopped
                and not last.paused
                and all(self._outlived(u) for u in records)
            ),
        )

    def _without(self, uses: list[MedUse], ended: Callable[[list[MedUse]], bool]) -> list[MedUse]:
        """``uses`` less the records of each medicine of it whose records, taken together, ``ended``;
        all of ``uses`` when that would leave none."""
        records = {a: [u for u in self.uses if a in u.agents] for a in self.agents}
        finished = {a for a, some in records.items() if some and ended(some)}
        kept = [u for u in uses if not u.agents <= finished]
        return kept or uses

    def ended_for(self) -> str | None:
        """Why it ended, as its records that went on to its end say (progression, toxicity, completed)."""
        return _stop_reason(self.going_on())

    def _outlived(self, use: MedUse) -> bool:
        end = use.end_date
        return any(
            other.current
            or (end is not None and other.end_date is not None and other.end_date > end + RUNNING_GAP)
            for other in self.uses
            if other is not use
        )

    def label(self, uses: Iterable[MedUse] | None = None) -> str:
        names = dict.fromkeys(d.name for u in (self.uses if uses is None else uses) for d in u.drugs)
        return " + ".join(names)


def regimens_of(uses: list[MedUse], ctx: Context, progressions: Sequence[date] = ()) -> list[Regimen]:
    """The metastatic regimens of ``uses`` (dated, or in use now), with why each ended: stopped for
    progression or side effects, or (presumed) progressed when the next line began; ``progressions``,
    the dates of disease-status results that say the disease worsened, keep an agent added after one
    from joining the regimen as an add-on (``group_regimens``)."""
    undated = [u for u in uses if u.start_date is None and not u.current]
    if undated:
        ctx.issue(
            "metastatic_lines",
            "missing",
            f"{len(undated)} metastatic-setting medicine record(s) have no start date and were not "
            "placed in a line.",
            *(u.evidence for u in undated[:5]),
        )
    regimens = group_regimens(
        [u for u in uses if u.start_date is not None or u.current], ctx.today, progressions=progressions
    )
    mark_pauses(regimens, ctx.today)
    for before, after in pairwise(regimens):
        stop = before.ended_for()
        if stop == "toxicity":
            before.toxicity = True
        elif stop == "progression":
            _stopped_for_progression(before)
        elif stop is None and not after.switch:
            before.progression = after.uses[0].evidence
            before.progression_why = f"presumed: the next line began {after.start.isoformat()}"
            before.progressed = after.start
    if regimens:
        tail = regimens[-1]
        stop = tail.ended_for()
        if stop == "progression":
            _stopped_for_progression(tail)
        elif stop == "toxicity" and not tail.current:
            tail.toxicity = True
    return regimens


def mark_pauses(regimens: list[Regimen], today: date) -> None:
    """Mark the records that are a pause in their line, not a stop (``MedUse.paused``): a hold or a dose
    change is routine (the CDK4/6 inhibitor labels interrupt the dose for neutropenia and resume it at
    the same or the next lower dose), and reading one as a stop for side effects made the journey say
    "on letrozole + palbociclib; stopped for side effects: palbociclib" (reviews 20 and 21). A record is a
    pause when, in its line (a regimen and the switches within a drug class that follow it):
    * it was stopped for side effects, or says it is held (``MedUse.held``), and a later record gives the
      same medicine again (``_given_again``: the 100 mg refills after "Grade 3 neutropenia - dose
      reduced"); or
    * it says it is held, the line goes on (a record of it in use now), and the hold is in force (an
      order "on-hold" whose period runs on: FHIR's "expected to continue") or recent (within
      ``RUNNING_GAP``, two 3-weekly cycles): "Cycle held - ANC 0.9, restart next week" on the last
      palbociclib order beside letrozole still taken. A medicine held longer than that and not given
      since has, on the record, stopped (review 23, H1: a hold of March read as "on letrozole +
      palbociclib" in December).
    A stop for progression is never a pause. A hold whose line has ended with it, nothing given after it,
    or held longer than ``RUNNING_GAP``, is read as its reason says (a stop for side effects, or a stop
    with its reason quoted)."""
    lines: list[list[Regimen]] = []
    for regimen in regimens:
        if regimen.switch and lines:
            lines[-1].append(regimen)
        else:
            lines.append([regimen])
    for line in lines:
        records = list({id(u): u for regimen in line for u in regimen.uses}.values())
        stops = [
            u for u in records if u.stop_reason != "progression" and (u.held or u.stop_reason == "toxicity")
        ]
        for use in stops:
            if _given_again(use, records):
                use.paused = True
                use.current = False  # an on-hold order with no end is in use until a later record of it
        going_on = any(u.current for u in records)
        for use in stops:
            if use.held and going_on and (use.current or _held_lately(use, today)):
                use.paused = True


def _held_lately(use: MedUse, today: date) -> bool:
    """The hold began (its record ended, or was written) within ``RUNNING_GAP`` before ``today``."""
    since = use.end_date or use.start_date
    return since is not None and today - since <= RUNNING_GAP


def _given_again(use: MedUse, records: Sequence[MedUse]) -> bool:
    """A record of ``records`` gives the medicine of ``use`` (all its agents) again after it: begun
    after ``use`` began, and not before it ended (a refill written within its supply is no restart).
    A stop with no end recorded may be an order for the whole course, stopped on a day not recorded
    (trastuzumab deruxtecan ordered once, given as administrations until pneumonitis stopped it): what
    began after it is then no evidence it was given again, unless the record itself says it is held and
    the later record is of its kind (the next monthly order after an order held)."""
    began = use.start_date
    if began is None or (use.end_date is None and not use.held):
        return False
    since = max(began, use.end_date or began)
    return any(
        other is not use
        and use.agents <= other.agents
        and other.start_date is not None
        and other.start_date > began
        and other.start_date >= since
        and (use.end_date is not None or other.kind == use.kind)
        for other in records
    )


def _stopped_for_progression(regimen: Regimen) -> None:
    use = next(u for u in regimen.uses if u.stop_reason == "progression")
    regimen.progression = use.evidence
    regimen.progression_why = "stopped for progression"
    regimen.progressed = use.end_date


def group_regimens(
    uses: list[MedUse],
    today: date,
    join_days: int = JOIN_DAYS,
    *,
    add_ons: bool = True,
    progressions: Sequence[date] = (),
) -> list[Regimen]:
    """Medicines of a line (dated, or in use now) grouped into regimens, in order of start: records that
    start together, continue the running regimen, or join it within ``join_days`` of its start
    (cds.profile.journey, point 1; (neo)adjuvant therapy uses ``EARLY_JOIN_DAYS``); a switch within a
    ``NEVER_COMBINED`` class starts a new regimen with the partners still running (module docstring).
    With ``add_ons``, a later addition joins as an add-on (``_adds_on``); the (neo)adjuvant count leaves
    it out (endocrine therapy after radiotherapy is another early therapy there). An add-on after one of
    ``progressions`` (dates of results that say the disease worsened) while the regimen ran starts the
    next line instead, with the records of what it joined still given (``_after_progression``)."""
    dated = sorted(uses, key=lambda u: u.start_date or today)
    regimens: list[Regimen] = []
    join = timedelta(days=join_days)
    for group in _started_together(dated, today):
        start = group[0].start_date or today
        agents = frozenset(a for u in group for a in u.agents)
        last = regimens[-1] if regimens else None
        running = last is not None and _running_at(last, start)
        if last is not None and running and agents <= last.agents:
            last.uses.extend(group)  # refills, cycles, a switch of formulation or route
        elif last is not None and running and start - last.start <= join:
            held, added = _class_agents(last.uses), _class_agents(group)
            if _conflict(held, added):  # another agent of a NEVER_COMBINED class the regimen has
                regimens.append(_switched(last, group, held, added, start))
            elif _apart(last.uses, group):
                regimens.append(_regimen(group, start))  # chemotherapy after a CDK4/6 inhibitor, or back
            else:
                last.uses.extend(group)  # an agent added to the running regimen
                last.agents |= agents
        elif (
            last is not None
            and running
            and not _progressed_between(last.start, start, progressions)
            and (gone := _replaced_backbone(last, group, start))
        ):
            regimens.append(_with_new_backbone(last, group, start, gone))
        elif add_ons and last is not None and (joined := _adds_on(last, group, start, dated, today)):
            if _progressed_between(last.start, start, progressions):  # the next line, with its partner
                regimens.append(_after_progression(last, group, joined, start))
            else:
                last.uses.extend(group)  # added to a regimen still given: the same line goes on
                last.agents |= agents
        else:
            regimens.append(_regimen(group, start))
    return regimens


def _progressed_between(began: date, added: date, progressions: Sequence[date]) -> bool:
    """A progression result dated after the regimen ``began`` and on or before the day an agent was
    ``added`` (up to ``PROGRESSION_GRACE_DAYS`` after it): the addition answers that progression."""
    grace = timedelta(days=PROGRESSION_GRACE_DAYS)
    return any(began < when <= added + grace for when in progressions)


def _after_progression(last: Regimen, group: list[MedUse], joined: set[str], start: date) -> Regimen:
    """The next line an addition after a progression starts: the group, with the records of ``last`` of
    the agents it joined that are still given after ``start`` (fulvestrant continued beside capivasertib:
    in use now, or ending after it). Those records stay in ``last`` too, which the progression ends."""
    return _regimen(group + [u for u in last.uses if _still_given(u, joined, start)], start)


def _adds_on(
    last: Regimen, group: list[MedUse], start: date, uses: list[MedUse], today: date
) -> set[str] | None:
    """The agents of ``last`` that ``group`` joins when it is an add-on to it (None when it is not):
    ``group``, started later than ``JOIN_DAYS`` into ``last``, is an add-on to it: endocrine therapy
    joining trastuzumab/pertuzumab maintenance, or a CDK4/6 or PI3K/AKT/mTOR inhibitor joining endocrine
    therapy, while the agents it joins are still given after ``start`` (``_given_after``; records of the
    group with agents of ``last`` only, an infusion or a new order of the same letrozole, go on with it).
    Not another agent of a ``NEVER_COMBINED`` class, not chemotherapy beside a CDK4/6 inhibitor
    (``_apart``), not another endocrine agent beside the one the regimen has (an aromatase inhibitor then
    fulvestrant, or back, is a new endocrine backbone: the next line), not a second targeted partner, and
    nothing else (chemotherapy, an antibody-drug conjugate, a HER2 tyrosine kinase inhibitor: what follows
    a progression), nor anything after a record of ``last`` stopped for progression (not a stop for
    progression that came later: trastuzumab + pertuzumab stopped at the progression on them and the
    anastrozole added a year before; review 28, P2-4). (After a progression result the caller starts the
    next line with what it joins: ``group_regimens``.)"""
    if _conflict(_class_agents(last.uses), _class_agents(group)) or _apart(last.uses, group):
        return None
    if _progressed_by(last.uses, start):
        return None  # a record of it was stopped for progression before: what follows is the next line
    new = [d for u in group if not u.agents <= last.agents for d in u.drugs if d.name not in last.agents]
    if not new or any(ENDOCRINE not in d.classes and ENDOCRINE_PARTNERS.isdisjoint(d.classes) for d in new):
        return None
    had = last.classes
    endocrine = any(ENDOCRINE in d.classes for d in new)
    partner = any(not ENDOCRINE_PARTNERS.isdisjoint(d.classes) for d in new)
    if partner and not had.isdisjoint(ENDOCRINE_PARTNERS):
        return None  # a second targeted partner
    if ENDOCRINE in had:  # a CDK4/6 or PI3K/AKT/mTOR inhibitor joins its endocrine therapy
        joined = {a for u in last.uses if ENDOCRINE in u.classes for a in u.agents}
        adds = not endocrine and _given_after(joined, last.uses, start, uses, today)
    else:  # endocrine therapy (with or without its partner) joins anti-HER2 maintenance
        joined = {a for u in last.uses if not HER2_MAINTENANCE.isdisjoint(u.classes) for a in u.agents}
        adds = endocrine and bool(joined) and _given_after(joined, last.uses, start, uses, today)
    return joined if adds else None


def _given_after(agents: set[str], held: list[MedUse], start: date, uses: list[MedUse], today: date) -> bool:
    """A record shows one of ``agents`` still given at ``start``: one of the regimen's (``held``) in use now,
    or whose recorded period or last administration ends after ``start``; or any record of it that begins
    on ``start`` or within ``RUNNING_GAP`` after it (the next infusion, the next refill, a new order with
    the added agent). An open-ended record neither in use now nor ended is no such evidence: EHRs leave
    orders open long after the medicine was stopped."""
    soon = start + RUNNING_GAP
    return any(_still_given(u, agents, start) for u in held) or any(
        not agents.isdisjoint(u.agents) and start <= (u.start_date or today) <= soon for u in uses
    )


def _still_given(use: MedUse, agents: set[str], start: date) -> bool:
    """A record of one of ``agents`` in use now, or whose recorded period or last administration ends
    after ``start`` (``_runs_past``)."""
    return not agents.isdisjoint(use.agents) and _runs_past(use, start)


def _runs_past(use: MedUse, day: date) -> bool:
    """In use now, or its recorded period or last administration ends after ``day``."""
    return use.current or (use.end_date is not None and use.end_date > day)


def _apart(before: Iterable[MedUse], after: Iterable[MedUse]) -> bool:
    """Chemotherapy and a CDK4/6 or PI3K/AKT/mTOR inhibitor are never one regimen (their labels pair
    these inhibitors with endocrine therapy only): one joining the other is the next line."""
    had, adds = _classes(before), _classes(after)
    return bool(
        ("chemotherapy" in had and adds & ENDOCRINE_PARTNERS)
        or (had & ENDOCRINE_PARTNERS and "chemotherapy" in adds)
    )


def _classes(uses: Iterable[MedUse]) -> frozenset[str]:
    return frozenset(c for u in uses for c in u.classes)


def _regimen(uses: list[MedUse], start: date, *, switch: bool = False) -> Regimen:
    return Regimen(list(uses), start, agents={a for u in uses for a in u.agents}, switch=switch)


def _class_agents(uses: Iterable[MedUse]) -> dict[str, set[str]]:
    """The agents of each ``NEVER_COMBINED`` class among ``uses``."""
    found: dict[str, set[str]] = {}
    for use in uses:
        for drug in use.drugs:
            for cls in NEVER_COMBINED.intersection(drug.classes):
                found.setdefault(cls, set()).add(drug.name)
    return found


def _conflict(held: dict[str, set[str]], added: dict[str, set[str]]) -> bool:
    """``added`` brings an agent of a ``NEVER_COMBINED`` class of which ``held`` has another agent."""
    return any(cls in held and not names <= held[cls] for cls, names in added.items())


def _replaced_backbone(last: Regimen, group: list[MedUse], start: date) -> set[str]:
    """``group`` is endocrine therapy (with renewals of what ``last`` gives: the next monthly palbociclib
    order) begun within ``JOIN_DAYS`` of the day an endocrine medicine of ``last`` was stopped for side
    effects (or after it began, when the stop has no date), while its targeted partner goes on (in use
    now, or recorded past that day: ``_runs_past``; one stopped with it is no partner going on): the
    backbone replaced in the same line (an aromatase inhibitor stopped for arthralgia, fulvestrant begun
    that day, palbociclib still given; review 24, N2), not a new line after a progression on the first.
    The caller keeps a progression result between the two a new line (review 25, Q1: the disease
    progressed on letrozole + palbociclib, then fulvestrant began). The endocrine agents replaced
    (``_stopped_backbone``), or none when it is no such switch."""
    new = [u for u in group if not u.agents <= last.agents]  # not a renewal of what it gives (review 26)
    if not new or not all(ENDOCRINE in u.classes for u in new):
        return set()
    gone = _stopped_backbone(last, start)
    partner_goes_on = any(
        not ENDOCRINE_PARTNERS.isdisjoint(u.classes) and u.agents.isdisjoint(gone) and _runs_past(u, start)
        for u in (*last.uses, *group)
    )
    return gone if partner_goes_on else set()


def _stopped_backbone(last: Regimen, start: date) -> set[str]:
    """The endocrine agents of ``last`` stopped for side effects within ``JOIN_DAYS`` before ``start`` (or
    on it), or, with no end recorded, begun before it."""
    window = timedelta(days=JOIN_DAYS)
    return {
        a
        for u in last.uses
        if ENDOCRINE in u.classes
        and u.stop_reason == "toxicity"
        and (
            timedelta(0) <= start - u.end_date <= window
            if u.end_date is not None
            else u.stopped and u.start_date is not None and u.start_date < start
        )
        for a in u.agents
    }


def _with_new_backbone(last: Regimen, group: list[MedUse], start: date, gone: set[str]) -> Regimen:
    """The regimen ``_replaced_backbone`` finds: the new endocrine therapy with what of ``last`` still
    runs (the targeted partner, ovarian suppression) but the agents it replaced (``gone``), the line's
    start kept, as a switch."""
    kept = [u for u in last.uses if _use_running_at(u, start) and u.agents.isdisjoint(gone)]
    return _regimen(group + kept, last.start, switch=True)


def _switched(
    last: Regimen, group: list[MedUse], held: dict[str, set[str]], added: dict[str, set[str]], start: date
) -> Regimen:
    """The regimen ``group`` starts by switching within a ``NEVER_COMBINED`` class of ``last`` (whose
    class agents are ``held``; the group's, ``added``): with the partners still running, in the same line
    unless ``last`` was stopped for progression by then (``_progressed_by``); with a new partner as well,
    a new line."""
    replaces_only = all(
        use.agents <= last.agents or all(not held.keys().isdisjoint(d.classes) for d in use.drugs)
        for use in group
    )
    if not replaces_only:
        return _regimen(group, start)
    kept = [u for u in last.uses if _use_running_at(u, start) and not _conflict(added, _class_agents([u]))]
    if _progressed_by(last.uses, start):  # the next line
        return _regimen(group + kept, start)
    return _regimen(group + kept, last.start, switch=True)  # the same line goes on


def _progressed_by(uses: Iterable[MedUse], day: date) -> bool:
    """A record stopped for progression on or before ``day`` (or on a day not recorded): what begins on
    ``day`` follows that progression. A stop for progression after it is a later progression of the line
    that goes on (the anastrozole given with abemaciclib, then palbociclib after a switch for diarrhoea,
    stopped for progression two years later: review 30, P2-5; endocrine therapy added to trastuzumab +
    pertuzumab maintenance: review 28, P2-4)."""
    return any(u.ended_for == "progression" and (u.end_date is None or u.end_date <= day) for u in uses)


def _started_together(uses: list[MedUse], today: date) -> list[list[MedUse]]:
    """Records (sorted by start) that start within ``TOGETHER_DAYS`` of the first of them: one start,
    unless a record switches within a ``NEVER_COMBINED`` class of the start (then it starts another)."""
    groups: list[list[MedUse]] = []
    held: dict[str, set[str]] = {}  # the NEVER_COMBINED agents of the last start
    window = timedelta(days=TOGETHER_DAYS)
    for use in uses:
        start = use.start_date or today
        added = _class_agents([use])
        if groups and start - (groups[-1][0].start_date or today) <= window and not _conflict(held, added):
            groups[-1].append(use)
            for cls, names in added.items():
                held.setdefault(cls, set()).update(names)
        else:
            groups.append([use])
            held = added
    return groups


def _running_at(regimen: Regimen, when: date) -> bool:
    """Still given at ``when``: a record in use, open-ended, or ended within ``RUNNING_GAP`` before it
    (an administration every three weeks is a record of one day each time)."""
    return any(_use_running_at(u, when) for u in regimen.uses)


def _use_running_at(use: MedUse, when: date) -> bool:
    return use.current or use.end_date is None or use.end_date >= when - RUNNING_GAP


def overlapping_class_agents(uses: list[MedUse]) -> list[tuple[str, MedUse, MedUse]]:
    """(class, earlier, later) for records of two agents of a ``NEVER_COMBINED`` class recorded as taken
    at the same time: the earlier in use now, or ended on or after the later's start. Records without a
    start date, or ended on a day not recorded, are left out (nothing to compare); one pair per class."""
    several = sorted(cls for cls, names in _class_agents(uses).items() if len(names) > 1)
    if not several:
        return []  # no class with two agents: nothing can overlap (most charts)
    dated = sorted((u for u in uses if u.start_date is not None), key=lambda u: u.start_key)
    found: list[tuple[str, MedUse, MedUse]] = []
    for cls in several:
        longest: dict[str, MedUse] = {}  # agent -> its record that runs longest so far
        for use in dated:
            names = {d.name for d in use.drugs if cls in d.classes}
            start = use.start_date
            if not names or start is None:
                continue
            other = next((e for n, e in longest.items() if n not in names and _until(e) >= start), None)
            if other is not None:
                found.append((cls, other, use))
                break
            for name in names:
                if name not in longest or _until(use) > _until(longest[name]):
                    longest[name] = use
    return found


def last_record(records: Sequence[MedUse]) -> MedUse:
    """The latest of a medicine's records: one in use, else the one that began last (a refill ordered
    after a stopped dose, review 20; a stop order written within the last refill's supply, review 21);
    of those that began the same day, one with no end (a stop order written beside the refill: review
    22), else the one that ended last."""
    return max(
        records,
        key=lambda u: (u.current, u.start_date or u.end_date or date.min, u.end_date or date.max),
    )


def _until(use: MedUse) -> date:
    """The last day a record is known to run: today and on while in use, else its end."""
    return date.max if use.current else (use.end_date or date.min)


def _stop_reason(uses: Iterable[MedUse]) -> str | None:
    reasons = {u.ended_for for u in uses if u.ended_for}
    for reason in ("progression", "toxicity", "completed"):
        if reason in reasons:
            return reason
    return None


def progression_results(
    observations: Observations, ctx: Context
) -> tuple[list[tuple[date, Evidence]], list[date]]:
    """The dated disease-status results that say the disease worsened, in the order received, and the
    dates of those that say it did not (a restaging that settles whether a new site was a progression);
    results that cannot be read are reported (a progression they record is not known)."""
    found: list[tuple[date, Evidence]] = []
    settled: list[date] = []
    unread: list[Evidence] = []
    for obs in observations.coded("disease-status-tests"):
        val = value_of(obs)
        hit = ctx.match("disease-status-values", val.cc) if val.cc is not None else None
        value = hit.value if hit is not None else None
        if value is None and val.text:
            text_hit = ctx.terminology.codes("disease-status-values").match((), val.text)
            value = text_hit.value if text_hit is not None else None
        when = to_date(observation_date(obs))
        if value is None:
            unread.append(
                evidence(obs, observation_date(obs), f"disease status: {written(ctx, val) or 'no value'}")
            )
        if value == "progressed" and when is not None:
            found.append((when, evidence(obs, when.isoformat(), "disease progression")))
        elif value is not None and when is not None:
            settled.append(when)
    if unread:
        ctx.issue(
            "progressed_on",
            "unreadable",
            f"{len(unread)} disease-status result(s) could not be read: a progression they record is not "
            "known, so a next-line option may repeat a therapy the disease progressed on.",
            *unread[:5],
        )
    return found, settled


def mark_progressions(regimens: list[Regimen], results: Sequence[tuple[date, Evidence]]) -> None:
    """Disease-status results that say the disease worsened (``progression_results``) mark the regimen
    running then: the latest that began on or before the result and ended no more than
    ``ASSIGN_PROGRESSION_DAYS`` before it. A regimen begun no more than ``PROGRESSION_GRACE_DAYS`` before
    the result is what that progression led to (``_progressed_between``): the result marks the regimen
    before it, when that one ran then."""
    late = timedelta(days=ASSIGN_PROGRESSION_DAYS)
    grace = timedelta(days=PROGRESSION_GRACE_DAYS)

    def ran(regimen: Regimen, when: date) -> bool:
        end = regimen.end
        return regimen.start <= when and (end is None or when <= end + late)

    for when, found in results:
        hits = [i for i, regimen in enumerate(regimens) if ran(regimen, when)]
        if not hits:
            continue
        chosen = hits[-1]
        if regimens[chosen].start + grace >= when and len(hits) > 1:
            chosen = hits[-2]  # the regimen it led to began days before the result was dated
        regimen = regimens[chosen]
        regimen.progression = found
        regimen.progression_why = f"progression recorded {when.isoformat()}"
        regimen.progressed = when
