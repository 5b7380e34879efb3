"""Whether a clinician's free text states, denies or doubts a finding it names.

Both readers share the cues and rules here. A negation or doubt counts right before the finding, past
words that only describe it ("No definite PD", "?PD", "No breast cancer"; a denial that usually follows
its finding only when it opens the clause: "Excluded PD", not "Infection excluded - pneumonitis"), or
right after it when it ends the clause or says how or when the finding was sought ("ILD excluded on CT",
"PD excluded 03/2025"), not when it is about what follows ("Pneumonitis - nil improvement on steroids").
A dash between the finding and its verdict ties them ("Progression - excluded"). Texts are read in
``clause_words`` form ("?" a word of its own), cues as space-padded phrases.

A doubt has three policies. In a medicine's stop reason (``affirmed_value``) it is the finding for lung
disease (cds.profile.safety: the labels ask about suspected ILD) and no reason for a stop
(cds.profile.medications). In a breast cancer diagnosis (cds.profile.breast_primary: the words before
and after the cancer's name through ``said_before`` and ``said_after``, work-up wording anywhere before
it) it leaves the diagnosis unconfirmed, as a denial does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from cds.fhir.codes import CodeList
from cds.fhir.vocabulary import find_phrase, words

Verdict: TypeAlias = Literal["stated", "denied", "doubted"]
#: A dash ties a verdict to its finding ("Progression - excluded", "Breast cancer - excluded").
DASHES: Final = ("-", "\u2013")


def cues(phrases: str) -> tuple[str, ...]:
    """Cues in ``words`` form, space-padded, from phrases separated by "|"."""
    return tuple(f" {phrase} " for phrase in phrases.split("|"))


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``, separated by spaces."""
    return frozenset(text.split())


def clause_words(text: str) -> str:
    """``text`` in ``words`` form with "?" kept as a word: a doubt ("?PD", "Breast cancer?")."""
    return " " + " ".join(" ? ".join(words(part) for part in text.split("?")).split()) + " "


# --- right before the finding ---------------------------------------------------------------------

_DENIED_BEFORE: Final = cues("no|not|without|negative for|free of|no evidence of")
#: Denials that usually follow their finding count before it only as the clause's first words ("Nil
#: PD", "Excluded PD", "ruled out progression", "Not confirmed: breast cancer"; not "Side effects nil -
#: PD", "Infection excluded - pneumonitis").
_OPENING_DENIALS: Final = cues("nil|excluded|ruled out|not confirmed")
_DOUBTED_BEFORE: Final = cues("rule out|r o|r/o|possible|suspected|equivocal|query|?")
#: Words between a negation and its finding that only say how sure it is ("No definite PD", "No evidence
#: of breast cancer"); each reader adds the words of its findings' names.
HEDGES: Final = word_set("definite clear evidence signs sign of obvious overt convincing")
_BEFORE: Final[tuple[tuple[Verdict, tuple[str, ...]], ...]] = (
    ("denied", _DENIED_BEFORE),
    ("doubted", _DOUBTED_BEFORE),
)


def said_before(before: str, skip: frozenset[str]) -> tuple[Verdict, str] | None:
    """The verdict and cue (unpadded) that ``before``, the words before a finding, end with, past the
    words of ``skip``."""
    kept = before.split()
    while True:
        near = f" {' '.join(kept)} "
        if near in _OPENING_DENIALS:
            return "denied", near.strip()
        for verdict, phrases in _BEFORE:
            for cue in phrases:
                if near.endswith(cue):
                    return verdict, cue.strip()
        if not kept or kept[-1] not in skip:
            return None
        kept.pop()


# --- right after the finding ----------------------------------------------------------------------

#: A denial after the finding: the first four also past how or when it was sought (each reader's
#: ``After.then``), the others only when they end the clause in the breast reader.
DENIED_AFTER: Final = cues(
    "excluded|ruled out|not confirmed|unconfirmed"
    "|negative|unlikely|not seen|none|nil|absent|not present|not identified|not evident|no evidence"
)


@dataclass(frozen=True, slots=True)
class After:
    """Cues right after a finding that deny or doubt it, and what may follow a cue in its clause: the
    words ``then`` begins with (how or when it was found; None: anything), or a date when ``dated``."""

    verdict: Verdict
    cues: tuple[str, ...]
    then: tuple[str, ...] | None = ()
    dated: bool = False
    unless: tuple[str, ...] = ()  # words that, alone after a dash, take the cue back ("? - confirmed")


#: "?" closing the finding's clause, or before a dash ("PD?", "Breast cancer? - awaiting biopsy"), not
#: when the words after the dash confirm it ("Breast cancer? - confirmed on core biopsy": review 20).
QUERIED: Final = After(
    "doubted", cues("?"), then=DASHES, unless=("confirmed", "proven", "biopsy-proven", "yes")
)


#: The words that may follow a confirmation after a "?": how, when and what was confirmed, the cancer's
#: own words ("confirmed on core biopsy 01/2025", "confirmed invasive ductal carcinoma").
_CONFIRMED_HOW: Final = word_set(
    "on by at in with as core needle biopsy histology histologically pathology pathologically ct mri pet"
    " imaging scan radiologically idc ilc invasive ductal lobular carcinoma cancer malignant malignancy"
)


