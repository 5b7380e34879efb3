"""Whether a clinician's free text states, denies or doubts a finding it names.

A negation or doubt counts right before the finding, past words that only describe it ("No definite
PD"), or right after it when it ends the clause or says how or when the finding was sought ("ILD
excluded on CT"), not when it is about what follows ("Pneumonitis - nil improvement on steroids"). Texts
are read in ``words`` form (cds.fhir.vocabulary), cues as space-padded phrases.

A doubt has three policies. In a medicine's stop reason (``affirmed_value``) it is the finding for lung
disease (cds.profile.safety: the labels ask about suspected ILD) and no reason for a stop
(cds.profile.medications). In a breast cancer diagnosis (cds.profile.breast_primary: the words after
the cancer's name through ``said_after``, work-up wording anywhere before it) it leaves the diagnosis
unconfirmed, as a denial does.
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


@dataclass(frozen=True, slots=True)
class After:
    """Cues right after a finding that deny or doubt it, and what may follow a cue in its clause: the
    words ``then`` begins with (how or when it was found; None: anything), or a date when ``dated``."""

    verdict: Verdict
    cues: tuple[str, ...]
    then: tuple[str, ...] | None = ()
    dated: bool = False


def said_after(after: str, cues: tuple[After, ...]) -> tuple[Verdict, str] | None:
    """The verdict and cue (unpadded) that ``after``, the words after a finding, open with, when what
    follows the cue ends the clause or is allowed by its ``After``."""
    for group in cues:
        for cue in group.cues:
            if after.startswith(cue):
                tail = after[len(cue) :].strip()
                if (
                    not tail
                    or group.then is None
                    or tail.startswith(group.then)
                    or (group.dated and tail[0].isdigit())
                ):
                    return group.verdict, cue.strip()
    return None


# --- a medicine's stop reason (statusReason) ------------------------------------------------------

#: Where a stop reason starts a new clause: a finding stated in one is not denied by a negation in
#: another ("Grade 3 neutropenia; no PD on restaging CT"). Not a colon or a dash, which tie a finding to
#: its verdict ("Progression - excluded", "Pneumonitis: no"; review 16).
_CLAUSE: Final = re.compile(r"[;,.]|\bbut\b|\band\b", re.IGNORECASE)
_DASH: Final = re.compile(r"\s[-\u2013]\s")  # "Progression - excluded": the verdict next to its finding

_DENIED_BEFORE: Final = (" no ", " not ", " without ", " negative for ", " free of ", " no evidence of ")
_DOUBTED_BEFORE: Final = (" rule out ", " r o ", " possible ", " suspected ", " equivocal ", " query ")
#: Words between a negation and its finding that only describe it ("No definite PD", "No evidence of
#: disease progression", "No radiological PD": review 18).
_DESCRIBING: Final = frozenset(
    {"definite", "clear", "clinical", "radiological", "radiographic", "signs", "sign", "evidence", "of"}
    | {"disease", "new", "obvious", "further", "significant", "measurable", "overt", "convincing"}
)
#: After the finding: a negation when it ends the clause or says how it was found ("PD not confirmed on
#: restaging CT", "ILD excluded on CT"), a closing "no" ("Pneumonitis: no"), a doubt whatever follows it.
_DENIED_AFTER: Final = (
    " excluded ",
    " ruled out ",
    " negative ",
    " unlikely ",
    " not seen ",
    " not confirmed ",
    " unconfirmed ",
    " none ",
    " nil ",
    " absent ",
    " not present ",
    " not identified ",
    " not evident ",
    " no evidence ",
)
_FOUND_BY: Final = ("on ", "by ", "at ", "in ", "with ", "ct", "mri", "pet", "imaging", "scan", "biopsy")
_DOUBTED_AFTER: Final = (
    " cannot be excluded ",
    " not excluded ",
    " not ruled out ",
    " cannot be ruled out ",
    " suspected ",
    " query ",
    " awaiting ",
)
_AFTER: Final = (
    After("denied", _DENIED_AFTER, then=_FOUND_BY),
    After("denied", (" no ",)),
    After("doubted", _DOUBTED_AFTER, then=None),
)


def reading(before: str, after: str) -> Verdict:
    """How a stop reason's clause speaks of the finding between ``before`` and ``after``: a negation
    right before it denies it; else a doubt on either side doubts it; else a negation after it denies
    it."""
    kept = before.split()
    while kept and kept[-1] in _DESCRIBING:
        kept.pop()
    near = f" {' '.join(kept)} " if kept else " "
    if near.endswith(_DENIED_BEFORE):
        return "denied"
    said = said_after(after, _AFTER)
    if near.endswith(_DOUBTED_BEFORE) or (said is not None and said[0] == "doubted"):
        return "doubted"
    return "stated" if said is None else "denied"


def affirmed_value(codes: CodeList, text: str, *, doubt_counts: bool = False) -> str | None:
    """The value of the first text entry of ``codes`` (in list order) that a clause of ``text`` states
    ("no PD", "ILD excluded" deny it; "No response" and "not tolerated" are phrases of their own), or
    doubts when ``doubt_counts`` ("rule out pneumonitis" is lung disease; "PD not excluded" no reason to
    stop). A clause holding one of the list's excluded phrases is skipped."""
    clauses = [words(_DASH.sub(" ", clause)) for clause in _CLAUSE.split(text) if clause.strip()]
    clauses = [c for c in clauses if not any(find_phrase(c, ex) >= 0 for ex in codes.exclude_text)]
    for entry in codes.text:
        n = len(entry.match)
        for clause in clauses:
            at = find_phrase(clause, entry.match)
            if at < 0:
                continue
            verdict = reading(clause[:at], clause[at + n :])
            if verdict == "stated" or (doubt_counts and verdict == "doubted"):
                return entry.value
    return None
