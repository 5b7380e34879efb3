"""Breast cancer, metastatic disease and metastatic sites.

* ``breast_cancer``: "yes" when a usable (not refuted / entered-in-error) Condition is a primary breast
  cancer (cds.profile.breast_primary: code list ``breast-cancer``, SNOMED, any ICD-10 flavour C50, text
  fallback; or a generic malignant-neoplasm code with a breast bodySite, as mCODE codes it) and is not
  recorded as unconfirmed (provisional / differential, "suspected", "rule out": ``unknown`` with a
  ``pending`` DataIssue asking for a confirmed diagnosis, as for an unconfirmed metastasis); "no" when usable
  Conditions were sent and none is a breast, secondary, receptor-status or BRCA Condition; else
  "unknown". When it is not "yes" but metastatic disease is recorded and no other primary cancer is, a
  ``missing`` DataIssue says the breast cancer diagnosis was not found and what to record.
* ``metastatic``: evidence from current secondary-cancer Conditions (yes; lymph nodes alone only when named
  distant, see below), site-of-distant-metastasis Observations (LOINC 44667-4, the MII / oBDS
  "Fernmetastasen" SNOMED 385421009: yes), ``Condition.stage.summary``
  and stage-group Observations (stage IV = yes, a lower stage = no) and M-category Observations
  (M1 = yes, M0 = no), from their value or, for a TNM panel without one, from its stage-group and
  M-category components. The most recent dated evidence wins. A disagreement is reported as a
  ``conflicting`` DataIssue naming both resources, except an earlier "no" followed by a later "yes": that
  is how a relapse reads (stage II at diagnosis, M1 at recurrence), not a data error. A resolved /
  inactive / remission secondary Condition does not count as current disease.
* A secondary Condition counts as breast cancer only when the metastasis is FROM the breast (SNOMED
  315004001, "metastatic breast cancer"); one TO the breast (ICD-10-CM/-GM C79.81 "Secondary malignant
  neoplasm of breast", "metastasis to the breast") is a site (other) and, with no breast primary, the
  ``missing`` DataIssue names it and asks to check the primary (C79.81 is sometimes misused for metastatic
  breast cancer).
* ``metastatic_sites``: bone, liver, lung (pleura counts as lung), brain, nodes, other, from the
  secondary Conditions' code, then bodySite, then text. ``visceral_metastases`` = liver/lung/brain;
  ``bone_only_disease`` = sites are exactly {bone}. A secondary Condition without a site (128462008,
  C79.9) next to site-specific ones is read as the same disease (noted); alone it leaves the sites,
  visceral and bone-only "unknown".
* Lymph nodes: ipsilateral axillary, internal mammary and supraclavicular nodes are regional (N) disease in
  breast cancer, not M1. A secondary Condition whose only site is lymph nodes counts as metastatic only
  when the nodes are named distant (code list ``distant-lymph-nodes``). Otherwise, when it is the only
  evidence or newer than the latest "not metastatic" one, ``metastatic`` is "unknown" with a ``missing``
  DataIssue asking for the M category or stage group; next to other evidence of metastatic disease the
  nodes are one more site (they do not date it).

Reading a stage or an M category is cds.profile.staging; other primary cancers, cds.profile.other_primary.

One module, about 520 lines, because ``derive_disease`` weighs every piece of evidence of spread
(Conditions, stage groups, M categories, site Observations) against the others in date order, and
splitting that weighing would scatter one decision; records that only hint at spread are in
cds.profile.unconfirmed_metastasis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from cds.fhir import models
from cds.fhir.codes import Match, find_phrase, norm_code, system_key, words
from cds.profile.breast_primary import breast_primary, check_in_situ, unconfirmed_diagnosis
from cds.profile.common import (
    UNCONFIRMED,
    Conditions,
    Context,
    MedicationRecord,
    Observations,
    components,
    condition_current,
    condition_date,
    evidence,
    observation_date,
    ref,
    status_code,
)
from cds.profile.dates import NO_DATE, date_key
from cds.profile.model import VISCERAL_SITES, Evidence, Fact, YesNoUnknown
from cds.profile.other_primary import OtherPrimaries, add_other_primary
from cds.profile.staging import m_value, parse_stage, stage_value
from cds.profile.unconfirmed_metastasis import (
    distant_nodes,
    nodal_unknown,
    treated_for_secondary,
    treated_unknown,
)
from cds.profile.values import Value, value_of

# Facts without evidence are the same every call (and immutable): made once.
_UNKNOWN: Final[Fact[YesNoUnknown]] = Fact("unknown")
_NO_SITES: Final[Fact[frozenset[str]]] = Fact(frozenset())


class _Ev:
    __slots__ = ("evidence", "key", "value", "when")

    def __init__(self, when: str | None, value: Literal["yes", "no"], evidence: Evidence) -> None:
        self.when = when
        self.key = date_key(when)  # once: sorted and compared several times below
        self.value = value
        self.evidence = evidence


class DiseaseFacts:
    __slots__ = (
        "bone_only_disease",
        "breast_cancer",
        "metastatic",
        "metastatic_since",
        "metastatic_sites",
        "other_primary_cancer",
        "secondary_refs",
        "sites_seen",
        "visceral_metastases",
    )

    def __init__(
        self,
        breast_cancer: Fact[YesNoUnknown],
        metastatic: Fact[YesNoUnknown],
        metastatic_sites: Fact[frozenset[str]],
        visceral_metastases: Fact[YesNoUnknown],
        bone_only_disease: Fact[YesNoUnknown],
        metastatic_since: str | None,
        secondary_refs: frozenset[str],
        other_primary_cancer: Fact[YesNoUnknown] = _UNKNOWN,
        sites_seen: tuple[tuple[str, Evidence], ...] = (),
    ) -> None:
        self.breast_cancer = breast_cancer
        self.metastatic = metastatic
        self.metastatic_sites = metastatic_sites
        self.visceral_metastases = visceral_metastases
        self.bone_only_disease = bone_only_disease
        self.metastatic_since = metastatic_since  # earliest dated evidence of metastatic disease
        self.secondary_refs = secondary_refs  # "Condition/id" of current secondary-cancer Conditions
        self.other_primary_cancer = other_primary_cancer
        self.sites_seen = sites_seen  # each metastatic site with a record naming it (the journey dates them)


def derive_disease(
    conditions: Conditions,
    observations: Observations,
    ctx: Context,
    medications: Sequence[MedicationRecord] = (),
) -> DiseaseFacts:
    breast_ev: list[Evidence] = []
    resolved_ev: list[Evidence] = []  # breast cancer Conditions recorded as resolved / inactive / remission
    other_primary = OtherPrimaries()
    unconfirmed: list[Evidence] = []  # provisional / differential metastases: not counted
    unconfirmed_breast: list[tuple[Evidence, str]] = []  # breast cancer not yet confirmed: not counted
    to_breast_ev: list[Evidence] = []  # metastases TO the breast (C79.81): a site, not a breast primary
    examined = 0
    other_cancer_related = 0
    evs: list[_Ev] = []
    secondary_refs: set[str] = set()
    sites: set[str] = set()
    site_ev: list[Evidence] = []
    seen: list[tuple[str, Evidence]] = []  # each site with the record that names it (dated or not)

    def site_found(
        site: str, resource: models.Condition | models.Observation, when: str | None, shown: str
    ) -> None:
        ev = evidence(resource, when, f"Metastasis site {site}: {shown}")
        sites.add(site)
        site_ev.append(ev)
        seen.append((site, ev))

    unknown_sites = 0
    nodal: list[tuple[_Ev, str]] = []  # nodal secondaries that may be regional: not M1 on their own
    sites_list = ctx.codes("metastasis-sites")

    for cond in conditions.usable():
        examined += 1
        code = cond.code
        when = condition_date(cond)
        breast_hit = breast_primary(ctx, cond)
        breast = breast_hit[0] if breast_hit is not None else None
        secondary = ctx.match("secondary-cancer", code)
        current = condition_current(cond)
        primary = None if breast is not None else ctx.match("other-primary-cancer", code)
        if primary is not None and (secondary is None or primary.via == "code"):
            # another primary malignancy (Synthea codes some primaries with "secondary" concepts: by code,
            # the other-primary list wins)
            add_other_primary(ctx, cond, code, when, current, other_primary)
            if secondary is not None:
                continue
        not_made = unconfirmed_diagnosis(ctx, cond) if breast_hit is not None else None
        if breast_hit is not None and not_made is not None:
            # provisional / differential / "suspected", "rule out": not counted (as for a metastasis)
            if current:
                shown_as = f"Unconfirmed ({not_made}) breast cancer: {breast_hit[1]}"
                unconfirmed_breast.append((evidence(cond, when, shown_as), not_made))
        elif breast_hit is not None:
            read_as = breast_hit[1]
            check_in_situ(ctx, cond, when)
            if current:
                breast_ev.append(evidence(cond, when, f"Breast cancer: {read_as}"))
            else:
                resolved_ev.append(evidence(cond, when, f"Breast cancer (resolved / inactive): {read_as}"))
            named = ctx.describe(code)
            in_name = parse_stage(named) if "stage" in named.lower() else None
            if in_name is not None:  # "Malignant neoplasm of breast, stage IV" (local problem lists)
                ev = evidence(cond, when, f"Stage (in the diagnosis): {named}")
                evs.append(_Ev(when, "yes" if in_name == "iv" else "no", ev))
            for cond_stage in cond.stage or ():
                stage_v = stage_value(ctx, cond_stage.summary)
                if stage_v is not None:
                    evs.append(
                        _Ev(
                            when,
                            "yes" if stage_v == "iv" else "no",
                            evidence(cond, when, f"Stage (on condition): {ctx.describe(cond_stage.summary)}"),
                        )
                    )
        if secondary is not None:
            other_cancer_related += 1
            verification = status_code(cond.verificationStatus)
            if verification in UNCONFIRMED:
                shown = f"{ref(cond)}, {when}" if when else ref(cond)
                ctx.issue(
                    "metastatic",
                    "pending",
                    f"Metastasis recorded as {verification} ({shown}): not confirmed; it was not counted "
                    "as metastatic disease.",
                    evidence(cond, when, f"Unconfirmed ({verification}) metastasis: {ctx.describe(code)}"),
                )
                unconfirmed.append(
                    evidence(cond, when, f"Unconfirmed ({verification}) metastasis: {ctx.describe(code)}")
                )
                continue
            to_breast = _metastasis_to_breast(ctx, code)
            if to_breast and current:
                to_breast_ev.append(evidence(cond, when, f"Metastasis to the breast: {ctx.label(code)}"))
            if secondary.code == "315004001" or (not to_breast and "breast" in ctx.describe(code).lower()):
                if current:
                    breast_ev.append(evidence(cond, when, f"Metastatic breast cancer: {ctx.label(code)}"))
                else:
                    resolved_ev.append(
                        evidence(cond, when, f"Metastatic breast cancer (resolved): {ctx.label(code)}")
                    )
            if not current:
                ctx.issue(
                    "metastatic",
                    "ignored",
                    f"{ref(cond)} records a secondary cancer that is resolved/inactive/in remission; "
                    "it was not counted as current metastatic disease.",
                    evidence(cond, when, f"Secondary cancer (not current): {ctx.describe(code)}"),
                )
                continue
            site = _site(ctx, cond, secondary_site=ctx.match("metastasis-sites", code))
            if site is None and to_breast:
                site = "other"  # the breast, named in the text only ("Metastasis to the left breast")
            if site == "nodes" and not distant_nodes(ctx, cond):
                # axillary, internal mammary, supraclavicular nodes are regional (N), not M1: counted only
                # next to other evidence of metastatic disease (below)
                ev = evidence(cond, when, f"Lymph-node disease (regional or distant?): {ctx.label(code)}")
                nodal.append((_Ev(when, "yes", ev), ref(cond)))
                site_found(site, cond, when, ctx.describe(code))  # counted only when metastatic (below)
                continue
            ev = evidence(cond, when, f"Secondary cancer: {ctx.label(code)}")
            evs.append(_Ev(when, "yes", ev))
            secondary_refs.add(ref(cond))
            if site is None:
                unknown_sites += 1
            else:
                site_found(site, cond, when, ctx.describe(code))
        elif breast is None and (
            ctx.match("receptor-conditions", code) or ctx.match("brca-conditions", code)
        ):
            other_cancer_related += 1

    def staging(obs: models.Observation, code: models.CodeableConcept | None, val: Value) -> None:
        """A stage group (stage IV = yes, lower = no) or an M category (M1 = yes, M0 = no), read from
        the Observation's value or from one of its components (code and value)."""
        when = observation_date(obs)
        text = ctx.describe(val.cc) if val.cc is not None else (val.text or "")
        if ctx.match("stage-group-tests", code) is not None:
            stage = stage_value(ctx, val.cc) if val.cc is not None else parse_stage(val.text)
            if stage is not None:
                said = evidence(obs, when, f"Stage group: {text}")
                evs.append(_Ev(when, "yes" if stage == "iv" else "no", said))
            elif not val.empty:
                ctx.issue(
                    "metastatic",
                    "unreadable",
                    f"{ref(obs)}: stage group value could not be read.",
                    evidence(obs, when, f"Stage group: {text}"),
                )
        elif (m := m_value(ctx, val.cc, val.text)) is not None:
            said = evidence(obs, when, f"Distant metastasis (M): {text}")
            evs.append(_Ev(when, "yes" if m == "m1" else "no", said))

    def tnm(obs: models.Observation) -> None:
        val = value_of(obs)
        if not val.empty or not obs.component:
            staging(obs, obs.code, val)
            return
        # a TNM panel: the stage group and the M category in components (Kenya NCCP staging profile)
        for comp in components(obs):
            if ctx.match("stage-group-tests", comp.code) or ctx.match("m-category-tests", comp.code):
                staging(obs, comp.code, value_of(comp))

    for obs in observations.coded("stage-group-tests", "metastasis-history", "m-category-tests"):
        code = obs.code
        if ctx.match("stage-group-tests", code) is not None:
            tnm(obs)
        elif (history := ctx.match("metastasis-history", code)) is not None:
            when = observation_date(obs)
            val = value_of(obs)
            if history.value == "site":
                # LOINC 44667-4 (the value is a site, or "None") and SNOMED 385421009, the MII / oBDS
                # "Fernmetastasen" Observation: every value of its code system is a distant site (M1; LYM
                # is distant nodes, GEN generalised, no one site)
                obds = ctx.match("distant-metastasis-sites", val.cc, by_text=False)
                site_hit = (
                    obds or ctx.match("metastasis-sites", val.cc)
                    if val.cc is not None
                    else sites_list.match_text(val.text)
                )
                shown = ctx.describe(val.cc) if val.cc is not None else (val.text or "")
                if site_hit is not None and site_hit.value not in (None, "unknown"):
                    ev = evidence(obs, when, f"Site of distant metastasis: {shown}")
                    evs.append(_Ev(when, "yes", ev))
                    site_found(str(site_hit.value), obs, when, shown)
                elif obds is not None:
                    evs.append(_Ev(when, "yes", evidence(obs, when, f"Site of distant metastasis: {shown}")))
                    unknown_sites += 1
                elif shown.strip().lower().startswith(("none", "no ")):
                    evs.append(_Ev(when, "no", evidence(obs, when, f"Site of distant metastasis: {shown}")))
                continue
            if val.boolean is False:  # mCODE: valueBoolean false = no history of metastatic cancer
                evs.append(_Ev(when, "no", evidence(obs, when, f"{ctx.describe(code)}: no")))
                continue
            ev = evidence(obs, when, f"History of metastatic cancer: {ctx.label(code)}")
            evs.append(_Ev(when, "yes", ev))
            site_hit = sites_list.match_text(ctx.describe(code))
            if site_hit is not None and site_hit.value not in (None, "unknown"):
                site_found(str(site_hit.value), obs, when, ctx.describe(code))
            else:
                unknown_sites += 1
        elif ctx.match("m-category-tests", code) is not None:
            tnm(obs)

    # --- metastatic ----------------------------------------------------------------------------------
    metastatic = _UNKNOWN
    since: str | None = None
    today = (ctx.today.year, ctx.today.month, ctx.today.day)
    future = [e for e in evs if e.key > today]
    if future:  # a date after today is a data error: it must not decide stage 4, nor since when
        evs = [e for e in evs if e.key <= today]
        ctx.issue(
            "metastatic",
            "unreadable",
            "Dated after today, so not used for the metastatic status (check the date): "
            + "; ".join(f"{e.evidence.reference} ({e.when})" for e in future[:3])
            + ".",
            *(e.evidence for e in future[:3]),
        )
    evs_latest = NO_DATE  # the date of the evidence that decided (for a newer nodal record)
    if evs:
        ordered = sorted(evs, key=lambda e: (e.key, e.value == "yes"))
        latest = ordered[-1]
        top_key = evs_latest = latest.key
        same_day = [e for e in evs if e.key == top_key]
        value: Literal["yes", "no"] = "yes" if any(e.value == "yes" for e in same_day) else "no"
        agreeing = [e.evidence for e in reversed(ordered) if e.value == value]
        disagreeing = [e for e in reversed(ordered) if e.value != value]
        note = None
        other = disagreeing[0] if disagreeing else None
        same = other is not None and other.key == top_key
        if other is not None and (same or value == "no"):  # a later "yes" after a "no" is a relapse
            lead = latest if latest.value == value else next(e for e in reversed(ordered) if e.value == value)
            why = "on the same date" if same else "(metastases do not usually regress)"
            said = {"yes": "metastatic", "no": "not metastatic"}
            msg = (
                f"Metastatic status disagrees {why}: {lead.evidence.reference} ({lead.when or 'undated'}) "
                f"says {said[value]}, {other.evidence.reference} ({other.when or 'undated'}) says "
                f"{said[other.value]}; the most recent was used."
            )
            ctx.issue("metastatic", "conflicting", msg, lead.evidence, other.evidence)
            note = msg
        metastatic = Fact(value, tuple(agreeing[:6]), note)
        if value == "yes":
            # the earliest dated "yes" (the first of equals), as min(..., key=date_key): a loop, since
            # min() with a key parses its arguments into a tuple and a dict on each call
            since_key = NO_DATE
            for e in evs:
                if e.value == "yes" and e.when and (since is None or e.key < since_key):
                    since, since_key = e.when, e.key

    nodal = [n for n in nodal if n[0].key <= today]
    if nodal and metastatic.value == "yes":
        # metastatic disease is established otherwise: the nodes are one more site (added above)
        secondary_refs.update(reference for _, reference in nodal)
    elif nodal:
        newest = max((e for e, _ in nodal), key=lambda e: e.key)
        if metastatic.value == "unknown" or newest.key > evs_latest:
            metastatic = nodal_unknown(ctx, newest.evidence, metastatic, len(nodal))

    treated = treated_for_secondary(ctx, medications) if metastatic.value != "yes" else []
    if treated:
        metastatic = treated_unknown(ctx, treated, metastatic)

    if unconfirmed and metastatic.value == "unknown":
        metastatic = Fact(
            "unknown",
            tuple((*metastatic.evidence, *unconfirmed)[:3]),
            metastatic.note or "A metastasis is recorded only as provisional / differential: not confirmed.",
        )

    # --- breast cancer, and whose metastases these are ------------------------------------------------
    other_fact = other_primary.fact(examined)
    attributed_elsewhere = False
    breast_fact: Fact[YesNoUnknown]
    if breast_ev:
        breast_fact = Fact("yes", tuple(breast_ev[:5]))
        if other_fact.value == "yes":
            ctx.issue(
                "other_primary_cancer",
                "conflicting",
                f"Another active primary cancer is recorded ({other_primary.named()}): metastases cannot be "
                "attributed to the breast cancer with certainty, so no stage 4 breast cancer options are "
                "shown." + other_primary.brain_hint(),
                *other_fact.evidence[:3],
            )
    elif resolved_ev and other_fact.value == "yes":
        why = (
            f"The breast cancer is recorded as resolved and another primary cancer is active "
            f"({other_primary.named()}): metastases are attributed to the other cancer."
        )
        breast_fact = Fact("no", tuple(resolved_ev[:5]), why)
        if metastatic.value == "yes":
            ctx.issue("metastatic", "conflicting", why, *(metastatic.evidence[:2] + other_fact.evidence[:2]))
            metastatic, since, attributed_elsewhere = Fact("unknown", (), why), None, True
    elif resolved_ev and (nodal or treated) and metastatic.value == "unknown":
        now = (
            f"{treated[0].reference} names a secondary cancer as its reason"
            if treated
            else f"lymph-node disease is recorded ({nodal[0][1]})"
        )
        why = (
            f"The breast cancer is recorded as resolved or in remission, but {now} and no other primary "
            "cancer is: read as breast cancer whose metastatic status is not known (update the problem list)."
        )
        breast_fact = Fact("yes", tuple(resolved_ev[:5]), why)
        ctx.issue("breast_cancer", "conflicting", why, resolved_ev[0], *metastatic.evidence[:1])
    elif resolved_ev and metastatic.value == "yes":
        why = (
            "The breast cancer is recorded as resolved, but metastases are recorded now and no other "
            "primary cancer is: they were read as a recurrence of the breast cancer (update the problem "
            "list)."
        )
        breast_fact = Fact("yes", tuple(resolved_ev[:5]), why)
        ctx.issue("breast_cancer", "conflicting", why, resolved_ev[0], *metastatic.evidence[:1])
    elif resolved_ev:
        breast_fact = Fact(
            "no",
            tuple(resolved_ev[:5]),
            "The only breast cancer recorded is resolved / inactive / in remission, and no metastasis is "
            "recorded now.",
        )
    elif unconfirmed_breast:
        breast_fact = Fact(
            "unknown",
            tuple(e for e, _ in unconfirmed_breast[:5]),
            "Breast cancer is recorded only as provisional / differential / suspected: not confirmed.",
        )
    elif examined and not other_cancer_related:
        breast_fact = Fact("no", (), "Conditions were sent and none is a breast cancer.")
    else:
        breast_fact = _UNKNOWN
    if unconfirmed_breast and breast_fact.value != "yes":
        _unconfirmed_breast(ctx, unconfirmed_breast)
    if breast_fact.value != "yes" and metastatic.value == "yes" and other_fact.value != "yes":
        _breast_cancer_not_found(
            ctx, metastatic, observations, [e for e, _ in unconfirmed_breast], to_breast_ev
        )

    # --- sites --------------------------------------------------------------------------------------
    site_note = None
    if sites and unknown_sites:
        # a generic "secondary malignant neoplastic disease" record next to site-specific ones is read as
        # the same disease, not as one more unknown site
        site_note = (
            f"{unknown_sites} secondary-cancer record(s) without a site were read as the same disease."
        )
        unknown_sites = 0
    if metastatic.value == "yes":
        site_fact: Fact[frozenset[str]] = Fact(frozenset(sites), tuple(site_ev[:8]), site_note)
        if sites & VISCERAL_SITES:
            visceral: Fact[YesNoUnknown] = Fact(
                "yes", tuple(e for e in site_ev if any(s in e.text for s in VISCERAL_SITES))[:6]
            )
        elif sites and not unknown_sites:
            visceral = Fact("no", tuple(site_ev[:6]), "All recorded metastatic sites are non-visceral.")
        else:
            visceral = Fact("unknown", (), "Metastatic sites are not (all) recorded.")
        if sites == {"bone"} and not unknown_sites:
            bone_only: Fact[YesNoUnknown] = Fact("yes", tuple(site_ev[:6]), site_note)
        elif sites - {"bone"}:
            bone_only = Fact("no", tuple(e for e in site_ev if "site bone" not in e.text)[:6])
        else:
            bone_only = Fact("unknown", (), "Metastatic sites are not (all) recorded.")
    elif metastatic.value == "no":
        site_fact = Fact(frozenset(), metastatic.evidence)
        visceral = Fact("no", metastatic.evidence, "Not metastatic.")
        bone_only = Fact("no", metastatic.evidence, "Not metastatic.")
    else:
        site_fact = _NO_SITES
        visceral = _UNKNOWN
        bone_only = _UNKNOWN

    return DiseaseFacts(
        breast_cancer=breast_fact,
        metastatic=metastatic,
        metastatic_sites=site_fact,
        visceral_metastases=visceral,
        bone_only_disease=bone_only,
        metastatic_since=since,
        secondary_refs=frozenset() if attributed_elsewhere else frozenset(secondary_refs),
        other_primary_cancer=other_fact,
        sites_seen=tuple(seen) if metastatic.value == "yes" else (),
    )


