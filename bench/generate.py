"""Deterministic synthetic CDS Hooks patient-view requests for the benchmark.

Long (~800 lines) because most of it is code tables and one builder per resource kind: the variety
of coding real charts carry is the point, and splitting the tables from their builder would not shorten
what a reader has to hold.

Every patient is built from its own seeded ``random.Random``, so the same (seed, index, size) always gives
the same request, and different indices give different patients: different ids, subtypes, code systems,
value patterns, therapy histories and filler (vitals, labs, comorbidities). Codes are the ones real FHIR
data uses (LOINC, SNOMED CT, ICD-10-CM, AJCC and RxNorm, as in cards/codes/).

Usage::

    python -m bench.generate --count 500 --out bench/work/bodies.ndjson
    python -m bench.generate --size 10000 --out /tmp/big.json

Resource counts include the Patient. ``size`` is exact: a request asked for 100 resources carries
exactly 100 resources across its prefetch keys.
"""

from __future__ import annotations

import argparse
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from cds.fhir.prefetch import prefetch_keys

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
AJCC = "http://cancerstaging.org"
HGNC = "http://www.genenames.org/geneId"
UCUM = "http://unitsofmeasure.org"
V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"

TODAY = date(2026, 6, 1)
PREFETCH_KEYS = tuple(key.name for key in prefetch_keys(()))  # the service's prefetch keys
SCALING_SIZES = (10, 100, 1000, 10000)

Json = dict[str, Any]

# --- code tables ---------------------------------------------------------------------------------

PRIMARY_SNOMED = [
    ("254837009", "Malignant neoplasm of breast (disorder)"),
    ("372137005", "Primary malignant neoplasm of breast (disorder)"),
    ("353431000119107", "Primary malignant neoplasm of female left breast (disorder)"),
    ("408643008", "Infiltrating duct carcinoma of breast (disorder)"),
]
ICD_SITES = [
    ("0", "nipple and areola"),
    ("1", "central portion"),
    ("2", "upper-inner quadrant"),
    ("3", "lower-inner quadrant"),
    ("4", "upper-outer quadrant"),
    ("5", "lower-outer quadrant"),
    ("8", "overlapping sites"),
    ("9", "unspecified site"),
]
ICD_SIDES = [("1", "right"), ("2", "left"), ("9", "unspecified")]

