"""Code lists: loading, refusing bad files (naming file and field), is_relevant, drug classes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.errors import KnowledgeError
from cds.fhir import codes as codes_module
from cds.fhir.codes import Terminology, system_key
from tests.profile import builders as b
from tests.profile.builders import CODES


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "codes"
    shutil.copytree(CODES, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_loads_real_code_lists(terminology: Terminology) -> None:
    assert "breast-cancer" in terminology.lists
    assert {
        "endocrine_therapy",
        "cdk4_6_inhibitor",
        "her2_directed",
        "bone_modifying",
    } <= terminology.drug_classes()


@pytest.mark.parametrize(
    ("file", "old", "new", "field"),
    [
        ("er-tests.yaml", 'code: "85337-4"', "code: 853374", "codes[0].code"),
        (
            "er-tests.yaml",
            'system: loinc, code: "85337-4"',
            'system: lonic, code: "85337-4"',
            "codes[0].system",
        ),
        ("er-tests.yaml", "concept: er-tests", "concept: er-test", "concept"),
        ("er-tests.yaml", "role: test", "role: tests", "role"),
        (
            "er-tests.yaml",
            'value: status, source: "Synthea',
            'value: state, source: "Synthea',
            "codes[0].value",
        ),
        (
            "m1.yaml",
            'display: "American Joint Committee on Cancer cM1 (qualifier value)", ',
            "",
            "codes[0].display",
        ),
        ("breast-cancer.yaml", "prefixes:", "prefixez:", "prefixez"),
        (
            "medications.yaml",
            "classes: [endocrine_therapy, tamoxifen]",
            "classes: [endocrine, tamoxifen]",
            "drugs[0].classes",
        ),
        (
            "medications.yaml",
            '{code: "10324", display: "tamoxifen", tty: IN}',
            '{code: "RX10324", display: "t"}',
            "drugs[0].rxnorm[0].code",
        ),
        (
            "medications.yaml",
            "synonyms: [tamoxifen, nolvadex, tamofen, soltamox]",
            "synonyms: []",
            "drugs[0].synonyms",
        ),
    ],
)
def test_refuses_bad_file_naming_file_and_field(
    tmp_path: Path, file: str, old: str, new: str, field: str
) -> None:
    codes = _copy(tmp_path)
    _edit(codes / file, old, new)
    with pytest.raises(KnowledgeError) as err:
        Terminology.load(codes)
    assert err.value.file == file
    assert err.value.field == field
    assert file in str(err.value) and field in str(err.value)


def test_refuses_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    codes = _copy(tmp_path)
    (codes / "m1.yaml").write_text("concept: [unclosed", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"m1\.yaml"):
        Terminology.load(codes)
    (codes / "m1.yaml").unlink()
    with pytest.raises(KnowledgeError) as err:
        Terminology.load(codes)
    assert err.value.file == "m1.yaml"


def test_every_entry_has_a_display(terminology: Terminology) -> None:
    for code_list in terminology.lists.values():
        for entry in code_list.codes.values():
            assert entry.display, (code_list.name, entry.code)


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("http://snomed.info/sct", "snomed"),
        ("http://snomed.info/sct/900000000000207008", "snomed"),
        ("urn:oid:2.16.840.1.113883.6.90", "icd10"),
        ("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "icd10"),
        ("http://hl7.org/fhir/ValueSet/observation-interpretation", "v3-interpretation"),
        ("https://loinc.org", "loinc"),
        (None, ""),
    ],
)
def test_system_key(uri: str | None, key: str) -> None:
    assert system_key(uri) == key


# --- remembered matches ---------------------------------------------------------------------------

_ER_LOINC = (("http://loinc.org", "85337-4", "Estrogen receptor Ag [Presence] by Immune stain"),)


def test_a_remembered_match_belongs_to_its_code_list_and_text_mode(terminology: Terminology) -> None:
    er, pr = terminology.codes("er-tests"), terminology.codes("pr-tests")
    for _ in range(2):  # the second round answers from the caches
        hit = er.match(_ER_LOINC, None)
        assert hit is not None and hit.via == "code" and hit.code == "85337-4"
        assert pr.match(_ER_LOINC, None) is None
        local = ((None, "ER1", None),)
        text_hit = er.match(local, "Estrogen receptor IHC")
        assert text_hit is not None and text_hit.via == "text"
        assert er.match(local, "Estrogen receptor IHC", by_text=False) is None
        assert pr.match(local, "Estrogen receptor IHC") is None


def test_lists_matching_names_every_list_a_concept_matches(terminology: Terminology) -> None:
    for _ in range(2):  # the second round answers from the cache
        assert terminology.lists_matching(_ER_LOINC, None) == {"er-tests"}
        assert terminology.lists_matching(((None, "X1", None),), "PD-L1 22C3 CPS") == {"pd-l1-tests"}
        assert terminology.lists_matching((), "Body height") == frozenset()


def test_a_concept_entry_is_found_again_by_content_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    terminology = Terminology.load(CODES)
    first = terminology.concept(_ER_LOINC, None)
    same = tuple(tuple("".join(part) if part else part for part in coding) for coding in _ER_LOINC)
    assert same == _ER_LOINC and same[0][2] is not _ER_LOINC[0][2]  # equal, other string objects
    assert terminology.concept(same, None) is first
    assert terminology.concept(_ER_LOINC, "ER") is not first
    other_display = ((_ER_LOINC[0][0], _ER_LOINC[0][1], "another display"),)
    assert terminology.concept(other_display, None) is not first
    assert terminology.concept((), "ER") is terminology.concept((), "ER")  # no coding: by its text
    monkeypatch.setattr(codes_module, "_MATCH_CACHE_MAX", 8)
    for i in range(50):  # ever new concepts: a full cache starts again
        assert terminology.concept(_ER_LOINC, f"text {i}").text == f"text {i}"
        assert terminology.concept(((None, f"L{i}", None),), None).codings == ((None, f"L{i}", None),)
        assert len(terminology._concepts) <= 8
    long_text = "estrogen receptor " + "x" * 600
    assert terminology.concept((), long_text) is not terminology.concept((), long_text)  # never kept


# --- is_relevant ----------------------------------------------------------------------------------

IRRELEVANT: list[dict[str, Any]] = [
    b.observation(b.cc(b.LOINC, "8867-4", "Heart rate"), quantity=(72, "/min")),
    b.observation(b.cc(b.LOINC, "85354-9", "Blood pressure panel", "Blood pressure")),
    b.observation(b.cc(b.LOINC, "39156-5", "Body mass index (BMI) [Ratio]"), quantity=(24.1, "kg/m2")),
    b.observation(b.cc(b.LOINC, "2339-0", "Glucose [Mass/volume] in Blood"), quantity=(95, "mg/dL")),
    b.observation(b.cc(b.LOINC, "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH")),
    b.observation(b.cc(b.LOINC, "8625-6", "P-R Interval", "PR interval")),
    b.observation(
        b.cc(b.LOINC, "72166-2", "Tobacco smoking status"), value=b.cc(b.SNOMED, "266919005", "Never smoked")
    ),
    b.observation(b.cc(b.LOINC, "94500-6", "SARS-CoV-2 RNA"), value=b.POSITIVE),
    b.condition(b.cc(b.SNOMED, "38341003", "Hypertensive disorder")),
    b.med_request(b.cc(text="Lisinopril 10 mg tablet")),
    b.med_statement(b.cc(text="amlodipine 5 MG Oral Tablet")),
    b.med_statement(b.cc(text="Vitamin D3 1000 unit tablet")),
    b.procedure(b.cc(b.SNOMED, "80146002", "Appendectomy")),
    {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}},
]


@pytest.mark.parametrize("raw", IRRELEVANT, ids=lambda r: f"{r['resourceType']}-{r.get('id')}")
def test_is_relevant_rejects_ordinary_data(terminology: Terminology, raw: dict[str, Any]) -> None:
    read = b.read_model(raw)  # None for a type the profile does not read (Encounter)
    assert read is None or not terminology.is_relevant(read)


RELEVANT: list[dict[str, Any]] = [
    b.condition(b.cc(b.SNOMED, "254837009")),
    b.condition(b.cc(b.ICD10CM, "C50.912")),
    b.condition(b.cc(b.ICD10CM, "C50912")),
    b.condition(b.cc("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C50.3")),
    b.condition(b.cc(text="Invasive ductal carcinoma of left breast")),
    b.condition(b.cc(b.SNOMED, "128462008")),
    b.condition(b.cc(b.ICD10CM, "C79.51")),
    b.condition(b.cc(b.ICD10CM, "C78.7")),
    b.condition(b.cc(b.ICD10CM, "Z17.0")),
    b.condition(b.cc(b.ICD10CM, "Z90.722")),
    b.condition(b.cc(b.SNOMED, "412734009")),
    # diabetes needing treatment (review 7, N2): inavolisib is withheld, other PI3K/AKT options cautioned
    b.condition(b.cc(b.ICD10CM, "E11.9", "Type 2 diabetes mellitus without complications")),
    b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet")),
    b.condition(b.cc(b.SNOMED, "76498008")),
    b.observation(b.cc(b.LOINC, "85337-4")),
    b.observation(b.cc(b.LOINC, "85339-0")),
    b.observation(b.cc(b.LOINC, "85319-2")),
    b.observation(b.cc(b.LOINC, "85318-4")),
    b.observation(b.cc(b.LOINC, "48676-1")),
    b.observation(b.cc(b.LOINC, "21908-9")),
    b.observation(b.cc(b.SNOMED, "399537006")),
    b.observation(b.cc(b.SNOMED, "399387003")),
    b.observation(b.cc(b.LOINC, "69548-6")),
    b.observation(b.cc(b.LOINC, "21636-6")),
    b.observation(b.cc(b.LOINC, "83052-1")),
    b.observation(b.cc(b.LOINC, "15067-2")),
    b.observation(b.cc(b.LOINC, "2243-4")),
    b.observation(b.cc(b.LOINC, "14715-7")),
    b.observation(b.cc(b.SNOMED, "161712005")),
    b.observation(b.cc("urn:local", "MENO", text="Menopausal status"), value=b.cc(b.SNOMED, "76498008")),
    b.observation(b.cc("urn:local", "ERIHC", "Estrogen receptor IHC")),
    b.observation(b.cc("urn:local", "PRS", "PR status")),
    b.observation(b.cc("urn:local", "HER2", text="HER-2/neu by IHC")),
    b.observation(b.cc("urn:local", "PDL1", text="PD-L1 22C3 CPS")),
    b.observation(b.cc("urn:local", "FSH", text="FSH")),
    b.procedure(b.cc(text="Laparoscopic bilateral salpingo-oophorectomy")),
    b.med_request(b.rx("10324")),
    b.med_request(b.rx("198240")),
    b.med_request(b.rx("1157702")),
    b.med_request(b.cc(text="Ibrance 125 mg capsule")),
    b.med_request(b.cc(text="5-FU 500 mg/m2")),
    b.med_request(b.cc(text="T-DM1 3.6 mg/kg")),
    b.med_request(b.cc(text="Dato-DXd")),
    b.med_request(b.cc("http://hl7.org/fhir/sid/ndc", "0069-0187-21", "IBRANCE 125 mg capsule")),
    b.med_request(
        reference={"reference": "#m1"},
        contained=[{"resourceType": "Medication", "id": "m1", "code": b.rx("72965")}],
    ),
    b.med_request(reference={"reference": "Medication/x", "display": "Herceptin 440 mg"}),
]


@pytest.mark.parametrize(
    "raw",
    RELEVANT,
    ids=lambda r: str(r.get("code") or r.get("medicationCodeableConcept") or r.get("medicationReference"))[
        :60
    ],
)
def test_is_relevant_accepts_each_relevant_coding(terminology: Terminology, raw: dict[str, Any]) -> None:
    assert terminology.is_relevant(b.model(raw))


def test_is_relevant_survives_garbage(terminology: Terminology) -> None:
    for raw in (
        {"resourceType": "Observation", "code": "85337-4"},
        {"resourceType": "Observation", "code": {"coding": "x"}},
        {"resourceType": "Observation", "code": {"coding": [None, 5, {"code": 85337}]}},
        {"resourceType": "MedicationRequest", "medicationReference": {"reference": None}},
        {"resourceType": "Condition"},
        {"resourceType": ["MedicationRequest"], "medicationCodeableConcept": {"text": "tamoxifen"}},
        {"resourceType": "MedicationRequest", "contained": [[]], "medicationReference": {"display": 5}},
        {"resourceType": "Observation", "code": {"coding": [{"code": "C50", "display": ["x"]}], "text": 3}},
        {},
    ):
        read = b.read_model(raw)
        assert read is None or terminology.is_relevant(read) in (True, False)


# --- drug classes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "classes"),
    [
        ("anastrozole", {"endocrine_therapy", "aromatase_inhibitor", "anastrozole"}),
        ("tamoxifen", {"endocrine_therapy", "tamoxifen"}),
        ("fulvestrant", {"endocrine_therapy", "fulvestrant"}),
        ("goserelin", {"ovarian_suppression"}),
        ("palbociclib", {"cdk4_6_inhibitor", "palbociclib"}),
        ("paclitaxel", {"chemotherapy", "taxane", "paclitaxel"}),
        ("doxorubicin", {"chemotherapy", "anthracycline"}),
        ("capecitabine", {"chemotherapy", "capecitabine"}),
        ("trastuzumab-anns", {"her2_directed", "trastuzumab"}),
        ("Phesgo", {"her2_directed", "pertuzumab", "trastuzumab"}),
        ("ado-trastuzumab emtansine", {"her2_directed", "t_dm1"}),
        ("Enhertu", {"her2_directed", "t_dxd", "antibody_drug_conjugate"}),
        ("tucatinib", {"her2_directed", "her2_tki", "tucatinib"}),
        ("olaparib", {"parp_inhibitor"}),
        ("Keytruda", {"immunotherapy"}),
        ("denosumab", {"bone_modifying"}),
        ("capivasertib", {"pi3k_akt_mtor_inhibitor", "capivasertib"}),
        ("Trodelvy", {"antibody_drug_conjugate", "sacituzumab_govitecan"}),
    ],
)
def test_drug_classes(terminology: Terminology, text: str, classes: set[str]) -> None:
    drugs = terminology.drugs_for_text(text)
    got = {c for d in drugs for c in d.classes}
    assert classes <= got
    if text == "ado-trastuzumab emtansine":
        assert "trastuzumab" not in got


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize(
    ("code", "display", "text", "agents"),
    [
        # review 19: the co-pack coded by one ingredient, named in full, is both drugs
        ("1873916", "ribociclib", "Kisqali Femara Co-Pack 600 mg/2.5 mg", {"letrozole", "ribociclib"}),
        # review 20: a drug the text only mentions is not added to the coded one
        (
            "282357",
            "fulvestrant",
            "Fulvestrant 500 mg IM q28d (letrozole stopped - arthralgia)",
            {"fulvestrant"},
        ),
        ("72965", "letrozole", "Letrozole 2.5 mg (previously anastrozole 1 mg)", {"letrozole"}),
        # review 21: a combination the coded drug is part of, named as the product given
        ("224905", "trastuzumab", "Phesgo 1200 mg/600 mg SC", {"trastuzumab", "pertuzumab"}),
        ("224905", "trastuzumab", "Trastuzumab 6 mg/kg IV (switched from Phesgo)", {"trastuzumab"}),
        (
            "1601374",
            "palbociclib",
            "Palbociclib 125 mg (Kisqali Femara Co-Pack stopped - QTc)",
            {"palbociclib"},
        ),
    ],
)
def test_a_coded_medicine_takes_from_its_text_only_a_combination_product(
    terminology: Terminology, code: str, display: str, text: str, agents: set[str]
) -> None:
    drugs = terminology.drugs_in(((RXNORM, code, display),), text)
    assert set().union(*(terminology.agents[d.name] for d in drugs)) == agents


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "code",
        "valueCodeableConcept",
        "medicationCodeableConcept",
        "medicationReference",
        "contained",
        "coding",
        "text",
        "display",
        "system",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    rtype=st.sampled_from(
        [
            "Observation",
            "Condition",
            "Procedure",
            "MedicationRequest",
            "MedicationStatement",
            "MedicationAdministration",
        ]
    )
    | _JSON,
    body=st.dictionaries(_KEYS, _JSON, max_size=4),
)
def test_is_relevant_never_raises_on_any_json(rtype: Any, body: dict[str, Any]) -> None:
    terminology = Terminology.load(CODES) if not _CACHE else _CACHE[0]
    _CACHE[:] = [terminology]
    read = b.read_model({"resourceType": rtype, **body})
    assert read is None or terminology.is_relevant(read) in (True, False)


_CACHE: list[Terminology] = []


# --- ATC (review 3 D1) ------------------------------------------------------------------------------

_ATC = "http://fhir.de/CodeSystem/bfarm/atc"


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("http://www.whocc.no/atc", "atc"),
        ("urn:oid:2.16.840.1.113883.6.73", "atc"),
        ("http://fhir.de/CodeSystem/bfarm/atc", "atc"),
        ("http://fhir.de/CodeSystem/dimdi/atc", "atc"),
        ("https://www.whocc.no/atc/", "atc"),
    ],
)
def test_atc_system_uris_fold_to_atc(uri: str, key: str) -> None:
    assert system_key(uri) == key


@pytest.mark.parametrize(
    "coding",
    [
        ("http://www.whocc.no/atc", "L02BG", "Aromatase inhibitors"),
        (_ATC, "L01EF", "Cyclin-abhängige Kinase (CDK)-Inhibitoren"),
        (_ATC, "L01EF", None),
        (_ATC, "L02B", "Hormonantagonisten und verwandte Mittel"),
    ],
)
def test_an_atc_group_names_no_drug(terminology: Terminology, coding: tuple[str, str, str | None]) -> None:
    """An order for "an aromatase inhibitor" does not say which one was given, nor when it began."""
    assert terminology.drugs_in([coding], None) == ()
    assert not terminology.is_relevant(b.model(b.med_statement(b.cc(*coding))))


def test_a_drug_by_atc_and_by_rxnorm_is_the_same_drug(terminology: Terminology) -> None:
    by_atc = terminology.drugs_in([(_ATC, "L02BG04", "Letrozol")], "Letrozol 2,5 mg")
    by_rxnorm = terminology.drugs_in([(b.RXNORM, "72965", "letrozole")], None)
    assert by_atc == by_rxnorm and [d.name for d in by_atc] == ["letrozole"]
    assert terminology.drugs_in([("urn:local:pharmacy", "L02BG04", None)], None) == ()  # not ATC's code


def test_pre_filter_lets_atc_coded_medicines_through(terminology: Terminology) -> None:
    code_only = b.med_statement(b.cc(_ATC, "L01EF01"))
    contained = b.med_request(
        reference={"reference": "#m1"},
        contained=[
            {"resourceType": "Medication", "id": "m1", "code": b.cc("http://www.whocc.no/atc", "L01FD04")}
        ],
    )
    assert terminology.is_relevant(b.model(code_only))
    assert terminology.is_relevant(b.model(contained))


def test_an_atc_group_in_the_medication_list_is_refused(tmp_path: Path) -> None:
    codes = _copy(tmp_path)
    _edit(
        codes / "medications.yaml",
        '{code: "L02BG04", display: "Letrozol"',
        '{code: "L02BG", display: "Letrozol"',
    )
    with pytest.raises(KnowledgeError) as err:
        Terminology.load(codes)
    assert err.value.file == "medications.yaml"
    assert err.value.field.endswith(".atc[0].code")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "Z1 Carboplatin AUC5 d1, pegliposomales Doxorubicin 30 mg/m2, d1",
            ["carboplatin", "liposomal doxorubicin"],
        ),
        ("Doxorubicin 60 mg/m2 + Cyclophosphamid 600 mg/m2", ["doxorubicin", "cyclophosphamide"]),
        ("Trastuzumab Emtansin 3,6 mg/kg", ["trastuzumab emtansine"]),
    ],
)
def test_german_names_name_the_drug_not_a_part_of_it(
    terminology: Terminology, text: str, names: list[str]
) -> None:
    """MII MTB writes "pegliposomales Doxorubicin": liposomal doxorubicin, not conventional doxorubicin."""
    assert [d.name for d in terminology.drugs_for_text(text)] == names


# --- the observations prefetch asks for every Observation code the profile reads -------------------

_SYSTEM_URIS = {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct"}
#: Code lists whose entries are read as Observation.code besides the ``role: test`` lists.
_OBSERVATION_CODE_LISTS = ("menopause",)  # a menopausal state recorded as the Observation's code
#: (list, value) entries that are no Observation code, and why they are not asked for.
_NOT_ASKED = {
    ("pik3ca", "gene"): "an HGNC gene id: the gene studied, a component of a 69548-6 variant",
    ("akt1", "gene"): "an HGNC gene id: the gene studied, a component of a 69548-6 variant",
    ("pten", "gene"): "an HGNC gene id: the gene studied, a component of a 69548-6 variant",
    ("esr1", "gene"): "an HGNC gene id: the gene studied, a component of a 69548-6 variant",
    ("menopause", "unknown"): "261665006 Unknown is a value of 161712005, never an Observation code",
}


def _service_codes() -> list[str]:
    codes: list[str] = yaml.safe_load((CODES.parent / "service.yaml").read_text(encoding="utf-8"))[
        "observation_codes"
    ]
    return codes


def test_the_observations_prefetch_asks_for_every_observation_code_the_profile_reads(
    terminology: Terminology,
) -> None:
    asked = set(_service_codes())
    missing = []
    for name, code_list in sorted(terminology.lists.items()):
        if code_list.role != "test" and name not in _OBSERVATION_CODE_LISTS:
            continue
        assert not code_list.any_codes and not code_list.prefixes, name  # a prefix is no search token
        for (system, code), entry in code_list.codes.items():
            if (name, entry.value) in _NOT_ASKED:
                continue
            token = f"{_SYSTEM_URIS.get(system, system)}|{code}"
            if token not in asked:
                missing.append((name, token, entry.display))
    assert not missing, (
        f"add to cards/service.yaml observation_codes, or to _NOT_ASKED with a reason: {missing}"
    )


def test_the_observations_prefetch_is_a_token_list() -> None:
    """``Observation?patient=..&code=a|1,b|2``: each entry one system|code token, none twice."""
    codes = _service_codes()
    assert len(codes) == len(set(codes))
    for token in codes:
        system, _, code = token.partition("|")
        assert system in _SYSTEM_URIS.values() and code and not set(code) & set(",|& "), token