def _unconfirmed_breast(ctx: Context, found: Sequence[tuple[Evidence, str]]) -> None:
    """A ``pending`` DataIssue for a breast cancer recorded as provisional / differential / "suspected"
    when no confirmed current one is: it was not counted, and a confirmed diagnosis settles it."""
    ev, how = max(found, key=lambda f: (date_key(f[0].date), f[0].reference))
    shown = f"{ev.reference}, {ev.date}" if ev.date else ev.reference
    ctx.issue(
        "breast_cancer",
        "pending",
        f"Breast cancer is recorded as unconfirmed ({how}; {shown}): it was not counted as breast cancer, "
        "so no stage 4 breast cancer option is shown on it. A confirmed diagnosis (verificationStatus "
        "confirmed, after the biopsy) settles it.",
        *(e for e, _ in found[:2]),
    )


def _breast_cancer_not_found(
    ctx: Context,
    metastatic: Fact[YesNoUnknown],
    observations: Observations,
    unconfirmed: Sequence[Evidence] = (),
    to_breast: Sequence[Evidence] = (),
) -> None:
    """Metastatic cancer is recorded, no other primary is, and no breast cancer Condition was found: the
    stage 4 options are not evaluated, so say what to record (the warnings rule breast-cancer-not-found
    gives the card). ER/PR/HER2 results on record are named: they suggest a breast cancer. A breast
    cancer recorded only as unconfirmed has its own DataIssue (``_unconfirmed_breast``): not repeated. A
    metastasis coded as TO the breast (C79.81) is named: it says where the cancer spread, not where it began
    (and is sometimes misused for metastatic breast cancer), so the primary is to be checked."""
    if unconfirmed:
        return
    if to_breast:
        ev = to_breast[0]
        what = ev.text.split(": ", 1)[-1]
        ctx.issue(
            "breast_cancer",
            "missing",
            f"{ev.reference} records a metastasis to the breast ({what}): the breast is a site the cancer "
            "spread to, not where it began, and no primary breast cancer diagnosis was found among the "
            "Conditions. Check the primary: if this is metastatic breast cancer (the code or wording is "
            "sometimes used so), record the breast cancer (ICD-10 C50 or SNOMED 254837009) and the "
            "metastases by their sites; if the cancer began elsewhere, record that primary.",
            ev,
            *metastatic.evidence[:1],
        )
        return
    markers = observations.coded("er-tests", "pr-tests", "her2-ihc-tests", "her2-ish-tests")
    seen = (
        f"; tumour-marker results are recorded ({ref(markers[0])}: {ctx.describe(markers[0].code)})"
        if markers
        else ""
    )
    where = f" ({metastatic.evidence[0].reference})" if metastatic.evidence else ""
    ctx.issue(
        "breast_cancer",
        "missing",
        f"Metastatic cancer is recorded{where} but no primary breast cancer diagnosis was found among the "
        f"Conditions{seen}. If this is breast cancer, record the diagnosis (SNOMED "
        "254837009 or a more specific breast cancer concept, ICD-10 C50, or a malignant neoplasm with a "
        "breast bodySite).",
        *metastatic.evidence[:1],
        *(evidence(obs, observation_date(obs), ctx.describe(obs.code)) for obs in markers[:1]),
    )