METS = [  # (SNOMED code, SNOMED display, ICD-10-CM code, ICD display)
    (
        "94222008",
        "Secondary malignant neoplasm of bone (disorder)",
        "C79.51",
        "Secondary malignant neoplasm of bone",
    ),
    (
        "94381002",
        "Secondary malignant neoplasm of liver (disorder)",
        "C78.7",
        "Secondary malignant neoplasm of liver and intrahepatic bile duct",
    ),
    (
        "94391008",
        "Secondary malignant neoplasm of lung (disorder)",
        "C78.00",
        "Secondary malignant neoplasm of unspecified lung",
    ),
    (
        "94225005",
        "Secondary malignant neoplasm of brain (disorder)",
        "C79.31",
        "Secondary malignant neoplasm of brain",
    ),
    (
        "128462008",
        "Secondary malignant neoplastic disease (disorder)",
        "C79.9",
        "Secondary malignant neoplasm of unspecified site",
    ),
]
STAGE_IV = [
    (SNOMED, "258228008", "Stage 4 (qualifier value)"),
    (SNOMED, "1222837003", "American Joint Committee on Cancer stage IV (qualifier value)"),
    (AJCC, "4", "IV"),
]
STAGE_EARLY = [
    (SNOMED, "258219007", "Stage 2 (qualifier value)"),
    (SNOMED, "261638004", "Stage 3A (qualifier value)"),
    (AJCC, "3B", "IIIB"),
]
ER_CODES = [
    ("85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    ("40556-3", "Estrogen receptor Ag [Presence] in Tissue by Immune stain"),
    ("16112-5", "Estrogen receptor [Interpretation] in Tissue"),
]
PR_CODES = [
    ("85339-0", "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    ("40557-1", "Progesterone receptor Ag [Presence] in Tissue by Immune stain"),
]
HER2_IHC_CODES = [
    ("85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
    ("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"),
]
HER2_ISH = ("85318-4", "ERBB2 gene duplication [Presence] in Breast cancer specimen by FISH")

DRUGS: dict[str, list[tuple[str, str]]] = {  # RxNorm: ingredient and common SCD codes
    "anastrozole": [("84857", "anastrozole"), ("199224", "anastrozole 1 MG Oral Tablet")],
    "letrozole": [("72965", "letrozole")],
    "tamoxifen": [("10324", "tamoxifen"), ("198240", "tamoxifen 10 MG Oral Tablet")],
    "fulvestrant": [("282357", "fulvestrant")],
    "palbociclib": [("1601374", "palbociclib")],
    "trastuzumab": [("224905", "trastuzumab")],
    "docetaxel": [("72962", "docetaxel")],
    "paclitaxel": [("56946", "paclitaxel")],
    "capecitabine": [("194000", "capecitabine")],
}
FILLER_DRUGS = [
    ("29046", "lisinopril"),
    ("6809", "metformin"),
    ("83367", "atorvastatin"),
    ("17767", "amlodipine"),
    ("10582", "levothyroxine"),
    ("7646", "omeprazole"),
    ("161", "acetaminophen"),
    ("26225", "ondansetron"),
]
COMORBIDITIES = [
    (
        "38341003",
        "Hypertensive disorder, systemic arterial (disorder)",
        "I10",
        "Essential (primary) hypertension",
    ),
    (
        "44054006",
        "Diabetes mellitus type 2 (disorder)",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
    ),
    ("55822004", "Hyperlipidemia (disorder)", "E78.5", "Hyperlipidemia, unspecified"),
    ("64859006", "Osteoporosis (disorder)", "M81.0", "Age-related osteoporosis without current fracture"),
    ("271737000", "Anemia (disorder)", "D64.9", "Anemia, unspecified"),
    ("35489007", "Depressive disorder (disorder)", "F32.A", "Depression, unspecified"),
    ("40930008", "Hypothyroidism (disorder)", "E03.9", "Hypothyroidism, unspecified"),
    (
        "235595009",
        "Gastroesophageal reflux disease (disorder)",
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
    ),
]
# (LOINC, display, unit, low, high, category)
LABS = [
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 9.0, 15.5, "laboratory"),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 2.5, 11.0, "laboratory"),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 90.0, 420.0, "laboratory"),
    ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", 3.2, 5.2, "laboratory"),
    ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 28.0, 46.0, "laboratory"),
    ("751-8", "Neutrophils [#/volume] in Blood by Automated count", "10*3/uL", 1.0, 8.0, "laboratory"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.5, 1.6, "laboratory"),
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        8.0,
        120.0,
        "laboratory",
    ),
    (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        8.0,
        110.0,
        "laboratory",
    ),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.2, 2.5, "laboratory"),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70.0, 190.0, "laboratory"),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 132.0, 146.0, "laboratory"),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.3, 5.2, "laboratory"),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.2, 11.5, "laboratory"),
    ("8867-4", "Heart rate", "/min", 55.0, 110.0, "vital-signs"),
    ("29463-7", "Body weight", "kg", 45.0, 110.0, "vital-signs"),
    ("8302-2", "Body height", "cm", 150.0, 180.0, "vital-signs"),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18.0, 38.0, "vital-signs"),
    ("8310-5", "Body temperature", "Cel", 36.0, 38.3, "vital-signs"),
    ("9279-1", "Respiratory rate", "/min", 12.0, 22.0, "vital-signs"),
]
PROCEDURES = [
    ("172043006", "Simple mastectomy (procedure)"),
    ("392021009", "Lumpectomy of breast (procedure)"),
    ("33195004", "External beam radiation therapy procedure (procedure)"),
    ("234262008", "Excision of axillary lymph node (procedure)"),
    ("29827000", "Bilateral oophorectomy (procedure)"),
    ("367336001", "Chemotherapy (procedure)"),
]
SUBTYPES = ("HR+/HER2-", "HR+/HER2+", "HR-/HER2+", "TNBC", "HR+/HER2-low")
GIVEN = ["Maria", "Anna", "Sofia", "Grace", "Li", "Amara", "Elena", "Joan", "Priya", "Fatima", "Ruth", "Kim"]
FAMILY = ["Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Kowalski", "Haddad", "Chen", "Brown", "Silva"]


# --- small builders ------------------------------------------------------------------------------


