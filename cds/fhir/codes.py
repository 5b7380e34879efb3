"""Code lists (``cards/codes/*.yaml``) and coding helpers.

Each YAML file holds one concept (``concept`` = the file stem): codes by system, ICD-10 prefixes,
text phrases for codings that carry no standard code, and ``keywords`` for the cheap relevance
filter. ``medications.yaml`` holds drugs (RxNorm codes, synonyms, classes) and the class vocabulary
that rule conditions may name. ``Terminology.load`` reads every file once at start and refuses a bad
one with ``KnowledgeError(file, field, problem)``.

Matching rules (documented here because every profile module relies on them):

* systems are folded to short keys (``system_key``): all ICD-10 flavours (CM, GM, WHO) become
  ``icd10``; unknown URIs keep their own key so a local code never collides with a standard one;
  entries with ``system: any`` match the code under any (or no) system (v3 interpretation codes are
  seen with wrong system URIs);
* ICD-10 and AJCC codes compare upper-case without dots (``C50.911`` = ``C50911``);
* ``prefixes`` match the longest prefix first (``C79.5`` bone before ``C79`` other);
* text phrases match whole words, case-insensitive; a concept's ``exclude_text`` vetoes a text match;
* ``keywords`` feed the cheap filter; a keyword with spaces ("pr status") needs all its words, so an
  ECG "PR interval" is not taken for a progesterone receptor result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import yaml

from cds.errors import KnowledgeError
from cds.fhir import models

Role = Literal["test", "value", "condition", "finding", "procedure", "medication"]
_ROLES: frozenset[str] = frozenset({"test", "value", "condition", "finding", "procedure", "medication"})

#: One coding as matching reads it: (system, code, display).
Coding = tuple[str | None, str | None, str | None]
#: A CodeableConcept as matching reads it: its codings and text (and, for one match, by_text).
_ConceptKey = tuple[tuple[Coding, ...], str | None]
_MatchKey = tuple[tuple[Coding, ...], str | None, bool]

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
    "ajcc": ("http://cancerstaging.org",),
    "hgnc": ("http://www.genenames.org/geneId", "http://www.genenames.org"),
    "seer": ("http://seer.cancer.gov",),
    "v3-interpretation": ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",),
}
_YAML_SYSTEMS = frozenset(SYSTEM_URIS) | {"any"}
_EXACT: dict[str, str] = {uri: key for key, uris in SYSTEM_URIS.items() for uri in uris}
_KEY_CACHE: dict[str, str] = {}
_DOTLESS = frozenset({"icd10", "ajcc"})

#: ICD-10 three-character categories the cheap relevance filter accepts (breast, secondaries,
#: receptor status, genetic susceptibility, personal history of cancer, acquired absence of ovaries).
_ICD_CATEGORIES = frozenset({"C50", "C77", "C78", "C79", "C7B", "Z17", "Z15", "Z85", "Z90"})
_ICD_CHAPTERS_1 = frozenset(c[0] for c in _ICD_CATEGORIES) | frozenset(c[0].lower() for c in _ICD_CATEGORIES)

_PUNCT = str.maketrans({c: " " for c in "()[],;:.!?\"'*=<>|\\{}#&"})


def system_key(uri: str | None) -> str:
    """Fold a coding system URI to a short key ("snomed", "loinc", "icd10", ...; "" when absent)."""
    if not uri:
        return ""
    key = _KEY_CACHE.get(uri)
    if key is not None:
        return key
    key = _EXACT.get(uri)
    if key is None:
        low = uri.lower()
        if "snomed" in low:
            key = "snomed"
        elif "loinc" in low:
            key = "loinc"
        elif "icd-10" in low or "icd10" in low:
            key = "icd10"
        elif "rxnorm" in low:
            key = "rxnorm"
        elif "genenames" in low or "hgnc" in low:
            key = "hgnc"
        elif "cancerstaging" in low:
            key = "ajcc"
        elif "observationinterpretation" in low or "observation-interpretation" in low:
            key = "v3-interpretation"
        else:
            key = "other:" + low
    if len(_KEY_CACHE) < 10_000:
        _KEY_CACHE[uri] = key
    return key


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


@dataclass(frozen=True, slots=True)
class Match:
    """What a CodeableConcept matched: the entry's value/facts and how (``code`` or ``text``)."""

    value: str | None
    facts: Mapping[str, str]
    display: str
    via: Literal["code", "text"]
    code: str | None = None


