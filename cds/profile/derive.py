"""FHIR resources -> PatientProfile (pure; never raises on odd data).

``build_profile`` receives read-model instances (cds.fhir.models) of the resources that passed
``Terminology.is_relevant`` and validation (cds.fhir.select).
Each topic lives in its own module; a topic that fails on unexpected data is
reported as a DataIssue and left "unknown" rather than failing the whole hook call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from cds.fhir import models
from cds.fhir.codes import Terminology
from cds.profile.biomarkers import (
    derive_genes,
    derive_her2_ultralow,
    derive_pd_l1_assay,
    derive_pd_l1_cps,
    esr1_tested_since,
)
from cds.profile.common import Coded, Context, MedicationRecord, condition_usable, observation_usable
from cds.profile.conditions import DiseaseFacts, derive_disease
from cds.profile.genomics import derive_brca
from cds.profile.journey import JourneyFacts, derive_journey
from cds.profile.menopause import MenopauseThresholds, derive_menopause
from cds.profile.model import BiomarkerStatus, DataIssue, Fact, GeneStatus, PatientProfile, YesNoUnknown
from cds.profile.msi_tmb import derive_msi, derive_tmb
from cds.profile.patient import derive_deceased, derive_patient
from cds.profile.pd_l1 import derive_pd_l1
from cds.profile.performance import derive_performance_status
from cds.profile.receptors import ReceptorFacts, derive_receptors
from cds.profile.safety import SafetyFacts, derive_safety

__all__ = ["MenopauseThresholds", "build_profile"]

#: What a topic falls back to when it cannot be derived (every fact unknown).
_UNKNOWN = PatientProfile(patient_id="")
_COMPLETE = _UNKNOWN.data_completeness  # the service marks a profile incomplete afterwards
_NO_DISEASE = DiseaseFacts(
    _UNKNOWN.breast_cancer,
    _UNKNOWN.metastatic,
    _UNKNOWN.metastatic_sites,
    _UNKNOWN.visceral_metastases,
    _UNKNOWN.bone_only_disease,
    None,
    frozenset(),
)
_NO_RECEPTORS = ReceptorFacts(
    _UNKNOWN.er_status,
    _UNKNOWN.pr_status,
    _UNKNOWN.hormone_receptor_status,
    _UNKNOWN.her2_status,
    _UNKNOWN.her2_ihc,
    _UNKNOWN.her2_ish,
    _UNKNOWN.her2_low,
    _UNKNOWN.subtype,
)
_NO_JOURNEY = JourneyFacts(
    _UNKNOWN.prior_therapies,
    _UNKNOWN.metastatic_therapies,
    _UNKNOWN.metastatic_lines,
    _UNKNOWN.metastatic_chemotherapy_lines,
    _UNKNOWN.metastatic_her2_lines,
    _UNKNOWN.metastatic_endocrine_lines,
    Fact("unknown"),
    _UNKNOWN.medicines_unidentified,
    Fact("unknown"),
    _UNKNOWN.on_therapy,
    _UNKNOWN.current_therapies,
    _UNKNOWN.current_non_line_therapies,
    _UNKNOWN.progressed_on,
    _UNKNOWN.stopped_for_toxicity,
    _UNKNOWN.completed_metastatic_lines,
    _UNKNOWN.early_relapse_after,
    _UNKNOWN.early_systemic_therapies,
    _UNKNOWN.endocrine_resistance,
    _UNKNOWN.adjuvant_endocrine_resistance,
    None,
    (),
    (),
    None,
)
_NO_SAFETY = SafetyFacts(
    _UNKNOWN.interstitial_lung_disease,
    _UNKNOWN.hyperglycaemia_risk,
    _UNKNOWN.diabetes,
    _UNKNOWN.diabetes_treated,
    _UNKNOWN.cardiac_dysfunction,
    _UNKNOWN.long_qt,
)


_SERMS = frozenset({"tamoxifen", "toremifene"})  # made once (``classes & {...}`` made a set per medicine)


def _cps_recorded(cps: Fact[int | None], pd_l1: Fact[BiomarkerStatus]) -> Fact[YesNoUnknown]:
    """A 22C3 result that settles "CPS 10 or more": a CPS number, or a CPS-based result reported negative."""
    if cps.value is not None:
        return Fact("yes", cps.evidence, f"22C3 CPS {cps.value}")
    if pd_l1.value == "negative":
        return Fact("yes", pd_l1.evidence, "PD-L1 (CPS) reported negative")
    return Fact("no", (), "no PD-L1 22C3 CPS result recorded")


def build_profile(
    resources: Sequence[models.Resource],
    *,
    patient_id: str,
    today: date,
    terminology: Terminology,
    thresholds: MenopauseThresholds,
    issues: Sequence[DataIssue] = (),
) -> PatientProfile:
    # Each topic on its own (Context.guarded): one that fails on unexpected data is reported and left at its
    # 'unknown' fallback.
    ctx = Context(terminology, today, list(issues))
    patients: list[models.Patient] = []
    condition_list: list[models.Condition] = []
    observation_list: list[models.Observation] = []
    procedures: list[models.Procedure] = []
    requests: list[MedicationRecord] = []
    statements: list[MedicationRecord] = []
    administrations: list[MedicationRecord] = []
    for resource in resources:  # the most frequent types first
        if isinstance(resource, models.Observation):
            observation_list.append(resource)
        elif isinstance(resource, models.Condition):
            condition_list.append(resource)
        elif isinstance(resource, models.MedicationRequest):
            requests.append(resource)
        elif isinstance(resource, models.MedicationStatement):
            statements.append(resource)
        elif isinstance(resource, models.MedicationAdministration):
            administrations.append(resource)
        elif isinstance(resource, models.Procedure):
            procedures.append(resource)
        elif isinstance(resource, models.Patient):
            patients.append(resource)
    conditions = Coded(condition_list, condition_usable, ctx)
    observations = Coded(observation_list, observation_usable, ctx)
    meds = requests + statements + administrations  # by type, as received within each
    age, sex = ctx.guarded("age", (_UNKNOWN.age, _UNKNOWN.sex), derive_patient, patients, patient_id, ctx)
    deceased = ctx.guarded("deceased", _UNKNOWN.deceased, derive_deceased, patients, patient_id, ctx)
    performance = ctx.guarded(
        "performance_status", _UNKNOWN.performance_status, derive_performance_status, observations, ctx
    )
    disease = ctx.guarded("metastatic", _NO_DISEASE, derive_disease, conditions, observations, ctx, meds)
    receptors = ctx.guarded("er_status", _NO_RECEPTORS, derive_receptors, conditions, observations, ctx)
    brca, origin = ctx.guarded(
        "germline_brca",
        (_UNKNOWN.germline_brca, _UNKNOWN.germline_origin_stated),
        derive_brca,
        conditions,
        observations,
        ctx,
    )
    pd_l1 = ctx.guarded("pd_l1", _UNKNOWN.pd_l1, derive_pd_l1, observations, ctx)
    journey = ctx.guarded(
        "prior_therapies",
        _NO_JOURNEY,
        derive_journey,
        meds,
        observations,
        procedures,
        ctx,
        metastatic=disease.metastatic.value == "yes",
        metastatic_since=disease.metastatic_since,
        secondary_refs=disease.secondary_refs,
        sites_seen=disease.sites_seen,
    )
    ofs_now = tuple(u.evidence for u in journey.current if "ovarian_suppression" in u.classes)
    serm_now = tuple(u.evidence for u in journey.current if not u.classes.isdisjoint(_SERMS))
    menopause = ctx.guarded(
        "menopausal_status",
        _UNKNOWN.menopausal_status,
        derive_menopause,
        age=age.value,
        sex=sex.value,
        observations=observations,
        conditions=conditions,
        procedures=procedures,
        ofs_current=ofs_now,
        serm_current=serm_now,
        chemotherapy_recent=journey.recent_chemotherapy,
        thresholds=thresholds,
        ctx=ctx,
    )
    # biomarkers beyond the seed documents (cds/profile/biomarkers.py)
    no_genes: dict[str, Fact[GeneStatus]] = {}
    genes = ctx.guarded("pik3ca_status", no_genes, derive_genes, observations, ctx)
    assay = ctx.guarded("pd_l1_assay", _UNKNOWN.pd_l1_assay, derive_pd_l1_assay, observations, ctx)
    cps = ctx.guarded("pd_l1_cps", _UNKNOWN.pd_l1_cps, derive_pd_l1_cps, observations, ctx)
    msi = ctx.guarded("msi_status", _UNKNOWN.msi_status, derive_msi, observations, ctx)
    tmb = ctx.guarded("tmb_status", _UNKNOWN.tmb_status, derive_tmb, observations, ctx)
    ultralow = ctx.guarded(
        "her2_ultralow",
        _UNKNOWN.her2_ultralow,
        derive_her2_ultralow,
        observations,
        receptors.her2_ihc,
        receptors.her2_status,
        ctx,
    )
    # safety findings (cds/profile/safety.py): each fact fails on its own inside
    safety = ctx.guarded(
        "interstitial_lung_disease", _NO_SAFETY, derive_safety, conditions, observations, meds, ctx
    )
    return PatientProfile(
        patient_id=patient_id,
        deceased=deceased,
        other_primary_cancer=disease.other_primary_cancer,
        interstitial_lung_disease=safety.interstitial_lung_disease,
        hyperglycaemia_risk=safety.hyperglycaemia_risk,
        diabetes=safety.diabetes,
        diabetes_treated=safety.diabetes_treated,
        cardiac_dysfunction=safety.cardiac_dysfunction,
        long_qt=safety.long_qt,
        pik3ca_status=genes.get("pik3ca", _UNKNOWN.pik3ca_status),
        akt1_status=genes.get("akt1", _UNKNOWN.akt1_status),
        pten_status=genes.get("pten", _UNKNOWN.pten_status),
        esr1_status=genes.get("esr1", _UNKNOWN.esr1_status),
        esr1_tested_since_progression=esr1_tested_since(
            genes.get("esr1", _UNKNOWN.esr1_status), journey.last_progression
        ),
        pd_l1_cps=cps,
        pd_l1_assay=assay,
        msi_status=msi,
        tmb_status=tmb,
        pd_l1_cps_recorded=_cps_recorded(cps, pd_l1),
        discordant_markers=receptors.discordant_markers,
        her2_ultralow=ultralow,
        age=age,
        sex=sex,
        performance_status=performance,
        breast_cancer=disease.breast_cancer,
        metastatic=disease.metastatic,
        metastatic_sites=disease.metastatic_sites,
        visceral_metastases=disease.visceral_metastases,
        bone_only_disease=disease.bone_only_disease,
        er_status=receptors.er_status,
        pr_status=receptors.pr_status,
        hormone_receptor_status=receptors.hormone_receptor_status,
        her2_status=receptors.her2_status,
        her2_ihc=receptors.her2_ihc,
        her2_ish=receptors.her2_ish,
        her2_low=receptors.her2_low,
        subtype=receptors.subtype,
        germline_brca=brca,
        germline_origin_stated=origin,
        pd_l1=pd_l1,
        menopausal_status=menopause,
        ovarian_suppression_current=journey.ovarian_suppression_current,
        prior_therapies=journey.prior_therapies,
        metastatic_therapies=journey.metastatic_therapies,
        metastatic_lines=journey.metastatic_lines,
        metastatic_chemotherapy_lines=journey.metastatic_chemotherapy_lines,
        metastatic_her2_lines=journey.metastatic_her2_lines,
        metastatic_endocrine_lines=journey.metastatic_endocrine_lines,
        medication_history=journey.medication_history,
        medicines_unidentified=journey.medicines_unidentified,
        endocrine_resistance=journey.endocrine_resistance,
        adjuvant_endocrine_resistance=journey.adjuvant_endocrine_resistance,
        resistance_at_progression=journey.resistance_at_progression,
        on_therapy=journey.on_therapy,
        current_therapies=journey.current_therapies,
        current_non_line_therapies=journey.current_non_line_therapies,
        progressed_on=journey.progressed_on,
        stopped_for_toxicity=journey.stopped_for_toxicity,
        completed_metastatic_lines=journey.completed_metastatic_lines,
        early_relapse_after=journey.early_relapse_after,
        relapse_timing_unknown_after=journey.relapse_timing_unknown_after,
        metastases_new_on_last_line=journey.metastases_new_on_last_line,
        relapse_within_year_after=journey.relapse_within_year_after,
        early_systemic_therapies=journey.early_systemic_therapies,
        last_line_stopped_unexplained=journey.last_line_stopped_unexplained,
        last_line_ended_without_progression=journey.last_line_ended_without_progression,
        last_line_unexplained_therapies=journey.last_line_unexplained_therapies,
        stopped_in_current_line=journey.stopped_in_current_line,
        data_completeness=_COMPLETE,
        issues=tuple(ctx.issues),
    )
