"""A medicine's stop reason read by cds.profile.negation: the same wording gives a stop reason and lung
disease under their two policies for a doubt (no reason to stop; the finding the labels ask about)."""

from __future__ import annotations

import pytest

from cds.fhir.codes import Terminology
from cds.profile.negation import affirmed_value


@pytest.mark.parametrize(
    ("text", "stop_reason", "lung_disease"),
    [
        ("Not tolerated - pneumonitis", "toxicity", "pneumonitis_unspecified"),  # stated
        ("Pneumonitis - nil improvement on steroids", "toxicity", "pneumonitis_unspecified"),
        ("No definite pneumonitis", None, None),  # denied before, past a describing word
        ("ILD excluded on CT", None, None),  # denied after, saying how
        ("Pneumonitis: no", None, None),
        ("pneumonitis not excluded", None, "pneumonitis_unspecified"),  # doubted
        ("Rule out pneumonitis", None, "pneumonitis_unspecified"),
        ("Grade 3 neutropenia; no PD on restaging CT", "toxicity", None),  # a clause each
        # "r/o" and "?" doubt; a date after a denial, a comma before it, a denial word before the finding
        ("r/o PD", None, None),
        ("R/O pneumonitis", None, "pneumonitis_unspecified"),
        ("?PD", None, None),
        ("Pneumonitis?", None, "pneumonitis_unspecified"),
        ("?ILD", None, "ild"),
        ("PD? awaiting CT", None, None),
        ("PD excluded 03/2025", None, None),
        ("Pneumonitis excluded 03/2025", None, None),
        ("Progression, excluded", None, None),
        # a denial after a comma denies a reason to stop, not lung disease (the safe side: review 20)
        ("pneumonitis, excluded", None, "pneumonitis_unspecified"),
        ("Pneumonitis, negative CT", None, "pneumonitis_unspecified"),
        ("Progression, excluded pneumonitis", "progression", None),
        ("nil progression", None, None),
        ("Nil pneumonitis; grade 3 rash", "toxicity", None),
        ("ruled out progression", None, None),
        ("excluded PD; grade 3 neutropenia", "toxicity", None),
        ("Free of progression", None, None),
        # what stays the finding: a doubt before beats a stated exclusion after for lung disease; a
        # denial about what follows; "?" about something else; a denial after the finding's clause
        ("Possible pneumonitis excluded on CT", None, "pneumonitis_unspecified"),
        ("PD; no further treatment", "progression", None),
        ("Progression - not for further chemo", "progression", None),
        ("Pneumonitis - not for rechallenge", "toxicity", "pneumonitis_unspecified"),
        ("Pneumonitis grade 2, no improvement", "toxicity", "pneumonitis_unspecified"),
        ("Pneumonitis ?drug related", "toxicity", "pneumonitis_unspecified"),
        ("Side effects nil - PD", "progression", None),
        ("Infection excluded - pneumonitis", "toxicity", "pneumonitis_unspecified"),
        ("Suspected - progression", None, None),
    ],
)
def test_a_stop_reason_is_read_for_what_it_states_and_lung_disease_also_for_what_it_doubts(
    terminology: Terminology, text: str, stop_reason: str | None, lung_disease: str | None
) -> None:
    assert affirmed_value(terminology.codes("treatment-stop-reasons"), text) == stop_reason
    ild = terminology.codes("interstitial-lung-disease")
    assert affirmed_value(ild, text, doubt_counts=True) == lung_disease
