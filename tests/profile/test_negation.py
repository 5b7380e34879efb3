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
    ],
)
def test_a_stop_reason_is_read_for_what_it_states_and_lung_disease_also_for_what_it_doubts(
    terminology: Terminology, text: str, stop_reason: str | None, lung_disease: str | None
) -> None:
    assert affirmed_value(terminology.codes("treatment-stop-reasons"), text) == stop_reason
    ild = terminology.codes("interstitial-lung-disease")
    assert affirmed_value(ild, text, doubt_counts=True) == lung_disease