@dataclass(frozen=True)
class CodeList:
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
    # display text -> its match: the same few displays recur in every chart, tokenising them is not free
    _text_matches: dict[str, TextEntry | None] = field(default_factory=dict, repr=False, compare=False)
    # concept -> its match (None too): a hospital's charts repeat the same codes, every topic asks again
    _matches: dict[_MatchKey, Match | None] = field(default_factory=dict, repr=False, compare=False)

    def match_coding(self, system: str | None, code: str | None) -> CodeEntry | None:
        if not code:
            return None
        key = system_key(system)
        c = norm_code(key, code)
        hit = self.codes.get((key, c))
        if hit is not None:
            return hit
        if key == "icd10":
            return self._icd_prefix(c) or self.any_codes.get(c)
        if key == "":
            # no system: only codes whose shape is unambiguous (LOINC nnnn-n, ICD-10 letter+digits)
            if "-" in c and c.replace("-", "").isdigit():
                hit = self.codes.get(("loinc", c))
            elif c[:1].isalpha() and c[1:3].isdigit():
                icd = norm_code("icd10", c)
                hit = self.codes.get(("icd10", icd)) or self._icd_prefix(icd)
            if hit is not None:
                return hit
        return self.any_codes.get(code.strip()) or self.any_codes.get(c.upper())

    def _icd_prefix(self, code: str) -> CodeEntry | None:
        for p, entry in self.prefixes.get("icd10", ()):
            if code.startswith(p):
                return entry
        return None

    def match_text(self, text: str | None) -> TextEntry | None:
        if not text or not self.text:
            return None
        if text in self._text_matches:
            return self._text_matches[text]
        hit = self._match_text(text)
        if len(self._text_matches) < _TEXT_CACHE_MAX and len(text) <= 200:
            self._text_matches[text] = hit
        return hit

    def _match_text(self, text: str) -> TextEntry | None:
        hay = words(text)
        for ex in self.exclude_text:
            if find_phrase(hay, ex) >= 0:
                return None
        for entry in self.text:
            if find_phrase(hay, entry.match) >= 0:
                return entry
        return None

    def match(self, codings: Iterable[Coding], text: str | None, *, by_text: bool = True) -> Match | None:
        """Match (system, code, display) triples first, then texts (concept text and displays).

        The answer is remembered per concept of at most ``_MATCH_KEY_MAX_CHARS`` characters, for up to
        ``_MATCH_CACHE_MAX`` concepts per code list; longer concepts are matched afresh each time.
        """
        key = (tuple(codings), text, by_text)
        try:
            return self._matches[key]
        except KeyError:
            pass
        hit = self._match(*key)
        _remember(self._matches, key, hit)
        return hit

    def _match(self, codings: tuple[Coding, ...], text: str | None, by_text: bool) -> Match | None:
        displays: list[str] = []
        for system, code, display in codings:
            entry = self.match_coding(system, code)
            if entry is not None:
                return Match(entry.value, entry.facts, entry.display, "code", entry.code)
            if display:
                displays.append(display)
        if not by_text:
            return None
        for t in (text, *displays):
            hit = self.match_text(t)
            if hit is not None:
                return Match(hit.value, hit.facts, hit.display, "text")
        return None


@dataclass(frozen=True, slots=True)
class DrugClass:
    name: str
    display: str
    counts_as_line: bool = True


@dataclass(frozen=True, slots=True)
class Drug:
    name: str
    classes: tuple[str, ...]
    rxnorm: frozenset[str]
    synonyms: tuple[str, ...]


def member(obj: Any, name: str) -> Any:
    """A member of a raw resource or element: a parsed JSON object's (dict) or a read model's
    (cds.fhir.models; None when it has no such element); None for anything else."""
    if isinstance(obj, _ELEMENT):
        return getattr(obj, name, None)
    if type(obj) is dict:  # parsed JSON: dict, not the (slower to check) Mapping ABC
        return obj.get(name)
    return None


# Held where compiled code reads them without a lookup by name in the uncompiled models module: these
# run for every resource of every chart.
_CODEABLE_CONCEPT: Final = models.CodeableConcept
_ELEMENT: Final = models.Element
_OBSERVATION: Final = models.Observation
_READ_TYPES: Final = models.READ_TYPES


