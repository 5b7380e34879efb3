"""Matching codes and texts against the code lists: ``CodeList.match`` and ``Terminology``, the code
lists, medicines and drug classes the profile asks about.

The rules of matching are cds.fhir.vocabulary's; loading is cds.fhir.codelists; the cheap filter on
every resource of a chart is cds.fhir.prefilter. Answers are remembered per concept, bounded (a
hospital's charts repeat the same few hundred codes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final, Literal

from cds.fhir.codelists import REQUIRED_LISTS, read_code_lists
from cds.fhir.models import Resource
from cds.fhir.prefilter import Prefilter
from cds.fhir.vocabulary import (
    SYSTEM_URIS,
    CodeEntry,
    CodeListData,
    Drug,
    DrugClass,
    Role,
    TextEntry,
    find_phrase,
    norm_code,
    system_key,
    tokens,
    words,
)

__all__ = [
    "REQUIRED_LISTS",
    "SYSTEM_URIS",
    "CodeEntry",
    "CodeList",
    "Coding",
    "ConceptMatches",
    "Drug",
    "DrugClass",
    "Match",
    "Role",
    "Terminology",
    "TextEntry",
    "find_phrase",
    "norm_code",
    "system_key",
    "tokens",
    "words",
]

#: One coding as matching reads it: (system, code, display).
Coding = tuple[str | None, str | None, str | None]
#: A CodeableConcept as matching reads it: its codings and text (and, for one match, by_text).
_ConceptKey = tuple[tuple[Coding, ...], str | None]
_TEXT_CACHE_MAX = 50_000


@dataclass(frozen=True, slots=True)
class Match:
    """What a CodeableConcept matched: the entry's value/facts and how (``code`` or ``text``)."""

    value: str | None
    facts: Mapping[str, str]
    display: str
    via: Literal["code", "text"]
    code: str | None = None


@dataclass(frozen=True)
class CodeList(CodeListData):
    """A code list (cds.fhir.vocabulary.CodeListData) and its matching, with its answers remembered."""

    # display text -> its match: the same few displays recur in every chart, tokenising them is not free
    _text_matches: dict[str, TextEntry | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, data: CodeListData) -> CodeList:
        return cls(**{f.name: getattr(data, f.name) for f in fields(CodeListData)})

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

    def excludes(self, text: str) -> bool:
        """The text holds one of the list's ``exclude_text`` phrases, which veto a text match ("BSO
        deferred, ovaries conserved" is no oophorectomy; cds.profile.menopause also asks it of a coded
        record's text)."""
        return self._vetoed(words(text))

    def _vetoed(self, hay: str) -> bool:
        return any(find_phrase(hay, ex) >= 0 for ex in self.exclude_text)

    def _match_text(self, text: str) -> TextEntry | None:
        hay = words(text)
        if self._vetoed(hay):
            return None
        for entry in self.text:
            if find_phrase(hay, entry.match) >= 0:
                return entry
        return None

    def match(self, codings: Iterable[Coding], text: str | None, *, by_text: bool = True) -> Match | None:
        """Match (system, code, display) triples first, then texts (concept text and displays).

        Not remembered here: the profile asks through ``Terminology.concept`` entries, which are.
        """
        return self._match(tuple(codings), text, by_text)

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


