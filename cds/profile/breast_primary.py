"""Is a Condition a primary breast cancer? By its code, or the mCODE post-coordinated way.

* By code: the code list ``breast-cancer`` (SNOMED, ICD-10 C50, text fallback). Its text fallback never
  reads the display of an ICD-10 chapter Z code (Z15.01 "Genetic susceptibility to malignant neoplasm of
  breast" is a gene that raises the risk, not the disease), and its ``exclude_text`` keeps susceptibility,
  carrier, risk and family-history wording out.
* Post-coordinated: a code that names no organ (code list ``malignant-neoplasm-site-unstated``: SNOMED
  363346000 "Malignant neoplastic disease", 372087000, ICD-10 C80.1) with a breast ``bodySite`` (code list
  ``breast-body-sites``), as the mCODE example primary-cancer-condition-breast is coded. The same code
  without a breast bodySite is not breast cancer.
* Unconfirmed (``unconfirmed_diagnosis``): verificationStatus provisional / differential / unconfirmed, or
  a diagnosis worded as not yet made ("Suspected breast cancer", "Rule out breast cancer", "r/o ...", as
  Epic encounter diagnoses and Cerner free-text problems are written) or denied ("No breast cancer",
  "Breast cancer excluded"). cds.profile.conditions does not
  count it as breast cancer, as it does not count an unconfirmed metastasis.
* Either way, the mCODE histology-morphology-behavior extension is read: an in-situ histology (code list
  ``in-situ-morphology``: LCIS, DCIS, ICD-O-3 behaviour /2) contradicts a malignant (invasive) code. The
  Condition is still read as breast cancer, with a ``conflicting`` DataIssue asking to confirm the
  histology (carcinoma in situ does not spread: with metastases on record the cancer is invasive).
"""

from __future__ import annotations

from typing import Final

from cds.fhir import models
from cds.fhir.codes import Match, find_phrase, system_key, words
from cds.profile.common import UNCONFIRMED, Context, evidence, ref, status_code
from cds.profile.negation import (
    DASHES,
    DENIED_AFTER,
    HEDGES,
    QUERIED,
    After,
    clause_words,
    cues,
    said_after,
    said_before,
    word_set,
)

#: The mCODE extension carrying a cancer Condition's histology (morphology and behaviour).
HISTOLOGY_URL: Final = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"


def breast_primary(ctx: Context, cond: models.Condition) -> tuple[Match, str] | None:
    """The Condition's breast-cancer match and how it reads ("Malignant neoplasm of breast (SNOMED ...)",
    or the generic code with its breast site), or None when it is not a primary breast cancer."""
    code = cond.code
    hit = ctx.match("breast-cancer", code)
    if hit is not None and (hit.via == "code" or not _icd10_factor_code(ctx, code)):
        return hit, ctx.label(code)
    generic = ctx.match("malignant-neoplasm-site-unstated", code, by_text=False)
    if generic is None:
        return None
    for site in cond.bodySite or ():
        if ctx.match("breast-body-sites", site, by_text=False) is not None:
            return generic, f"{ctx.label(code)}, site {ctx.describe(site)}"
    return None


#: Words that say a diagnosis is not yet made (whole words, lower case): the work-up wording of encounter
#: diagnoses and free-text problems. "r/o" is "rule out".
_NOT_YET_MADE: Final = (
    "suspected",
    "suspect",
    "suspicion of",
    "suspicious for",
    "rule out",
    "ruled out",
    "r/o",
    "possible",
    "probable",
    "query",
    "negative for",  # "Negative for breast cancer"; after the cancer it is about something else (review 17)
    "no evidence of",
)


#: Wording right before or after the cancer's own name that denies or doubts it (cds.profile.negation):
#: before it past the words of its name ("No breast cancer", "?breast carcinoma", "Excluded: breast
#: cancer"); after it a denial when last, or followed by how or when ("excluded on MRI", "not confirmed
#: histologically", "unconfirmed pending biopsy", "excluded 03/2025") or by a dash ("ruled out -
#: metastatic adenocarcinoma of lung"); another denial, a work-up word, "no" or "?" only when last
#: ("Breast cancer negative", "Breast cancer (suspected)", "Breast cancer: no", "Breast cancer?"), not
#: when it qualifies what follows ("Breast cancer, suspected hereditary", "Breast cancer (negative
#: margins)"). Either leaves the diagnosis unconfirmed.
_HOW: Final = ("on ", "by ", "at ", "in ", "histolog", "patholog", "pending", "awaiting", "yet", *DASHES)
_AFTER_NAME: Final = (
    After("denied", DENIED_AFTER[:4], then=_HOW, dated=True),
    After("doubted", cues("suspected|query|possible|probable")),
    After("denied", (*DENIED_AFTER[4:], *cues("no"))),
    QUERIED,
)
#: Words of the cancer's own name and site, skipped between it and a denial.
_CANCER_NAME_WORDS: Final = HEDGES | word_set(
    "cancer carcinoma neoplasm malignant the left right bilateral breast breasts female male diagnosis"
    " primary invasive ductal lobular tumour tumor"
)


#: Where the cancer itself is named (substrings of the ``words`` form): work-up wording after it
#: qualifies something else ("Breast cancer, suspected hereditary", "... rule out second primary lung").
_CANCER_TERMS: Final = ("cancer", "carcinom", "karzinom", "neoplasm", "malignan", "tumor", "tumour", " ca ")