def resource_type(resource: Any) -> str | None:
    """The resourceType of a raw resource (dict) or read model; None when it has no valid one."""
    read_type = _READ_TYPES.get(type(resource))
    if read_type is not None:
        return read_type
    # any JSON value (compiled code checks a variable's declared type: this one is Any)
    rtype: Any = resource.get("resourceType") if type(resource) is dict else None
    return rtype if isinstance(rtype, str) else None


@dataclass(frozen=True, slots=True)
class RawFilter:
    """One vocabulary of the cheap filter on raw resources (parsed JSON or read models): codes, ICD-10
    three-character categories (``icd_categories``), keywords and multi-word phrases (all words must
    appear) for texts and displays. Charts repeat the same displays thousands of times ("Body
    height"): each text's answer is remembered."""

    codes: frozenset[str]
    keywords: frozenset[str] = frozenset()
    phrases: tuple[frozenset[str], ...] = ()
    icd_categories: bool = False
    _texts: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def concept(self, cc: Any) -> bool:
        """True when a raw CodeableConcept (parsed JSON or read model) has one of the codes, or a
        keyword in a display or its text."""
        if type(cc) is _CODEABLE_CONCEPT:  # the usual case: attributes, no type checks
            for c in cc.coding or ():
                if self.coded(c.code) or self.words(c.display):
                    return True
            return self.words(cc.text)
        if not isinstance(cc, dict):
            return False
        coding = cc.get("coding")
        if isinstance(coding, list):
            for c in coding:
                if isinstance(c, dict) and (self.coded(c.get("code")) or self.words(c.get("display"))):
                    return True
        return self.words(cc.get("text"))

    def coded(self, code: Any) -> bool:
        """True when a code is one of the codes (or its ICD-10 category is one of the categories)."""
        return (
            isinstance(code, str)
            and (
                code in self.codes
                or (
                    self.icd_categories
                    and code[:1] in _ICD_CHAPTERS_1  # a one-character string: no allocation, unlike code[:3]
                    and code[:3].upper() in _ICD_CATEGORIES
                )
            )
        )

    def words(self, text: Any) -> bool:
        """True when a text has one of the keywords or all the words of a phrase."""
        if not self.keywords or not isinstance(text, str):
            return False
        hit = self._texts.get(text)
        if hit is None:
            found = tokens(text)
            hit = not self.keywords.isdisjoint(found) or any(p <= found for p in self.phrases)
            if len(self._texts) < _TEXT_CACHE_MAX and len(text) <= 200:
                self._texts[text] = hit
        return hit


class ConceptMatches:
    """One concept (codings, text) and what it matched so far, list by list (``Terminology.concept``).

    The profile asks several code lists about the same concept: each CodeList's cache hashes and
    compares the whole concept again for every list asked. Looked up once per call here, the concept
    then answers each list with a lookup by the list's name. Filled as lists are asked; the answers
    are CodeList.match's own. The profile also keeps the labels it makes of the concept here (they
    depend on the codings and text alone), so that each is made once, not once per call.
    """

    __slots__ = ("by_code", "by_text", "codings", "described", "drugs", "label", "lists", "text")

    def __init__(self, codings: tuple[Coding, ...], text: str | None) -> None:
        self.codings = codings
        self.text = text
        self.by_text: dict[str, Match | None] = {}  # list name -> match(by_text=True)
        self.by_code: dict[str, Match | None] = {}  # list name -> match(by_text=False)
        self.lists: frozenset[str] | None = None  # lists_matching, once asked
        self.drugs: tuple[Drug, ...] | None = None  # drugs_in, once asked
        self.label: str | None = None  # cds.profile.common.label of it, once made
        self.described: str | None = None  # cds.profile.common.describe of it, once made


_CodesKey = str | tuple[str | None, ...] | None


class _ConceptIndex:
    """``Terminology.concept``'s entries, found by their codes (their text when they have no coding)
    and then compared whole.

    The profile asks with the strings of each request: new objects, whose hash is not computed yet.
    Hashing the whole concept (system URIs, long displays) costs more than hashing its codes and
    comparing the rest, for every concept of every call. Holds at most ``_MATCH_CACHE_MAX`` entries
    (full, it starts again).
    """

    __slots__ = ("by_codes", "size")

    def __init__(self) -> None:
        self.by_codes: dict[_CodesKey, list[ConceptMatches]] = {}
        self.size = 0

    def find(self, codings: tuple[Coding, ...], text: str | None) -> ConceptMatches | None:
        entries = self.by_codes.get(_codes_key(codings, text))
        if entries is not None:
            for entry in entries:
                if entry.text == text and _same_codings(entry.codings, codings):
                    return entry
        return None

    def add(self, entry: ConceptMatches) -> None:
        if self.size >= _MATCH_CACHE_MAX:
            self.by_codes.clear()  # unusual codes, or hostile input
            self.size = 0
        self.by_codes.setdefault(_codes_key(entry.codings, entry.text), []).append(entry)
        self.size += 1


