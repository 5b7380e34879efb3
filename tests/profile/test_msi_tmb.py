"""MSI / MMR status and tumour mutational burden, read the ways labs and EHRs send them (table-driven)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from cds.fhir.codes import Terminology
from cds.profile.model import PatientProfile
from cds.settings import default_knowledge_dir
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

MSI_LOINC = b.cc(
    b.LOINC, "81695-9", "Microsatellite instability [Interpretation] in Cancer specimen Qualitative"
)
MSI_IHC = b.cc(b.LOINC, "62862-8", "Microsatellite instability [Presence] in Tissue by Immune stain")
MSI_MOLGEN = b.cc(
    b.LOINC, "43368-0", "Microsatellite instability [Identifier] in Tissue by Molecular genetics method"
)
MSI_H = b.cc(b.LOINC, "LA26203-2", "MSI-H")
MSI_L = b.cc(b.LOINC, "LA26202-4", "MSI-L")
STABLE = b.cc(b.LOINC, "LA14122-8", "Stable")
UNSTABLE = b.cc(b.LOINC, "LA14123-6", "Unstable")
LOSS = b.cc(b.LOINC, "LA26198-4", "Loss of nuclear expression")
INTACT = b.cc(b.LOINC, "LA26197-6", "Intact nuclear expression")
MLH1 = b.cc(b.LOINC, "81691-8", "MLH-1 Ag [Presence] in Cancer specimen by Immune stain")
MSH6 = b.cc(b.LOINC, "81693-4", "MSH-6 Ag [Presence] in Cancer specimen by Immune stain")
PMS2 = b.cc(b.LOINC, "81694-2", "PMS2 Ag [Presence] in Cancer specimen by Immune stain")
MSH2 = b.cc(b.LOINC, "81692-6")  # code only, as some lab feeds send it: read by its code, not its words
MSH2_LOCAL = b.cc("urn:oid:1.2.840.114350.1.13.0.1.7.2.768282", "IHC-MSH2", "MSH2 immunostain")
TMB_LOINC = b.cc(b.LOINC, "94076-7", "Mutations/Megabase [# Ratio] in Tumor")
TMB_INTERP = b.cc(b.LOINC, "94077-5", "Tumor mutation burden [Interpretation]")
TMB_LOCAL = b.cc("urn:oid:2.16.840.1.113883.3.9999.1", "FMI-TMB", "Tumor Mutational Burden")


def msi(code: dict[str, Any] = MSI_LOINC, **kw: Any) -> dict[str, Any]:
    return b.observation(code, date=kw.pop("date", "2025-03-10"), **kw)


MSI_CASES = [
    ("LOINC answer MSI-H (mCODE)", msi(value=MSI_H), "high"),
    ("LOINC answer Stable (Genomics Reporting)", msi(value=STABLE), "stable_or_low"),
    ("MSI-L is not MSI-H", msi(value=MSI_L), "stable_or_low"),
    # review 6 (N3): "positive" on an immunostain may mean the proteins are expressed
    ("immunostain coded Positive (mCODE-CTM) is not read", msi(MSI_IHC, value=b.POSITIVE), "unknown"),
    ("positive without a grade by PCR is not read", msi(MSI_MOLGEN, value=b.POSITIVE), "unknown"),
    # review 6 (N1): another marker's "high", a negation, a confidence level
    ("MSS beside TMB high", msi(value_string="Microsatellite stable (MSS); TMB high"), "stable_or_low"),
    ("negative for MSI-high", msi(value_string="Negative for MSI-high"), "stable_or_low"),
    ("stable, high confidence", msi(value_string="Stable (high confidence)"), "stable_or_low"),
    ("MSI-H and MSS in one answer", msi(value_string="MSI-H (previously reported MSS)"), "unknown"),
    ("the whole answer High", msi(value_string="High"), "high"),
    (
        "dMMR naming the proteins kept",
        msi(b.cc(text="MMR status"), value_string="Loss of MLH1 and PMS2; MSH2 and MSH6 intact"),
        "high",
    ),
    ("molecular test, Negative", msi(MSI_MOLGEN, value=b.LA_NEGATIVE), "stable_or_low"),
    (
        "local code, text MSI-High",
        msi(b.cc(text="MSI by PCR (Bethesda panel)"), value_string="MSI-High"),
        "high",
    ),
    (
        "coded answer with text only",
        msi(MSI_LOINC, value=b.cc(text="Microsatellite instability high")),
        "high",
    ),
    ("text MSS", msi(value_string="MSS"), "stable_or_low"),
    ("negated MSI-H is not MSI-H", msi(value_string="MSI-H not detected"), "stable_or_low"),
    ("text microsatellite stable", msi(value_string="Microsatellite stable"), "stable_or_low"),
    (
        "MMR status text deficient",
        msi(b.cc(text="Mismatch repair (MMR) status"), value_string="Deficient MMR (dMMR)"),
        "high",
    ),
    (
        "MMR status text proficient",
        msi(b.cc(text="MMR protein IHC"), value_string="MMR proficient: all four proteins intact"),
        "stable_or_low",
    ),
    ("Unstable on an immunostain is dMMR", msi(MSI_IHC, value=UNSTABLE), "high"),
    ("Unstable without a grade by PCR is not read", msi(value=UNSTABLE), "unknown"),
    ("indeterminate", msi(value_string="Indeterminate (insufficient tumour)"), "unknown"),
    ("one MMR protein lost is dMMR", msi(MLH1, value=LOSS), "high"),
    ("negative staining of a protein is loss", msi(PMS2, value_string="Negative"), "high"),
    # review 6 (N9): heterogeneous loss is not the dMMR of the label's trials
    (
        "subclonal loss of one protein is not read",
        msi(MSH6, value_string="Subclonal loss (30% of tumour)"),
        "unknown",
    ),
    (
        "heterogeneous loss on an MMR status test is not read",
        msi(b.cc(text="MMR status"), value_string="Heterogeneous loss of MSH6; MLH1, MSH2, PMS2 intact"),
        "unknown",
    ),
]


@pytest.mark.parametrize(("obs", "expected"), [c[1:] for c in MSI_CASES], ids=[c[0] for c in MSI_CASES])
def test_msi_status(build: Build, obs: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), obs)
    assert profile.msi_status.value == expected
    assert profile.tmb_status.value == "unknown"
    if expected != "unknown":
        assert profile.msi_status.evidence[0].reference == f"Observation/{obs['id']}"


def test_a_positive_msi_immunostain_asks_for_the_protein_results(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), msi(MSI_IHC, value=b.POSITIVE))
    (issue,) = b.issues_of(profile, "msi_status", "unreadable")
    assert "MLH1, MSH2, MSH6 and PMS2" in issue.message


def test_an_answer_naming_msi_h_and_mss_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), msi(value_string="MSI-H (previously reported MSS)"))
    assert b.issues_of(profile, "msi_status", "unreadable")


def test_msi_l_says_it_is_not_msi_h(build: Build) -> None:
    fact = build(b.patient(), b.breast_cancer(), msi(value=MSI_L)).msi_status
    assert fact.note and "MSI-L is not MSI-H" in fact.note


def test_ungraded_unstable_result_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), msi(value=UNSTABLE))
    assert b.issues_of(profile, "msi_status", "unreadable")


def test_unreadable_msi_result_is_reported_and_unknown(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), msi(value_string="see scanned report"))
    assert profile.msi_status.value == "unknown"
    assert b.issues_of(profile, "msi_status", "unreadable")


def test_all_four_mmr_proteins_intact_is_proficient(build: Build) -> None:
    stains = [msi(MLH1, value=INTACT), msi(MSH2_LOCAL, value_string="Retained"), msi(MSH6, value=INTACT)]
    stains.append(msi(PMS2, value=b.POSITIVE))
    fact = build(b.patient(), b.breast_cancer(), *stains).msi_status
    assert fact.value == "stable_or_low"
    assert fact.note and "pMMR" in fact.note


def test_some_mmr_proteins_intact_do_not_settle_it(build: Build) -> None:
    fact = build(b.patient(), b.breast_cancer(), msi(MLH1, value=INTACT), msi(PMS2, value=INTACT)).msi_status
    assert fact.value == "unknown"
    assert fact.note and "MSH2, MSH6 not recorded" in fact.note


def test_loss_of_one_protein_among_intact_ones_is_dmmr(build: Build) -> None:
    stains = [msi(MLH1, value=INTACT), msi(MSH2_LOCAL, value=LOSS), msi(MSH6, value=LOSS)]
    fact = build(b.patient(), b.breast_cancer(), *stains, msi(PMS2, value=INTACT)).msi_status
    assert fact.value == "high"
    assert fact.note and "Loss of MSH2, MSH6 expression" in fact.note


def test_msh2_loss_coded_by_loinc_alone_is_dmmr(build: Build) -> None:
    stains = [
        msi(MLH1, value=INTACT),
        msi(MSH2, value=LOSS),
        msi(MSH6, value=INTACT),
        msi(PMS2, value=INTACT),
    ]
    fact = build(b.patient(), b.breast_cancer(), *stains).msi_status
    assert fact.value == "high"
    assert fact.note and "Loss of MSH2 expression" in fact.note


def test_conflicting_msi_results_are_reported_and_left_unknown(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        msi(value=MSI_H, date="2024-02-01"),
        msi(MSI_IHC, value=STABLE, date="2025-06-01"),
    )
    assert profile.msi_status.value == "unknown"
    issues = b.issues_of(profile, "msi_status", "conflicting")
    assert issues and len(issues[0].evidence) == 2


def test_promoter_methylation_and_germline_tests_are_not_protein_stains(build: Build) -> None:
    methylation = msi(b.cc(text="MLH1 promoter methylation"), value_string="Not detected")
    germline = msi(b.cc(text="MSH2 gene mutations found, germline"), value=b.NEGATIVE)
    profile = build(b.patient(), b.breast_cancer(), methylation, germline)
    assert profile.msi_status.value == "unknown"
    assert not [i for i in profile.issues if i.topic == "msi_status"]


def test_measles_mumps_rubella_serology_is_not_an_mmr_test(terminology: Terminology) -> None:
    serology = b.observation(
        b.cc(b.LOINC, "MMR-IGG", "MMR IgG immunity"), value=b.cc(text="Immune"), rid="mmr-serology"
    )
    assert not terminology.is_relevant(b.model(serology))


# --- tumour mutational burden ------------------------------------------------------------------------


def tmb(code: dict[str, Any] = TMB_LOINC, **kw: Any) -> dict[str, Any]:
    return b.observation(code, date=kw.pop("date", "2025-03-10"), **kw)


TMB_CASES = [
    ("12 /[Mb]", tmb(quantity=(12, "/[Mb]")), "high"),
    ("mCODE example 57.1 1/1000000{Base}", tmb(quantity=(57.1, "1/1000000{Base}")), "high"),
    ("exactly 10 mut/Mb is high", tmb(quantity=(10, "mut/Mb")), "high"),
    ("9.9 {mutations}/[Mb] is low", tmb(quantity=(9.9, "{mutations}/[Mb]")), "low"),
    ("8 mut/Mb is low (near miss)", tmb(quantity=(8, "mut/Mb")), "low"),
    ("no unit on the per-megabase LOINC", tmb(quantity=(15, "")), "high"),
    ("'>= 10' is high", tmb(quantity=(10, "mut/Mb"), comparator=">="), "high"),
    ("'< 5' is low", tmb(quantity=(5, "mut/Mb"), comparator="<"), "low"),
    ("'> 8' does not settle 10", tmb(quantity=(8, "mut/Mb"), comparator=">"), "unknown"),
    ("not per megabase", tmb(TMB_LOCAL, quantity=(15, "%")), "unknown"),
    # review 6 (N9): a blood TMB has its own cut-offs, not the label's tissue threshold
    (
        "blood TMB is not read",
        tmb(
            b.cc("urn:oid:2.16.840.1.113883.3.9999.1", "BTMB", "Blood TMB (bTMB), plasma ctDNA"),
            quantity=(12, "mut/Mb"),
        ),
        "unknown",
    ),
    ("local code, text 14.2 Muts/Mb", tmb(TMB_LOCAL, value_string="14.2 Muts/Mb"), "high"),
    # review 6 (N9): "per megabase" written out, in the text and in the unit
    ("text '10 mutations per megabase'", tmb(TMB_LOCAL, value_string="10 mutations per megabase"), "high"),
    ("text '4 Muts per Mb'", tmb(TMB_LOCAL, value_string="TMB: 4 Muts per Mb"), "low"),
    ("unit 'mutations per megabase'", tmb(TMB_LOCAL, quantity=(11, "mutations per megabase")), "high"),
    ("text TMB-Low with a number", tmb(TMB_LOCAL, value_string="TMB-Low (3 mut/Mb)"), "low"),
    ("interpretation code, coded High", tmb(TMB_INTERP, value=b.cc(text="TMB-High")), "high"),
    ("interpretation, Low", tmb(TMB_INTERP, value_string="Low"), "low"),
    (
        "interpretation, SNOMED Low (mCODE-CTM)",
        tmb(TMB_INTERP, value=b.cc(b.SNOMED, "62482003", "Low (qualifier value)")),
        "low",
    ),
    ("interpretation, SNOMED code without display", tmb(TMB_INTERP, value=b.cc(b.SNOMED, "62482003")), "low"),
    ("intermediate without a number", tmb(TMB_INTERP, value_string="Intermediate"), "unknown"),
    ("number and words disagree", tmb(TMB_LOCAL, value_string="TMB 8 mut/Mb (High)"), "unknown"),
]


@pytest.mark.parametrize(("obs", "expected"), [c[1:] for c in TMB_CASES], ids=[c[0] for c in TMB_CASES])
def test_tmb_status(build: Build, obs: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), obs)
    assert profile.tmb_status.value == expected
    assert profile.msi_status.value == "unknown"


def test_tmb_note_gives_the_number(build: Build) -> None:
    fact = build(b.patient(), b.breast_cancer(), tmb(quantity=(12.5, "mut/Mb"))).tmb_status
    assert fact.note and "TMB 12.5 mut/Mb" in fact.note


def test_a_tmb_number_that_is_not_per_megabase_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), tmb(TMB_LOCAL, quantity=(15, "%")))
    assert b.issues_of(profile, "tmb_status", "unreadable")


def test_a_number_against_the_reports_own_words_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), tmb(TMB_LOCAL, value_string="TMB 8 mut/Mb (High)"))
    assert b.issues_of(profile, "tmb_status", "conflicting")


def test_conflicting_tmb_results_are_reported_and_left_unknown(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        tmb(quantity=(12, "mut/Mb"), date="2024-02-01"),
        tmb(TMB_LOCAL, value_string="6 mut/Mb", date="2025-06-01"),
    )
    assert profile.tmb_status.value == "unknown"
    assert b.issues_of(profile, "tmb_status", "conflicting")


def test_no_result_is_unknown_not_negative(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer())
    assert (profile.msi_status.value, profile.tmb_status.value) == ("unknown", "unknown")


@pytest.mark.parametrize("name", ["msi-tests", "tmb-tests"])
def test_the_observations_prefetch_asks_for_every_msi_and_tmb_code(
    terminology: Terminology, name: str
) -> None:
    service = yaml.safe_load((default_knowledge_dir() / "service.yaml").read_text(encoding="utf-8"))
    asked = set(service["observation_codes"])
    codes = terminology.codes(name).codes
    assert codes
    for system, code in codes:
        assert f"http://loinc.org|{code}" in asked and system == "loinc", (name, system, code)