def _coding(system: str, code: str, display: str) -> Json:
    return {"system": system, "code": code, "display": display}


def _cc(*codings: Json, text: str | None = None) -> Json:
    out: Json = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def _day(rng: random.Random, start_days_ago: int, end_days_ago: int = 0) -> date:
    return TODAY - timedelta(days=rng.randint(end_days_ago, max(end_days_ago, start_days_ago)))


class _Builder:
    """Builds one patient's resources; ``self.n`` numbers resource ids uniquely within the patient."""

    def __init__(self, rng: random.Random, pid: str) -> None:
        self.rng = rng
        self.pid = pid
        self.n = 0
        self.subject = {"reference": f"Patient/{pid}"}

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{self.pid}-{prefix}{self.n}"

    # Conditions -------------------------------------------------------------------------------
    def condition(self, code: Json, onset: date, category: str = "problem-list-item") -> Json:
        return {
            "resourceType": "Condition",
            "id": self._id("c"),
            "clinicalStatus": _cc(_coding(COND_CLINICAL, "active", "Active")),
            "verificationStatus": _cc(_coding(COND_VER, "confirmed", "Confirmed")),
            "category": [_cc(_coding(COND_CAT, category, category.replace("-", " ").title()))],
            "code": code,
            "subject": self.subject,
            "onsetDateTime": onset.isoformat(),
            "recordedDate": onset.isoformat(),
        }

    def primary(self, onset: date, stage: tuple[str, str, str] | None) -> Json:
        rng = self.rng
        site, site_name = rng.choice(ICD_SITES)
        side, side_name = rng.choice(ICD_SIDES)
        icd = _coding(
            ICD10CM, f"C50.{site}1{side}", f"Malignant neoplasm of {site_name} of {side_name} female breast"
        )
        sct = _coding(SNOMED, *rng.choice(PRIMARY_SNOMED))
        style = rng.random()
        code = _cc(sct) if style < 0.4 else _cc(icd) if style < 0.7 else _cc(sct, icd, text="Breast cancer")
        cond = self.condition(code, onset, "encounter-diagnosis")
        if stage is not None and rng.random() < 0.5:
            cond["stage"] = [{"summary": _cc(_coding(*stage))}]
        return cond

    def metastasis(self, onset: date, site: tuple[str, str, str, str]) -> Json:
        sct, sct_disp, icd, icd_disp = site
        style = self.rng.random()
        if style < 0.4:
            code = _cc(_coding(SNOMED, sct, sct_disp))
        elif style < 0.7:
            code = _cc(_coding(ICD10CM, icd, icd_disp))
        else:
            code = _cc(_coding(SNOMED, sct, sct_disp), _coding(ICD10CM, icd, icd_disp))
        return self.condition(code, onset, "encounter-diagnosis")

    def comorbidity(self) -> Json:
        sct, sct_disp, icd, icd_disp = self.rng.choice(COMORBIDITIES)
        code = (
            _cc(_coding(SNOMED, sct, sct_disp))
            if self.rng.random() < 0.5
            else _cc(_coding(ICD10CM, icd, icd_disp), text=icd_disp)
        )
        return self.condition(code, _day(self.rng, 7000, 30))

    # Observations -----------------------------------------------------------------------------
    def observation(self, code: Json, when: date, category: str = "laboratory", **value: Any) -> Json:
        hour, minute = self.rng.randint(7, 18), self.rng.randint(0, 59)
        obs: Json = {
            "resourceType": "Observation",
            "id": self._id("o"),
            "status": "final",
            "category": [_cc(_coding(OBS_CAT, category, category.replace("-", " ").title()))],
            "code": code,
            "subject": self.subject,
            "effectiveDateTime": f"{when.isoformat()}T{hour:02d}:{minute:02d}:00Z",
        }
        obs.update(value)
        return obs

    def stage_group(self, when: date, stage: tuple[str, str, str]) -> Json:
        return self.observation(
            _cc(_coding(LOINC, "21908-9", "Stage group.clinical Cancer")),
            when,
            "survey",
            valueCodeableConcept=_cc(_coding(*stage)),
            method=_cc(
                _coding(
                    SNOMED,
                    "897275008",
                    "American Joint Commission on Cancer, Cancer Staging "
                    "Manual, 8th edition neoplasm staging system (tumor staging)",
                )
            ),
        )

    def receptor(self, codes: list[tuple[str, str]], positive: bool, when: date) -> Json:
        code = _cc(_coding(LOINC, *self.rng.choice(codes)))
        style = self.rng.randrange(5)
        value: Json
        if style == 0:
            value = {
                "valueCodeableConcept": _cc(
                    _coding(SNOMED, "10828004", "Positive (qualifier value)")
                    if positive
                    else _coding(SNOMED, "260385009", "Negative (qualifier value)")
                )
            }
        elif style == 1:
            value = {
                "valueCodeableConcept": _cc(
                    _coding(LOINC, "LA6576-8", "Positive")
                    if positive
                    else _coding(LOINC, "LA6577-6", "Negative")
                )
            }
        elif style == 2:
            value = {
                "interpretation": [
                    _cc(
                        _coding(V3_INTERP, "POS", "Positive")
                        if positive
                        else _coding(V3_INTERP, "NEG", "Negative")
                    )
                ]
            }
        elif style == 3:
            pct = self.rng.randint(11, 95) if positive else 0
            value = {"valueQuantity": {"value": pct, "unit": "%", "system": UCUM, "code": "%"}}
        else:
            value = {
                "valueString": f"Positive ({self.rng.randint(11, 95)}%)" if positive else "Negative (<1%)"
            }
        return self.observation(code, when, **value)

    def her2_ihc(self, score: str, when: date) -> Json:
        code = _cc(_coding(LOINC, *self.rng.choice(HER2_IHC_CODES)))
        if score in ("0", "3+") and self.rng.random() < 0.4:
            positive = score == "3+"
            value: Json = {
                "valueCodeableConcept": _cc(
                    _coding(SNOMED, "10828004", "Positive (qualifier value)")
                    if positive
                    else _coding(SNOMED, "260385009", "Negative (qualifier value)"),
                    text=f"IHC {score}",
                )
            }
        elif self.rng.random() < 0.5:
            value = {"valueString": score}
        else:
            value = {"valueCodeableConcept": {"text": score}}
        return self.observation(code, when, **value)

    def her2_ish(self, positive: bool, when: date) -> Json:
        code = _cc(_coding(LOINC, *HER2_ISH))
        if self.rng.random() < 0.5:
            value: Json = {
                "valueCodeableConcept": _cc(
                    _coding(LOINC, "LA6576-8", "Positive")
                    if positive
                    else _coding(LOINC, "LA6577-6", "Negative")
                )
            }
        else:
            ratio = round(self.rng.uniform(2.3, 6.0) if positive else self.rng.uniform(1.0, 1.7), 2)
            value = {
                "valueQuantity": {"value": ratio, "unit": "{ratio}", "system": UCUM, "code": "{ratio}"},
                "interpretation": [
                    _cc(
                        _coding(
                            V3_INTERP, "POS" if positive else "NEG", "Positive" if positive else "Negative"
                        )
                    )
                ],
            }
        return self.observation(code, when, **value)

    def brca(self, gene: int, pathogenic: bool, when: date) -> Json:
        if self.rng.random() < 0.6:
            components = [
                {
                    "code": _cc(_coding(LOINC, "48018-6", "Gene studied [ID]")),
                    "valueCodeableConcept": _cc(_coding(HGNC, f"HGNC:{1100 + gene - 1}", f"BRCA{gene}")),
                },
                {
                    "code": _cc(_coding(LOINC, "48002-0", "Genomic source class [Type]")),
                    "valueCodeableConcept": _cc(_coding(LOINC, "LA6683-2", "Germline")),
                },
            ]
            if pathogenic:
                components.append(
                    {
                        "code": _cc(
                            _coding(LOINC, "53037-8", "Genetic variation clinical significance [Imp]")
                        ),
                        "valueCodeableConcept": _cc(_coding(LOINC, "LA6668-3", "Pathogenic")),
                    }
                )
            return self.observation(
                _cc(_coding(LOINC, "69548-6", "Genetic variant assessment")),
                when,
                valueCodeableConcept=_cc(
                    _coding(
                        LOINC, "LA9633-4" if pathogenic else "LA9634-2", "Present" if pathogenic else "Absent"
                    )
                ),
                component=components,
            )
        code = (
            (
                "21636-6",
                "BRCA1 gene mutations found [Identifier] in Blood or Tissue by Molecular genetics "
                "method Nominal",
            )
            if gene == 1
            else (
                "38530-2",
                "BRCA2 gene mutations found [Identifier] in Blood or Tissue by Molecular genetics method "
                "Nominal",
            )
        )
        return self.observation(
            _cc(_coding(LOINC, *code)),
            when,
            valueString="c.5266dupC (pathogenic)" if pathogenic else "No mutation detected",
        )

    def hormone_lab(self, postmenopausal: bool, when: date) -> list[Json]:
        e2 = round(self.rng.uniform(5, 18) if postmenopausal else self.rng.uniform(40, 250), 1)
        fsh = round(self.rng.uniform(45, 120) if postmenopausal else self.rng.uniform(3, 12), 1)
        return [
            self.observation(
                _cc(_coding(LOINC, "2243-4", "Estradiol (E2) [Mass/volume] in Serum or Plasma")),
                when,
                valueQuantity={"value": e2, "unit": "pg/mL", "system": UCUM, "code": "pg/mL"},
            ),
            self.observation(
                _cc(_coding(LOINC, "15067-2", "Follitropin [Units/volume] in Serum or Plasma")),
                when,
                valueQuantity={"value": fsh, "unit": "IU/L", "system": UCUM, "code": "[IU]/L"},
            ),
        ]

    def ecog(self, when: date) -> Json:
        return self.observation(
            _cc(_coding(LOINC, "89247-1", "ECOG Performance Status score")),
            when,
            "survey",
            valueInteger=self.rng.choice((0, 0, 1, 1, 2, 3)),
        )

    def lab(self) -> Json:
        code, display, unit, low, high, category = self.rng.choice(LABS)
        value = round(self.rng.uniform(low, high), 1)
        obs = self.observation(
            _cc(_coding(LOINC, code, display), text=display),
            _day(self.rng, 1500),
            category,
            valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit},
        )
        if category == "laboratory" and self.rng.random() < 0.3:
            obs["referenceRange"] = [
                {
                    "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                    "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
                }
            ]
        return obs

    def blood_pressure(self) -> Json:
        return self.observation(
            _cc(_coding(LOINC, "85354-9", "Blood pressure panel with all children optional")),
            _day(self.rng, 1500),
            "vital-signs",
            component=[
                {
                    "code": _cc(_coding(LOINC, "8480-6", "Systolic blood pressure")),
                    "valueQuantity": {
                        "value": self.rng.randint(100, 170),
                        "unit": "mm[Hg]",
                        "system": UCUM,
                        "code": "mm[Hg]",
                    },
                },
                {
                    "code": _cc(_coding(LOINC, "8462-4", "Diastolic blood pressure")),
                    "valueQuantity": {
                        "value": self.rng.randint(60, 100),
                        "unit": "mm[Hg]",
                        "system": UCUM,
                        "code": "mm[Hg]",
                    },
                },
            ],
        )

    # Medications and procedures -------------------------------------------------------------------
    def _med_cc(self, drug: str | tuple[str, str]) -> Json:
        code, display = self.rng.choice(DRUGS[drug]) if isinstance(drug, str) else drug
        return _cc(_coding(RXNORM, code, display), text=display)

    def med_request(self, drug: str | tuple[str, str], start: date, active: bool) -> Json:
        return {
            "resourceType": "MedicationRequest",
            "id": self._id("mr"),
            "status": "active" if active else "completed",
            "intent": "order",
            "medicationCodeableConcept": self._med_cc(drug),
            "subject": self.subject,
            "authoredOn": start.isoformat(),
            "dosageInstruction": [{"text": "as directed"}],
        }

    def med_statement(self, drug: str | tuple[str, str], start: date, active: bool) -> Json:
        period: Json = {"start": start.isoformat()}
        if not active:
            period["end"] = min(TODAY, start + timedelta(days=self.rng.randint(60, 700))).isoformat()
        return {
            "resourceType": "MedicationStatement",
            "id": self._id("ms"),
            "status": "active" if active else "completed",
            "medicationCodeableConcept": self._med_cc(drug),
            "subject": self.subject,
            "effectivePeriod": period,
        }

    def procedure(self, code: tuple[str, str] | None = None, when: date | None = None) -> Json:
        code = code or self.rng.choice(PROCEDURES)
        return {
            "resourceType": "Procedure",
            "id": self._id("pr"),
            "status": "completed",
            "code": _cc(_coding(SNOMED, *code)),
            "subject": self.subject,
            "performedDateTime": (when or _day(self.rng, 5000, 30)).isoformat(),
        }