#: Words after the work-up wording that show it is about the spread, not the breast cancer ("Breast
#: cancer with suspected liver metastases", "Breast cancer, possible recurrence"): the cancer stands.
_ABOUT_SPREAD: Final = (
    "metasta",
    " mets",
    "secondar",
    "recurren",
    "relapse",
    "progress",
    "spread",
    "involvement",
)


def unconfirmed_diagnosis(ctx: Context, cond: models.Condition) -> str | None:
    """How a Condition says its diagnosis is not confirmed ("provisional", 'worded "suspected"'), or None.

    verificationStatus provisional / differential / unconfirmed, or the work-up wording before the
    cancer term in the code's text or a display ("Suspected breast cancer" on a
    C50.912 encounter diagnosis, "Rule out breast cancer" as a Cerner free-text problem; not "Breast
    cancer, probable lobular subtype", whose wording qualifies something else: review 13)."""
    verification = status_code(cond.verificationStatus)
    if verification in UNCONFIRMED:
        return str(verification)
    code = cond.code
    for text in (ctx.text(code), *(d for _, _, d in ctx.codings(code))):
        if not text:
            continue
        if text.lstrip().startswith("?"):  # "?Breast cancer - awaiting biopsy" (review 18)
            return 'worded "?"'
        hay = words(text)
        cancer = min((at for term in _CANCER_TERMS if (at := hay.find(term)) >= 0), default=len(hay))
        for word in _NOT_YET_MADE:
            at = find_phrase(hay, word)
            if 0 <= at < cancer and not any(w in hay[at:cancer] for w in _ABOUT_SPREAD):
                return f'worded "{word}"'
        # the words next to the cancer's own name ("No breast cancer", "breast cancer ruled out", "Breast
        # cancer (suspected)": ``_AFTER_NAME``); wording next to anything else qualifies that ("HER2
        # status not confirmed", "pregnancy excluded": review 15)
        denials = [
            _denied_at(tokens, i)
            for part in text.split(";")  # "Right breast cancer; left breast cancer excluded"
            for tokens in [clause_words(part.replace(",", " - ")).split()]  # a comma ends a denial's reach
            for i in _breast_mentions(tokens)
        ]
        if denials and all(denials):  # "Right breast cancer; left breast cancer excluded" stands
            return f'worded "{denials[-1]}"'
    return None


def _breast_mentions(tokens: list[str]) -> list[int]:
    """The words that name a cancer of the breast: a cancer term with "breast" (or "mamma...") one or two
    words before it ("breast cancer", "breast ductal carcinoma", "mammakarzinom"), or after it across
    "of", "the" and a side only ("carcinoma of the left breast"); not "adenocarcinoma of unknown
    primary; breast cancer ruled out", whose breast cancer is the one denied."""
    found = []
    for i, token in enumerate(tokens):
        if not any(term.strip() in token for term in _CANCER_TERMS):
            continue
        if "mamma" in token or "breast" in tokens[max(0, i - 2) : i]:
            found.append(i)
            continue
        k = i + 1
        while k < len(tokens) and tokens[k] in _LINKING_WORDS:
            k += 1
        if k < len(tokens) and tokens[k] in ("breast", "breasts"):
            found.append(i)
    return found


_LINKING_WORDS: Final = frozenset({"of", "the", "left", "right", "bilateral", "female", "male"})


def _denied_at(tokens: list[str], at: int) -> str | None:
    """The cue that denies or doubts the cancer named at ``tokens[at]`` right before or after it, past
    the words of its own name ("No breast cancer", "breast cancer ruled out", "Breast cancer - excluded";
    ``_AFTER_NAME``), or None."""
    said = said_before(" ".join(tokens[:at]), _CANCER_NAME_WORDS)
    if said is not None:
        return said[1]
    start = at + 1
    while start < len(tokens) and (tokens[start] in _CANCER_NAME_WORDS or tokens[start] in DASHES):
        start += 1
    said = said_after(f" {' '.join(tokens[start:])} ", _AFTER_NAME)
    return said[1] if said is not None else None


def _icd10_factor_code(ctx: Context, code: models.CodeableConcept | None) -> bool:
    """True when the concept carries an ICD-10 chapter Z code ("factors influencing health status":
    susceptibility Z15, screening Z12, family history Z80, history Z85 ...). None is a current disease, so
    its display is never read as breast cancer by the text fallback; Z85.3 counts only as the deliberate
    entry of the code list."""
    return any(
        system_key(system) == "icd10" and (c or "").strip().upper().startswith("Z")
        for system, c, _ in ctx.codings(code)
    )


def check_in_situ(ctx: Context, cond: models.Condition, when: str | None) -> None:
    """A ``conflicting`` DataIssue when the breast cancer Condition's histology is in situ."""
    for ext in cond.extension or ():
        if ext.url != HISTOLOGY_URL:
            continue
        if ctx.match("in-situ-morphology", ext.valueCodeableConcept) is None:
            continue
        histology = ctx.describe(ext.valueCodeableConcept)
        ctx.issue(
            "breast_cancer",
            "conflicting",
            f"{ref(cond)} is coded as a malignant neoplasm ({ctx.describe(cond.code)}) but its histology is "
            f"in situ ({histology}): carcinoma in situ is not invasive breast cancer. It was read as breast "
            "cancer; confirm the histology and correct the diagnosis or its histology.",
            evidence(cond, when, f"Histology in situ: {histology}"),
        )
        return
