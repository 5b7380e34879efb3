"""Loading the code lists (``cards/codes/*.yaml``), validated with pydantic as the rule files are.

Each YAML file holds one concept (``concept`` = the file stem): codes by system, ICD-10 prefixes,
text phrases for codings that carry no standard code, and ``keywords`` for the cheap relevance
filter. ``medications.yaml`` holds drugs (RxNorm and ATC codes, synonyms, classes) and the class
vocabulary that rule conditions may name. Every file is read once at start; a bad one stops start-up with
``KnowledgeError(file, field, problem)``, the field written as in the file (``codes[0].display``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cds.errors import KnowledgeError
from cds.fhir.vocabulary import (
    CodeEntry,
    CodeListData,
    Drug,
    DrugClass,
    Role,
    TextEntry,
    norm_code,
    words,
)
from cds.yaml_files import read_yaml

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
    "treatment-hold-reasons",
    "disease-status-tests",
    "disease-status-values",
    "breast-surgery",
    "metastasis-history",
    "malignant-neoplasm-site-unstated",
    "breast-body-sites",
    "in-situ-morphology",
    "unknown-values",
)

F = TypeVar("F", bound=BaseModel)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Digits = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]+$")]
ClassName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
#: An ATC substance (level 5, seven characters); a group (L02BG aromatase inhibitors) is not one medicine.
AtcCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")]
System = Literal[
    "snomed",
    "loinc",
    "icd10",
    "rxnorm",
    "atc",
    "ajcc",
    "hgnc",
    "seer",
    "icdo3",
    "v3-interpretation",
    "v3-nullflavor",
    "mii-onko-verlauf",
    "any",
]


class _Strict(BaseModel):
    # strict: a code written 010 in YAML is the number 8, not the string "010"
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Code(_Strict):
    system: System
    code: Text
    display: Text
    value: str | None = None
    facts: dict[str, str] = {}
    source: Text | None = None


class _Prefix(_Strict):
    system: Literal["icd10"]
    prefix: Text
    display: Text
    value: str | None = None
    facts: dict[str, str] = {}
    source: Text | None = None


class _Text(_Strict):
    match: Text
    display: Text
    value: str | None = None
    facts: dict[str, str] = {}
    unless: list[Text] = []


class _Exclude(_Strict):
    match: Text
    display: Text


class _CodeListFile(_Strict):
    concept: Text
    display: Text
    role: Literal["test", "value", "condition", "finding", "procedure", "medicine"]
    source: Text | None = None
    values: list[str] | None = None  # the values entries may carry, when the list says
    codes: list[_Code] = []
    prefixes: list[_Prefix] = []
    text: list[_Text] = []
    exclude_text: list[_Exclude] = []
    keywords: list[Text] = []


class _RxNorm(_Strict):
    code: Digits
    display: Text
    tty: str | None = None
    source: Text | None = None


class _Atc(_Strict):
    code: AtcCode
    display: Text
    note: Text | None = None  # e.g. the ATC versions a code belonged to, when it was moved
    source: Text | None = None


class _Drug(_Strict):
    name: Text
    classes: Annotated[list[ClassName], Field(min_length=1)]
    rxnorm: list[_RxNorm] = []
    atc: list[_Atc] = []
    synonyms: Annotated[list[Text], Field(min_length=1)]


class _DrugClass(_Strict):
    display: Text
    counts_as_line: bool = True


class _MedicationsFile(_Strict):
    concept: Text
    display: Text
    role: Literal["medication"]
    source: Text | None = None
    classes: Annotated[dict[ClassName, _DrugClass], Field(min_length=1)]
    drugs: Annotated[list[_Drug], Field(min_length=1)]


@dataclass(frozen=True)
class CodeFiles:
    lists: dict[str, CodeListData]
    drugs: tuple[Drug, ...]
    classes: dict[str, DrugClass]


def read_code_lists(codes_dir: Path) -> CodeFiles:
    """Every code list in ``codes_dir``, checked; KnowledgeError names the file and field of a fault."""
    if not codes_dir.is_dir():
        raise KnowledgeError(str(codes_dir), "-", "code list folder not found")
    lists: dict[str, CodeListData] = {}
    drugs: tuple[Drug, ...] = ()
    classes: dict[str, DrugClass] = {}
    for path in sorted(codes_dir.glob("*.yaml")):
        data = _read_yaml(path)
        if data.get("role") == "medication":
            drugs, classes = _medications(path, _validated(_MedicationsFile, data, path))
        else:
            code_list = _code_list(path, _validated(_CodeListFile, data, path))
            lists[code_list.name] = code_list
    for name in REQUIRED_LISTS:
        if name not in lists:
            raise KnowledgeError(f"{name}.yaml", "-", f"required code list {name!r} is missing")
    if not drugs:
        raise KnowledgeError("medications.yaml", "drugs", "required medication list is missing")
    return CodeFiles(lists, drugs, classes)


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise KnowledgeError(path.name, "(file)", "must be a mapping")
    return data


def _validated(model: type[F], data: dict[str, Any], path: Path) -> F:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ""
        for part in error["loc"]:
            if isinstance(part, int):
                where += f"[{part}]"
            elif not str(part).startswith(("function-", "constrained-str", "literal[")):
                where += f".{part}" if where else str(part)
        problem = error["msg"]
        if error["type"] == "string_type" or error["type"].startswith("string_"):
            problem += ' (quote codes like "010")'
        raise KnowledgeError(path.name, where or "-", problem) from None


def _code_list(path: Path, spec: _CodeListFile) -> CodeListData:
    if spec.concept != path.stem:
        raise KnowledgeError(path.name, "concept", f"must equal the file name {path.stem!r}")

    def value(where: str, given: str | None) -> str | None:
        if given is not None and spec.values is not None and given not in spec.values:
            raise KnowledgeError(path.name, where, f"{given!r} is not one of values {sorted(spec.values)}")
        return given

    codes: dict[tuple[str, str], CodeEntry] = {}
    any_codes: dict[str, CodeEntry] = {}
    for i, item in enumerate(spec.codes):
        entry = CodeEntry(
            item.system,
            item.code,
            item.display,
            value(f"codes[{i}].value", item.value),
            item.facts,
            item.source,
        )
        if item.system == "any":
            any_codes[item.code] = entry
            any_codes.setdefault(item.code.upper(), entry)
        else:
            codes[(item.system, norm_code(item.system, item.code))] = entry
    prefixes: list[tuple[str, CodeEntry]] = []
    for i, p in enumerate(spec.prefixes):
        prefix = norm_code("icd10", p.prefix)
        entry = CodeEntry(
            "icd10", prefix, p.display, value(f"prefixes[{i}].value", p.value), p.facts, p.source
        )
        prefixes.append((prefix, entry))
    text = tuple(
        TextEntry(
            words(t.match).strip(),
            t.display,
            value(f"text[{i}].value", t.value),
            t.facts,
            tuple(words(u).strip() for u in t.unless),
        )
        for i, t in enumerate(spec.text)
    )
    role: Role = spec.role
    return CodeListData(
        name=spec.concept,
        display=spec.display,
        role=role,
        source=spec.source or "",
        codes=codes,
        any_codes=any_codes,
        prefixes={"icd10": tuple(sorted(prefixes, key=lambda pe: -len(pe[0])))} if prefixes else {},
        text=text,
        exclude_text=tuple(words(e.match).strip() for e in spec.exclude_text),
        keywords=frozenset(k.lower() for k in spec.keywords),
    )


def _medications(path: Path, spec: _MedicationsFile) -> tuple[tuple[Drug, ...], dict[str, DrugClass]]:
    if spec.concept != path.stem:
        raise KnowledgeError(path.name, "concept", f"must equal the file name {path.stem!r}")
    classes = {name: DrugClass(name, c.display, c.counts_as_line) for name, c in spec.classes.items()}
    drugs: list[Drug] = []
    seen: set[str] = set()
    for i, item in enumerate(spec.drugs):
        if item.name in seen:
            raise KnowledgeError(path.name, f"drugs[{i}].name", f"duplicate drug {item.name!r}")
        seen.add(item.name)
        for c in item.classes:
            if c not in classes:
                raise KnowledgeError(path.name, f"drugs[{i}].classes", f"{c!r} is not declared under classes")
        drugs.append(
            Drug(
                name=item.name,
                classes=tuple(item.classes),
                codes=frozenset(
                    [("rxnorm", rx.code) for rx in item.rxnorm] + [("atc", atc.code) for atc in item.atc]
                ),
                synonyms=tuple(words(s).strip() for s in item.synonyms),
            )
        )
    return tuple(drugs), classes
