"""The vocabulary of the code lists (``cards/codes/*.yaml``): their entries, and how codes and texts are
compared. Loading is cds.fhir.codelists, matching cds.fhir.codes, the pre-filter cds.fhir.prefilter.

Matching rules (documented here because every profile module relies on them):

* systems are folded to short keys (``system_key``): all ICD-10 flavours (CM, GM, WHO) become
  ``icd10``; unknown URIs keep their own key so a local code never collides with a standard one;
  entries with ``system: any`` match the code under any (or no) system (v3 interpretation codes are
  seen with wrong system URIs);
* ICD-10 and AJCC codes compare upper-case without dots (``C50.911`` = ``C50911``);
* medicines match by RxNorm or ATC code (``Drug.codes``), exactly: an ATC class code (``L02BG``
  aromatase inhibitors) is not one of its drugs, and ATC versions that moved a drug (palbociclib
  L01XE33 until 2020, L01EF01 since) are both listed;
* ``prefixes`` match the longest prefix first (``C79.5`` bone before ``C79`` other);
* text phrases match whole words, case-insensitive; a concept's ``exclude_text`` vetoes a text match;
* ``keywords`` feed the cheap filter; a keyword with spaces ("pr status") needs all its words, so an
  ECG "PR interval" is not taken for a progesterone receptor result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: ``medicine``: a non-cancer medicine a safety fact reads (insulin); its codes and names join the
#: medicine pre-filter, not the Condition/Observation one.
Role = Literal["test", "value", "condition", "finding", "procedure", "medication", "medicine"]

#: YAML system names and the URIs they stand for (for documentation and exact lookup).
SYSTEM_URIS: Mapping[str, tuple[str, ...]] = {
    "snomed": ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"),
    "loinc": ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"),
    "icd10": (
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10",
        "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
        "http://fhir.de/CodeSystem/dimdi/icd-10-gm",
        "urn:oid:2.16.840.1.113883.6.90",
        "urn:oid:2.16.840.1.113883.6.3",
    ),
    "rxnorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"),
    # WHO ATC: the HL7 THO URI and OID (CodeSystem v3-WC), and the German BfArM (formerly DIMDI) edition
    # that MII/German data carry; codes are case-sensitive, upper-case as published
    "atc": (
        "http://www.whocc.no/atc",
        "urn:oid:2.16.840.1.113883.6.73",
        "http://fhir.de/CodeSystem/bfarm/atc",
        "http://fhir.de/CodeSystem/dimdi/atc",
    ),
    "ajcc": ("http://cancerstaging.org",),
    "hgnc": ("http://www.genenames.org/geneId", "http://www.genenames.org"),
    "seer": ("http://seer.cancer.gov",),
    # ICD-O-3 morphology (8500/3: behaviour after the slash) and topography (C50.4), as mCODE and MII send
    "icdo3": ("http://terminology.hl7.org/CodeSystem/icd-o-3", "urn:oid:2.16.840.1.113883.6.43.1"),
    # the German oBDS overall assessment of a course (Verlauf): progression, remission, stable
    "mii-onko-verlauf": (
        "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/mii-cs-onko-verlauf-gesamtbeurteilung",
    ),
    "v3-interpretation": ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",),
    "v3-nullflavor": (
        "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
        "urn:oid:2.16.840.1.113883.5.1008",
    ),
}
_EXACT: dict[str, str] = {uri: key for key, uris in SYSTEM_URIS.items() for uri in uris}
_DOTLESS = frozenset({"icd10", "ajcc"})

_PUNCT = str.maketrans({c: " " for c in "()[],;:.!?\"'*=<>|\\{}#&"})


def system_key(uri: str | None) -> str:
    """Fold a coding system URI to a short key ("snomed", "loinc", "icd10", ...; "" when absent)."""
    if not uri:
        return ""
    key = _EXACT.get(uri)
    if key is not None:
        return key
    low = uri.lower()
    if "snomed" in low:
        return "snomed"
    if "loinc" in low:
        return "loinc"
    if "icd-10" in low or "icd10" in low:
        return "icd10"
    if "rxnorm" in low:
        return "rxnorm"
    if "whocc.no/atc" in low or low.endswith(("/atc", "/atc/")):
        return "atc"
    if "genenames" in low or "hgnc" in low:
        return "hgnc"
    if "cancerstaging" in low:
        return "ajcc"
    if "observationinterpretation" in low or "observation-interpretation" in low:
        return "v3-interpretation"
    return "other:" + low


def norm_code(key: str, code: str) -> str:
    code = code.strip()
    if key in _DOTLESS:
        return code.upper().replace(".", "").replace(" ", "")
    return code


def words(text: str) -> str:
    """Lower-case, punctuation to spaces, single-spaced, padded: ready for whole-word search."""
    return " " + " ".join(text.lower().translate(_PUNCT).split()) + " "


_WORD_RE = re.compile(r"[^\W_]+(?:[-/+][^\W_]*)*")


def tokens(text: str) -> set[str]:
    """Words of a short text, plus the parts of hyphen/slash compounds (cheap filter only)."""
    out = set(_WORD_RE.findall(text.lower()))
    for word in tuple(out):
        if "-" in word or "/" in word or "+" in word:
            out.update(p for p in word.replace("/", "-").replace("+", "-").split("-") if p)
    return out


def find_phrase(haystack: str, phrase: str) -> int:
    """Index of ``phrase`` in ``haystack`` (both lower-case) as whole words, or -1."""
    start = 0
    n = len(phrase)
    while True:
        i = haystack.find(phrase, start)
        if i < 0:
            return -1
        before = haystack[i - 1] if i > 0 else " "
        after = haystack[i + n] if i + n < len(haystack) else " "
        if not before.isalnum() and not after.isalnum():
            return i
        start = i + 1


@dataclass(frozen=True, slots=True)
class CodeEntry:
    system: str
    code: str
    display: str
    value: str | None = None
    facts: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True, slots=True)
class TextEntry:
    match: str
    display: str
    value: str | None = None
    facts: Mapping[str, str] = field(default_factory=dict)
    # phrases that, in the same clause, say the match means something else: "new lesion ... flare" is no
    # progression (cds.profile.negation.affirmed_value reads them)
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeListData:
    """One code list file, as loaded (cds.fhir.codelists); cds.fhir.codes.CodeList matches with it."""

    name: str
    display: str
    role: Role
    source: str
    codes: Mapping[tuple[str, str], CodeEntry]
    any_codes: Mapping[str, CodeEntry]
    prefixes: Mapping[str, tuple[tuple[str, CodeEntry], ...]]
    text: tuple[TextEntry, ...]
    exclude_text: tuple[str, ...]
    keywords: frozenset[str]


@dataclass(frozen=True, slots=True)
class DrugClass:
    name: str
    display: str
    counts_as_line: bool = True


@dataclass(frozen=True, slots=True)
class Drug:
    name: str
    classes: tuple[str, ...]
    codes: frozenset[tuple[str, str]]  # (system key, code): ("rxnorm", "72965"), ("atc", "L02BG04")
    synonyms: tuple[str, ...]
