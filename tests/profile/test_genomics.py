"""Germline BRCA1/2 (gene tests, 69548-6 variants, Conditions; germline vs somatic) and PD-L1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]


def variant(
    gene: dict[str, Any] | None,
    significance: str | None,
    source: str | None,
    value: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    comps = []
    if gene is not None:
        comps.append(b.component(b.cc(b.LOINC, "48018-6", "Gene studied [ID]"), value=gene))
    if significance is not None:
        comps.append(b.component(b.cc(b.LOINC, "53037-8"), value=b.cc(b.LOINC, significance)))
    if source is not None:
        comps.append(b.component(b.cc(b.LOINC, "48002-0"), value=b.cc(b.LOINC, source)))
    return b.observation(
        b.cc(b.LOINC, "69548-6", "Genetic variant assessment"),
        value=value or b.cc(b.LOINC, "LA9633-4", "Present"),
        components=comps,
        **kw,
    )


BRCA1 = b.cc(b.HGNC, "HGNC:1100", "BRCA1")
BRCA2 = b.cc(b.HGNC, "HGNC:1101", "BRCA2")
PALB2 = b.cc(b.HGNC, "HGNC:26144", "PALB2")
GERMLINE, SOMATIC = "LA6683-2", "LA6684-0"
PATHOGENIC, LIKELY, VUS = "LA6668-3", "LA26332-9", "LA26333-7"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (variant(BRCA1, PATHOGENIC, GERMLINE), "pathogenic"),
        (variant(BRCA2, LIKELY, GERMLINE), "pathogenic"),
        (variant(b.cc(text="BRCA2"), PATHOGENIC, GERMLINE), "pathogenic"),
        (variant(b.cc("urn:local", "1101", "BRCA2"), PATHOGENIC, GERMLINE), "pathogenic"),
        (variant(BRCA1, PATHOGENIC, SOMATIC), "unknown"),
        (variant(BRCA1, VUS, GERMLINE), "unknown"),
        (variant(PALB2, PATHOGENIC, GERMLINE), "unknown"),
        (variant(BRCA1, PATHOGENIC, None), "unknown"),
        (variant(BRCA2, None, GERMLINE, value=b.cc(b.LOINC, "LA9634-2", "Absent")), "not_detected"),
        (variant(BRCA2, None, SOMATIC, value=b.cc(b.LOINC, "LA9634-2", "Absent")), "unknown"),
        (b.observation(b.cc(b.LOINC, "21636-6"), value=b.POSITIVE), "pathogenic"),
        (
            b.observation(b.cc(b.LOINC, "38530-2"), value=b.cc(text="Pathogenic variant c.5946delT")),
            "pathogenic",
        ),
        (
            b.observation(b.cc(b.LOINC, "59041-4"), value=b.cc(b.LOINC, "LA6577-6", "Negative")),
            "not_detected",
        ),
        (
            b.observation(b.cc(b.LOINC, "94191-4"), value_string="No pathogenic variants detected"),
            "not_detected",
        ),
        (b.observation(b.cc(b.LOINC, "21637-4"), value=b.LA_POSITIVE), "pathogenic"),
        (b.observation(b.cc(text="BRCA1/2 germline panel"), value_string="Negative"), "not_detected"),
        (b.condition(b.cc(b.SNOMED, "412734009", "BRCA1 gene mutation positive")), "pathogenic"),
        (b.condition(b.cc(b.SNOMED, "412738007", "BRCA2 gene mutation detected")), "pathogenic"),
        (
            b.condition(b.cc(b.SNOMED, "718220008", "Hereditary breast and ovarian cancer syndrome")),
            "pathogenic",
        ),
        (b.condition(b.cc(b.SNOMED, "445180002")), "not_detected"),
    ],
)
def test_germline_brca(build: Build, resource: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), resource)
    assert profile.germline_brca.value == expected
    if expected != "unknown":
        assert profile.germline_brca.evidence


_GENETIC_MUTATION = b.cc(b.SNOMED, "55446002", "Genetic mutation")


def ichom_germline(value: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """The ICHOM GermlineMutation Observation (TumorFactors.fsh)."""
    return b.observation(_GENETIC_MUTATION, value=value, **kw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b.cc(b.SNOMED, "412734009", "BRCA1 gene mutation positive (finding)"), "pathogenic"),
        (b.cc(b.SNOMED, "412738007", "BRCA2 gene mutation detected (finding)"), "pathogenic"),
        (b.cc(b.SNOMED, "445180002"), "not_detected"),  # as the ICHOM example sends it, no display
        # another germline mutation, or testing not done: no BRCA result
        (b.cc("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "OTH", "other"), "unknown"),
        (b.cc(b.SNOMED, "416237000", "Procedure not done (situation)"), "unknown"),
    ],
)
def test_ichom_germline_mutation_observation(build: Build, value: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), ichom_germline(value, rid="gm"))
    assert profile.germline_brca.value == expected
    if expected != "unknown":
        assert profile.germline_brca.evidence[0].reference == "Observation/gm"
        assert "germline" in profile.germline_brca.evidence[0].text


def test_ichom_germline_mutation_with_a_somatic_source_is_not_germline(build: Build) -> None:
    somatic = b.component(b.cc(b.LOINC, "48002-0"), value=b.cc(b.LOINC, SOMATIC))
    brca1 = b.cc(b.SNOMED, "412734009", "BRCA1 gene mutation positive (finding)")
    profile = build(b.patient(), b.breast_cancer(), ichom_germline(brca1, components=[somatic]))
    assert profile.germline_brca.value == "unknown"
    assert "somatic" in (profile.germline_brca.note or "")


def test_somatic_finding_is_explained(build: Build) -> None:
    profile = build(b.patient(), variant(BRCA2, PATHOGENIC, SOMATIC))
    assert profile.germline_brca.value == "unknown"
    assert profile.germline_brca.note and "somatic" in profile.germline_brca.note


def test_missing_genomic_source_is_reported(build: Build) -> None:
    profile = build(b.patient(), variant(BRCA1, PATHOGENIC, None))
    assert any(i.topic == "germline_brca" for i in profile.issues)


def test_a_variant_of_unstated_significance_beside_a_germline_pathogenic_result_is_not_reported(
    build: Build,
) -> None:
    """Review 9, finding 5b: the variant Observation without its significance, next to the gene test
    that calls the same variant pathogenic and germline, raised "significance not stated" on a warnings
    card above the PARP inhibitor option; alone, it is still reported."""
    unstated = variant(BRCA1, None, None, rid="variant-1")
    gene_test = b.observation(
        b.cc(b.LOINC, "94191-4"), value=b.cc(text="BRCA1 pathogenic variant c.68_69del"), rid="gene-test"
    )
    profile = build(b.patient(), unstated, gene_test)
    assert profile.germline_brca.value == "pathogenic"
    assert not [i for i in profile.issues if i.topic == "germline_brca"]
    alone = build(b.patient(), unstated)
    assert [i for i in alone.issues if i.topic == "germline_brca" and i.kind == "unreadable"]


def test_somatic_and_germline_together(build: Build) -> None:
    profile = build(b.patient(), variant(BRCA1, PATHOGENIC, SOMATIC), variant(BRCA2, PATHOGENIC, GERMLINE))
    assert profile.germline_brca.value == "pathogenic"


def test_pathogenic_wins_over_later_negative_with_conflict(build: Build) -> None:
    profile = build(
        b.patient(),
        b.condition(b.cc(b.SNOMED, "412734009"), onset="2018-01-01"),
        b.observation(b.cc(b.LOINC, "59041-4"), value=b.NEGATIVE, date="2023-01-01"),
    )
    assert profile.germline_brca.value == "pathogenic"
    assert any(i.topic == "germline_brca" and i.kind == "conflicting" for i in profile.issues)


PD_L1_22C3 = b.cc(b.LOINC, "83052-1", "PD-L1 by clone 22C3 [Presence] in Tissue by Immune stain")


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (b.observation(PD_L1_22C3, value=b.POSITIVE), "positive"),
        (b.observation(PD_L1_22C3, value=b.LA_NEGATIVE), "negative"),
        (b.observation(PD_L1_22C3, value_string="CPS 12"), "positive"),
        (b.observation(PD_L1_22C3, value_string="Combined positive score: 5"), "negative"),
        (b.observation(PD_L1_22C3, value_string="CPS 10"), "positive"),
        (b.observation(PD_L1_22C3, value_string="CPS <1"), "negative"),
        (b.observation(b.cc(b.LOINC, "85147-7"), interpretation=b.cc(b.WRONG_INTERP, "POS")), "positive"),
        (
            b.observation(b.cc("urn:local", "PDL1", text="PD-L1 (22C3) CPS"), quantity=(15, "{score}")),
            "positive",
        ),
        (b.observation(b.cc(b.LOINC, "83053-9"), quantity=(30, "%")), "unknown"),
    ],
)
def test_pd_l1(build: Build, resource: dict[str, Any], expected: str) -> None:
    assert build(b.patient(), resource).pd_l1.value == expected


def test_pd_l1_most_recent_wins(build: Build) -> None:
    profile = build(
        b.patient(),
        b.observation(PD_L1_22C3, value_string="CPS 2", date="2021-01-01"),
        b.observation(PD_L1_22C3, value_string="CPS 20", date="2024-01-01"),
    )
    assert profile.pd_l1.value == "positive"
    assert profile.pd_l1.note


@pytest.mark.parametrize(
    ("resource", "stated"),
    [
        (variant(BRCA1, PATHOGENIC, GERMLINE), "yes"),  # a Genomics Reporting variant, source germline
        (b.condition(b.cc(b.SNOMED, "412738007", "BRCA2 gene mutation detected")), "no"),  # a problem list
        (b.observation(b.cc(b.LOINC, "21636-6"), value=b.POSITIVE), "no"),  # a gene test, no source
    ],
)
def test_whether_the_result_states_the_germline_origin(
    build: Build, resource: dict[str, Any], stated: str
) -> None:
    """The PARP inhibitor labels want a germline mutation: a report that says germline settles it; a
    problem-list entry or a gene test without a source does not (verification review 11)."""
    profile = build(b.patient(), resource)
    assert profile.germline_brca.value == "pathogenic"
    assert profile.germline_origin_stated.value == stated
