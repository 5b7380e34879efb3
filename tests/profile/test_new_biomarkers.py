"""PIK3CA / AKT1 / PTEN / ESR1, PD-L1 CPS, HER2-ultralow and endocrine resistance (table-driven)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

PRESENT = b.cc(b.LOINC, "LA9633-4", "Present")
ABSENT = b.cc(b.LOINC, "LA9634-2", "Absent")
PATHOGENIC = "LA6668-3"
VUS = "LA26333-7"
SOMATIC = "LA6684-0"


def variant(
    gene: dict[str, Any], significance: str | None = PATHOGENIC, value: dict[str, Any] | None = PRESENT
) -> dict[str, Any]:
    comps = [b.component(b.cc(b.LOINC, "48018-6", "Gene studied [ID]"), value=gene)]
    if significance:
        comps.append(b.component(b.cc(b.LOINC, "53037-8"), value=b.cc(b.LOINC, significance)))
    comps.append(b.component(b.cc(b.LOINC, "48002-0"), value=b.cc(b.LOINC, SOMATIC, "Somatic")))
    return b.observation(
        b.cc(b.LOINC, "69548-6", "Genetic variant assessment"), value=value, components=comps
    )


def pik3ca_test(**kw: Any) -> dict[str, Any]:
    return b.observation(
        b.cc(b.LOINC, "63419-6", "PIK3CA gene mutations tested for in Blood or Tissue"), **kw
    )


GENE_CASES = [
    ("pik3ca LOINC detected", pik3ca_test(value_string="PIK3CA p.H1047R detected"), "pik3ca", "altered"),
    ("pik3ca LOINC negative", pik3ca_test(value=b.NEGATIVE), "pik3ca", "not_detected"),
    (
        "pik3ca LOINC not detected text",
        pik3ca_test(value_string="No mutation detected"),
        "pik3ca",
        "not_detected",
    ),
    ("pik3ca variant HGNC", variant(b.cc(b.HGNC, "HGNC:8975", "PIK3CA")), "pik3ca", "altered"),
    ("pik3ca variant symbol only", variant(b.cc(text="PIK3CA")), "pik3ca", "altered"),
    ("pik3ca variant absent", variant(b.cc(b.HGNC, "HGNC:8975"), None, ABSENT), "pik3ca", "not_detected"),
    ("pik3ca VUS", variant(b.cc(b.HGNC, "HGNC:8975", "PIK3CA"), VUS), "pik3ca", "not_detected"),
    ("esr1 variant HGNC", variant(b.cc(b.HGNC, "HGNC:3467", "ESR1")), "esr1", "altered"),
    (
        "esr1 local code text",
        b.observation(b.cc("urn:local:lab", "ESR1CT", "ESR1 mutation ctDNA"), value=b.POSITIVE),
        "esr1",
        "altered",
    ),
    ("akt1 variant HGNC", variant(b.cc(b.HGNC, "HGNC:391", "AKT1")), "akt1", "altered"),
    ("pten variant", variant(b.cc(b.HGNC, "HGNC:9588", "PTEN")), "pten", "altered"),
    (
        "pten IHC loss",
        b.observation(
            b.cc(b.LOINC, "81706-4", "PTEN protein [Presence] in Tissue by Immune stain"),
            value_string="Loss of PTEN expression",
        ),
        "pten",
        "altered",
    ),
    (
        "pten IHC retained",
        b.observation(b.cc(b.LOINC, "81706-4"), value_string="PTEN retained"),
        "pten",
        "not_detected",
    ),
    (
        "pten IHC flagged normal is retained staining, not loss",
        b.observation(b.cc(b.LOINC, "81706-4"), interpretation=b.cc(b.V3_INTERP, "N")),
        "pten",
        "not_detected",
    ),
    (
        "pten IHC flagged abnormal says neither loss nor retained",
        b.observation(b.cc(b.LOINC, "81706-4"), interpretation=b.cc(b.V3_INTERP, "A")),
        "pten",
        "unknown",
    ),
    ("brca variant is not pik3ca", variant(b.cc(b.HGNC, "HGNC:1101", "BRCA2")), "pik3ca", "unknown"),
]


@pytest.mark.parametrize(
    ("obs", "gene", "expected"), [c[1:] for c in GENE_CASES], ids=[c[0] for c in GENE_CASES]
)
def test_gene_status(build: Build, obs: dict[str, Any], gene: str, expected: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), obs)
    assert getattr(profile, f"{gene}_status").value == expected
    others = {g for g in ("pik3ca", "akt1", "pten", "esr1") if g != gene}
    for other in others:
        assert getattr(profile, f"{other}_status").value == "unknown"


def test_altered_wins_over_later_negative(build: Build) -> None:
    pos = variant(b.cc(b.HGNC, "HGNC:3467", "ESR1"))
    pos["effectiveDateTime"] = "2024-01-01"
    neg = variant(b.cc(b.HGNC, "HGNC:3467", "ESR1"), None, ABSENT)
    neg["effectiveDateTime"] = "2025-01-01"
    fact = build(b.patient(), b.breast_cancer(), pos, neg).esr1_status
    assert fact.value == "altered"
    assert fact.note and "found none" in fact.note


def test_variant_without_significance_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), variant(b.cc(b.HGNC, "HGNC:8975", "PIK3CA"), None))
    assert profile.pik3ca_status.value == "altered"
    assert any(i.topic == "pik3ca_status" for i in profile.issues)


_HGVS = "http://varnomen.hgvs.org"


def _with_change(obs: dict[str, Any], loinc: str, change: dict[str, Any] | str) -> dict[str, Any]:
    value = {"valueString": change} if isinstance(change, str) else {"valueCodeableConcept": change}
    obs["component"].append({"code": b.cc(b.LOINC, loinc), **value})
    return obs


@pytest.mark.parametrize(
    ("gene", "changes", "named"),
    [
        # the Genomics Reporting IG CeGaT variant: protein change named, before the DNA change
        (
            b.cc(b.HGNC, "HGNC:8975", "PIK3CA"),
            [
                ("48004-6", b.cc(_HGVS, "NM_006218.4:c.3140A>G")),
                ("48005-3", b.cc(_HGVS, "NP_006209.2:p.His1047Arg")),
            ],
            "PIK3CA NP_006209.2:p.His1047Arg",
        ),
        (
            b.cc(b.HGNC, "HGNC:8975", "PIK3CA"),
            [("48004-6", b.cc(_HGVS, "NM_006218.3:c.333G>T"))],
            "PIK3CA NM_006218.3:c.333G>T",
        ),
        (b.cc(b.HGNC, "HGNC:3467", "ESR1"), [("48005-3", "p.Y537S")], "ESR1 p.Y537S"),
        (b.cc(b.HGNC, "HGNC:391", "AKT1"), [("48005-3", b.cc(text="p.E17K"))], "AKT1 p.E17K"),
        (b.cc(b.HGNC, "HGNC:8975", "PIK3CA"), [], "PIK3CA variant"),
    ],
)
def test_the_variant_is_named_in_the_evidence(
    build: Build, gene: dict[str, Any], changes: list[tuple[str, Any]], named: str
) -> None:
    obs = variant(gene)
    for loinc, change in changes:
        _with_change(obs, loinc, change)
    profile = build(b.patient(), b.breast_cancer(), obs)
    symbol = named.split()[0].lower()
    fact = getattr(profile, f"{symbol}_status")
    assert fact.value == "altered"
    assert f": {named}, " in fact.evidence[0].text


def test_a_variant_without_significance_is_named_in_the_issue(build: Build) -> None:
    obs = _with_change(variant(b.cc(b.HGNC, "HGNC:8975", "PIK3CA"), None), "48005-3", "p.K111N")
    profile = build(b.patient(), b.breast_cancer(), obs)
    [issue] = [i for i in profile.issues if i.topic == "pik3ca_status"]
    assert "PIK3CA p.K111N reported without its clinical significance" in issue.message


def pd_l1(**kw: Any) -> dict[str, Any]:
    return b.observation(b.cc(b.LOINC, "85147-7", "PD-L1 by clone 22C3 report"), **kw)


CPS_CASES = [
    ("quantity with CPS unit", pd_l1(quantity=(12, "{CPS}")), 12),
    ("string CPS 12", pd_l1(value_string="CPS 12"), 12),
    ("string combined positive score", pd_l1(value_string="Combined positive score: 5"), 5),
    ("CPS >= 10", pd_l1(value_string="CPS >= 10"), 10),
    ("CPS < 1", pd_l1(value_string="CPS <1"), 0),
    ("CPS < 10 not a number", pd_l1(value_string="CPS <10"), None),
    ("coded positive has no number", pd_l1(value=b.POSITIVE), None),
    (
        "SP142 is not a CPS",
        b.observation(b.cc(b.LOINC, "85149-3", "PD-L1 by clone SP142 report"), value_string="CPS 20"),
        None,
    ),
]


@pytest.mark.parametrize(("obs", "expected"), [c[1:] for c in CPS_CASES], ids=[c[0] for c in CPS_CASES])
def test_pd_l1_cps(build: Build, obs: dict[str, Any], expected: int | None) -> None:
    assert build(b.patient(), b.breast_cancer(), obs).pd_l1_cps.value == expected


def with_note(obs: dict[str, Any], text: str) -> dict[str, Any]:
    obs["note"] = [{"text": text}]
    return obs


ULTRALOW_CASES = [
    (
        "IHC 0 faint staining string",
        b.her2_ihc(value_string="IHC 0 (faint incomplete membrane staining in 5% of cells)"),
        "yes",
    ),
    ("IHC 0 ultralow note", with_note(b.her2_ihc(value_string="Score 0"), "HER2-ultralow"), "yes"),
    (
        "IHC 0 >0 and <=10%",
        with_note(b.her2_ihc(value_string="0"), "staining in >0% and ≤10% of cells"),
        "yes",
    ),
    ("IHC 0 no staining", with_note(b.her2_ihc(value_string="0"), "No staining observed"), "no"),
    ("IHC 0 null", b.her2_ihc(value_string="Score 0 (null)"), "no"),
    ("IHC 0 no statement", b.her2_ihc(value_string="0"), "unknown"),
    ("IHC 1+", b.her2_ihc(value_string="1+"), "no"),
    ("IHC 3+", b.her2_ihc(value_string="3+"), "no"),
    (
        "IHC 0 interpretation text",
        b.her2_ihc(value_string="0", interpretation=b.cc(text="Ultralow (membrane staining ≤10%)")),
        "yes",
    ),
]


@pytest.mark.parametrize(
    ("obs", "expected"), [c[1:] for c in ULTRALOW_CASES], ids=[c[0] for c in ULTRALOW_CASES]
)
def test_her2_ultralow(build: Build, obs: dict[str, Any], expected: str) -> None:
    assert build(b.patient(), b.breast_cancer(), obs).her2_ultralow.value == expected


def test_no_her2_result_is_unknown(build: Build) -> None:
    assert build(b.patient(), b.breast_cancer()).her2_ultralow.value == "unknown"


BONE_MET = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone (disorder)")
TAMOXIFEN = b.rx("10324", "tamoxifen")
LETROZOLE = b.rx("72965", "letrozole")
FULVESTRANT = b.rx("282357", "fulvestrant")
PROGRESSION = b.cc(b.LOINC, "97509-4", "Cancer disease progression")
WORSENED = b.cc(b.SNOMED, "271299001", "Patient's condition worsened (finding)")

RESISTANCE_CASES = [
    (
        "on adjuvant ET < 2 y",
        [b.med_statement(TAMOXIFEN, start="2023-06-01", end=None, status="active")],
        "primary",
    ),
    (
        "on adjuvant ET >= 2 y",
        [b.med_statement(TAMOXIFEN, start="2021-01-01", end=None, status="active")],
        "secondary",
    ),
    (
        "ET stopped 8 months before",
        [b.med_statement(LETROZOLE, start="2018-06-01", end="2023-09-01", status="completed")],
        "secondary",
    ),
    (
        "ET stopped 3 years before",
        [b.med_statement(LETROZOLE, start="2015-06-01", end="2021-05-01", status="completed")],
        "sensitive",
    ),
    (
        "tamoxifen then AI, relapse on AI after 4 y",
        [
            b.med_statement(TAMOXIFEN, start="2020-01-01", end="2022-01-01", status="completed"),
            b.med_statement(LETROZOLE, start="2022-01-05", end=None, status="active"),
        ],
        "secondary",
    ),
    (
        "completed without end date",
        [b.med_statement(TAMOXIFEN, start="2019-01-01", status="completed")],
        "unknown",
    ),
    (
        "no adjuvant ET (de novo)",
        [b.med_statement(LETROZOLE, start="2024-06-01", status="active")],
        "unknown",
    ),
    # ABC 5 in the metastatic setting: progression on the first endocrine line (here presumed when the
    # next line began) within its first 6 months is primary resistance, later secondary
    (
        "first metastatic ET line progressed after 4 months",
        [
            b.med_statement(LETROZOLE, start="2024-06-01", end="2024-09-25", status="completed"),
            b.med_statement(FULVESTRANT, start="2024-10-01", status="active"),
        ],
        "primary",
    ),
    (
        "first metastatic ET line progressed after 8 months",
        [
            b.med_statement(LETROZOLE, start="2024-06-01", end="2025-01-25", status="completed"),
            b.med_statement(FULVESTRANT, start="2025-02-01", status="active"),
        ],
        "secondary",
    ),
    (
        "sensitive after adjuvant ET, then 4 months on the first metastatic line: the line decides",
        [
            b.med_statement(LETROZOLE, start="2015-06-01", end="2021-05-01", status="completed"),
            b.med_statement(LETROZOLE, start="2024-06-01", end="2024-09-25", status="completed"),
            b.med_statement(FULVESTRANT, start="2024-10-01", status="active"),
        ],
        "primary",
    ),
    (
        "primary after adjuvant ET, then 8 months on the first metastatic line: the line decides",
        [
            b.med_statement(TAMOXIFEN, start="2023-06-01", end="2024-05-01", status="completed"),
            b.med_statement(LETROZOLE, start="2024-06-01", end="2025-01-25", status="completed"),
            b.med_statement(FULVESTRANT, start="2025-02-01", status="active"),
        ],
        "secondary",
    ),
    (
        "first metastatic ET line still responding",
        [b.med_statement(LETROZOLE, start="2024-06-01", status="active")],
        "unknown",
    ),
]


@pytest.mark.parametrize(
    ("meds", "expected"), [c[1:] for c in RESISTANCE_CASES], ids=[c[0] for c in RESISTANCE_CASES]
)
def test_endocrine_resistance(build: Build, meds: list[dict[str, Any]], expected: str) -> None:
    met = b.condition(BONE_MET, onset="2024-05-01")
    profile = build(b.patient(), b.breast_cancer(onset="2019-01-01"), met, *meds)
    assert profile.endocrine_resistance.value == expected


def test_the_adjuvant_reading_is_kept_beside_the_first_lines(build: Build) -> None:
    """Relapse in the first 2 years of adjuvant tamoxifen, then 8 months on the first metastatic line: the
    line decides endocrine_resistance (secondary), the adjuvant reading stays primary (DESTINY-Breast06
    counts such a relapse as a line, however long the next one lasted)."""
    meds = [
        b.med_statement(TAMOXIFEN, start="2023-06-01", end="2024-05-01", status="completed"),
        b.med_statement(LETROZOLE, start="2024-06-01", end="2025-01-25", status="completed"),
        b.med_statement(FULVESTRANT, start="2025-02-01", status="active"),
    ]
    met = b.condition(BONE_MET, onset="2024-05-01")
    profile = build(b.patient(), b.breast_cancer(onset="2019-01-01"), met, *meds)
    assert profile.endocrine_resistance.value == "secondary"
    assert profile.adjuvant_endocrine_resistance.value == "primary"
    assert profile.adjuvant_endocrine_resistance.evidence[0].reference.startswith("MedicationStatement/")


# The "at progression" card weighs the next line as if the disease progressed today on the current one:
# on the first endocrine line for metastatic disease that decides the resistance (ABC 5), as it will in
# the options card once the progression is recorded.
PROGRESSING_CASES = [
    ("primary after adjuvant ET, 10 months on the first line", "2023-06-01", "2024-07-01", "secondary"),
    ("primary after adjuvant ET, 3 months on the first line", "2023-06-01", "2025-03-01", "primary"),
    ("de novo, 10 months on the first line", None, "2024-07-01", "secondary"),
]


@pytest.mark.parametrize(
    ("adjuvant_start", "line_start", "expected"),
    [c[1:] for c in PROGRESSING_CASES],
    ids=[c[0] for c in PROGRESSING_CASES],
)
def test_at_progression_the_first_endocrine_line_decides_resistance(
    build: Build, adjuvant_start: str | None, line_start: str, expected: str
) -> None:
    adjuvant = (
        [b.med_statement(TAMOXIFEN, start=adjuvant_start, end="2024-05-01", status="completed")]
        if adjuvant_start
        else []
    )
    chart = [
        b.patient(),
        b.breast_cancer(onset="2019-01-01"),
        b.condition(BONE_MET, onset="2024-05-01"),
        *adjuvant,
        b.med_statement(FULVESTRANT, start=line_start, status="active"),
    ]
    today = date(2025, 6, 1)
    later = build(*chart, today=today).at_progression().endocrine_resistance
    assert later.value == expected and later.note and "if the disease progressed today" in later.note
    worse = b.observation(PROGRESSION, date=today.isoformat(), value=WORSENED)
    # what the options card weighs once that progression is recorded
    assert build(*chart, worse, today=today).endocrine_resistance.value == expected


def test_resistance_unknown_without_metastatic_date(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.med_statement(TAMOXIFEN, start="2020-01-01"))
    assert profile.endocrine_resistance.value == "unknown"


def test_new_observations_pass_the_relevance_filter(terminology: Any) -> None:
    for obs in (
        pik3ca_test(value=b.NEGATIVE),
        b.observation(b.cc("urn:local:lab", "X1", "ESR1 mutation ctDNA"), value=b.POSITIVE),
        b.observation(b.cc(b.LOINC, "81706-4"), value_string="PTEN retained"),
    ):
        assert terminology.is_relevant(b.model(obs))


# --- PD-L1: assay and score kept apart (issue 18) -------------------------------------------------------

SP142 = b.cc(b.LOINC, "83057-0", "PD-L1 by clone SP142 [Presence] in Tissue by Immune stain")
TPS_22C3 = b.cc(b.LOINC, "83053-9", "Cells.PD-L1/100 viable tumor cells by clone 22C3")
LOCAL_PD_L1 = b.cc("urn:oid:2.16.840.1.113883.3.1234", "PDL1IHC", "PD-L1 IHC")

NOT_A_CPS = [
    ("SP142 IC 5%", b.observation(SP142, value_string="IC 5%"), "PD-L1 SP142 IC 5%"),
    ("SP142 coded positive", b.observation(SP142, value=b.POSITIVE), "PD-L1 SP142"),
    (
        "SP142 named in a local test's text",
        b.observation(LOCAL_PD_L1, value_string="SP142: immune cells 5%, positive"),
        "PD-L1 SP142 IC 5%",
    ),
    ("22C3 TPS code with a percentage", b.observation(TPS_22C3, quantity=(5, "%")), "PD-L1 22C3 TPS 5%"),
    ("TPS in text", b.observation(LOCAL_PD_L1, value_string="TPS 5%, positive"), "PD-L1 TPS 5%"),
    ("28-8 positive", b.observation(b.cc(b.LOINC, "83055-4"), value=b.POSITIVE), "PD-L1 28-8"),
]


@pytest.mark.parametrize(("obs", "said"), [c[1:] for c in NOT_A_CPS], ids=[c[0] for c in NOT_A_CPS])
def test_pd_l1_other_assays_never_set_cps_or_positive(build: Build, obs: dict[str, Any], said: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), obs)
    assert profile.pd_l1_cps.value is None
    assert profile.pd_l1.value == "unknown"  # not positive for pembrolizumab, and not negative either
    for fact in (profile.pd_l1, profile.pd_l1_cps):
        assert fact.note and said in fact.note and "not a 22C3 CPS" in fact.note
    ignored = [i for i in profile.issues if i.topic == "pd_l1" and i.kind == "ignored"]
    assert len(ignored) == 1 and f"Observation/{obs['id']}" in ignored[0].message


def test_pd_l1_cps_from_an_unnamed_assay_says_so(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.observation(LOCAL_PD_L1, value_string="CPS 15"))
    assert profile.pd_l1_cps.value == 15
    assert profile.pd_l1_cps.note and "assay not named" in profile.pd_l1_cps.note.lower()
    assert profile.pd_l1.value == "positive"


def test_22c3_cps_wins_over_a_later_sp142_result(build: Build) -> None:
    cps = pd_l1(value_string="CPS 12", date="2024-01-10")
    sp142 = b.observation(SP142, value_string="IC 1%", date="2024-03-01")
    profile = build(b.patient(), b.breast_cancer(), cps, sp142)
    assert profile.pd_l1_cps.value == 12
    assert profile.pd_l1.value == "positive"
    assert profile.pd_l1.note and "SP142 IC 1%" in profile.pd_l1.note


def _assay(terminology: Any, *raw: dict[str, Any]) -> Any:
    from datetime import date

    from cds.profile.biomarkers import derive_pd_l1_assay
    from cds.profile.common import Coded, Context, observation_usable

    ctx = Context(terminology, date(2025, 6, 1))
    return derive_pd_l1_assay(Coded([b.model(r) for r in raw], observation_usable, ctx), ctx)


@pytest.mark.parametrize(
    ("obs", "assay"),
    [
        (pd_l1(value_string="CPS 12"), "22c3_cps"),
        (b.observation(LOCAL_PD_L1, value_string="CPS 3"), "22c3_cps"),
        (b.observation(SP142, value_string="IC 5%"), "sp142_ic"),
        (b.observation(TPS_22C3, quantity=(30, "%")), "tps"),
        (b.observation(b.cc(b.LOINC, "83055-4"), value=b.POSITIVE), "other"),
        (b.observation(b.cc(b.LOINC, "83052-1"), value=b.POSITIVE), "unknown"),
    ],
)
def test_pd_l1_assay(terminology: Any, obs: dict[str, Any], assay: str) -> None:
    fact = _assay(terminology, obs)
    assert fact.value == assay
    assert fact.evidence[0].reference == f"Observation/{obs['id']}"
    assert fact.note and "Found:" in fact.note


def test_pd_l1_assay_prefers_the_cps(terminology: Any) -> None:
    fact = _assay(
        terminology,
        pd_l1(value_string="CPS 12", date="2024-01-10"),
        b.observation(SP142, value_string="IC 1%", date="2024-03-01"),
    )
    assert fact.value == "22c3_cps"
    assert fact.note and "SP142 IC 1%" in fact.note
    assert _assay(terminology).value == "unknown"


def test_pd_l1_assay_reaches_the_profile(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.observation(SP142, value_string="IC 5%"))
    assert profile.pd_l1_assay.value == "sp142_ic"


# --- an ESR1 result from this progression (ASCO 2023: ESR1 is tested again at each progression) --------

_LETROZOLE, _PALBOCICLIB = b.rx("72965"), b.rx("1601374")


def _first_line(status: str = "stopped", end: str | None = "2024-09-15") -> list[dict[str, Any]]:
    """Letrozole + palbociclib for bone metastases, stopped for progression on 2024-09-15 (or in use)."""
    records = []
    for drug in (_LETROZOLE, _PALBOCICLIB):
        record = b.med_statement(drug, start="2023-03-01", end=end, status=status)
        if end is not None:
            record["statusReason"] = [{"text": "Disease progression"}]
        records.append(record)
    met = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone")
    return [b.patient(), b.breast_cancer(), b.condition(met, onset="2023-02-15", rid="met-1"), *records]


def _esr1(date: str) -> dict[str, Any]:
    obs = variant(b.cc(b.HGNC, "HGNC:3467", "ESR1"), None, ABSENT)
    obs["effectiveDateTime"] = date
    return obs


@pytest.mark.parametrize(
    ("tested", "expected"),
    [
        ("2024-09-25", "yes"),  # ctDNA after the progression
        ("2024-08-25", "yes"),  # drawn at the visit that found it, three weeks before it was recorded
        ("2024-03-01", "no"),  # half a year into the line: mutations are acquired under treatment
    ],
)
def test_an_esr1_result_counts_for_the_progression_it_was_drawn_at(
    build: Build, tested: str, expected: str
) -> None:
    profile = build(*_first_line(), _esr1(tested))
    assert profile.esr1_status.value == "not_detected"
    assert profile.esr1_tested_since_progression.value == expected


def test_no_esr1_result_or_no_progression_leaves_it_unknown(build: Build) -> None:
    assert build(*_first_line()).esr1_tested_since_progression.value == "unknown"
    on_it = build(*_first_line(status="active", end=None), _esr1("2024-09-25"))
    assert on_it.esr1_tested_since_progression.value == "unknown"


def test_a_result_on_record_comes_before_a_progression_on_the_current_therapy(build: Build) -> None:
    """The "at progression" card weighs a progression still to come: any ESR1 result predates it."""
    profile = build(
        *_first_line(),
        _esr1("2024-09-25"),
        *[
            b.med_statement(b.rx("282357"), start="2024-10-01", status="active")  # fulvestrant, second line
        ],
    )
    assert profile.on_therapy.value == "yes"
    assert profile.esr1_tested_since_progression.value == "yes"
    assert profile.at_progression().esr1_tested_since_progression.value == "no"