class ConceptMatches:
    """One concept (codings, text) and what it matched so far, list by list (``Terminology.concept``).

    The one cache of what a concept matches: the profile asks several code lists about the same
    concept, and charts repeat the same codes, so each list's answer (CodeList.match's own), the lists
    it matches and the medicines it names are worked out once per concept and process. The profile
    also keeps the labels it makes of the concept here (they depend on the codings and text alone).
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


@dataclass(frozen=True)
class Terminology:
    drug_class_names: frozenset[str]
    prefilter: Prefilter  # the cheap filter on every resource of a chart (cds.fhir.prefilter)
    lists: Mapping[str, CodeList] = field(default_factory=dict)
    drugs: tuple[Drug, ...] = ()
    classes: Mapping[str, DrugClass] = field(default_factory=dict)
    drugs_by_code: Mapping[tuple[str, str], tuple[Drug, ...]] = field(default_factory=dict)  # RxNorm, ATC
    # medicine -> the single-agent medicines its classes contain (itself when it is one): a product of
    # pertuzumab and trastuzumab is those two, so a switch of formulation or route is the same agents
    agents: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # combination product -> its parts, when each part is a medicine of the list (the co-pack)
    parts: Mapping[str, tuple[Drug, ...]] = field(default_factory=dict)
    # concept -> its entry, which remembers what the concept matches in each list, the lists it matches
    # and the medicines it names: a hospital's charts repeat the same codes, every topic asks again
    _concepts: dict[_ConceptKey, ConceptMatches] = field(default_factory=dict, repr=False, compare=False)

    # --- loading ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, codes_dir: Path) -> Terminology:
        """The code lists of ``codes_dir`` (cds.fhir.codelists: a bad file stops start-up)."""
        files = read_code_lists(codes_dir)
        return cls.build(files.lists, files.drugs, files.classes)

    @classmethod
    def build(
        cls, lists: Mapping[str, CodeListData], drugs: Sequence[Drug], classes: Mapping[str, DrugClass]
    ) -> Terminology:
        by_code: dict[tuple[str, str], list[Drug]] = {}
        for drug in drugs:
            for key in drug.codes:
                by_code.setdefault(key, []).append(drug)
        by_name = {drug.name: drug for drug in drugs}
        parts = {
            drug.name: tuple(by_name[part] for part in drug.name.split("/"))
            for drug in drugs
            if "/" in drug.name and all(part in by_name for part in drug.name.split("/"))
        }
        return cls(
            drug_class_names=frozenset(classes),
            prefilter=Prefilter.build(lists.values(), drugs),
            lists={name: CodeList.of(data) for name, data in lists.items()},
            drugs=tuple(drugs),
            classes=dict(classes),
            drugs_by_code={k: tuple(v) for k, v in by_code.items()},
            agents={drug.name: _single_agents(drug, drugs) for drug in drugs},
            parts=parts,
        )

    # --- lookups ----------------------------------------------------------------------------------
    def codes(self, name: str) -> CodeList:
        return self.lists[name]

    def lists_matching(self, codings: Iterable[Coding], text: str | None) -> frozenset[str]:
        """Names of the code lists a concept matches, by code or text (remembered per concept, so a
        test code seen before is sorted to its topics with one lookup)."""
        return self.lists_of(self.concept(codings, text))

    def concept(self, codings: Iterable[Coding], text: str | None) -> ConceptMatches:
        """The concept's entry, for ``match_in``, ``lists_of`` and ``drugs_of`` (at most
        ``_MATCH_CACHE_MAX`` kept; a long concept gets a fresh entry each time)."""
        key = (tuple(codings), text)
        hit = self._concepts.get(key)
        if hit is None:
            hit = ConceptMatches(*key)
            if _concept_size(*key) <= _MATCH_KEY_MAX_CHARS:
                if len(self._concepts) >= _MATCH_CACHE_MAX:
                    self._concepts.clear()  # unusual codes, or hostile input
                self._concepts[key] = hit
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
        """The names of the code lists the concept matches, remembered (with each list's match)."""
        known = concept.lists
        if known is None:
            known = concept.lists = frozenset(
                name for name in self.lists if self.match_in(concept, name) is not None
            )
        return known

    def drugs_of(self, concept: ConceptMatches) -> tuple[Drug, ...]:
        """The medicines the concept names, remembered (``drugs_in``)."""
        known = concept.drugs
        if known is None:
            known = concept.drugs = self._drugs_in_concept(concept.codings, concept.text)
        return known

    def drug_classes(self) -> frozenset[str]:
        return self.drug_class_names

    def drugs_in(self, codings: Iterable[Coding], text: str | None) -> tuple[Drug, ...]:
        """The medicines a concept names: by RxNorm or ATC code, else by a synonym in its text or, failing
        that, in a display (local and NDC codings). With a code, the text adds only the combination product
        the coded drug is part of ("Kisqali Femara Co-Pack" coded by the ribociclib ingredient: ``_packs``),
        never a drug it merely mentions ("Fulvestrant 500 mg (letrozole stopped - arthralgia)": review 20).
        Remembered per concept."""
        return self.drugs_of(self.concept(codings, text))

    def _drugs_in_concept(self, codings: tuple[Coding, ...], text: str | None) -> tuple[Drug, ...]:
        found: list[Drug] = []
        for system, code, _ in codings:
            if code:
                for drug in self.drugs_by_code.get((system_key(system), code.strip()), ()):
                    if drug not in found:
                        found.append(drug)
        coded = {drug.name for drug in found}
        for name in (text, *(display for _, _, display in codings)):
            drugs = self.drugs_for_text(name)
            if drugs:
                found += [
                    drug for drug in drugs if drug not in found and (not coded or _packs(drug, coded, name))
                ]
                break
        # a combination product whose parts are each a medicine of the list is those medicines (the
        # co-pack is letrozole and ribociclib, one record each for the regimen); one with another part
        # stays itself and stands for its parts (Phesgo, with its hyaluronidase: not trastuzumab + Phesgo)
        named: list[Drug] = []
        for drug in found:
            named += [part for part in self.parts.get(drug.name, (drug,)) if part not in named]
        within = {part for drug in named if "/" in drug.name for part in drug.name.split("/")}
        return tuple(drug for drug in named if drug.name not in within)

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

    # --- the pre-filter -----------------------------------------------------------------------------
    def is_relevant(self, resource: Resource) -> bool:
        """True when a resource may inform the profile (cds.fhir.prefilter)."""
        return self.prefilter.is_relevant(resource)

    def is_medication_record(self, resource: Resource) -> bool:
        """True for a medication record that records a medicine, any medicine (cds.fhir.prefilter)."""
        return self.prefilter.is_medication_record(resource)


#: Words by which a medicine's text speaks of another product than the one given ("Palbociclib (Kisqali
#: Femara Co-Pack stopped - QTc)", "Trastuzumab (switched from Phesgo)": review 21).
_OTHER_PRODUCT: Final = frozenset(
    {"stopped", "discontinued", "previously", "previous", "prior", "after", "from", "switched"}
    | {"replaces", "replaced", "instead"}
)


def _packs(drug: Drug, coded: set[str], text: str | None) -> bool:
    """Whether a coded medicine's text names, in ``drug``, the combination product it is part of (the
    Kisqali Femara Co-Pack coded by its ribociclib), not another product it mentions."""
    return (
        "/" in drug.name
        and not coded.isdisjoint(drug.name.split("/"))
        and _OTHER_PRODUCT.isdisjoint(words(text or "").split())
    )


def _single_agents(drug: Drug, drugs: Sequence[Drug]) -> frozenset[str]:
    own = set(drug.classes)
    parts = [d.name for d in drugs if d is not drug and set(d.classes) < own]
    return frozenset(parts or [drug.name])


# Concepts remembered (with what each matches): a hospital's charts hold a few hundred distinct relevant
# codes; the caps keep hostile input to a few MB.
_MATCH_CACHE_MAX = 4_096
_MATCH_KEY_MAX_CHARS = 500


def _concept_size(codings: tuple[Coding, ...], text: str | None) -> int:
    return sum(len(part) for coding in codings for part in coding if part) + len(text or "")