def _takes_back(words: list[str], confirming: tuple[str, ...]) -> bool:
    """Whether the words after a dash confirm the finding and say nothing else: a confirming word alone
    or followed only by how, when or the cancer's own words ("confirmed on core biopsy 01/2025"), not by
    what was found instead ("confirmed benign", "confirmed on biopsy: benign", "confirmed lymphoma";
    reviews 21, 22)."""
    if not words or words[0] not in confirming:
        return False
    rest = words[1:]
    if words[0] == "yes":
        return not rest
    return all(word in _CONFIRMED_HOW or word in DASHES or word[0].isdigit() for word in rest)


def said_after(after: str, groups: tuple[After, ...]) -> tuple[Verdict, str] | None:
    """The verdict and cue (unpadded) that ``after``, the words after a finding (past a dash), open with,
    when what follows the cue ends the clause or is allowed by its ``After``."""
    rest = after.split()
    while rest and rest[0] in DASHES:
        rest.pop(0)
    after = f" {' '.join(rest)} "
    for group in groups:
        for cue in group.cues:
            if after.startswith(cue):
                tail = after[len(cue) :].strip()
                if group.unless and _takes_back(tail.split()[1:], group.unless):
                    continue
                if (
                    not tail
                    or group.then is None
                    or tail.startswith(group.then)
                    or (group.dated and tail[0].isdigit())
                ):
                    return group.verdict, cue.strip()
    if rest and rest[0] == "?":  # "PD? awaiting CT", "PD? no": what follows the "?" speaks of the finding
        return said_after(" ".join(rest[1:]), groups)
    return None


# --- a medicine's stop reason (statusReason) ------------------------------------------------------

#: Where a stop reason starts a new clause: a finding stated in one is not denied by a negation in
#: another ("Grade 3 neutropenia; no PD on restaging CT"). Not a colon or a dash, which tie a finding to
#: its verdict ("Progression - excluded", "Pneumonitis: no"; review 16), nor a comma before a denial
#: of what precedes it ("Progression, excluded").
_CLAUSE: Final = re.compile(r"([;,.]|\bbut\b|\band\b)", re.IGNORECASE)

#: Words between a negation and its finding that only describe it ("No radiological PD": review 18), and
#: a dash ("Suspected - progression").
_DESCRIBING: Final = (
    HEDGES
    | set(DASHES)
    | word_set("clinical radiological radiographic disease new further significant measurable")
)
_FOUND_BY: Final = ("on ", "by ", "at ", "in ", "with ", "ct", "mri", "pet", "imaging", "scan", "biopsy")
_DOUBTED_AFTER: Final = cues(
    "cannot be excluded|not excluded|not ruled out|cannot be ruled out|suspected|query|awaiting"
)
_AFTER: Final = (
    After("denied", DENIED_AFTER, then=_FOUND_BY, dated=True),
    After("denied", cues("no")),
    QUERIED,
    After("doubted", _DOUBTED_AFTER, then=None),
)


def reading(before: str, after: str) -> Verdict:
    """How a stop reason's clause speaks of the finding between ``before`` and ``after``: a negation
    right before it denies it; else a doubt on either side doubts it; else a negation after it denies
    it. "Possible pneumonitis excluded on CT" stays a doubt, lung disease: a clause that both doubts and
    denies is left to the clinician on the safe side for lung toxicity."""
    near = said_before(before, _DESCRIBING)
    if near is not None and near[0] == "denied":
        return "denied"
    said = said_after(after, _AFTER)
    if near is not None or (said is not None and said[0] == "doubted"):
        return "doubted"
    return "stated" if said is None else "denied"


def _clauses(text: str, *, join_denials: bool) -> list[str]:
    """The clauses of a stop reason in ``clause_words`` form; with ``join_denials``, a clause after a
    comma that is a denial belongs to the one before ("Progression, excluded")."""
    pieces = _CLAUSE.split(text)
    clauses = [clause_words(pieces[0])]
    for sep, piece in zip(pieces[1::2], pieces[2::2], strict=True):
        clause = clause_words(piece)
        said = said_after(clause, _AFTER) if sep == "," and join_denials else None
        if said is not None and said[0] == "denied":
            clauses[-1] += clause[1:]
        else:
            clauses.append(clause)
    return [c for c in clauses if c.strip()]


def affirmed_value(codes: CodeList, text: str, *, doubt_counts: bool = False) -> str | None:
    """The value of the first text entry of ``codes`` (in list order) that a clause of ``text`` states
    ("no PD", "ILD excluded" deny it; "No response" and "not tolerated" are phrases of their own), or
    doubts when ``doubt_counts`` ("rule out pneumonitis" is lung disease; "PD not excluded" no reason to
    stop). A clause holding one of the list's excluded phrases is skipped. A denial after a comma denies
    a reason to stop ("Progression, excluded"), not lung disease ("Pneumonitis, negative CT" was why the
    medicine stopped: the safe side, review 20)."""
    clauses = _clauses(text, join_denials=not doubt_counts)
    clauses = [c for c in clauses if not any(find_phrase(c, ex) >= 0 for ex in codes.exclude_text)]
    for entry in codes.text:
        n = len(entry.match)
        for clause in clauses:
            at = find_phrase(clause, entry.match)
            if at < 0 or any(find_phrase(clause, other) >= 0 for other in entry.unless):
                continue
            verdict = reading(clause[:at], clause[at + n :])
            if verdict == "stated" or (doubt_counts and verdict == "doubted"):
                return entry.value
    return None