# --- one patient ---------------------------------------------------------------------------------


def _bundle(resources: list[Json], base: str) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def make_request(
    index: int,
    size: int | None = None,
    seed: int = 20260601,
    fhir_base: str = "http://ehr.example.org/fhir",
    prefetch: bool = True,
) -> Json:
    """One patient-view request. ``size`` = total resources (Patient included); None picks 60-150."""
    rng = random.Random(f"{seed}:{index}:{size}")
    total = size if size is not None else rng.randint(60, 150)
    if total < 5:
        raise ValueError("a patient needs at least 5 resources")
    pid = f"bench-{seed % 10000}-{index}" + (f"-s{size}" if size is not None else "")
    b = _Builder(rng, pid)

    age = rng.randint(31, 88)
    birth = TODAY - timedelta(days=age * 365 + rng.randint(0, 364))
    patient: Json = {
        "resourceType": "Patient",
        "id": pid,
        "active": True,
        "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
        "gender": "female" if rng.random() < 0.97 else "male",
        "birthDate": birth.isoformat(),
        "identifier": [{"system": "http://ehr.example.org/mrn", "value": f"MRN{index:07d}"}],
    }
    subtype = rng.choice(SUBTYPES)
    metastatic = rng.random() < 0.85
    stage = rng.choice(STAGE_IV) if metastatic else rng.choice(STAGE_EARLY)
    dx = _day(rng, 3000, 200)
    met_dx = dx + timedelta(days=rng.randint(0, 1200)) if metastatic else dx
    met_dx = min(met_dx, TODAY - timedelta(days=30))
    er_pos = subtype.startswith("HR+")
    pr_pos = er_pos and rng.random() < 0.75
    her2_score = {
        "HR+/HER2-": rng.choice(("0", "0")),
        "HR+/HER2+": "3+",
        "HR-/HER2+": "3+",
        "TNBC": "0",
        "HR+/HER2-low": rng.choice(("1+", "2+")),
    }[subtype]
    if subtype.endswith("HER2+") and rng.random() < 0.3:
        her2_score = "2+"  # equivocal IHC resolved by a positive ISH below
    postmeno = age >= 55 or rng.random() < 0.2

    conditions = [b.primary(dx, stage)]
    observations: list[Json] = []
    med_req: list[Json] = []
    med_stmt: list[Json] = []
    procedures: list[Json] = []

    if metastatic:
        for site in rng.sample(METS, rng.randint(1, 3)):
            conditions.append(b.metastasis(met_dx, site))
    observations.append(b.stage_group(met_dx, stage))
    observations.append(b.receptor(ER_CODES, er_pos, dx))
    observations.append(b.receptor(PR_CODES, pr_pos, dx))
    observations.append(b.her2_ihc(her2_score, dx))
    # Core so far: patient + primary + >=1 met (if metastatic) + 4 observations + 1 medication = 8-10.
    core: list[tuple[list[Json], Callable[[], Json | list[Json]]]] = []
    if her2_score == "2+":
        core.append((observations, lambda: b.her2_ish(subtype.endswith("HER2+"), dx)))
    core.append((observations, lambda: b.brca(rng.choice((1, 2)), rng.random() < 0.12, dx)))
    core.append((observations, lambda: b.hormone_lab(postmeno, _day(rng, 200))))
    core.append((observations, lambda: b.ecog(_day(rng, 90))))

    # Therapy history by subtype (first drug always present so the rules have something to read).
    if er_pos:
        drugs = [
            "anastrozole" if postmeno else "tamoxifen",
            "letrozole",
            "palbociclib",
            "fulvestrant",
            "capecitabine",
        ]
    elif subtype.endswith("HER2+"):
        drugs = ["trastuzumab", "docetaxel", "paclitaxel", "capecitabine"]
    else:
        drugs = ["paclitaxel", "docetaxel", "capecitabine"]
    if subtype == "HR+/HER2+":
        drugs.insert(1, "trastuzumab")
    n_lines = rng.randint(1, len(drugs))
    start = dx + timedelta(days=30)
    for i, drug in enumerate(drugs[:n_lines]):
        active = i == n_lines - 1 and rng.random() < 0.7
        target = med_req if (i == 0 or rng.random() < 0.6) else med_stmt
        when = min(start, TODAY - timedelta(days=10))
        if i == 0:
            target.append((b.med_request if target is med_req else b.med_statement)(drug, when, active))
        else:
            core.append(
                (
                    target,
                    (
                        lambda d=drug, w=when, a=active, t=target: (
                            b.med_request if t is med_req else b.med_statement
                        )(d, w, a)
                    ),
                )
            )
        start += timedelta(days=rng.randint(90, 500))
    core.append((procedures, lambda: b.procedure(rng.choice(PROCEDURES[:2]), dx + timedelta(days=20))))
    if postmeno and age < 55:
        core.append((procedures, lambda: b.procedure(PROCEDURES[4], dx - timedelta(days=400))))
    core.append((conditions, b.comorbidity))

    count = 1 + len(conditions) + len(observations) + len(med_req) + len(med_stmt)
    # A small chart (5-9 resources, as a FHIR server's searches often return): the stage group, PR, the
    # other metastases and the medication go first; patient, primary, ER and HER2 stay.
    for drop in ("stage", "pr", "mets", "meds"):
        if count <= total:
            break
        if drop == "stage":
            observations.pop(0)
        elif drop == "pr":
            observations.pop(1)
        elif drop == "mets":
            while count > total and len(conditions) > 2:
                conditions.pop()
                count -= 1
            continue
        else:
            (med_req or med_stmt).pop()
        count -= 1
    for target, make in core:
        if count >= total:
            break
        made = make()
        items = made if isinstance(made, list) else [made]
        items = items[: total - count]
        target.extend(items)
        count += len(items)

    # Filler: mostly labs/vitals, then comorbidities, supportive medications, procedures.
    while count < total:
        roll = rng.random()
        if roll < 0.72:
            observations.append(b.lab())
        elif roll < 0.80:
            observations.append(b.blood_pressure())
        elif roll < 0.86:
            conditions.append(b.comorbidity())
        elif roll < 0.93:
            med_req.append(b.med_request(rng.choice(FILLER_DRUGS), _day(rng, 2000, 5), rng.random() < 0.7))
        elif roll < 0.96:
            med_stmt.append(b.med_statement(rng.choice(FILLER_DRUGS), _day(rng, 2000, 5), rng.random() < 0.5))
        else:
            procedures.append(b.procedure())
        count += 1

    req: Json = {
        "hook": "patient-view",
        "hookInstance": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "context": {"patientId": pid, "userId": f"Practitioner/dr{rng.randint(1, 40)}"},
    }
    bundles = {
        "patient": patient,
        "conditions": _bundle(conditions, fhir_base),
        "observations": _bundle(observations, fhir_base),
        "medicationRequests": _bundle(med_req, fhir_base),
        "medicationStatements": _bundle(med_stmt, fhir_base),
        "medicationAdministrations": _bundle([], fhir_base),
        "procedures": _bundle(procedures, fhir_base),
    }
    if prefetch:
        req["prefetch"] = bundles
    else:
        req["fhirServer"] = fhir_base
        req["fhirAuthorization"] = {
            "access_token": f"bench-token-{index}",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-mbc-bench",
        }
        req["_bench_bundles"] = bundles  # the stub's data; stripped by strip_private before sending
    return req


def strip_private(req: Json) -> Json:
    """The request as sent on the wire (drops the generator's private keys)."""
    return {k: v for k, v in req.items() if not k.startswith("_bench")}


def count_resources(req: Json) -> int:
    pre = req.get("prefetch") or req.get("_bench_bundles") or {}
    n = 0
    for value in pre.values():
        if value is None:
            continue
        n += len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
    return n


def iter_requests(count: int, seed: int = 20260601, **kwargs: Any) -> Iterator[Json]:
    for i in range(count):
        yield make_request(i, None, seed, **kwargs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=None, help="exact resources per patient (default 60-150)")
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--out", type=Path, default=None, help="NDJSON file (one request a line); default stdout")
    args = ap.parse_args(argv)
    out = args.out.open("wb") if args.out else sys.stdout.buffer
    try:
        for i in range(args.count):
            out.write(orjson.dumps(make_request(i, args.size, args.seed)) + b"\n")
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