def _same_codings(known: tuple[Coding, ...], asked: tuple[Coding, ...]) -> bool:
    """``known == asked``, compared part by part (compiled, string comparisons; the tuples' own
    comparison goes through the generic rich comparison at each level)."""
    if len(known) != len(asked):
        return False
    for i in range(len(known)):
        system, code, display = known[i]
        asked_system, asked_code, asked_display = asked[i]
        if code != asked_code or display != asked_display or system != asked_system:
            return False
    return True


def _codes_key(codings: tuple[Coding, ...], text: str | None) -> _CodesKey:
    if not codings:
        return text
    if len(codings) == 1:
        return codings[0][1]
    return tuple([code for _, code, _ in codings])


@dataclass(frozen=True)
class Terminology:
    drug_class_names: frozenset[str]
    # the cheap raw-JSON filter: codes and keywords of the code lists (a finding may also be the
    # Observation/Condition code), finding codes as Observation values, and the medicines
    clinical_filter: RawFilter
    finding_filter: RawFilter
    medication_filter: RawFilter
    lists: Mapping[str, CodeList] = field(default_factory=dict)
    drugs: tuple[Drug, ...] = ()
    classes: Mapping[str, DrugClass] = field(default_factory=dict)
    drugs_by_rxcui: Mapping[str, tuple[Drug, ...]] = field(default_factory=dict)
    # concept -> the code lists it matches, the medicines it names (bounded like CodeList's matches)
    _lists_matching: dict[_ConceptKey, frozenset[str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _drugs_in: dict[_ConceptKey, tuple[Drug, ...]] = field(default_factory=dict, repr=False, compare=False)
    _concepts: _ConceptIndex = field(default_factory=_ConceptIndex, repr=False, compare=False)

    # --- loading ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, codes_dir: Path) -> Terminology:
        if not codes_dir.is_dir():
            raise KnowledgeError(str(codes_dir), "-", "code list folder not found")
        lists: dict[str, CodeList] = {}
        drugs: tuple[Drug, ...] = ()
        classes: dict[str, DrugClass] = {}
        for path in sorted(codes_dir.glob("*.yaml")):
            data = _read_yaml(path)
            if data.get("role") == "medication":
                drugs, classes = _parse_medications(path, data)
            else:
                code_list = _parse_code_list(path, data)
                lists[code_list.name] = code_list
        for name in REQUIRED_LISTS:
            if name not in lists:
                raise KnowledgeError(f"{name}.yaml", "-", f"required code list {name!r} is missing")
        if not drugs:
            raise KnowledgeError("medications.yaml", "drugs", "required medication list is missing")
        return cls.build(lists, drugs, classes)

    @classmethod
    def build(
        cls, lists: Mapping[str, CodeList], drugs: Sequence[Drug], classes: Mapping[str, DrugClass]
    ) -> Terminology:
        by_rxcui: dict[str, list[Drug]] = {}
        for drug in drugs:
            for code in drug.rxnorm:
                by_rxcui.setdefault(code, []).append(drug)
        relevant: set[str] = set()
        keywords: set[str] = set()
        pairs: set[frozenset[str]] = set()
        findings: set[str] = set()
        for code_list in lists.values():
            if code_list.role == "value":
                continue
            target = findings if code_list.role == "finding" else relevant
            target.update(code for (_, code) in code_list.codes)
            target.update(code_list.any_codes)
            for keyword in code_list.keywords:
                if " " in keyword:
                    pairs.add(frozenset(keyword.split()))
                else:
                    keywords.add(keyword)
        relevant |= findings  # a finding may also be the Observation/Condition code
        med_keywords: set[str] = set()
        for drug in drugs:
            for syn in drug.synonyms:
                # whole synonyms, and parts of compounds only when distinctive ("5" of "5-fu" is not)
                med_keywords.update(t for t in tokens(syn) if t == syn or (len(t) >= 4 and not t.isdigit()))
        med_keywords -= _GENERIC_WORDS
        return cls(
            drug_class_names=frozenset(classes),
            lists=dict(lists),
            drugs=tuple(drugs),
            classes=dict(classes),
            drugs_by_rxcui={k: tuple(v) for k, v in by_rxcui.items()},
            clinical_filter=RawFilter(
                frozenset(relevant), frozenset(keywords), tuple(pairs), icd_categories=True
            ),
            finding_filter=RawFilter(frozenset(findings)),
            medication_filter=RawFilter(frozenset(by_rxcui), frozenset(med_keywords)),
        )

    # --- lookups ----------------------------------------------------------------------------------
    def codes(self, name: str) -> CodeList:
        return self.lists[name]

    def lists_matching(self, codings: Iterable[Coding], text: str | None) -> frozenset[str]:
        """Names of the code lists a concept matches, by code or text (remembered per concept, so a
        test code seen before is sorted to its topics with one lookup)."""
        key = (tuple(codings), text)
        hit = self._lists_matching.get(key)
        if hit is None:
            hit = frozenset(name for name, codes in self.lists.items() if codes.match(*key) is not None)
            _remember(self._lists_matching, key, hit)
        return hit

    def concept(self, codings: Iterable[Coding], text: str | None) -> ConceptMatches:
        """The concept's entry, for ``match_in``, ``lists_of`` and ``drugs_of`` (bounded like the other
        caches: a long concept gets a fresh entry each time)."""
        key = tuple(codings)
        hit = self._concepts.find(key, text)
        if hit is None:
            hit = ConceptMatches(key, text)
            if _concept_size(key, text) <= _MATCH_KEY_MAX_CHARS:
                self._concepts.add(hit)
        return hit

    def match_in(self, concept: ConceptMatches, name: str, *, by_text: bool = True) -> Match | None:
        """``self.lists[name].match(concept.codings, concept.text, by_text=by_text)``, remembered."""
        memo = concept.by_text if by_text else concept.by_code
        if name in memo:
            return memo[name]
        hit = self.lists[name].match(concept.codings, concept.text, by_text=by_text)
        memo[name] = hit  # at most one entry per code list
        return hit

    def lists_of(self, concept: ConceptMatches) -> frozenset[str]:
        """``lists_matching`` of the concept, remembered."""
        known = concept.lists
        if known is None:
            known = concept.lists = self.lists_matching(concept.codings, concept.text)
        return known

    def drugs_of(self, concept: ConceptMatches) -> tuple[Drug, ...]:
        """``drugs_in`` of the concept, remembered."""
        known = concept.drugs
        if known is None:
            known = concept.drugs = self.drugs_in(concept.codings, concept.text)
        return known

    def drug_classes(self) -> frozenset[str]:
        return self.drug_class_names

    def drugs_in(self, codings: Iterable[Coding], text: str | None) -> tuple[Drug, ...]:
        """The medicines a concept names: by RxNorm code, else by a synonym in its text or, failing
        that, in a display (local and NDC codings). Remembered per concept."""
        key = (tuple(codings), text)
        hit = self._drugs_in.get(key)
        if hit is None:
            hit = self._drugs_in_concept(*key)
            _remember(self._drugs_in, key, hit)
        return hit

    def _drugs_in_concept(self, codings: tuple[Coding, ...], text: str | None) -> tuple[Drug, ...]:
        found: list[Drug] = []
        for system, code, _ in codings:
            if code and system_key(system) == "rxnorm":
                for drug in self.drugs_by_rxcui.get(code.strip(), ()):
                    if drug not in found:
                        found.append(drug)
        if found:
            return tuple(found)
        for name in (text, *(display for _, _, display in codings)):
            drugs = self.drugs_for_text(name)
            if drugs:
                return drugs
        return ()

    def drugs_for_text(self, text: str | None) -> tuple[Drug, ...]:
        """Drugs named in a free text; a synonym inside a longer matched synonym does not count
        (``ado-trastuzumab emtansine`` is T-DM1, not also trastuzumab)."""
        if not text:
            return ()
        hay = words(text)
        spans: list[tuple[int, int, Drug]] = []
        for drug in self.drugs:
            for syn in drug.synonyms:
                i = find_phrase(hay, syn)
                if i >= 0:
                    spans.append((i, i + len(syn), drug))
        kept: list[Drug] = []
        for s, e, drug in spans:
            inside = any((s2 <= s and e <= e2 and (e2 - s2) > (e - s)) for s2, e2, _ in spans)
            if not inside and drug not in kept:
                kept.append(drug)
        # a combination product (Phesgo) stands for its named components
        combined = {part for d in kept if "/" in d.name for part in d.name.split("/")}
        return tuple(d for d in kept if d.name not in combined)

    # --- the cheap raw-JSON filter ------------------------------------------------------------------
    def is_relevant(self, resource: Any) -> bool:
        """True when a raw resource (parsed JSON or read model) may inform the profile (checked before
        any content checks).

        A few set lookups per coding: codes from the code lists, ICD-10 three-character categories,
        and whole-word keywords in ``text``/``display`` (``RawFilter``). No regex, no walk over the
        whole resource.
        """
        if type(resource) is _OBSERVATION:  # most of a chart, as a read model: attributes only
            value = resource.valueCodeableConcept
            return self.clinical_filter.concept(resource.code) or (
                value is not None and self.finding_filter.concept(value)
            )
        rtype = resource_type(resource)
        if rtype == "Observation":
            value = member(resource, "valueCodeableConcept")
            return self.clinical_filter.concept(member(resource, "code")) or (
                value is not None and self.finding_filter.concept(value)
            )
        if rtype == "Condition" or rtype == "Procedure":
            return self.clinical_filter.concept(member(resource, "code"))
        if rtype is None or rtype not in _MEDICATION_TYPES:
            return False
        medicines = self.medication_filter
        cc = member(resource, "medicationCodeableConcept")
        if cc is not None:
            return medicines.concept(cc)
        ref = member(resource, "medicationReference")
        if ref is not None:
            contained = member(resource, "contained")
            if isinstance(contained, list):
                for med in contained:
                    if resource_type(med) == "Medication" and medicines.concept(member(med, "code")):
                        return True
            display = member(ref, "display")
            if isinstance(display, str):
                return medicines.words(display)
        return False

    def is_medication_record(self, resource: Any) -> bool:
        """True for a MedicationRequest/Statement/Administration that records a medicine (any medicine),
        i.e. not entered-in-error / cancelled / not-done. Cheap; lets the selector tell the profile that
        medication data was sent even when none of it is a cancer medicine (``medication_history``)."""
        rtype = resource_type(resource)
        if rtype is None or rtype not in _MEDICATION_TYPES:
            return False
        status = member(resource, "status")
        return not (isinstance(status, str) and status in _NOT_A_RECORD)


_TEXT_CACHE_MAX = 50_000
# Concepts remembered per cache (each code list's matches; the lists and the medicines a concept
# names): a hospital's charts hold a few hundred distinct relevant codes; the caps keep hostile input
# to a few MB per cache (~30 code lists).
_MATCH_CACHE_MAX = 4_096
_MATCH_KEY_MAX_CHARS = 500
_NOT_A_RECORD = frozenset({"entered-in-error", "cancelled", "draft", "not-done", "not-taken"})
_MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement", "MedicationAdministration"})
_GENERIC_WORDS = frozenset(
    {"acid", "protein", "bound", "liposomal", "pegylated", "fam", "ado", "albumin", "hylecta"}
)

#: Code lists the profile needs; a missing file stops start-up.
REQUIRED_LISTS: tuple[str, ...] = (
    "breast-cancer",
    "secondary-cancer",
    "metastasis-sites",
    "stage-group-tests",
    "stage-iv",
    "m-category-tests",
    "m1",
    "er-tests",
    "pr-tests",
    "her2-ihc-tests",
    "her2-ish-tests",
    "her2-ihc-values",
    "result-values",
    "receptor-conditions",
    "brca",
    "brca-genes",
    "brca-conditions",
    "genomic-components",
    "genomic-source",
    "pd-l1-tests",
    "menopause",
    "menopause-labs",
    "oophorectomy",
    "treatment-intent",
    "treatment-stop-reasons",
    "disease-status-tests",
    "disease-status-values",
    "breast-surgery",
    "metastasis-history",
)


def _concept_size(codings: tuple[Coding, ...], text: str | None) -> int:
    return sum(len(part) for coding in codings for part in coding if part) + len(text or "")


_K = TypeVar("_K", _ConceptKey, _MatchKey)
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """Keep what a concept matched, unless the concept is long; a full cache starts again."""
    if _concept_size(key[0], key[1]) > _MATCH_KEY_MAX_CHARS:
        return
    if len(cache) >= _MATCH_CACHE_MAX:
        cache.clear()  # unusual codes, or hostile input
    cache[key] = value


# --- parsing --------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(path.name, "-", f"cannot read file ({exc})") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(path.name, "-", f"not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(path.name, "-", "must be a mapping")
    return data


def _text(path: Path, where: str, value: Any, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(path.name, where, 'must be a non-empty string (quote codes like "010")')
    return value.strip()


def _str_map(path: Path, where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise KnowledgeError(path.name, where, "must map names to strings")
    return dict(value)


_CODE_LIST_KEYS = frozenset(
    {
        "concept",
        "display",
        "role",
        "source",
        "values",
        "codes",
        "prefixes",
        "text",
        "exclude_text",
        "keywords",
    }
)


def _parse_code_list(path: Path, data: Mapping[str, Any]) -> CodeList:
    unknown = set(data) - _CODE_LIST_KEYS
    if unknown:
        raise KnowledgeError(path.name, sorted(unknown)[0], "unknown field")
    name = _text(path, "concept", data.get("concept"))
    if name != path.stem:
        raise KnowledgeError(path.name, "concept", f"must equal the file name {path.stem!r}")
    display = _text(path, "display", data.get("display"))
    role = data.get("role")
    if role not in _ROLES:
        raise KnowledgeError(path.name, "role", f"must be one of {sorted(_ROLES)}")
    source = _text(path, "source", data.get("source"), required=False)
    allowed_raw = data.get("values")
    allowed: frozenset[str] | None = None
    if allowed_raw is not None:
        if not isinstance(allowed_raw, list) or not all(isinstance(v, str) for v in allowed_raw):
            raise KnowledgeError(path.name, "values", "must be a list of strings")
        allowed = frozenset(allowed_raw)

    def check_value(where: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise KnowledgeError(path.name, where, "must be a string")
        if allowed is not None and value not in allowed:
            raise KnowledgeError(path.name, where, f"{value!r} is not one of values {sorted(allowed)}")
        return value

    codes: dict[tuple[str, str], CodeEntry] = {}
    any_codes: dict[str, CodeEntry] = {}
    for i, item in enumerate(_list(path, "codes", data.get("codes"))):
        where = f"codes[{i}]"
        if not isinstance(item, dict):
            raise KnowledgeError(path.name, where, "must be a mapping")
        system = item.get("system")
        if system not in _YAML_SYSTEMS:
            raise KnowledgeError(path.name, f"{where}.system", f"must be one of {sorted(_YAML_SYSTEMS)}")
        code = _text(path, f"{where}.code", item.get("code"))
        entry = CodeEntry(
            system=str(system),
            code=code,
            display=_text(path, f"{where}.display", item.get("display")),
            value=check_value(f"{where}.value", item.get("value")),
            facts=_str_map(path, f"{where}.facts", item.get("facts")),
            source=_text(path, f"{where}.source", item.get("source"), required=False) or None,
        )
        extra = set(item) - {"system", "code", "display", "value", "facts", "source"}
        if extra:
            raise KnowledgeError(path.name, f"{where}.{sorted(extra)[0]}", "unknown field")
        if system == "any":
            any_codes[code] = entry
            any_codes.setdefault(code.upper(), entry)
        else:
            codes[(str(system), norm_code(str(system), code))] = entry
    prefixes: dict[str, list[tuple[str, CodeEntry]]] = {}
    for i, item in enumerate(_list(path, "prefixes", data.get("prefixes"))):
        where = f"prefixes[{i}]"
        if not isinstance(item, dict):
            raise KnowledgeError(path.name, where, "must be a mapping")
        if item.get("system") != "icd10":
            raise KnowledgeError(path.name, f"{where}.system", "prefixes are only supported for icd10")
        prefix = norm_code("icd10", _text(path, f"{where}.prefix", item.get("prefix")))
        entry = CodeEntry(
            system="icd10",
            code=prefix,
            display=_text(path, f"{where}.display", item.get("display")),
            value=check_value(f"{where}.value", item.get("value")),
            facts=_str_map(path, f"{where}.facts", item.get("facts")),
            source=_text(path, f"{where}.source", item.get("source"), required=False) or None,
        )
        prefixes.setdefault("icd10", []).append((prefix, entry))
    text: list[TextEntry] = []
    for i, item in enumerate(_list(path, "text", data.get("text"))):
        where = f"text[{i}]"
        if not isinstance(item, dict):
            raise KnowledgeError(path.name, where, "must be a mapping")
        text.append(
            TextEntry(
                match=words(_text(path, f"{where}.match", item.get("match"))).strip(),
                display=_text(path, f"{where}.display", item.get("display")),
                value=check_value(f"{where}.value", item.get("value")),
                facts=_str_map(path, f"{where}.facts", item.get("facts")),
            )
        )
    exclude: list[str] = []
    for i, item in enumerate(_list(path, "exclude_text", data.get("exclude_text"))):
        if not isinstance(item, dict):
            raise KnowledgeError(path.name, f"exclude_text[{i}]", "must be a mapping")
        _text(path, f"exclude_text[{i}].display", item.get("display"))
        exclude.append(words(_text(path, f"exclude_text[{i}].match", item.get("match"))).strip())
    keywords = _list(path, "keywords", data.get("keywords"))
    if not all(isinstance(k, str) and k for k in keywords):
        raise KnowledgeError(path.name, "keywords", "must be a list of words")
    return CodeList(
        name=name,
        display=display,
        role=role,
        source=source,
        codes=codes,
        any_codes=any_codes,
        prefixes={k: tuple(sorted(v, key=lambda pe: -len(pe[0]))) for k, v in prefixes.items()},
        text=tuple(text),
        exclude_text=tuple(exclude),
        keywords=frozenset(k.lower() for k in keywords),
    )


def _list(path: Path, where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KnowledgeError(path.name, where, "must be a list")
    return value


def _parse_medications(path: Path, data: Mapping[str, Any]) -> tuple[tuple[Drug, ...], dict[str, DrugClass]]:
    unknown = set(data) - {"concept", "display", "role", "source", "classes", "drugs"}
    if unknown:
        raise KnowledgeError(path.name, sorted(unknown)[0], "unknown field")
    if data.get("concept") != path.stem:
        raise KnowledgeError(path.name, "concept", f"must equal the file name {path.stem!r}")
    _text(path, "display", data.get("display"))
    raw_classes = data.get("classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        raise KnowledgeError(path.name, "classes", "must map class names to {display, counts_as_line}")
    classes: dict[str, DrugClass] = {}
    for name, spec in raw_classes.items():
        where = f"classes.{name}"
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or name != name.lower():
            raise KnowledgeError(path.name, where, "class names are lower_snake_case")
        if not isinstance(spec, dict):
            raise KnowledgeError(path.name, where, "must be a mapping")
        counts = spec.get("counts_as_line", True)
        if not isinstance(counts, bool):
            raise KnowledgeError(path.name, f"{where}.counts_as_line", "must be true or false")
        classes[name] = DrugClass(name, _text(path, f"{where}.display", spec.get("display")), counts)
    drugs: list[Drug] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(path, "drugs", data.get("drugs"))):
        where = f"drugs[{i}]"
        if not isinstance(item, dict):
            raise KnowledgeError(path.name, where, "must be a mapping")
        name = _text(path, f"{where}.name", item.get("name"))
        if name in seen:
            raise KnowledgeError(path.name, f"{where}.name", f"duplicate drug {name!r}")
        seen.add(name)
        drug_classes = item.get("classes")
        if not isinstance(drug_classes, list) or not drug_classes:
            raise KnowledgeError(path.name, f"{where}.classes", "must be a non-empty list")
        for c in drug_classes:
            if c not in classes:
                raise KnowledgeError(path.name, f"{where}.classes", f"{c!r} is not declared under classes")
        codes: set[str] = set()
        for j, rx in enumerate(_list(path, f"{where}.rxnorm", item.get("rxnorm"))):
            rwhere = f"{where}.rxnorm[{j}]"
            if not isinstance(rx, dict):
                raise KnowledgeError(path.name, rwhere, "must be a mapping")
            code = _text(path, f"{rwhere}.code", rx.get("code"))
            if not code.isdigit():
                raise KnowledgeError(path.name, f"{rwhere}.code", "an RxCUI is digits only")
            _text(path, f"{rwhere}.display", rx.get("display"))
            codes.add(code)
        synonyms = item.get("synonyms")
        if (
            not isinstance(synonyms, list)
            or not synonyms
            or not all(isinstance(s, str) and s for s in synonyms)
        ):
            raise KnowledgeError(path.name, f"{where}.synonyms", "must be a non-empty list of names")
        drugs.append(
            Drug(
                name=name,
                classes=tuple(drug_classes),
                rxnorm=frozenset(codes),
                synonyms=tuple(words(s).strip() for s in synonyms),
            )
        )
    if not drugs:
        raise KnowledgeError(path.name, "drugs", "must list at least one drug")
    return tuple(drugs), classes
