"""Small, total helpers over the FHIR read models (cds.fhir.models) shared by the profile modules.

Nothing here raises on odd data: missing elements give ``None`` or empty results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Final, Generic, ParamSpec, TypeAlias, TypeVar

from cds.evidence import DataIssue, Evidence, IssueKind
from cds.fhir import models
from cds.fhir.codes import CodeList, Coding, ConceptMatches, Drug, Match, Terminology
from cds.fhir.models import CodeableConcept
from cds.profile.dates import fhir_date, period_start
from cds.profile.negation import affirmed_value

# Status codes the profile sets aside
UNCONFIRMED: Final = ("provisional", "differential", "unconfirmed")  # Condition.verificationStatus
_OBS_IGNORED: Final = ("entered-in-error", "cancelled")
_COND_REFUTED: Final = ("refuted", "entered-in-error")
_COND_INACTIVE: Final = ("resolved", "inactive", "remission")


_T = TypeVar("_T")
_P = ParamSpec("_P")

#: The records of medicines given, ordered or taken.
MedicationRecord: TypeAlias = (
    models.MedicationRequest | models.MedicationStatement | models.MedicationAdministration
)


class Context:
    """What every topic needs: the code lists, today, and the issue list it appends to."""

    __slots__ = ("_concepts", "_held", "issues", "terminology", "today")

    def __init__(self, terminology: Terminology, today: date, issues: list[DataIssue] | None = None) -> None:
        self.terminology = terminology
        self.today = today
        self.issues: list[DataIssue] = [] if issues is None else issues
        # id(CodeableConcept) -> its entry in the code lists' cache (its codings and text, what it
        # matches): every topic matches the same few codes against its own lists, so each concept is
        # read and looked up once per call (measured: 0.25 ms of a 2.5-3.5 ms call, 8-9%, at 5-30 and
        # 100 resources). The concepts read are held, so that their ids stay unique during the call.
        self._concepts: dict[int, ConceptMatches] = {}
        self._held: list[CodeableConcept] = []

    def issue(self, topic: str, kind: IssueKind, message: str, *evidence: Evidence) -> None:
        self.issues.append(DataIssue(topic, kind, message, tuple(evidence)))

    def guarded(
        self, topic: str, fallback: _T, derive: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """``derive(*args, **kwargs)``, or ``fallback`` when it fails on unexpected data: one topic that
        breaks is reported as unreadable and left unknown, the others still derived."""
        try:
            return derive(*args, **kwargs)
        except Exception as exc:
            self.issue(topic, "unreadable", f"Could not derive {topic} from the data ({type(exc).__name__}).")
            return fallback

    def codes(self, name: str) -> CodeList:
        return self.terminology.codes(name)

    def match(self, name: str, cc: CodeableConcept | None, *, by_text: bool = True) -> Match | None:
        """What the CodeableConcept ``cc`` matches in the code list ``name`` (None for no concept)."""
        if cc is None:
            return None
        entry = self._entry(cc)
        known = entry.lists
        if known is not None and name not in known and name in self.terminology.lists:
            return None  # matches neither by code nor by text (its lists were asked already)
        return self.terminology.match_in(entry, name, by_text=by_text)

    def affirmed(self, name: str, cc: CodeableConcept | None, *, doubt_counts: bool = False) -> str | None:
        """The value a reason written by a clinician (a medicine's statusReason) gives in the code list
        ``name``: by code, else by a phrase of its text (or a coding's display) that the clause it stands
        in does not deny (``affirmed_value``): "Grade 3 neutropenia; no PD on restaging CT" is a side
        effect, "ILD excluded on CT" no lung disease."""
        if cc is None:
            return None
        hit = self.match(name, cc, by_text=False)
        if hit is not None:
            return hit.value
        codes = self.codes(name)
        for text in (cc.text, *(display for _, _, display in self.codings(cc))):
            value = affirmed_value(codes, text, doubt_counts=doubt_counts) if text else None
            if value is not None:
                return value
        return None

    def lists_matching(self, cc: CodeableConcept | None) -> frozenset[str]:
        """Names of the code lists the CodeableConcept ``cc`` matches, by code or text."""
        if cc is None:
            return frozenset()
        return self.terminology.lists_of(self._entry(cc))

    def drugs(self, cc: CodeableConcept | None) -> tuple[Drug, ...]:
        """The medicines a CodeableConcept names (by RxNorm or ATC code, else a synonym in a text)."""
        if cc is None:
            return ()
        return self.terminology.drugs_of(self._entry(cc))

    def codings(self, cc: CodeableConcept | None) -> tuple[Coding, ...]:
        """``codings(cc)``, read once per call."""
        return self._entry(cc).codings if cc is not None else ()

    def text(self, cc: CodeableConcept | None) -> str | None:
        """``cc_text(cc)``, read once per call."""
        return self._entry(cc).text if cc is not None else None

    def label(self, cc: CodeableConcept | None) -> str:
        """``label(cc)``, made once per concept (kept with its entry in the code lists' cache)."""
        if cc is None:
            return label(None)
        entry = self._entry(cc)
        made = entry.label
        if made is None:
            made = entry.label = _label(entry.codings, entry.text)
        return made

    def describe(self, cc: CodeableConcept | None) -> str:
        """``describe(cc)``, made once per concept (kept with its entry in the code lists' cache)."""
        if cc is None:
            return describe(None)
        entry = self._entry(cc)
        made = entry.described
        if made is None:
            made = entry.described = _describe(entry.codings, entry.text)
        return made

    def _entry(self, cc: CodeableConcept) -> ConceptMatches:
        entry = self._concepts.get(id(cc))
        if entry is None:
            entry = self._concepts[id(cc)] = self.terminology.concept(codings(cc), cc_text(cc))
            self._held.append(cc)
        return entry


_Coded = TypeVar("_Coded", models.Observation, models.Condition)


class Coded(Generic[_Coded]):
    """A call's usable resources of one kind (Observations, Conditions), in the order received, with the
    code lists their code matches and those their code or a component's code matches: a topic reads only
    those coded in its own lists (and still checks each one itself) instead of matching every resource
    against its lists.

    Read on first use, inside a topic, so odd data fails that topic as before, not the whole call.
    """

    def __init__(self, resources: Sequence[_Coded], usable: Callable[[_Coded], bool], ctx: Context) -> None:
        self._resources: Sequence[_Coded] = resources
        self._usable: Callable[[_Coded], bool] = usable
        self._ctx = ctx
        self._coded: list[tuple[_Coded, frozenset[str], frozenset[str]]] | None = None

    def usable(self) -> list[_Coded]:
        """All of them, coded or not."""
        return [resource for resource, _, _ in self._read()]

    def coded(self, *lists: str, in_components: bool = False) -> list[_Coded]:
        """Those whose code (or, with ``in_components``, a component's code) matches one of ``lists``."""
        return self.coded_in(lists, in_components=in_components)

    def coded_in(self, lists: tuple[str, ...], *, in_components: bool = False) -> list[_Coded]:
        """``coded(*lists)`` with the lists as one tuple."""
        return [
            resource
            for resource, code_lists, with_components in self._read()
            if not (with_components if in_components else code_lists).isdisjoint(lists)
        ]

    def _read(self) -> list[tuple[_Coded, frozenset[str], frozenset[str]]]:
        if self._coded is None:
            coded = []
            for resource in self._resources:
                if self._usable(resource):
                    code_lists = self._ctx.lists_matching(resource.code)
                    coded.append((resource, code_lists, self._with_components(resource, code_lists)))
            self._coded = coded
        return self._coded

    def _with_components(self, resource: _Coded, code_lists: frozenset[str]) -> frozenset[str]:
        """The lists the resource's code or one of its components' codes matches."""
        if not isinstance(resource, models.Observation) or not resource.component:
            return code_lists  # only Observations have components
        return code_lists.union(*(self._ctx.lists_matching(comp.code) for comp in resource.component))


#: A call's usable Observations / Conditions.
Observations: TypeAlias = Coded[models.Observation]
Conditions: TypeAlias = Coded[models.Condition]


def ref(resource: models.Resource) -> str:
    return f"{resource.__resource_type__}/{resource.id or '?'}"


def evidence(resource: models.Resource, when: str | None, text: str) -> Evidence:
    return Evidence(ref(resource), when, text[:200])


def codings(cc: CodeableConcept | None) -> tuple[Coding, ...]:
    coding = cc.coding if cc is not None else None
    if not coding:
        return ()
    if len(coding) == 1:  # most concepts: no list to build and copy
        c = coding[0]
        return ((c.system, c.code, c.display),)
    return tuple([(c.system, c.code, c.display) for c in coding])


def cc_text(cc: CodeableConcept | None) -> str | None:
    text = cc.text if cc is not None else None
    return text if text is not None and text.strip() else None


def describe(cc: CodeableConcept | None) -> str:
    """A short human label for a CodeableConcept: its text, else a display, else system|code."""
    return _describe(codings(cc), cc_text(cc))


#: SNOMED CT's semantic tags, which fully specified names end with: "Positive (qualifier value)" reads
#: "Positive" to a clinician.
_SEMANTIC_TAGS: Final = tuple(
    f" ({tag})"
    for tag in (
        "qualifier value",
        "finding",
        "disorder",
        "observable entity",
        "procedure",
        "morphologic abnormality",
        "body structure",
        "substance",
        "product",
        "situation",
        "regime/therapy",
        "clinical drug",
        "medicinal product",
    )
)


def plain_display(display: str) -> str:
    """A SNOMED display without its semantic tag ("Positive (qualifier value)" reads "Positive")."""
    return display.removesuffix(next((tag for tag in _SEMANTIC_TAGS if display.endswith(tag)), ""))


def _describe(cc_codings: tuple[Coding, ...], text: str | None) -> str:
    if text:
        return text
    for _, code, display in cc_codings:
        if display:
            return plain_display(display)
        if code:
            return code
    return "(no text)"


def label(cc: CodeableConcept | None) -> str:
    """``display (SYSTEM code)`` for evidence texts."""
    return _label(codings(cc), cc_text(cc))


def _label(cc_codings: tuple[Coding, ...], text: str | None) -> str:
    for system, code, display in cc_codings:
        if code:
            return f"{plain_display(display) if display else text or code} ({system_label(system)} {code})"
    return text or "(uncoded)"


def system_label(system: str | None) -> str:
    """A code system's short name in evidence texts ("SNOMED", "ATC"), else "code"."""
    return _SYSTEM_LABEL.get((system or "").rstrip("/"), "code")


_SYSTEM_LABEL = {
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
    "urn:oid:2.16.840.1.113883.6.73": "ATC",
    "http://fhir.de/CodeSystem/bfarm/atc": "ATC",
    "http://fhir.de/CodeSystem/dimdi/atc": "ATC",
    "http://terminology.hl7.org/CodeSystem/v3-NullFlavor": "NullFlavor",
}


def status_code(cc: CodeableConcept | None) -> str | None:
    for coding in (cc.coding if cc is not None else None) or ():
        code = coding.code
        if code:
            return code.strip().lower()
    text = cc_text(cc)
    return text.strip().lower() if text else None


# --- resource-level status and dates --------------------------------------------------------------


def observation_usable(obs: models.Observation) -> bool:
    return obs.status not in _OBS_IGNORED


# The dates below are read in FHIR's order and only as far as needed (most records have the first):
# the first readable one, as first_date(...) of all of them would give.


def observation_date(obs: models.Observation) -> str | None:
    return (
        fhir_date(obs.effectiveDateTime)
        or fhir_date(period_start(obs.effectivePeriod))
        or fhir_date(obs.effectiveInstant)
        or fhir_date(obs.issued)
    )


def condition_usable(cond: models.Condition) -> bool:
    return status_code(cond.verificationStatus) not in _COND_REFUTED


def condition_current(cond: models.Condition) -> bool:
    """False when clinicalStatus says resolved / inactive / remission, or (no status) it has abated."""
    status = status_code(cond.clinicalStatus)
    if status is None:
        return (
            cond.abatementDateTime is None
            and cond.abatementPeriod is None
            and cond.abatementAge is None
            and cond.abatementString is None
        )
    return status not in _COND_INACTIVE


def condition_date(cond: models.Condition) -> str | None:
    return (
        fhir_date(cond.onsetDateTime)
        or fhir_date(period_start(cond.onsetPeriod))
        or fhir_date(cond.recordedDate)
    )


def procedure_date(proc: models.Procedure) -> str | None:
    return fhir_date(proc.performedDateTime) or fhir_date(period_start(proc.performedPeriod))


# --- values --------------------------------------------------------------------------------------


def reference_id(reference: models.Reference | None) -> str | None:
    """``Condition/abc`` from a Reference (last two segments of a relative or absolute URL)."""
    target = reference.reference if reference is not None else None
    if not target:
        return None
    parts = target.rstrip("/").split("/")
    if target.startswith("#"):
        return target
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else target


def components(obs: models.Observation) -> Sequence[models.ObservationComponent]:
    """The Observation's components (its own list, not a copy: callers only read it)."""
    return obs.component or ()


def stop_reasons(record: MedicationRecord) -> tuple[CodeableConcept, ...]:
    """Why a medicine record was stopped: its statusReason, one concept on a MedicationRequest, a list on
    a MedicationStatement or MedicationAdministration."""
    reasons = record.statusReason
    if isinstance(reasons, list):
        return tuple(reasons)
    return (reasons,) if reasons is not None else ()