#: Wordings of a secondary cancer whose site is the breast (a metastasis TO the breast, ICD-10-CM C79.81),
#: as against one FROM the breast ("metastatic breast cancer", SNOMED 315004001).
_TO_BREAST: Final = tuple(
    f"{lead} {w}breast"
    for lead in (
        "secondary malignant neoplasm of",
        "secondary neoplasm of",
        "secondary carcinoma of",
        "secondary cancer of",
        "metastasis to",
        "metastases to",
        "metastatic to",
        "metastatic disease to",
    )
    for w in ("", "the ", "female ", "male ", "left ", "right ", "the left ", "the right ")
)


def _metastasis_to_breast(ctx: Context, code: models.CodeableConcept | None) -> bool:
    """True for a metastasis whose site is the breast: ICD-10(-CM/-GM) C79.81 "Secondary malignant
    neoplasm of breast", or that wording."""
    for system, c, _ in ctx.codings(code):
        if c and system_key(system) == "icd10" and norm_code("icd10", c).startswith("C7981"):
            return True
    for text in (ctx.text(code), *(d for _, _, d in ctx.codings(code))):
        hay = words(text) if text else ""
        if " breast " in hay and any(find_phrase(hay, phrase) >= 0 for phrase in _TO_BREAST):
            return True
    return False


def _site(ctx: Context, cond: models.Condition, *, secondary_site: Match | None) -> str | None:
    if (
        secondary_site is not None
        and secondary_site.via == "code"
        and secondary_site.value not in (None, "unknown")
    ):
        return str(secondary_site.value)
    for body in cond.bodySite or ():
        hit = ctx.match("metastasis-sites", body)
        if hit is not None and hit.value not in (None, "unknown"):
            return str(hit.value)
    if secondary_site is not None and secondary_site.value not in (None, "unknown"):
        return str(secondary_site.value)
    code = cond.code
    for text in (code.text if code is not None else None, *(d for _, _, d in ctx.codings(code))):
        hit_text = ctx.codes("metastasis-sites").match_text(text)
        if hit_text is not None and hit_text.value not in (None, "unknown"):
            return str(hit_text.value)
    return None
